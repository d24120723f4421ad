package sampler

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/seeds"
)

// Dropped counts the duplicates removed by [Dedup] or [Distinct].
type Dropped struct {
	// Exact counts responses whose text equals an earlier one's.
	Exact int
	// Normalized counts responses that differ from an earlier one only in
	// letter case or white space (see [Normalize]).
	Normalized int
}

// Total returns Exact + Normalized.
func (d Dropped) Total() int { return d.Exact + d.Normalized }

// Normalize returns the form of s under which [Dedup] compares responses:
// lower-cased, with runs of white space collapsed to one space and none at
// either end.
func Normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// Dedup returns rs without duplicates, keeping the first of each group in
// order, and how many it dropped. Duplicates are responses with the same
// text or the same [Normalize]d text. rs is not modified.
func Dedup(rs []alignment.Response) ([]alignment.Response, Dropped) {
	var d dedupSet
	out := make([]alignment.Response, 0, len(rs))
	var dropped Dropped
	for _, r := range rs {
		if d.add(r.Text, &dropped) {
			out = append(out, r)
		}
	}
	return out, dropped
}

// dedupSet remembers the texts seen so far.
type dedupSet struct {
	exact, norm map[string]bool
}

// add records text and reports whether it is new, counting it in d when not.
func (s *dedupSet) add(text string, d *Dropped) bool {
	if s.exact == nil {
		s.exact, s.norm = map[string]bool{}, map[string]bool{}
	}
	n := Normalize(text)
	switch {
	case s.exact[text]:
		d.Exact++
		return false
	case s.norm[n]:
		// A later exact repeat of this text counts as exact.
		s.exact[text] = true
		d.Normalized++
		return false
	}
	s.exact[text], s.norm[n] = true, true
	return true
}

// Distinct is a Policy that returns only distinct responses (in the sense of
// [Dedup]). When duplicates leave it short of the number asked for, it asks
// the wrapped policy again for the missing ones, with a fresh seed derived
// from the call's, up to Retries times, and then returns what it has: at
// least one response, possibly fewer than asked, which the Policy contract
// allows. It counts the duplicates it dropped.
type Distinct struct {
	pol     alignment.Policy
	retries int
	exact   atomic.Int64
	norm    atomic.Int64
}

var _ alignment.Policy = (*Distinct)(nil)

// NewDistinct returns a Distinct wrapper of pol that asks again at most
// retries times per call. It fails, wrapping [ErrInvalid], when pol is nil
// or retries is negative.
func NewDistinct(pol alignment.Policy, retries int) (*Distinct, error) {
	if pol == nil {
		return nil, fmt.Errorf("sampler: distinct: nil policy: %w", ErrInvalid)
	}
	if retries < 0 {
		return nil, fmt.Errorf("sampler: distinct: retries %d is negative: %w", retries, ErrInvalid)
	}
	return &Distinct{pol: pol, retries: retries}, nil
}

// Generate implements alignment.Policy.
func (d *Distinct) Generate(ctx context.Context, p alignment.Prompt, o alignment.SampleOptions) ([]alignment.Response, error) {
	want := o.Count()
	var (
		set     dedupSet
		dropped Dropped
		out     []alignment.Response
	)
	defer func() {
		d.exact.Add(int64(dropped.Exact))
		d.norm.Add(int64(dropped.Normalized))
	}()
	for try := 0; try <= d.retries && len(out) < want; try++ {
		ask := o
		ask.N = want - len(out)
		if try > 0 {
			ask.Seed = seeds.Derive(o.Seed, "distinct", strconv.Itoa(try))
		}
		rs, err := d.pol.Generate(ctx, p, ask)
		if err != nil {
			return nil, err
		}
		if len(rs) == 0 || len(rs) > ask.N {
			return nil, fmt.Errorf("sampler: distinct: policy returned %d responses to prompt %q, asked for %d: %w", len(rs), p.ID, ask.N, alignment.ErrInvalid)
		}
		for _, r := range rs {
			if set.add(r.Text, &dropped) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// Dropped returns the duplicates dropped so far, over all calls.
func (d *Distinct) Dropped() Dropped {
	return Dropped{Exact: int(d.exact.Load()), Normalized: int(d.norm.Load())}
}
