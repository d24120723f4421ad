package main

import "fmt"

// Example shows the comparison table and the interpretation the program
// prints, here for two arms over two seeds and two iterations with
// figures made up for the example.
func Example() {
	arms := []arm{{Name: armOnPolicy}, {Name: armOffline}}
	rep := report{Seeds: []uint64{1, 2}, World: world{HeldOut: 150}, Budget: budget{EvalSamples: 8}}
	rep.Arms = summarise(arms, [][]trialResult{
		results([][]float64{{3.1, 4.0, 4.3}, {3.3, 4.1, 4.3}}, 7, []float64{0.75, 0.6}),
		results([][]float64{{3.1, 4.0, 4.0}, {3.3, 4.1, 3.9}}, 11, nil),
	})
	fmt.Print(table(rep))
	for _, f := range findings(rep.Arms) {
		fmt.Println("-", f)
	}
	// Output:
	// | arm | 0 (SFT) | 1 | 2 | final length | pairs |
	// |---|---:|---:|---:|---:|---:|
	// | on-policy | 3.20 ± 0.14 | 4.05 ± 0.07 | 4.30 ± 0.00 | 7.0 ± 0.0 | 20 |
	// | offline | 3.20 ± 0.14 | 4.05 ± 0.07 | 3.95 ± 0.07 | 11.0 ± 0.0 | 20 |
	//
	// Held-out score: the exact rule judge's mean (0–5) over 8 samples of each of 150 held-out prompts, after each iteration (0 is the fine-tuned model); mean ± sd over 2 seeds. Final length: mean tokens of the last policy's held-out answers. Pairs: all pairs trained on, per seed.
	// - on-policy vs offline: on-policy beats offline by +0.35 at iteration 2 (sd 0.07 over seeds; ahead on 2 of 2; sign test p = 0.5)
	// - where iterations stop paying (on-policy): held-out score gain per iteration +0.85, +0.25; win rate over the previous policy 0.75, 0.60; the plateau safeguard (the win rate's lower 95% bound ≤ 0.5) would stop the run: seed 1 never, seed 2 never
}
