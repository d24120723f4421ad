// Package openaitest runs fake OpenAI-compatible servers for tests: each
// serves /v1/chat/completions and /v1/completions in the response shape and
// with the quirks of one real server (vLLM, llama.cpp's server, Ollama's
// /v1, OpenAI), with canned or scripted replies and a hook for injecting
// faults. The fake is deterministic: the same requests get the same bytes
// back, apart from the port.
//
// Each also answers GET /v1/models with the served model in its shape.
// The quirks reproduced are the ones a client must handle:
//
//   - vLLM honours n, returns token log-probabilities, and on
//     /v1/completions echoes the prompt with its log-probabilities and text
//     offsets when asked (echo, logprobs), which is how prompt scoring works.
//     With Options.BOS, the prompt's log-probabilities start with the BOS
//     token's text, which the echoed text lacks, and the offsets count it
//     (vllm/entrypoints/openai/serving_completion.py,
//     _create_completion_logprobs: offsets add up len(token) from 0).
//   - SGLang answers as vLLM does, but reports every text_offset as -1
//     (sglang/srt/entrypoints/openai/utils.py, to_openai_style_logprobs:
//     "Not supported yet").
//   - llama.cpp honours n up to its slot count (Options.Slots, -np, 4 by
//     default) and refuses more with 400 "Field 'n': Value must be between 1
//     <= value <= 4, but got 8" (tools/server/server-schema.cpp); it refuses
//     echo with 500 "Only no echo is supported" (a std::runtime_error from
//     tools/server/server-common.cpp, which tools/server/server.cpp's
//     ex_wrapper answers with 500 "server_error"), and serves whatever model
//     is loaded under any name.
//   - Ollama ignores n (one choice comes back) and ignores echo.
//   - OpenAI honours n and log-probabilities; its chat models have no
//     /v1/completions (404 "This is a chat model ...").
//
// With Options.LoRA, a fake also loads trained models at run time, as a
// host does between iterations (see openai.Handoff):
//
//   - vLLM (started with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)
//     answers POST /v1/load_lora_adapter {"lora_name", "lora_path",
//     "load_inplace"} with 200 and the plain text "Success: LoRA adapter
//     '<name>' added successfully.", after which requests may name the
//     adapter as their model and GET /v1/models lists it (owned_by "vllm",
//     root the path, parent the base model). A name already loaded without
//     load_inplace, a missing name or path, or a path that is not a
//     directory get vLLM's 400 or 404 ErrorResponse
//     (vllm/entrypoints/openai/models/serving.py, load_lora_adapter and
//     _check_load_lora_adapter_request; vllm/exceptions.py,
//     LoRAAdapterNotFoundError). Without Options.LoRA the route does not
//     exist: 404 {"detail": "Not Found"}, FastAPI's answer
//     (vllm/entrypoints/serve/lora/api_router.py registers it only when
//     the variable is set). POST /v1/unload_lora_adapter {"lora_name"}
//     answers "Success: LoRA adapter '<name>' removed successfully." or
//     404 "The lora adapter '<name>' cannot be found.". With
//     Options.OldLoRA the fake ignores load_inplace, as vLLM did before
//     it had the field.
//   - SGLang answers POST /load_lora_adapter {"lora_name", "lora_path"}
//     with {"success", "error_message", "loaded_adapters"}, 200 or 400
//     (sglang/srt/entrypoints/http_server.py; LoRAUpdateOutput in
//     sglang/srt/managers/io_struct.py); a loaded adapter is asked for
//     as the model "<base>:<adapter>" (serving_base.py,
//     _parse_model_parameter) and is not listed by /v1/models. A name
//     already loaded gets 400 "LoRA with name <name> already exists. ..."
//     (sglang/srt/lora/lora_registry.py, register); POST
//     /unload_lora_adapter {"lora_name"} removes one. Without
//     Options.LoRA the answer is 400 "LoRA is not enabled. Please set
//     `--enable-lora` to enable LoRA." (tokenizer_manager.py). POST
//     /update_weights_from_disk {"model_path"} replaces the served weights
//     under the same model name whatever Options.LoRA says: 200
//     {"success": true, "message": "Succeeded to update model weights.",
//     "num_paused_requests": 0}, or 400 with success false when the path
//     is not a directory.
//
// Tokens are whitespace-delimited words (a word carries the spaces before
// it, a newline is a token of its own); see Tokenize.
package openaitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/alignment"
)

