package alignment

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
)

// Errors of the alignment package and of the contracts it defines.
// Implementations wrap them with %w; callers test with errors.Is.
var (
	// ErrTransient marks a failure worth retrying: a rate limit, an
	// overloaded or restarting server, a reset connection. The Loop retries
	// calls whose error wraps it, with capped exponential backoff.
	ErrTransient = errors.New("transient failure")
	// ErrUnsupported says an implementation lacks an optional capability it
	// was asked for (log-probabilities from a server that has none, say).
	ErrUnsupported = errors.New("unsupported")
	// ErrBudget says a run stopped because more items failed than its
	// failure budget allows.
	ErrBudget = errors.New("failure budget exceeded")
	// ErrNotResumable says an output directory holds a run that cannot be
	// continued with the given configuration.
	ErrNotResumable = errors.New("run cannot be resumed")
	// ErrInvalid says an input or a configuration is malformed. Every
	// package of the module reports malformed input with an error wrapping
	// it (judge.ErrInvalid, constitution.ErrInvalid and sampler.ErrInvalid
	// are this very value; dpo.ErrInvalid wraps it).
	ErrInvalid = errors.New("invalid input")
	// ErrUnparsable says a model's output holds nothing readable where a
	// score, a verdict, a critique or a generated prompt was expected, or
	// something ambiguous. judge.ErrUnparsable, constitution.ErrUnparsable
	// and promptgen.ErrUnparsable are this very value.
	ErrUnparsable = errors.New("unparsable model output")
)

// Policy is anything that writes responses: a model backend, an ensemble, a
// scripted fake.
//
// Generate returns between 1 and o.Count() responses to p. A backend that
// cannot draw several at once may return fewer than asked; SampleN fills up
// with further calls. Responses are in the order drawn.
//
// Concurrency: Generate may be called from many goroutines at once.
// Context: Generate returns promptly with ctx.Err() (or an error wrapping it)
// once ctx is done. Ownership: Generate must not modify p or o (their slices
// and maps included) nor keep them after returning; the caller owns the
// returned slice.
type Policy interface {
	Generate(ctx context.Context, p Prompt, o SampleOptions) ([]Response, error)
}

// Judge scores one response to a prompt (pointwise feedback).
//
// Concurrency: Judge may be called from many goroutines at once. Context: it
// returns promptly once ctx is done. Ownership: it must not modify p or r.
// A judge that samples a model should take its seed from SeedFrom(ctx) when
// present, so that repeated judging by the Loop is repeatable.
type Judge interface {
	Judge(ctx context.Context, p Prompt, r Response) (Judgment, error)
}

// Refiner rewrites a response: critique-and-revise, a tree-search step,
// self-play. It returns the refined response with the steps it took appended
// to Revisions; when it cannot improve r it returns r unchanged.
//
// Concurrency, context and ownership rules are those of Judge.
type Refiner interface {
	Refine(ctx context.Context, p Prompt, r Response) (Response, error)
}

// PreferenceSink receives the pairs a run produces.
//
// Concurrency: the Loop calls Write from one goroutine at a time; sinks that
// are shared with other writers must lock. Context: Write returns promptly
// once ctx is done. Ownership: the sink must not keep pairs or its elements'
// slices after returning unless it copies them.
type PreferenceSink interface {
	Write(ctx context.Context, pairs []Pair) error
}

// Optional capabilities. The Loop finds them by type assertion, as
// database/sql finds driver.QueryerContext; each doc says what happens when
// an implementation lacks the capability.

// Comparer is a pairwise judge: how likely A is a better response than B.
// The Loop uses a Comparer given in Loop.Comparer instead of pointwise
// judging; lacking one, it judges each response on its own.
//
// Concurrency, context and ownership rules are those of Judge.
type Comparer interface {
	Compare(ctx context.Context, p Prompt, a, b Response) (Comparison, error)
}

// Trainer turns one iteration's preference pairs into the next policy.
// Lacking a Trainer, the Loop keeps the same policy across iterations (as
// when it only writes data for an external trainer).
//
// Train is called from one goroutine at a time; it must not modify pairs and
// must not keep them after returning. It may return pol itself, updated in
// place, or a new Policy.
type Trainer interface {
	Train(ctx context.Context, pol Policy, pairs []Pair) (Policy, error)
}

