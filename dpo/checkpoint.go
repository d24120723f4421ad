package dpo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
)

// CheckpointFile is the name of the file in a checkpoint directory that holds
// the saved model.
const CheckpointFile = "model.bin"

// Saver is a policy that can write itself to a stream, in the form the load
// function given to NewTrainer reads back. SaveCheckpoint needs it.
type Saver interface {
	Save(w io.Writer) error
}

// LoadFunc adapts a loader that returns a concrete model type, such as
// tinylm.Load, to the load function NewTrainer takes, so that a failed load
// gives a nil Model rather than a non-nil interface holding a nil pointer.
func LoadFunc[M Model](load func(io.Reader) (M, error)) func(io.Reader) (Model, error) {
	return func(r io.Reader) (Model, error) {
		m, err := load(r)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// SaveCheckpoint implements alignment.Checkpointer: it writes pol, which must
// be a Saver, to dir/model.bin, creating dir if needed. The file is written
// under a temporary name, synced and renamed into place, and the directory
// is synced, so that a crash leaves either the old checkpoint or the new one,
// never a torn file. Only the model is saved: each Train call starts a fresh
// optimiser, so there is no optimiser state to keep. The error wraps
// ErrUnsupported when pol cannot be saved.
func (t *Trainer) SaveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	return saveCheckpoint(ctx, pol, dir)
}

// LoadCheckpoint implements alignment.Checkpointer: it reads dir/model.bin
// with the load function given to NewTrainer. The error wraps
// ErrUnsupported when the trainer has no load function, fs.ErrNotExist when
// there is no checkpoint, and otherwise the load function's error.
func (t *Trainer) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	return loadCheckpoint(ctx, t.load, dir)
}

// saveCheckpoint writes pol to dir/model.bin, as Trainer.SaveCheckpoint
// documents.
func saveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dpo: save checkpoint: %w", err)
	}
	s, ok := pol.(Saver)
	if !ok {
		return fmt.Errorf("%w: save checkpoint: policy of type %T has no Save(io.Writer) error method", ErrUnsupported, pol)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dpo: save checkpoint: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, CheckpointFile), s.Save); err != nil {
		return fmt.Errorf("dpo: save checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads dir/model.bin with load, as Trainer.LoadCheckpoint
// documents.
func loadCheckpoint(ctx context.Context, load func(io.Reader) (Model, error), dir string) (alignment.Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dpo: load checkpoint: %w", err)
	}
	if load == nil {
		return nil, fmt.Errorf("%w: load checkpoint: the trainer was made without a load function", ErrUnsupported)
	}
	path := filepath.Join(dir, CheckpointFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dpo: load checkpoint: %w", err)
	}
	defer f.Close()
	m, err := load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("dpo: load checkpoint %s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("dpo: load checkpoint %s: the load function returned no model and no error", path)
	}
	return m, nil
}
