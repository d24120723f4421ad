package alignment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
)

// Preference files: one JSON object per line, in the formats TRL's trainers
// and OpenRLHF read without conversion. The JSONL sink's doc describes
// them; ReadPairs reads them back.

// appendPair appends p as one paired row, newline included, in the
// standard (string) form if std and in the conversational form otherwise.
// It validates p first and appends nothing when p is invalid.
func appendPair(b []byte, p *Pair, std bool) ([]byte, error) {
	if err := checkPair(p, std); err != nil {
		return b, err
	}
	b = append(b, `{"prompt":`...)
	b = appendPrompt(b, p.Prompt, std)
	b = append(b, `,"chosen":`...)
	b = appendCompletion(b, p.Chosen.Text, std)
	b = append(b, `,"rejected":`...)
	b = appendCompletion(b, p.Rejected.Text, std)
	b = appendMeta(b, p)
	if p.Scored {
		b = append(b, `,"score_chosen":`...)
		b = appendFloat(b, p.ScoreChosen)
		b = append(b, `,"score_rejected":`...)
		b = appendFloat(b, p.ScoreRejected)
	}
	b = append(b, `,"source":`...)
	b = appendString(b, p.Source)
	return append(b, "}\n"...), nil
}

// appendKTO appends p as two unpaired rows, the chosen one first, in the
// form std selects, and returns the offset in b at which the second row
// starts. It validates p first and appends nothing when p is invalid.
func appendKTO(b []byte, p *Pair, std bool) ([]byte, int, error) {
	if err := checkPair(p, std); err != nil {
		return b, len(b), err
	}
	second := 0
	for i, row := range [2]struct {
		text  string
		label bool
		score float64
	}{{p.Chosen.Text, true, p.ScoreChosen}, {p.Rejected.Text, false, p.ScoreRejected}} {
		if i == 1 {
			second = len(b)
		}
		b = append(b, `{"prompt":`...)
		b = appendPrompt(b, p.Prompt, std)
		b = append(b, `,"completion":`...)
		b = appendCompletion(b, row.text, std)
		b = append(b, `,"label":`...)
		b = strconv.AppendBool(b, row.label)
		b = appendMeta(b, p)
		if p.Scored {
			b = append(b, `,"score":`...)
			b = appendFloat(b, row.score)
		}
		b = append(b, `,"source":`...)
		b = appendString(b, p.Source)
		b = append(b, "}\n"...)
	}
	return b, second, nil
}

// checkPair reports what makes p impossible to write faithfully in the
// form std selects.
func checkPair(p *Pair, std bool) error {
	if len(p.Prompt.Messages) == 0 {
		return fmt.Errorf("prompt %q has no messages: %w", p.Prompt.ID, ErrInvalid)
	}
	for i, m := range p.Prompt.Messages {
		if !validRole(m.Role) {
			return fmt.Errorf("prompt %q: message %d has role %q, want system, user or assistant: %w", p.Prompt.ID, i, m.Role, ErrInvalid)
		}
	}
	if std && (len(p.Prompt.Messages) != 1 || p.Prompt.Messages[0].Role != RoleUser) {
		return fmt.Errorf("prompt %q has %d messages (%s), but the standard form holds one user message; write this file in the conversational form: %w",
			p.Prompt.ID, len(p.Prompt.Messages), roles(p.Prompt.Messages), ErrInvalid)
	}
	if p.Iteration < 0 {
		return fmt.Errorf("prompt %q: iteration %d < 0: %w", p.Prompt.ID, p.Iteration, ErrInvalid)
	}
	if !p.Scored && (p.ScoreChosen != 0 || p.ScoreRejected != 0) {
		return fmt.Errorf("prompt %q: scores %v and %v are set but Scored is false; set Scored if they are the judge's scores, or clear them: %w",
			p.Prompt.ID, p.ScoreChosen, p.ScoreRejected, ErrInvalid)
	}
	if !(p.Prob >= 0 && p.Prob <= 1) {
		return fmt.Errorf("prompt %q: chosen_prob (Pair.Prob) is %v, want a probability in (0, 1], or 0 for none: %w", p.Prompt.ID, p.Prob, ErrInvalid)
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

// roles lists the roles of ms, for errors: "system, user".
func roles(ms []Message) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.Role)
	}
	return b.String()
}

