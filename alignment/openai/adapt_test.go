package openai

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// TestReasoningModelAdapts replays OpenAI's reasoning models (o1, o3,
// GPT-5), which answer max_tokens with 400 unsupported_parameter and any
// temperature but 1 with 400 unsupported_value (the fake's bodies are
// OpenAI's, see openaitest.Options.ReasoningModel). The Policy resends with
// max_completion_tokens and without temperature, records both changes in
// Notes, and remembers them for the endpoint.
func TestReasoningModelAdapts(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Options{Flavor: openaitest.OpenAI, ReasoningModel: true})
	p := newPolicy(t, "gpt-5-mini", []string{srv.URL()}, fast())
	o := alignment.SampleOptions{N: 2, MaxTokens: 100, Temperature: 0, TopP: 0.9, Seed: 3}
	for range 2 {
		rs, err := p.Generate(t.Context(), hello, o)
		require.NoError(t, err)
		assert.Len(t, rs, 2)
	}
	type sent struct {
		maxTokens, maxCompletionTokens, temperature, topP bool
	}
	var got []sent
	for _, r := range srv.Requests() {
		_, a := r.Body["max_tokens"]
		_, b := r.Body["max_completion_tokens"]
		_, c := r.Body["temperature"]
		_, d := r.Body["top_p"]
		got = append(got, sent{a, b, c, d})
	}
	assert.Equal(t, []sent{
		{maxTokens: true, temperature: true, topP: true},
		{maxCompletionTokens: true, temperature: true, topP: true},
		{maxCompletionTokens: true, topP: true},
		{maxCompletionTokens: true},
		{maxCompletionTokens: true},
	}, got, "three refusals, each adapted once; the second call goes through at once")
	var mct int
	require.NoError(t, json.Unmarshal(srv.Requests()[4].Body["max_completion_tokens"], &mct))
	assert.Equal(t, 100, mct)
	notes := p.Notes()
	require.Len(t, notes, 3)
	assert.Contains(t, notes[0], srv.URL()+": refuses max_tokens")
	assert.Contains(t, notes[1], "refuses temperature 0")
	assert.Contains(t, notes[2], "refuses top_p 0.9")
	assert.Zero(t, p.Usage().Retries)
}

// TestReasoningRefusalFromMessage: a proxy that keeps only OpenAI's
// message, without param, is understood too.
func TestReasoningRefusalFromMessage(t *testing.T) {
	se := &StatusError{StatusCode: 400, Message: "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported."}
	p := newPolicy(t, "m", []string{"http://h/v1"}, fast())
	temp := 0.2
	assert.True(t, p.adaptReasoning(p.eps[0], se, chatRequest{Temperature: &temp}))
	assert.True(t, p.adaptReasoning(p.eps[0], se, chatRequest{Temperature: &temp}), "a request built before the first adaptation is resent too")
	adapted := p.adapted(p.eps[0], chatRequest{Temperature: &temp})
	assert.Nil(t, adapted.Temperature)
	assert.False(t, p.adaptReasoning(p.eps[0], se, adapted), "a refusal of what was not sent is not this quirk")
	assert.Len(t, p.Notes(), 1)
	other := &StatusError{StatusCode: 400, Message: "This model's maximum context length is 2048 tokens."}
	assert.False(t, p.adaptReasoning(p.eps[0], other, chatRequest{MaxTokens: 5}))
}

func TestNLimit(t *testing.T) {
	for msg, want := range map[string]int{
		"Field 'n': Value must be between 1 <= value <= 4, but got 8": 4,
		"Field 'n': Value must be between 1 <= value <= 1, but got 2": 1,
		"n_cmpl cannot be greater than the number of slots":           0,
		"Field 'top_k': Value must be between 1 <= value <= 4":        0,
		"": 0,
	} {
		k, ok := nLimit(msg)
		assert.Equal(t, want, k, msg)
		assert.Equal(t, want > 0, ok, msg)
	}
}

// TestAdaptationsUnderConcurrency: calls that meet a refusal at the same
// time all adapt, including those whose endpoint another call has already
// marked; none fails.
func TestAdaptationsUnderConcurrency(t *testing.T) {
	for _, o := range []openaitest.Options{
		{Flavor: openaitest.LlamaCpp, Slots: 2},
		{Flavor: openaitest.OpenAI, ReasoningModel: true},
	} {
		t.Run(o.Flavor.String(), func(t *testing.T) {
			srv := openaitest.NewServer(t, o)
			p := newPolicy(t, "m", []string{srv.URL()}, fast())
			g, ctx := errgroup.WithContext(t.Context())
			for i := range 16 {
				g.Go(func() error {
					rs, err := p.Generate(ctx, hello, alignment.SampleOptions{N: 5, MaxTokens: 50, Temperature: 0.5, Seed: uint64(i)})
					if err == nil && len(rs) != 5 {
						t.Errorf("%d responses", len(rs))
					}
					return err
				})
			}
			require.NoError(t, g.Wait())
			assert.Zero(t, p.Usage().Retries)
		})
	}
}
