package promptgen_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/alignment/promptgen"
)

func TestParseInstruction(t *testing.T) {
	tests := []struct {
		name, output, want string
	}{
		{"plain", "What is the capital of Peru?", "What is the capital of Peru?"},
		{"task label", "Task 9: Name three colours.", "Name three colours."},
		{"label on its own line", "Task 4:\n  Write a haiku about rain.\nTask 5: more", "Write a haiku about rain."},
		{"instruction label", "Instruction: sort these numbers", "sort these numbers"},
		{"markdown label", "**Prompt:** Explain DNS.", "Explain DNS."},
		{"list marker", "1. Explain recursion", "Explain recursion"},
		{"dash marker", "- translate 'hello' to French", "translate 'hello' to French"},
		{"keeps decimals", "3.5 plus 2?", "3.5 plus 2?"},
		{"continued list", "Explain TCP. Task 5: Explain UDP.", "Explain TCP."},
		{"quotes", "\"How do magnets work?\"", "How do magnets work?"},
		{"leading blank lines", "\n\n   \nsummarise the text", "summarise the text"},
		{"control characters", "say\x00 hi\tthere", "say hi there"},
		{"invalid utf-8", "bad \xff byte", "bad byte"},
		{"echoed fence ignored", "<text>\nTask 1: quoted\n</text>\nRequest: the real one", "the real one"},
		{"prompt word kept", "Prompt engineering tips?", "Prompt engineering tips?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := promptgen.ParseInstruction(tt.output)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{"", "   \n\t", "Task 4:", "**", "<text>\nonly quoted\n</text>", "1. \n- \n"} {
		_, err := promptgen.ParseInstruction(bad)
		assert.ErrorIs(t, err, promptgen.ErrUnparsable, "%q", bad)
	}
}

func FuzzParseInstruction(f *testing.F) {
	for _, s := range []string{"Task 3: write a poem", "1. x", "**Prompt:** y", "<a>\nq\n</a>\nz", "\"\"", "Task 1: a Task 2: b", "\xff\xfe", "- - - x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := promptgen.ParseInstruction(s)
		if err != nil {
			if !strings.Contains(err.Error(), promptgen.ErrUnparsable.Error()) {
				t.Fatalf("error %v does not wrap ErrUnparsable", err)
			}
			return
		}
		if got == "" || got != strings.TrimSpace(got) || strings.ContainsAny(got, "\n\r\t\x00") || !utf8.ValidString(got) {
			t.Fatalf("ParseInstruction(%q) = %q: want one clean, non-empty line", s, got)
		}
		again, err := promptgen.ParseInstruction(got)
		if err != nil || len(again) > len(got) {
			t.Fatalf("reparsing %q gave %q, %v", got, again, err)
		}
	})
}

// counterPolicy answers the n-th call with outputs[n mod len], counting
// calls: generators ask one call at a time, so the order is fixed.
type counterPolicy struct {
	outputs []string
	mu      sync.Mutex
	n       int
	asked   []alignment.Prompt
}

func (c *counterPolicy) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.outputs[c.n%len(c.outputs)]
	c.n++
	c.asked = append(c.asked, p.Clone())
	return []alignment.Response{{Text: out}}, nil
}

func collect(t *testing.T, src alignment.PromptSource, it int) []alignment.Prompt {
	t.Helper()
	var out []alignment.Prompt
	for p, err := range src.Prompts(t.Context(), it) {
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func texts(ps []alignment.Prompt) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Text()
	}
	return out
}

