package openai

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Defaults of Options; a zero field means its default.
const (
	// DefaultAPIKeyEnv is the variable the key is read from, as OpenAI's
	// own clients do.
	DefaultAPIKeyEnv = "OPENAI_API_KEY"
	// DefaultTimeout bounds one exchange: long enough for thousands of
	// tokens from a loaded server.
	DefaultTimeout = 5 * time.Minute
	// DefaultMaxRetries is the retries of one request before the error
	// goes back to the caller: none, because the caller retries. The
	// Loop retries every backend call that fails with
	// alignment.ErrTransient (alignment.Retry, 6 attempts by default);
	// retries here as well would multiply, 5 × 6 = 30 requests for one
	// call to a server that keeps failing. See the package doc, "Retries".
	DefaultMaxRetries = 0
	// DefaultMinBackoff is the first wait between retries.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps the wait between retries.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMaxConcurrency is the requests in flight per endpoint, enough
	// to keep vLLM's continuous batching busy.
	DefaultMaxConcurrency = 32
	// DefaultFailureThreshold is the transient failures in a row that rest
	// an endpoint.
	DefaultFailureThreshold = 3
	// DefaultCoolDown is how long a failing endpoint rests.
	DefaultCoolDown = 30 * time.Second
)

// Options configure a Policy. A nil *Options, and every zero field, means
// the default. Printing Options with fmt (any verb) never shows the API key.
type Options struct {
	// APIKey is sent as "Authorization: Bearer <APIKey>". When empty, the
	// key is read from the environment variable APIKeyEnv; when that is
	// empty too, no Authorization header is sent (local vLLM, llama.cpp
	// and Ollama servers need none).
	APIKey string `json:"-"`
	// APIKeyEnv names the environment variable holding the key;
	// DefaultAPIKeyEnv (OPENAI_API_KEY) when empty, no lookup when "-".
	APIKeyEnv string
	// Client makes the HTTP requests. When nil, the Policy uses its own
	// client whose transport keeps MaxConcurrency idle connections per host
	// (net/http's default of 2 would reconnect constantly under load).
	Client *http.Client
	// Timeout bounds one HTTP exchange, from sending the request to reading
	// the whole body; waiting for a concurrency slot is not counted. A
	// timed-out exchange is a transient failure. Default DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how many times a transient failure is retried, with
	// backoff and on the best endpoint each time, before the error is
	// returned; zero or negative means never (DefaultMaxRetries). Set it
	// when the Policy is used outside anything that retries, and then
	// leave the caller's retries off.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait between retries: MinBackoff
	// doubles per attempt up to MaxBackoff, with jitter. A Retry-After
	// longer than MaxBackoff ends the retries at once with the error (which
	// carries the wait in StatusError.RetryAfter). Defaults
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxConcurrency limits the requests in flight to each endpoint; more
	// wait their turn. Default DefaultMaxConcurrency.
	MaxConcurrency int
	// FailureThreshold is the number of transient failures in a row after
	// which an endpoint rests for CoolDown. Default DefaultFailureThreshold.
	FailureThreshold int
	// CoolDown is how long a failing endpoint rests before it is tried
	// again. Default DefaultCoolDown.
	CoolDown time.Duration
	// MaxCompletionTokens sends SampleOptions.MaxTokens as
	// max_completion_tokens, OpenAI's current name, instead of max_tokens,
	// to every endpoint from the first request. OpenAI's reasoning models
	// accept only the former, and an endpoint that refuses max_tokens is
	// switched to it anyway (see the package doc, "Server quirks"). vLLM,
	// SGLang and llama.cpp's server accept both; Ollama's /v1 reads only
	// max_tokens and ignores max_completion_tokens, so with this option set
	// its answers are not limited: hence the default, max_tokens.
	MaxCompletionTokens bool
	// ChatTemplateKwargs is sent as chat_template_kwargs with every chat
	// request, for the chat template of the served model: vLLM, SGLang
	// and llama.cpp's server pass it to the template. Thinking models
	// (Qwen3, DeepSeek-R1 distills, GLM) answer only after their reasoning,
	// within the same token budget; {"enable_thinking": false} turns the
	// reasoning off where the template supports it, so that a short
	// MaxTokens still leaves room for an answer (see ErrNoAnswer). Ollama
	// ignores the field; OpenAI refuses it. A SampleOptions.Extra that
	// also names chat_template_kwargs is an error wrapping
	// alignment.ErrInvalid rather than a silent choice of one.
	ChatTemplateKwargs map[string]any
	// Source is the Response.Source of every response; the model name when
	// empty. Replicas of one model share it: they are one policy.
	Source string
	// Render turns a prompt into the raw text a model continues, for the
	// Scorer (LogProb), which talks to /v1/completions where no chat
	// template is applied. It must match the served model's chat template
	// for the log-probabilities to mean what they should. Default ChatML.
	Render func(alignment.Prompt) string
	// Logger receives retry and rest events; nil discards them.
	Logger *slog.Logger
	// Jitter is the randomness of backoff jitter. It affects only timing,
	// never results; nil means a source seeded from the runtime's entropy.
	Jitter rand.Source
}

