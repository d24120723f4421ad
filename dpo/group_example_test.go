package dpo_test

import (
	"fmt"

	"github.com/selfalign/selfalign/dpo"
)

// GRPO on one group of four completions sampled for the same prompt and
// scored 1, 0, 0.5 and 0. The advantages are the rewards normalised within
// the group; while the policy is still the one that sampled (importance
// ratio 1), each completion's gradient is minus its advantage over the
// batch's token count, so descending it raises the log-probability of the
// completions that scored above the group's mean and lowers the others.
func ExampleGRPO() {
	rewards := []float64{1, 0, 0.5, 0}
	seqs := []dpo.GroupSeq{
		{LogP: -12, OldLogP: -12, RefLogP: -12, Len: 6},
		{LogP: -9, OldLogP: -9, RefLogP: -9, Len: 4},
		{LogP: -15, OldLogP: -15, RefLogP: -15, Len: 8},
		{LogP: -4, OldLogP: -4, RefLogP: -4, Len: 2},
	}
	loss := dpo.GRPO{} // TRL's defaults: β = 0, ε = 0.2, token-mean ("dapo")
	adv := make([]float64, len(seqs))
	loss.Advantages(adv, rewards, seqs)
	for i := range seqs {
		seqs[i].Advantage = adv[i]
	}
	d := make([]float64, len(seqs))
	l := loss.Eval(seqs, d)
	fmt.Printf("advantages %.4f\n", adv)
	fmt.Printf("loss %.4f\n", l)
	fmt.Printf("dloss/dLogP %.4f\n", d)
	// Output:
	// advantages [1.3053 -0.7832 0.2611 -0.7832]
	// loss -0.2611
	// dloss/dLogP [-0.0653 0.0392 -0.0131 0.0392]
}
