// Package openai is the alignment.Policy for servers that speak the OpenAI
// chat-completions protocol: vLLM, SGLang, llama.cpp's server, Ollama's /v1
// and OpenAI itself. One Policy can sample responses, serve as the model
// behind a judge or a refiner, and score given completions
// (alignment.Scorer) where the server allows it.
//
//	pol, err := openai.New("Qwen/Qwen2.5-7B-Instruct",
//		[]string{"http://localhost:8000/v1"}, nil)
//	...
//	rs, err := pol.Generate(ctx, alignment.NewPrompt("p1", "Hi!"),
//		alignment.SampleOptions{N: 4, Temperature: 0.8, Seed: 1})
//
// # Why net/http and not the official SDK
//
// The protocol surface needed is two POST requests and a handful of JSON
// fields: wire.go, under 400 lines with encoding/json. The official SDK
// (github.com/openai/openai-go) would add a large dependency tree for it,
// and its main extra, automatic retries, would stack on the Loop's: this
// package instead balances and rests endpoints across replicas and tells
// the caller (through alignment.ErrTransient and StatusError.RetryAfter)
// what is worth retrying and when. Server quirks (n refused or ignored, echo for prompt scoring, the
// error shapes of vLLM and Ollama) also sit outside what the SDK models.
// By the house rule, a dependency must clearly beat writing the thing;
// this one does not.
//
// # Requests
//
// Generate posts to {base}/chat/completions with model, messages, n (only
// when above 1), temperature (always, 0 included: a dropped temperature
// means the server's default, often 0.7 or 1; only a model that refuses
// any but its default is sent none), top_p (when not 0), max_tokens (or
// max_completion_tokens, see Options.MaxCompletionTokens; when not 0),
// stop, seed, and logprobs with top_logprobs when asked
// (TopLogProbs > 0 implies LogProbs). The seed is sent as its 31 low bits,
// the range every server accepts. SampleOptions.Extra is merged into the
// body for server-specific parameters (vLLM's top_k, min_p,
// repetition_penalty, chat_template_kwargs, ...); a key that names a field
// the Policy sets itself, or "stream", is an error wrapping
// alignment.ErrInvalid rather than a silent override.
//
// Responses carry the message content (or the refusal when the content is
// null or empty), the finish reason as the server wrote it ("length" when
// cut at MaxTokens: such responses are counted in Usage.Truncated, and a
// caller that wants only finished answers drops them by FinishReason),
// per-token log-probabilities with their alternatives and their sum
// (HasLogProb) when asked for and returned, and Source, which is
// the model name (Options.Source overrides it; replicas of one model share
// it). Tokens is the server's completion token count when one choice came
// back, the number of log-probability entries otherwise, and is kept only
// when every response of the call has one, so that the lengths that
// length-controlled selection compares are all of one kind.
//
// # Thinking models
//
// Thinking models (Qwen3, DeepSeek-R1 and its distills, GPT-OSS, OpenAI's
// o-series) reason before they answer, within the same max_tokens. Served
// with a reasoning parser, the reasoning comes beside the answer
// (reasoning_content in vLLM, SGLang and llama.cpp, reasoning in Ollama)
// and is not part of Response.Text; without one, it is in the content,
// inside <think>…</think>, and is kept as the model wrote it. When the
// budget ends before the answer begins, the content is empty or only an
// unclosed <think> block: Generate then fails with an error wrapping
// ErrNoAnswer, never returns an empty response to be judged and paired.
// Give such models a budget for both (the quickstart gives 1024 tokens),
// or turn their reasoning off with Options.ChatTemplateKwargs, such as
// {"enable_thinking": false}, which vLLM, SGLang and llama.cpp pass to the
// chat template.
//
// # Server quirks
//
// Servers differ in how many choices they draw per request. vLLM, SGLang
// and OpenAI honour n; llama.cpp's server honours n up to its slot count
// (-np, 4 by default) and refuses more with 400 ("Field 'n': Value must be
// between 1 <= value <= 4, but got 8", or in older builds "n_cmpl cannot be
// greater than the number of slots"), and builds older still refuse any
// n > 1 ("Only one completion choice is allowed", 400 or 500); Ollama's /v1
// ignores n and answers one choice. Generate notices each of these per
// endpoint, remembers the largest n the endpoint takes (read from the
// refusal, or halved until accepted when the refusal does not say), and
// draws the rest with parallel requests of at most that many choices, the
// request for responses i.. seeded with the seed alignment.SampleN would
// give response i; later calls split from the start. A refusal of n at
// temperature 0 that is not about slots is not remembered, since older vLLM
// refuses n > 1 only for greedy decoding.
//
// OpenAI's reasoning models (o1, o3, o4-mini, GPT-5) refuse max_tokens
// ("use max_completion_tokens") and any temperature or top_p but their
// default, with 400 unsupported_parameter or unsupported_value naming the
// parameter. Generate then resends the request at once with
// max_completion_tokens, or without the refused temperature or top_p, and
// remembers it for the endpoint; since a dropped temperature changes what
// is sampled (a judge asked for 0 samples at 1), each such change is logged
// and listed by Policy.Notes for reports.
//
// Usage (prompt and completion tokens, requests, retries, truncated
// answers) accumulates atomically; read it with Policy.Usage for reports.
//
// # Scoring
//
// LogProb needs the log-probabilities of the prompt's own tokens, which
// chat completions do not give. It renders the prompt to text with
// Options.Render (ChatML by default; set it to the served model's chat
// template), posts prompt text plus completion to {base}/completions with
// echo, logprobs 1 and max_tokens 1, and sums the log-probabilities of the
// tokens that start inside the completion. That is the vLLM method (also
// SGLang's and OpenAI's legacy completion models'). Where a token starts is
// worked out from the tokens' texts, laid end to end, not from the
// server's text_offset: vLLM's offsets count the BOS token's text
// ("<|begin_of_text|>", "<s>"), which the echoed prompt lacks, and SGLang
// reports -1 for every offset. The tokens must spell the echoed prompt and
// completion exactly, after at most two leading tokens that are not part of
// it (a BOS); when they do not, LogProb fails with ErrMalformed rather than
// sum the wrong tokens. Only a server that sends no tokens is taken at its
// offsets. Offsets count Unicode code points; a token that straddles the
// boundary between prompt and completion counts for the prompt. Servers
// that cannot do it give an error wrapping alignment.ErrUnsupported, at
// once and without retries: 404, 405 or 501 on /completions, a refusal of
// echo or logprobs (llama.cpp refuses echo with a 500), or an answer
// without the echoed prompt and its log-probabilities (Ollama).
//
// # Scale-out, faults and retries
//
// Several base URLs are replicas of the same model. Each request goes to
// the endpoint with the fewest requests outstanding, ties taken in turn; at
// most Options.MaxConcurrency requests run on one endpoint at a time. An
// endpoint with FailureThreshold transient failures in a row rests for
// CoolDown, and after its rest one more failure rests it again; when every
// endpoint rests, the one that rested first is tried anyway.
//
// 408, 409, 429 and 5xx answers (but 501), reset, refused or cut
// connections and exchanges that exceed Options.Timeout are transient:
// the error wraps alignment.ErrTransient, and a *StatusError carries the
// wait the server asked for (Retry-After in seconds or as an HTTP-date, or
// retry-after-ms) in RetryAfter. A host name that does not resolve is not
// transient. Other statuses (400, 401, 403, 404, 422, ...) are permanent
// and returned at once as a *StatusError with the server's message, parsed
// from the error shapes of OpenAI, vLLM (old and new), Ollama and FastAPI,
// and truncated. A success body that is not a usable completion wraps
// ErrMalformed. Cancelling the context ends waits, requests and backoffs
// at once with an error wrapping ctx.Err().
//
// # Retries
//
// Each call has one owner of its retries, and by default it is the
// caller: the Policy makes one request per call (per draw, when it splits
// n) and returns a transient failure as it is. The alignment.Loop retries
// every backend call that fails with alignment.ErrTransient
// (alignment.Retry: 6 attempts with capped backoff), and each retry goes
// to the best endpoint again, so a persistent 503 costs 6 requests per
// call rather than the 30 that retries on both levels made. The Loop's
// backoff does not read StatusError.RetryAfter. A program that calls the
// Policy outside a Loop, or wants Retry-After honoured, sets
// Options.MaxRetries (and leaves the Loop's retries to what remains): transient failures are then retried
// here, each time on the best endpoint, with exponential backoff from
// MinBackoff to MaxBackoff with jitter, waiting at least what the server
// asked; after MaxRetries retries, or when the server asks for a wait
// beyond MaxBackoff, the error is returned still wrapping
// alignment.ErrTransient. Adapting to a server's quirks (n, max_tokens, temperature; see
// "Server quirks") resends a request at once and is not a retry.
// Policy.Check asks each endpoint once, before a run, so that a dead
// backend is found in seconds.
//
// # Training between iterations
//
// Handoff is the alignment.Trainer for a served model: after each
// iteration it writes the pairs to a file, runs the user's training (a
// shell command, such as a TRL script, or a Go function) with the pairs'
// path, the iteration and an output directory in its environment, and
// makes the next iteration ask for what it trained: it loads the output
// into the server (a LoRA adapter into vLLM, POST /v1/load_lora_adapter,
// or into SGLang, POST /load_lora_adapter; new weights into SGLang, POST
// /update_weights_from_disk) or switches to a model name the training
// reports on a line "SELFALIGN_MODEL=<name>". Policy.WithModel makes the
// new model's Policy. Handoff is an alignment.Checkpointer too: a Loop with
// Dir resumes it with the model it had trained, loaded again.
//
// # API keys
//
// The key comes from Options.APIKey or the environment (OPENAI_API_KEY, or
// the variable named by Options.APIKeyEnv) and is sent as a Bearer token.
// It never appears in errors (server messages that echo it are scrubbed),
// in log records, or in the fmt output of Options and Policy, whatever the
// verb. A key may also travel in a base URL, as user information
// ("http://user:KEY@host/v1", sent as Basic authentication) or a query
// parameter (Azure's "?api-key=KEY"); every URL this package shows, in
// errors, logs and String, passes through RedactURL, which hides both.
// Programs that print or store a base URL should do the same.
package openai
