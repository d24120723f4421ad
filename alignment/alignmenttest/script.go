package alignmenttest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/selfalign/selfalign/alignment"
)

// ErrUnscripted says a fake was asked about an input its script does not
// cover.
var ErrUnscripted = errors.New("input not in script")

var _ alignment.Policy = (*Script)(nil)

// Script is a scripted Policy: it answers a prompt with texts looked up by
// the prompt's ID or text, or computed by a function, and records every
// call.
//
// The k-th response of a call (from 0) is texts[(o.Seed + k) mod len(texts)]
// of the first of ByID[p.ID], ByText[p.Text()] that exists; otherwise it is
// Func(p, o, k) when Func is set; otherwise texts from Default. A call that
// none of them covers fails with an error that wraps ErrUnscripted. With
// Seed 0 and N equal to the number of texts, the responses are the texts in
// order; with other seeds they are a rotation of them, so the same seed
// always gives the same responses.
//
// Set the fields before the first call and leave them alone afterwards;
// Generate may then be called from many goroutines at once.
type Script struct {
	// ByID maps prompt IDs to response texts.
	ByID map[string][]string
	// ByText maps prompt texts (Prompt.Text) to response texts.
	ByText map[string][]string
	// Func computes the k-th response to p when neither map covers p. It
	// must not modify p or o and must be safe for concurrent calls.
	Func func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response
	// Default holds the response texts for prompts nothing else covers.
	Default []string
	// MaxPerCall, when positive, caps the responses of one call, as
	// llama.cpp's server and Ollama return one response whatever N asks for.
	MaxPerCall int
	// Source is the Response.Source of scripted texts; empty means "script".
	Source string

	mu    sync.Mutex
	calls []PolicyCall
}

// PolicyCall is one call recorded by a Script, with copies of its inputs.
type PolicyCall struct {
	Prompt    alignment.Prompt
	Options   alignment.SampleOptions
	Responses int
}

// Generate implements alignment.Policy.
func (s *Script) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("alignmenttest: script: %w", err)
	}
	n := o.Count()
	if s.MaxPerCall > 0 && n > s.MaxPerCall {
		n = s.MaxPerCall
	}
	out := make([]alignment.Response, 0, n)
	texts, ok := s.texts(p)
	switch {
	case ok && len(texts) == 0:
		return nil, fmt.Errorf("alignmenttest: script for prompt %q has no texts: %w", p.ID, ErrUnscripted)
	case ok:
		src := s.Source
		if src == "" {
			src = "script"
		}
		for k := range n {
			t := texts[int((o.Seed+uint64(k))%uint64(len(texts)))]
			out = append(out, alignment.Response{Text: t, Source: src, FinishReason: "stop"})
		}
	case s.Func != nil:
		for k := range n {
			out = append(out, s.Func(p, o, k))
		}
	default:
		return nil, fmt.Errorf("alignmenttest: no script for prompt %q: %w", p.ID, ErrUnscripted)
	}
	s.mu.Lock()
	s.calls = append(s.calls, PolicyCall{Prompt: clonePrompt(p), Options: o.Clone(), Responses: len(out)})
	s.mu.Unlock()
	return out, nil
}

// Calls returns copies of the calls made so far, in the order they ended.
func (s *Script) Calls() []PolicyCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PolicyCall, len(s.calls))
	for i, c := range s.calls {
		out[i] = PolicyCall{Prompt: clonePrompt(c.Prompt), Options: c.Options.Clone(), Responses: c.Responses}
	}
	return out
}

// texts returns the scripted texts for p; ok is false when p falls through
// to Func.
func (s *Script) texts(p alignment.Prompt) (texts []string, ok bool) {
	if t, ok := s.ByID[p.ID]; ok {
		return t, true
	}
	if t, ok := s.ByText[p.Text()]; ok {
		return t, true
	}
	if s.Func != nil {
		return nil, false
	}
	if s.Default != nil {
		return s.Default, true
	}
	return nil, false
}
