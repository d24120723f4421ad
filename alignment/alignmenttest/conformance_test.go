package alignmenttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/selfalign/selfalign/alignment"
)

func sampleScores() Scores {
	s := Scores{}
	for i, r := range sampleResponses() {
		s[r.Text] = float64(i)
	}
	return s
}

func wordJudge() JudgeFunc {
	return func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		return alignment.Judgment{Score: float64(alignment.WordCount(r.Text))}, nil
	}
}

func echoScript() *Script {
	return &Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		return alignment.Response{Text: fmt.Sprintf("%s: answer %d (seed %d)", p.Text(), k, o.Seed), Source: "echo"}
	}}
}

func TestFakesConform(t *testing.T) {
	ctx := t.Context()
	delay := &Faults{Delay: time.Millisecond}
	policies := map[string]alignment.Policy{
		"func script":      echoScript(),
		"default script":   &Script{Default: []string{"a", "b", "c"}},
		"one per call":     &Script{Default: []string{"a", "b"}, MaxPerCall: 1},
		"by id and text":   &Script{ByID: map[string][]string{"conformance-single": {"2"}}, ByText: map[string][]string{"And of Italy?": {"Rome."}}, Default: []string{"?"}},
		"delayed":          delay.Policy(echoScript()),
		"no-fault wrapper": (&Faults{}).Policy(echoScript()),
	}
	for name, p := range policies {
		assert.NoError(t, TestPolicy(ctx, p), name)
	}
	judges := map[string]alignment.Judge{
		"scores":         sampleScores(),
		"func":           wordJudge(),
		"delayed scores": delay.Judge(sampleScores()),
	}
	for name, j := range judges {
		assert.NoError(t, TestJudge(ctx, j), name)
	}
	_, ok := delay.Judge(sampleScores()).(alignment.Ranged)
	assert.True(t, ok, "a wrapped Ranged judge stays Ranged")

	comparers := map[string]alignment.Comparer{
		"scores": sampleScores(),
		"func": ComparerFunc(func(_ context.Context, _ alignment.Prompt, a, b alignment.Response) (alignment.Comparison, error) {
			return alignment.Comparison{ProbA: float64(len(a.Text)) / float64(len(a.Text)+len(b.Text))}, nil
		}),
		"delayed": delay.Comparer(sampleScores()),
	}
	for name, c := range comparers {
		assert.NoError(t, TestComparer(ctx, c), name)
	}
	rewrites := Rewrites{}
	for _, r := range sampleResponses() {
		rewrites[r.Text] = r.Text + " (revised)"
	}
	refiners := map[string]alignment.Refiner{
		"rewrites":      rewrites,
		"rewrites none": Rewrites{},
		"func": RefinerFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Response, error) {
			out := r.Clone()
			out.Revisions = append(out.Revisions, alignment.Revision{Refiner: "f", Text: "kept", Failed: true})
			return out, nil
		}),
		"delayed": delay.Refiner(rewrites),
	}
	for name, r := range refiners {
		assert.NoError(t, TestRefiner(ctx, r), name)
	}
	sinks := map[string]alignment.PreferenceSink{
		"recorder": &Recorder{},
		"delayed":  delay.Sink(&Recorder{}),
	}
	for name, s := range sinks {
		assert.NoError(t, TestSink(ctx, s), name)
	}
}