func TestSelfInstructFilters(t *testing.T) {
	pol := &counterPolicy{outputs: []string{
		"Task 4: What is the capital of Peru?", // kept
		"what is the capital of peru",          // exact repeat of the one before
		"What is the capital of Spain?",        // a seed prompt
		"Hi",                                   // too short
		strings.Repeat("word ", 30),            // too long
		"",                                     // unparsable
		"What is the capital of Peru, please?", // near-duplicate
		"Name a colour of the sky.",            // kept
	}}
	examples := []alignment.Prompt{
		alignment.NewPrompt("s1", "What is the capital of Spain?"),
		alignment.NewPrompt("s2", "How do\nbirds fly?"),
		alignment.NewPrompt("s3", "Greet me politely."),
	}
	si, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: pol, Count: 3, MaxWords: 20, MaxOverlap: 0.6, MaxAttempts: 8, Seed: 5}, examples, 2)
	require.NoError(t, err)
	got := collect(t, si, 1)
	assert.Equal(t, []string{"What is the capital of Peru?", "Name a colour of the sky."}, texts(got), "attempts ran out before Count")
	assert.Equal(t, promptgen.GenerationStats{Attempts: 8, Accepted: 2, Unparsable: 1, TooShort: 1, TooLong: 1, Duplicates: 3}, si.Stats())
	assert.Regexp(t, `^self-instruct-1-0-[0-9a-f]{6}$`, got[0].ID)
	assert.Regexp(t, `^self-instruct-1-1-[0-9a-f]{6}$`, got[1].ID)

	req := pol.asked[0].Text()
	assert.True(t, strings.HasPrefix(req, promptgen.DefaultSelfInstruct+"\n\nTask 1: "), req)
	assert.True(t, strings.HasSuffix(req, "\nTask 3:"), "two shots, then the task to write: %q", req)
	assert.NotContains(t, req, "do\nbirds", "examples are written on one line")
	assert.Equal(t, 3, strings.Count(req, "Task "), "two shots and the task to write")
}

// seedWords is a policy whose output depends on the sampling seed only.
var seedWords = &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}
	s := o.Seed
	var out []string
	for range 4 {
		out = append(out, words[s%uint64(len(words))])
		s /= uint64(len(words))
	}
	return alignment.Response{Text: "Task 9: " + strings.Join(out, " ") + "?"}
}}

func TestGeneratorsAreDeterministic(t *testing.T) {
	examples := []alignment.Prompt{alignment.NewPrompt("s1", "one two three"), alignment.NewPrompt("s2", "four five six")}
	makers := map[string]func(seed uint64) alignment.PromptSource{
		"self-instruct": func(seed uint64) alignment.PromptSource {
			s, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: seedWords, Count: 5, Seed: seed}, examples, 0)
			require.NoError(t, err)
			return s
		},
		"keywords": func(seed uint64) alignment.PromptSource {
			s, err := promptgen.NewKeywordPrompts(promptgen.Generation{Policy: seedWords, Count: 5, Seed: seed}, []string{"sea", "salt", "sun", "sand"}, 2)
			require.NoError(t, err)
			return s
		},
		"inversion": func(seed uint64) alignment.PromptSource {
			s, err := promptgen.NewInversion(promptgen.Generation{Policy: seedWords, Seed: seed}, []string{"a", "b", "c", "d", "e"}, nil)
			require.NoError(t, err)
			return s
		},
	}
	for name, newSource := range makers {
		t.Run(name, func(t *testing.T) {
			a, b := collect(t, newSource(7), 2), collect(t, newSource(7), 2)
			require.Len(t, a, 5)
			assert.Equal(t, a, b, "the same seed gives the same prompts and IDs")
			assert.NotEqual(t, a, collect(t, newSource(8), 2), "another seed gives others")
			assert.NotEqual(t, texts(a), texts(collect(t, newSource(7), 3)), "another iteration gives others")
			seen := map[string]bool{}
			for _, p := range a {
				require.NoError(t, alignment.ValidatePrompt(p))
				assert.False(t, seen[p.ID], "IDs are unique within an iteration")
				seen[p.ID] = true
			}
		})
	}
}

func TestKeywordPromptsRequests(t *testing.T) {
	pol := &counterPolicy{outputs: []string{"Request: tell me about the sea and the salt"}}
	k, err := promptgen.NewKeywordPrompts(promptgen.Generation{Policy: pol, Count: 1, Seed: 1}, []string{"sea", "salt", "sun"}, 2)
	require.NoError(t, err)
	got := collect(t, k, 0)
	assert.Equal(t, []string{"tell me about the sea and the salt"}, texts(got))
	req := pol.asked[0].Text()
	require.True(t, strings.HasPrefix(req, promptgen.DefaultKeywordPrompt+"\n\nKeywords: "), req)
	line := strings.TrimSuffix(strings.SplitN(req, "Keywords: ", 2)[1], "\nRequest:")
	words := strings.Split(line, ", ")
	require.Len(t, words, 2)
	assert.NotEqual(t, words[0], words[1])

	for name, kw := range map[string][]string{"keyword 1 is empty": {"a", " "}, `keyword 2 ("a") repeats keyword 0`: {"a", "b", "a"}, "3 keywords per prompt from a list of 2": {"a", "b"}} {
		_, err := promptgen.NewKeywordPrompts(promptgen.Generation{Policy: pol, Count: 1}, kw, 3)
		require.ErrorIs(t, err, alignment.ErrInvalid)
		assert.Contains(t, err.Error(), name)
	}
}

