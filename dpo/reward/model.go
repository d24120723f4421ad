package reward

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/selfalign/selfalign/alignment"
)

// Errors of the reward package.
var (
	// ErrInvalid says an input or an option is malformed; it is
	// alignment.ErrInvalid itself.
	ErrInvalid = alignment.ErrInvalid
	// ErrCheckpoint says a saved model could not be loaded: it is not one,
	// has an unsupported version, is truncated or corrupt, or holds a value
	// out of range. Load's errors wrap it.
	ErrCheckpoint = errors.New("reward: invalid checkpoint")
)

// AspectReward is the key of the raw reward r(x, y) in a judgment's
// Aspects.
const AspectReward = "reward"

// Defaults of Options. The learning rate and L2 were chosen by measurement
// on the task world of examples/rlaif (one round of soft-labelled pairs,
// about 150): over seeds 1–8, held-out accuracy 0.898 against 0.834 with a
// learning rate of 0.05 and L2 of 1e-3, and 0.892 over seeds 9–16, which
// took no part in the choice.
const (
	DefaultDim          = 1 << 16
	DefaultEpochs       = 40
	DefaultBatchSize    = 32
	DefaultLearningRate = 0.01
	DefaultL2           = 0.01
	maxDim              = 1 << 24
)

// Options configure a Model and its training. A nil *Options, and every
// zero field, mean the defaults.
type Options struct {
	// Dim is the number of hashed feature buckets (DefaultDim), at most
	// 2^24.
	Dim int
	// Epochs is the number of passes over the pairs of each Fit
	// (DefaultEpochs).
	Epochs int
	// BatchSize is the number of pairs per Adam step (DefaultBatchSize).
	BatchSize int
	// LearningRate is Adam's step size (DefaultLearningRate).
	LearningRate float64
	// L2 is the weight of the (L2/2)·‖w‖² penalty (DefaultL2); a negative
	// value means none.
	L2 float64
	// Seed drives the order of the pairs in each epoch.
	Seed uint64
}

// resolve returns o with the defaults filled in, or an error naming the
// first option out of range.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("reward: Options.%s = %v, want %s: %w", name, v, want, ErrInvalid)
	}
	switch {
	case r.Dim < 0 || r.Dim > maxDim:
		return r, bad("Dim", r.Dim, fmt.Sprintf("0 (default) or 1 to %d", maxDim))
	case r.Epochs < 0:
		return r, bad("Epochs", r.Epochs, "≥ 0")
	case r.BatchSize < 0:
		return r, bad("BatchSize", r.BatchSize, "≥ 0")
	case !(r.LearningRate >= 0) || math.IsInf(r.LearningRate, 0):
		return r, bad("LearningRate", r.LearningRate, "a finite number ≥ 0")
	case math.IsNaN(r.L2) || math.IsInf(r.L2, 0):
		return r, bad("L2", r.L2, "a finite number")
	}
	if r.Dim == 0 {
		r.Dim = DefaultDim
	}
	if r.Epochs == 0 {
		r.Epochs = DefaultEpochs
	}
	if r.BatchSize == 0 {
		r.BatchSize = DefaultBatchSize
	}
	if r.LearningRate == 0 {
		r.LearningRate = DefaultLearningRate
	}
	switch {
	case r.L2 == 0:
		r.L2 = DefaultL2
	case r.L2 < 0:
		r.L2 = 0
	}
	return r, nil
}

// Model is a Bradley–Terry reward model over hashed features of (prompt,
// response). It implements alignment.Judge, alignment.Ranged and
// alignment.Fingerprinter.
//
// A Model is safe for concurrent use: Reward, Judge and Evaluate may run
// from many goroutines, and Fit waits for them (and they for it).
type Model struct {
	o Options

	mu sync.RWMutex
	w  []float64
}

var (
	_ alignment.Judge         = (*Model)(nil)
	_ alignment.Ranged        = (*Model)(nil)
	_ alignment.Fingerprinter = (*Model)(nil)
)

// New returns an untrained Model (every reward 0) with the options o (nil
// means the defaults). The error wraps ErrInvalid and names the option.
func New(o *Options) (*Model, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	return &Model{o: r, w: make([]float64, r.Dim)}, nil
}

// Options returns the model's options with the defaults filled in.
func (m *Model) Options() Options { return m.o }

