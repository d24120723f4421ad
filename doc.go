// Package selfalign is the map of a library that runs synthetic alignment
// loops inside a Go program: Constitutional AI, Self-Rewarding and
// Meta-Rewarding language models, and online DPO from AI feedback. This
// package holds no code; the work is done by the packages below, wired by
// the host program.
//
// # How the packages fit
//
// Package alignment is the core. It defines the data (Prompt, Response,
// Judgment, Pair) and four small interfaces — Policy writes responses,
// Judge scores them, Refiner rewrites them, PreferenceSink receives the
// preference pairs — plus optional capabilities found by type assertion
// (Comparer, Trainer, Checkpointer, Scorer, Ranged, Flusher). Its Loop runs
// iterations of prompts → samples → refinement → judgment → pair selection
// → sink → training, concurrently, deterministically for a seed, resumable
// from an output directory, with a Report per iteration. It also holds the
// prompt sources and the sinks that write JSON Lines that TRL and OpenRLHF
// read. It imports none of its implementations.
//
// Package alignment/recipe holds the papers' methods — ConstitutionalAI,
// SelfRewarding, MetaRewarding, OnlineDPO, SelfBoosting — as
// configurations of that Loop; start there to wire one. Package
// alignment/promptgen makes prompts with a policy (self-instruct,
// keyword-seeded, instruction inversion).
//
// Package alignment/alignmenttest holds fakes (scripted policies, map
// judges, a recording sink, fault injection) and the conformance tests that
// every implementation in the project passes: use them to unit-test your
// own backends and alignment logic.
//
// Package alignment/openai is a Policy for servers that speak the OpenAI
// chat-completions protocol: vLLM, llama.cpp's server, Ollama, SGLang and
// OpenAI, spread over several endpoints.
//
// Package judge turns any Policy into an LLM-as-a-judge: a pointwise rubric,
// a pairwise comparer, a meta-judge, juries, and audits of a judge's biases
// and calibration against gold labels.
//
// Package constitution holds principles, the critique-and-revise Refiner
// and the principle-based comparer of Constitutional AI, and rule
// principles — Go checks — that judge without any model.
//
// Package sampler says how responses are drawn: N samples, best-of-N,
// ensembles of policies, deduplication, and tree-search refinement.
//
// Package dpo holds the DPO-family losses with exact gradients, TRL's
// training metrics, the Model interface of differentiable policies and a
// Trainer that implements alignment.Trainer. Package dpo/tinylm is a small
// neural language model in Go (no cgo), the embedded default policy, which lets
// a loop run and truly train with no network, weights or GPU.
//
// Directory examples holds runnable programs; examples/quickstart is the
// place to start.
//
// Imports point one way: examples use everything; recipe, promptgen,
// judge, sampler, constitution, dpo, alignment/openai and
// alignment/alignmenttest use alignment; alignment uses only the standard library, golang.org/x/sync
// and internal packages.
package selfalign