// The conformance functions must be able to fail: each planted misbehaviour
// is reported with a message containing want.
func TestConformanceCatchesPolicies(t *testing.T) {
	var counter atomic.Int64
	var last atomic.Value
	tests := []struct {
		name string
		p    alignment.Policy
		want string
	}{
		{"mutates prompt", policyFunc(func(_ context.Context, p alignment.Prompt, _ alignment.SampleOptions) ([]alignment.Response, error) {
			p.Messages[0].Content = "changed"
			return []alignment.Response{{Text: "x"}}, nil
		}), "modified its prompt"},
		{"mutates extra", policyFunc(func(_ context.Context, _ alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
			o.Extra["seen"] = true
			return []alignment.Response{{Text: "x"}}, nil
		}), "modified its options"},
		{"mutates stop", policyFunc(func(_ context.Context, _ alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
			o.Stop[0] = "?"
			return []alignment.Response{{Text: "x"}}, nil
		}), "modified its options"},
		{"too many", policyFunc(func(_ context.Context, _ alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
			return make([]alignment.Response, o.Count()+1), nil
		}), "returned 2 responses, want 1 to 1"},
		{"none", policyFunc(func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
			return nil, nil
		}), "returned 0 responses"},
		{"positive log-prob", policyFunc(func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
			return []alignment.Response{{Text: "x", LogProb: 0.5, HasLogProb: true}}, nil
		}), "log-probability 0.5"},
		{"fails", policyFunc(func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
			return nil, errors.New("backend down")
		}), "failed on ordinary input: backend down"},
		{"ignores cancelled context", policyFunc(func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
			return []alignment.Response{{Text: "x"}}, nil
		}), "returned no error with an already cancelled context"},
		{"wrong cancellation error", policyFunc(func(ctx context.Context, _ alignment.Prompt, _ alignment.SampleOptions) ([]alignment.Response, error) {
			if ctx.Err() != nil {
				return nil, errors.New("stopped")
			}
			return []alignment.Response{{Text: "x"}}, nil
		}), "want an error wrapping context.Canceled"},
		{"ignores seed", policyFunc(func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error) {
			return []alignment.Response{{Text: fmt.Sprint(counter.Add(1))}}, nil
		}), "not deterministic"},
		{"shares state between calls", policyFunc(func(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			last.Store(p.ID)
			time.Sleep(time.Millisecond)
			return []alignment.Response{{Text: last.Load().(string)}}, nil
		}), "concurrent callers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestPolicy(t.Context(), tt.p)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

func TestConformanceCatchesSlowCancellation(t *testing.T) {
	defer func(d time.Duration) { promptly = d }(promptly)
	promptly = 50 * time.Millisecond
	// Ordinary calls get a context that is never done; only the cancellation
	// checks see one that can be, and then the policy sleeps through it.
	slow := policyFunc(func(ctx context.Context, _ alignment.Prompt, _ alignment.SampleOptions) ([]alignment.Response, error) {
		if ctx.Done() != nil {
			time.Sleep(200 * time.Millisecond)
		}
		return []alignment.Response{{Text: "x"}}, nil
	})
	err := TestPolicy(context.Background(), slow)
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "did not return within 50ms with an already cancelled context")
		assert.Contains(t, err.Error(), "did not return within 50ms of its context being cancelled")
	}
}

func TestConformanceCatchesJudges(t *testing.T) {
	score := func(v float64) JudgeFunc {
		return func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
			return alignment.Judgment{Score: v}, nil
		}
	}
	tests := []struct {
		name string
		j    alignment.Judge
		want string
	}{
		{"NaN", score(math.NaN()), "Score is NaN, want a finite number"},
		{"Inf", score(math.Inf(1)), "Score is +Inf"},
		{"out of range", ranged{score(7), 0, 5}, "Score is 7, outside ScoreRange [0, 5]"},
		{"bad range", ranged{score(1), 5, 0}, "ScoreRange() = [5, 0]"},
		{"bad sample", JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
			return alignment.Judgment{Score: 1, Samples: []float64{1, math.NaN()}}, nil
		}), "Samples[1] is NaN"},
		{"bad aspect", JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
			return alignment.Judgment{Score: 1, Aspects: map[string]float64{"harm": math.Inf(-1)}}, nil
		}), `Aspects["harm"] is -Inf`},
		{"mutates revisions", JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			if len(r.Revisions) > 0 {
				r.Revisions[0].Critique = ""
			}
			return alignment.Judgment{Score: 1}, nil
		}), "modified its response"},
		{"mutates nested log-probs", JudgeFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
			if len(r.TokenLogProbs) > 0 && len(r.TokenLogProbs[0].Top) > 0 {
				r.TokenLogProbs[0].Top[0].LogProb = 0
			}
			return alignment.Judgment{Score: 1}, nil
		}), "modified its response"},
		{"ignores seed", JudgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
			return alignment.Judgment{Score: float64(time.Now().UnixNano() % 1000)}, nil
		}), "not deterministic"},
		{"ignores cancellation", judgeFunc(func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error) {
			return alignment.Judgment{Score: 1}, nil
		}), "returned no error with an already cancelled context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestJudge(t.Context(), tt.j)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

