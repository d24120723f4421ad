package alignment_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
)

// rubricJudge is a judge configured by a rubric. Its fingerprint names
// the rubric, so that a run in an output directory notices a changed one.
type rubricJudge struct{ rubric string }

func (j rubricJudge) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	return alignment.Judgment{Score: float64(len(r.Text))}, nil
}

func (j rubricJudge) Fingerprint() string { return "rubricJudge " + j.rubric }

// Running an output directory again with a judge configured otherwise is
// refused, naming the part that differs, rather than returning the first
// run's results as if they were the second's.
func ExampleFingerprinter() {
	dir, err := os.MkdirTemp("", "fingerprint")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	prompts, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("q1", "What is 2 + 2?")})
	if err != nil {
		panic(err)
	}
	run := func(rubric string) error {
		loop := alignment.Loop{Policy: &alignmenttest.Script{Default: []string{"4", "four", "2 + 2 = 4"}}, Samples: 3,
			Judge: rubricJudge{rubric}, Prompts: prompts, Dir: dir}
		_, err := loop.Run(context.Background())
		return err
	}
	fmt.Println(run("helpful"))
	fmt.Println(run("helpful"))
	err = run("harmless")
	fmt.Println(errors.Is(err, alignment.ErrNotResumable))
	fmt.Println(err.Error()[strings.Index(err.Error(), "other settings"):])
	// Output:
	// <nil>
	// <nil>
	// true
	// other settings: judge rubricJudge helpful there, rubricJudge harmless here: run cannot be resumed
}
