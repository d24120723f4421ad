package alignment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"reflect"

	"github.com/selfalign/selfalign/internal/atomicfile"
)

// ReadGroups returns an iterator over the groups of a groups file, as a
// Loop with Dir and a GroupTrainer writes them to Dir/groups.jsonl: one
// JSON object a line for every judged prompt, in the order of the pairs,
//
//	{"prompt": {"id": ..., "messages": [...]}, "iteration": 0,
//	 "responses": [{"text": ..., "score": 3.5, "judgments": [...], ...}, ...]}
//
// A response holds every field of Response ("text", "source",
// "finish_reason", "tokens", "logprob", "has_logprob", "token_logprobs",
// "revisions"), its "score", its "judgments" ("score", "aspects",
// "rationale", "samples", "unparsed") and, when the Refiner changed it,
// the "unrefined" response; fields other than "text" and the scores are
// left out at their zero value.
// Numbers are written as encoding/json writes them, so they read back
// exactly; a number that is not finite (a judge's NaN aspect, a
// log-probability of -Inf) is written as the string "NaN", "+Inf" or
// "-Inf", so that the file holds what the trainer would have seen.
//
// A line that is not a group, an unknown field and a last line without its
// newline end the iteration with a *LineError (wrapping ErrInvalid, or
// ErrTorn for the last line). Blank lines are skipped.
func ReadGroups(r io.Reader) iter.Seq2[Group, error] {
	return func(yield func(Group, error) bool) {
		lr := newLineReader(r)
		for {
			line, terminated, err := lr.next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Group{}, readErr("", lr, err))
				return
			}
			if !terminated {
				yield(Group{}, lr.lineErr("", fmt.Errorf("line has no newline: %w", ErrTorn)))
				return
			}
			if isBlank(line) {
				continue
			}
			g, err := parseGroupLine(line)
			if err != nil {
				yield(Group{}, lr.lineErr("", err))
				return
			}
			if !yield(g, nil) {
				return
			}
		}
	}
}

// groupLine is one line of a groups file.
type groupLine struct {
	Prompt    *Prompt      `json:"prompt"`
	Iteration int          `json:"iteration"`
	Responses []scoredLine `json:"responses"`
}

type scoredLine struct {
	responseLine
	Score     jfloat         `json:"score"`
	Judgments []judgmentLine `json:"judgments,omitempty"`
	Unrefined *responseLine  `json:"unrefined,omitempty"`
}

type responseLine struct {
	Text          string      `json:"text"`
	Source        string      `json:"source,omitempty"`
	FinishReason  string      `json:"finish_reason,omitempty"`
	Tokens        int         `json:"tokens,omitempty"`
	LogProb       jfloat      `json:"logprob,omitempty"`
	HasLogProb    bool        `json:"has_logprob,omitempty"`
	TokenLogProbs []tokenLine `json:"token_logprobs,omitempty"`
	Revisions     []Revision  `json:"revisions,omitempty"`
}

type tokenLine struct {
	Token   string      `json:"token"`
	LogProb jfloat      `json:"logprob"`
	Top     []tokenLine `json:"top,omitempty"`
}

type judgmentLine struct {
	Score     jfloat            `json:"score"`
	Aspects   map[string]jfloat `json:"aspects,omitempty"`
	Rationale string            `json:"rationale,omitempty"`
	Samples   []jfloat          `json:"samples,omitempty"`
	Unparsed  int               `json:"unparsed,omitempty"`
}

// jfloat is a float64 that JSON can hold whatever its value: a number when
// finite, the string "NaN", "+Inf" or "-Inf" otherwise.
type jfloat float64

// MarshalJSON implements json.Marshaler.
func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return appendFloat(nil, v), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *jfloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jfloat(math.NaN())
		return nil
	case `"+Inf"`:
		*f = jfloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jfloat(math.Inf(-1))
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s is not a number, \"NaN\", \"+Inf\" or \"-Inf\"", b)
	}
	*f = jfloat(v)
	return nil
}

// encodeGroup appends g's line, with its newline, to b.
func encodeGroup(b []byte, g *Group) ([]byte, error) {
	line := groupLine{Prompt: &g.Prompt, Iteration: g.Iteration, Responses: make([]scoredLine, len(g.Responses))}
	for i := range g.Responses {
		s := &g.Responses[i]
		sl := scoredLine{responseLine: toResponseLine(s.Response), Score: jfloat(s.Score)}
		for _, j := range s.Judgments {
			sl.Judgments = append(sl.Judgments, toJudgmentLine(j))
		}
		if !reflect.DeepEqual(s.Unrefined, s.Response) {
			u := toResponseLine(s.Unrefined)
			sl.Unrefined = &u
		}
		line.Responses[i] = sl
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil {
		return b, fmt.Errorf("encoding the group of prompt %q: %w", g.Prompt.ID, err)
	}
	return append(b, buf.Bytes()...), nil
}

// parseGroupLine decodes one line of a groups file.
func parseGroupLine(line []byte) (Group, error) {
	var gl groupLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gl); err != nil {
		return Group{}, fmt.Errorf("not a group: %s: %w", jsonMsg(err), ErrInvalid)
	}
	if dec.More() {
		return Group{}, fmt.Errorf("not a group: more than one JSON value on the line: %w", ErrInvalid)
	}
	switch {
	case gl.Prompt == nil:
		return Group{}, fmt.Errorf("group without a \"prompt\": %w", ErrInvalid)
	case gl.Iteration < 0:
		return Group{}, fmt.Errorf("group of iteration %d, want 0 or more: %w", gl.Iteration, ErrInvalid)
	}
	g := Group{Prompt: *gl.Prompt, Iteration: gl.Iteration, Responses: make([]Scored, len(gl.Responses))}
	for i, sl := range gl.Responses {
		s := Scored{Response: sl.responseLine.response(), Score: float64(sl.Score)}
		for _, jl := range sl.Judgments {
			s.Judgments = append(s.Judgments, jl.judgment())
		}
		s.Unrefined = s.Response
		if sl.Unrefined != nil {
			s.Unrefined = sl.Unrefined.response()
		}
		g.Responses[i] = s
	}
	return g, nil
}

