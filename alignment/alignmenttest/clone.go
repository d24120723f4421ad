package alignmenttest

import (
	"github.com/selfalign/selfalign/alignment"
)

// The conformance tests compare inputs with copies taken before each call,
// and the fakes keep copies of what they record. alignment's own Clone
// methods copy one level deep; these copy everything a callee could reach.

func clonePrompt(p alignment.Prompt) alignment.Prompt {
	if p.Messages != nil {
		p.Messages = append([]alignment.Message{}, p.Messages...)
	}
	return p
}

func cloneResponse(r alignment.Response) alignment.Response {
	r.TokenLogProbs = cloneLogProbs(r.TokenLogProbs)
	if r.Revisions != nil {
		r.Revisions = append([]alignment.Revision{}, r.Revisions...)
	}
	return r
}

func cloneLogProbs(ts []alignment.TokenLogProb) []alignment.TokenLogProb {
	if ts == nil {
		return nil
	}
	out := make([]alignment.TokenLogProb, len(ts))
	for i, t := range ts {
		t.Top = cloneLogProbs(t.Top)
		out[i] = t
	}
	return out
}

func clonePair(p alignment.Pair) alignment.Pair {
	p.Prompt = clonePrompt(p.Prompt)
	p.Chosen = cloneResponse(p.Chosen)
	p.Rejected = cloneResponse(p.Rejected)
	return p
}

func clonePairs(ps []alignment.Pair) []alignment.Pair {
	if ps == nil {
		return nil
	}
	out := make([]alignment.Pair, len(ps))
	for i, p := range ps {
		out[i] = clonePair(p)
	}
	return out
}
