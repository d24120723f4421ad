package reward

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/selfalign/selfalign/internal/atomicfile"
)

// Checkpoint format, all integers little-endian, as tinylm's:
//
//	magic    8 bytes "SARWMODL"
//	version  uint32 (checkpointVersion)
//	dim, epochs, batch size: uint32 each
//	learning rate, L2: float64 bits each
//	seed     uint64
//	count    uint32, the number of non-zero weights
//	weights  count times: uint32 index, float64 bits value; indices strictly increasing
//	crc      uint32 CRC-32 (IEEE) of every byte before it
//
// Nothing may follow the checksum.
const (
	checkpointMagic   = "SARWMODL"
	checkpointVersion = 1
	headerSize        = len(checkpointMagic) + 4*4 + 8*3 + 4
)

// Save writes the model (its options and weights) to w as a checkpoint
// that Load reads back.
func (m *Model) Save(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(checkpointMagic)
	put := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	put(uint32(checkpointVersion))
	put(uint32(m.o.Dim))
	put(uint32(m.o.Epochs))
	put(uint32(m.o.BatchSize))
	put(math.Float64bits(m.o.LearningRate))
	put(math.Float64bits(m.o.L2))
	put(m.o.Seed)
	m.mu.RLock()
	var nz uint32
	for _, v := range m.w {
		if v != 0 {
			nz++
		}
	}
	put(nz)
	for i, v := range m.w {
		if v != 0 {
			put(uint32(i))
			put(math.Float64bits(v))
		}
	}
	m.mu.RUnlock()
	put(crc32.ChecksumIEEE(b.Bytes()))
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reward: save: %w", err)
	}
	return nil
}

// Load reads a checkpoint written by Save. Anything else — another magic
// or version, a failed checksum, truncation, trailing data, options out of
// range, indices out of order or out of range, a weight that is not finite —
// is an error wrapping ErrCheckpoint; a read error is returned wrapped as is.
func Load(r io.Reader) (*Model, error) {
	maxSize := int64(headerSize + maxDim*12 + 4)
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reward: load: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("reward: load: "+format+": %w", append(args, ErrCheckpoint)...)
	}
	switch {
	case int64(len(data)) > maxSize:
		return nil, bad("checkpoint exceeds %d bytes", maxSize)
	case len(data) < headerSize+4:
		return nil, bad("checkpoint truncated at %d bytes", len(data))
	case string(data[:len(checkpointMagic)]) != checkpointMagic:
		return nil, bad("not a reward model checkpoint (magic %q)", data[:len(checkpointMagic)])
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[len(checkpointMagic):]); v != checkpointVersion {
		return nil, bad("checkpoint version %d, want %d", v, checkpointVersion)
	}
	body := data[:len(data)-4]
	if want, got := le.Uint32(data[len(data)-4:]), crc32.ChecksumIEEE(body); want != got {
		return nil, bad("checksum mismatch (stored %#08x, computed %#08x): truncated or corrupt", want, got)
	}
	off := len(checkpointMagic) + 4
	u32 := func() int { v := le.Uint32(body[off:]); off += 4; return int(v) }
	u64 := func() uint64 { v := le.Uint64(body[off:]); off += 8; return v }
	o := Options{Dim: u32(), Epochs: u32(), BatchSize: u32()}
	o.LearningRate = math.Float64frombits(u64())
	o.L2 = math.Float64frombits(u64())
	o.Seed = u64()
	count := u32()
	switch {
	case o.Dim < 1 || o.Epochs < 1 || o.BatchSize < 1:
		return nil, bad("dim %d, epochs %d, batch size %d: each must be at least 1", o.Dim, o.Epochs, o.BatchSize)
	case !(o.LearningRate > 0) || !finite(o.LearningRate) || !(o.L2 >= 0) || !finite(o.L2):
		return nil, bad("learning rate %v, L2 %v: want finite, positive and non-negative", o.LearningRate, o.L2)
	}
	if _, err := o.resolve(); err != nil {
		return nil, bad("%v", err)
	}
	if want := off + 12*count; len(body) != want {
		return nil, bad("%d non-zero weights need %d bytes before the checksum, have %d", count, want, len(body))
	}
	if count > o.Dim {
		return nil, bad("%d non-zero weights exceed the %d features", count, o.Dim)
	}
	m := &Model{o: o, w: make([]float64, o.Dim)}
	prev := -1
	for k := range count {
		i, v := u32(), math.Float64frombits(u64())
		switch {
		case i <= prev || i >= o.Dim:
			return nil, bad("weight %d has index %d, want above %d and below %d", k, i, prev, o.Dim)
		case !finite(v) || v == 0:
			return nil, bad("weight %d (index %d) is %v, want a finite non-zero number", k, i, v)
		}
		m.w[i], prev = v, i
	}
	return m, nil
}

// SaveFile writes the model to the file at path as Save does, atomically:
// a crash leaves either the file as it was or the whole checkpoint, as a
// Loop's policy checkpoints are written.
func (m *Model) SaveFile(path string) error {
	if err := atomicfile.Write(path, m.Save); err != nil {
		return fmt.Errorf("reward: save %s: %w", path, err)
	}
	return nil
}

// LoadFile reads the checkpoint at path that SaveFile (or Save) wrote. Its
// errors name path; a damaged file's wrap ErrCheckpoint, as Load's do.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reward: load: %w", err)
	}
	defer f.Close()
	m, err := Load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Fingerprint implements alignment.Fingerprinter: the SHA-256 of the
// model's checkpoint, its options and weights. A Loop with Dir records its
// judge's fingerprint, so a run judged by a reward model resumes only with
// that very model (loaded with LoadFile, say), and one resumed with a
// model trained again on other pairs, or with other options, is refused
// with alignment.ErrNotResumable naming the judge.
func (m *Model) Fingerprint() string {
	h := sha256.New()
	if err := m.Save(h); err != nil {
		// A hash takes every write; nothing else can fail.
		return "reward.Model (unreadable)"
	}
	return "reward.Model sha256:" + hex.EncodeToString(h.Sum(nil))
}
