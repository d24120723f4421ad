package alignment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
	// GroupsFile holds the scored groups of a run whose Trainer is a
	// GroupTrainer; see ReadGroups for its format.
	GroupsFile = "groups.jsonl"
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
// Each record also holds the CRC-32C of pairs.jsonl up to its offset, and
// a resumed run checks the file against every record: bytes changed after
// they were written (overwritten, zeroed, edited) are refused with
// ErrNotResumable naming the damaged byte range, never kept. The header
// (the first record) holds the journal's format version and the
// fingerprints of the run's parts (see Fingerprinter); a run whose parts
// differ from the header's is refused, unless the journal holds nothing
// but the header, in which case the run starts over.
//
// An "opened" record holds what an iteration measured before its prompts:
// the held-out evaluation of its policy, with every sample's text, and the
// judge drift. It is written once per iteration (and once for the final
// policy), and the other records carry their report without the
// evaluation, so the samples are not repeated at every checkpoint.
//
// A run whose Trainer is a GroupTrainer keeps groups.jsonl the same way,
// beside pairs.jsonl: each judged prompt's group is appended when its
// pairs are, both files are flushed before a record is written, and every
// record holds groups.jsonl's offsets and checksum too, with the same
// rules on resume (truncated to the last recorded offset, checked against
// every record). An iteration trains on the groups read back from the
// file, so a resumed run trains on exactly the groups of an uninterrupted
// one.
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

	// With a GroupTrainer, groups.jsonl and the offset where the current
	// iteration's groups begin.
	groups      *groupLog
	groupsStart int64

	// The CRC-32C of pairs.jsonl's first crcOff bytes, and a handle that
	// reads back what was written since, to extend it.
	crc    uint32
	crcOff int64
	reader *os.File
}

// journalVersion is the format of progress.jsonl this package writes:
// version 2 added the parts' fingerprints to the header and a checksum of
// pairs.jsonl to every record. A journal of version 1, which had no
// version field, is refused: nothing in it can be checked.
const journalVersion = 2

// castagnoli is the CRC-32C table; CPUs with SSE 4.2 or ARMv8 CRC
// instructions compute it at several GB/s.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one line of progress.jsonl.
type record struct {
	// Kind is "run" (the header), "opened" (the measures made before an
	// iteration's prompts), "progress" (part of an iteration), "generated"
	// (all its prompts handled, training may follow) or "done".
	Kind      string `json:"kind"`
	Iteration int    `json:"iteration"`
	Next      int    `json:"next"`
	LastID    string `json:"last_id,omitempty"`
	Start     int64  `json:"start"`
	Offset    int64  `json:"offset"`
	// CRC is the CRC-32C of the first Offset bytes of pairs.jsonl.
	CRC    uint32  `json:"crc32c,omitempty"`
	Report *Report `json:"report,omitempty"`

	// The same positions in groups.jsonl, with a GroupTrainer.
	GroupsStart  int64  `json:"groups_start,omitempty"`
	GroupsOffset int64  `json:"groups_offset,omitempty"`
	GroupsCRC    uint32 `json:"groups_crc32c,omitempty"`

	// An opened record's measures.
	Eval  *EvalReport `json:"eval,omitempty"`
	Drift *Drift      `json:"drift,omitempty"`

	// The header's format version and the fingerprints of the run's
	// parts by name, which must match on resume.
	Version int               `json:"version,omitempty"`
	Parts   map[string]string `json:"parts,omitempty"`

	line int // of the journal, from 1; not encoded
}

