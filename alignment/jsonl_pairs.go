package alignment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
)

// Preference files: one JSON object per line, in the formats TRL's trainers
// and OpenRLHF read without conversion.
//
// A paired row has "prompt", "chosen" and "rejected". When the prompt is a
// single user message they are strings (TRL's standard format); otherwise
// "prompt" is the list of {"role", "content"} messages and "chosen" and
// "rejected" are one-message lists [{"role": "assistant", "content": ...}]
// (the conversational format). Our fields follow: "prompt_id",
// "iteration", "score_chosen", "score_rejected" and "source".
//
// An unpaired row, for KTO, has "prompt", "completion" and "label" (true for
// the chosen response, false for the rejected one), then "prompt_id",
// "iteration", "score" and "source". A pair becomes two consecutive rows,
// the chosen one first.

// appendPair appends p as one paired row, newline included. It validates p
// first and appends nothing when p is invalid.
func appendPair(b []byte, p *Pair) ([]byte, error) {
	if err := checkPair(p); err != nil {
		return b, err
	}
	chat := isChat(p.Prompt)
	b = append(b, `{"prompt":`...)
	b = appendPrompt(b, p.Prompt, chat)
	b = append(b, `,"chosen":`...)
	b = appendCompletion(b, p.Chosen.Text, chat)
	b = append(b, `,"rejected":`...)
	b = appendCompletion(b, p.Rejected.Text, chat)
	b = appendMeta(b, p)
	b = append(b, `,"score_chosen":`...)
	b = appendFloat(b, p.ScoreChosen)
	b = append(b, `,"score_rejected":`...)
	b = appendFloat(b, p.ScoreRejected)
	b = append(b, `,"source":`...)
	b = appendString(b, p.Source)
	return append(b, "}\n"...), nil
}

// appendKTO appends p as two unpaired rows, chosen first. It validates p
// first and appends nothing when p is invalid.
func appendKTO(b []byte, p *Pair) ([]byte, error) {
	if err := checkPair(p); err != nil {
		return b, err
	}
	chat := isChat(p.Prompt)
	for _, row := range [2]struct {
		text  string
		label bool
		score float64
	}{{p.Chosen.Text, true, p.ScoreChosen}, {p.Rejected.Text, false, p.ScoreRejected}} {
		b = append(b, `{"prompt":`...)
		b = appendPrompt(b, p.Prompt, chat)
		b = append(b, `,"completion":`...)
		b = appendCompletion(b, row.text, chat)
		b = append(b, `,"label":`...)
		b = strconv.AppendBool(b, row.label)
		b = appendMeta(b, p)
		b = append(b, `,"score":`...)
		b = appendFloat(b, row.score)
		b = append(b, `,"source":`...)
		b = appendString(b, p.Source)
		b = append(b, "}\n"...)
	}
	return b, nil
}

// checkPair reports what makes p impossible to write faithfully.
func checkPair(p *Pair) error {
	if len(p.Prompt.Messages) == 0 {
		return fmt.Errorf("prompt %q has no messages: %w", p.Prompt.ID, ErrInvalid)
	}
	for i, m := range p.Prompt.Messages {
		if !validRole(m.Role) {
			return fmt.Errorf("prompt %q: message %d has role %q, want system, user or assistant: %w", p.Prompt.ID, i, m.Role, ErrInvalid)
		}
	}
	if p.Iteration < 0 {
		return fmt.Errorf("prompt %q: iteration %d < 0: %w", p.Prompt.ID, p.Iteration, ErrInvalid)
	}
	for _, s := range [2]struct {
		name string
		v    float64
	}{{"score_chosen", p.ScoreChosen}, {"score_rejected", p.ScoreRejected}} {
		if math.IsNaN(s.v) || math.IsInf(s.v, 0) {
			return fmt.Errorf("prompt %q: %s is %v, want a finite number: %w", p.Prompt.ID, s.name, s.v, ErrInvalid)
		}
	}
	return nil
}

// isChat reports whether p needs the conversational format.
func isChat(p Prompt) bool {
	return len(p.Messages) != 1 || p.Messages[0].Role != RoleUser
}

func appendPrompt(b []byte, p Prompt, chat bool) []byte {
	if !chat {
		return appendString(b, p.Messages[0].Content)
	}
	b = append(b, '[')
	for i, m := range p.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, m.Role, m.Content)
	}
	return append(b, ']')
}