func TestConformanceCatchesComparers(t *testing.T) {
	prob := func(v float64) ComparerFunc {
		return func(context.Context, alignment.Prompt, alignment.Response, alignment.Response) (alignment.Comparison, error) {
			return alignment.Comparison{ProbA: v}, nil
		}
	}
	tests := []struct {
		name string
		c    alignment.Comparer
		want string
	}{
		{"above one", prob(1.5), "ProbA is 1.5, want within [0, 1]"},
		{"negative", prob(-0.1), "ProbA is -0.1"},
		{"NaN", prob(math.NaN()), "ProbA is NaN"},
		{"mutates b", ComparerFunc(func(_ context.Context, _ alignment.Prompt, _, b alignment.Response) (alignment.Comparison, error) {
			if len(b.Revisions) > 0 {
				b.Revisions[0].Text = ""
			}
			return alignment.Comparison{ProbA: 0.5}, nil
		}), "modified its response b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestComparer(t.Context(), tt.c)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

func TestConformanceCatchesRefiners(t *testing.T) {
	tests := []struct {
		name string
		r    alignment.Refiner
		want string
	}{
		{"drops revisions", RefinerFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Response, error) {
			r.Revisions = nil
			return r, nil
		}), "do not start with the input's"},
		{"text not from revision", RefinerFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Response, error) {
			r = r.Clone()
			r.Revisions = append(r.Revisions, alignment.Revision{Refiner: "x", Text: "new"})
			return r, nil
		}), `want the text of new revision 0 "new"`},
		{"changes text without revision", RefinerFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Response, error) {
			r.Text += "!"
			return r, nil
		}), "want the input's text"},
		{"mutates input revisions", RefinerFunc(func(_ context.Context, _ alignment.Prompt, r alignment.Response) (alignment.Response, error) {
			if len(r.Revisions) > 0 {
				r.Revisions[0].Principle = "other"
			}
			return r, nil
		}), "modified its response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestRefiner(t.Context(), tt.r)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

func TestConformanceCatchesSinks(t *testing.T) {
	tests := []struct {
		name string
		s    alignment.PreferenceSink
		want string
	}{
		{"rejects empty", sinkFunc(func(_ context.Context, ps []alignment.Pair) error {
			if len(ps) == 0 {
				return errors.New("nothing to write")
			}
			return nil
		}), "Write(nil): nothing to write"},
		{"mutates pairs", sinkFunc(func(ctx context.Context, ps []alignment.Pair) error {
			for i := range ps {
				ps[i].Chosen.Text = ""
			}
			return ctx.Err()
		}), "modified its pairs"},
		{"ignores cancellation", sinkFunc(func(context.Context, []alignment.Pair) error { return nil }), "returned no error with an already cancelled context"},
		{"flush fails", flushFails{&Recorder{}}, "Flush: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TestSink(t.Context(), tt.s)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

// policyFunc and judgeFunc make planted implementations without the
// context check that JudgeFunc adds.
type policyFunc func(context.Context, alignment.Prompt, alignment.SampleOptions) ([]alignment.Response, error)

func (f policyFunc) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	return f(ctx, p, o)
}

type judgeFunc func(context.Context, alignment.Prompt, alignment.Response) (alignment.Judgment, error)

func (f judgeFunc) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return f(ctx, p, r)
}

type ranged struct {
	j      alignment.Judge
	lo, hi float64
}

func (r ranged) Judge(ctx context.Context, p alignment.Prompt, resp alignment.Response) (alignment.Judgment, error) {
	return r.j.Judge(ctx, p, resp)
}

func (r ranged) ScoreRange() (float64, float64) { return r.lo, r.hi }

type sinkFunc func(context.Context, []alignment.Pair) error

func (f sinkFunc) Write(ctx context.Context, ps []alignment.Pair) error { return f(ctx, ps) }

type flushFails struct{ *Recorder }

func (flushFails) Flush(context.Context) error { return errors.New("disk full") }
