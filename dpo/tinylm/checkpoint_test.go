package tinylm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func saved(t testing.TB, m *Model) []byte {
	var b bytes.Buffer
	require.NoError(t, m.Save(&b))
	return b.Bytes()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := t.Context()
	m := trained(t)
	data := saved(t, m)
	l, err := Load(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, m.Config(), l.Config())
	assert.Equal(t, m.Tokenizer().Words(), l.Tokenizer().Words())
	for i, p := range m.Params() {
		assert.Equal(t, p.Value, l.Params()[i].Value, p.Name)
	}
	want, wantLens, err := m.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	got, gotLens, err := l.LogProbs(ctx, gradSeqs)
	require.NoError(t, err)
	assert.Equal(t, want, got, "identical log-probabilities")
	assert.Equal(t, wantLens, gotLens)
	o := alignment.SampleOptions{N: 3, Temperature: 1, Seed: 7}
	wantR, err := m.Generate(ctx, smallExamples[2].Prompt, o)
	require.NoError(t, err)
	gotR, err := l.Generate(ctx, smallExamples[2].Prompt, o)
	require.NoError(t, err)
	assert.Equal(t, wantR, gotR)
	assert.Equal(t, data, saved(t, l), "a loaded model saves to the same bytes")
}

// withCRC returns body followed by its checksum, a checkpoint whose
// inconsistency lies past the checksum test.
func withCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.ChecksumIEEE(body))
}

func TestLoadErrors(t *testing.T) {
	m := newSmall(t, Config{Context: 2, Embed: 3, Hidden: 4, Seed: 1})
	good := saved(t, m)
	body := good[:len(good)-4]
	header := len(checkpointMagic) + 4 // magic and version
	patch := func(off int, v uint32) []byte {
		b := append([]byte(nil), body...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return withCRC(b)
	}
	words := m.tok.words[FirstWord:]
	firstWord := header + 16 + 8 + 4 + len(m.cfg.Name) // after the dimensions, seed and name
	tensors := firstWord
	for _, w := range words {
		tensors += 4 + len(w)
	}
	nan := append([]byte(nil), body...)
	binary.LittleEndian.PutUint32(nan[tensors+4+8:], math.Float32bits(float32(math.NaN())))
	tok2, err := newTokenizerWords([]string{"ab", "cd"})
	require.NoError(t, err)
	m2, err := New(tok2, Config{Context: 1, Embed: 1, Hidden: 1})
	require.NoError(t, err)
	dup := saved(t, m2)
	dup = dup[:len(dup)-4]
	copy(dup[bytes.Index(dup, []byte("cd")):], "ab")
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated at 0 bytes"},
		{"short", good[:10], "truncated at 10 bytes"},
		{"magic", append([]byte("NOTAMODEL"), good[9:]...), "not a tinylm checkpoint"},
		{"version", patch(len(checkpointMagic), 2), "checkpoint version 2, want 1"},
		{"flipped bit", flipped, "checksum mismatch"},
		{"truncated", good[:len(good)-9], "checksum mismatch"},
		{"trailing data", withCRC(append(append([]byte(nil), body...), 1, 2, 3)), "need 932 bytes of tensors, the checkpoint has 935"},
		{"truncated body", withCRC(body[:len(body)-8]), "the checkpoint has 924"},
		{"hidden inconsistent", patch(header+8, 5), "need 1060 bytes of tensors, the checkpoint has 932"},
		{"tensor size", patch(tensors, uint32(len(m.w.emb)+1)), "tensor embedding has 76 values, the dimensions give 75"},
		{"hidden zero", patch(header+8, 0), "hidden 0 is outside"},
		{"vocabulary too small", patch(header+12, 3), "vocabulary size 3 is below"},
		{"vocabulary too large", patch(header+12, 1<<20), "does not fit"},
		{"word length", patch(firstWord, 1<<30), "word 6: length 1073741824"},
		{"duplicate word", withCRC(dup), "appears twice"},
		{"NaN weight", withCRC(nan), "tensor embedding value 2 is NaN"},
	}
	for _, tc := range tests {
		_, err := Load(bytes.NewReader(tc.data))
		assert.ErrorIs(t, err, ErrCheckpoint, tc.name)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}

	readErr := errors.New("disk on fire")
	_, err = Load(iotest.ErrReader(readErr))
	assert.ErrorIs(t, err, readErr)
	assert.NotErrorIs(t, err, ErrCheckpoint)
}

// FuzzLoad feeds Load arbitrary bytes, as read and with a valid checksum
// appended so that the parser past the checksum is reached too. Load must
// never panic, and a checkpoint it accepts must save back to the same bytes.
func FuzzLoad(f *testing.F) {
	tok, err := NewTokenizer([]string{"a b, c!"}, TokenizerOptions{})
	require.NoError(f, err)
	m, err := New(tok, Config{Context: 2, Embed: 2, Hidden: 3, Seed: 1, Name: "fz"})
	require.NoError(f, err)
	good := saved(f, m)
	f.Add(good)
	f.Add(good[:len(good)-4])
	f.Add(good[:40])
	f.Add([]byte(checkpointMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withCRC(data)} {
			l, err := Load(bytes.NewReader(in))
			if err != nil {
				if !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("error %v does not wrap ErrCheckpoint", err)
				}
				continue
			}
			if out := saved(t, l); !bytes.Equal(out, in) {
				t.Fatalf("accepted checkpoint saves to other bytes")
			}
		}
	})
}
