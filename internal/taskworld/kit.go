package taskworld

import (
	"context"
	"fmt"

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
// vocabulary covers the world's prompts and corpus, and trains it on the
// corpus by supervised fine-tuning for epochs passes. It returns the model
// and the loss of each epoch.
func FineTune(ctx context.Context, w *World, c tinylm.Config, epochs int, seed uint64) (*tinylm.Model, []float64, error) {
	tok, err := tinylm.NewTokenizer(w.Vocabulary(), tinylm.TokenizerOptions{})
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
	losses, err := m.Fit(ctx, seqs, tinylm.FitOptions{Epochs: epochs, Seed: seed})
	if err != nil {
		return nil, nil, fmt.Errorf("taskworld: fine-tuning: %w", err)
	}
	return m, losses, nil
}
