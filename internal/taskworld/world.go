package taskworld

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
	"github.com/selfalign/selfalign/judge"
)

// ErrOptions says that Options ask for something the world cannot give.
var ErrOptions = errors.New("taskworld: invalid options")

// Defaults of Options, sized for a quickstart of under a minute on two cores.
// The bad share and the corpus size were chosen by measurement: with a
// tinylm fine-tuned on this corpus and three self-rewarding DPO iterations
// judged by Score, a 70% bad corpus of 1000 examples left room for the
// held-out mean score to rise by about 1.2 points, where 60% of 600 left
// about 0.8 (see the package documentation).
const (
	DefaultTrain    = 160
	DefaultHeldOut  = 60
	DefaultExamples = 1000
	DefaultBadShare = 0.7
)

// heldOutPairShare is the share of arithmetic operand pairs kept out of
// training prompts, so that held-out arithmetic asks sums never trained on.
const heldOutPairShare = 0.2

// maxOperand is the largest operand of the world's sums: small enough that
// every sum of the training pairs occurs a few times in the corpus, so that
// the tinylm can learn the ones it sees.
const maxOperand = 5

// familyWeights are the shares of each family among the prompts of a split,
// in the order of Families. Families whose pool is too small give their
// excess to the others.
var familyWeights = []float64{0.25, 0.15, 0.15, 0.15, 0.15, 0.15}

// Options size a World. A nil *Options, and every zero field, mean the
// defaults.
type Options struct {
	// Train is the number of training prompts (DefaultTrain).
	Train int
	// HeldOut is the number of held-out prompts (DefaultHeldOut).
	HeldOut int
	// Examples is the number of (prompt, response) pairs of the supervised
	// corpus (DefaultExamples), spread evenly over the training prompts.
	Examples int
	// BadShare is the fraction of corpus responses that are bad, in (0, 1]
	// (DefaultBadShare). The number of bad responses is BadShare·Examples
	// rounded to the nearest integer, split evenly over BadKinds. For a
	// corpus of good responses only, keep the examples of KindGood.
	BadShare float64
	// EFT is the number of labelled judgments of evaluation fine-tuning
	// (see World.EFT), at most MaxEFT. Unlike the other fields, 0 means
	// none: a world whose model only answers.
	EFT int
}

// resolve returns o with defaults filled in, or an error naming the first
// field out of range.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{{"Train", &r.Train, DefaultTrain}, {"HeldOut", &r.HeldOut, DefaultHeldOut}, {"Examples", &r.Examples, DefaultExamples}} {
		if *f.v < 0 {
			return r, fmt.Errorf("taskworld: %s %d is negative: %w", f.name, *f.v, ErrOptions)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if math.IsNaN(r.BadShare) || r.BadShare < 0 || r.BadShare > 1 {
		return r, fmt.Errorf("taskworld: BadShare %v is outside [0, 1]: %w", r.BadShare, ErrOptions)
	}
	if r.BadShare == 0 {
		r.BadShare = DefaultBadShare
	}
	if r.EFT < 0 || r.EFT > MaxEFT {
		return r, fmt.Errorf("taskworld: EFT %d is outside [0, %d]: %w", r.EFT, MaxEFT, ErrOptions)
	}
	return r, nil
}

// Task is one prompt of the world with its facts.
type Task struct {
	Prompt alignment.Prompt
	Facts  Facts
	// Novelty says what is new about a held-out prompt; it is empty for
	// training prompts.
	Novelty Novelty
}

// Novelty is what makes a held-out prompt new to a model trained on the
// training prompts, so that a report can tell what generalises from what
// does not.
type Novelty string

// The kinds of held-out prompt.
const (
	// NoveltyCombination is a training phrasing with a subject that no
	// training prompt asks in that phrasing ("tell me the capital of peru."
	// when training asked "what is the capital of peru?" and "tell me the
	// capital of spain.").
	NoveltyCombination Novelty = "combination"
	// NoveltyPhrasing is a phrasing that no training prompt uses, about a
	// subject that training prompts ask about.
	NoveltyPhrasing Novelty = "phrasing"
	// NoveltyPair is a sum or difference of operands that no training prompt
	// asks, in any phrasing: a fact the model has never seen.
	NoveltyPair Novelty = "pair"
	// NoveltySubject is a country, thing, animal, greeting or harmful act
	// that no training prompt asks about. It occurs only when Train is too
	// small for the training prompts to cover every subject, as they do at
	// the default sizes.
	NoveltySubject Novelty = "subject"
)

