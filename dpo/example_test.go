package dpo_test

import (
	"fmt"

	"github.com/selfalign/selfalign/dpo"
)

// The DPO loss of one pair: the policy already prefers the chosen response a
// little more than the reference does (h = 0.5 nats), so with β = 0.1 the
// loss is just below log 2 and its gradient pushes Chosen up and Rejected
// down.
func ExampleSigmoid() {
	p := dpo.Pair{
		Chosen: -12.0, RefChosen: -12.5, // log π(chosen): the policy gained 0.5 nats
		Rejected: -15.0, RefRejected: -15.0,
		ChosenLen: 6, RejectedLen: 8,
	}
	loss, dChosen, dRejected := dpo.Sigmoid{Beta: 0.1}.Eval(p)
	fmt.Printf("loss %.6f\n", loss)
	fmt.Printf("dloss/dChosen %.6f, dloss/dRejected %.6f\n", dChosen, dRejected)

	r, err := dpo.EvalBatch(dpo.Sigmoid{Beta: 0.1}, []dpo.Pair{p})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("rewards/chosen %.3f, rewards/rejected %.3f, rewards/accuracies %.0f\n",
		r.RewardsChosen, r.RewardsRejected, r.RewardsAccuracy)
	// Output:
	// loss 0.668460
	// dloss/dChosen -0.048750, dloss/dRejected 0.048750
	// rewards/chosen 0.050, rewards/rejected 0.000, rewards/accuracies 1
}

// Invalid input is an error naming the pair and the field, never a NaN loss.
func ExampleEvalBatch_invalid() {
	pairs := []dpo.Pair{
		{Chosen: -3, Rejected: -4, RefChosen: -3, RefRejected: -4, ChosenLen: 2, RejectedLen: 2},
		{Chosen: 0.5, Rejected: -4, RefChosen: -3, RefRejected: -4, ChosenLen: 2, RejectedLen: 2},
	}
	_, err := dpo.EvalBatch(dpo.IPO{Beta: 0.1}, pairs)
	fmt.Println(err)
	// Output:
	// dpo: invalid input: pair 1: Chosen = 0.5, want a log-probability ≤ 0
}
