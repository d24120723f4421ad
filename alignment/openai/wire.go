package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/selfalign/selfalign/alignment"
)

// chatRequest is the body of POST /chat/completions. Temperature is a
// pointer and seed has no omitempty: 0 is a meaningful value for both and
// must reach the server (a dropped temperature means the server's default,
// often 0.7 or 1); temperature is left out only for a model that refuses
// any but its default.
type chatRequest struct {
	Model               string              `json:"model"`
	Messages            []alignment.Message `json:"messages"`
	N                   int                 `json:"n,omitempty"`
	Temperature         *float64            `json:"temperature,omitempty"`
	TopP                float64             `json:"top_p,omitempty"`
	MaxTokens           int                 `json:"max_tokens,omitempty"`
	MaxCompletionTokens int                 `json:"max_completion_tokens,omitempty"`
	Stop                []string            `json:"stop,omitempty"`
	Seed                int64               `json:"seed"`
	LogProbs            bool                `json:"logprobs,omitempty"`
	TopLogProbs         int                 `json:"top_logprobs,omitempty"`
}

// completionRequest is the body of POST /completions as the Scorer sends it.
type completionRequest struct {
	Model       string  `json:"model"`
	Prompt      string  `json:"prompt"`
	Echo        bool    `json:"echo"`
	MaxTokens   int     `json:"max_tokens"`
	LogProbs    int     `json:"logprobs"`
	Temperature float64 `json:"temperature"`
}

// reserved lists the body fields the Policy sets itself; SampleOptions.Extra
// may not name them, so that Extra can never silently override n, the
// temperature or the model, nor switch on streaming, which this client
// does not parse.
var reserved = map[string]bool{
	"model": true, "messages": true, "n": true, "temperature": true,
	"top_p": true, "max_tokens": true, "max_completion_tokens": true,
	"stop": true, "seed": true, "logprobs": true, "top_logprobs": true,
	"stream": true, "stream_options": true, "echo": true, "prompt": true,
}

// seedMask keeps the 31 low bits of a seed: every server accepts that range
// (llama.cpp reads a 32-bit unsigned seed where 0xFFFFFFFF means "random";
// vLLM and Ollama reject values past int64).
const seedMask = 1<<31 - 1

