package alignment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readPairsFile(t *testing.T, path string) []Pair {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	got, err := readAll(bytes.NewReader(data))
	require.NoError(t, err)
	return got
}

func TestJSONLWriteFlushRead(t *testing.T) {
	for _, kto := range []bool{false, true} {
		t.Run(fmt.Sprint("kto=", kto), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pairs.jsonl")
			s, err := CreateJSONL(path, &JSONLOptions{KTO: kto})
			require.NoError(t, err)
			ps := textPairs()
			require.NoError(t, s.Write(t.Context(), ps[:2]))
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Zero(t, st.Size(), "Write buffers")
			assert.Zero(t, s.Offset())

			require.NoError(t, s.Flush(t.Context()))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, sinkBytes(t, ps[:2], &JSONLOptions{KTO: kto}), data)
			assert.Equal(t, int64(len(data)), s.Offset())

			require.NoError(t, s.Write(t.Context(), ps[2:]))
			require.NoError(t, s.Close())
			assert.Equal(t, ps, readPairsFile(t, path))
			assert.NoError(t, s.Close(), "closing twice")
			assert.ErrorIs(t, s.Write(t.Context(), ps), fs.ErrClosed)
			assert.ErrorIs(t, s.Flush(t.Context()), fs.ErrClosed)
		})
	}
}

func TestJSONLFlushEvery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	s, err := CreateJSONL(path, &JSONLOptions{FlushEvery: 3})
	require.NoError(t, err)
	defer s.Close()
	p := textPairs()[0]
	line := int64(len(encodePairs(t, []Pair{p}, false, false)))
	settled := func() int64 { // Offset once the background flush is done
		s.mu.Lock()
		defer s.mu.Unlock()
		require.NoError(t, s.wait())
		return s.offset
	}
	for i, want := range []int64{0, 0, 3, 3, 3, 6} {
		require.NoError(t, s.Write(t.Context(), []Pair{p}))
		assert.Equal(t, want*line, settled(), "after %d writes", i+1)
	}
	require.NoError(t, s.Write(t.Context(), []Pair{p, p, p, p}))
	assert.Equal(t, 10*line, settled(), "a large write flushes at once")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, 10*line, st.Size())

	d, err := CreateJSONL(filepath.Join(t.TempDir(), "d.jsonl"), nil)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, DefaultFlushEvery, d.flushEvery)
}

func TestJSONLRejectsBadPairWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	s, err := CreateJSONL(path, nil)
	require.NoError(t, err)
	ps := textPairs()
	ps[1].ScoreRejected = math.NaN()
	err = s.Write(t.Context(), ps)
	assert.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "pair 1")
	assert.ErrorContains(t, err, "score_rejected is NaN")
	ok := textPairs()[:1]
	require.NoError(t, s.Write(t.Context(), ok))
	require.NoError(t, s.Close())
	assert.Equal(t, ok, readPairsFile(t, path), "the failed write left nothing behind")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "null")
}

func TestJSONLCancelled(t *testing.T) {
	s, err := CreateJSONL(filepath.Join(t.TempDir(), "pairs.jsonl"), nil)
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, s.Write(ctx, textPairs()[:1]))
	cancel()
	assert.ErrorIs(t, s.Write(ctx, textPairs()), context.Canceled)
	assert.NoError(t, s.Flush(ctx), "the final flush of a cancelled run works")
	assert.Equal(t, int64(len(encodePairs(t, textPairs()[:1], false, false))), s.Offset())
}

// A crash leaves flushed lines and a torn tail; resuming truncates to the
// durable offset and appends.
func TestOpenJSONLResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	s, err := CreateJSONL(path, nil)
	require.NoError(t, err)
	ps := textPairs()
	require.NoError(t, s.Write(t.Context(), ps[:2]))
	require.NoError(t, s.Flush(t.Context()))
	offset := s.Offset()
	require.NoError(t, s.Close())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"prompt":"torn","cho`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = readAll(bytes.NewReader(data))
	var le *LineError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, ErrTorn)
	assert.Equal(t, offset, le.Offset, "the reader finds the offset to resume from")

	s, err = OpenJSONL(path, le.Offset, nil)
	require.NoError(t, err)
	assert.Equal(t, offset, s.Offset())
	require.NoError(t, s.Write(t.Context(), ps[2:]))
	require.NoError(t, s.Close())
	assert.Equal(t, ps, readPairsFile(t, path))
}

func TestOpenJSONLErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	row := string(encodePairs(t, textPairs()[:1], false, false))
	n := int64(len(row))
	content := []byte(row + row)
	require.NoError(t, os.WriteFile(path, content, 0o644))
	for _, tt := range []struct {
		offset int64
		want   string
	}{
		{-1, fmt.Sprintf("offset -1 outside the file's %d bytes", 2*n)},
		{2*n + 1, fmt.Sprintf("offset %d outside", 2*n+1)},
		{2, "offset 2 is not at the start of a line"},
	} {
		_, err := OpenJSONL(path, tt.offset, nil)
		assert.ErrorIs(t, err, ErrInvalid, "offset %d", tt.offset)
		assert.ErrorContains(t, err, tt.want)
	}
	for _, offset := range []int64{0, n, 2 * n} {
		s, err := OpenJSONL(path, offset, nil)
		require.NoError(t, err, "offset %d", offset)
		require.NoError(t, s.Close())
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, offset, st.Size())
		require.NoError(t, os.WriteFile(path, content, 0o644))
	}
	// Appending with other options would make a file of two forms or two
	// kinds of rows, which TRL reads by its first row.
	for _, o := range []JSONLOptions{{Standard: true}, {KTO: true}} {
		_, err := OpenJSONL(path, n, &o)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "the file holds paired (chosen/rejected) rows in the conversational (message list) form")
	}
	_, err := OpenJSONL(filepath.Join(t.TempDir(), "missing.jsonl"), 0, nil)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = CreateJSONL(filepath.Join(t.TempDir(), "no", "dir.jsonl"), nil)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// A failed write breaks the sink: the error comes back from every later
// call, Offset stays at what was synced, and reopening there continues.
func TestJSONLFailedFlushBreaks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	s, err := CreateJSONL(path, &JSONLOptions{FlushEvery: 2})
	require.NoError(t, err)
	ps := textPairs()
	require.NoError(t, s.Write(t.Context(), ps[:2]))
	require.NoError(t, s.Flush(t.Context()))
	durable := s.Offset()
	require.NoError(t, s.Write(t.Context(), ps[2:]))

	good := s.f
	bad, err := os.Open(path) // read-only: writes fail
	require.NoError(t, err)
	s.f = bad
	require.NoError(t, s.Write(t.Context(), ps[:1]), "the automatic flush runs in the background")
	err = s.Flush(t.Context())
	assert.ErrorContains(t, err, fmt.Sprintf("broken, durable up to byte %d", durable))
	assert.ErrorIs(t, s.Write(t.Context(), ps[:1]), err)
	assert.ErrorIs(t, s.Flush(t.Context()), err)
	assert.Equal(t, durable, s.Offset())
	assert.ErrorIs(t, s.Close(), err)
	require.NoError(t, good.Close())

	s, err = OpenJSONL(path, durable, nil)
	require.NoError(t, err)
	require.NoError(t, s.Write(t.Context(), ps[2:]))
	require.NoError(t, s.Close())
	assert.Equal(t, ps, readPairsFile(t, path))
}

// benchPair is a typical pair: about 100 words of prompt and of each
// response.
func benchPair(i int) Pair {
	words := strings.Fields(strings.Repeat("the quick brown fox jumps over the lazy dog while a \"careful\" judge weighs each answer ", 10))
	text := strings.Join(words[:100], " ")
	return Pair{
		Prompt:        NewPrompt(fmt.Sprint("prompt-", i), text+"?"),
		Chosen:        Response{Text: "Certainly. " + text + ".\nIn short: yes."},
		Rejected:      Response{Text: "No. " + text + " — 日本語."},
		ScoreChosen:   4.25,
		ScoreRejected: 1.5,
		Scored:        true,
		Iteration:     1,
		Source:        "self-rewarding",
	}
}