func toResponseLine(r Response) responseLine {
	return responseLine{Text: r.Text, Source: r.Source, FinishReason: r.FinishReason, Tokens: r.Tokens,
		LogProb: jfloat(r.LogProb), HasLogProb: r.HasLogProb, TokenLogProbs: toTokenLines(r.TokenLogProbs), Revisions: r.Revisions}
}

func (l *responseLine) response() Response {
	return Response{Text: l.Text, Source: l.Source, FinishReason: l.FinishReason, Tokens: l.Tokens,
		LogProb: float64(l.LogProb), HasLogProb: l.HasLogProb, TokenLogProbs: fromTokenLines(l.TokenLogProbs), Revisions: l.Revisions}
}

func toTokenLines(ts []TokenLogProb) []tokenLine {
	if ts == nil {
		return nil
	}
	out := make([]tokenLine, len(ts))
	for i, t := range ts {
		out[i] = tokenLine{Token: t.Token, LogProb: jfloat(t.LogProb), Top: toTokenLines(t.Top)}
	}
	return out
}

func fromTokenLines(ts []tokenLine) []TokenLogProb {
	if ts == nil {
		return nil
	}
	out := make([]TokenLogProb, len(ts))
	for i, t := range ts {
		out[i] = TokenLogProb{Token: t.Token, LogProb: float64(t.LogProb), Top: fromTokenLines(t.Top)}
	}
	return out
}

func toJudgmentLine(j Judgment) judgmentLine {
	l := judgmentLine{Score: jfloat(j.Score), Rationale: j.Rationale, Unparsed: j.Unparsed}
	if j.Aspects != nil {
		l.Aspects = make(map[string]jfloat, len(j.Aspects))
		for k, v := range j.Aspects {
			l.Aspects[k] = jfloat(v)
		}
	}
	if j.Samples != nil {
		l.Samples = make([]jfloat, len(j.Samples))
		for i, v := range j.Samples {
			l.Samples[i] = jfloat(v)
		}
	}
	return l
}

func (l *judgmentLine) judgment() Judgment {
	j := Judgment{Score: float64(l.Score), Rationale: l.Rationale, Unparsed: l.Unparsed}
	if l.Aspects != nil {
		j.Aspects = make(map[string]float64, len(l.Aspects))
		for k, v := range l.Aspects {
			j.Aspects[k] = float64(v)
		}
	}
	if l.Samples != nil {
		j.Samples = make([]float64, len(l.Samples))
		for i, v := range l.Samples {
			j.Samples[i] = float64(v)
		}
	}
	return j
}

// groupLog appends a run's groups to its groups file with the crash rules
// of pairs.jsonl: lines are buffered, flush writes them at the end of the
// durable part of the file and syncs it, and offset and crc cover only
// what a finished sync made durable. A failed write or sync breaks it, as
// it breaks a JSONL sink.
type groupLog struct {
	f      *os.File
	path   string
	buf    []byte
	offset int64  // bytes durably in the file
	crc    uint32 // CRC-32C of the first offset bytes
	err    error
}

// openGroupLog opens (creating it when offset is 0) the groups file at
// path for appending after truncating it to offset bytes, whose CRC-32C
// is crc.
func openGroupLog(path string, offset int64, crc uint32) (*groupLog, error) {
	flags := os.O_RDWR
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("alignment: opening the groups file: %w", err)
	}
	if err := truncateAt(f, offset); err != nil {
		f.Close()
		return nil, fmt.Errorf("alignment: opening the groups file %s: %w", path, err)
	}
	if offset == 0 {
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("alignment: opening the groups file %s: %w", path, err)
		}
	}
	return &groupLog{f: f, path: path, offset: offset, crc: crc}, nil
}

// write buffers g's line.
func (l *groupLog) write(g *Group) error {
	if l.err != nil {
		return l.err
	}
	var err error
	if l.buf, err = encodeGroup(l.buf, g); err != nil {
		return fmt.Errorf("alignment: %s: %w", l.path, err)
	}
	return nil
}

// flush makes the buffered lines durable.
func (l *groupLog) flush() error {
	if l.err != nil || len(l.buf) == 0 {
		return l.err
	}
	if _, err := l.f.WriteAt(l.buf, l.offset); err != nil {
		l.err = fmt.Errorf("alignment: writing %s: %w", l.path, err)
		return l.err
	}
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("alignment: syncing %s: %w", l.path, err)
		return l.err
	}
	l.crc = crc32.Update(l.crc, castagnoli, l.buf)
	l.offset += int64(len(l.buf))
	l.buf = l.buf[:0]
	return nil
}

// read returns the groups in the file's bytes from from to to.
func (l *groupLog) read(ctx context.Context, from, to int64) ([]Group, error) {
	var groups []Group
	for g, err := range ReadGroups(io.NewSectionReader(l.f, from, to-from)) {
		if err != nil {
			var le *LineError
			if errors.As(err, &le) {
				return nil, fmt.Errorf("%s, the line at byte %d: %w", l.path, from+le.Offset, le.Err)
			}
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func (l *groupLog) close() error { return l.f.Close() }
