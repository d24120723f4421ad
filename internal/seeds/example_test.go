package seeds_test

import (
	"fmt"

	"github.com/selfalign/selfalign/internal/seeds"
)

// Each work item gets a seed from what it is, never from when it runs.
func ExampleDerive() {
	a := seeds.Derive(42, "item", "0", "prompt-7")
	b := seeds.Derive(42, "item", "0", "prompt-7")
	c := seeds.Derive(42, "item", "1", "prompt-7")
	fmt.Println(a == b, a == c)
	fmt.Println(seeds.Rand(a).IntN(100) == seeds.Rand(b).IntN(100))
	// Output:
	// true false
	// true
}
