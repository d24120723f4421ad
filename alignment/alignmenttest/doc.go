// Package alignmenttest helps test code that implements or uses the
// interfaces of package alignment, as testing/slogtest and net/http/httptest
// do for their packages.
//
// # Conformance
//
// [TestPolicy], [TestJudge], [TestComparer], [TestRefiner] and [TestSink]
// exercise an implementation with ordinary inputs (single-turn and
// multi-turn prompts, near-empty and non-ASCII text) and return one error per
// misbehaviour found, joined with [errors.Join], or nil. They check that
//
//   - ordinary calls succeed and return well-formed results (a Policy returns
//     between 1 and Count() responses; scores are finite and, for a judge
//     that implements [alignment.Ranged], inside its range; ProbA is in
//     [0, 1]; a Refiner keeps the input's Revisions as a prefix);
//   - inputs are not modified: prompts, options (Stop, Extra), responses
//     (Revisions, TokenLogProbs) and pairs compare deeply equal to copies
//     taken before the call;
//   - a context that is already cancelled makes the call return an error
//     wrapping [context.Canceled] within a second, and a context cancelled
//     during a call makes the call return within a second (an
//     implementation that finished its work in time may return its result);
//   - the same inputs and the same seed (SampleOptions.Seed for a Policy,
//     [alignment.WithSeed] for the others) give the same output, both in
//     sequence and from 16 goroutines calling at once. The Loop's
//     determinism and resumability rest on this, so every implementation in
//     the project must meet it; a backend that cannot honour seeds is tested
//     against a deterministic fake server. Run the tests under -race to
//     catch unsynchronised state as well.
//
// A typical test is
//
//	func TestRubricConformance(t *testing.T) {
//		if err := alignmenttest.TestJudge(t.Context(), newRubric(t)); err != nil {
//			t.Error(err)
//		}
//	}
//
// # Fakes
//
// The fakes are data-only and deterministic: a [Script] policy answers from
// maps or a function, [Scores] judges and compares by response text,
// [Rewrites] refines by response text, [JudgeFunc], [ComparerFunc] and
// [RefinerFunc] adapt functions, and a [Recorder] keeps the pairs written to
// it for inspection with filters. Each passes its own conformance test.
//
// # Faults
//
// [Faults] wraps any Policy, Judge, Comparer, Refiner or sink to fail chosen
// calls (the nth, a repeatable fraction with transient errors, every call
// about chosen prompts with permanent ones), to delay every call, and to
// count calls. Apart from failing the nth call, which counts calls in the
// order they arrive, which calls fail depends only on the configuration and
// on what each call is about, never on goroutine scheduling.
package alignmenttest