func appendCompletion(b []byte, text string, chat bool) []byte {
	if !chat {
		return appendString(b, text)
	}
	b = append(b, '[')
	b = appendMessage(b, RoleAssistant, text)
	return append(b, ']')
}

func appendMessage(b []byte, role, content string) []byte {
	b = append(b, `{"role":`...)
	b = appendString(b, role)
	b = append(b, `,"content":`...)
	b = appendString(b, content)
	return append(b, '}')
}

func appendMeta(b []byte, p *Pair) []byte {
	b = append(b, `,"prompt_id":`...)
	b = appendString(b, p.Prompt.ID)
	b = append(b, `,"iteration":`...)
	return strconv.AppendInt(b, int64(p.Iteration), 10)
}

// ReadPairs reads a preference file written by a JSONL sink, paired or
// KTO, and yields its pairs in order. It stops at the first error, a
// *LineError naming the line: a malformed line wraps ErrInvalid, and a last
// line without its newline (a write cut short by a crash) wraps ErrTorn, so
// that a resuming run can truncate the file to the error's Offset. Lines
// holding only white space are skipped.
//
// "prompt", "chosen" and "rejected" (or "completion" and "label") are
// required; "prompt_id", "iteration", the scores and "source" default to
// zero values, so files written by other tools in TRL's format can be read
// too. Unpaired rows must come as the sink writes them: the chosen row
// (label true) followed by the rejected row of the same prompt, iteration
// and source. Responses get only their Text back.
func ReadPairs(r io.Reader) iter.Seq2[Pair, error] {
	return func(yield func(Pair, error) bool) {
		lr := newLineReader(r)
		var (
			half   *pairRow // a KTO row with label true waiting for its partner
			halfAt int
		)
		for {
			line, terminated, err := lr.next()
			if err == io.EOF {
				if half != nil {
					yield(Pair{}, &LineError{Line: halfAt, Err: fmt.Errorf("unpaired row with label true has no rejected row after it: %w", ErrInvalid)})
				}
				return
			}
			if err != nil {
				yield(Pair{}, readErr("", lr, err))
				return
			}
			if !terminated {
				yield(Pair{}, lr.lineErr("", fmt.Errorf("line has no newline: %w", ErrTorn)))
				return
			}
			if isBlank(line) {
				continue
			}
			row, err := parsePairRow(line)
			if err != nil {
				yield(Pair{}, lr.lineErr("", err))
				return
			}
			switch {
			case row.paired:
				if half != nil {
					yield(Pair{}, lr.lineErr("", fmt.Errorf("paired row after the unpaired row of line %d, which has no rejected row: %w", halfAt, ErrInvalid)))
					return
				}
				if !yield(row.pair, nil) {
					return
				}
			case row.label:
				if half != nil {
					yield(Pair{}, lr.lineErr("", fmt.Errorf("row with label true after the one of line %d, which has no rejected row: %w", halfAt, ErrInvalid)))
					return
				}
				half, halfAt = &row, lr.line
			default:
				if half == nil {
					yield(Pair{}, lr.lineErr("", fmt.Errorf("row with label false has no chosen row before it: %w", ErrInvalid)))
					return
				}
				p, err := joinKTO(half, &row, halfAt)
				if err != nil {
					yield(Pair{}, lr.lineErr("", err))
					return
				}
				half = nil
				if !yield(p, nil) {
					return
				}
			}
		}
	}
}

// pairRow is one parsed line of a preference file. For an unpaired row,
// pair.Chosen holds the completion and pair.ScoreChosen the score.
type pairRow struct {
	pair   Pair
	paired bool
	label  bool
}

// rawPairRow is a line of a preference file with the fields whose JSON type
// varies left raw.
type rawPairRow struct {
	Prompt        json.RawMessage `json:"prompt"`
	Chosen        json.RawMessage `json:"chosen"`
	Rejected      json.RawMessage `json:"rejected"`
	Completion    json.RawMessage `json:"completion"`
	Label         *bool           `json:"label"`
	PromptID      string          `json:"prompt_id"`
	Iteration     int             `json:"iteration"`
	ScoreChosen   float64         `json:"score_chosen"`
	ScoreRejected float64         `json:"score_rejected"`
	Score         float64         `json:"score"`
	Source        string          `json:"source"`
}

