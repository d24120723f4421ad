package alignment

import (
	"context"
	"strings"
	"testing"
)

// TestWithSeedOneAllocation checks that WithSeed costs one allocation,
// and SeedFrom none, as the Loop calls them on every judge call.
func TestWithSeedOneAllocation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sink context.Context
	if n := testing.AllocsPerRun(100, func() { sink = WithSeed(ctx, 1<<40+7) }); n != 1 {
		t.Errorf("WithSeed made %v allocations, want 1", n)
	}
	var got uint64
	if n := testing.AllocsPerRun(100, func() { got, _ = SeedFrom(sink) }); n != 0 {
		t.Errorf("SeedFrom made %v allocations, want 0", n)
	}
	if got != 1<<40+7 {
		t.Errorf("SeedFrom = %d, want %d", got, uint64(1<<40+7))
	}
}

// TestWithSeedContext checks that a seeded context is still its parent
// for everything else: values, cancellation, the innermost seed winning.
func TestWithSeedContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx := WithSeed(WithSeed(parent, 1), 2)
	if s, ok := SeedFrom(ctx); !ok || s != 2 {
		t.Errorf("SeedFrom = %d, %v, want 2, true", s, ok)
	}
	if s, ok := SeedFrom(parent); ok {
		t.Errorf("SeedFrom of an unseeded context = %d, true, want false", s)
	}
	if v := ctx.Value(key{}); v != "v" {
		t.Errorf("Value of the parent's key = %v, want v", v)
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done() // a child of the seeded context ends with its parent
	if ctx.Err() != context.Canceled {
		t.Errorf("Err = %v, want %v", ctx.Err(), context.Canceled)
	}
	if s := ctx.(interface{ String() string }).String(); !strings.HasSuffix(s, ".WithSeed(1).WithSeed(2)") {
		t.Errorf("String = %q, want it to end in .WithSeed(1).WithSeed(2)", s)
	}
}