// Checkpointer is a Trainer that can save a policy to a directory and load it
// back, which lets a run in an output directory resume after an iteration's
// training. Lacking it, a run resumes only within its first iteration and
// reports ErrNotResumable past that.
type Checkpointer interface {
	SaveCheckpoint(ctx context.Context, pol Policy, dir string) error
	LoadCheckpoint(ctx context.Context, dir string) (Policy, error)
}

// Scorer is a Policy that can give the log-probability of a given
// completion, summed over its tokens, with the number of tokens. Judges use
// it for soft labels and trainers for reference log-probabilities; lacking
// it, they parse sampled text instead, or report ErrUnsupported.
//
// Concurrency, context and ownership rules are those of Policy.
type Scorer interface {
	LogProb(ctx context.Context, p Prompt, completion string) (logProb float64, tokens int, err error)
}

// Ranged is a Judge that states its score scale, lo ≤ hi, both finite. The
// Loop uses it for histograms and saturation, and fails a prompt whose
// score falls outside it (an error wrapping ErrInvalid naming the judge,
// the score and the range); conformance tests check that every score
// falls inside it. Lacking it, the Loop assumes the 0–5 scale of the
// default rubric.
type Ranged interface {
	ScoreRange() (lo, hi float64)
}

// Flusher is a sink that buffers. The Loop calls Flush at the end of every
// iteration, before training and before it returns, including on
// cancellation and failure; lacking it, the Loop assumes Write is durable.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Fingerprinter is a part of a Loop (Policy, Prompts, Judge, Comparer,
// Refiner, Selector, Trainer, or the judges of Loop.Eval) that can say
// what it is: its configuration and, for data, a digest of its contents.
// A run with Loop.Dir records every part's fingerprint (see FingerprintOf)
// in the directory's progress journal, and a later run on the directory
// whose parts differ is refused with ErrNotResumable naming them, rather
// than mixing two runs' pairs or returning the old run's results.
// Lacking Fingerprinter, a part is recorded by its dynamic type, so only
// a change of type is noticed. SliceSource and JSONLSource give a digest
// of their prompts, LengthControlled its Rho.
//
// Fingerprint must return the same string for the same configuration in
// every process: no pointers, addresses or times. A wrapper that does not
// change what its part returns (retrying, logging, rate limiting) should
// return FingerprintOf what it wraps.
type Fingerprinter interface {
	Fingerprint() string
}

// PromptSource yields the prompts of each iteration. Sources may return the
// same prompts every iteration (a fixed set) or new ones (self-instruct).
//
// Prompts is called once per iteration from one goroutine; the Loop ranges
// over the sequence once and stops at the first error it yields. Prompt IDs
// must be unique within an iteration.
type PromptSource interface {
	Prompts(ctx context.Context, iteration int) iter.Seq2[Prompt, error]
}

// Sized is a PromptSource that knows how many prompts an iteration has.
// The Loop uses it for progress totals and to apply the failure budget from
// the first prompt; lacking it, the budget applies to the prompts seen so far
// once ten have been seen, and again at the end of the iteration.
type Sized interface {
	Len(iteration int) int
}

type seedKey struct{}

// seedCtx is the context WithSeed returns: one allocation holding both
// the context it wraps and the seed, where context.WithValue would make
// two (its node and the seed boxed in an interface). Its Value gives
// the node itself for seedKey, which a pointer holds without allocating.
type seedCtx struct {
	context.Context
	seed uint64
}

func (c *seedCtx) Value(key any) any {
	if key == (seedKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (c *seedCtx) String() string {
	parent := fmt.Sprintf("%T", c.Context)
	if s, ok := c.Context.(fmt.Stringer); ok {
		parent = s.String()
	}
	return parent + ".WithSeed(" + strconv.FormatUint(c.seed, 10) + ")"
}

// WithSeed returns a context that carries seed for the randomness of one
// call. The Loop sets it on every Judge and Refiner call, derived from
// (run seed, iteration, prompt ID, response, sample index), so that judges
// and refiners that sample a model are repeatable at any concurrency.
func WithSeed(ctx context.Context, seed uint64) context.Context {
	if ctx == nil {
		panic("alignment: WithSeed of a nil parent context")
	}
	return &seedCtx{ctx, seed}
}

// SeedFrom returns the seed set by WithSeed, if any.
func SeedFrom(ctx context.Context) (uint64, bool) {
	if c, ok := ctx.Value(seedKey{}).(*seedCtx); ok {
		return c.seed, true
	}
	return 0, false
}