// parsePairRow parses one non-blank line of a preference file. Errors wrap
// ErrInvalid.
func parsePairRow(data []byte) (pairRow, error) {
	var raw rawPairRow
	if err := json.Unmarshal(data, &raw); err != nil {
		return pairRow{}, fmt.Errorf("invalid JSON object: %v: %w", err, ErrInvalid)
	}
	msgs, err := parseMessages(raw.Prompt, "prompt")
	if err != nil {
		return pairRow{}, err
	}
	if len(msgs) == 0 {
		return pairRow{}, fmt.Errorf("prompt has no messages: %w", ErrInvalid)
	}
	for i, m := range msgs {
		if !validRole(m.Role) {
			return pairRow{}, fmt.Errorf("prompt message %d has role %q, want system, user or assistant: %w", i, m.Role, ErrInvalid)
		}
	}
	if raw.Iteration < 0 {
		return pairRow{}, fmt.Errorf("iteration %d < 0: %w", raw.Iteration, ErrInvalid)
	}
	chat := bytes.TrimSpace(raw.Prompt)[0] == '['
	row := pairRow{pair: Pair{
		Prompt:    Prompt{ID: raw.PromptID, Messages: msgs},
		Iteration: raw.Iteration,
		Source:    raw.Source,
	}}
	hasPaired := raw.Chosen != nil || raw.Rejected != nil
	hasKTO := raw.Completion != nil || raw.Label != nil
	switch {
	case hasPaired && hasKTO:
		return pairRow{}, fmt.Errorf("row has both chosen/rejected and completion/label: %w", ErrInvalid)
	case hasPaired:
		row.paired = true
		if row.pair.Chosen.Text, err = parseCompletion(raw.Chosen, "chosen", chat); err != nil {
			return pairRow{}, err
		}
		if row.pair.Rejected.Text, err = parseCompletion(raw.Rejected, "rejected", chat); err != nil {
			return pairRow{}, err
		}
		row.pair.ScoreChosen, row.pair.ScoreRejected = raw.ScoreChosen, raw.ScoreRejected
	case hasKTO:
		if raw.Label == nil {
			return pairRow{}, fmt.Errorf(`missing "label": %w`, ErrInvalid)
		}
		row.label = *raw.Label
		if row.pair.Chosen.Text, err = parseCompletion(raw.Completion, "completion", chat); err != nil {
			return pairRow{}, err
		}
		row.pair.ScoreChosen = raw.Score
	default:
		return pairRow{}, fmt.Errorf(`row has neither "chosen" and "rejected" nor "completion" and "label": %w`, ErrInvalid)
	}
	return row, nil
}

// parseCompletion reads a response field: a string when the prompt is a
// string, a one-message assistant list when it is a message list.
func parseCompletion(raw json.RawMessage, field string, chat bool) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("missing %q: %w", field, ErrInvalid)
	}
	if !chat {
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return "", fmt.Errorf("%q must be a string when the prompt is one: %w", field, ErrInvalid)
		}
		return s, nil
	}
	var ms []Message
	if raw[0] != '[' || json.Unmarshal(raw, &ms) != nil {
		return "", fmt.Errorf("%q must be a list of messages when the prompt is one: %w", field, ErrInvalid)
	}
	if len(ms) != 1 || ms[0].Role != RoleAssistant {
		return "", fmt.Errorf("%q must hold exactly one assistant message, has %d messages: %w", field, len(ms), ErrInvalid)
	}
	return ms[0].Content, nil
}

// joinKTO makes a pair of a chosen row (from line at) and the rejected row
// after it.
func joinKTO(c, r *pairRow, at int) (Pair, error) {
	p, q := c.pair, r.pair
	if p.Prompt.ID != q.Prompt.ID || p.Iteration != q.Iteration || p.Source != q.Source || !slices.Equal(p.Prompt.Messages, q.Prompt.Messages) {
		return Pair{}, fmt.Errorf("rejected row is not about the prompt of the chosen row on line %d (prompt_id %q, iteration %d, source %q): %w",
			at, p.Prompt.ID, p.Iteration, p.Source, ErrInvalid)
	}
	p.Rejected, p.ScoreRejected = q.Chosen, q.ScoreChosen
	return p, nil
}
