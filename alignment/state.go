package alignment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/selfalign/selfalign/internal/atomicfile"
)

// Files of a run's output directory.
const (
	PairsFile    = "pairs.jsonl"
	ProgressFile = "progress.jsonl"
)

// state keeps a run's progress in its output directory, so that a run
// killed at any moment resumes without losing or duplicating a pair.
//
// The design: pairs are appended to pairs.jsonl in prompt order; after each
// flush (write + fsync) a line is appended, and synced, to progress.jsonl
// saying how many prompts of the iteration are handled, the report so far,
// and the byte offset of pairs.jsonl that holds exactly their pairs. On
// resume, pairs.jsonl is truncated to the last recorded offset — which
// removes a torn last line and the pairs of prompts whose progress was not
// recorded — and those prompts are run again; since each prompt's randomness
// derives from (seed, iteration, prompt ID), they yield the same pairs. A
// torn last line of progress.jsonl is dropped the same way.
//
// An "opened" record holds what an iteration measured before its prompts:
// the held-out evaluation of its policy, with every sample's text, and the
// judge drift. It is written once per iteration (and once for the final
// policy), and the other records carry their report without the
// evaluation, so the samples are not repeated at every checkpoint.
//
// Without a directory every method is a no-op.
type state struct {
	r         *run
	dir       string
	iteration int      // first iteration to run
	reports   []Report // of the finished iterations
	policyDir string   // checkpoint to start from; "" for the given Policy
	resume    *record  // progress within iteration, when interrupted there
	opened    map[int]record
	pairs     *JSONL
	journal   *os.File
	start     int64 // offset of pairs.jsonl where the current iteration's pairs begin
}

// record is one line of progress.jsonl.
type record struct {
	// Kind is "run" (the header), "opened" (the measures made before an
	// iteration's prompts), "progress" (part of an iteration), "generated"
	// (all its prompts handled, training may follow) or "done".
	Kind      string  `json:"kind"`
	Iteration int     `json:"iteration"`
	Next      int     `json:"next"`
	LastID    string  `json:"last_id,omitempty"`
	Start     int64   `json:"start"`
	Offset    int64   `json:"offset"`
	Report    *Report `json:"report,omitempty"`

	// An opened record's measures.
	Eval  *EvalReport `json:"eval,omitempty"`
	Drift *Drift      `json:"drift,omitempty"`

	// The header's settings, which must match on resume.
	Seed         uint64 `json:"seed,omitempty"`
	Samples      int    `json:"samples,omitempty"`
	JudgeSamples int    `json:"judge_samples,omitempty"`
	Source       string `json:"source,omitempty"`
}

