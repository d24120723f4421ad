package taskworld

import (
	"context"
	"fmt"
	"slices"

	"github.com/selfalign/selfalign/constitution"
	"github.com/selfalign/selfalign/dpo"
	"github.com/selfalign/selfalign/dpo/tinylm"
)

// Constitution returns the five rules as a constitution of rule
// principles: an alignment.Judge on the 0–5 scale that needs no model.
func Constitution() (*constitution.Constitution, error) {
	var ps []constitution.Principle
	for _, r := range Rules() {
		ps = append(ps, constitution.Principle{ID: r.ID, Check: r.Check})
	}
	return constitution.New(ps...)
}

// FineTune builds a tinylm model of the given configuration whose
// vocabulary covers the world's prompts, corpus and EFT examples, and
// trains it on the corpus and the EFT examples together by supervised
// fine-tuning for epochs passes, as the Self-Rewarding paper trains its
// first model on instruction and evaluation fine-tuning data. It returns
// the model and the loss of each epoch. A model that judges in JudgeFormat
// needs a context of JudgeContext tokens to see what it judges.
func FineTune(ctx context.Context, w *World, c tinylm.Config, epochs int, seed uint64) (*tinylm.Model, []float64, error) {
	return fineTune(ctx, w, c, epochs, seed, nil)
}

// fineTune is FineTune with extra sequences trained on after the world's
// and their words added to the vocabulary.
func fineTune(ctx context.Context, w *World, c tinylm.Config, epochs int, seed uint64, extra []dpo.Sequence) (*tinylm.Model, []float64, error) {
	vocab := w.Vocabulary()
	for _, e := range extra {
		for _, m := range e.Prompt.Messages {
			vocab = append(vocab, split(m.Content)...)
		}
		vocab = append(vocab, split(e.Completion)...)
	}
	slices.Sort(vocab)
	tok, err := tinylm.NewTokenizer(slices.Compact(vocab), tinylm.TokenizerOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("taskworld: %w", err)
	}
	m, err := tinylm.New(tok, c)
	if err != nil {
		return nil, nil, fmt.Errorf("taskworld: %w", err)
	}
	var seqs []dpo.Sequence
	for _, e := range w.Corpus() {
		seqs = append(seqs, dpo.Sequence{Prompt: e.Prompt, Completion: e.Response})
	}
	for _, e := range w.EFT() {
		seqs = append(seqs, dpo.Sequence{Prompt: e.Prompt, Completion: e.Completion})
	}
	seqs = append(seqs, extra...)
	losses, err := m.Fit(ctx, seqs, tinylm.FitOptions{Epochs: epochs, Seed: seed})
	if err != nil {
		return nil, nil, fmt.Errorf("taskworld: fine-tuning: %w", err)
	}
	return m, losses, nil
}

// Kit is where a run on the task world starts: the world, its rule judge
// and a model fine-tuned on its corpus.
type Kit struct {
	World *World
	Rules *constitution.Constitution
	Model *tinylm.Model
	// Losses holds the fine-tuning loss of each epoch.
	Losses []float64
}

// NewKit generates the world of seed sized by o, builds its rule judge
// and fine-tunes a model of configuration c, seeded with seed, for epochs.
func NewKit(ctx context.Context, seed uint64, o *Options, c tinylm.Config, epochs int) (*Kit, error) {
	w, err := New(seed, o)
	if err != nil {
		return nil, err
	}
	rules, err := Constitution()
	if err != nil {
		return nil, err
	}
	c.Seed = seed
	m, losses, err := FineTune(ctx, w, c, epochs, seed)
	if err != nil {
		return nil, err
	}
	return &Kit{World: w, Rules: rules, Model: m, Losses: losses}, nil
}

// String sums the kit up in one line, for the start of a run's output.
func (k *Kit) String() string {
	return fmt.Sprintf("task world: %d prompts, %d held out; fine-tuned tinylm, loss %.2f → %.2f",
		len(k.World.Train()), len(k.World.HeldOut()), k.Losses[0], k.Losses[len(k.Losses)-1])
}