// String describes o with the API key redacted.
func (o Options) String() string {
	key := "none"
	if o.APIKey != "" {
		key = redacted
	}
	set := func(b bool) string {
		if b {
			return "set"
		}
		return "nil"
	}
	return fmt.Sprintf("openai.Options{APIKey: %s, APIKeyEnv: %q, Client: %s, Timeout: %v, MaxRetries: %d, MinBackoff: %v, MaxBackoff: %v, MaxConcurrency: %d, FailureThreshold: %d, CoolDown: %v, MaxCompletionTokens: %t, ChatTemplateKwargs: %v, Source: %q, Render: %s, Logger: %s, Jitter: %s}",
		key, o.APIKeyEnv, set(o.Client != nil), o.Timeout, o.MaxRetries, o.MinBackoff, o.MaxBackoff, o.MaxConcurrency,
		o.FailureThreshold, o.CoolDown, o.MaxCompletionTokens, o.ChatTemplateKwargs, o.Source, set(o.Render != nil), set(o.Logger != nil), set(o.Jitter != nil))
}

// GoString is String: %#v must not print the key either.
func (o Options) GoString() string { return o.String() }

// Format makes every fmt verb print String, so that no verb (%x, %+v, ...)
// reaches the key through reflection.
func (o Options) Format(f fmt.State, verb rune) { formatSafe(f, verb, o.String()) }

const redacted = "[REDACTED]"

// Policy is an alignment.Policy and alignment.Scorer over one or more
// servers that speak the OpenAI chat-completions protocol. It is safe for
// concurrent use; make it with New.
type Policy struct {
	model, source          string
	key                    string
	eps                    []*endpoint
	hc                     *http.Client
	timeout                time.Duration
	maxRetries             int
	minBackoff, maxBackoff time.Duration
	threshold              int
	coolDown               time.Duration
	maxCompletionTokens    bool
	render                 func(alignment.Prompt) string
	templateKwargs         map[string]any
	log                    *slog.Logger

	// What New was given, for WithModel.
	urls []string
	opts Options

	rngMu sync.Mutex
	rng   *rand.Rand

	mu    sync.Mutex // guards the load and health fields of eps, and picks
	picks uint64

	notesMu sync.Mutex
	notes   []string

	// Shared with the Policies WithModel makes.
	*counters
}

// counters are a Policy's usage totals.
type counters struct {
	promptTokens, completionTokens, requests, retries, truncated atomic.Int64
}

var (
	_ alignment.Policy = (*Policy)(nil)
	_ alignment.Scorer = (*Policy)(nil)
)

