package cli

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args    []string
		run     bool
		err     string
		printed bool // the usage was printed
	}{
		{nil, true, "", false},
		{[]string{"-n", "3"}, true, "", false},
		{[]string{"-h"}, false, "", true},
		{[]string{"-help"}, false, "", true},
		{[]string{"-n", "3", "-h"}, false, "", true},
		{[]string{"-nope"}, false, "flag provided but not defined: -nope", true},
		{[]string{"extra"}, false, `unexpected argument "extra"`, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			var out bytes.Buffer
			fs := NewFlagSet("demo", "Demo counts to n.", "Each line is a number.", &out)
			fs.Int("n", 1, "count to `n`")
			run, err := Parse(fs, tt.args)
			assert.Equal(t, tt.run, run)
			if tt.err == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.err)
			}
			assert.Equal(t, tt.printed, bytes.Contains(out.Bytes(), []byte("Usage: go run ./examples/demo [flags]")), out.String())
		})
	}
}

func TestUsageWithoutFlags(t *testing.T) {
	var out bytes.Buffer
	run, err := Parse(NewFlagSet("demo", "Demo prints a line.", "", &out), []string{"-h"})
	assert.False(t, run)
	assert.NoError(t, err)
	assert.Equal(t, "Demo prints a line.\n\nUsage: go run ./examples/demo\n", out.String())
}

func ExampleNewFlagSet() {
	fs := NewFlagSet("demo", "Demo counts to n.", "Each line is a number.", os.Stdout)
	fs.Int("n", 1, "count to `n`")
	run, err := Parse(fs, []string{"-h"})
	fmt.Println(run, err)
	// Output:
	// Demo counts to n.
	//
	// Usage: go run ./examples/demo [flags]
	//
	// Flags:
	//   -n n
	//     	count to n (default 1)
	//
	// Output:
	// Each line is a number.
	// false <nil>
}
