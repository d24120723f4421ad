package alignment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// FingerprintOf returns the fingerprint a Loop records for one of its
// parts: part.Fingerprint() when part is a Fingerprinter, "func" for a
// function of unnamed type, and part's dynamic type otherwise (as
// "*judge.Rubric"), with "(nil)" after it for a typed nil; "" for nil. A wrapper that implements Fingerprinter by returning
// FingerprintOf of what it wraps is invisible to resumption.
func FingerprintOf(part any) string {
	if part == nil {
		return ""
	}
	v := reflect.ValueOf(part)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func:
		if v.IsNil() {
			return v.Type().String() + "(nil)"
		}
	}
	if f, ok := part.(Fingerprinter); ok {
		return f.Fingerprint()
	}
	if v.Kind() == reflect.Func && v.Type().Name() == "" {
		return "func" // its signature says nothing of what it does
	}
	return v.Type().String()
}

// fingerprints returns the fingerprint of every part of the run that
// decides its pairs or the measures its directory restores, by name. The
// progress journal's header holds them, and a run on a directory whose
// header differs is refused.
func (r *run) fingerprints() map[string]string {
	parts := map[string]string{
		"seed":          strconv.FormatUint(r.Seed, 10),
		"samples":       strconv.Itoa(r.samples),
		"judge_samples": strconv.Itoa(r.k),
		"source":        r.source,
		"sampling":      samplingPrint(r.Sampling),
	}
	add := func(name string, part any) {
		if fp := FingerprintOf(part); fp != "" {
			parts[name] = fp
		}
	}
	add("policy", r.Policy)
	add("prompts", r.Prompts)
	add("judge", r.Judge)
	add("comparer", r.Comparer)
	add("refiner", r.Refiner)
	add("selector", r.selector)
	add("trainer", r.trainer)
	if r.Extra != nil {
		parts["extra"] = FingerprintOf(r.Extra)
		if r.ExtraIterations > 0 {
			parts["extra"] += ", first " + strconv.Itoa(r.ExtraIterations) + " iterations"
		}
	}
	if r.SelfJudge != nil {
		// The builder is a function, which has no fingerprint; the judge
		// it makes of the first policy, the first iteration's, has one.
		// A builder that fails stops the run at its first iteration anyway.
		j, err := r.SelfJudge(r.Policy)
		fp := FingerprintOf(j)
		if err != nil {
			fp = "(the builder failed)"
		}
		parts["judge"] = "self-judge " + fp
	}
	if e := r.eval; e != nil {
		parts["eval"] = fmt.Sprintf("prompts %s, judge %s, comparer %s, %d samples, %d judge samples, sampling %s",
			promptsDigest(e.Prompts), FingerprintOf(e.Judge), FingerprintOf(e.Comparer), e.samples, e.k, samplingPrint(e.sampling))
		// Only with suites, so that directories made before suites existed
		// keep their fingerprint.
		for _, su := range e.suites {
			parts["eval"] += fmt.Sprintf("; suite %q: prompts %s, judge %s, max drop %v", su.Name, promptsDigest(su.Prompts), FingerprintOf(su.Judge), su.maxDrop)
		}
	}
	return parts
}

// diffParts describes how the parts a directory's run was made with
// (there) differ from this run's (here), or returns "" when they do not.
func diffParts(there, here map[string]string) string {
	var names []string
	for name := range there {
		names = append(names, name)
	}
	for name := range here {
		if _, ok := there[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	show := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	var diffs []string
	for _, name := range names {
		if a, b := there[name], here[name]; a != b {
			diffs = append(diffs, fmt.Sprintf("%s %s there, %s here", name, show(a), show(b)))
		}
	}
	return strings.Join(diffs, "; ")
}

// samplingPrint fingerprints sampling options without N and Seed, which
// the Loop sets.
func samplingPrint(o SampleOptions) string {
	o.N, o.Seed = 0, 0
	b, err := json.Marshal(o)
	if err != nil {
		// An Extra value JSON cannot encode; its printed form is the best
		// description left.
		return fmt.Sprintf("%+v", o)
	}
	return string(b)
}

// promptsDigest returns "sha256:" and the SHA-256 of the prompts' JSON
// encodings, one a line, in order.
func promptsDigest(ps []Prompt) string {
	h := sha256.New()
	for _, p := range ps {
		b, _ := json.Marshal(p) // strings only: it cannot fail
		h.Write(append(b, '\n'))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