// encodeExtra renders the Extra fields as JSON members in sorted key order
// (so that bodies are byte-for-byte repeatable), checking for collisions
// with reserved fields.
func encodeExtra(extra map[string]any) ([]byte, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for _, k := range keys {
		if reserved[k] {
			return nil, fmt.Errorf("openai: SampleOptions.Extra[%q] names a field the policy sets itself: %w", k, alignment.ErrInvalid)
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, fmt.Errorf("openai: SampleOptions.Extra key %q: %v: %w", k, err, alignment.ErrInvalid)
		}
		vb, err := json.Marshal(extra[k])
		if err != nil {
			return nil, fmt.Errorf("openai: SampleOptions.Extra[%q]: %v: %w", k, err, alignment.ErrInvalid)
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	return b.Bytes(), nil
}

// withExtra splices the pre-encoded extra members into the JSON object body.
func withExtra(body, extra []byte) []byte {
	if len(extra) == 0 {
		return body
	}
	out := make([]byte, 0, len(body)+len(extra))
	out = append(out, body[:len(body)-1]...)
	out = append(out, extra...)
	return append(out, '}')
}

// chatResponse is the part of a chat completion this client reads. Pointers
// tell a missing or null field from a zero one.
type chatResponse struct {
	Choices []chatChoice    `json:"choices"`
	Usage   *usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chatChoice struct {
	Index        *int         `json:"index"`
	Message      *chatMessage `json:"message"`
	FinishReason *string      `json:"finish_reason"`
	LogProbs     *struct {
		Content *[]tokenLogProb `json:"content"`
	} `json:"logprobs"`
}

// chatMessage is a choice's message. Thinking models served with a
// reasoning parser put their reasoning beside the answer: vLLM, SGLang and
// llama.cpp's server in reasoning_content (vLLM ≥ 0.10 also in reasoning),
// Ollama's /v1 in reasoning.
type chatMessage struct {
	Content          *string `json:"content"`
	Refusal          *string `json:"refusal"`
	ReasoningContent *string `json:"reasoning_content"`
	Reasoning        *string `json:"reasoning"`
}

// reasoning returns the length in bytes of the reasoning m carries.
func (m *chatMessage) reasoning() int {
	n := 0
	for _, r := range []*string{m.ReasoningContent, m.Reasoning} {
		if r != nil {
			n = max(n, len(*r))
		}
	}
	return n
}

// ErrNoAnswer says a chat completion came back without an answer: its
// content is empty, or only the start of a <think> block the model did not
// close, typically because a thinking model spent its whole token budget
// on reasoning (finish_reason "length", the reasoning in reasoning_content)
// or stopped without answering. Generate fails rather than return an empty
// response that would be judged and paired as if it were one. It is not
// transient: raise SampleOptions.MaxTokens, or turn thinking off with
// Options.ChatTemplateKwargs (enable_thinking: false for Qwen3 and others).
var ErrNoAnswer = errors.New("no answer")

// noAnswer reports whether a message's text holds no answer.
func noAnswer(text string) bool {
	t := strings.TrimSpace(text)
	return t == "" || strings.HasPrefix(t, "<think>") && !strings.Contains(t, "</think>")
}

type tokenLogProb struct {
	Token       string         `json:"token"`
	LogProb     float64        `json:"logprob"`
	TopLogProbs []tokenLogProb `json:"top_logprobs"`
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// parseChat turns a chat completion body into responses, in choice index
// order. asked is the n that was sent: more choices than that is an error,
// never a silent truncation. It also returns the usage the server reported.
func parseChat(body []byte, asked int, source string) ([]alignment.Response, usage, error) {
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, usage{}, fmt.Errorf("openai: chat completion is not valid JSON (%v; body starts %q): %w", err, truncate(string(body), 80), ErrMalformed)
	}
	var u usage
	if cr.Usage != nil {
		u = *cr.Usage
		if u.PromptTokens < 0 || u.CompletionTokens < 0 {
			return nil, usage{}, fmt.Errorf("openai: chat completion reports negative usage (%d prompt, %d completion tokens): %w", u.PromptTokens, u.CompletionTokens, ErrMalformed)
		}
	}
	if len(cr.Choices) == 0 {
		if msg := errorMessage(body); msg != "" && len(cr.Error) > 0 {
			return nil, u, fmt.Errorf("openai: chat completion has no choices, only an error: %s: %w", truncate(msg, maxMessage), ErrMalformed)
		}
		return nil, u, fmt.Errorf("openai: chat completion has an empty choices list: %w", ErrMalformed)
	}
	if len(cr.Choices) > asked {
		return nil, u, fmt.Errorf("openai: chat completion has %d choices, asked for %d: %w", len(cr.Choices), asked, ErrMalformed)
	}
	choices := orderByIndex(cr.Choices)
	out := make([]alignment.Response, len(choices))
	for i, c := range choices {
		if c.Message == nil {
			return nil, u, fmt.Errorf("openai: chat completion choice %d has no message: %w", i, ErrMalformed)
		}
		r := alignment.Response{Source: source}
		switch {
		case c.Message.Content != nil && *c.Message.Content != "":
			r.Text = *c.Message.Content
		case c.Message.Refusal != nil:
			r.Text = *c.Message.Refusal
		}
		if c.FinishReason != nil {
			r.FinishReason = *c.FinishReason
		}
		if noAnswer(r.Text) {
			return nil, u, fmt.Errorf("openai: chat completion choice %d has no answer (finish_reason %q, %d bytes of reasoning, content %q): raise SampleOptions.MaxTokens or turn thinking off (Options.ChatTemplateKwargs): %w",
				i, r.FinishReason, c.Message.reasoning(), truncate(r.Text, 40), ErrNoAnswer)
		}
		if c.LogProbs != nil && c.LogProbs.Content != nil {
			content := *c.LogProbs.Content
			r.TokenLogProbs = make([]alignment.TokenLogProb, len(content))
			for j, t := range content {
				r.TokenLogProbs[j] = alignment.TokenLogProb{Token: t.Token, LogProb: t.LogProb}
				r.LogProb += t.LogProb
				if len(t.TopLogProbs) > 0 {
					top := make([]alignment.TokenLogProb, len(t.TopLogProbs))
					for k, a := range t.TopLogProbs {
						top[k] = alignment.TokenLogProb{Token: a.Token, LogProb: a.LogProb}
					}
					r.TokenLogProbs[j].Top = top
				}
			}
			if math.IsInf(r.LogProb, 0) {
				return nil, u, fmt.Errorf("openai: chat completion choice %d: log-probabilities sum to %v: %w", i, r.LogProb, ErrMalformed)
			}
			r.HasLogProb = true
			r.Tokens = len(content)
		}
		out[i] = r
	}
	if len(out) == 1 && cr.Usage != nil {
		out[0].Tokens = int(u.CompletionTokens)
	}
	return out, u, nil
}

// orderByIndex sorts choices by their index when the indices are a
// permutation of 0..n-1, and keeps the server's order otherwise (Ollama and
// some proxies number every choice 0).
func orderByIndex(cs []chatChoice) []chatChoice {
	seen := make([]bool, len(cs))
	for _, c := range cs {
		if c.Index == nil || *c.Index < 0 || *c.Index >= len(cs) || seen[*c.Index] {
			return cs
		}
		seen[*c.Index] = true
	}
	out := make([]chatChoice, len(cs))
	for _, c := range cs {
		out[*c.Index] = c
	}
	return out
}

// completionResponse is the part of a text completion the Scorer reads.
type completionResponse struct {
	Choices []struct {
		Text     *string `json:"text"`
		LogProbs *struct {
			Tokens        []string   `json:"tokens"`
			TokenLogProbs []*float64 `json:"token_logprobs"`
			TextOffset    []int      `json:"text_offset"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

// errEcho says the server answered a completion without echoing the prompt
// with its log-probabilities; the Scorer reports it as ErrUnsupported.
type errEcho struct{ why string }

func (e errEcho) Error() string { return e.why }

// parseEcho sums the log-probabilities of the tokens of an echoed completion
// that start inside the completion, that is at a character offset in
// [start, end) of full, the prompt text and the completion. Offsets count
// Unicode code points.
//
// Where the server returns the tokens' texts (vLLM, SGLang, OpenAI), the
// offsets are rebuilt from them rather than read from text_offset, because
// servers get those wrong: vLLM's prompt log-probabilities start with the
// BOS token the tokenizer added ("<|begin_of_text|>", "<s>"), whose text is
// not in the echoed prompt, yet its offsets count it, so that every offset
// is shifted by the BOS text's length; SGLang reports every offset as -1.
// The tokens must rebuild full exactly, after at most maxSkipped leading
// tokens that are not part of it (the BOS); when they do not, the sum would
// be over the wrong tokens, and parseEcho fails with ErrMalformed. Without
// tokens, the server's text_offset is used and must start at 0. The first
// token of a prompt has no log-probability (null) and is never part of the
// completion, since the rendered prompt is never empty.
func parseEcho(body []byte, full string, start, end int) (float64, int, usage, error) {
	var cr completionResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return 0, 0, usage{}, fmt.Errorf("openai: completion is not valid JSON (%v; body starts %q): %w", err, truncate(string(body), 80), ErrMalformed)
	}
	var u usage
	if cr.Usage != nil {
		u = *cr.Usage
	}
	if len(cr.Choices) != 1 {
		return 0, 0, u, fmt.Errorf("openai: completion has %d choices, asked for 1: %w", len(cr.Choices), ErrMalformed)
	}
	c := cr.Choices[0]
	if c.Text == nil || !strings.HasPrefix(*c.Text, full) {
		return 0, 0, u, errEcho{"the server did not echo the prompt"}
	}
	lp := c.LogProbs
	if lp == nil || lp.TokenLogProbs == nil || (lp.TextOffset == nil && lp.Tokens == nil) {
		return 0, 0, u, errEcho{"the server returned no prompt log-probabilities with their tokens or text offsets"}
	}
	n := len(lp.TokenLogProbs)
	if (lp.TextOffset != nil && len(lp.TextOffset) != n) || (lp.Tokens != nil && len(lp.Tokens) != n) {
		return 0, 0, u, fmt.Errorf("openai: completion log-probabilities have %d offsets, %d log-probabilities and %d tokens: %w", len(lp.TextOffset), n, len(lp.Tokens), ErrMalformed)
	}
	var (
		offsets []int
		first   int // the first token of full
		stop    = n // the first token past full
		err     error
	)
	if lp.Tokens != nil {
		offsets, first, stop, err = rebuildOffsets(lp.Tokens, full)
		if err != nil {
			return 0, 0, u, err
		}
	} else {
		if n == 0 || lp.TextOffset[0] != 0 {
			return 0, 0, u, errEcho{"the log-probabilities do not start at the beginning of the prompt"}
		}
		for i, off := range lp.TextOffset {
			if i > 0 && off < lp.TextOffset[i-1] {
				return 0, 0, u, fmt.Errorf("openai: completion text offset %d (%d) is before offset %d (%d): %w", i, off, i-1, lp.TextOffset[i-1], ErrMalformed)
			}
		}
		offsets = lp.TextOffset
	}
	sum, tokens := 0.0, 0
	for i := first; i < stop; i++ {
		if off := offsets[i]; off < start || off >= end {
			continue
		}
		if lp.TokenLogProbs[i] == nil {
			return 0, 0, u, fmt.Errorf("openai: completion token %d has no log-probability: %w", i, ErrMalformed)
		}
		sum += *lp.TokenLogProbs[i]
		tokens++
	}
	if tokens == 0 && end > start {
		return 0, 0, u, fmt.Errorf("openai: no token starts inside the completion (characters %d to %d of %d); a token straddles the prompt boundary: %w", start, end, utf8.RuneCountInString(full), ErrMalformed)
	}
	if math.IsInf(sum, 0) {
		return 0, 0, u, fmt.Errorf("openai: completion log-probabilities sum to %v: %w", sum, ErrMalformed)
	}
	return sum, tokens, u, nil
}

// maxSkipped bounds the leading tokens of an echo that may be missing from
// the echoed text: a BOS token, twice when a rendered prompt holds the BOS
// text itself and the tokenizer adds another.
const maxSkipped = 2

// rebuildOffsets finds the tokens that spell full, tokens[first:stop],
// skipping at most maxSkipped leading tokens that are not part of it, and
// returns the code-point offset in full of every token (tokens outside
// [first, stop) get -1). It fails with ErrMalformed, naming where, when the
// tokens start spelling full and then part from it, and with errEcho when
// they do not start it at all.
func rebuildOffsets(tokens []string, full string) (offsets []int, first, stop int, err error) {
	bestAt, bestLen := 0, -1
	for skip := 0; skip <= maxSkipped && skip < len(tokens); skip++ {
		pos := 0
		for i := skip; i < len(tokens); i++ {
			if pos == len(full) {
				return spell(tokens, skip, i), skip, i, nil
			}
			t := tokens[i]
			if !strings.HasPrefix(full[pos:], t) {
				if pos > bestLen {
					bestAt, bestLen = i, pos
				}
				break
			}
			pos += len(t)
		}
		if pos == len(full) {
			return spell(tokens, skip, len(tokens)), skip, len(tokens), nil
		}
		if pos > bestLen {
			bestAt, bestLen = len(tokens), pos
		}
	}
	if bestLen <= 0 {
		// Not one token of the prompt: the log-probabilities are those of
		// the generated text only, as servers that ignore echo give them.
		return nil, 0, 0, errEcho{"the log-probabilities do not start at the beginning of the prompt"}
	}
	got := "(none left)"
	if bestAt < len(tokens) {
		got = tokens[bestAt]
	}
	return nil, 0, 0, fmt.Errorf("openai: the server's tokens do not spell the echoed prompt (token %d, %q, where character %d is %q), so their log-probabilities cannot be matched to the completion: %w",
		bestAt, truncate(got, 40), utf8.RuneCountInString(full[:max(bestLen, 0)]), truncate(full[max(bestLen, 0):], 40), ErrMalformed)
}

// spell returns the code-point offsets of tokens[first:stop] laid end to
// end from 0, and -1 for the tokens outside.
func spell(tokens []string, first, stop int) []int {
	offsets := make([]int, len(tokens))
	pos := 0
	for i := range tokens {
		if i < first || i >= stop {
			offsets[i] = -1
			continue
		}
		offsets[i] = pos
		pos += utf8.RuneCountInString(tokens[i])
	}
	return offsets
}

// errorBody covers the error shapes of the servers we talk to: OpenAI,
// llama.cpp, Ollama and vLLM ≥ 0.10.1 send {"error":{"message":...}};
// older vLLM sends {"object":"error","message":...}; Ollama's native API
// and vLLM's auth middleware send {"error":"..."}; FastAPI sends
// {"detail":...}; SGLang's LoRA routes send {"success":false,
// "error_message":...}.
type errorBody struct {
	Error        json.RawMessage `json:"error"`
	Message      *string         `json:"message"`
	ErrorMessage *string         `json:"error_message"`
	Detail       json.RawMessage `json:"detail"`
}

// errorMessage extracts the human-readable message from an error body, or
// returns the body itself, trimmed, when it is not a known JSON shape.
func errorMessage(body []byte) string {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		if len(eb.Error) > 0 {
			var inner struct {
				Message *string `json:"message"`
			}
			if json.Unmarshal(eb.Error, &inner) == nil && inner.Message != nil {
				return strings.TrimSpace(*inner.Message)
			}
			var s string
			if json.Unmarshal(eb.Error, &s) == nil {
				return strings.TrimSpace(s)
			}
		}
		if eb.Message != nil {
			return strings.TrimSpace(*eb.Message)
		}
		if eb.ErrorMessage != nil {
			return strings.TrimSpace(*eb.ErrorMessage)
		}
		if len(eb.Detail) > 0 {
			var s string
			if json.Unmarshal(eb.Detail, &s) == nil {
				return strings.TrimSpace(s)
			}
			return strings.TrimSpace(string(eb.Detail))
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
}

// errorFields reads OpenAI's error.param and error.code (when a string)
// from an error body; empty when absent.
func errorFields(body []byte) (param, code string) {
	var eb struct {
		Error struct {
			Param json.RawMessage `json:"param"`
			Code  json.RawMessage `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) != nil {
		return "", ""
	}
	json.Unmarshal(eb.Error.Param, &param)
	json.Unmarshal(eb.Error.Code, &code)
	return param, code
}

// rejectsN reports whether an error message is a server refusing n > 1:
// llama.cpp says "Only one completion choice is allowed" (with 400 in
// recent builds, 500 in older ones); other servers name the parameter n.
func rejectsN(msg string) bool {
	m := strings.ToLower(msg)
	if strings.Contains(m, "choice") {
		return true
	}
	for i := 0; i < len(m); i++ {
		if m[i] != 'n' {
			continue
		}
		before := i == 0 || !isWordByte(m[i-1])
		after := i+1 == len(m) || !isWordByte(m[i+1])
		if before && after {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
