package main

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

// outputs lists the files a run leaves in its directory, in the order a
// reader wants them, each with what it holds.
func outputs(backend bool) []struct{ glob, what string } {
	policy := "policy-i/ holds the model iteration i trained (policy i+1 above); a rerun resumes from it"
	if backend {
		policy = "policy-i/ names the model -backend serves after iteration i (served.json); a rerun asks for it"
	}
	return []struct{ glob, what string }{
		{alignment.PairsFile, "the preference pairs of every iteration, in TRL's format"},
		{"report.md", "the table above, with the seed, the backend and the run time"},
		{"report.json", "the same as JSON"},
		{"report.png", "held-out score, pair yield, answer length and, with -judge self, the policy's figures as a judge per iteration, charted"},
		{"iteration-*.jsonl", "the pairs of iteration i alone, as -train-cmd reads them"},
		{"iteration-*[0-9]", "what -train-cmd wrote after iteration i ($SELFALIGN_OUTPUT)"},
		{"iteration-*.trained.json", "the record that -train-cmd succeeded on those pairs: a rerun does not train them again"},
		{"sft.bin", "the fine-tuned model (policy 0), which a rerun loads"},
		{"policy-*", policy},
		{alignment.ProgressFile, "the journal a rerun resumes from"},
		{runFile, "the settings that change the run; a rerun with others is refused"},
	}
}

// describeOutputs says which files dir holds and what each is, one line
// each; a pattern with several matches shows the first and the last.
func describeOutputs(dir string, backend bool) (string, error) {
	var names, whats []string
	for _, o := range outputs(backend) {
		m, err := filepath.Glob(filepath.Join(dir, o.glob))
		if err != nil {
			return "", err
		}
		// Shorter names first puts policy-9 before policy-10.
		slices.SortFunc(m, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
		for i := range m {
			m[i] = filepath.Base(m[i])
			if fi, err := os.Stat(filepath.Join(dir, m[i])); err == nil && fi.IsDir() {
				m[i] += "/"
			}
		}
		switch len(m) {
		case 0:
			continue
		case 1, 2:
			names = append(names, strings.Join(m, ", "))
		default:
			names = append(names, m[0]+" … "+m[len(m)-1])
		}
		whats = append(whats, o.what)
	}
	width := 0
	for _, n := range names {
		width = max(width, len([]rune(n)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wrote %s:", dir)
	for i, n := range names {
		fmt.Fprintf(&b, "\n  %s%s  %s", n, strings.Repeat(" ", width-len([]rune(n))), whats[i])
	}
	return b.String(), nil
}
