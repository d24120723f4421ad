package openai

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addFixtures(f *testing.F, add func(body []byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		add(b)
	}
}

func FuzzParseChat(f *testing.F) {
	addFixtures(f, func(b []byte) { f.Add(b, uint8(2)) })
	f.Add([]byte(`{"choices":[{"index":3,"message":{"content":null,"refusal":null}}]}`), uint8(1))
	f.Add([]byte(`{"choices":[{"index":0,"message":{"content":"a"},"logprobs":{"content":[]}}],"usage":{"completion_tokens":9}}`), uint8(0))
	f.Add([]byte(`{"choices":[{"message":{}},{"message":{}}]}`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		asked := int(n%8) + 1
		rs, u, err := parseChat(body, asked, "src")
		if err != nil {
			assert.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrNoAnswer), "unclassified error %v", err)
			assert.Nil(t, rs)
			return
		}
		assert.GreaterOrEqual(t, u.PromptTokens, int64(0))
		assert.GreaterOrEqual(t, u.CompletionTokens, int64(0))
		assert.GreaterOrEqual(t, len(rs), 1)
		assert.LessOrEqual(t, len(rs), asked)
		for _, r := range rs {
			assert.Equal(t, "src", r.Source)
			assert.False(t, noAnswer(r.Text), "an empty answer %q came back as a response", r.Text)
			assert.False(t, math.IsNaN(r.LogProb) || math.IsInf(r.LogProb, 0), "log-probability %v", r.LogProb)
			assert.Equal(t, r.HasLogProb, r.TokenLogProbs != nil)
		}
	})
}

func FuzzParseEcho(f *testing.F) {
	echo, err := os.ReadFile(filepath.Join("testdata", "vllm_completions_echo.json"))
	require.NoError(f, err)
	f.Add(echo, "Q: boiling point?\nA: 100 degrees.", 20, 33)
	for _, file := range []string{"vllm_completions_echo_bos.json", "sglang_completions_echo.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(f, err)
		f.Add(b, "Q: boiling point?\nA: 100 degrees.", 20, 33)
	}
	f.Add([]byte(`{"choices":[{"text":"ab","logprobs":{"tokens":["a","b"],"token_logprobs":[null,-1],"text_offset":[0,1]}}]}`), "ab", 1, 2)
	f.Add([]byte(`{"choices":[{"text":"ab","logprobs":{"token_logprobs":[null,null],"text_offset":[0,1]}}]}`), "ab", 1, 2)
	f.Fuzz(func(t *testing.T, body []byte, full string, start, end int) {
		sum, n, _, err := parseEcho(body, full, start, end)
		if err != nil {
			var ee errEcho
			assert.True(t, errors.Is(err, ErrMalformed) || errors.As(err, &ee), "unclassified error %v", err)
			return
		}
		assert.False(t, math.IsNaN(sum) || math.IsInf(sum, 0), "sum %v", sum)
		assert.GreaterOrEqual(t, n, 0)
	})
}

func FuzzErrorMessage(f *testing.F) {
	addFixtures(f, func(b []byte) { f.Add(b) })
	f.Add([]byte("<html>Bad Gateway</html>"))
	f.Add([]byte(`{"detail":[{"loc":["body","n"],"msg":"bad"}]}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, body []byte) {
		assert.True(t, utf8.ValidString(errorMessage(body)))
		_ = rejectsN(string(body))
		_, _ = errorFields(body)
		if k, ok := nLimit(string(body)); ok {
			assert.GreaterOrEqual(t, k, 1)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("3", "")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "")
	f.Add("1e400", "-0")
	f.Add("", "250.5")
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header, ms string) {
		d := retryAfter(header, ms, now)
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.LessOrEqual(t, d, maxRetryAfter)
	})
}

func TestRejectsN(t *testing.T) {
	for msg, want := range map[string]bool{
		"Only one completion choice is allowed":                true,
		"Illegal param: only one completion choice is allowed": true,
		"'n' must be 1 when using greedy sampling":             true,
		"Unsupported param: n":                                 true,
		"n > 1 is not supported":                               true,
		"This model's maximum context length is 2048 tokens.":  false,
		"Invalid API Key":                                      false,
		"model \"x\" not found, try pulling it first":          false,
		"": false,
	} {
		assert.Equal(t, want, rejectsN(msg), msg)
	}
}
