package constitution

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/selfalign/selfalign/alignment"
)

func BenchmarkLoad(b *testing.B) {
	data, err := json.Marshal(Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Load(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadMarkdown(b *testing.B) {
	text := Default().Markdown()
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := LoadMarkdown(strings.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRulesJudge(b *testing.B) {
	rules := Rules()
	p := alignment.NewPrompt("p", "How do volcanoes form mountains over millions of years?")
	r := alignment.Response{Text: strings.Repeat("Volcanoes build mountains as layers of lava cool and harden. ", 8)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Judge(ctx, p, r); err != nil {
			b.Fatal(err)
		}
	}
}
