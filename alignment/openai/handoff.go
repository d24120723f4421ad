package openai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/atomicfile"
)

// Load says how a Handoff makes the server serve what a training wrote.
type Load int

// The ways a trained model reaches the server.
const (
	// LoadNone loads nothing: the training serves its result itself (it
	// restarts the server, say), under the name it reports (see Handoff),
	// or under the name the iteration sampled from when it reports none.
	LoadNone Load = iota
	// LoadVLLMLoRA loads the training's output directory into vLLM as a
	// LoRA adapter: POST {root}/v1/load_lora_adapter {"lora_name",
	// "lora_path", "load_inplace": true}. The next iteration asks for the
	// adapter's name as its model. vLLM must run with --enable-lora (and
	// --max-lora-rank at least the adapter's rank) and the environment
	// variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, without which the
	// route does not exist (404).
	LoadVLLMLoRA
	// LoadSGLangLoRA loads the output directory into SGLang as a LoRA
	// adapter: POST {root}/load_lora_adapter {"lora_name", "lora_path"}.
	// The next iteration asks for the model "<base>:<adapter>", SGLang's
	// name for a base model's adapter. SGLang must run with --enable-lora
	// (and --max-lora-rank, --lora-target-modules to fit the adapters).
	LoadSGLangLoRA
	// LoadSGLangWeights replaces SGLang's weights with the output
	// directory, a full model: POST {root}/update_weights_from_disk
	// {"model_path"}. The model keeps its name.
	LoadSGLangWeights
)

var loadNames = [...]string{"none", "vllm-lora", "sglang-lora", "sglang-weights"}

// String returns the name ParseLoad reads: "none", "vllm-lora",
// "sglang-lora" or "sglang-weights".
func (l Load) String() string {
	if l >= 0 && int(l) < len(loadNames) {
		return loadNames[l]
	}
	return "Load(" + strconv.Itoa(int(l)) + ")"
}

// ParseLoad returns the Load named s, as String names it; "" is LoadNone.
// The error wraps alignment.ErrInvalid.
func ParseLoad(s string) (Load, error) {
	if s == "" {
		return LoadNone, nil
	}
	for i, n := range loadNames {
		if s == n {
			return Load(i), nil
		}
	}
	return 0, fmt.Errorf("openai: unknown load %q (want one of %s): %w", s, strings.Join(loadNames[:], ", "), alignment.ErrInvalid)
}

// TrainJob is what one training is given: by Handoff.Func as an argument,
// by Handoff.Command in its environment.
type TrainJob struct {
	// Iteration is the iteration whose pairs these are, from 0
	// (SELFALIGN_ITERATION).
	Iteration int
	// Pairs is the absolute path of the iteration's pairs, JSON Lines in
	// TRL's conversational form unless Handoff.Pairs says otherwise
	// (SELFALIGN_PAIRS).
	Pairs string
	// Output is the absolute path of the directory, created if missing,
	// where the training writes its model or LoRA adapter, the directory
	// a LoRA load or a weights update reads (SELFALIGN_OUTPUT).
	Output string
	// BaseModel is the model name of Handoff.Policy, the model the run
	// started from (SELFALIGN_BASE_MODEL).
	BaseModel string
	// Model is the model name the iteration sampled from
	// (SELFALIGN_SERVED_MODEL).
	Model string
	// Adapter is the directory loaded for Model, the Output of the
	// training before (a LoRA adapter or, with LoadSGLangWeights, a
	// model); "" when the iteration sampled from Policy's model or Load
	// is LoadNone (SELFALIGN_SERVED_ADAPTER). A training that goes on
	// from the model the iteration sampled starts from it.
	Adapter string
}

