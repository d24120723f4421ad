package alignment

import (
	"context"
	"fmt"
	"strconv"

	"github.com/selfalign/selfalign/internal/seeds"
)

// SampleN draws exactly o.Count() responses from pol. It asks for all of
// them in one call and, when the backend returns fewer (llama.cpp's server
// and Ollama ignore n), asks again for the rest, one call per missing
// response, each with its own seed derived from o.Seed so the draws differ.
func SampleN(ctx context.Context, pol Policy, p Prompt, o SampleOptions) ([]Response, error) {
	want := o.Count()
	out, err := pol.Generate(ctx, p, o)
	if err != nil {
		return nil, err
	}
	if len(out) > want {
		return nil, fmt.Errorf("alignment: policy returned %d responses to prompt %q, asked for %d: %w", len(out), p.ID, want, ErrInvalid)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("alignment: policy returned no response to prompt %q: %w", p.ID, ErrInvalid)
	}
	for i := len(out); i < want; i++ {
		one := o
		one.N = 1
		one.Seed = seeds.Derive(o.Seed, "fill", strconv.Itoa(i))
		more, err := pol.Generate(ctx, p, one)
		if err != nil {
			return nil, err
		}
		if len(more) != 1 {
			return nil, fmt.Errorf("alignment: policy returned %d responses to prompt %q, asked for 1: %w", len(more), p.ID, ErrInvalid)
		}
		out = append(out, more[0])
	}
	return out, nil
}
