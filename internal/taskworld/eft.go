package taskworld

import (
	"fmt"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/judge"
)

// MaxEFT is the budget of labelled judgments a world may spend on
// evaluation fine-tuning: Options.EFT may not exceed it. It is the
// "at most 300 labelled judgments" a self-judging run is allowed, the only
// use of the rules in training besides none.
const MaxEFT = 300

// eftResponses is the number of responses labelled per seed prompt: one
// good and two of distinct bad kinds, so that every seed prompt teaches
// the judge to tell a good answer from flawed ones and flaws apart.
const eftResponses = 3

// JudgeContext is the context, in tokens, of a tinylm that judges in
// JudgeFormat. The end of a judge prompt is "Score:", the separator and 14
// tokens of fences around the prompt and the response, so 32 tokens see
// the whole prompt and the whole response when they have 15 tokens
// together, as a typical prompt of seven and a good answer of four to
// eight have. It is the largest context whose judge kept its gold pairwise
// accuracy after EFT (0.90 over seeds 1 to 8, against 0.92 with 16 or 24
// tokens, which see only the response and the prompt's last words, and
// 0.85 with 40, whose larger first layer 300 examples train less well).
const JudgeContext = 32

// JudgeFormat returns the format in which a model of the world judges and
// is fine-tuned to judge: judge.NewScoreFormat(nil), the integer scores 0
// to 5 of the rules. Build the judge with judge.NewExpected(model,
// w.JudgeFormat()).
func (w *World) JudgeFormat() *judge.ScoreFormat { return w.format }

// EFTExample is one labelled judgment of evaluation fine-tuning: a response
// to a training prompt, its score by the rules, and the judge-format
// sequence a model learns it from.
type EFTExample struct {
	// Task is the prompt that was answered and Response the answer, of Kind.
	Task     alignment.Prompt
	Response string
	Kind     Kind
	// Score is the label: the response's score by the rules, 0 to MaxScore.
	Score float64
	// Prompt is the judge prompt in JudgeFormat and Completion the text
	// of Score: the sequence fine-tuning trains on.
	Prompt     alignment.Prompt
	Completion string
}

// EFT returns the examples of evaluation fine-tuning, Options.EFT of them
// (none by default), in a seeded order. Their seed prompts are the first
// ⌈EFT/3⌉ training prompts; each has three responses, one good and two of
// distinct bad kinds, labelled by Score. FineTune trains on them with the
// corpus, as the Self-Rewarding paper trains its first model on
// instruction and evaluation fine-tuning data together.
func (w *World) EFT() []EFTExample {
	out := make([]EFTExample, len(w.eft))
	for i, e := range w.eft {
		out[i] = e
		out[i].Task = e.Task.Clone()
		out[i].Prompt = e.Prompt.Clone()
	}
	return out
}

// eftSet labels n judgments over the training prompts in format f.
func eftSet(seed uint64, train []Task, n int, f *judge.ScoreFormat) ([]EFTExample, error) {
	if n == 0 || len(train) == 0 {
		return nil, nil
	}
	r := seeds.Rand(seeds.Derive(seed, "eft"))
	bad := BadKinds()
	var out []EFTExample
	for i := 0; len(out) < n; i++ {
		t := train[i%len(train)]
		kinds := []Kind{KindGood}
		for _, j := range r.Perm(len(bad))[:eftResponses-1] {
			kinds = append(kinds, bad[j])
		}
		for _, k := range kinds[:min(len(kinds), n-len(out))] {
			rsp := alignment.Response{Text: respond(t.Facts, k, r)}
			s := Score(t.Prompt, rsp)
			c, err := f.Completion(s)
			if err != nil {
				return nil, fmt.Errorf("taskworld: labelling an EFT example: %w", err)
			}
			out = append(out, EFTExample{Task: t.Prompt.Clone(), Response: rsp.Text, Kind: k, Score: s, Prompt: f.Prompt(t.Prompt, rsp), Completion: c})
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out, nil
}

// Gold returns the world's gold set for measuring a judge with
// judge.Calibrate: for each held-out prompt, two responses of distinct
// kinds drawn uniformly from all kinds, each labelled by Score. Its prompts
// are held out, so none is a seed prompt of EFT, and it is the same for
// every call.
func (w *World) Gold() []judge.Gold {
	r := seeds.Rand(seeds.Derive(w.seed, "gold"))
	kinds := append([]Kind{KindGood}, BadKinds()...)
	out := make([]judge.Gold, 0, 2*len(w.heldOut))
	for _, t := range w.heldOut {
		ks := r.Perm(len(kinds))[:2]
		for _, k := range ks {
			rsp := alignment.Response{Text: respond(t.Facts, kinds[k], r)}
			out = append(out, judge.Gold{Prompt: t.Prompt.Clone(), Response: rsp, Label: Score(t.Prompt, rsp)})
		}
	}
	return out
}