// Handoff is an alignment.Trainer and alignment.Checkpointer for a model
// that a server speaking the OpenAI protocol serves and that something
// else trains: a shell command (TRL, OpenRLHF, a script that restarts the
// server) or a Go function. After every iteration it writes the
// iteration's pairs to Dir/iteration-<i>.jsonl, runs the training, makes
// the server serve its result (see Load), and returns a *Policy, made with
// Policy.WithModel, that asks for the new model. Since it is a
// Checkpointer, a Loop with Dir can resume it: the checkpoint holds the
// served model's name and adapter path, and a resumed run loads the
// adapter again (a restarted server has lost it) and asks for that model.
//
// Set its fields, then use it by pointer; it must not be copied after
// first use. Train is called from one goroutine at a time, as the Loop
// does.
//
// # The training's report
//
// The model the next iteration asks for is, by Load: with LoadNone, the
// name the training reports, else the name the iteration sampled from;
// with LoadVLLMLoRA, the adapter's name; with LoadSGLangLoRA,
// "<base>:<adapter>"; with LoadSGLangWeights, the name the iteration
// sampled from. The adapter's name is the one the training reports, else
// AdapterName's. A command reports a name with a line
// "SELFALIGN_MODEL=<name>" on its standard output (the last such line
// counts; a name is one word of valid UTF-8); a Func returns it. A name reported with LoadSGLangWeights,
// which keeps the served name, is an error wrapping alignment.ErrInvalid.
// Except with LoadSGLangLoRA (SGLang does not list adapters), the new
// Policy is checked (Policy.Check) before Train returns it, so that a
// server that does not serve the reported model fails the training at
// once, naming the model.
//
// An iteration without pairs trains nothing: the command is not run and
// the next iteration asks for the same model. A training that succeeded
// is recorded in Dir/iteration-<i>.trained.json with a digest of its
// pairs, and is not run again for the same pairs: a run resumed after the
// load failed (a server started without the route, say) only loads. Delete
// the record to train again.
type Handoff struct {
	// Policy is the first iteration's policy; later ones are made from it
	// with WithModel and share its servers and options. Required.
	Policy *Policy
	// Dir holds, for each iteration i, its pairs, iteration-<i>.jsonl,
	// the training's output directory, iteration-<i>/, and the record of
	// its success, iteration-<i>.trained.json. Required; the Loop's Dir
	// will do.
	Dir string
	// Command, if set, is run with "sh -c" after each iteration, in the
	// host's working directory, with the variables of TrainJob added to
	// the environment. Its standard output goes to Stdout and its
	// standard error to Stderr as they come. When it fails, Train returns an error with its exit
	// status and the end of its standard error. When the Loop's context
	// is cancelled, the command's whole process group is killed (on Unix;
	// elsewhere its own process).
	Command string
	// Func, if set instead of Command, trains in the host process; the
	// name it returns is the reported one ("" reports none).
	Func func(ctx context.Context, job TrainJob) (model string, err error)
	// Load says how the training's output reaches the server; LoadNone by
	// default.
	Load Load
	// AdapterName names the adapter trained after iteration i, unless the
	// training reports a name. Default: "selfalign-<tag>-<i+1>", with tag
	// eight hex digits of a hash of Dir's absolute path, so that a
	// resumed run loads the same names and two runs in two directories
	// do not collide on one server.
	AdapterName func(iteration int) string
	// Pairs are the options of the pairs files; nil means TRL's
	// conversational form.
	Pairs *alignment.JSONLOptions
	// Stdout and Stderr receive the command's output; nil discards it
	// (the end of the standard error still reaches the error of a failed
	// command).
	Stdout, Stderr io.Writer

	mu     sync.Mutex
	served map[*Policy]servedModel
}

var (
	_ alignment.Trainer       = (*Handoff)(nil)
	_ alignment.Checkpointer  = (*Handoff)(nil)
	_ alignment.Fingerprinter = (*Handoff)(nil)
)

// servedModel is what a Handoff knows of a policy it returned: the model
// the policy asks for, the adapter directory loaded for it ("" for none)
// and the iteration it samples.
type servedModel struct {
	Model     string `json:"model"`
	Adapter   string `json:"adapter,omitempty"`
	AdapterAs string `json:"adapter_name,omitempty"`
	Iteration int    `json:"iteration"`
	Load      string `json:"load"`
}

// checkpointFile is the file of a Handoff's checkpoint directory.
const checkpointFile = "served.json"

// stderrTail is how much of a failed command's standard error its error
// quotes.
const stderrTail = 2048

// Fingerprint names the Load, which decides the model names a run asks
// for; the command may change between a run and its resumption (a fixed
// typo, a new path), so it is not part of it.
func (h *Handoff) Fingerprint() string {
	return "openai.Handoff{load: " + h.Load.String() + "}"
}