// New returns a Policy that asks model on the servers at baseURLs. A base
// URL is what OpenAI clients call base_url, such as
// "http://localhost:8000/v1" (vLLM), "http://localhost:8080/v1" (llama.cpp),
// "http://localhost:11434/v1" (Ollama) or "https://api.openai.com/v1"; a URL
// with no path gets "/v1". Several URLs are replicas of one model, balanced
// by least outstanding requests. Errors wrap alignment.ErrInvalid.
func New(model string, baseURLs []string, o *Options) (*Policy, error) {
	if o == nil {
		o = &Options{}
	}
	if strings.TrimSpace(model) == "" {
		return nil, fmt.Errorf("openai: empty model name: %w", alignment.ErrInvalid)
	}
	if len(baseURLs) == 0 {
		return nil, fmt.Errorf("openai: no base URL: %w", alignment.ErrInvalid)
	}
	for _, c := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", o.Timeout}, {"MinBackoff", o.MinBackoff}, {"MaxBackoff", o.MaxBackoff}, {"CoolDown", o.CoolDown}} {
		if c.v < 0 {
			return nil, fmt.Errorf("openai: Options.%s is negative (%v): %w", c.name, c.v, alignment.ErrInvalid)
		}
	}
	if o.MaxConcurrency < 0 {
		return nil, fmt.Errorf("openai: Options.MaxConcurrency is negative (%d): %w", o.MaxConcurrency, alignment.ErrInvalid)
	}
	if _, err := json.Marshal(o.ChatTemplateKwargs); err != nil {
		return nil, fmt.Errorf("openai: Options.ChatTemplateKwargs cannot be sent as JSON: %v: %w", err, alignment.ErrInvalid)
	}
	if o.FailureThreshold < 0 {
		return nil, fmt.Errorf("openai: Options.FailureThreshold is negative (%d): %w", o.FailureThreshold, alignment.ErrInvalid)
	}
	p := &Policy{
		model:               model,
		source:              cmp.Or(o.Source, model),
		timeout:             cmp.Or(o.Timeout, DefaultTimeout),
		maxRetries:          o.MaxRetries,
		minBackoff:          cmp.Or(o.MinBackoff, DefaultMinBackoff),
		maxBackoff:          cmp.Or(o.MaxBackoff, DefaultMaxBackoff),
		threshold:           cmp.Or(o.FailureThreshold, DefaultFailureThreshold),
		coolDown:            cmp.Or(o.CoolDown, DefaultCoolDown),
		maxCompletionTokens: o.MaxCompletionTokens,
		render:              o.Render,
		templateKwargs:      maps.Clone(o.ChatTemplateKwargs),
		log:                 o.Logger,
		hc:                  o.Client,
		urls:                append([]string(nil), baseURLs...),
		opts:                *o,
		counters:            &counters{},
	}
	p.opts.ChatTemplateKwargs = p.templateKwargs
	if o.MaxRetries < 0 {
		p.maxRetries = 0
	}
	if p.minBackoff > p.maxBackoff {
		return nil, fmt.Errorf("openai: Options.MinBackoff (%v) is above MaxBackoff (%v): %w", p.minBackoff, p.maxBackoff, alignment.ErrInvalid)
	}
	limit := cmp.Or(o.MaxConcurrency, DefaultMaxConcurrency)
	for i, raw := range baseURLs {
		ep, err := newEndpoint(i, raw, limit)
		if err != nil {
			return nil, err
		}
		p.eps = append(p.eps, ep)
	}
	p.key = o.APIKey
	if p.key == "" && o.APIKeyEnv != "-" {
		p.key = strings.TrimSpace(os.Getenv(cmp.Or(o.APIKeyEnv, DefaultAPIKeyEnv)))
	}
	if p.render == nil {
		p.render = ChatML
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	src := o.Jitter
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	p.rng = rand.New(src)
	if p.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = limit
		p.hc = &http.Client{Transport: t}
	}
	return p, nil
}

// Generate implements alignment.Policy over /chat/completions. It returns
// exactly o.Count() responses: it asks for all of them in one request and,
// when an endpoint takes fewer per request (llama.cpp's slots) or ignores n
// (Ollama), draws the missing ones with parallel requests of as many as it
// takes, seeded from o.Seed as alignment.SampleN derives them. Errors wrap
// alignment.ErrInvalid (bad prompt or options), alignment.ErrTransient (a
// failure worth retrying; see the package doc, "Retries"), ErrMalformed,
// ErrNoAnswer (a choice without an answer), or are a *StatusError;
// cancellation returns an error wrapping ctx.Err().
func (p *Policy) Generate(ctx context.Context, pr alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	out, err := p.generate(ctx, pr, o)
	return out, p.redact(err)
}

