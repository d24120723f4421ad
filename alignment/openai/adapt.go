package openai

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Adaptations to what an endpoint's model accepts, learned from its
// refusals and remembered per endpoint (see the package doc, "Server
// quirks"). Each refusal is answered by resending the request at once in
// the form the server asked for; it is not a retry.

// adapted returns req as endpoint e takes it: SampleOptions.MaxTokens sent
// as max_completion_tokens where the Options or the endpoint ask for it,
// and temperature or top_p left out where the model refuses them.
func (p *Policy) adapted(e *endpoint, req chatRequest) chatRequest {
	if p.maxCompletionTokens || e.completionTokens.Load() {
		req.MaxCompletionTokens, req.MaxTokens = req.MaxTokens, 0
	}
	if e.noTemperature.Load() {
		req.Temperature = nil
	}
	if e.noTopP.Load() {
		req.TopP = 0
	}
	return req
}

// adaptReasoning recognises the refusals of OpenAI's reasoning models
// (o1, o3, o4-mini, GPT-5), which take max_completion_tokens instead of
// max_tokens and no temperature or top_p but the default:
//
//	400 {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}
//	400 {"error": {"message": "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported.", "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}
//
// (bodies as OpenAI returns them, quoted in openai/openai-python and
// litellm issues). It marks e and reports whether the request should be
// resent. sent is the request that was refused.
func (p *Policy) adaptReasoning(e *endpoint, se *StatusError, sent chatRequest) bool {
	if se.StatusCode != http.StatusBadRequest {
		return false
	}
	param := se.Param
	if param == "" {
		// Proxies that keep only the message: "Unsupported parameter: 'max_tokens' ..."
		if m := quotedParam.FindStringSubmatch(se.Message); m != nil && strings.HasPrefix(se.Message, "Unsupported") {
			param = m[1]
		}
	}
	// The refused request held the parameter, so the endpoint's flag was
	// not set when it was built; it may have been since, by a concurrent
	// request, and the request is resent either way.
	switch {
	case param == "max_tokens" && sent.MaxTokens > 0:
		if !e.completionTokens.Swap(true) {
			p.note(e, "refuses max_tokens: SampleOptions.MaxTokens is sent as max_completion_tokens, which also counts reasoning tokens")
		}
		return true
	case param == "temperature" && sent.Temperature != nil:
		if !e.noTemperature.Swap(true) {
			p.note(e, fmt.Sprintf("refuses temperature %v: requests are sent without one, so the model samples at its default (1)", *sent.Temperature))
		}
		return true
	case param == "top_p" && sent.TopP > 0:
		if !e.noTopP.Swap(true) {
			p.note(e, fmt.Sprintf("refuses top_p %v: requests are sent without one (the model's default)", sent.TopP))
		}
		return true
	}
	return false
}

// quotedParam finds the parameter an "Unsupported parameter: 'x' ..." or
// "Unsupported value: 'x' ..." message names.
var quotedParam = regexp.MustCompile(`^Unsupported (?:parameter|value): '([a-z_]+)'`)

// note records a change to what the Policy sends, for Notes, and logs it.
func (p *Policy) note(e *endpoint, what string) {
	n := e.name + ": " + what
	p.notesMu.Lock()
	if !slices.Contains(p.notes, n) {
		p.notes = append(p.notes, n)
	}
	p.notesMu.Unlock()
	p.log.Warn("openai: adapting to the endpoint's model", "endpoint", e.name, "change", what)
}

// Notes lists, oldest first, the ways the Policy has changed its requests
// to fit what an endpoint's model accepts (a reasoning model's
// max_completion_tokens, a dropped temperature), each prefixed with the
// endpoint: a change of what is sampled that a report should show. Limits
// on n are not listed; they change how requests are split, not what is
// drawn.
func (p *Policy) Notes() []string {
	p.notesMu.Lock()
	defer p.notesMu.Unlock()
	return slices.Clone(p.notes)
}

// slotLimit matches the refusal of llama.cpp's server for an n above its
// slot count (tools/server/server-schema.cpp: "Field 'n': Value must be
// between 1 <= value <= 4, but got 8"; 4 is the default -np).
var slotLimit = regexp.MustCompile(`(?i)\bn\b'?:? ?value must be between 1 <= value <= (\d+)`)

// nLimit reads the largest n a refusal says the server accepts.
func nLimit(msg string) (int, bool) {
	m := slotLimit.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	k, err := strconv.Atoi(m[1])
	if err != nil || k < 1 {
		return 0, false
	}
	return k, true
}