// Train writes pairs to Dir/iteration-<i>.jsonl, runs the training, has
// the server serve its result and returns the Policy of the new model.
// Without Command and Func it only writes the pairs and returns pol.
func (h *Handoff) Train(ctx context.Context, pol alignment.Policy, pairs []alignment.Pair) (alignment.Policy, error) {
	if err := h.valid(); err != nil {
		return nil, err
	}
	cur := h.current(pol)
	it := cur.Iteration
	if len(pairs) > 0 {
		it = pairs[0].Iteration
	}
	job := TrainJob{Iteration: it, BaseModel: h.Policy.Model(), Model: cur.Model, Adapter: cur.Adapter}
	var err error
	if job.Pairs, err = filepath.Abs(filepath.Join(h.Dir, "iteration-"+strconv.Itoa(it)+".jsonl")); err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	if err := writePairs(ctx, job.Pairs, pairs, h.Pairs); err != nil {
		return nil, err
	}
	if h.Command == "" && h.Func == nil {
		return pol, nil
	}
	if len(pairs) == 0 {
		cur.Iteration = it + 1
		return h.serve(ctx, cur)
	}
	job.Output = strings.TrimSuffix(job.Pairs, ".jsonl")
	if err := os.MkdirAll(job.Output, 0o755); err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	reported, err := h.train(ctx, job)
	if err != nil {
		return nil, err
	}
	next := servedModel{Model: cur.Model, Iteration: it + 1, Load: h.Load.String()}
	switch h.Load {
	case LoadNone:
		if reported != "" {
			next.Model = reported
		}
	case LoadSGLangWeights:
		if reported != "" {
			return nil, fmt.Errorf("openai: the training after iteration %d reported model %q, but %s keeps the served model's name %q: %w", it, reported, h.Load, cur.Model, alignment.ErrInvalid)
		}
		next.Adapter = job.Output
	default:
		next.AdapterAs = reported
		if next.AdapterAs == "" {
			next.AdapterAs = h.adapterName(it)
		}
		next.Adapter = job.Output
		next.Model = next.AdapterAs
		if h.Load == LoadSGLangLoRA {
			next.Model = h.Policy.Model() + ":" + next.AdapterAs
		}
	}
	return h.serve(ctx, next)
}

// trained is the record of a training that succeeded, written beside its
// pairs, so that a Train called again for the same pairs (a run resumed
// after the load failed) does not train again.
type trained struct {
	Pairs string `json:"pairs_sha256"`
	Model string `json:"model,omitempty"`
}

// train runs the training of job, unless a record says that it already
// ran on the same pairs, and returns the name it reported.
func (h *Handoff) train(ctx context.Context, job TrainJob) (string, error) {
	sum, err := fileSum(job.Pairs)
	if err != nil {
		return "", err
	}
	record := job.Output + ".trained.json"
	if b, err := os.ReadFile(record); err == nil {
		var t trained
		if json.Unmarshal(b, &t) == nil && t.Pairs == sum {
			return t.Model, nil
		}
	}
	var reported string
	if h.Func != nil {
		if reported, err = h.Func(ctx, job); err != nil {
			return "", fmt.Errorf("openai: training after iteration %d: %w", job.Iteration, err)
		}
	} else if reported, err = h.run(ctx, job); err != nil {
		return "", err
	}
	b, err := json.Marshal(trained{Pairs: sum, Model: reported})
	if err != nil {
		return "", fmt.Errorf("openai: %w", err)
	}
	if err := atomicfile.WriteBytes(record, append(b, '\n')); err != nil {
		return "", fmt.Errorf("openai: recording the training of iteration %d: %w", job.Iteration, err)
	}
	return reported, nil
}

// fileSum returns the hex SHA-256 of the file at path.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("openai: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("openai: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SaveCheckpoint writes dir/served.json: the model pol asks for, and the
// adapter loaded for it.
func (h *Handoff) SaveCheckpoint(ctx context.Context, pol alignment.Policy, dir string) error {
	if err := h.valid(); err != nil {
		return err
	}
	b, err := json.Marshal(h.current(pol))
	if err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("openai: saving the served model: %w", err)
	}
	return nil
}

// LoadCheckpoint reads dir/served.json, loads its adapter (or weights)
// into the server again, since a server restarted since the checkpoint has
// lost them, and returns the Policy of its model.
func (h *Handoff) LoadCheckpoint(ctx context.Context, dir string) (alignment.Policy, error) {
	if err := h.valid(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, checkpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openai: reading the served model: %w", err)
	}
	var s servedModel
	if err := json.Unmarshal(b, &s); err != nil || s.Model == "" {
		return nil, fmt.Errorf("openai: %s does not name a served model: %w", path, alignment.ErrNotResumable)
	}
	if s.Adapter != "" && s.Load != h.Load.String() {
		return nil, fmt.Errorf("openai: %s was served with load %s, not %s: %w", path, s.Load, h.Load, alignment.ErrNotResumable)
	}
	return h.serve(ctx, s)
}

// valid checks the required fields.
func (h *Handoff) valid() error {
	switch {
	case h.Policy == nil:
		return fmt.Errorf("openai: Handoff.Policy is nil: %w", alignment.ErrInvalid)
	case h.Dir == "":
		return fmt.Errorf("openai: Handoff.Dir is empty: %w", alignment.ErrInvalid)
	case h.Command != "" && h.Func != nil:
		return fmt.Errorf("openai: Handoff has both Command and Func: %w", alignment.ErrInvalid)
	case h.Load < LoadNone || h.Load > LoadSGLangWeights:
		return fmt.Errorf("openai: Handoff.Load is %v: %w", h.Load, alignment.ErrInvalid)
	}
	return nil
}

