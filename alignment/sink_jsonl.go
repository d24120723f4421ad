package alignment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/selfalign/selfalign/internal/atomicfile"
)

var (
	_ PreferenceSink = (*JSONL)(nil)
	_ Flusher        = (*JSONL)(nil)
	_ io.Closer      = (*JSONL)(nil)
)

// JSONLOptions configure a JSONL sink. A nil *JSONLOptions means the
// defaults given on each field.
type JSONLOptions struct {
	// KTO writes unpaired rows ("prompt", "completion", "label"), two per
	// pair, instead of paired ones.
	KTO bool
	// Standard writes TRL's standard form, where the prompt and the
	// responses are plain strings, instead of the conversational form.
	// Use it only for a trainer that must not apply a chat template (a
	// base model without one); the policy's server sampled through its
	// chat template, so the conversational form trains the text that was
	// sampled. The standard form holds only prompts of exactly one user
	// message: any other pair is refused with ErrInvalid rather than
	// written in another form, since TRL decides how to tokenize a file
	// from its first row.
	Standard bool
	// FlushEvery is the number of pairs buffered before Write flushes by
	// itself; default 256.
	FlushEvery int
}

// DefaultFlushEvery is the default of JSONLOptions.FlushEvery.
const DefaultFlushEvery = 256

// JSONL is a PreferenceSink that writes pairs to a file as JSON Lines, in
// the formats TRL and OpenRLHF read without conversion.
//
// # Format
//
// Every row of a file has the same form. By default it is TRL's
// conversational form: "prompt" is the list of {"role", "content"}
// messages, and "chosen" and "rejected" are one-message lists
// [{"role": "assistant", "content": ...}], so that the trainer renders them
// through the model's chat template (TRL's maybe_apply_chat_template does
// when is_conversational holds; OpenRLHF with --data.apply_chat_template),
// as the server did when it sampled them. JSONLOptions.Standard selects
// the standard form, where all three are strings; TRL then tokenizes
// prompt + chosen without any template.
//
// A paired row has "prompt", "chosen" and "rejected", then our fields:
// "prompt_id", "iteration", "chosen_prob" (a soft label, Pair.Prob, left
// out when unset), "score_chosen" and "score_rejected", and "source". The two score columns hold the judge's scores of the two
// responses on the judge's own scale (a Comparer's: the probability of
// beating the other responses, in [0, 1]), and are left out of the rows of
// pairs no judge scored (Pair.Scored false: SL-CAI's revision pairs,
// SynPO's, the meta-judge's judgment pairs), so that a score is never a
// placeholder or a number on another scale.
//
// An unpaired row, for KTO, has "prompt", "completion" and "label" (true
// for the chosen response, false for the rejected one), then "prompt_id",
// "iteration", "chosen_prob" (the pair's, on both rows), "score" (left out
// like the score columns) and "source".
// TRL's KTOTrainer estimates its KL term from mismatched pairs made by
// rotating the completions of each batch by one (row i is scored with the
// completion of row i-1; trl/trainer/kto_trainer.py, which also requires
// sequential sampling so that the file's order is the batches'), so rows of
// the same prompt next to each other turn those into matched pairs. The
// sink therefore orders the rows of each flushed block so that no two
// adjacent rows share a prompt (equal messages), the first row of a block
// included with the last of the block before. It takes the rows of the
// prompt with the most left, other than the previous row's, with a
// prompt's rows in the order chosen rows then rejected ones, each in the
// order written; only a block where one prompt has more than half the
// rows (a flush of a single pair, say) must put two of them side by side.
// A block is what a flush writes: FlushEvery pairs, or what Flush and
// Close find buffered. The Loop flushes its sink at every checkpoint, so
// with a slow backend its blocks are small; to spread every prompt of a
// run, write the KTO file once the run is over: read the run's paired
// pairs.jsonl with ReadPairs and Write all its pairs to a KTO sink whose
// FlushEvery exceeds their number, then Close it. The first row after
// OpenJSONL is not compared with the rows before it. ReadPairs joins such
// rows back into pairs.
//
// # Durability
//
// Write encodes into a buffer. Every FlushEvery pairs the buffer is handed
// to a background goroutine that writes it, with one write of whole lines
// at the end of the durable part of the file, and syncs the file, while
// Write goes on encoding into a second buffer; at most one such flush runs
// at a time. Flush waits for it, then writes and syncs the rest itself.
// Offset counts only bytes that a finished sync made durable, so a crash
// leaves the file holding at least Offset bytes of whole lines, maybe
// followed by a torn tail that a resuming run removes with OpenJSONL.
//
// A failed write or sync breaks the sink: after fsync fails, Linux may have
// dropped the dirty pages, so retrying could report success for data that
// is gone. Every later Write, Flush and Close returns the error; reopen the
// file with OpenJSONL at Offset and write again what came after it.
//
// Strings are written as encoding/json writes them without HTML escaping;
// bytes of invalid UTF-8 in a text become U+FFFD. A JSONL is safe for
// concurrent use, though the Loop writes from one goroutine at a time.
type JSONL struct {
	mu         sync.Mutex
	f          *os.File
	path       string
	kto        bool
	std        bool
	flushEvery int
	buf        []byte // lines not yet handed to a flush
	pending    int    // pairs in buf, or in rows
	rows       ktoRows
	offset     int64 // bytes durably in the file
	closed     bool
	err        error // the failure that broke the sink

	// The background flush in flight, if busy is non-nil: it writes bg at
	// offset and sends its result on busy.
	busy chan error
	bg   []byte
}