// String returns a task as "id [family] text", or "id [family/novelty]
// text" for a held-out task, for logs and examples.
func (t Task) String() string {
	tag := string(t.Facts.Family)
	if t.Novelty != "" {
		tag += "/" + string(t.Novelty)
	}
	return fmt.Sprintf("%s [%s] %s", t.Prompt.ID, tag, strings.TrimSpace(t.Prompt.Text()))
}

// Example is one (prompt, response) pair of the supervised corpus.
type Example struct {
	Prompt   alignment.Prompt
	Response string
	Kind     Kind
}

// World is a task world generated from a seed: training prompts, held-out
// prompts and a supervised corpus of good and bad responses to the training
// prompts. It is immutable and safe for concurrent use; its methods return
// copies.
type World struct {
	seed           uint64
	train, heldOut []Task
	corpus         []Example
	format         *judge.ScoreFormat
	eft            []EFTExample
}

// New generates the world of seed sized by o (nil means defaults). The same
// seed and options give the same world. Options out of range are an error
// wrapping ErrOptions that names the field.
func New(seed uint64, o *Options) (*World, error) {
	opt, err := o.resolve()
	if err != nil {
		return nil, err
	}
	trainPools, heldOutPools := pools(seed)
	total := func(ps [][]Task) int {
		n := 0
		for _, p := range ps {
			n += len(p)
		}
		return n
	}
	if n := total(trainPools); opt.Train > n {
		return nil, fmt.Errorf("taskworld: Train %d exceeds the %d distinct training prompts: %w", opt.Train, n, ErrOptions)
	}
	format, err := judge.NewScoreFormat(nil)
	if err != nil {
		return nil, fmt.Errorf("taskworld: %w", err)
	}
	w := &World{seed: seed, format: format, train: draw(seed, "train", trainPools, opt.Train)}
	// Training phrasings with subjects not drawn for training are held-out
	// combinations.
	drawn := map[string]bool{}
	for _, t := range w.train {
		drawn[t.Prompt.Text()] = true
	}
	for fi, p := range trainPools {
		for _, t := range p {
			if !drawn[t.Prompt.Text()] {
				t.Novelty = NoveltyCombination
				heldOutPools[fi] = append(heldOutPools[fi], t)
			}
		}
	}
	if n := total(heldOutPools); opt.HeldOut > n {
		return nil, fmt.Errorf("taskworld: HeldOut %d exceeds the %d distinct held-out prompts left by Train %d: %w", opt.HeldOut, n, opt.Train, ErrOptions)
	}
	w.heldOut = draw(seed, "heldout", heldOutPools, opt.HeldOut)
	// A small Train leaves subjects out of training; say so rather than
	// call their prompts new phrasings or combinations.
	taught := map[string]bool{}
	for _, t := range w.train {
		taught[fmt.Sprint(t.Facts)] = true
	}
	for i, t := range w.heldOut {
		if !taught[fmt.Sprint(t.Facts)] {
			if t.Facts.Family == FamilyArithmetic {
				w.heldOut[i].Novelty = NoveltyPair
			} else {
				w.heldOut[i].Novelty = NoveltySubject
			}
		}
	}
	w.corpus = corpus(seed, w.train, opt.Examples, opt.BadShare)
	if w.eft, err = eftSet(seed, w.train, opt.EFT, format); err != nil {
		return nil, err
	}
	return w, nil
}

// Train returns the training prompts: the prompts of the corpus and of
// self-rewarding iterations.
func (w *World) Train() []Task { return cloneTasks(w.train) }

// HeldOut returns the held-out prompts, for evaluation: new combinations of
// training phrasings and subjects, new phrasings of the same subjects, and
// sums of operand pairs never trained on (see Novelty). No held-out prompt
// has the text of a training prompt, and every word of a held-out prompt
// occurs in the corpus at the default sizes.
func (w *World) HeldOut() []Task { return cloneTasks(w.heldOut) }

// Corpus returns the supervised corpus in a seeded order. Every training
// prompt has at least one good response when there are enough good ones, so
// that fine-tuning sees the right answer to each.
func (w *World) Corpus() []Example {
	out := make([]Example, len(w.corpus))
	for i, e := range w.corpus {
		out[i] = e
		out[i].Prompt = e.Prompt.Clone()
	}
	return out
}

// Vocabulary returns the distinct tinylm tokens of the world (its prompts,
// corpus responses and EFT sequences), sorted.
func (w *World) Vocabulary() []string {
	set := map[string]bool{}
	add := func(s string) {
		for _, t := range split(s) {
			set[t] = true
		}
	}
	for _, t := range w.train {
		add(t.Prompt.Text())
	}
	for _, t := range w.heldOut {
		add(t.Prompt.Text())
	}
	for _, e := range w.corpus {
		add(e.Response)
	}
	for _, e := range w.eft {
		for _, m := range e.Prompt.Messages {
			add(m.Content)
		}
		add(e.Completion)
	}
	return slices.Sorted(maps.Keys(set))
}

