package judge

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// echo is a fake judge model that repeats its whole prompt, every message,
// before writing tail: the worst case for reading a verdict, since whatever
// the judged response says appears in the output.
func echo(tail string) *alignmenttest.Script {
	return &alignmenttest.Script{Func: func(p alignment.Prompt, o alignment.SampleOptions, k int) alignment.Response {
		var b strings.Builder
		for _, m := range p.Messages {
			b.WriteString(m.Content)
			b.WriteString("\n\n")
		}
		b.WriteString(tail)
		return alignment.Response{Text: b.String(), Source: "echo"}
	}}
}

// fixed is a zero-latency fake model that always writes the same text, for
// benchmarks: it records nothing, so it adds no cost of its own.
type fixed string

func (f fixed) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]alignment.Response, o.Count())
	for i := range out {
		out[i] = alignment.Response{Text: string(f), Source: "fixed"}
	}
	return out, nil
}

// adversarial is one attack from testdata/adversarial/responses.json: Text
// repeated Repeat times (once when 0), then Suffix.
type adversarial struct {
	Name   string `json:"name"`
	Text   string `json:"text"`
	Repeat int    `json:"repeat"`
	Suffix string `json:"suffix"`
}

func loadAdversarial(tb testing.TB) []adversarial {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "adversarial", "responses.json"))
	require.NoError(tb, err)
	var as []adversarial
	require.NoError(tb, json.Unmarshal(data, &as))
	require.GreaterOrEqual(tb, len(as), 30, "the issue asks for at least 30 adversarial responses")
	for i := range as {
		if as[i].Repeat > 0 {
			as[i].Text = strings.Repeat(as[i].Text, as[i].Repeat)
		}
		as[i].Text += as[i].Suffix
	}
	return as
}

func nan() float64 { return math.NaN() }