// CreateJSONL creates the file at path, truncating it if it exists, and
// returns a sink that writes to it.
func CreateJSONL(path string, o *JSONLOptions) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alignment: create JSONL sink: %w", err)
	}
	// Sync the directory too, so that the file itself survives a crash.
	if err := errors.Join(f.Sync(), atomicfile.SyncDir(filepath.Dir(path))); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: create JSONL sink: %w", err)
	}
	return newJSONL(f, path, 0, o), nil
}

// OpenJSONL opens the existing file at path for appending after
// truncating it to offset bytes, which drops whatever a crashed run wrote
// after its last flush. offset must be at most the file's size and at the
// start of a line, and the file's first row must be of the kind (paired or
// KTO) and in the form (conversational or standard) that o asks for, so
// that the file keeps one; otherwise the error wraps ErrInvalid.
func OpenJSONL(path string, offset int64, o *JSONLOptions) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("alignment: open JSONL sink: %w", err)
	}
	s := newJSONL(f, path, offset, o)
	if err := truncateAt(f, offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: open JSONL sink %s: %w", path, err)
	}
	if err := s.sameForm(); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: open JSONL sink %s: %w", path, err)
	}
	return s, nil
}

// sameForm checks that the first row of the file is of the sink's kind
// and form.
func (s *JSONL) sameForm() error {
	lr := newLineReader(io.NewSectionReader(s.f, 0, s.offset))
	for {
		line, _, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if isBlank(line) {
			continue
		}
		row, err := parsePairRow(line)
		if err != nil {
			return lr.lineErr(s.path, err)
		}
		if row.paired == s.kto || row.std != s.std {
			return fmt.Errorf("the file holds %s rows in the %s form, and the options ask for %s rows in the %s form; a file holds one: %w",
				kindName(row.paired), formName(row.std), kindName(!s.kto), formName(s.std), ErrInvalid)
		}
		return nil
	}
}

func newJSONL(f *os.File, path string, offset int64, o *JSONLOptions) *JSONL {
	s := &JSONL{f: f, path: path, offset: offset, flushEvery: DefaultFlushEvery}
	if o != nil {
		s.kto, s.std = o.KTO, o.Standard
		if o.FlushEvery > 0 {
			s.flushEvery = o.FlushEvery
		}
	}
	return s
}

