package main

import (
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// about says what the quickstart does, and output what its lines mean.
const (
	about  = "Quickstart fine-tunes the embedded tiny language model on a built-in task world, then runs iterations of on-policy DPO: sample answers, judge them (by the world's rules, or with -judge self by the model itself: Self-Rewarding), pair the best with the worst, train with DPO."
	output = `
  task world: ... / judge: ... / fine-tuned model: ...
      The world's sizes; who judges the training answers; the supervised
      fine-tuning before any DPO (loaded from sft.bin when the output
      directory has it), on the corpus and, with -judge self, on the
      judgments labelled by the rules (evaluation fine-tuning).
  policy N: held-out score S, mean length L tokens, wins W against the policy before
      The model after N iterations of training (policy 0 is the fine-tuned
      model), scored by the rule judge (0-5) on held-out prompts it never
      trains on; W is its win rate over policy N-1 on the same prompts.
  iteration N: P/Q prompts sampled and judged
      Progress through the training prompts of iteration N.
  iteration N: training with DPO
      With -backend it says what happens instead: -train-cmd runs, or, without
      it, the pairs are only written and the model stays the same.
  iteration N: P pairs from Q prompts (T ties, F failed, R retried calls), judge score S
      What policy N's samples made, before iteration N trained on them: P
      pairs of a prompt's best and worst answer; T ties, prompts whose answers
      all scored the same and made no pair; F prompts that failed for good
      and R calls retried after transient faults (each shown when not
      zero); S, the judge's mean score of the samples.
  alarm: ...
      A safeguard check failed: collapse, judge drift, reward hacking, or a
      plateau, which stops the run.
  The table repeats the held-out scores, with pairs per prompt ("pair yield").
  policy N as a judge: gold accuracy A, Spearman R; self-scores mean M, saturation S; pairs the rules agree with P
      With -judge self: A is the share of the world's gold pairs (two
      held-out answers the rules score differently) that policy N, judging,
      orders as the rules do, R the rank correlation of its scores with the
      rules'; M is its mean score of its own training samples and S the
      share of them scored 4.5 or more; the last figure is the share of its
      pairs whose chosen answer the rules score above the rejected one.
  The last lines name each file written and what it holds.`
)

func settingsOf(c config) runSettings {
	s := runSettings{Seed: c.seed, Backend: redactedBackend(c.backend), Model: c.model, Prompts: c.prompts, HeldOut: c.heldOut, SFTEpochs: c.sftEpochs}
	if c.backend == "" && c.judge == judgeSelf {
		s.Judge = judgeSelf
	}
	return s
}

// flags returns the settings as the flags that give them, in s's field
// order. A hash stands for the backend's URL, which may hold a key.
func (s runSettings) flags() []string {
	backend := `""`
	if s.Backend != "" {
		backend = "<URL " + urlHash(s.Backend) + ">"
	}
	judge := judgeRules
	if s.Judge != "" || s.Backend != "" {
		judge = judgeSelf
	}
	return []string{"-seed " + strconv.FormatUint(s.Seed, 10), "-backend " + backend, "-model " + strconv.Quote(s.Model),
		"-prompts " + strconv.Itoa(s.Prompts), "-held-out " + strconv.Itoa(s.HeldOut), "-sft-epochs " + strconv.Itoa(s.SFTEpochs),
		"-judge " + judge}
}

func urlHash(url string) string {
	h := fnv.New32a()
	io.WriteString(h, url)
	return fmt.Sprintf("%08x", h.Sum32())
}

// defaultOut is the output directory when -out is not given: one per
// settings that change the run, so that the README's "-seed S" runs, or
// any two runs with other settings, never meet in one directory. The
// defaults of the embedded run give quickstart-out/seed-S.
func defaultOut(s runSettings) string {
	name := "seed-" + strconv.FormatUint(s.Seed, 10)
	if s.Backend != "" {
		// A hash stands for the URL, which may hold a key.
		model := strings.Map(func(r rune) rune {
			if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r)) {
				return r
			}
			return '_'
		}, s.Model)
		name = model + "-" + urlHash(s.Backend) + "-" + name
	}
	for _, d := range []struct {
		flag      string
		got, want int
	}{{"prompts", s.Prompts, 0}, {"held-out", s.HeldOut, heldOut}, {"sft-epochs", s.SFTEpochs, sftEpochs}} {
		if d.got != d.want {
			name += "-" + d.flag + "-" + strconv.Itoa(d.got)
		}
	}
	if s.Judge != "" {
		name += "-judge-" + s.Judge
	}
	return filepath.Join("quickstart-out", name)
}
