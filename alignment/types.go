package alignment

import (
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Roles of a chat message, as OpenAI-compatible servers and TRL spell them.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Prompt is what a policy answers: a conversation that ends with the turn
// the response replies to, and a stable identifier.
//
// ID must be unique within one iteration of a run: the Loop derives the
// randomness of an item from (seed, iteration, ID) and records progress by ID.
type Prompt struct {
	ID       string    `json:"id"`
	Messages []Message `json:"messages"`
}

// NewPrompt returns a single-turn prompt whose user message is text.
func NewPrompt(id, text string) Prompt {
	return Prompt{ID: id, Messages: []Message{{Role: RoleUser, Content: text}}}
}

// Text returns the content of the prompt's last user message, or the last
// message of any role when there is no user message. It is the string a
// rule-based judge or a single-turn model looks at.
func (p Prompt) Text() string {
	for i := len(p.Messages) - 1; i >= 0; i-- {
		if p.Messages[i].Role == RoleUser {
			return p.Messages[i].Content
		}
	}
	if n := len(p.Messages); n > 0 {
		return p.Messages[n-1].Content
	}
	return ""
}

// Transcript renders the conversation as plain text, for quoting inside a
// judge's or a refiner's prompt: the content alone for a single message,
// one "role: content" paragraph per message otherwise.
func (p Prompt) Transcript() string {
	if len(p.Messages) == 1 {
		return p.Messages[0].Content
	}
	var b strings.Builder
	for i, m := range p.Messages {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.Role)
		b.WriteString(": ")
		b.WriteString(m.Content)
	}
	return b.String()
}

// Clone returns a deep copy of p, so that a callee may change it freely.
func (p Prompt) Clone() Prompt {
	p.Messages = append([]Message(nil), p.Messages...)
	return p
}

// SampleOptions say how a Policy should draw responses. The zero value asks
// for one greedy response of the backend's default length.
type SampleOptions struct {
	// N is the number of responses wanted; values below 1 mean 1.
	N int
	// Temperature scales the logits before sampling. Zero means greedy
	// decoding and is sent to remote servers as 0, never dropped.
	Temperature float64
	// TopP keeps the smallest set of tokens whose probability reaches TopP;
	// 0 or 1 disables nucleus truncation.
	TopP float64
	// MaxTokens caps the completion length; 0 means the backend's default.
	MaxTokens int
	// Stop lists strings that end a completion.
	Stop []string
	// Seed makes sampling repeatable: the same seed, prompt and options give
	// the same responses on backends that honour seeds. The Loop derives it
	// from (run seed, iteration, prompt ID).
	Seed uint64
	// LogProbs asks for the log-probability of each generated token, stored
	// in Response.TokenLogProbs. Backends that cannot provide them leave it nil.
	LogProbs bool
	// TopLogProbs asks for that many alternatives per token position.
	TopLogProbs int
	// Extra carries backend-specific parameters (vLLM's top_k or min_p, say),
	// passed through unchanged by backends that support them.
	Extra map[string]any
}

// Clone returns a copy of o whose Stop and Extra the caller may change
// without touching o's (nil stays nil).
func (o SampleOptions) Clone() SampleOptions {
	o.Stop = slices.Clone(o.Stop)
	o.Extra = maps.Clone(o.Extra)
	return o
}

// Count returns the number of responses o asks for: N, or 1 when N < 1.
func (o SampleOptions) Count() int {
	if o.N < 1 {
		return 1
	}
	return o.N
}

// TokenLogProb is the log-probability of one generated token, with the most
// likely alternatives when they were asked for.
type TokenLogProb struct {
	Token   string         `json:"token"`
	LogProb float64        `json:"logprob"`
	Top     []TokenLogProb `json:"top,omitempty"`
}

// Revision records one refinement step applied to a response: who made it,
// under which principle, the critique that motivated it and the text it
// produced. Failed is true when the step's output was unusable and the
// previous text was kept.
type Revision struct {
	Refiner   string `json:"refiner"`
	Principle string `json:"principle,omitempty"`
	Critique  string `json:"critique,omitempty"`
	Text      string `json:"text"`
	Failed    bool   `json:"failed,omitempty"`
}