// Prompts returns the prompts of tasks, in order.
func Prompts(tasks []Task) []alignment.Prompt {
	out := make([]alignment.Prompt, len(tasks))
	for i, t := range tasks {
		out[i] = t.Prompt.Clone()
	}
	return out
}

// pools returns every candidate prompt of each family, in the order of
// Families, in training phrasings and in held-out ones (or with held-out
// operand pairs); the two share no text. The facts of each task are built
// from the content that made it, not parsed, so that tests can hold Parse to
// them.
func pools(seed uint64) (train, heldOut [][]Task) {
	type content struct {
		slots   map[string]string
		facts   Facts
		heldOut bool
	}
	build := func(ts []template, cs []content, held bool) []Task {
		var out []Task
		for _, t := range ts {
			for _, c := range cs {
				if (t.heldOut || c.heldOut) != held {
					continue
				}
				s := t.text
				for _, k := range slices.Sorted(maps.Keys(c.slots)) {
					s = fill(s, "{"+k+"}", c.slots[k])
				}
				task := Task{Prompt: alignment.NewPrompt("", render(split(s))), Facts: c.facts}
				switch {
				case c.heldOut:
					task.Novelty = NoveltyPair
				case t.heldOut:
					task.Novelty = NoveltyPhrasing
				}
				out = append(out, task)
			}
		}
		return out
	}

	var sums []content
	for a := 1; a <= maxOperand; a++ {
		for b := 1; b <= maxOperand; b++ {
			for _, op := range []string{"plus", "minus"} {
				r := a + b
				if op == "minus" {
					r = a - b
				}
				if r < 0 {
					continue
				}
				sums = append(sums, content{
					slots: map[string]string{"a": strconv.Itoa(a), "op": op, "b": strconv.Itoa(b)},
					facts: Facts{Family: FamilyArithmetic, Subject: op, Answers: []string{strconv.Itoa(r)}, A: a, B: b, Result: r},
				})
			}
		}
	}
	order := seeds.Rand(seeds.Derive(seed, "pairs")).Perm(len(sums))
	for _, i := range order[:int(math.Round(heldOutPairShare*float64(len(sums))))] {
		sums[i].heldOut = true
	}
	var capitalCs, colourCs, soundCs, harmCs, helloCs []content
	for _, k := range slices.Sorted(maps.Keys(capitals)) {
		capitalCs = append(capitalCs, content{slots: map[string]string{"x": k}, facts: Facts{Family: FamilyCapital, Subject: k, Answers: []string{capitals[k]}}})
	}
	for _, k := range slices.Sorted(maps.Keys(things)) {
		colourCs = append(colourCs, content{slots: map[string]string{"x": things[k].phrase}, facts: Facts{Family: FamilyColour, Subject: k, Answers: []string{things[k].colour}}})
	}
	for _, k := range slices.Sorted(maps.Keys(animals)) {
		soundCs = append(soundCs, content{slots: map[string]string{"x": animals[k].phrase}, facts: Facts{Family: FamilySound, Subject: k, Answers: []string{animals[k].sound}}})
	}
	for _, k := range slices.Sorted(maps.Keys(acts)) {
		harmCs = append(harmCs, content{slots: map[string]string{"x": acts[k].phrase}, facts: Facts{Family: FamilyHarmful, Subject: k}})
	}
	for _, g := range greetings {
		for _, ph := range g.phrases {
			helloCs = append(helloCs, content{slots: map[string]string{"x": ph, "end": g.end}, facts: Facts{Family: FamilyGreeting, Subject: g.name, Answers: g.answers}})
		}
	}
	families := []struct {
		ts []template
		cs []content
	}{
		{arithmeticTemplates, sums},
		{capitalTemplates, capitalCs},
		{colourTemplates, colourCs},
		{soundTemplates, soundCs},
		{greetingTemplates, helloCs},
		{harmfulTemplates, harmCs},
	}
	seen := map[string]bool{}
	for _, f := range families {
		ts := dedup(build(f.ts, f.cs, false), nil)
		for _, t := range ts {
			seen[t.Prompt.Text()] = true
		}
		train = append(train, ts)
	}
	for _, f := range families {
		heldOut = append(heldOut, dedup(build(f.ts, f.cs, true), seen))
	}
	return train, heldOut
}

