// Package constitution holds the principles of Constitutional AI (Bai et
// al., 2022) and the model-driven steps built on them.
//
// # Principles
//
// A [Constitution] is an ordered list of [Principle]s. A principle has an id,
// a critique request, a revision request and a comparison question, plus
// optional few-shot [Example]s. Constitutions are built with [New], loaded
// from JSON with [Load] and [LoadFile] or from a small Markdown format with
// [LoadMarkdown], or taken ready-made from [Default], about a dozen
// principles on helpfulness, harmlessness and honesty. Malformed input gives
// [*Error] values that name the field path and, for files, the line and
// column; every one wraps [ErrInvalid].
//
// # Supervised stage (SL-CAI)
//
// [Reviser] is an alignment.Refiner: critique, then revise, for one to four
// rounds, each under a freshly sampled principle. Every round is appended to
// Response.Revisions; a revision that cannot be read keeps the previous text,
// is marked Failed and is counted in [ReviserStats]. [Reviser.Pair] turns the
// original and the refined response into an "sl-cai" preference pair.
//
// # Reinforcement stage (RL-CAI)
//
// [Comparer] is an alignment.Comparer: it asks a policy a multiple-choice
// question, "(A) … (B) … which is more …", under one sampled principle, in
// both presentation orders. When the policy reports the log-probabilities of
// the answer token the normalised probabilities of the options become a soft
// label; otherwise the parsed letter gives 1 or 0. In chain-of-thought mode
// the model reasons first and each order's probability is clamped to
// [0.4, 0.6], as the paper does to temper overconfident reasoning.
//
// # Rule principles
//
// A principle may carry a Go check function. A constitution whose every
// principle has one is an alignment.Judge that needs no model: one point per
// passed check, scaled to the 0–5 scale of the default rubric. [Rules]
// returns such a constitution of generic checks, enough to judge a small
// model's output with no other model at hand.
//
// # Prompts and randomness
//
// Prompts are assembled by plain concatenation, never by a template engine.
// The principle's requests go in as the constitution's author wrote them;
// everything a user or a model wrote, and the few-shot examples, is quoted
// between fences that the quoted text cannot close, and the readers of the
// model's output ignore fenced regions and echoes of the quoted texts.
// Principle sampling is seeded: the seed comes
// from alignment.SeedFrom(ctx) when the caller set one (mixed with the
// component's own seed), otherwise from the component's seed, the prompt ID
// and the response text, so results are repeatable at any concurrency.
package constitution