// Write implements PreferenceSink. It encodes pairs into the buffer, and
// starts a background flush once FlushEvery pairs are buffered. A pair that
// cannot be written faithfully (a NaN or infinite score, scores set on a
// pair that is not Scored, a prompt without messages or with an unknown
// role, a prompt the standard form cannot hold, a negative iteration) fails the whole
// call with an error naming its index and wrapping ErrInvalid. Whenever
// Write fails, none of pairs is kept.
func (s *JSONL) Write(ctx context.Context, pairs []Pair) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignment: JSONL sink %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("write"); err != nil {
		return err
	}
	mark := len(s.buf)
	rmark := s.rows.mark()
	for i := range pairs {
		var err error
		if s.kto {
			err = s.rows.add(&pairs[i], s.std)
		} else {
			s.buf, err = appendPair(s.buf, &pairs[i], s.std)
		}
		if err != nil {
			s.buf = s.buf[:mark]
			s.rows.reset(rmark)
			return fmt.Errorf("alignment: JSONL sink %s: pair %d: %w", s.path, i, err)
		}
	}
	s.pending += len(pairs)
	if s.pending < s.flushEvery {
		return nil
	}
	if err := s.wait(); err != nil {
		return err
	}
	s.buf = s.rows.order(s.buf)
	// Hand the buffer over and encode on into the one the last flush
	// finished with.
	s.bg, s.buf = s.buf, s.bg[:0]
	s.pending = 0
	s.busy = make(chan error, 1)
	go func(f *os.File, b []byte, at int64, done chan<- error) {
		done <- writeSync(f, b, at)
	}(s.f, s.bg, s.offset, s.busy)
	return nil
}

// Flush implements Flusher: it makes every pair written so far durable.
// It works even when ctx is done, so that the final flush of a cancelled
// run keeps what was finished; a write and sync of one buffer cannot be
// interrupted anyway.
func (s *JSONL) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable("flush"); err != nil {
		return err
	}
	return s.flush()
}

// Offset returns the number of bytes durably in the file as of the last
// finished sync; after Flush, the whole file. It is the offset to give
// OpenJSONL when resuming.
func (s *JSONL) Offset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Path returns the path of the file.
func (s *JSONL) Path() string { return s.path }

// Close flushes and closes the file. Closing again does nothing.
func (s *JSONL) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	var err error
	if s.err == nil {
		err = s.flush()
	} else {
		err = s.wait()
	}
	s.closed = true
	return errors.Join(err, s.f.Close())
}

// usable returns the error that keeps the sink from doing op, if any.
func (s *JSONL) usable(op string) error {
	if s.closed {
		return fmt.Errorf("alignment: JSONL sink %s: %s after close: %w", s.path, op, fs.ErrClosed)
	}
	return s.err
}

// wait waits for the background flush, if one runs, and records its
// result.
func (s *JSONL) wait() error {
	if s.busy == nil {
		return s.err
	}
	err := <-s.busy
	s.busy = nil
	if err != nil {
		s.fail(err)
		return s.err
	}
	s.offset += int64(len(s.bg))
	return nil
}

// flush waits for the background flush and then writes and syncs the
// buffer itself.
func (s *JSONL) flush() error {
	if err := s.wait(); err != nil {
		return err
	}
	s.buf = s.rows.order(s.buf)
	if len(s.buf) == 0 {
		return nil // everything is synced already
	}
	if err := writeSync(s.f, s.buf, s.offset); err != nil {
		s.fail(err)
		return s.err
	}
	s.offset += int64(len(s.buf))
	s.buf = s.buf[:0]
	s.pending = 0
	return nil
}

// fail breaks the sink. It cuts the file back to the durable offset, best
// effort, so that a reader meets no half-written line before reopening.
func (s *JSONL) fail(err error) {
	s.f.Truncate(s.offset)
	s.err = fmt.Errorf("alignment: JSONL sink %s broken, durable up to byte %d: %w", s.path, s.offset, err)
	s.buf, s.bg, s.pending = nil, nil, 0
	s.rows = ktoRows{}
}

// writeSync writes b at offset at with one write of whole lines, and syncs.
func writeSync(f *os.File, b []byte, at int64) error {
	if len(b) > 0 {
		if _, err := f.WriteAt(b, at); err != nil {
			return err
		}
	}
	return f.Sync()
}

// truncateAt cuts f to offset after checking that offset is at the start of
// a line within the file, and syncs it.
func truncateAt(f *os.File, offset int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if offset < 0 || offset > st.Size() {
		return fmt.Errorf("offset %d outside the file's %d bytes: %w", offset, st.Size(), ErrInvalid)
	}
	if offset > 0 {
		var b [1]byte
		if _, err := f.ReadAt(b[:], offset-1); err != nil {
			return err
		}
		if b[0] != '\n' {
			return fmt.Errorf("offset %d is not at the start of a line: %w", offset, ErrInvalid)
		}
	}
	if err := f.Truncate(offset); err != nil {
		return err
	}
	return f.Sync()
}