func openState(ctx context.Context, r *run) (*state, error) {
	st := &state{r: r, dir: r.Dir, opened: map[int]record{}}
	if st.dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(st.dir, 0o755); err != nil {
		return nil, fmt.Errorf("alignment: creating the output directory: %w", err)
	}
	header := record{Kind: "run", Seed: r.Seed, Samples: r.samples, JudgeSamples: r.k, Source: r.source}
	recs, err := st.openJournal(header)
	if err != nil {
		return nil, err
	}
	var offset int64
	var prog []record
	for _, rec := range recs[1:] {
		if rec.Kind == "opened" {
			st.opened[rec.Iteration] = rec
		} else {
			prog = append(prog, rec)
		}
	}
	if len(prog) > 0 {
		last := prog[len(prog)-1]
		offset = last.Offset
		for _, rec := range prog {
			if rec.Kind == "done" && rec.Report != nil {
				rep := *rec.Report
				st.attach(&rep)
				st.reports = append(st.reports, rep)
			}
		}
		st.iteration = last.Iteration
		if last.Kind == "done" {
			st.iteration++
			st.start = offset
		} else {
			st.resume, st.start = &last, last.Start
		}
		if r.trainer != nil && st.iteration > 0 {
			st.policyDir = st.policyPath(st.iteration - 1)
			if _, err := os.Stat(st.policyDir); err != nil {
				st.close()
				return nil, fmt.Errorf("alignment: %s records iteration %d as trained, but its policy is missing: %v: %w", ProgressFile, st.iteration-1, err, ErrNotResumable)
			}
		}
	}
	path := filepath.Join(st.dir, PairsFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() < offset {
		st.close()
		return nil, fmt.Errorf("alignment: %s has %d bytes, but %s records %d written: %w", path, fi.Size(), ProgressFile, offset, ErrNotResumable)
	} else if errors.Is(err, fs.ErrNotExist) && offset > 0 {
		st.close()
		return nil, fmt.Errorf("alignment: %s is missing, but %s records %d bytes written: %w", path, ProgressFile, offset, ErrNotResumable)
	}
	if offset == 0 {
		st.pairs, err = CreateJSONL(path, nil)
	} else if st.pairs, err = OpenJSONL(path, offset, nil); err != nil {
		err = fmt.Errorf("alignment: %s does not match %s: %w: %w", path, ProgressFile, ErrNotResumable, err)
	}
	if err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// openJournal reads progress.jsonl, drops a torn last line, checks the
// header against this run's and leaves the file open for appending. It
// returns the records, header first.
func (st *state) openJournal(header record) ([]record, error) {
	path := filepath.Join(st.dir, ProgressFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alignment: opening the progress file: %w", err)
	}
	st.journal = f
	data, err := io.ReadAll(f)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("alignment: reading %s: %w", path, err)
	}
	var recs []record
	good := 0 // bytes of whole, valid lines
	for line := 1; good < len(data); line++ {
		end := bytes.IndexByte(data[good:], '\n')
		var rec record
		if end < 0 || json.Unmarshal(data[good:good+end], &rec) != nil {
			if end < 0 || good+end+1 == len(data) {
				break // a torn last line: the crash came while it was written
			}
			st.close()
			return nil, fmt.Errorf("alignment: %s:%d is not a progress record: %w", path, line, ErrNotResumable)
		}
		if err := rec.check(recs, line); err != nil {
			st.close()
			return nil, fmt.Errorf("alignment: %s:%d: %v: %w", path, line, err, ErrNotResumable)
		}
		recs = append(recs, rec)
		good += end + 1
	}
	if err := f.Truncate(int64(good)); err != nil {
		st.close()
		return nil, fmt.Errorf("alignment: truncating %s: %w", path, err)
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		st.close()
		return nil, fmt.Errorf("alignment: %s: %w", path, err)
	}
	if len(recs) == 0 {
		return []record{header}, st.append(header)
	}
	h := recs[0]
	if h.Kind != "run" || h.Seed != header.Seed || h.Samples != header.Samples || h.JudgeSamples != header.JudgeSamples || h.Source != header.Source {
		st.close()
		return nil, fmt.Errorf("alignment: %s holds a run with seed %d, %d samples, %d judge samples and source %q; this run has seed %d, %d, %d and %q: %w",
			st.dir, h.Seed, h.Samples, h.JudgeSamples, h.Source, header.Seed, header.Samples, header.JudgeSamples, header.Source, ErrNotResumable)
	}
	return recs, nil
}

// append writes rec as one line of the journal and syncs it.
func (st *state) append(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("alignment: encoding a progress record: %w", err)
	}
	if _, err := st.journal.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("alignment: writing %s: %w", ProgressFile, err)
	}
	if err := st.journal.Sync(); err != nil {
		return fmt.Errorf("alignment: syncing %s: %w", ProgressFile, err)
	}
	return nil
}

