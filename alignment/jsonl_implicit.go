package alignment

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Preference data with an implicit prompt: "chosen" and "rejected" each
// hold the whole conversation, and the prompt is the part they share, as
// TRL's extract_prompt (trl/data_utils.py) reads it. Anthropic's hh-rlhf
// is the best known such set; its conversations are strings in the form
// "\n\nHuman: ...\n\nAssistant: ...".

// Turn markers of hh-rlhf transcripts.
const (
	humanMark     = "\n\nHuman:"
	assistantMark = "\n\nAssistant:"
)

// implicitPrompt splits the "chosen" and "rejected" fields of a row
// without "prompt" into the shared prompt and the two responses, and
// reports whether the fields are strings (the standard form). Errors wrap
// ErrInvalid.
func implicitPrompt(chosen, rejected json.RawMessage) (prompt []Message, c, r string, std bool, err error) {
	switch {
	case isNull(chosen):
		return nil, "", "", false, fmt.Errorf(`missing "prompt", and "chosen" too: %w`, ErrInvalid)
	case isNull(rejected):
		return nil, "", "", false, fmt.Errorf(`missing "prompt", and "rejected" too: %w`, ErrInvalid)
	}
	cm, cstd, err := conversation(chosen, "chosen")
	if err != nil {
		return nil, "", "", false, err
	}
	rm, rstd, err := conversation(rejected, "rejected")
	if err != nil {
		return nil, "", "", false, err
	}
	if cstd != rstd {
		return nil, "", "", false, fmt.Errorf(`"chosen" and "rejected" must both be strings or both be lists of messages: %w`, ErrInvalid)
	}
	if cm == nil || rm == nil {
		// Plain strings: TRL's longest common prefix.
		var cs, rs string
		if err := json.Unmarshal(chosen, &cs); err != nil {
			return nil, "", "", false, fmt.Errorf("chosen: %v: %w", jsonMsg(err), ErrInvalid)
		}
		if err := json.Unmarshal(rejected, &rs); err != nil {
			return nil, "", "", false, fmt.Errorf("rejected: %v: %w", jsonMsg(err), ErrInvalid)
		}
		p, err := commonPrefix(cs, rs)
		if err != nil {
			return nil, "", "", false, err
		}
		return []Message{{Role: RoleUser, Content: p}}, cs[len(p):], rs[len(p):], true, nil
	}
	n := 0
	for n < len(cm) && n < len(rm) && cm[n] == rm[n] {
		n++
	}
	if n == 0 {
		return nil, "", "", false, fmt.Errorf(`missing "prompt", and "chosen" and "rejected" share no leading message to take it from: %w`, ErrInvalid)
	}
	for _, s := range [2]struct {
		name string
		rest []Message
	}{{"chosen", cm[n:]}, {"rejected", rm[n:]}} {
		if len(s.rest) != 1 || s.rest[0].Role != RoleAssistant {
			return nil, "", "", false, fmt.Errorf(`missing "prompt", and %q has %d messages after the prompt it shares, want one assistant message: %w`, s.name, len(s.rest), ErrInvalid)
		}
	}
	return cm[:n], cm[n].Content, rm[n].Content, cstd, nil
}

// conversation reads a "chosen" or "rejected" field holding a whole
// conversation: a list of messages, or a string, which is a conversation
// when it is an hh-rlhf transcript. It returns nil messages for another
// string, and reports whether the field is a string.
func conversation(raw json.RawMessage, field string) ([]Message, bool, error) {
	if r := strings.TrimSpace(string(raw)); r != "" && r[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, true, fmt.Errorf("%s: %v: %w", field, jsonMsg(err), ErrInvalid)
		}
		return transcript(s), true, nil
	}
	ms, err := parseMessages(raw, field)
	return ms, false, err
}

// transcript parses an hh-rlhf transcript into its messages, or returns
// nil when s is not one: it must start with a Human turn, each turn
// starting with "\n\nHuman:" or "\n\nAssistant:" and one optional space.
func transcript(s string) []Message {
	if !strings.HasPrefix(s, humanMark) {
		return nil
	}
	var ms []Message
	for s != "" {
		role, mark := RoleUser, humanMark
		if strings.HasPrefix(s, assistantMark) {
			role, mark = RoleAssistant, assistantMark
		} else if !strings.HasPrefix(s, humanMark) {
			return nil
		}
		s = strings.TrimPrefix(s[len(mark):], " ")
		end := len(s)
		for _, m := range [2]string{humanMark, assistantMark} {
			if i := strings.Index(s, m); i >= 0 && i < end {
				end = i
			}
		}
		ms = append(ms, Message{Role: role, Content: s[:end]})
		s = s[end:]
	}
	return ms
}

// commonPrefix returns the prompt TRL's extract_prompt takes from two plain
// strings: their longest common prefix, less a final space, cut at a
// character boundary. It fails when the strings do not differ after it or
// share nothing.
func commonPrefix(c, r string) (string, error) {
	n := 0
	for n < len(c) && n < len(r) && c[n] == r[n] {
		n++
	}
	if n == len(c) || n == len(r) {
		return "", fmt.Errorf(`missing "prompt", and one of "chosen" and "rejected" starts with the whole other, so no prompt can be told from the responses: %w`, ErrInvalid)
	}
	for n > 0 && !utf8.RuneStart(c[n]) {
		n--
	}
	if n > 0 && c[n-1] == ' ' {
		n--
	}
	if n == 0 || strings.TrimSpace(c[:n]) == "" {
		return "", fmt.Errorf(`missing "prompt", and "chosen" and "rejected" share no prefix to take it from: %w`, ErrInvalid)
	}
	return c[:n], nil
}
