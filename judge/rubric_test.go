package judge

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

func TestRubricConforms(t *testing.T) {
	policy := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		// A deterministic model whose score depends on the prompt, the seed
		// and the sample index, so that repeatability is really tested.
		score := (len(p.Text()) + int(o.Seed%3) + k) % 6
		return alignment.Response{Text: "Reasoning.\nScore: " + string(rune('0'+score))}
	}}
	for _, o := range []*RubricOptions{nil, {Votes: 3}, {Votes: 4, Aggregate: Median}} {
		j, err := NewRubric(policy, o)
		require.NoError(t, err)
		assert.NoError(t, alignmenttest.TestJudge(context.Background(), j))
	}
}

func TestRubricVotes(t *testing.T) {
	ctx := context.Background()
	texts := []string{"Score: 1", "Score: 5", "I cannot decide.", "Score: 3"}
	tests := []struct {
		name      string
		aggregate Aggregate
		want      float64
	}{
		{"mean", Mean, 3},
		{"median", Median, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := &alignmenttest.Script{Default: texts}
			j, err := NewRubric(policy, &RubricOptions{Votes: 4, Aggregate: tt.aggregate, Sample: alignment.SampleOptions{Temperature: 0.8}})
			require.NoError(t, err)
			got, err := j.Judge(alignment.WithSeed(ctx, 0), alignment.NewPrompt("p", "Q?"), alignment.Response{Text: "A."})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Score)
			assert.ElementsMatch(t, []float64{1, 5, 3}, got.Samples)
			assert.Equal(t, 1, got.Unparsed)
			assert.Equal(t, "Score: 3", got.Rationale, "the sample nearest the aggregate")
			calls := policy.Calls()
			require.Len(t, calls, 1, "one call with N=k")
			assert.Equal(t, 4, calls[0].Options.N)
			assert.Equal(t, 0.8, calls[0].Options.Temperature)
		})
	}
}

func TestRubricFillsUpFewerResponses(t *testing.T) {
	policy := &alignmenttest.Script{Default: []string{"Score: 2", "Score: 4"}, MaxPerCall: 1}
	j, err := NewRubric(policy, &RubricOptions{Votes: 5})
	require.NoError(t, err)
	got, err := j.Judge(context.Background(), alignment.NewPrompt("p", "Q?"), alignment.Response{Text: "A."})
	require.NoError(t, err)
	assert.Len(t, got.Samples, 5)
	assert.Len(t, policy.Calls(), 5, "SampleN asks again for each missing response")
}

func TestRubricMedianResistsOutlier(t *testing.T) {
	policy := &alignmenttest.Script{Default: []string{"Score: 4", "Score: 4", "Score: 0"}}
	j, err := NewRubric(policy, &RubricOptions{Votes: 3, Aggregate: Median})
	require.NoError(t, err)
	got, err := j.Judge(context.Background(), alignment.NewPrompt("p", "Q?"), alignment.Response{Text: "A."})
	require.NoError(t, err)
	assert.Equal(t, 4.0, got.Score)
}

func TestRubricNoneParse(t *testing.T) {
	j, err := NewRubric(&alignmenttest.Script{Default: []string{"no idea", "Score: 9"}}, &RubricOptions{Votes: 2})
	require.NoError(t, err)
	_, err = j.Judge(context.Background(), alignment.NewPrompt("p7", "Q?"), alignment.Response{Text: "A."})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnparsable)
	assert.Contains(t, err.Error(), `none of 2 votes for prompt "p7" parsed`)
}

func TestRubricSeed(t *testing.T) {
	policy := &alignmenttest.Script{Default: []string{"Score: 3"}}
	j, err := NewRubric(policy, nil)
	require.NoError(t, err)
	ctx := context.Background()
	p := alignment.NewPrompt("p", "Q?")
	for _, text := range []string{"one", "one", "two"} {
		_, err := j.Judge(ctx, p, alignment.Response{Text: text})
		require.NoError(t, err)
	}
	_, err = j.Judge(alignment.WithSeed(ctx, 77), p, alignment.Response{Text: "one"})
	require.NoError(t, err)
	calls := policy.Calls()
	require.Len(t, calls, 4)
	assert.Equal(t, calls[0].Options.Seed, calls[1].Options.Seed, "same text, same derived seed")
	assert.NotEqual(t, calls[0].Options.Seed, calls[2].Options.Seed, "different text, different seed")
	assert.Equal(t, uint64(77), calls[3].Options.Seed, "the context's seed is used")
}

func TestRubricTemplate(t *testing.T) {
	policy := &alignmenttest.Script{Default: []string{"Score: 7"}}
	j, err := NewRubric(policy, &RubricOptions{
		Template: "Rate {{response}} for {{prompt}} from {{min}} to {{max}}.",
		Min:      1, Max: 10,
		System: "Be strict.",
	})
	require.NoError(t, err)
	lo, hi := j.ScoreRange()
	assert.Equal(t, [2]float64{1, 10}, [2]float64{lo, hi})
	r := alignment.Response{Text: "{{prompt}} {{max}}"}
	p := j.Prompt(alignment.NewPrompt("p", "{{response}}"), r)
	assert.Equal(t, "judge:p", p.ID)
	require.Len(t, p.Messages, 2)
	assert.Equal(t, alignment.Message{Role: alignment.RoleSystem, Content: "Be strict."}, p.Messages[0])
	assert.Equal(t, "Rate <response>\n{{prompt}} {{max}}\n</response> for <prompt>\n{{response}}\n</prompt> from 1 to 10.",
		p.Messages[1].Content, "placeholders in the texts are not substituted")
	got, err := j.Judge(context.Background(), alignment.NewPrompt("p", "Q"), r)
	require.NoError(t, err)
	assert.Equal(t, 7.0, got.Score)
}