// BenchmarkJSONLSink writes typical pairs one per Write, as the Loop does,
// to a file with an fsync every 256 pairs; pairs/s is the figure to watch
// (target ≥ 100,000).
func BenchmarkJSONLSink(b *testing.B) {
	for _, kto := range []bool{false, true} {
		b.Run(fmt.Sprint("kto=", kto), func(b *testing.B) {
			batch := make([]Pair, 64)
			for i := range batch {
				batch[i] = benchPair(i)
			}
			s, err := CreateJSONL(filepath.Join(b.TempDir(), "pairs.jsonl"), &JSONLOptions{KTO: kto, FlushEvery: 256})
			require.NoError(b, err)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(encodePairs(b, batch[:1], kto, false))))
			n := 0
			cpu := processCPU()
			for b.Loop() {
				if err := s.Write(ctx, batch[n%len(batch):n%len(batch)+1]); err != nil {
					b.Fatal(err)
				}
				n++
			}
			require.NoError(b, s.Close())
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
			// On a shared machine wall time varies with the load; CPU time
			// per pair says what the encoder costs.
			b.ReportMetric(float64(processCPU()-cpu)/float64(n), "cpu-ns/pair")
		})
	}
}

func BenchmarkReadPairs(b *testing.B) {
	var data []byte
	for i := range 256 {
		p := benchPair(i)
		data, _ = appendPair(data, &p, false)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		for _, err := range ReadPairs(bytes.NewReader(data)) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
}

func TestErrTornIsNotInvalid(t *testing.T) {
	assert.False(t, errors.Is(ErrTorn, ErrInvalid))
}

// processCPU returns the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TRL's KTOTrainer scores row i of each batch with the completion of row
// i-1 to estimate its KL term (add_kl_completion_ids in
// trl/trainer/kto_trainer.py, with sequential sampling), so two adjacent
// rows of one prompt make a matched pair where a mismatched one is
// wanted. The sink spreads each prompt's rows, across Write calls and
// across flushes (a flush of a single pair, which cannot, is the
// exception its doc names).
func TestJSONLKTOSpreadsPrompts(t *testing.T) {
	pair := func(prompt, i int) Pair {
		return Pair{Prompt: NewPrompt(fmt.Sprint("q", prompt), fmt.Sprint("question ", prompt)),
			Chosen: Response{Text: fmt.Sprint("good ", i)}, Rejected: Response{Text: fmt.Sprint("bad ", i)}, Source: "synpo"}
	}
	for _, tt := range []struct {
		name       string
		writes     [][]Pair
		flushEvery int
	}{
		{"one pair per write, as the Loop writes", func() (w [][]Pair) {
			for q := range 12 {
				w = append(w, []Pair{pair(q, 0)})
			}
			return w
		}(), 4},
		{"several pairs per prompt, as SynPO and SL-CAI make", func() (w [][]Pair) {
			for q := range 5 {
				w = append(w, []Pair{pair(q, 0), pair(q, 1), pair(q, 2)})
			}
			return w
		}(), 256},
		{"a flush starts with another prompt than the last one ended with", [][]Pair{{pair(0, 0), pair(1, 0)}, {pair(1, 1), pair(2, 0)}}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kto.jsonl")
			s, err := CreateJSONL(path, &JSONLOptions{KTO: true, FlushEvery: tt.flushEvery})
			require.NoError(t, err)
			var want []Pair
			for _, w := range tt.writes {
				require.NoError(t, s.Write(t.Context(), w))
				want = append(want, w...)
			}
			require.NoError(t, s.Close())
			data, err := os.ReadFile(path)
			require.NoError(t, err)

			var prompts []string
			for l := range strings.Lines(string(data)) {
				var row struct {
					Prompt []Message `json:"prompt"`
				}
				require.NoError(t, json.Unmarshal([]byte(l), &row))
				prompts = append(prompts, row.Prompt[0].Content)
			}
			require.Len(t, prompts, 2*len(want))
			for i := 1; i < len(prompts); i++ {
				assert.NotEqual(t, prompts[i-1], prompts[i], "rows %d and %d share a prompt:\n%s", i, i+1, data)
			}

			got := readPairsFile(t, path)
			sortPairs(got)
			sortPairs(want)
			assert.Equal(t, want, got, "the rows join back into the pairs written")
		})
	}
}