// Flavor selects which real server a fake imitates.
type Flavor int

// The servers a fake can imitate.
const (
	// VLLM honours n and echo, and returns log-probabilities.
	VLLM Flavor = iota
	// LlamaCpp honours n up to its slots, refuses echo, and ignores model
	// names.
	LlamaCpp
	// Ollama ignores n and echo.
	Ollama
	// OpenAI honours n; its chat models have no /v1/completions.
	OpenAI
	// SGLang honours n and echo, with every text_offset -1.
	SGLang
)

// String returns the flavor's lower-case name.
func (f Flavor) String() string {
	switch f {
	case VLLM:
		return "vllm"
	case LlamaCpp:
		return "llama.cpp"
	case Ollama:
		return "ollama"
	case OpenAI:
		return "openai"
	case SGLang:
		return "sglang"
	}
	return fmt.Sprintf("Flavor(%d)", int(f))
}

// Options configure a fake server. The zero value is a vLLM server that
// serves any model name with canned replies.
type Options struct {
	// Flavor is the server imitated.
	Flavor Flavor
	// Model is the served model name; requests naming another get the
	// flavor's 404 (llama.cpp ignores names, as the real one does). Empty
	// serves any name.
	Model string
	// APIKey, when set, is required as "Authorization: Bearer <APIKey>";
	// other requests get the flavor's 401.
	APIKey string
	// Reply writes the text of choice i of a request, before max_tokens
	// and stop are applied. Nil means CannedReply. It may be called from
	// many goroutines at once.
	Reply func(r Request, i int) string
	// LogProb gives the log-probability of a token. Nil means
	// CannedLogProb.
	LogProb func(token string) float64
	// Think, when set, makes the served model a thinking model: it writes
	// Think's text as reasoning before each answer, within the same
	// max_tokens, and returns it beside the answer as the servers' reasoning
	// parsers do: reasoning_content for vLLM, SGLang and llama.cpp
	// (--reasoning-format deepseek), reasoning for Ollama, hidden by OpenAI.
	// When the reasoning uses up max_tokens, the content is null (vLLM,
	// SGLang, llama.cpp) or empty, with finish_reason "length". A request
	// with chat_template_kwargs {"enable_thinking": false} gets no
	// reasoning, as Qwen3's chat template does.
	Think func(r Request, i int) string
	// ReasoningModel makes an OpenAI fake serve a reasoning model (o1, o3,
	// GPT-5): it refuses max_tokens and any temperature or top_p but the
	// default, with OpenAI's 400 unsupported_parameter / unsupported_value
	// bodies, and takes max_completion_tokens.
	ReasoningModel bool
	// Slots is llama.cpp's -np: the largest n it answers. Default 4.
	Slots int
	// BOS, when set, is the text of a beginning-of-sequence token that
	// vLLM and SGLang put before the prompt's tokens in an echo's
	// log-probabilities (Llama 3's "<|begin_of_text|>", Llama 2's "<s>"):
	// the tokenizer adds it, the prompt text does not hold it.
	BOS string
	// LoRA makes the server load adapters at run time: vLLM's
	// POST /v1/load_lora_adapter, SGLang's POST /load_lora_adapter (see
	// the package doc).
	LoRA bool
	// OldLoRA makes a vLLM fake ignore load_inplace, as vLLM did before
	// it had the field: a name already loaded is refused.
	OldLoRA bool
	// Intercept, when set, sees every request first (its body readable)
	// and may answer it itself, returning true, to inject faults: error
	// statuses, slow or garbage answers, hijacked connections.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
}

// Request is a request as the fake understood it.
type Request struct {
	// Path is the URL path, such as "/v1/chat/completions".
	Path string
	// Model, Messages (chat) and Prompt (completions) are as sent.
	Model    string
	Messages []alignment.Message
	Prompt   string
	// N is the n sent, 0 when absent.
	N int
	// Temperature, TopP and Seed are nil when absent, so tests can tell a
	// dropped 0 from a sent one.
	Temperature, TopP *float64
	Seed              *int64
	// MaxTokens is max_tokens or max_completion_tokens, 0 when absent.
	MaxTokens int
	Stop      []string
	// LogProbs is true when log-probabilities were asked for; TopLogProbs
	// is top_logprobs (chat) or the logprobs count (completions).
	LogProbs    bool
	TopLogProbs int
	Echo        bool
	// Body holds every field of the request body, raw.
	Body map[string]json.RawMessage
}