// Response is one completion written by a Policy or a Refiner.
type Response struct {
	// Text is the completion, without the prompt.
	Text string
	// Source names what wrote the response (a model name, "ensemble/b",
	// "reviser"); sinks record it and ensembles use it to tell members apart.
	Source string
	// FinishReason is "stop", "length" (cut at MaxTokens) or a backend's own
	// word; empty when unknown.
	FinishReason string
	// Tokens is the number of completion tokens when the backend reports it.
	Tokens int
	// LogProb is the summed log-probability of the completion when known;
	// HasLogProb says whether it is.
	LogProb    float64
	HasLogProb bool
	// TokenLogProbs holds per-token log-probabilities when SampleOptions.LogProbs
	// asked for them and the backend provides them.
	TokenLogProbs []TokenLogProb
	// Revisions is the chain of refinement steps that led to Text, oldest first.
	Revisions []Revision
}

// Clone returns a deep copy of r.
func (r Response) Clone() Response {
	r.TokenLogProbs = append([]TokenLogProb(nil), r.TokenLogProbs...)
	r.Revisions = append([]Revision(nil), r.Revisions...)
	return r
}

// Length is the response length used for length control and reports: the
// backend's token count when known, otherwise the number of words.
func (r Response) Length() int {
	if r.Tokens > 0 {
		return r.Tokens
	}
	return WordCount(r.Text)
}

// WordCount returns the number of whitespace-separated words in s.
func WordCount(s string) int {
	n, in := 0, false
	for _, c := range s {
		if unicode.IsSpace(c) {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

// Judgment is a judge's verdict on one response.
type Judgment struct {
	// Score is the aggregate score on the judge's scale.
	Score float64
	// Aspects holds per-aspect scores of multi-aspect judges (helpfulness,
	// harmlessness, ...); nil for single-score judges.
	Aspects map[string]float64
	// Rationale is the judge's critique or reasoning, when it gives one.
	Rationale string
	// Samples holds the individual scores that Score aggregates, when the
	// judge sampled more than once.
	Samples []float64
	// Unparsed counts judge samples whose output could not be read and were
	// left out of Score.
	Unparsed int
}

// Comparison is a pairwise verdict on two responses A and B to one prompt.
type Comparison struct {
	// ProbA is the probability that A is the better response: 1 for a sure A,
	// 0 for a sure B, 0.5 for a tie.
	ProbA float64
	// Inconsistent is true when the verdicts of the two presentation orders
	// disagreed (position bias). A comparer with hard labels then returns
	// ProbA = 0.5; one with soft labels returns the mean of both orders,
	// which is near 0.5.
	Inconsistent bool
	// Rationale is the comparer's reasoning, when it gives one.
	Rationale string
}

// Pair is one preference: for Prompt, Chosen is preferred to Rejected.
type Pair struct {
	Prompt   Prompt
	Chosen   Response
	Rejected Response
	// ScoreChosen and ScoreRejected are the judge's scores of Chosen and
	// Rejected, on the judge's scale (a Comparer's: the mean probability of
	// beating the other responses), when Scored is true. Pairs that no judge
	// scored (SL-CAI's revision pairs, SynPO's, the meta-judge's) leave
	// Scored false and both scores 0, and a JSONL sink then writes no score
	// columns; it refuses a pair whose scores are set while Scored is false,
	// so that no score is dropped unseen.
	ScoreChosen   float64
	ScoreRejected float64
	Scored        bool
	// Prob is a soft label: the probability that Chosen is preferred to
	// Rejected, in (0, 1], as a Comparer's option log-probabilities give it
	// (constitution.Comparer, RL-CAI). 0 means unset: a hard label, as if
	// 1. The Loop sets it on the pairs it selects with a Comparer; a JSONL
	// sink writes it as "chosen_prob", and dpo's cDPO and robust losses use
	// 1 − Prob as that pair's label smoothing.
	Prob float64
	// Iteration is the Loop iteration that produced the pair, from 0.
	Iteration int
	// Source names the stage that produced the pair: "self-rewarding",
	// "sl-cai", "rl-cai", "meta-judge", ...
	Source string
}
