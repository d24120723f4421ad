package tinylm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ErrCheckpoint says a checkpoint could not be loaded: it is not a tinylm
// checkpoint, has an unsupported version, is truncated or corrupt, or its
// contents are inconsistent. Load's errors wrap it.
var ErrCheckpoint = errors.New("invalid checkpoint")

// Checkpoint format, all integers little-endian:
//
//	magic    8 bytes "TINYLMCK"
//	version  uint32 (checkpointVersion)
//	context, embed, hidden, vocabulary size: uint32 each
//	seed     uint64 (Config.Seed, kept for the record)
//	name     uint32 length, bytes
//	words    vocabulary size − FirstWord times: uint32 length, bytes
//	tensors  in Params order: uint32 count, count float32 values
//	crc      uint32 CRC-32 (IEEE) of every byte before it
//
// Nothing may follow the checksum.
const (
	checkpointMagic   = "TINYLMCK"
	checkpointVersion = 1
	maxCheckpoint     = 4*maxParams + 1<<26
	maxString         = 1 << 16
)

// Save writes the model (configuration, vocabulary and weights, not the
// gradients) to w as a checkpoint that Load reads back.
func (m *Model) Save(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(checkpointMagic)
	u32 := func(v int) { _ = binary.Write(&b, binary.LittleEndian, uint32(v)) }
	str := func(s string) {
		u32(len(s))
		b.WriteString(s)
	}
	u32(checkpointVersion)
	u32(m.cfg.Context)
	u32(m.cfg.Embed)
	u32(m.cfg.Hidden)
	u32(m.v)
	_ = binary.Write(&b, binary.LittleEndian, m.cfg.Seed)
	str(m.cfg.Name)
	for _, word := range m.tok.words[FirstWord:] {
		str(word)
	}
	var f [4]byte
	for _, p := range m.Params() {
		u32(len(p.Value))
		for _, v := range p.Value {
			binary.LittleEndian.PutUint32(f[:], math.Float32bits(v))
			b.Write(f[:])
		}
	}
	u32(int(crc32.ChecksumIEEE(b.Bytes())))
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("tinylm: save: %w", err)
	}
	return nil
}