// Server is a running fake server.
type Server struct {
	srv *httptest.Server
	o   Options

	mu       sync.Mutex
	reqs     []Request
	adapters map[string]string // loaded adapters: name → path
	weights  string            // the path of SGLang's last weights update
}

// NewServer starts a fake server. When t is not nil, the server is closed
// when the test ends; otherwise the caller must call Close.
func NewServer(t testing.TB, o Options) *Server {
	s := &Server{o: o, adapters: map[string]string{}}
	if s.o.Reply == nil {
		s.o.Reply = func(r Request, i int) string { return CannedReply(o.Flavor, r, i) }
	}
	if s.o.LogProb == nil {
		s.o.LogProb = CannedLogProb
	}
	if s.o.Slots == 0 {
		s.o.Slots = 4
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// URL returns the base URL clients use, ending in "/v1".
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Requests returns the requests received so far, in arrival order,
// including those that Intercept answered.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Adapters returns the adapters loaded so far, by name, with their paths.
func (s *Server) Adapters() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.adapters)
}

// Weights returns the model_path of SGLang's last successful
// /update_weights_from_disk, "" when there was none.
func (s *Server) Weights() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.weights
}

// Close shuts the server down, closing client connections.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// CannedReply is the default reply: it names the flavor, the choice, the
// seed and repeats the last user message (or the end of the prompt), so
// that tests can see which request and which draw produced a text.
func CannedReply(f Flavor, r Request, i int) string {
	seed := "none"
	if r.Seed != nil {
		seed = fmt.Sprint(*r.Seed)
	}
	about := alignment.Prompt{Messages: r.Messages}.Text()
	if r.Messages == nil {
		about = "the prompt"
	}
	return fmt.Sprintf("Reply %d from %s (seed %s) to: %s", i, f, seed, about)
}

// CannedLogProb is the default token log-probability: a value in
// [-0.5, -0.125] that depends only on the token's length.
func CannedLogProb(token string) float64 {
	return -float64(utf8.RuneCountInString(strings.TrimSpace(token))%4+1) / 8
}