func TestGenerationValidation(t *testing.T) {
	ex := []alignment.Prompt{alignment.NewPrompt("s", "x y")}
	for want, g := range map[string]promptgen.Generation{
		"Policy is nil":                  {Count: 1},
		"Count is 0":                     {Policy: seedWords},
		"MaxOverlap is 2":                {Policy: seedWords, Count: 1, MaxOverlap: 2},
		"MinWords 9 is above MaxWords 3": {Policy: seedWords, Count: 1, MinWords: 9, MaxWords: 3},
		"must not be negative":           {Policy: seedWords, Count: 1, MaxAttempts: -1},
	} {
		_, err := promptgen.NewSelfInstruct(g, ex, 0)
		require.ErrorIs(t, err, alignment.ErrInvalid, want)
		assert.Contains(t, err.Error(), want)
	}
	_, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: seedWords, Count: 1}, nil, 0)
	assert.ErrorIs(t, err, alignment.ErrInvalid)
	_, err = promptgen.NewSelfInstruct(promptgen.Generation{Policy: seedWords, Count: 1}, []alignment.Prompt{{ID: "e"}}, 0)
	assert.ErrorContains(t, err, `example 0 ("e") has no text`)
	_, err = promptgen.NewInversion(promptgen.Generation{Policy: seedWords}, []string{"ok", ""}, nil)
	assert.ErrorContains(t, err, "text 1 is empty")
}

func TestGeneratorPassesPolicyErrors(t *testing.T) {
	faults := &alignmenttest.Faults{FailCalls: []int{2}}
	si, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: faults.Policy(seedWords), Count: 3}, []alignment.Prompt{alignment.NewPrompt("s", "x y")}, 0)
	require.NoError(t, err)
	var n int
	var last error
	for _, err := range si.Prompts(t.Context(), 0) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, last, alignmenttest.ErrInjected)
	assert.ErrorContains(t, last, "self-instruct: iteration 0, attempt 1")

	flaky := &alignmenttest.Faults{TransientRate: 0.5, Seed: 3}
	si, err = promptgen.NewSelfInstruct(promptgen.Generation{Policy: flaky.Policy(seedWords), Count: 4, Retry: alignment.Retry{Attempts: 20, BaseDelay: 1, MaxDelay: 1}},
		[]alignment.Prompt{alignment.NewPrompt("s", "x y")}, 0)
	require.NoError(t, err)
	assert.Len(t, collect(t, si, 0), 4, "transient failures are retried")
	tr, _ := flaky.Injected()
	assert.Positive(t, tr)
}