// check reports what is wrong with rec as the record after prev: a record
// no run writes, as a hand-edited or corrupted journal may hold.
func (rec *record) check(prev []record, line int) error {
	if (line == 1) != (rec.Kind == "run") {
		return fmt.Errorf("record of kind %q, want %q only on the first line", rec.Kind, "run")
	}
	switch rec.Kind {
	case "run", "opened":
	case "progress", "generated", "done":
		if rec.Report == nil {
			return fmt.Errorf("%s record without a report", rec.Kind)
		}
	default:
		return fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	if rec.Iteration < 0 || rec.Next < 0 || rec.Start < 0 || rec.Offset < rec.Start {
		return fmt.Errorf("impossible position: iteration %d, next %d, bytes %d to %d", rec.Iteration, rec.Next, rec.Start, rec.Offset)
	}
	if n := len(prev); n > 0 && rec.Iteration < prev[n-1].Iteration {
		return fmt.Errorf("record goes back to iteration %d after iteration %d", rec.Iteration, prev[n-1].Iteration)
	}
	if rec.Kind == "opened" {
		return nil // it holds no position in pairs.jsonl
	}
	for i := len(prev) - 1; i > 0; i-- {
		if prev[i].Kind != "opened" {
			if rec.Offset < prev[i].Offset {
				return fmt.Errorf("record goes back to byte %d of %s after byte %d", rec.Offset, PairsFile, prev[i].Offset)
			}
			break
		}
	}
	return nil
}

// resumePoint returns the report to continue for iteration it and the
// index of its first prompt still to run.
func (st *state) resumePoint(it int, lo, hi float64) (resumed, int) {
	if rec := st.resume; rec != nil && rec.Iteration == it && rec.Report != nil {
		st.resume = nil
		rep := *rec.Report
		rep.Resumed = true
		st.attach(&rep)
		return resumed{Report: rep, lastID: rec.LastID, Generated: rec.Kind == "generated"}, rec.Next
	}
	if st.pairs != nil {
		st.start = st.pairs.Offset()
	}
	rep := Report{Iteration: it, ScoreLo: lo, ScoreHi: hi, Histogram: make([]int, HistogramBins)}
	st.attach(&rep)
	return resumed{Report: rep}, 0
}

// attach gives rep the measures of its iteration's opened record, if any.
func (st *state) attach(rep *Report) {
	rec, ok := st.opened[rep.Iteration]
	if !ok {
		return
	}
	if rep.Eval == nil {
		rep.Eval = rec.Eval
	}
	if rep.Signals.Drift == nil {
		rep.Signals.Drift = rec.Drift
	}
}

// opening records the measures made before iteration it's prompts.
func (st *state) opening(it int, ev *EvalReport, d *Drift) error {
	if st.journal == nil {
		return nil
	}
	rec := record{Kind: "opened", Iteration: it, Eval: ev, Drift: d}
	st.opened[it] = rec
	return st.append(rec)
}

// finalEval returns the evaluation recorded for the policy that iteration
// it would use, if any.
func (st *state) finalEval(it int) *EvalReport {
	return st.opened[it].Eval
}

// resumed is where an iteration starts: its report so far, the ID of the
// last prompt handled, and whether all its prompts were.
type resumed struct {
	Report
	lastID    string
	Generated bool
}

// write appends pairs to pairs.jsonl.
func (st *state) write(ctx context.Context, pairs []Pair) error {
	if st.pairs == nil {
		return nil
	}
	return st.pairs.Write(ctx, pairs)
}

// flush makes the written pairs durable.
func (st *state) flush(ctx context.Context) error {
	if st.pairs == nil {
		return nil
	}
	return st.pairs.Flush(ctx)
}

// progress records that the first next prompts of iteration it are
// handled, with their pairs flushed; complete says all are.
func (st *state) progress(it, next int, lastID string, rep *Report, complete bool) error {
	if st.journal == nil {
		return nil
	}
	kind := "progress"
	if complete {
		kind = "generated"
	}
	return st.append(record{Kind: kind, Iteration: it, Next: next, LastID: lastID, Start: st.start, Offset: st.pairs.Offset(), Report: withoutEval(rep)})
}

// withoutEval returns a copy of rep without its evaluation, which its
// opened record holds.
func withoutEval(rep *Report) *Report {
	if rep.Eval == nil {
		return rep
	}
	cp := *rep
	cp.Eval = nil
	return &cp
}

// iterationDone records a finished iteration.
func (st *state) iterationDone(rep *Report) error {
	if st.journal == nil {
		return nil
	}
	off := st.pairs.Offset()
	st.start = off
	return st.append(record{Kind: "done", Iteration: rep.Iteration, Start: off, Offset: off, Report: withoutEval(rep)})
}

func (st *state) policyPath(it int) string {
	return filepath.Join(st.dir, "policy-"+strconv.Itoa(it))
}

// savePolicy saves the policy trained after iteration it, atomically: into
// a temporary directory first, renamed into place once complete.
func (st *state) savePolicy(ctx context.Context, it int, pol Policy) error {
	if st.dir == "" {
		return nil
	}
	final := st.policyPath(it)
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("alignment: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("alignment: %w", err)
	}
	if err := st.r.trainer.(Checkpointer).SaveCheckpoint(ctx, pol, tmp); err != nil {
		return fmt.Errorf("alignment: saving the policy of iteration %d: %w", it, err)
	}
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("alignment: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("alignment: %w", err)
	}
	if err := atomicfile.SyncDir(st.dir); err != nil {
		return fmt.Errorf("alignment: syncing %s: %w", st.dir, err)
	}
	return nil
}

// readPairs reads back the pairs of iteration it, which the run wrote
// between st.start and the current offset of pairs.jsonl.
func (st *state) readPairs(ctx context.Context, it int) ([]Pair, error) {
	path := filepath.Join(st.dir, PairsFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("alignment: reading back the pairs of iteration %d: %w", it, err)
	}
	defer f.Close()
	var pairs []Pair
	r := bufio.NewReader(io.NewSectionReader(f, st.start, st.pairs.Offset()-st.start))
	for p, err := range ReadPairs(r) {
		if err != nil {
			return nil, fmt.Errorf("alignment: reading back the pairs of iteration %d from %s: %w", it, path, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func (st *state) close() {
	if st.pairs != nil {
		st.pairs.Close()
	}
	if st.journal != nil {
		st.journal.Close()
	}
}