func appendPrompt(b []byte, p Prompt, std bool) []byte {
	if std {
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

func appendCompletion(b []byte, text string, std bool) []byte {
	if std {
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
	b = strconv.AppendInt(b, int64(p.Iteration), 10)
	if p.Prob != 0 {
		b = append(b, `,"chosen_prob":`...)
		b = appendFloat(b, p.Prob)
	}
	return b
}

// ReadPairs reads a preference file, paired or KTO, as a JSONL sink
// writes it or as TRL's datasets hold it, and yields its pairs. It stops
// at the first error, a *LineError naming the line: a malformed line wraps
// ErrInvalid, and a last line without its newline (a write cut short by a
// crash) wraps ErrTorn, so that a resuming run can truncate the file to the
// error's Offset. Lines holding only white space are skipped, as is a
// UTF-8 byte order mark at the start.
//
// "prompt", "chosen" and "rejected" (or "completion" and "label") are
// read in either form: strings (the standard form) or message lists (the
// conversational form), one form per file, and one kind of row (paired or
// unpaired) per file; a file that mixes them is refused, as TRL decides
// how to tokenize a file from its first row. A paired row without
// "prompt" has TRL's implicit prompt (trl.data_utils.extract_prompt): the
// prompt is what "chosen" and "rejected" share, and each keeps the one
// assistant turn after it. Message lists share their leading messages;
// strings in Anthropic's hh-rlhf transcript form ("\n\nHuman: ...
// \n\nAssistant: ...") are read as the conversations they spell; other
// strings share their longest common prefix, less a final space, as TRL
// cuts them.
//
// "prompt_id", "iteration" and "source" default to zero values, so files
// written by other tools can be read too. "score_chosen" and
// "score_rejected" come together or not at all; when they are there the
// pair is Scored. Unpaired rows are joined into pairs by prompt_id,
// iteration, source and prompt: the n-th row with label true of such a
// prompt with its n-th row with label false, wherever they are in the file
// (a JSONL sink spreads them, see JSONL). Pairs are yielded in the order
// their second rows appear, and a row left without its partner at the end
// of the file is an error. Responses get only their Text back.
func ReadPairs(r io.Reader) iter.Seq2[Pair, error] {
	return func(yield func(Pair, error) bool) {
		lr := newLineReader(r)
		var (
			first    int  // line of the first row
			firstStd bool // whether it is in the standard form
			firstKTO bool // whether it is unpaired
			waiting  = map[string][]ktoHalf{}
			unpaired int // rows in waiting
		)
		for {
			line, terminated, err := lr.next()
			if err == io.EOF {
				if unpaired > 0 {
					yield(Pair{}, oldestUnpaired(waiting))
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
			if first == 0 && isArray(line) {
				yield(Pair{}, lr.lineErr("", errArray))
				return
			}
			row, err := parsePairRow(line)
			if err != nil {
				yield(Pair{}, lr.lineErr("", err))
				return
			}
			if first == 0 {
				first, firstStd, firstKTO = lr.line, row.std, !row.paired
			}
			if row.std != firstStd {
				yield(Pair{}, lr.lineErr("", fmt.Errorf("row in the %s form after line %d's row in the %s form; a file holds one form: %w",
					formName(row.std), first, formName(firstStd), ErrInvalid)))
				return
			}
			if row.paired == firstKTO {
				yield(Pair{}, lr.lineErr("", fmt.Errorf("%s row after line %d's %s row; a file holds one kind of row: %w",
					kindName(row.paired), first, kindName(!row.paired), ErrInvalid)))
				return
			}
			if row.paired {
				if !yield(row.pair, nil) {
					return
				}
				continue
			}
			key := row.key()
			q := waiting[key]
			if len(q) == 0 || q[0].row.label == row.label {
				waiting[key] = append(q, ktoHalf{row, lr.line})
				unpaired++
				continue
			}
			other := q[0].row
			if len(q) == 1 {
				delete(waiting, key)
			} else {
				waiting[key] = q[1:]
			}
			unpaired--
			c, rj := &other, &row
			if row.label {
				c, rj = rj, c
			}
			p := c.pair
			p.Rejected, p.ScoreRejected = rj.pair.Chosen, rj.pair.ScoreChosen
			if c.pair.Prob != rj.pair.Prob {
				yield(Pair{}, lr.lineErr("", fmt.Errorf(`row has "chosen_prob" %v but its partner on line %d has %v: %w`, row.pair.Prob, q[0].line, other.pair.Prob, ErrInvalid)))
				return
			}
			if c.pair.Scored != rj.pair.Scored {
				why := `row has no "score" but its partner on line %d has one: %w`
				if row.pair.Scored {
					why = `row has a "score" but its partner on line %d has none: %w`
				}
				yield(Pair{}, lr.lineErr("", fmt.Errorf(why, q[0].line, ErrInvalid)))
				return
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// errArray is the error for a file that holds a JSON array.
var errArray = fmt.Errorf("this is a JSON array, not JSON Lines (one JSON object per line); convert it with: jq -c '.[]' file.json > file.jsonl: %w", ErrInvalid)

// isArray reports whether a line starts a JSON array.
func isArray(line []byte) bool {
	line = bytes.TrimLeft(line, " \t\r")
	return len(line) > 0 && line[0] == '['
}

func formName(std bool) string {
	if std {
		return "standard (string)"
	}
	return "conversational (message list)"
}

func kindName(paired bool) string {
	if paired {
		return "paired (chosen/rejected)"
	}
	return "unpaired (completion/label)"
}

// ktoHalf is an unpaired row waiting for its partner, and its line.
type ktoHalf struct {
	row  pairRow
	line int
}

// oldestUnpaired names the earliest row of waiting.
func oldestUnpaired(waiting map[string][]ktoHalf) error {
	var h *ktoHalf
	for _, q := range waiting {
		if h == nil || q[0].line < h.line {
			h = &q[0]
		}
	}
	return &LineError{Line: h.line, Err: fmt.Errorf("unpaired row with label %t has no row with label %t for the same prompt_id %q, iteration %d, source and prompt: %w",
		h.row.label, !h.row.label, h.row.pair.Prompt.ID, h.row.pair.Iteration, ErrInvalid)}
}

// pairRow is one parsed line of a preference file. For an unpaired row,
// pair.Chosen holds the completion and pair.ScoreChosen the score.
type pairRow struct {
	pair   Pair
	paired bool
	label  bool
	std    bool // the row is in the standard (string) form
}

// key identifies the prompt of an unpaired row, for joining it with its
// partner.
func (r *pairRow) key() string {
	p := &r.pair
	b := appendString(nil, p.Prompt.ID)
	b = strconv.AppendInt(b, int64(p.Iteration), 10)
	b = appendString(b, p.Source)
	return string(appendPrompt(b, p.Prompt, false))
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
	ScoreChosen   *float64        `json:"score_chosen"`
	ScoreRejected *float64        `json:"score_rejected"`
	Score         *float64        `json:"score"`
	ChosenProb    *float64        `json:"chosen_prob"`
	Source        string          `json:"source"`
}

// parsePairRow parses one non-blank line of a preference file. Errors wrap
// ErrInvalid.
func parsePairRow(data []byte) (pairRow, error) {
	var raw rawPairRow
	if err := json.Unmarshal(data, &raw); err != nil {
		return pairRow{}, fmt.Errorf("invalid JSON object: %v: %w", jsonMsg(err), ErrInvalid)
	}
	if raw.Iteration < 0 {
		return pairRow{}, fmt.Errorf("iteration %d < 0: %w", raw.Iteration, ErrInvalid)
	}
	row := pairRow{pair: Pair{Prompt: Prompt{ID: raw.PromptID}, Iteration: raw.Iteration, Source: raw.Source}}
	if raw.ChosenProb != nil {
		if v := *raw.ChosenProb; !(v > 0 && v <= 1) {
			return pairRow{}, fmt.Errorf(`"chosen_prob" is %v, want a probability in (0, 1]: %w`, v, ErrInvalid)
		}
		row.pair.Prob = *raw.ChosenProb
	}
	hasPaired := raw.Chosen != nil || raw.Rejected != nil
	hasKTO := raw.Completion != nil || raw.Label != nil
	switch {
	case hasPaired && hasKTO:
		return pairRow{}, fmt.Errorf("row has both chosen/rejected and completion/label: %w", ErrInvalid)
	case hasPaired:
		row.paired = true
		if (raw.ScoreChosen == nil) != (raw.ScoreRejected == nil) {
			return pairRow{}, fmt.Errorf(`row has only one of "score_chosen" and "score_rejected": %w`, ErrInvalid)
		}
		if raw.ScoreChosen != nil {
			row.pair.ScoreChosen, row.pair.ScoreRejected, row.pair.Scored = *raw.ScoreChosen, *raw.ScoreRejected, true
		}
		if isNull(raw.Prompt) {
			msgs, c, r, std, err := implicitPrompt(raw.Chosen, raw.Rejected)
			if err != nil {
				return pairRow{}, err
			}
			row.pair.Prompt.Messages, row.pair.Chosen.Text, row.pair.Rejected.Text, row.std = msgs, c, r, std
			return row, checkRoles(msgs)
		}
		msgs, std, err := parsePairPrompt(raw.Prompt)
		if err != nil {
			return pairRow{}, err
		}
		row.pair.Prompt.Messages, row.std = msgs, std
		if row.pair.Chosen.Text, err = parseCompletion(raw.Chosen, "chosen", std); err != nil {
			return pairRow{}, err
		}
		if row.pair.Rejected.Text, err = parseCompletion(raw.Rejected, "rejected", std); err != nil {
			return pairRow{}, err
		}
	case hasKTO:
		if raw.Label == nil {
			return pairRow{}, fmt.Errorf(`missing "label": %w`, ErrInvalid)
		}
		row.label = *raw.Label
		msgs, std, err := parsePairPrompt(raw.Prompt)
		if err != nil {
			return pairRow{}, err
		}
		row.pair.Prompt.Messages, row.std = msgs, std
		if row.pair.Chosen.Text, err = parseCompletion(raw.Completion, "completion", std); err != nil {
			return pairRow{}, err
		}
		if raw.Score != nil {
			row.pair.ScoreChosen, row.pair.Scored = *raw.Score, true
		}
	default:
		return pairRow{}, fmt.Errorf(`row has neither "chosen" and "rejected" nor "completion" and "label": %w`, ErrInvalid)
	}
	return row, nil
}

// parsePairPrompt reads the "prompt" of a preference row and reports
// whether it is in the standard form.
func parsePairPrompt(raw json.RawMessage) ([]Message, bool, error) {
	msgs, err := parseMessages(raw, "prompt")
	if err != nil {
		return nil, false, err
	}
	if err := checkRoles(msgs); err != nil {
		return nil, false, err
	}
	return msgs, bytes.TrimSpace(raw)[0] == '"', nil
}

// checkRoles checks the messages of a preference row's prompt.
func checkRoles(msgs []Message) error {
	if len(msgs) == 0 {
		return fmt.Errorf("prompt has no messages: %w", ErrInvalid)
	}
	for i, m := range msgs {
		if !validRole(m.Role) {
			return fmt.Errorf("prompt message %d has role %q, want system, user or assistant: %w", i, m.Role, ErrInvalid)
		}
	}
	return nil
}

// parseCompletion reads a response field: a string when the prompt is a
// string, a one-message assistant list when it is a message list.
func parseCompletion(raw json.RawMessage, field string, std bool) (string, error) {
	if isNull(raw) {
		return "", fmt.Errorf("missing %q: %w", field, ErrInvalid)
	}
	raw = bytes.TrimSpace(raw)
	if std {
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return "", fmt.Errorf("%q must be a string when the prompt is one: %w", field, ErrInvalid)
		}
		return s, nil
	}
	if raw[0] != '[' {
		return "", fmt.Errorf("%q must be a list of messages when the prompt is one: %w", field, ErrInvalid)
	}
	ms, err := parseMessages(raw, field)
	if err != nil {
		return "", err
	}
	if len(ms) != 1 || ms[0].Role != RoleAssistant {
		return "", fmt.Errorf("%q must hold exactly one assistant message, has %d messages: %w", field, len(ms), ErrInvalid)
	}
	return ms[0].Content, nil
}
