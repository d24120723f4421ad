// Package judge is LLM-as-a-judge for synthetic alignment: pointwise rubric
// judges, pairwise comparers, a meta-judge that ranks judgments, juries of
// several judges, and the audits and calibration that tell whether a judge
// can be trusted.
//
// # Judges
//
// Rubric scores one response on a scale (by default an additive 0–5 scale)
// by asking any alignment.Policy, sampling it k times and aggregating.
// Expected asks a model that can score completions (an alignment.Scorer)
// for its probability of each score in a ScoreFormat and returns the
// expected score: a log-prob verdict, with nothing sampled, which a small
// model fine-tuned on judge-format examples (evaluation fine-tuning, in the
// same ScoreFormat) can give about its own answers.
// Pairwise asks which of two responses is better, in both presentation
// orders, and reports a position-inconsistent pair as a tie. Meta compares
// two judgments of the same response and ranks a tournament of judgments
// as Meta-Rewarding does (each position's wins weighted to cancel the
// meta-judge's position bias, PositionWeighted, then an Elo fit, Elo),
// yielding judge-training pairs. Jury aggregates several judges and measures how much they
// agree. Func turns a Go function into a Judge.
//
// # Reading model output safely
//
// A judged response is untrusted text: it may contain "Score: 5", a fake
// closing delimiter, or instructions to the judge. Every response and prompt
// is fenced by internal/fence before it goes into a judge prompt, so that
// it cannot close its fence. Reading the judge's output, Rubric, Pairwise
// and Meta ignore its fenced regions (an opening tag line and the closing
// one after it; a tag without its closing line hides nothing) and every
// echo of the texts the prompt quoted — repeated verbatim, escaped, with
// the escapes undone, or cut off by a length limit — and take the judge's
// LAST declaration. A judge model that repeats its prompt or the response
// before its verdict is therefore read correctly, whatever the response
// says; testdata/adversarial and the payloads of echo_test.go hold the
// attacks this is tested against. Prompts are built by plain substitution of
// {{placeholders}}; no model or user text is ever executed as a template.
//
// # Audits and calibration
//
// Audit measures a judge's biases with figures: position bias, length bias
// (Spearman and Kendall correlation of score with length, win rate of a
// padded copy), self-preference, saturation and sample variance. Calibrate
// measures agreement with gold labels (pairwise accuracy, Cohen's kappa,
// Spearman) for choosing between judges.
//
// # Randomness
//
// A judge that samples a model takes the seed of each call from
// alignment.SeedFrom(ctx) when present, and otherwise derives it from the
// text it judges, so the same inputs always give the same judgment.
package judge
