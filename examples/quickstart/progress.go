package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/selfalign/selfalign/alignment"
)

// progress shows a run's progress: on a terminal, one live line per phase,
// rewritten in place; elsewhere (a pipe, a file, CI) plain lines at each
// quarter of an iteration, so that logs stay readable.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	lastDraw time.Time
	quarter  int
	started  time.Time
	dirty    bool // a live line is on screen
	// training says what happens between iterations: "training with DPO"
	// unless the run says otherwise.
	training func(iteration int) string
}

func newProgress(w io.Writer) *progress {
	live := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			live = os.Getenv("TERM") != "dumb"
		}
	}
	return &progress{w: w, live: live, training: func(int) string { return "training with DPO" }}
}

// linef prints a whole line, ending any live line first.
func (p *progress) linef(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLive()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// status shows a live line on a terminal, and nothing elsewhere, for a
// phase whose end linef reports.
func (p *progress) status(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.dirty = true
	}
}

func (p *progress) endLive() {
	if p.dirty {
		fmt.Fprint(p.w, "\n")
		p.dirty = false
	}
}

// Observe implements alignment.Observer.
func (p *progress) Observe(e alignment.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case alignment.IterationStarted:
		p.endLive()
		p.started, p.quarter = time.Now(), 0
		if e.Done+e.Failed > 0 {
			fmt.Fprintf(p.w, "iteration %d: resuming after %d of %d prompts\n", e.Iteration, e.Done+e.Failed, e.Total)
		}
	case alignment.ItemDone, alignment.ItemFailed:
		n := e.Done + e.Failed
		if p.live {
			if time.Since(p.lastDraw) > 100*time.Millisecond || n == e.Total {
				p.lastDraw = time.Now()
				fmt.Fprintf(p.w, "\r\033[Kiteration %d: sampling and judging %s%d/%d prompts%s", e.Iteration, bar(n, e.Total), n, e.Total, failed(e.Failed))
				p.dirty = true
			}
			return
		}
		if e.Total > 0 && n*4/e.Total > p.quarter {
			p.quarter = n * 4 / e.Total
			fmt.Fprintf(p.w, "iteration %d: %d/%d prompts sampled and judged%s\n", e.Iteration, n, e.Total, failed(e.Failed))
		}
	case alignment.EvaluationStarted:
		if p.live {
			fmt.Fprintf(p.w, "\r\033[Kpolicy %d: evaluating on %d held-out prompts…", e.Iteration, e.Total)
			p.dirty = true
		}
	case alignment.EvaluationDone:
		p.endLive()
		ev := e.Eval
		win := ""
		if ev.WinRate != nil {
			win = fmt.Sprintf(", wins %.2f against the policy before", *ev.WinRate)
		}
		fmt.Fprintf(p.w, "policy %d: held-out score %.3f, mean length %.1f tokens%s\n", ev.Iteration, ev.MeanScore, ev.MeanLength, win)
	case alignment.AlarmRaised:
		p.endLive()
		fmt.Fprintf(p.w, "alarm: %s\n", e.Alarm)
	case alignment.TrainingStarted:
		if p.live {
			fmt.Fprintf(p.w, "\r\033[Kiteration %d: %s…", e.Iteration, p.training(e.Iteration))
			p.dirty = true
		} else {
			fmt.Fprintf(p.w, "iteration %d: %s\n", e.Iteration, p.training(e.Iteration))
		}
	case alignment.IterationDone:
		p.endLive()
		r := e.Report
		faults := ""
		if r.Failed > 0 {
			faults += fmt.Sprintf(", %d failed", r.Failed)
		}
		if r.Retries > 0 {
			faults += fmt.Sprintf(", %d retried calls", r.Retries)
		}
		fmt.Fprintf(p.w, "iteration %d: %d pairs from %d prompts (%d ties%s), judge score %.2f, %s\n",
			e.Iteration, r.Pairs, r.Prompts, r.Ties, faults, r.Score.Mean, r.Elapsed.Round(10*time.Millisecond))
	}
}

func failed(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d failed)", n)
}

// bar draws a 20-cell progress bar.
func bar(n, total int) string {
	if total <= 0 {
		return ""
	}
	const cells = 20
	full := n * cells / total
	b := make([]rune, 0, cells+3)
	b = append(b, '[')
	for i := range cells {
		if i < full {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(append(b, ']', ' '))
}
