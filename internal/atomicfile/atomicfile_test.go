package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	require.NoError(t, Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "first"); return err }))
	require.NoError(t, Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "second"); return err }))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "second", string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	boom := errors.New("boom")
	err = Write(path, func(w io.Writer) error { io.WriteString(w, "partial"); return boom })
	assert.ErrorIs(t, err, boom)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "second", string(data), "a failed write leaves the old file")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")

	assert.Error(t, Write(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }))
	assert.NoError(t, SyncDir(dir))
}