// dedup returns the tasks of ts whose text is neither in skip nor in an
// earlier task.
func dedup(ts []Task, skip map[string]bool) []Task {
	var out []Task
	done := map[string]bool{}
	for _, t := range ts {
		s := t.Prompt.Text()
		if skip[s] || done[s] {
			continue
		}
		done[s] = true
		out = append(out, t)
	}
	return out
}

// draw takes n tasks from the per-family pools, in proportion to
// familyWeights, and returns them in a seeded order with IDs
// "<split>-<family>-<index>". Within a family it covers every subject (every
// operand pair, for arithmetic) before it takes a second prompt of any, so
// that the training prompts teach every fact that held-out prompts ask about
// (except the held-out pairs).
func draw(seed uint64, name string, pools [][]Task, n int) []Task {
	quota := allocate(n, pools)
	var out []Task
	for fi, p := range pools {
		fam := Families()[fi]
		r := seeds.Rand(seeds.Derive(seed, name, string(fam)))
		for j, t := range spread(r, p)[:quota[fi]] {
			t.Prompt = alignment.NewPrompt(fmt.Sprintf("%s-%s-%03d", name, fam, j), t.Prompt.Text())
			t.Facts.Answers = slices.Clone(t.Facts.Answers)
			out = append(out, t)
		}
	}
	r := seeds.Rand(seeds.Derive(seed, name, "order"))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// spread returns the tasks of pool in a random order that takes one task of
// each subject in turn: groups by subject in random order, each shuffled.
func spread(r *rand.Rand, pool []Task) []Task {
	groups := map[string][]Task{}
	for _, t := range pool {
		k := t.Facts.Subject
		if t.Facts.Family == FamilyArithmetic {
			k = fmt.Sprint(t.Facts.A, t.Facts.Subject, t.Facts.B)
		}
		groups[k] = append(groups[k], t)
	}
	keys := slices.Sorted(maps.Keys(groups))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		g := groups[k]
		r.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
	}
	out := make([]Task, 0, len(pool))
	for round := 0; len(out) < len(pool); round++ {
		for _, k := range keys {
			if round < len(groups[k]) {
				out = append(out, groups[k][round])
			}
		}
	}
	return out
}

// allocate splits n over the pools by familyWeights (largest remainders),
// then moves what a pool cannot hold to the next pools with room. n must not
// exceed the pools' total size.
func allocate(n int, pools [][]Task) []int {
	q := make([]int, len(pools))
	rem := make([]float64, len(pools))
	given := 0
	for i, w := range familyWeights {
		x := w * float64(n)
		q[i] = int(x)
		rem[i] = x - float64(q[i])
		given += q[i]
	}
	byRem := make([]int, len(pools))
	for i := range byRem {
		byRem[i] = i
	}
	slices.SortStableFunc(byRem, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for k := 0; given < n; k++ {
		q[byRem[k%len(byRem)]]++
		given++
	}
	excess := 0
	for i := range q {
		if q[i] > len(pools[i]) {
			excess += q[i] - len(pools[i])
			q[i] = len(pools[i])
		}
	}
	for i := 0; excess > 0; i = (i + 1) % len(q) {
		if q[i] < len(pools[i]) {
			q[i]++
			excess--
		}
	}
	return q
}

// corpus writes n examples over the training prompts, round-robin, so that
// each prompt gets n/len(train) of them give or take one. The first
// response of each prompt is good while good ones last; the other kinds are
// shuffled over the remaining slots, the bad ones split evenly over
// BadKinds.
func corpus(seed uint64, train []Task, n int, badShare float64) []Example {
	if len(train) == 0 {
		return nil
	}
	bad := int(math.Round(badShare * float64(n)))
	goods := n - bad
	first := min(goods, len(train), n)
	var rest []Kind
	for range goods - first {
		rest = append(rest, KindGood)
	}
	bk := BadKinds()
	for i := range bad {
		rest = append(rest, bk[i%len(bk)])
	}
	r := seeds.Rand(seeds.Derive(seed, "corpus"))
	r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	out := make([]Example, n)
	for i := range out {
		k := KindGood
		if i >= first {
			k = rest[i-first]
		}
		t := train[i%len(train)]
		out[i] = Example{Prompt: t.Prompt.Clone(), Response: respond(t.Facts, k, r), Kind: k}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// cloneTasks returns a deep copy of ts.
func cloneTasks(ts []Task) []Task {
	out := make([]Task, len(ts))
	for i, t := range ts {
		out[i] = t
		out[i].Prompt = t.Prompt.Clone()
		out[i].Facts.Answers = slices.Clone(t.Facts.Answers)
	}
	return out
}