// current returns what h knows of pol: a policy it returned, or else the
// first iteration's model.
func (h *Handoff) current(pol alignment.Policy) servedModel {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := pol.(*Policy); ok {
		if s, ok := h.served[p]; ok {
			return s
		}
		return servedModel{Model: p.Model(), Load: h.Load.String()}
	}
	return servedModel{Model: h.Policy.Model(), Load: h.Load.String()}
}

// serve makes the server serve s (loading its adapter or weights on every
// endpoint), checks it where the server lists it, and returns its Policy.
func (h *Handoff) serve(ctx context.Context, s servedModel) (*Policy, error) {
	if s.Adapter != "" {
		for _, ep := range h.Policy.eps {
			if err := h.load(ctx, ep, s); err != nil {
				return nil, h.Policy.redact(err)
			}
		}
	}
	next, err := h.Policy.WithModel(s.Model)
	if err != nil {
		return nil, err
	}
	if h.Load != LoadSGLangLoRA {
		if err := next.Check(ctx); err != nil {
			return nil, fmt.Errorf("openai: the model trained after iteration %d: %w", s.Iteration-1, err)
		}
	}
	h.mu.Lock()
	if h.served == nil {
		h.served = map[*Policy]servedModel{}
	}
	h.served[next] = s
	h.mu.Unlock()
	return next, nil
}

// load loads s's adapter or weights on ep. A name already loaded (vLLM
// before load_inplace, SGLang) is unloaded and loaded again, so that the
// server serves this training's output, not an earlier one's.
func (h *Handoff) load(ctx context.Context, ep *endpoint, s servedModel) error {
	switch h.Load {
	case LoadVLLMLoRA, LoadSGLangLoRA:
		path, unload := "/v1/load_lora_adapter", "/v1/unload_lora_adapter"
		body := map[string]any{"lora_name": s.AdapterAs, "lora_path": s.Adapter, "load_inplace": true}
		if h.Load == LoadSGLangLoRA {
			path, unload = "/load_lora_adapter", "/unload_lora_adapter"
			delete(body, "load_inplace")
		}
		err := h.admin(ctx, ep, path, body)
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusBadRequest && strings.Contains(se.Message, "already") {
			if err := h.admin(ctx, ep, unload, map[string]any{"lora_name": s.AdapterAs}); err != nil {
				return err
			}
			err = h.admin(ctx, ep, path, body)
		}
		return err
	case LoadSGLangWeights:
		return h.admin(ctx, ep, "/update_weights_from_disk", map[string]any{"model_path": s.Adapter})
	}
	return nil
}

// adminAttempts bounds the tries of one load request that fails
// transiently (a server restarting): the training before it may have
// taken hours.
const adminAttempts = 4

// admin posts body to path at ep's root (its base URL without "/v1"),
// retrying transient failures, and fails on an error status or on SGLang's
// {"success": false}. A server without the route (404, 405) gives an error
// wrapping alignment.ErrUnsupported that names it.
func (h *Handoff) admin(ctx context.Context, ep *endpoint, path string, body any) error {
	p := h.Policy
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	root := &endpoint{base: strings.TrimSuffix(ep.base, "/v1"), query: ep.query, name: strings.TrimSuffix(ep.name, "/v1")}
	for attempt := 0; ; attempt++ {
		var data []byte
		data, err = p.roundTrip(ctx, root, path, b)
		if err == nil {
			var res struct {
				Success      *bool  `json:"success"`
				ErrorMessage string `json:"error_message"`
				Message      string `json:"message"`
			}
			if json.Unmarshal(data, &res) == nil && res.Success != nil && !*res.Success {
				return fmt.Errorf("openai: POST %s%s: %s", root.name, path, truncate(p.scrub(cmpOr(res.ErrorMessage, res.Message)), maxMessage))
			}
			return nil
		}
		// A 404 is a missing route, unless it is vLLM's answer to an
		// adapter directory it cannot read (LoRAAdapterNotFoundError).
		var se *StatusError
		if errors.As(err, &se) {
			if se.StatusCode == http.StatusNotFound && !strings.Contains(se.Message, "No adapter found") || se.StatusCode == http.StatusMethodNotAllowed {
				return fmt.Errorf("openai: backend %s has no POST %s (%d %s); %s: %w", root.name, path, se.StatusCode, http.StatusText(se.StatusCode), h.Load.setup(), alignment.ErrUnsupported)
			}
		}
		if !errors.Is(err, alignment.ErrTransient) || attempt+1 >= adminAttempts || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(p.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("openai: waiting to retry %s%s: %w", root.name, path, ctx.Err())
		case <-t.C:
		}
	}
}

