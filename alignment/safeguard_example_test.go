package alignment_test

import (
	"context"
	"fmt"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// tutor is a policy that gets better with training up to level 1 and no
// further; its k-th draft of an answer is a little better than the one
// before.
type tutor struct{ level int }

func (t tutor) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	out := make([]alignment.Response, o.Count())
	for k := range out {
		out[k] = alignment.Response{Text: fmt.Sprintf("answer at level %d, draft %d", min(t.level, 1), k)}
	}
	return out, nil
}

// study trains a tutor: one level per iteration.
type study struct{}

func (study) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	return tutor{level: pol.(tutor).level + 1}, nil
}

// A run that stops paying: the policy improves once and then stays put.
// The held-out evaluation at the start of iteration 2 finds the trained
// policy no better than the one before it, and the plateau safeguard ends
// the run there instead of spending three more iterations.
func ExampleLoop_safeguards() {
	judge := alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
		var level, draft int
		if _, err := fmt.Sscanf(r.Text, "answer at level %d, draft %d", &level, &draft); err != nil {
			return alignment.Judgment{}, err
		}
		return alignment.Judgment{Score: 2*float64(level) + float64(draft)/2}, nil
	})
	train, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("t1", "Explain fractions"), alignment.NewPrompt("t2", "Explain decimals")})
	if err != nil {
		panic(err)
	}
	loop := alignment.Loop{
		Policy: tutor{}, Judge: judge, Prompts: train, Trainer: study{}, Iterations: 5, Samples: 2,
		Eval: &alignment.Evaluation{Judge: judge, Prompts: []alignment.Prompt{
			alignment.NewPrompt("h1", "Explain percentages"), alignment.NewPrompt("h2", "Explain ratios"), alignment.NewPrompt("h3", "Explain powers"),
		}},
		Observer: alignment.ObserverFunc(func(e alignment.Event) {
			if e.Kind == alignment.AlarmRaised {
				fmt.Println("alarm raised:", e.Alarm)
			}
		}),
	}
	res, err := loop.Run(context.Background())
	if err != nil {
		panic(err)
	}
	for _, r := range res.Reports {
		fmt.Printf("iteration %d: held-out score %.2f", r.Iteration, r.Eval.MeanScore)
		if w := r.Eval.WinRate; w != nil {
			fmt.Printf(", win rate %.2f", *w)
		}
		fmt.Println()
	}
	fmt.Printf("final policy (iteration %d): held-out score %.2f, win rate %.2f\n", res.Final.Iteration, res.Final.MeanScore, *res.Final.WinRate)
	s := res.Stopped
	fmt.Printf("stopped after %d iterations: %s (%s %.2f, at most %.2f)\n", len(res.Reports), s.Kind, s.Signal, s.Value, s.Threshold)
	// Output:
	// alarm raised: iteration 2: plateau: the policy of iteration 2 wins 0.5 of 6 held-out comparisons with the policy before it (standard error 0, lower bound 0.5 at 1.65 standard errors), at or below 0.5
	// iteration 0: held-out score 0.25
	// iteration 1: held-out score 2.25, win rate 1.00
	// final policy (iteration 2): held-out score 2.25, win rate 0.50
	// stopped after 2 iterations: plateau (win_rate 0.50, at most 0.50)
}

// Distinct and DuplicateRate measure how varied a prompt's samples are;
// the Loop reports them per prompt to catch a policy collapsing onto one
// answer.
func ExampleDistinct() {
	samples := []string{"The answer is 4.", "the answer is  4.", "It is four."}
	d1, _ := alignment.Distinct(samples, 1)
	d2, _ := alignment.Distinct(samples, 2)
	fmt.Printf("distinct-1 %.2f, distinct-2 %.2f, duplicates %.2f\n", d1, d2, alignment.DuplicateRate(samples))
	// Output:
	// distinct-1 0.55, distinct-2 0.62, duplicates 0.67
}