// Reward returns r(x, y) = w·φ(x, y), the raw reward of response to prompt.
func (m *Model) Reward(prompt alignment.Prompt, response string) float64 {
	fs := Features(prompt.Text(), response, m.o.Dim)
	m.mu.RLock()
	defer m.mu.RUnlock()
	return dot(m.w, fs)
}

// ScoreRange implements alignment.Ranged: Judge's scores lie in [0, 1].
func (m *Model) ScoreRange() (lo, hi float64) { return 0, 1 }

// Judge implements alignment.Judge: the score is σ(r(x, y)), the
// Bradley–Terry probability that r beats a response of reward 0, and
// Aspects[AspectReward] holds r(x, y) itself.
func (m *Model) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("reward: judge: %w", err)
	}
	x := m.Reward(p, r.Text)
	return alignment.Judgment{Score: sigmoid(x), Aspects: map[string]float64{AspectReward: x}}, nil
}

// Metrics are a reward model's figures on a set of pairs, named as TRL's
// RewardTrainer logs them.
type Metrics struct {
	// Pairs is the number of pairs measured.
	Pairs int `json:"pairs"`
	// Accuracy is the fraction of pairs whose chosen response has a
	// strictly higher reward than the rejected one (a tie counts as wrong).
	Accuracy float64 `json:"accuracy"`
	// Margin is the mean of the chosen reward minus the rejected one.
	Margin float64 `json:"margin"`
	// MinReward, MeanReward and MaxReward are over the rewards of every
	// chosen and rejected response.
	MinReward  float64 `json:"min_reward"`
	MeanReward float64 `json:"mean_reward"`
	MaxReward  float64 `json:"max_reward"`
}

// Evaluate returns the model's Metrics on pairs, with their hard labels
// (Chosen preferred, whatever its Prob). No pairs give zero Metrics; an
// invalid pair is a *PairError.
func (m *Model) Evaluate(pairs []alignment.Pair) (Metrics, error) {
	enc, err := m.encode(pairs)
	if err != nil {
		return Metrics{}, err
	}
	mt := Metrics{Pairs: len(pairs)}
	if len(pairs) == 0 {
		return mt, nil
	}
	mt.MinReward, mt.MaxReward = math.Inf(1), math.Inf(-1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	var correct int
	for _, e := range enc {
		c, r := dot(m.w, e.chosen), dot(m.w, e.rejected)
		if c > r {
			correct++
		}
		mt.Margin += c - r
		mt.MeanReward += c + r
		mt.MinReward = min(mt.MinReward, c, r)
		mt.MaxReward = max(mt.MaxReward, c, r)
	}
	n := float64(len(enc))
	mt.Accuracy = float64(correct) / n
	mt.Margin /= n
	mt.MeanReward /= 2 * n
	return mt, nil
}

// PairError reports an invalid pair: its index in the slice given, its
// prompt's ID and what is wrong. It wraps ErrInvalid.
type PairError struct {
	Index  int
	Prompt string
	Reason string
}

// Error implements error.
func (e *PairError) Error() string {
	return fmt.Sprintf("reward: invalid input: pair %d (prompt %q): %s", e.Index, e.Prompt, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *PairError) Unwrap() error { return ErrInvalid }

// encoded is a pair as the model sees it.
type encoded struct {
	chosen, rejected []Feature
	q                float64 // the probability that chosen is preferred
}

// encode checks pairs and computes their features and labels.
func (m *Model) encode(pairs []alignment.Pair) ([]encoded, error) {
	out := make([]encoded, len(pairs))
	for i, p := range pairs {
		bad := func(reason string) error { return &PairError{Index: i, Prompt: p.Prompt.ID, Reason: reason} }
		q := p.Prob
		switch {
		case math.IsNaN(q) || q < 0 || q > 1:
			return nil, bad(fmt.Sprintf("Prob = %v, want 0 (a hard label) or a probability in (0, 1]", q))
		case p.Chosen.Text == p.Rejected.Text:
			return nil, bad("Chosen and Rejected have the same text, which no reward can separate")
		case q == 0:
			q = 1
		}
		x := p.Prompt.Text()
		out[i] = encoded{chosen: Features(x, p.Chosen.Text, m.o.Dim), rejected: Features(x, p.Rejected.Text, m.o.Dim), q: q}
	}
	return out, nil
}

func dot(w []float64, fs []Feature) float64 {
	var s float64
	for _, f := range fs {
		s += w[f.Index] * f.Value
	}
	return s
}

// sigmoid is σ(x) = 1/(1 + e^(−x)), computed without overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// logSigmoid is log σ(x), computed without overflow or cancellation.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}
