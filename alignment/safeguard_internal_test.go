package alignment

import (
	"context"
	"testing"
)

func BenchmarkMeasureDiversity(b *testing.B) {
	rs := []Response{{Text: "p17 answer 42 more more"}, {Text: "p17 answer 7"}, {Text: "p17 answer 42 more more"}, {Text: "p17 answer 91 more"}}
	b.ReportAllocs()
	for b.Loop() {
		measureDiversity(len(rs), func(i int) string { return rs[i].Text })
	}
}

// The plateau rule knows its noise: a win rate a little above 0.5 that the
// evaluation cannot tell from 0.5 is a plateau (issue 15: 0.51–0.53 at
// iterations 3–5 never tripped the point-estimate rule), a clear one is
// not, and PlateauZ < 0 restores the point estimate.
func TestPlateauUsesTheLowerBound(t *testing.T) {
	ev := func(w, se float64) *EvalReport {
		e := &EvalReport{Iteration: 3, WinRate: &w, Compared: 1200}
		if se >= 0 {
			e.WinRateSE = &se
		}
		return e
	}
	tests := []struct {
		name  string
		z     float64
		ev    *EvalReport
		alarm bool
	}{
		{"noisy small gain", 0, ev(0.53, 0.02), true},
		{"clear gain", 0, ev(0.60, 0.02), false},
		{"point estimate", -1, ev(0.53, 0.02), false},
		{"no standard error", 0, ev(0.53, -1), false},
		{"at the threshold", 0, ev(0.5, 0), true},
	}
	for _, tt := range tests {
		r := &run{Loop: &Loop{}, trainer: trainerFunc(nil)}
		r.limits = Safeguards{PlateauZ: tt.z}.resolve(0, 5)
		alarms := r.evalAlarms(tt.ev)
		if !tt.alarm {
			if len(alarms) != 0 {
				t.Errorf("%s: got %v, want no alarm", tt.name, alarms)
			}
			continue
		}
		if len(alarms) != 1 || alarms[0].Kind != AlarmPlateau {
			t.Fatalf("%s: got %v, want one plateau alarm", tt.name, alarms)
		}
		want := *tt.ev.WinRate
		if tt.ev.WinRateSE != nil {
			want -= 1.645 * *tt.ev.WinRateSE
		}
		if got := alarms[0].Value; got < want-1e-12 || got > want+1e-12 {
			t.Errorf("%s: alarm value %v, want the lower bound %v", tt.name, got, want)
		}
	}
}

type trainerFunc func()

func (trainerFunc) Train(ctx context.Context, pol Policy, pairs []Pair) (Policy, error) {
	return pol, nil
}
