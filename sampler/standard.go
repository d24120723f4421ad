package sampler

import (
	"context"
	"fmt"
	"math"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Options are the decoding defaults of a [Standard] sampler.
type Options struct {
	// N is the number of responses Sample draws per prompt; it must be at
	// least 1.
	N int
	// Temperature, TopP and MaxTokens fill the same fields of a call's
	// SampleOptions when the call leaves them zero. Temperature must be
	// finite and non-negative, TopP within [0, 1], MaxTokens non-negative.
	Temperature float64
	TopP        float64
	MaxTokens   int
	// Seed is the base seed of calls that carry none: their seed is derived
	// from it and the prompt ID, so different prompts draw differently.
	Seed uint64
}

// Standard is a Policy that draws exactly the number of responses asked
// for, filling unset decoding options with its defaults. It asks the wrapped
// policy for all of them in one call and, when the backend returns fewer,
// makes one further call per missing response (see alignment.SampleN).
//
// Because zero means "unset", a call cannot ask for greedy decoding
// (Temperature 0) through a Standard whose default temperature is positive.
type Standard struct {
	pol alignment.Policy
	o   Options
}

var _ alignment.Policy = (*Standard)(nil)

// NewStandard returns a Standard sampler over pol. It fails, wrapping
// [ErrInvalid], when pol is nil or an option is out of range.
func NewStandard(pol alignment.Policy, o Options) (*Standard, error) {
	if pol == nil {
		return nil, fmt.Errorf("sampler: standard: nil policy: %w", ErrInvalid)
	}
	if o.N < 1 {
		return nil, fmt.Errorf("sampler: standard: N is %d, want at least 1: %w", o.N, ErrInvalid)
	}
	if err := checkDecoding(o.Temperature, o.TopP, o.MaxTokens); err != nil {
		return nil, fmt.Errorf("sampler: standard: %w", err)
	}
	return &Standard{pol: pol, o: o}, nil
}

// Sample draws Options.N responses to p with the default options.
func (s *Standard) Sample(ctx context.Context, p alignment.Prompt) ([]alignment.Response, error) {
	return s.Generate(ctx, p, alignment.SampleOptions{N: s.o.N})
}

// Generate implements alignment.Policy: it returns exactly o.Count()
// responses, drawn with o's zero Temperature, TopP, MaxTokens and Seed
// replaced by the sampler's defaults. It fails, wrapping [ErrInvalid], when
// o's decoding options are out of range.
func (s *Standard) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Temperature == 0 {
		o.Temperature = s.o.Temperature
	}
	if o.TopP == 0 {
		o.TopP = s.o.TopP
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = s.o.MaxTokens
	}
	if o.Seed == 0 {
		o.Seed = seeds.Derive(s.o.Seed, "standard", p.ID)
	}
	if err := checkDecoding(o.Temperature, o.TopP, o.MaxTokens); err != nil {
		return nil, fmt.Errorf("sampler: standard: prompt %q: %w", p.ID, err)
	}
	rs, err := alignment.SampleN(ctx, s.pol, p, o)
	if err != nil {
		return nil, fmt.Errorf("sampler: standard: %w", err)
	}
	return rs, nil
}

// checkDecoding validates decoding options.
func checkDecoding(temperature, topP float64, maxTokens int) error {
	switch {
	case !(temperature >= 0) || math.IsInf(temperature, 1):
		return fmt.Errorf("temperature %v is not a finite non-negative number: %w", temperature, ErrInvalid)
	case !(topP >= 0 && topP <= 1):
		return fmt.Errorf("top-p %v is outside [0, 1]: %w", topP, ErrInvalid)
	case maxTokens < 0:
		return fmt.Errorf("max tokens %d is negative: %w", maxTokens, ErrInvalid)
	}
	return nil
}