// Load reads a checkpoint written by Save. A checkpoint that is not one, has
// another version, fails its checksum, is truncated, has trailing data, or
// whose dimensions, vocabulary or tensors are inconsistent or not finite is
// an error wrapping ErrCheckpoint; a read error is returned wrapped as is.
func Load(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCheckpoint+1))
	if err != nil {
		return nil, fmt.Errorf("tinylm: load: %w", err)
	}
	if len(data) > maxCheckpoint {
		return nil, fmt.Errorf("tinylm: load: checkpoint exceeds %d bytes: %w", maxCheckpoint, ErrCheckpoint)
	}
	if len(data) < len(checkpointMagic)+8 {
		return nil, fmt.Errorf("tinylm: load: checkpoint truncated at %d bytes: %w", len(data), ErrCheckpoint)
	}
	if string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fmt.Errorf("tinylm: load: not a tinylm checkpoint (magic %q): %w", data[:len(checkpointMagic)], ErrCheckpoint)
	}
	if v := binary.LittleEndian.Uint32(data[len(checkpointMagic):]); v != checkpointVersion {
		return nil, fmt.Errorf("tinylm: load: checkpoint version %d, want %d: %w", v, checkpointVersion, ErrCheckpoint)
	}
	body := data[:len(data)-4]
	if want, got := binary.LittleEndian.Uint32(data[len(data)-4:]), crc32.ChecksumIEEE(body); want != got {
		return nil, fmt.Errorf("tinylm: load: checksum mismatch (stored %#08x, computed %#08x): truncated or corrupt: %w", want, got, ErrCheckpoint)
	}

	d := decoder{data: body, off: len(checkpointMagic) + 4}
	var c Config
	c.Context, c.Embed, c.Hidden = d.int("context"), d.int("embed"), d.int("hidden")
	vocab := d.int("vocabulary size")
	if raw := d.bytes("seed", 8); raw != nil {
		c.Seed = binary.LittleEndian.Uint64(raw)
	}
	c.Name = d.str("name")
	if d.err != nil {
		return nil, d.err
	}
	for _, dim := range []struct {
		name  string
		v, hi int
	}{{"context", c.Context, maxContext}, {"embed", c.Embed, maxEmbed}, {"hidden", c.Hidden, maxHidden}, {"vocabulary size", vocab, maxVocab}} {
		if dim.v < 1 || dim.v > dim.hi {
			return nil, fmt.Errorf("tinylm: load: %s %d is outside [1, %d]: %w", dim.name, dim.v, dim.hi, ErrCheckpoint)
		}
	}
	if vocab < FirstWord {
		return nil, fmt.Errorf("tinylm: load: vocabulary size %d is below the %d special tokens: %w", vocab, FirstWord, ErrCheckpoint)
	}
	if c.Name == "" {
		return nil, fmt.Errorf("tinylm: load: empty model name: %w", ErrCheckpoint)
	}
	// Each word takes at least 5 bytes, so a vocabulary size larger than the
	// rest of the data is caught before allocating for it.
	if rest := len(body) - d.off; (vocab-FirstWord)*5 > rest {
		return nil, fmt.Errorf("tinylm: load: vocabulary size %d does not fit in %d bytes: %w", vocab, rest, ErrCheckpoint)
	}
	words := make([]string, vocab-FirstWord)
	for i := range words {
		words[i] = d.str(fmt.Sprintf("word %d", FirstWord+i))
	}
	if d.err != nil {
		return nil, d.err
	}
	tok, err := newTokenizerWords(words)
	if err != nil {
		return nil, fmt.Errorf("tinylm: load: %w: %w", err, ErrCheckpoint)
	}
	// The tensors must fill the rest exactly; checking before allocating
	// keeps a small corrupt file from claiming gigabytes.
	CE := int64(c.Context) * int64(c.Embed)
	need := int64(0)
	for _, n := range []int64{int64(vocab) * int64(c.Embed), CE * int64(c.Hidden), int64(c.Hidden), int64(c.Hidden) * int64(vocab), int64(vocab)} {
		need += 4 + 4*n
	}
	if rest := int64(len(body) - d.off); need != rest {
		return nil, fmt.Errorf("tinylm: load: the dimensions need %d bytes of tensors, the checkpoint has %d: %w", need, rest, ErrCheckpoint)
	}
	m, err := newModel(tok, c)
	if err != nil {
		return nil, fmt.Errorf("tinylm: load: %w: %w", err, ErrCheckpoint)
	}
	for _, p := range m.Params() {
		n := d.int(p.Name + " size")
		if d.err != nil {
			return nil, d.err
		}
		if n != len(p.Value) {
			return nil, fmt.Errorf("tinylm: load: tensor %s has %d values, the dimensions give %d: %w", p.Name, n, len(p.Value), ErrCheckpoint)
		}
		raw := d.bytes(p.Name, 4*n)
		if d.err != nil {
			return nil, d.err
		}
		for i := range p.Value {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tinylm: load: tensor %s value %d is %v: %w", p.Name, i, v, ErrCheckpoint)
			}
			p.Value[i] = v
		}
	}
	if d.off != len(body) {
		return nil, fmt.Errorf("tinylm: load: %d bytes of trailing data at offset %d: %w", len(body)-d.off, d.off, ErrCheckpoint)
	}
	return m, nil
}

// decoder reads the fields of a checkpoint, remembering the first error.
type decoder struct {
	data []byte
	off  int
	err  error
}

func (d *decoder) bytes(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.data)-d.off {
		d.err = fmt.Errorf("tinylm: load: %s: checkpoint truncated at offset %d (need %d bytes, %d left): %w", field, d.off, n, len(d.data)-d.off, ErrCheckpoint)
		return nil
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) int(field string) int {
	b := d.bytes(field, 4)
	if b == nil {
		return 0
	}
	return int(binary.LittleEndian.Uint32(b))
}

func (d *decoder) str(field string) string {
	n := d.int(field + " length")
	if d.err == nil && n > maxString {
		d.err = fmt.Errorf("tinylm: load: %s: length %d at offset %d exceeds %d: %w", field, n, d.off-4, maxString, ErrCheckpoint)
	}
	return string(d.bytes(field, n))
}