func (p *Policy) generate(ctx context.Context, pr alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, extra, err := p.chatRequest(pr, o)
	if err != nil {
		return nil, err
	}
	want := o.Count()
	var out []alignment.Response
	if want > 1 && !p.allSingle() {
		out, err = p.draw(ctx, req, extra, 0, want, o.Seed)
	} else {
		out, err = p.fill(ctx, req, extra, 0, want, o.Seed)
	}
	if err != nil {
		return nil, err
	}
	// Lengths of one prompt's responses are compared by length-controlled
	// selection, so token counts are kept only when every response has one;
	// otherwise all fall back to word counts.
	for _, r := range out {
		if r.Tokens == 0 {
			for i := range out {
				out[i].Tokens = 0
			}
			break
		}
	}
	return out, nil
}

// chatRequest validates the inputs of Generate and builds the request body
// shared by its HTTP requests (n and seed are set per request).
func (p *Policy) chatRequest(pr alignment.Prompt, o alignment.SampleOptions) (chatRequest, []byte, error) {
	if err := checkPrompt(pr); err != nil {
		return chatRequest{}, nil, err
	}
	switch {
	case math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) || o.Temperature < 0:
		return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.Temperature is %v, want a finite value ≥ 0: %w", o.Temperature, alignment.ErrInvalid)
	case math.IsNaN(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.TopP is %v, want a value in [0, 1]: %w", o.TopP, alignment.ErrInvalid)
	case o.MaxTokens < 0:
		return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.MaxTokens is %d, want ≥ 0: %w", o.MaxTokens, alignment.ErrInvalid)
	case o.TopLogProbs < 0:
		return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.TopLogProbs is %d, want ≥ 0: %w", o.TopLogProbs, alignment.ErrInvalid)
	}
	for i, s := range o.Stop {
		if s == "" || !utf8.ValidString(s) {
			return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.Stop[%d] is empty or not valid UTF-8: %w", i, alignment.ErrInvalid)
		}
	}
	fields := o.Extra
	if len(p.templateKwargs) > 0 {
		if _, ok := fields["chat_template_kwargs"]; ok {
			return chatRequest{}, nil, fmt.Errorf("openai: SampleOptions.Extra names chat_template_kwargs, which Options.ChatTemplateKwargs sets: %w", alignment.ErrInvalid)
		}
		fields = maps.Clone(fields)
		if fields == nil {
			fields = map[string]any{}
		}
		fields["chat_template_kwargs"] = p.templateKwargs
	}
	extra, err := encodeExtra(fields)
	if err != nil {
		return chatRequest{}, nil, err
	}
	req := chatRequest{
		Model:       p.model,
		Messages:    pr.Messages,
		Temperature: &o.Temperature,
		TopP:        o.TopP,
		MaxTokens:   o.MaxTokens,
		Stop:        o.Stop,
		LogProbs:    o.LogProbs || o.TopLogProbs > 0,
		TopLogProbs: o.TopLogProbs,
	}
	return req, extra, nil
}

// checkPrompt rejects prompts no server can answer.
func checkPrompt(pr alignment.Prompt) error {
	if len(pr.Messages) == 0 {
		return fmt.Errorf("openai: prompt %q has no messages: %w", pr.ID, alignment.ErrInvalid)
	}
	for i, m := range pr.Messages {
		if m.Role == "" {
			return fmt.Errorf("openai: prompt %q message %d has no role: %w", pr.ID, i, alignment.ErrInvalid)
		}
		// JSON cannot carry invalid UTF-8; encoding/json would replace it
		// silently and the model would see other text than the caller's.
		if !utf8.ValidString(m.Content) || !utf8.ValidString(m.Role) {
			return fmt.Errorf("openai: prompt %q message %d is not valid UTF-8: %w", pr.ID, i, alignment.ErrInvalid)
		}
	}
	return nil
}

