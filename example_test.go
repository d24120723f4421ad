package selfalign_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/alignment/alignmenttest"
	"github.com/selfalign/selfalign/constitution"
)

// The packages wired together: a policy (here a scripted fake; in real use
// a tinylm model or an alignment/openai server), a judge from package
// constitution that needs no model, and a run directory whose pairs.jsonl
// TRL's DPOTrainer reads as it is.
func Example() {
	policy := &alignmenttest.Script{Default: []string{
		"Boil the egg for eight minutes, then cool it in cold water.",
		"egg egg egg",
	}}
	prompts, err := alignment.NewSliceSource([]alignment.Prompt{alignment.NewPrompt("p1", "How do I boil an egg?")})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "selfalign-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	loop := alignment.Loop{Policy: policy, Judge: constitution.Rules(), Prompts: prompts, Samples: 2, Dir: dir}
	if _, err := loop.Run(context.Background()); err != nil {
		panic(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, alignment.PairsFile))
	if err != nil {
		panic(err)
	}
	fmt.Print(string(data))
	// Output:
	// {"prompt":[{"role":"user","content":"How do I boil an egg?"}],"chosen":[{"role":"assistant","content":"Boil the egg for eight minutes, then cool it in cold water."}],"rejected":[{"role":"assistant","content":"egg egg egg"}],"prompt_id":"p1","iteration":0,"score_chosen":5,"score_rejected":2.5,"source":"loop"}
}
