// Package cli gives the example programs one command-line convention:
// -h (or -help) prints one line saying what the program does, how to run
// it, its flags and what its output lines mean, and the program then exits
// 0 without running; a flag error prints the same usage and fails.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// NewFlagSet returns a flag set for the example program name (the
// directory under examples/) that writes its errors and usage to w. The
// usage is summary (one line: what the program does), the command line,
// the flags if it has any, then output (what the program's output lines
// mean).
func NewFlagSet(name, summary, output string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintf(w, "%s\n\nUsage: go run ./examples/%s\n", summary, name)
		} else {
			fmt.Fprintf(w, "%s\n\nUsage: go run ./examples/%s [flags]\n\nFlags:\n", summary, name)
			fs.PrintDefaults()
		}
		if output = strings.Trim(output, "\n"); output != "" {
			fmt.Fprintf(w, "\nOutput:\n%s\n", output)
		}
	}
	return fs
}

// Parse parses args with fs. It returns false and a nil error when the
// user asked for help (the usage is then printed, and the program should
// stop with success), false and the error when args are wrong, and true
// when the program should run.
func Parse(fs *flag.FlagSet, args []string) (bool, error) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return false, nil
	case err != nil:
		return false, err
	case fs.NArg() > 0:
		return false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return true, nil
}