// chat makes one chat completion request for n choices (retries and
// adaptations included) and returns its responses, between 1 and n of them:
// fewer when the endpoint it went to takes fewer per request.
func (p *Policy) chat(ctx context.Context, req chatRequest, extra []byte, n int, seed uint64) ([]alignment.Response, error) {
	req.Seed = int64(seed & seedMask)
	sent := n
	// thisCall is set when a refusal of n may be about this request only:
	// older vLLM refuses n > 1 with greedy decoding ("n must be 1 when using
	// greedy sampling") but not with sampling, so a refusal at temperature 0
	// does not mark the endpoint.
	thisCall := false
	var r chatRequest
	build := func(ep *endpoint) ([]byte, error) {
		sent = n
		if thisCall {
			sent = 1
		}
		if m := ep.maxN.Load(); m > 0 && int64(sent) > m {
			sent = int(m)
		}
		r = p.adapted(ep, req)
		r.N = 0
		if sent > 1 {
			r.N = sent
		}
		body, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("openai: encoding the chat request: %v: %w", err, alignment.ErrInvalid)
		}
		return withExtra(body, extra), nil
	}
	// A recognised refusal is always resent: the limit it sets (or that a
	// concurrent request set first) makes the next request smaller.
	adapt := func(ep *endpoint, se *StatusError) (bool, error) {
		if sent > 1 && nRefusal(se.StatusCode) {
			switch k, ok := nLimit(se.Message); {
			case ok && k < sent:
				// llama.cpp's server: n up to its slot count (-np).
				p.limitN(ep, k, se.Message)
				return true, nil
			case strings.Contains(se.Message, "n_cmpl"):
				// llama.cpp's "n_cmpl cannot be greater than the number of
				// slots" does not say how many: halve until it fits.
				p.limitN(ep, max(sent/2, 1), se.Message)
				return true, nil
			case rejectsN(se.Message) && req.Temperature != nil && *req.Temperature == 0:
				thisCall = true
				return true, nil
			case rejectsN(se.Message):
				p.limitN(ep, 1, se.Message)
				return true, nil
			}
		}
		return p.adaptReasoning(ep, se, r), nil
	}
	data, ep, err := p.post(ctx, "/chat/completions", build, adapt)
	if err != nil {
		return nil, err
	}
	out, u, err := parseChat(data, sent, p.source)
	p.addUsage(u)
	if err != nil {
		return nil, fmt.Errorf("%w (POST %s/chat/completions)", err, ep.name)
	}
	for _, r := range out {
		if r.FinishReason == "length" {
			p.truncated.Add(1)
		}
	}
	if len(out) < sent {
		// Ollama ignores n and answers one choice.
		p.limitN(ep, len(out), fmt.Sprintf("answered %d choices when asked for %d", len(out), sent))
	}
	return out, nil
}

// nRefusal lists the statuses with which servers refuse n > 1: 400 or 422
// for a validation error, 500 from llama.cpp builds that report every
// parameter error that way.
func nRefusal(code int) bool {
	return code == http.StatusBadRequest || code == http.StatusUnprocessableEntity || code == http.StatusInternalServerError
}

// draw returns exactly to-from responses, the first drawn with
// drawSeed(seed, from): it asks for all of them in one request and fills
// whatever the endpoint did not give with further requests.
func (p *Policy) draw(ctx context.Context, req chatRequest, extra []byte, from, to int, seed uint64) ([]alignment.Response, error) {
	out, err := p.chat(ctx, req, extra, to-from, drawSeed(seed, from))
	if err != nil {
		return nil, err
	}
	if len(out) < to-from {
		rest, err := p.fill(ctx, req, extra, from+len(out), to, seed)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
	}
	return out, nil
}