// setup says how to start the server so that it has the route a Load
// needs.
func (l Load) setup() string {
	switch l {
	case LoadVLLMLoRA:
		return "start vLLM with --enable-lora and the environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
	case LoadSGLangLoRA:
		return "SGLang serves it from v0.4.9 on, started with --enable-lora"
	default:
		return "SGLang serves it; other servers cannot reload weights"
	}
}

// adapterName is AdapterName(it), or the default.
func (h *Handoff) adapterName(it int) string {
	if h.AdapterName != nil {
		if n := h.AdapterName(it); n != "" {
			return n
		}
	}
	abs, err := filepath.Abs(h.Dir)
	if err != nil {
		abs = h.Dir
	}
	sum := sha256.Sum256([]byte(abs))
	return "selfalign-" + hex.EncodeToString(sum[:4]) + "-" + strconv.Itoa(it+1)
}

// run runs Command for job and returns the model name it reported.
func (h *Handoff) run(ctx context.Context, job TrainJob) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", h.Command)
	cmd.Env = append(os.Environ(),
		"SELFALIGN_PAIRS="+job.Pairs,
		"SELFALIGN_ITERATION="+strconv.Itoa(job.Iteration),
		"SELFALIGN_OUTPUT="+job.Output,
		"SELFALIGN_BASE_MODEL="+job.BaseModel,
		"SELFALIGN_SERVED_MODEL="+job.Model,
		"SELFALIGN_SERVED_ADAPTER="+job.Adapter,
	)
	killGroup(cmd)
	// Grandchildren that outlive a killed shell would hold the pipes
	// open; stop waiting for them after a while.
	cmd.WaitDelay = 5 * time.Second
	out := &reportScanner{}
	tail := &tailBuffer{max: stderrTail}
	cmd.Stdout = io.MultiWriter(orDiscard(h.Stdout), out)
	cmd.Stderr = io.MultiWriter(orDiscard(h.Stderr), tail)
	err := cmd.Run()
	if err == nil {
		return out.model(), nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("openai: training command after iteration %d stopped: %w", job.Iteration, ctx.Err())
	}
	msg := fmt.Sprintf("openai: training command after iteration %d failed (%v)", job.Iteration, err)
	if t := strings.TrimSpace(tail.String()); t != "" {
		msg += "; the end of its standard error:\n" + t
	}
	return "", errors.New(msg)
}

// writePairs writes pairs to a new file at path.
func writePairs(ctx context.Context, path string, pairs []alignment.Pair, o *alignment.JSONLOptions) error {
	sink, err := alignment.CreateJSONL(path, o)
	if err != nil {
		return err
	}
	if err := sink.Write(ctx, pairs); err != nil {
		sink.Close()
		return err
	}
	return sink.Close()
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// reportPrefix starts the line of standard output with which a training
// command reports the model name to serve next.
const reportPrefix = "SELFALIGN_MODEL="

// reportScanner keeps the name of the last line of the output written to
// it that starts with reportPrefix.
type reportScanner struct {
	partial []byte
	last    string
}

func (r *reportScanner) Write(b []byte) (int, error) {
	r.partial = append(r.partial, b...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		r.line(r.partial[:i])
		r.partial = r.partial[i+1:]
	}
	// A line longer than any name is not a report: keep only its start.
	if len(r.partial) > 4096 {
		r.partial = r.partial[:4096]
	}
	return len(b), nil
}

// line takes l's name when l is a report. A name is one word of valid
// UTF-8: a line whose name holds a space, a control character or a broken
// byte is not a report (a progress bar's carriage return, say).
func (r *reportScanner) line(l []byte) {
	s := strings.TrimSpace(string(l))
	name, ok := strings.CutPrefix(s, reportPrefix)
	name = strings.TrimSpace(name)
	if !ok || name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		return
	}
	r.last = name
}

// model returns the last name reported, the unterminated last line
// included.
func (r *reportScanner) model() string {
	if len(r.partial) > 0 {
		r.line(r.partial)
		r.partial = nil
	}
	return r.last
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// String returns the tail, from the first whole line when it was cut.
func (t *tailBuffer) String() string {
	s := strings.ToValidUTF8(string(t.buf), "\uFFFD")
	if len(t.buf) >= t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