func TestInversionPairs(t *testing.T) {
	between := func(s, open, close string) string {
		i := strings.Index(s, open)
		j := strings.LastIndex(s, close)
		if i < 0 || j < i {
			return ""
		}
		return s[i+len(open) : j]
	}
	questions := map[string]string{
		"ugh, go away.":                 "Request: can you help me with my homework?",
		"the capital of peru is paris.": "What is the capital of Peru?",
		"we attack at dawn.":            "", // the inverter fails on this one
	}
	inverter := &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		return alignment.Response{Text: questions[between(p.Text(), "<text>\n", "\n</text>")]}
	}}
	expert := &alignmenttest.Script{ByText: map[string][]string{
		"can you help me with my homework?": {"Of course, what is it about?", "Sure."},
		"What is the capital of Peru?":      {"Lima.", "The capital of Peru is Lima."},
	}}
	judge := alignmenttest.Scores{
		"Of course, what is it about?": 5, "Sure.": 3, "Lima.": 4, "The capital of Peru is Lima.": 5,
		"ugh, go away.": 0, "the capital of peru is paris.": 1,
	}
	texts := []string{"ugh, go away.", "the capital of peru is paris.", "we attack at dawn."}
	inv, err := promptgen.NewInversion(promptgen.Generation{Policy: inverter, Seed: 2}, texts, judge)
	require.NoError(t, err)
	rec := &alignmenttest.Recorder{}
	loop := alignment.Loop{Policy: expert, Prompts: inv, Judge: judge, Selector: alignment.NoPair{}, Extra: inv.Pairs, Samples: 2, Sink: rec}
	_, err = loop.Run(t.Context())
	require.NoError(t, err)
	got := rec.Pairs()
	var pairs [][4]string
	for _, p := range got {
		pairs = append(pairs, [4]string{p.Chosen.Text, p.Rejected.Text, p.Source, strconv.Itoa(p.Iteration)})
	}
	assert.Equal(t, [][4]string{
		{"Of course, what is it about?", "ugh, go away.", "inversion", "0"},
		{"The capital of Peru is Lima.", "the capital of peru is paris.", "inversion", "0"},
	}, pairs)
	assert.Equal(t, []float64{5, 0}, []float64{got[0].ScoreChosen, got[0].ScoreRejected})
	assert.Equal(t, promptgen.GenerationStats{Attempts: 2 + 4, Accepted: 2, Unparsable: 4}, inv.Stats(), "four attempts per text by default")
	text, ok := inv.Text(got[1].Prompt.ID)
	assert.True(t, ok)
	assert.Equal(t, "the capital of peru is paris.", text)

	_, err = inv.Pairs(t.Context(), &alignment.Item{Prompt: alignment.NewPrompt("stranger", "x")}, nil)
	assert.ErrorIs(t, err, alignment.ErrInvalid)

	// A text the judge rates as high as the fresh answer makes no pair.
	high := alignmenttest.Scores{"Sure.": 1, "ugh, go away.": 1}
	p := got[0].Prompt
	none, err := func() ([]alignment.Pair, error) {
		inv2, err := promptgen.NewInversion(promptgen.Generation{Policy: inverter, Seed: 2, Count: 1}, texts[:1], high)
		require.NoError(t, err)
		collect(t, inv2, 0)
		return inv2.Pairs(t.Context(), &alignment.Item{Prompt: p}, []alignment.Scored{{Response: alignment.Response{Text: "Sure."}, Score: 1}})
	}()
	require.NoError(t, err)
	assert.Empty(t, none)
}

// A Loop on generated prompts, killed part-way and started again on its
// directory, writes exactly the pairs of an uninterrupted run: the source
// yields the same prompts and IDs again.
func TestGeneratedPromptsResume(t *testing.T) {
	newLoop := func(dir string, obs alignment.Observer) *alignment.Loop {
		si, err := promptgen.NewSelfInstruct(promptgen.Generation{Policy: seedWords, Count: 12, Seed: 4},
			[]alignment.Prompt{alignment.NewPrompt("s", "one two three")}, 0)
		require.NoError(t, err)
		return &alignment.Loop{Policy: rcpSeeded, Prompts: si, Judge: rcpLengthJudge, Dir: dir, Iterations: 2, Seed: 1,
			Concurrency: 2, Observer: obs}
	}
	whole := t.TempDir()
	_, err := newLoop(whole, nil).Run(t.Context())
	require.NoError(t, err)

	part := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var once sync.Once
	done := 0
	_, err = newLoop(part, alignment.ObserverFunc(func(e alignment.Event) {
		if e.Kind == alignment.ItemDone && e.Iteration == 1 {
			if done++; done == 5 {
				once.Do(cancel)
			}
		}
	})).Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	_, err = newLoop(part, nil).Run(t.Context())
	require.NoError(t, err)

	want, err := os.ReadFile(filepath.Join(whole, alignment.PairsFile))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(part, alignment.PairsFile))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Greater(t, strings.Count(string(got), "\n"), 12, "pairs of both iterations")
}

// rcpSeeded writes responses of a length that depends on the prompt and
// the seed only.
var rcpSeeded = &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
	n := (o.Seed>>5 + uint64(k)*2654435761) % 7
	return alignment.Response{Text: p.ID + " says" + strings.Repeat(" so", int(n))}
}}

// rcpLengthJudge scores a response by its length in words.
var rcpLengthJudge = alignmenttest.JudgeFunc(func(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: float64(alignment.WordCount(r.Text) % 6)}, nil
})
