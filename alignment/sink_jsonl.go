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
	// FlushEvery is the number of pairs buffered before Write flushes by
	// itself; default 256.
	FlushEvery int
}

// DefaultFlushEvery is the default of JSONLOptions.FlushEvery.
const DefaultFlushEvery = 256

// JSONL is a PreferenceSink that writes pairs to a file as JSON Lines, in
// the formats TRL and OpenRLHF read (see ReadPairs for the fields).
//
// Write encodes into a buffer; Flush writes the buffer with one write of
// whole lines at the end of the durable part of the file and syncs the
// file, so a crash leaves the file holding every flushed line, maybe
// followed by a torn tail that a resuming run removes with OpenJSONL and
// Offset. A failed flush keeps the buffer and the next flush writes it
// again at the same place.
//
// Strings are written as encoding/json writes them without HTML escaping;
// bytes of invalid UTF-8 in a text become U+FFFD. A JSONL is safe for
// concurrent use, though the Loop writes from one goroutine at a time.
type JSONL struct {
	mu         sync.Mutex
	f          *os.File
	path       string
	kto        bool
	flushEvery int
	buf        []byte
	pending    int   // pairs in buf
	offset     int64 // bytes durably in the file
	closed     bool
}

// CreateJSONL creates the file at path, truncating it if it exists, and
// returns a sink that writes to it.
func CreateJSONL(path string, o *JSONLOptions) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alignment: create JSONL sink: %w", err)
	}
	// Sync the directory too, so that the file itself survives a crash.
	if err := errors.Join(f.Sync(), syncDir(filepath.Dir(path))); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: create JSONL sink: %w", err)
	}
	return newJSONL(f, path, 0, o), nil
}

// OpenJSONL opens the existing file at path for appending after
// truncating it to offset bytes, which drops whatever a crashed run wrote
// after its last flush. offset must be at most the file's size and at the
// start of a line; otherwise the error wraps ErrInvalid.
func OpenJSONL(path string, offset int64, o *JSONLOptions) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("alignment: open JSONL sink: %w", err)
	}
	if err := truncateAt(f, offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: open JSONL sink %s: %w", path, err)
	}
	return newJSONL(f, path, offset, o), nil
}

func newJSONL(f *os.File, path string, offset int64, o *JSONLOptions) *JSONL {
	s := &JSONL{f: f, path: path, offset: offset, flushEvery: DefaultFlushEvery}
	if o != nil {
		s.kto = o.KTO
		if o.FlushEvery > 0 {
			s.flushEvery = o.FlushEvery
		}
	}
	return s
}

// Write implements PreferenceSink. It encodes pairs into the buffer, and
// flushes once FlushEvery pairs are buffered. A pair that cannot be written
// faithfully (a NaN or infinite score, a prompt without messages or with an
// unknown role, a negative iteration) fails the whole call with an error
// naming its index and wrapping ErrInvalid. Whenever Write fails, none of
// pairs is kept.
func (s *JSONL) Write(ctx context.Context, pairs []Pair) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("alignment: JSONL sink %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("alignment: JSONL sink %s: write after close: %w", s.path, fs.ErrClosed)
	}
	mark := len(s.buf)
	for i := range pairs {
		var err error
		if s.kto {
			s.buf, err = appendKTO(s.buf, &pairs[i])
		} else {
			s.buf, err = appendPair(s.buf, &pairs[i])
		}
		if err != nil {
			s.buf = s.buf[:mark]
			return fmt.Errorf("alignment: JSONL sink %s: pair %d: %w", s.path, i, err)
		}
	}
	s.pending += len(pairs)
	if s.pending >= s.flushEvery {
		if err := s.flush(); err != nil {
			// Take this call's pairs back, so that a failed Write never
			// leaves them to a later flush; earlier ones stay buffered.
			s.buf = s.buf[:mark]
			s.pending -= len(pairs)
			return err
		}
	}
	return nil
}

// Flush implements Flusher: it writes the buffered lines and syncs the
// file. It works even when ctx is done, so that the final flush of a
// cancelled run keeps what was finished; a write and sync of one buffer
// cannot be interrupted anyway.
func (s *JSONL) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("alignment: JSONL sink %s: flush after close: %w", s.path, fs.ErrClosed)
	}
	return s.flush()
}

// Offset returns the number of bytes durably in the file as of the last
// successful flush: the offset to give OpenJSONL when resuming.
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
	s.closed = true
	return errors.Join(s.flush(), s.f.Close())
}

// flush writes the buffer at the durable offset, with a single write of
// whole lines, and syncs. On failure it cuts the file back to the durable
// offset, best effort, and keeps the buffer.
func (s *JSONL) flush() error {
	if len(s.buf) > 0 {
		if _, err := s.f.WriteAt(s.buf, s.offset); err != nil {
			s.f.Truncate(s.offset)
			return fmt.Errorf("alignment: JSONL sink %s: %w", s.path, err)
		}
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("alignment: JSONL sink %s: %w", s.path, err)
	}
	s.offset += int64(len(s.buf))
	s.buf = s.buf[:0]
	s.pending = 0
	return nil
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

// syncDir syncs a directory, making the creation of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
