package judge

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

var _ alignment.Judge = (*Jury)(nil)
var _ alignment.Ranged = (*Jury)(nil)

// Jury aggregates several judges (different models, prompts or rules) into
// one, and measures how much they agree. It is safe for concurrent use when
// its members are.
type Jury struct {
	members   []Member
	aggregate Aggregate
	lo, hi    float64
}

// Member is one judge of a Jury, with the name its score is reported under
// in Judgment.Aspects.
type Member struct {
	Name  string
	Judge alignment.Judge
}

// JuryOptions configure a Jury; the zero value (or nil) means the mean.
type JuryOptions struct {
	// Aggregate combines the members' scores; the zero value is Mean.
	Aggregate Aggregate
}

// NewJury returns a Jury of members, which are copied. Every member needs a
// judge and a distinct, non-empty name. The jury's scale is the smallest
// range that holds every member's ScoreRange, with 0–5 for members that do
// not state one. Errors wrap ErrInvalid and name the member.
func NewJury(members []Member, o *JuryOptions) (*Jury, error) {
	if o == nil {
		o = &JuryOptions{}
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("judge: NewJury: no members: %w", ErrInvalid)
	}
	if !o.Aggregate.valid() {
		return nil, fmt.Errorf("judge: NewJury: unknown Aggregate %d: %w", o.Aggregate, ErrInvalid)
	}
	j := &Jury{members: slices.Clone(members), aggregate: o.Aggregate, lo: math.Inf(1), hi: math.Inf(-1)}
	for i, m := range members {
		switch {
		case m.Judge == nil:
			return nil, fmt.Errorf("judge: NewJury: member %d (%q) has no judge: %w", i, m.Name, ErrInvalid)
		case m.Name == "":
			return nil, fmt.Errorf("judge: NewJury: member %d has no name: %w", i, ErrInvalid)
		case slices.ContainsFunc(members[:i], func(o Member) bool { return o.Name == m.Name }):
			return nil, fmt.Errorf("judge: NewJury: member %d repeats the name %q: %w", i, m.Name, ErrInvalid)
		}
		lo, hi := scale(m.Judge, 0, 0)
		if !finite(lo) || !finite(hi) || lo > hi {
			return nil, fmt.Errorf("judge: NewJury: member %q has ScoreRange [%v, %v]: %w", m.Name, lo, hi, ErrInvalid)
		}
		j.lo, j.hi = math.Min(j.lo, lo), math.Max(j.hi, hi)
	}
	return j, nil
}

// Judge implements alignment.Judge. Every member judges r, concurrently;
// Score aggregates their scores, Samples lists them in member order,
// Aspects maps member names to them, and Rationale joins the members'
// rationales under their names. A member whose judgment is unparsable
// (ErrUnparsable) is counted in Unparsed and left out; any other member
// error fails the call, and so does every member being unparsable. When ctx
// carries a seed, each member gets its own seed derived from it and its name.
func (j *Jury) Judge(ctx context.Context, p alignment.Prompt, r alignment.Response) (alignment.Judgment, error) {
	if err := ctx.Err(); err != nil {
		return alignment.Judgment{}, fmt.Errorf("judge: jury: %w", err)
	}
	seed, hasSeed := alignment.SeedFrom(ctx)
	got := make([]alignment.Judgment, len(j.members))
	errs := make([]error, len(j.members))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range j.members {
		g.Go(func() error {
			mctx := gctx
			if hasSeed {
				mctx = alignment.WithSeed(gctx, seeds.Derive(seed, "jury", m.Name))
			}
			v, err := m.Judge.Judge(mctx, p, r)
			switch {
			case err == nil && !finite(v.Score):
				return fmt.Errorf("judge: jury: member %q scored %v: %w", m.Name, v.Score, ErrInvalid)
			case err != nil && !unparsable(err):
				return fmt.Errorf("judge: jury: member %q: %w", m.Name, err)
			}
			got[i], errs[i] = v, err
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return alignment.Judgment{}, err
	}
	out := alignment.Judgment{Aspects: map[string]float64{}}
	var why []string
	for i, m := range j.members {
		if errs[i] != nil {
			out.Unparsed++
			continue
		}
		out.Samples = append(out.Samples, got[i].Score)
		out.Aspects[m.Name] = got[i].Score
		if got[i].Rationale != "" {
			why = append(why, m.Name+": "+got[i].Rationale)
		}
	}
	if len(out.Samples) == 0 {
		return alignment.Judgment{}, fmt.Errorf("judge: jury: no member's judgment of prompt %q parsed, first: %w", p.ID, errs[0])
	}
	out.Score = j.aggregate.aggregate(out.Samples)
	out.Rationale = strings.Join(why, "\n\n")
	return out, nil
}

// ScoreRange implements alignment.Ranged.
func (j *Jury) ScoreRange() (lo, hi float64) { return j.lo, j.hi }

// Agreement has every member judge every response of items and measures
// how much the members agree (see Agree). A member error on any response
// fails the call, since agreement needs a complete table.
func (j *Jury) Agreement(ctx context.Context, items []Item) (Agreement, error) {
	scores := make([][]float64, len(j.members))
	for i, m := range j.members {
		for k, it := range items {
			for l, r := range it.Responses {
				v, err := m.Judge.Judge(ctx, it.Prompt, r)
				if err != nil {
					return Agreement{}, fmt.Errorf("judge: jury agreement: member %q, item %d, response %d: %w", m.Name, k, l, err)
				}
				scores[i] = append(scores[i], v.Score)
			}
		}
	}
	return Agree(scores)
}

// Agreement measures how much several judges agree over the same items.
type Agreement struct {
	// Judges and Items count the table's rows and columns.
	Judges, Items int
	// Spearman is the mean over pairs of judges of Spearman's rank
	// correlation between their scores (0 for a pair where one judge gave a
	// single score throughout).
	Spearman float64
	// Alpha is Krippendorff's alpha with the interval metric: 1 for perfect
	// agreement, 0 for agreement at chance level, negative below it.
	Alpha float64
}

// Agree computes the agreement of a complete score table,
// scores[judge][item]: at least two judges, at least two items, the same
// number of items for every judge, finite scores. Errors wrap ErrInvalid and
// name the bad row or cell.
func Agree(scores [][]float64) (Agreement, error) {
	if len(scores) < 2 {
		return Agreement{}, fmt.Errorf("judge: agreement of %d judges, need at least 2: %w", len(scores), ErrInvalid)
	}
	n := len(scores[0])
	if n < 2 {
		return Agreement{}, fmt.Errorf("judge: agreement over %d items, need at least 2: %w", n, ErrInvalid)
	}
	for i, row := range scores {
		if len(row) != n {
			return Agreement{}, fmt.Errorf("judge: agreement: judge %d scored %d items, judge 0 scored %d: %w", i, len(row), n, ErrInvalid)
		}
		for k, x := range row {
			if !finite(x) {
				return Agreement{}, fmt.Errorf("judge: agreement: score of judge %d on item %d is %v: %w", i, k, x, ErrInvalid)
			}
		}
	}
	a := Agreement{Judges: len(scores), Items: n, Alpha: krippendorffInterval(scores)}
	pairs := 0
	for i := range scores {
		for k := i + 1; k < len(scores); k++ {
			a.Spearman += spearman(scores[i], scores[k])
			pairs++
		}
	}
	a.Spearman /= float64(pairs)
	return a, nil
}