func openState(ctx context.Context, r *run) (*state, error) {
	st := &state{r: r, dir: r.Dir, opened: map[int]record{}}
	if st.dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(st.dir, 0o755); err != nil {
		return nil, fmt.Errorf("alignment: creating the output directory: %w", err)
	}
	header := record{Kind: "run", Version: journalVersion, Parts: r.fingerprints()}
	recs, err := st.openJournal(header)
	if err != nil {
		return nil, err
	}
	var offset, groupsOffset int64
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
		offset, groupsOffset = last.Offset, last.GroupsOffset
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
			st.start, st.groupsStart = offset, groupsOffset
		} else {
			st.resume, st.start, st.groupsStart = &last, last.Start, last.GroupsStart
		}
		if n := len(st.reports); n > r.iterations || st.resume != nil && st.resume.Iteration >= r.iterations {
			st.close()
			held, need := fmt.Sprintf("%d finished iterations", n), n
			if st.resume != nil {
				held, need = fmt.Sprintf("%s and iteration %d in progress", held, st.resume.Iteration), st.resume.Iteration+1
			}
			return nil, fmt.Errorf("alignment: %s holds %s, more than Loop.Iterations = %d: set it to %d or more to read the run back or continue it: %w",
				st.dir, held, r.iterations, need, ErrNotResumable)
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
	st.crc, err = verify(path, offset, prog, func(rec *record) (int64, uint32) { return rec.Offset, rec.CRC })
	if err != nil {
		st.close()
		return nil, err
	}
	st.crcOff = offset
	if r.groups {
		gpath := filepath.Join(st.dir, GroupsFile)
		crc, err := verify(gpath, groupsOffset, prog, func(rec *record) (int64, uint32) { return rec.GroupsOffset, rec.GroupsCRC })
		if err == nil {
			st.groups, err = openGroupLog(gpath, groupsOffset, crc)
		}
		if err != nil {
			st.close()
			return nil, err
		}
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
		rec.line = line
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
	if len(recs) == 1 && (recs[0].Version != header.Version || diffParts(recs[0].Parts, header.Parts) != "") {
		// A header alone records no work: a run that failed before its
		// first prompt. Start over with this run's header.
		if err := f.Truncate(0); err != nil {
			st.close()
			return nil, fmt.Errorf("alignment: truncating %s: %w", path, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			st.close()
			return nil, fmt.Errorf("alignment: %s: %w", path, err)
		}
		recs = nil
	}
	if len(recs) == 0 {
		return []record{header}, st.append(header)
	}
	if h := recs[0]; h.Version != header.Version {
		st.close()
		by := "a later version of selfalign"
		if h.Version < header.Version {
			by = "an earlier version of selfalign, without the checksums and fingerprints this one checks"
		}
		return nil, fmt.Errorf("alignment: %s holds a progress journal of format %d, written by %s; this one reads format %d only: start the run in a new directory: %w",
			path, max(h.Version, 1), by, header.Version, ErrNotResumable)
	} else if d := diffParts(h.Parts, header.Parts); d != "" {
		st.close()
		return nil, fmt.Errorf("alignment: %s holds a run with other settings: %s: %w", st.dir, d, ErrNotResumable)
	}
	return recs, nil
}

// verify checks the file at path (pairs.jsonl or groups.jsonl), of which
// the progress records prog, in order, record offset bytes written, against
// the checksums the records hold; pos gives a record's offset and
// checksum in the file. It returns the checksum of the first offset bytes.
func verify(path string, offset int64, prog []record, pos func(*record) (int64, uint32)) (uint32, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() < offset {
		return 0, fmt.Errorf("alignment: %s has %d bytes, but %s records %d written: %w", path, fi.Size(), ProgressFile, offset, ErrNotResumable)
	} else if errors.Is(err, fs.ErrNotExist) && offset > 0 {
		return 0, fmt.Errorf("alignment: %s is missing, but %s records %d bytes written: %w", path, ProgressFile, offset, ErrNotResumable)
	}
	if offset == 0 {
		return 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("alignment: checking %s: %w", path, err)
	}
	defer f.Close()
	var crc uint32
	var off int64
	for i := range prog {
		to, want := pos(&prog[i])
		if crc, err = extendCRC(crc, f, off, to); err != nil {
			return 0, fmt.Errorf("alignment: checking %s: %w", path, err)
		}
		if crc != want {
			return 0, fmt.Errorf("alignment: %s: bytes %d to %d do not match the checksum %s:%d records for them: the file was changed after the run wrote it (restore it, or start the run in a new directory): %w",
				path, off, to, ProgressFile, prog[i].line, ErrNotResumable)
		}
		off = to
	}
	return crc, nil
}

// sum returns the CRC-32C of pairs.jsonl up to its current offset,
// extending the last one with the bytes written since, read back from
// the file.
func (st *state) sum() (uint32, error) {
	off := st.pairs.Offset()
	if off == st.crcOff {
		return st.crc, nil
	}
	path := filepath.Join(st.dir, PairsFile)
	if st.reader == nil {
		f, err := os.Open(path)
		if err != nil {
			return 0, fmt.Errorf("alignment: reading back %s: %w", path, err)
		}
		st.reader = f
	}
	crc, err := extendCRC(st.crc, st.reader, st.crcOff, off)
	if err != nil {
		return 0, fmt.Errorf("alignment: reading back %s: %w", path, err)
	}
	st.crc, st.crcOff = crc, off
	return crc, nil
}

// extendCRC returns the CRC-32C crc extended with f's bytes from from to
// to.
func extendCRC(crc uint32, f *os.File, from, to int64) (uint32, error) {
	if to < from {
		return 0, fmt.Errorf("offset %d before %d", to, from)
	}
	buf := make([]byte, min(to-from, 64<<10))
	for from < to {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-from)], from)
		crc = crc32.Update(crc, castagnoli, buf[:n])
		from += int64(n)
		if err != nil && from < to {
			return 0, err
		}
	}
	return crc, nil
}

