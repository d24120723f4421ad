package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
)

// CheckTimeout bounds Policy.Check on each endpoint.
const CheckTimeout = 5 * time.Second

// ErrUnreachable says that Policy.Check found an endpoint that does not
// answer: the connection was refused, the host name does not resolve, or
// nothing came back within CheckTimeout.
var ErrUnreachable = errors.New("backend unreachable")

// Check asks every endpoint, once and in parallel, for its model list (GET
// {base}/models, which vLLM, SGLang, llama.cpp's server, Ollama's /v1 and
// OpenAI all serve), within CheckTimeout and without retries, so that a
// host can refuse to start a run against a dead or misconfigured backend in
// seconds rather than after every retry of the first calls has failed.
//
// It fails, naming the endpoint as RedactURL shows it, when an endpoint
// cannot be reached (the error wraps ErrUnreachable), refuses the API key
// (401 or 403, a *StatusError), answers a 5xx (a *StatusError; llama.cpp
// answers 503 while it loads the model), or lists models of which none is
// the Policy's model (an error wrapping alignment.ErrInvalid); llama.cpp's
// server, which answers under any model name, is exempt from that last
// test. An endpoint that has no /models (404, 405) passes: requests may
// still work. Errors of several endpoints are joined.
func (p *Policy) Check(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	errs := make([]error, len(p.eps))
	for i, ep := range p.eps {
		g.Go(func() error {
			errs[i] = p.redact(p.check(gctx, ep))
			return nil
		})
	}
	g.Wait()
	return errors.Join(errs...)
}

func (p *Policy) check(ctx context.Context, ep *endpoint) error {
	cctx, cancel := context.WithTimeout(ctx, min(CheckTimeout, p.timeout))
	defer cancel()
	where := ep.name + "/models"
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, ep.url("/models"), nil)
	if err != nil {
		return fmt.Errorf("openai: GET %s: %s", where, p.scrub(causeOf(err)))
	}
	req.Header.Set("Accept", "application/json")
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("openai: checking %s: %w", ep.name, ctx.Err())
		}
		if cctx.Err() != nil {
			return fmt.Errorf("openai: backend %s did not answer GET /models within %v: %w", ep.name, min(CheckTimeout, p.timeout), ErrUnreachable)
		}
		return fmt.Errorf("openai: backend %s is not reachable: %s: %w", ep.name, p.scrub(causeOf(err)), ErrUnreachable)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil && cctx.Err() != nil {
		return fmt.Errorf("openai: backend %s did not finish answering GET /models within %v: %w", ep.name, min(CheckTimeout, p.timeout), ErrUnreachable)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code >= 500:
		return fmt.Errorf("openai: checking backend %s: %w", ep.name, &StatusError{
			Method:     http.MethodGet,
			Endpoint:   where,
			StatusCode: code,
			Message:    truncate(p.scrub(errorMessage(body)), maxMessage),
		})
	case code < 200 || code > 299:
		return nil
	}
	return p.checkModels(ep, body)
}

// modelList is the answer to GET /models: OpenAI's shape, which every
// server we know copies; llama.cpp marks its entries owned_by "llamacpp".
type modelList struct {
	Data []struct {
		ID      string `json:"id"`
		OwnedBy string `json:"owned_by"`
	} `json:"data"`
}

// checkModels fails when body lists models and none is the Policy's.
func (p *Policy) checkModels(ep *endpoint, body []byte) error {
	var ml modelList
	if json.Unmarshal(body, &ml) != nil || len(ml.Data) == 0 {
		return nil
	}
	ids := make([]string, 0, len(ml.Data))
	for _, m := range ml.Data {
		if m.ID == p.model || m.OwnedBy == "llamacpp" {
			return nil
		}
		ids = append(ids, m.ID)
	}
	if len(ids) > 8 {
		ids = append(ids[:8], "…")
	}
	return fmt.Errorf("openai: backend %s does not serve model %q (it lists %s): %w", ep.name, p.model, strings.Join(ids, ", "), alignment.ErrInvalid)
}