// fill draws responses from..to-1 in parallel requests of p.chunk()
// choices each (one, on servers that take one); the request for responses
// i.. is seeded with drawSeed(seed, i), so that one choice per request
// draws what alignment.SampleN would.
func (p *Policy) fill(ctx context.Context, req chatRequest, extra []byte, from, to int, seed uint64) ([]alignment.Response, error) {
	size := p.chunk()
	if to-from <= size {
		return p.draw(ctx, req, extra, from, to, seed)
	}
	out := make([]alignment.Response, to-from)
	g, gctx := errgroup.WithContext(ctx)
	for i := from; i < to; i += size {
		j := min(i+size, to)
		g.Go(func() error {
			rs, err := p.draw(gctx, req, extra, i, j, seed)
			if err != nil {
				return err
			}
			copy(out[i-from:], rs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// drawSeed is the seed of the i-th response of a Generate call: the call's
// seed for the first, then the derivation alignment.SampleN uses, so that
// filling here or in SampleN draws the same responses.
func drawSeed(seed uint64, i int) uint64 {
	if i == 0 {
		return seed
	}
	return seeds.Derive(seed, "fill", strconv.Itoa(i))
}

// LogProb implements alignment.Scorer: the log-probability of completion
// after the prompt, summed over the completion's tokens, with their number.
// It renders the prompt with Options.Render, sends the text and the
// completion to /completions with echo, logprobs 1 and max_tokens 1 (the
// echo method of vLLM, SGLang and OpenAI's legacy completion models), and
// sums the tokens that start inside the completion, placed by their texts
// (see the package doc, "Scoring"); the one token generated past the end is
// ignored. A token that straddles the boundary counts for the prompt.
//
// Servers that cannot do this (llama.cpp refuses echo, Ollama ignores it,
// OpenAI's chat models have no /completions) give an error wrapping
// alignment.ErrUnsupported. An empty completion scores 0 with 0 tokens
// without a request.
func (p *Policy) LogProb(ctx context.Context, pr alignment.Prompt, completion string) (float64, int, error) {
	lp, n, err := p.logProb(ctx, pr, completion)
	return lp, n, p.redact(err)
}

func (p *Policy) logProb(ctx context.Context, pr alignment.Prompt, completion string) (float64, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if err := checkPrompt(pr); err != nil {
		return 0, 0, err
	}
	prefix := p.render(pr)
	if prefix == "" {
		return 0, 0, fmt.Errorf("openai: Options.Render returned an empty text for prompt %q: %w", pr.ID, alignment.ErrInvalid)
	}
	if completion == "" {
		return 0, 0, nil
	}
	if !utf8.ValidString(completion) || !utf8.ValidString(prefix) {
		return 0, 0, fmt.Errorf("openai: scoring prompt %q: the rendered prompt or the completion is not valid UTF-8: %w", pr.ID, alignment.ErrInvalid)
	}
	full := prefix + completion
	start := utf8.RuneCountInString(prefix)
	end := start + utf8.RuneCountInString(completion)
	body, err := json.Marshal(completionRequest{Model: p.model, Prompt: full, Echo: true, MaxTokens: 1, LogProbs: 1})
	if err != nil {
		return 0, 0, fmt.Errorf("openai: encoding the scoring request for prompt %q: %v: %w", pr.ID, err, alignment.ErrInvalid)
	}
	// A refusal is final at once, also when it comes as a 500 (llama.cpp):
	// no retry can make a server echo.
	unsupported := func(_ *endpoint, se *StatusError) (bool, error) {
		if echoUnsupported(se) {
			return false, fmt.Errorf("openai: scoring needs /v1/completions with echo and logprobs: %s: %w", se.Error(), alignment.ErrUnsupported)
		}
		return false, nil
	}
	data, ep, err := p.post(ctx, "/completions", func(*endpoint) ([]byte, error) { return body, nil }, unsupported)
	if err != nil {
		return 0, 0, err
	}
	sum, n, u, err := parseEcho(data, full, start, end)
	p.addUsage(u)
	var ee errEcho
	switch {
	case errors.As(err, &ee):
		return 0, 0, fmt.Errorf("openai: scoring on %s/completions: %s: %w", ep.name, ee.why, alignment.ErrUnsupported)
	case err != nil:
		return 0, 0, fmt.Errorf("%w (POST %s/completions)", err, ep.name)
	}
	return sum, n, nil
}

// echoUnsupported reports whether a failed scoring request says the server
// has no /completions (404, 405, 501) or refuses echo or logprobs there.
// llama.cpp refuses echo with a 500: its oaicompat_completion_params_parse
// (tools/server/server-common.cpp) throws std::runtime_error("Only no echo
// is supported"), which the server's ex_wrapper (tools/server/server.cpp)
// answers as {"error":{"code":500,"message":"Only no echo is
// supported","type":"server_error"}}.
func echoUnsupported(se *StatusError) bool {
	switch se.StatusCode {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	case http.StatusInternalServerError:
		return strings.Contains(strings.ToLower(se.Message), "no echo")
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		m := strings.ToLower(se.Message)
		return strings.Contains(m, "echo") || strings.Contains(m, "logprob")
	}
	return false
}

// Usage counts what a Policy, and the Policies WithModel made from it,
// have consumed since it was made, for reports.
type Usage struct {
	// PromptTokens and CompletionTokens sum the usage servers reported.
	PromptTokens, CompletionTokens int64
	// Requests counts successful HTTP exchanges; Retries counts transient
	// failures that were retried.
	Requests, Retries int64
	// Truncated counts responses returned cut at SampleOptions.MaxTokens
	// (FinishReason "length"): they are answers, but unfinished ones.
	// Responses with no answer at all are not returned (see ErrNoAnswer).
	Truncated int64
}

// Usage returns the totals so far, of p and of the Policies made from it
// with WithModel. It is safe to call at any time.
func (p *Policy) Usage() Usage {
	return Usage{
		PromptTokens:     p.promptTokens.Load(),
		CompletionTokens: p.completionTokens.Load(),
		Requests:         p.requests.Load(),
		Retries:          p.retries.Load(),
		Truncated:        p.truncated.Load(),
	}
}

func (p *Policy) addUsage(u usage) {
	p.promptTokens.Add(u.PromptTokens)
	p.completionTokens.Add(u.CompletionTokens)
}

// Model returns the model name sent with every request.
func (p *Policy) Model() string { return p.model }

// WithModel returns a Policy that asks model on p's servers, with p's
// options, HTTP client and API key: the policy of a model that p's server
// serves beside p's, such as a LoRA adapter loaded after training (see
// Handoff). Response.Source is model unless Options.Source was set. The
// new Policy shares p's usage counters, so that Usage of either gives the
// total of both, the cost of a whole run; it has its own notes and
// endpoint state (the n each endpoint takes, rests), since another model
// may behave otherwise. The error wraps alignment.ErrInvalid for an empty
// model name.
func (p *Policy) WithModel(model string) (*Policy, error) {
	o := p.opts
	o.Client, o.APIKey, o.APIKeyEnv = p.hc, p.key, "-"
	if o.Jitter != nil {
		// Two Policies must not share one rand.Source: draw the new one's
		// seed from p's.
		p.rngMu.Lock()
		o.Jitter = rand.NewPCG(p.rng.Uint64(), p.rng.Uint64())
		p.rngMu.Unlock()
	}
	next, err := New(model, p.urls, &o)
	if err != nil {
		return nil, err
	}
	next.counters = p.counters
	return next, nil
}

// CloseIdleConnections closes the idle connections of the Policy's HTTP
// client; call it when done with the Policy.
func (p *Policy) CloseIdleConnections() { p.hc.CloseIdleConnections() }

// String describes p (model, endpoints, whether a key is set) without the key.
func (p *Policy) String() string {
	names := make([]string, len(p.eps))
	for i, e := range p.eps {
		names[i] = e.name
	}
	key := "none"
	if p.key != "" {
		key = redacted
	}
	return fmt.Sprintf("openai.Policy{model: %q, endpoints: [%s], api key: %s}", p.model, strings.Join(names, " "), key)
}

// GoString is String: %#v must not print the key either.
func (p *Policy) GoString() string { return p.String() }

// Format makes every fmt verb print String.
func (p *Policy) Format(f fmt.State, verb rune) { formatSafe(f, verb, p.String()) }

// formatSafe writes s for any verb, quoted for %q.
func formatSafe(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	io.WriteString(f, s)
}