// append writes rec as one line of the journal and syncs it.
func (st *state) append(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("alignment: encoding the %s record of iteration %d for %s: %w", rec.Kind, rec.Iteration, ProgressFile, err)
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
		// A progress record's position counts the prompts its report
		// counts: one without the other (a damaged "next") would resume
		// at the wrong prompt.
		if rec.Kind != "done" && rec.Next != rec.Report.Prompts {
			return fmt.Errorf("%s record at prompt %d, but its report counts %d prompts", rec.Kind, rec.Next, rec.Report.Prompts)
		}
	default:
		return fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	if rec.Iteration < 0 || rec.Next < 0 || rec.Start < 0 || rec.Offset < rec.Start {
		return fmt.Errorf("impossible position: iteration %d, next %d, bytes %d to %d", rec.Iteration, rec.Next, rec.Start, rec.Offset)
	}
	if rec.GroupsStart < 0 || rec.GroupsOffset < rec.GroupsStart {
		return fmt.Errorf("impossible position: bytes %d to %d of %s", rec.GroupsStart, rec.GroupsOffset, GroupsFile)
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
			if rec.GroupsOffset < prev[i].GroupsOffset {
				return fmt.Errorf("record goes back to byte %d of %s after byte %d", rec.GroupsOffset, GroupsFile, prev[i].GroupsOffset)
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
	if st.groups != nil {
		st.groupsStart = st.groups.offset
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

// writeGroup appends g to groups.jsonl.
func (st *state) writeGroup(g *Group) error {
	if st.groups == nil {
		return nil
	}
	return st.groups.write(g)
}

// flush makes the written pairs and groups durable.
func (st *state) flush(ctx context.Context) error {
	if st.pairs == nil {
		return nil
	}
	if st.groups != nil {
		if err := st.groups.flush(); err != nil {
			return err
		}
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
	crc, err := st.sum()
	if err != nil {
		return err
	}
	return st.append(st.groupsAt(record{Kind: kind, Iteration: it, Next: next, LastID: lastID, Start: st.start, Offset: st.pairs.Offset(), CRC: crc, Report: withoutEval(rep)}))
}

// groupsAt returns rec with the current positions in groups.jsonl, if the
// run keeps one.
func (st *state) groupsAt(rec record) record {
	if st.groups != nil {
		rec.GroupsStart, rec.GroupsOffset, rec.GroupsCRC = st.groupsStart, st.groups.offset, st.groups.crc
	}
	return rec
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
	crc, err := st.sum()
	if err != nil {
		return err
	}
	off := st.pairs.Offset()
	st.start = off
	if st.groups != nil {
		st.groupsStart = st.groups.offset
	}
	return st.append(st.groupsAt(record{Kind: "done", Iteration: rep.Iteration, Start: off, Offset: off, CRC: crc, Report: withoutEval(rep)}))
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

// readGroups reads back the groups of iteration it, which the run wrote
// between st.groupsStart and the current offset of groups.jsonl.
func (st *state) readGroups(ctx context.Context, it int) ([]Group, error) {
	groups, err := st.groups.read(ctx, st.groupsStart, st.groups.offset)
	if err != nil {
		return nil, fmt.Errorf("alignment: reading back the groups of iteration %d: %w", it, err)
	}
	return groups, nil
}

func (st *state) close() {
	if st.pairs != nil {
		st.pairs.Close()
	}
	if st.groups != nil {
		st.groups.close()
	}
	if st.reader != nil {
		st.reader.Close()
	}
	if st.journal != nil {
		st.journal.Close()
	}
}
