// Package alignment runs synthetic alignment loops: a policy answers
// prompts, judges score the answers, the best and worst answers become
// preference pairs, and a trainer turns the pairs into the next policy.
// Constitutional AI, Self-Rewarding, Meta-Rewarding and online DPO are all
// configurations of this one engine.
//
// # The parts
//
// Four one-method interfaces carry the work, so that any model backend can
// take any role:
//
//   - [Policy] writes responses to a [Prompt]: a local model, a remote
//     server, an ensemble, a scripted fake.
//   - [Judge] scores one response ([Judgment]: a score, optional aspect
//     scores and a rationale).
//   - [Refiner] rewrites a response: critique and revise, a tree-search
//     step. Each step is recorded in [Response.Revisions].
//   - [PreferenceSink] receives the [Pair]s.
//
// Optional capabilities are separate interfaces, found by type assertion as
// database/sql finds its drivers' extras; each says what happens without
// it: [Comparer] (pairwise judging), [Trainer] (pairs in, next policy out),
// [Checkpointer] (save and load a trained policy), [Scorer] (the
// log-probability of a given completion), [Ranged] (a judge's score scale),
// [Flusher] (a buffering sink), [Sized] (a prompt source that knows its
// length).
//
// Every interface doc states its concurrency rule (most may be called from
// many goroutines), its context rule (return promptly once the context is
// done) and who owns the slices passed in and out (the caller; callees
// neither keep nor change them). Package alignmenttest checks all three.
//
// # A loop
//
// A [Loop] wires the parts. Zero values mean defaults: four samples per
// prompt, one judge call per response, max/min pair selection, eight calls
// in flight.
//
//	prompts, err := alignment.NewSliceSource(myPrompts)
//	...
//	loop := alignment.Loop{
//		Policy:       model,                 // any Policy
//		Judge:        myJudge,               // or SelfJudge, or Comparer
//		Prompts:      prompts,
//		JudgeSamples: 3,                     // k judge calls averaged
//		Trainer:      trainer,               // optional: train between iterations
//		Iterations:   3,
//		Dir:          "out",                 // optional: pairs.jsonl, progress, checkpoints
//		Seed:         1,
//	}
//	res, err := loop.Run(ctx)
//
// Each iteration draws N responses per prompt ([SampleN] fills up after
// backends that return fewer than asked), refines them if a Refiner is set,
// judges each k times and averages, and asks the [Selector] for a pair:
// [MaxMin] (Self-Rewarding: highest against lowest, ties dropped) or
// [LengthControlled] (Meta-Rewarding: the shortest of the top scores
// against the longest of the bottom ones, within a window ρ). Pairs stream
// to the sinks in prompt order; memory does not grow with the number of
// prompts. After the last prompt the Trainer, if any, makes the next
// policy, and the iteration's [Report] — counts, score statistics and
// histogram, lengths, ties, failures, timings — is returned and sent to the
// [Observer].
//
// Self-Rewarding, where the policy judges itself, sets SelfJudge to a
// function that builds the judge from each iteration's policy.
//
// # Determinism
//
// The randomness of each prompt derives from (Loop.Seed, iteration, prompt
// ID) alone: the sampling seed, and the seed each judge and refiner call
// finds with [SeedFrom]. So the same seed gives the same pairs, in the same
// order, at any concurrency. Implementations keep their side of this by
// honouring SampleOptions.Seed and SeedFrom.
//
// # Faults
//
// A call whose error wraps [ErrTransient], or that runs past
// Retry.CallTimeout, is retried with capped exponential backoff and jitter.
// Any other error fails that prompt only: it is reported in
// Report.Failures and the run goes on, until more prompts have failed than
// Loop.FailureBudget allows (10% by default); then Run stops with an error
// wrapping [ErrBudget], after flushing the sinks. Cancelling the context
// stops a run promptly, also after flushing.
//
// # Resuming
//
// With Loop.Dir set, a run keeps pairs.jsonl, a progress journal and each
// iteration's trained policy (through a [Checkpointer]) in that directory.
// Killed at any moment and started again on the same directory with the
// same settings, it finishes with exactly the file an uninterrupted run
// writes: no pair lost, none duplicated, no torn line. Other sinks receive
// the pairs of prompts that are run again after the interruption a second
// time; only the directory's file is exactly-once.
//
// # Data formats
//
// [JSONL] writes pairs in the preference format that TRL's DPOTrainer and
// OpenRLHF read without conversion — "prompt", "chosen", "rejected" as
// strings, or as {role, content} message lists when the prompt is a
// conversation — plus "prompt_id", "iteration", "score_chosen",
// "score_rejected" and "source"; or, as an option, unpaired KTO rows
// ("prompt", "completion", "label"). [ReadPairs] reads them back.
// Prompts come from a slice or from JSON Lines in TRL's prompt format.
package alignment