func TestRubricMultiTurnPrompt(t *testing.T) {
	j, err := NewRubric(fixed("Score: 1"), nil)
	require.NoError(t, err)
	p := alignment.Prompt{ID: "m", Messages: []alignment.Message{
		{Role: alignment.RoleUser, Content: "Hi"}, {Role: alignment.RoleAssistant, Content: "Hello"}, {Role: alignment.RoleUser, Content: "Capital of Peru?"},
	}}
	text := j.Prompt(p, alignment.Response{Text: "Lima."}).Messages[0].Content
	assert.Contains(t, text, "<prompt>\nuser: Hi\n\nassistant: Hello\n\nuser: Capital of Peru?\n</prompt>")
	assert.Contains(t, text, "<response>\nLima.\n</response>")
	assert.True(t, strings.HasSuffix(text, `"Score: <points>", giving the total points from 0 to 5.`))
}

func TestNewRubricErrors(t *testing.T) {
	tests := []struct {
		name string
		pol  alignment.Policy
		o    *RubricOptions
		msg  string
	}{
		{"nil policy", nil, nil, "nil policy"},
		{"empty scale", fixed(""), &RubricOptions{Min: 5, Max: 5}, "scale Min 5, Max 5"},
		{"NaN scale", fixed(""), &RubricOptions{Max: nan()}, "want finite Min < Max"},
		{"unknown aggregate", fixed(""), &RubricOptions{Aggregate: 9}, "unknown Aggregate 9"},
		{"unknown placeholder", fixed(""), &RubricOptions{Template: "Grade\n{{response}}\n{{answer}}"}, "line 3: unknown placeholder {{answer}}"},
		{"spaced placeholder", fixed(""), &RubricOptions{Template: "{{ response }}"}, "unknown placeholder {{ response }}"},
		{"missing response", fixed(""), &RubricOptions{Template: "Grade {{prompt}}"}, "lacks the placeholder {{response}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRubric(tt.pol, tt.o)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestRubricBackendError(t *testing.T) {
	j, err := NewRubric(&alignmenttest.Script{}, nil)
	require.NoError(t, err)
	_, err = j.Judge(context.Background(), alignment.NewPrompt("p", "Q"), alignment.Response{Text: "A"})
	assert.ErrorIs(t, err, alignmenttest.ErrUnscripted)
	assert.NotErrorIs(t, err, ErrUnparsable)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = j.Judge(ctx, alignment.NewPrompt("p", "Q"), alignment.Response{Text: "A"})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAggregate(t *testing.T) {
	xs := []float64{3, 1, 3, 5, 1}
	assert.Equal(t, 2.6, Mean.aggregate(xs))
	assert.Equal(t, 3.0, Median.aggregate(xs))
	assert.Equal(t, 2.0, Majority.aggregate(xs), "1 and 3 tie as modes; their median")
	assert.Equal(t, 5.0, Majority.aggregate([]float64{5, 2, 5}))
	assert.Equal(t, []float64{3, 1, 3, 5, 1}, xs, "inputs are not modified")
	assert.Equal(t, "median", Median.String())
	assert.Equal(t, "Aggregate(7)", Aggregate(7).String())
}

// A run in an output directory records its judge's fingerprint, so a
// rubric changed between runs (template, scale, votes or sampling) makes the directory refuse to resume instead of mixing
// two judges' pairs.
func TestRubricFingerprint(t *testing.T) {
	pol := &alignmenttest.Script{Default: []string{"Score: 3"}}
	mk := func(p alignment.Policy, o *RubricOptions) string {
		r, err := NewRubric(p, o)
		require.NoError(t, err)
		return r.Fingerprint()
	}
	base := mk(pol, nil)
	assert.Equal(t, base, mk(pol, nil), "the same settings, the same fingerprint")
	for name, fp := range map[string]string{
		"votes":    mk(pol, &RubricOptions{Votes: 3}),
		"scale":    mk(pol, &RubricOptions{Min: 1, Max: 10}),
		"sampling": mk(pol, &RubricOptions{Sample: alignment.SampleOptions{Temperature: 0.7}}),
		"template": mk(pol, &RubricOptions{Template: "Rate {{response}}. End with Score: N."}),
	} {
		assert.NotEqual(t, base, fp, name)
	}

	dir := t.TempDir()
	src, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("p1", "q")})
	require.NoError(t, err)
	run := func(j alignment.Judge) error {
		loop := alignment.Loop{Policy: &alignmenttest.Script{Default: []string{"a", "b"}}, Prompts: src, Judge: j, Samples: 2, Dir: dir}
		_, err := loop.Run(t.Context())
		return err
	}
	first, err := NewRubric(pol, nil)
	require.NoError(t, err)
	require.NoError(t, run(first))
	second, err := NewRubric(pol, &RubricOptions{Votes: 2})
	require.NoError(t, err)
	err = run(second)
	assert.ErrorIs(t, err, alignment.ErrNotResumable)
	assert.ErrorContains(t, err, "judge")
}
