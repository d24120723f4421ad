// Mockjudge shows how to unit-test alignment logic without any model: the
// fakes of package alignmenttest stand in for the policy and the judge,
// inject faults, and record what reaches the sink, so that a test can
// assert exactly which pairs your pipeline makes.
//
//	go run ./examples/mockjudge     # prints the pairs of a scripted run
//	go run ./examples/mockjudge -h  # what the output means
//	go test ./examples/mockjudge    # the tests are the point: read main_test.go
//
// The logic under test here is a custom Selector, preferCited, that only
// pairs responses when the best one cites a source.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/internal/cli"
)

// preferCited is MaxMin restricted to chosen responses that cite a source
// ("[1]"): alignment logic of the kind a team writes and must test.
type preferCited struct{}

// Select implements alignment.Selector.
func (preferCited) Select(rs []alignment.Scored) (chosen, rejected int, ok bool) {
	chosen, rejected = -1, 0
	for i, r := range rs {
		if strings.Contains(r.Response.Text, "[1]") && (chosen < 0 || r.Score > rs[chosen].Score) {
			chosen = i
		}
		if r.Score < rs[rejected].Score {
			rejected = i
		}
	}
	if chosen < 0 || rs[chosen].Score <= rs[rejected].Score {
		return 0, 0, false
	}
	return chosen, rejected, true
}

// pipeline is the code under test: a Loop with the custom selector.
func pipeline(pol alignment.Policy, j alignment.Judge, prompts []alignment.Prompt, sink alignment.PreferenceSink) (alignment.Report, error) {
	src, err := alignment.NewSliceSource(prompts)
	if err != nil {
		return alignment.Report{}, err
	}
	loop := alignment.Loop{Policy: pol, Judge: j, Prompts: src, Sink: sink, Selector: preferCited{}, Samples: 3,
		Retry: alignment.Retry{Attempts: 20, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond}}
	res, err := loop.Run(context.Background())
	if err != nil {
		return alignment.Report{}, err
	}
	return res.Reports[0], nil
}

// scripted returns the fakes the tests use: a policy with fixed answers and
// a judge that scores by text.
func scripted() (*alignmenttest.Script, alignmenttest.Scores) {
	pol := &alignmenttest.Script{ByID: map[string][]string{
		"q1": {"Paris [1].", "Paris.", "Lyon."},
		"q2": {"Yes.", "No.", "Maybe."},
	}}
	scores := alignmenttest.Scores{"Paris [1].": 4, "Paris.": 5, "Lyon.": 0, "Yes.": 3, "No.": 1, "Maybe.": 2}
	return pol, scores
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mockjudge:", err)
		os.Exit(1)
	}
}

// about says what the program does, and output what its lines mean.
const (
	about  = "Mockjudge runs a pipeline with a custom pair selector on scripted fakes, no model needed, and prints its pairs; its tests (go test ./examples/mockjudge) are the point."
	output = `
  ID: "CHOSEN" over "REJECTED"
      A pair: the best-scored answer that cites a source ("[1]") over the
      worst-scored answer, by the scripted judge's scores.
  P pairs, T ties
      T ties: prompts the selector made no pair for (here q2, which has no
      cited answer). Nothing is trained.`
)

func run(args []string, w io.Writer) error {
	if ok, err := cli.Parse(cli.NewFlagSet("mockjudge", about, output, w), args); !ok {
		return err
	}
	pol, scores := scripted()
	rec := &alignmenttest.Recorder{}
	rep, err := pipeline(pol, scores, []alignment.Prompt{
		alignment.NewPrompt("q1", "What is the capital of France?"),
		alignment.NewPrompt("q2", "Is it raining?"),
	}, rec)
	if err != nil {
		return err
	}
	for _, p := range rec.Pairs() {
		fmt.Fprintf(w, "%s: %q over %q\n", p.Prompt.ID, p.Chosen.Text, p.Rejected.Text)
	}
	fmt.Fprintf(w, "%d pairs, %d ties (q2 has no cited answer)\n", rep.Pairs, rep.Ties)
	return nil
}