// Tokenize splits s into the fake's tokens: a newline is a token; any other
// run of white space joins the word after it. Concatenating the tokens gives
// s back.
func Tokenize(s string) []string {
	var out []string
	start := 0
	inWord := false
	for i, r := range s {
		switch {
		case r == '\n':
			if i > start {
				out = append(out, s[start:i])
			}
			out = append(out, "\n")
			start, inWord = i+1, false
		case unicode.IsSpace(r):
			if inWord {
				out = append(out, s[start:i])
				start, inWord = i, false
			}
		default:
			inWord = true
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	req, perr := parseRequest(r.URL.Path, raw)
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if s.o.Intercept != nil && s.o.Intercept(w, r) {
		return
	}
	f := s.o.Flavor
	if s.o.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.o.APIKey {
		s.unauthorized(w)
		return
	}
	if r.URL.Path == "/v1/models" && r.Method == http.MethodGet {
		s.models(w)
		return
	}
	if r.Method == http.MethodPost && s.admin(w, r.URL.Path, raw) {
		return
	}
	if r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/v1/completions" {
		if f == VLLM || f == SGLang {
			writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
			return
		}
		s.fail(w, http.StatusNotFound, "not_found_error", "Not Found")
		return
	}
	if r.Method != http.MethodPost {
		s.fail(w, http.StatusMethodNotAllowed, "invalid_request_error", "Method Not Allowed")
		return
	}
	if perr != nil {
		s.fail(w, http.StatusBadRequest, "invalid_request_error", perr.Error())
		return
	}
	if s.o.Model != "" && req.Model != s.o.Model && f != LlamaCpp && !s.adapterServed(req.Model) {
		s.modelNotFound(w, req.Model)
		return
	}
	if req.Path == "/v1/completions" {
		s.completion(w, req)
		return
	}
	s.chat(w, req)
}

// parseRequest reads the fields the fake understands. A field of the wrong
// type is an error, as in the real servers.
func parseRequest(path string, raw []byte) (Request, error) {
	req := Request{Path: path}
	if err := json.Unmarshal(raw, &req.Body); err != nil {
		return req, fmt.Errorf("request body is not a JSON object: %v", err)
	}
	var typed struct {
		Model               string              `json:"model"`
		Messages            []alignment.Message `json:"messages"`
		Prompt              *string             `json:"prompt"`
		N                   int                 `json:"n"`
		Temperature         *float64            `json:"temperature"`
		TopP                *float64            `json:"top_p"`
		Seed                *int64              `json:"seed"`
		MaxTokens           int                 `json:"max_tokens"`
		MaxCompletionTokens int                 `json:"max_completion_tokens"`
		LogProbs            json.RawMessage     `json:"logprobs"`
		TopLogProbs         int                 `json:"top_logprobs"`
		Echo                bool                `json:"echo"`
	}
	if err := json.Unmarshal(raw, &typed); err != nil {
		return req, fmt.Errorf("invalid request: %v", err)
	}
	req.Model, req.Messages, req.N = typed.Model, typed.Messages, typed.N
	req.Temperature, req.TopP, req.Seed = typed.Temperature, typed.TopP, typed.Seed
	req.MaxTokens = max(typed.MaxTokens, typed.MaxCompletionTokens)
	req.TopLogProbs, req.Echo = typed.TopLogProbs, typed.Echo
	if typed.Prompt != nil {
		req.Prompt = *typed.Prompt
	}
	switch lp := strings.TrimSpace(string(typed.LogProbs)); lp {
	case "", "null", "false", "0":
	case "true":
		req.LogProbs = true
	default:
		var k int
		if err := json.Unmarshal(typed.LogProbs, &k); err != nil {
			return req, fmt.Errorf("invalid logprobs %s", lp)
		}
		req.LogProbs, req.TopLogProbs = true, k
	}
	if stop, ok := req.Body["stop"]; ok {
		var one string
		if json.Unmarshal(stop, &one) == nil {
			req.Stop = []string{one}
		} else if err := json.Unmarshal(stop, &req.Stop); err != nil {
			return req, fmt.Errorf("invalid stop: %v", err)
		}
	}
	if path == "/v1/chat/completions" && len(req.Messages) == 0 {
		return req, fmt.Errorf("messages must be a non-empty list")
	}
	if path == "/v1/completions" && typed.Prompt == nil {
		return req, fmt.Errorf("prompt is required")
	}
	return req, nil
}

// think writes choice i of req as a thinking model does: the reasoning
// (Options.Think) first, then the answer, both within max_tokens. It
// returns the reasoning's tokens, nil when there is none or the request
// turned it off with chat_template_kwargs {"enable_thinking": false}; an
// answer the budget left no room for is empty, with finish_reason "length".
func (s *Server) think(req Request, i int) ([]string, draw) {
	if s.o.Think == nil || !thinkingOn(req) {
		return nil, s.generate(req, i, 0)
	}
	think := Tokenize(s.o.Think(req, i))
	if req.MaxTokens > 0 && len(think) >= req.MaxTokens {
		return think[:req.MaxTokens], draw{finish: "length"}
	}
	if req.MaxTokens > 0 {
		req.MaxTokens -= len(think)
	}
	return think, s.generate(req, i, 0)
}

// thinkingOn reads chat_template_kwargs.enable_thinking, true when absent.
func thinkingOn(req Request) bool {
	var kw struct {
		EnableThinking *bool `json:"enable_thinking"`
	}
	if raw, ok := req.Body["chat_template_kwargs"]; ok && json.Unmarshal(raw, &kw) == nil && kw.EnableThinking != nil {
		return *kw.EnableThinking
	}
	return true
}

// draw is one generated choice.
type draw struct {
	text, finish, stopReason string
	tokens                   []string
}

// generate writes choice i of req: the reply, cut at the first stop string,
// then at max_tokens tokens.
func (s *Server) generate(req Request, i int, defaultMax int) draw {
	d := draw{text: s.o.Reply(req, i), finish: "stop"}
	cut := -1
	for _, st := range req.Stop {
		if k := strings.Index(d.text, st); st != "" && k >= 0 && (cut < 0 || k < cut) {
			cut, d.stopReason = k, st
		}
	}
	if cut >= 0 {
		d.text = d.text[:cut]
	}
	d.tokens = Tokenize(d.text)
	limit := req.MaxTokens
	if limit == 0 {
		limit = defaultMax
	}
	if limit > 0 && len(d.tokens) > limit {
		d.tokens = d.tokens[:limit]
		d.text = strings.Join(d.tokens, "")
		d.finish, d.stopReason = "length", ""
	}
	return d
}

func (s *Server) chat(w http.ResponseWriter, req Request) {
	f := s.o.Flavor
	n := max(req.N, 1)
	if f == OpenAI && s.o.ReasoningModel && !s.reasoningAccepts(w, req) {
		return
	}
	switch f {
	case LlamaCpp:
		if !s.slotsFor(w, req) {
			return
		}
	case Ollama:
		n = 1
	}
	promptTokens := 0
	for _, m := range req.Messages {
		promptTokens += len(Tokenize(m.Content)) + 4
	}
	completionTokens := 0
	choices := make([]any, n)
	for i := range n {
		think, d := s.think(req, i)
		completionTokens += len(think) + len(d.tokens)
		msg := map[string]any{"role": "assistant", "content": d.text}
		if d.text == "" && think != nil && f != Ollama {
			msg["content"] = nil
		}
		choice := map[string]any{"index": i, "message": msg, "finish_reason": d.finish}
		reasoning := any(nil)
		if think != nil {
			reasoning = strings.Join(think, "")
		}
		switch f {
		case VLLM, SGLang, LlamaCpp:
			if reasoning != nil || f != LlamaCpp {
				msg["reasoning_content"] = reasoning
			}
		case Ollama:
			if reasoning != nil {
				msg["reasoning"] = reasoning
			}
		}
		switch f {
		case VLLM, SGLang:
			msg["tool_calls"] = []any{}
			choice["stop_reason"] = nilIfEmpty(d.stopReason)
			choice["logprobs"] = nil
		case OpenAI:
			msg["refusal"] = nil
			msg["annotations"] = []any{}
			choice["logprobs"] = nil
		}
		if req.LogProbs {
			choice["logprobs"] = map[string]any{"content": s.chatLogProbs(d.tokens, req.TopLogProbs)}
		}
		choices[i] = choice
	}
	u := map[string]any{"prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens}
	body := map[string]any{
		"id":      "chatcmpl-" + f.String(),
		"object":  "chat.completion",
		"created": 1735689600,
		"model":   req.Model,
		"choices": choices,
		"usage":   u,
	}
	switch f {
	case VLLM, SGLang:
		body["system_fingerprint"] = nil
		body["prompt_logprobs"] = nil
		u["prompt_tokens_details"] = nil
	case LlamaCpp:
		body["system_fingerprint"] = "b6000-fake"
		body["timings"] = map[string]any{"prompt_n": promptTokens, "prompt_ms": 12.5, "predicted_n": completionTokens, "predicted_ms": 80.0}
	case Ollama:
		body["system_fingerprint"] = "fp_ollama"
	case OpenAI:
		body["system_fingerprint"] = "fp_fake"
		body["service_tier"] = "default"
		u["prompt_tokens_details"] = map[string]any{"cached_tokens": 0, "audio_tokens": 0}
		u["completion_tokens_details"] = map[string]any{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
	}
	writeJSON(w, http.StatusOK, body)
}

// chatLogProbs renders tokens as a chat logprobs.content list.
func (s *Server) chatLogProbs(tokens []string, top int) []any {
	out := make([]any, len(tokens))
	for i, t := range tokens {
		lp := s.o.LogProb(t)
		entry := map[string]any{"token": t, "logprob": lp, "bytes": []byte(t)}
		alts := make([]any, 0, top)
		for k := range top {
			tok := t
			if k > 0 {
				tok = fmt.Sprintf(" alt%d", k)
			}
			alts = append(alts, map[string]any{"token": tok, "logprob": lp - float64(k), "bytes": []byte(tok)})
		}
		entry["top_logprobs"] = alts
		out[i] = entry
	}
	return out
}

func (s *Server) completion(w http.ResponseWriter, req Request) {
	f := s.o.Flavor
	switch f {
	case OpenAI:
		s.fail(w, http.StatusNotFound, "invalid_request_error", "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?")
		return
	case LlamaCpp:
		if req.Echo {
			s.fail(w, http.StatusInternalServerError, "server_error", "Only no echo is supported")
			return
		}
		if !s.slotsFor(w, req) {
			return
		}
	}
	d := s.generate(req, 0, 16)
	if req.Body["max_tokens"] != nil && req.MaxTokens == 0 {
		d = draw{finish: "length"}
	}
	text := d.text
	var toks []string
	echo := req.Echo && (f == VLLM || f == SGLang)
	if echo {
		text = req.Prompt + d.text
		toks = Tokenize(req.Prompt)
		if s.o.BOS != "" {
			toks = append([]string{s.o.BOS}, toks...)
		}
	}
	promptTokens := len(Tokenize(req.Prompt))
	choice := map[string]any{"index": 0, "text": text, "finish_reason": d.finish, "logprobs": nil}
	if req.LogProbs && (f == VLLM || f == SGLang) {
		all := append(toks, d.tokens...)
		offsets := make([]int, len(all))
		lps := make([]any, len(all))
		tops := make([]any, len(all))
		off := 0
		for i, t := range all {
			offsets[i] = off
			if f == SGLang {
				offsets[i] = -1
			}
			off += utf8.RuneCountInString(t)
			if echo && i == 0 {
				continue
			}
			lp := s.o.LogProb(t)
			lps[i] = lp
			tops[i] = map[string]float64{t: lp}
		}
		choice["logprobs"] = map[string]any{"text_offset": offsets, "token_logprobs": lps, "tokens": all, "top_logprobs": tops}
	}
	switch f {
	case VLLM:
		choice["stop_reason"] = nilIfEmpty(d.stopReason)
		choice["prompt_logprobs"] = nil
	case SGLang:
		choice["matched_stop"] = nilIfEmpty(d.stopReason)
	}
	body := map[string]any{
		"id":      "cmpl-" + f.String(),
		"object":  "text_completion",
		"created": 1735689600,
		"model":   req.Model,
		"choices": []any{choice},
		"usage":   map[string]any{"prompt_tokens": promptTokens, "completion_tokens": len(d.tokens), "total_tokens": promptTokens + len(d.tokens)},
	}
	if f == Ollama {
		body["system_fingerprint"] = "fp_ollama"
	}
	writeJSON(w, http.StatusOK, body)
}

// models answers GET /v1/models with the served model in the flavor's
// shape: vLLM's ModelCard (vllm/entrypoints/openai/protocol.py, owned_by
// "vllm", with root and max_model_len), llama.cpp's entry (owned_by
// "llamacpp", tools/server/server.cpp's models handler), Ollama's
// (owned_by "library") and OpenAI's (owned_by "system"). A server with an
// empty Options.Model lists nothing (llama.cpp lists "model.gguf"), since
// it has no one name to give.
func (s *Server) models(w http.ResponseWriter) {
	data := []any{}
	entry := map[string]any{"id": s.o.Model, "object": "model", "created": 1735689600}
	switch s.o.Flavor {
	case VLLM:
		entry["owned_by"], entry["root"], entry["parent"], entry["max_model_len"] = "vllm", s.o.Model, nil, 4096
	case SGLang:
		entry["owned_by"], entry["root"], entry["max_model_len"] = "sglang", s.o.Model, 4096
	case LlamaCpp:
		if s.o.Model == "" {
			entry["id"] = "model.gguf"
		}
		entry["owned_by"] = "llamacpp"
		entry["meta"] = map[string]any{"n_ctx_train": 4096, "n_vocab": 32000}
	case Ollama:
		entry["owned_by"] = "library"
	case OpenAI:
		entry["owned_by"] = "system"
	}
	if s.o.Model != "" || s.o.Flavor == LlamaCpp {
		data = append(data, entry)
	}
	if s.o.Flavor == VLLM {
		// vLLM lists its adapters after the base model, in load order;
		// the fake lists them by name.
		ads := s.Adapters()
		names := make([]string, 0, len(ads))
		for n := range ads {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			data = append(data, map[string]any{"id": n, "object": "model", "created": 1735689600, "owned_by": "vllm", "root": ads[n], "parent": s.o.Model, "max_model_len": nil})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// reasoningAccepts refuses, as OpenAI does for its reasoning models, the
// parameters they do not take, and reports whether the request may go on.
// The bodies are OpenAI's, as quoted in issues of openai-python, litellm
// and langchaingo.
func (s *Server) reasoningAccepts(w http.ResponseWriter, req Request) bool {
	fail := func(msg, param, code string) bool {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": param, "code": code}})
		return false
	}
	if _, ok := req.Body["max_tokens"]; ok {
		return fail("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
	}
	if req.Temperature != nil && *req.Temperature != 1 {
		return fail(fmt.Sprintf("Unsupported value: 'temperature' does not support %v with this model. Only the default (1) value is supported.", *req.Temperature), "temperature", "unsupported_value")
	}
	if req.TopP != nil && *req.TopP != 1 {
		return fail("Unsupported parameter: 'top_p' is not supported with this model.", "top_p", "unsupported_parameter")
	}
	return true
}

// slotsFor refuses, as llama.cpp's server does, an n above its slots,
// and reports whether the request may go on.
func (s *Server) slotsFor(w http.ResponseWriter, req Request) bool {
	if req.N <= s.o.Slots {
		return true
	}
	s.fail(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("Field 'n': Value must be between 1 <= value <= %d, but got %d", s.o.Slots, req.N))
	return false
}

// fail writes an error in the flavor's shape.
func (s *Server) fail(w http.ResponseWriter, code int, typ, msg string) {
	switch s.o.Flavor {
	case LlamaCpp:
		writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "type": typ}})
	case Ollama:
		writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
	case OpenAI:
		writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
	case SGLang:
		// sglang/srt/entrypoints/openai/serving_base.py create_error_response:
		// an ErrorResponse at the top level, as vLLM's before 0.10.1.
		typ = strings.ReplaceAll(http.StatusText(code), " ", "")
		writeJSON(w, code, map[string]any{"object": "error", "message": msg, "type": typ, "param": nil, "code": code})
	default:
		// vLLM names the type after the status: BadRequestError, NotFoundError.
		typ = strings.ReplaceAll(http.StatusText(code), " ", "") + "Error"
		writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
	}
}

func (s *Server) unauthorized(w http.ResponseWriter) {
	switch s.o.Flavor {
	case VLLM:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Unauthorized"})
	case LlamaCpp:
		s.fail(w, http.StatusUnauthorized, "authentication_error", "Invalid API Key")
	default:
		s.fail(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided. You can find your API key in your account settings.")
	}
}

func (s *Server) modelNotFound(w http.ResponseWriter, model string) {
	switch s.o.Flavor {
	case Ollama:
		s.fail(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("model %q not found, try pulling it first", model))
	case OpenAI:
		s.fail(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model))
	default:
		s.fail(w, http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", model))
	}
}

// adapterServed reports whether model names a loaded adapter: its own
// name on vLLM, "<base>:<adapter>" on SGLang.
func (s *Server) adapterServed(model string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.o.Flavor {
	case VLLM:
		_, ok := s.adapters[model]
		return ok
	case SGLang:
		base, name, ok := strings.Cut(model, ":")
		_, loaded := s.adapters[strings.TrimSpace(name)]
		return ok && strings.TrimSpace(base) == s.o.Model && loaded
	}
	return false
}

// admin answers the requests that load a trained model, and reports
// whether path was one of them.
func (s *Server) admin(w http.ResponseWriter, path string, raw []byte) bool {
	f := s.o.Flavor
	var body struct {
		LoraName    string `json:"lora_name"`
		LoraPath    string `json:"lora_path"`
		LoadInplace bool   `json:"load_inplace"`
		ModelPath   string `json:"model_path"`
	}
	switch {
	case f == VLLM && path == "/v1/load_lora_adapter" && s.o.LoRA:
		if err := json.Unmarshal(raw, &body); err != nil {
			s.fail(w, http.StatusBadRequest, "BadRequestError", err.Error())
			return true
		}
		// vllm/entrypoints/openai/models/serving.py: create_error_response
		// with err_type InvalidUserInput or NotFoundError.
		vllmErr := func(code int, typ, msg string) {
			writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
		}
		s.mu.Lock()
		_, loaded := s.adapters[body.LoraName]
		s.mu.Unlock()
		switch {
		case body.LoraName == "" || body.LoraPath == "":
			vllmErr(http.StatusBadRequest, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.")
		case loaded && (!body.LoadInplace || s.o.OldLoRA):
			vllmErr(http.StatusBadRequest, "InvalidUserInput", fmt.Sprintf("The lora adapter '%s' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.", body.LoraName))
		case !isDir(body.LoraPath):
			vllmErr(http.StatusNotFound, "NotFoundError", fmt.Sprintf("Loading lora %s failed: No adapter found for %s", body.LoraName, body.LoraPath))
		default:
			s.mu.Lock()
			s.adapters[body.LoraName] = body.LoraPath
			s.mu.Unlock()
			// The route answers Response(status_code=200, content=...):
			// plain text, not JSON.
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(w, "Success: LoRA adapter '%s' added successfully.", body.LoraName)
		}
		return true
	case f == VLLM && path == "/v1/unload_lora_adapter" && s.o.LoRA:
		json.Unmarshal(raw, &body)
		s.mu.Lock()
		_, loaded := s.adapters[body.LoraName]
		delete(s.adapters, body.LoraName)
		s.mu.Unlock()
		if !loaded {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"message": fmt.Sprintf("The lora adapter '%s' cannot be found.", body.LoraName), "type": "NotFoundError", "param": nil, "code": http.StatusNotFound}})
			return true
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "Success: LoRA adapter '%s' removed successfully.", body.LoraName)
		return true
	case f == SGLang && path == "/unload_lora_adapter":
		json.Unmarshal(raw, &body)
		s.mu.Lock()
		_, loaded := s.adapters[body.LoraName]
		delete(s.adapters, body.LoraName)
		s.mu.Unlock()
		if !loaded {
			writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "error_message": fmt.Sprintf("LoRA adapter %s not found.", body.LoraName), "loaded_adapters": nil})
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "error_message": nil, "loaded_adapters": s.Adapters()})
		return true
	case f == SGLang && path == "/load_lora_adapter":
		json.Unmarshal(raw, &body)
		out := func(code int, msg string) {
			s.mu.Lock()
			loaded := maps.Clone(s.adapters)
			s.mu.Unlock()
			res := map[string]any{"success": code == http.StatusOK, "error_message": nilIfEmpty(msg), "loaded_adapters": loaded}
			if code != http.StatusOK {
				res["loaded_adapters"] = nil
			}
			writeJSON(w, code, res)
		}
		switch {
		case !s.o.LoRA:
			out(http.StatusBadRequest, "LoRA is not enabled. Please set `--enable-lora` to enable LoRA.")
		case s.Adapters()[body.LoraName] != "":
			// sglang/srt/lora/lora_registry.py, register.
			out(http.StatusBadRequest, fmt.Sprintf("LoRA with name %s already exists. Loaded LoRAs: dict_keys([%s])", body.LoraName, "'"+body.LoraName+"'"))
		case !isDir(body.LoraPath):
			// The fake's own words: SGLang's depend on what failed.
			out(http.StatusBadRequest, fmt.Sprintf("Failed to load LoRA adapter %s from %s", body.LoraName, body.LoraPath))
		default:
			s.mu.Lock()
			s.adapters[body.LoraName] = body.LoraPath
			s.mu.Unlock()
			out(http.StatusOK, "")
		}
		return true
	case f == SGLang && path == "/update_weights_from_disk":
		json.Unmarshal(raw, &body)
		if !isDir(body.ModelPath) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"success": false, "message": fmt.Sprintf("Failed to get weights iterator: %s is not a directory.", body.ModelPath), "num_paused_requests": 0})
			return true
		}
		s.mu.Lock()
		s.weights = body.ModelPath
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Succeeded to update model weights.", "num_paused_requests": 0})
		return true
	}
	return false
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return path != "" && err == nil && fi.IsDir()
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}
