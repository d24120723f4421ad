package constitution

import (
	"strconv"
	"strings"

	"github.com/selfalign/selfalign/alignment"
	"github.com/selfalign/selfalign/internal/fence"
)

// Prompts are assembled by concatenation only: principle texts come from the
// constitution's author and go in as they are; everything a user or a model
// wrote is quoted with fence.Quote, so it can neither close its quotation
// nor supply the marker or the verdict that the output parsers look for.

// critiquePrompt asks for a critique of reply under pr.
func critiquePrompt(p alignment.Prompt, reply string, pr Principle) string {
	var b strings.Builder
	writeExamples(&b, pr, false)
	writeCase(&b, p, reply)
	b.WriteString("Critique request: ")
	b.WriteString(pr.Critique)
	b.WriteString("\n\nWrite the critique, and nothing else, after the final \"Critique:\" line.\n\nCritique:")
	return b.String()
}

// revisionPrompt asks for a revision of reply that answers critique.
func revisionPrompt(p alignment.Prompt, reply, critique string, pr Principle) string {
	var b strings.Builder
	writeExamples(&b, pr, true)
	writeCase(&b, p, reply)
	b.WriteString("Critique request: ")
	b.WriteString(pr.Critique)
	b.WriteString("\n\nThe critique:\n")
	b.WriteString(fence.Quote("critique", critique))
	b.WriteString("\n\nRevision request: ")
	b.WriteString(pr.Revision)
	b.WriteString("\n\nWrite the complete revised reply, and nothing else, after the final \"Revision:\" line.\n\nRevision:")
	return b.String()
}

// comparisonPrompt asks which of two replies better meets pr.
func comparisonPrompt(p alignment.Prompt, first, second string, pr Principle, reason bool) string {
	var b strings.Builder
	b.WriteString("Here is a conversation with an AI assistant and two possible replies to it.\n\nThe conversation:\n")
	b.WriteString(fence.Quote("conversation", p.Transcript()))
	b.WriteString("\n\nOption (A):\n")
	b.WriteString(fence.Quote("option-a", first))
	b.WriteString("\n\nOption (B):\n")
	b.WriteString(fence.Quote("option-b", second))
	b.WriteString("\n\n")
	b.WriteString(pr.Comparison)
	if reason {
		b.WriteString("\n\nThink it through step by step first. Then end with one line that gives your choice as Answer: (A) or as Answer: (B).")
	} else {
		b.WriteString("\n\nReply with one line that gives your choice as Answer: (A) or as Answer: (B).")
	}
	return b.String()
}

// writeCase writes the conversation and the reply under review.
func writeCase(b *strings.Builder, p alignment.Prompt, reply string) {
	b.WriteString("Here is a conversation with an AI assistant and the assistant's latest reply.\n\nThe conversation:\n")
	b.WriteString(fence.Quote("conversation", p.Transcript()))
	b.WriteString("\n\nThe reply:\n")
	b.WriteString(fence.Quote("reply", reply))
	b.WriteString("\n\n")
}

// writeExamples writes pr's few-shot demonstrations, with their revisions
// when revision is true.
func writeExamples(b *strings.Builder, pr Principle, revision bool) {
	if len(pr.Examples) == 0 {
		return
	}
	b.WriteString("Examples of the work asked for:\n\n")
	for i, ex := range pr.Examples {
		b.WriteString("Example " + strconv.Itoa(i+1) + ".\nThe conversation:\n")
		b.WriteString(fence.Quote("conversation", ex.Prompt))
		b.WriteString("\n\nThe reply:\n")
		b.WriteString(fence.Quote("reply", ex.Response))
		b.WriteString("\n\nCritique request: ")
		b.WriteString(pr.Critique)
		b.WriteString("\n\nThe critique:\n")
		b.WriteString(fence.Quote("critique", ex.Critique))
		if revision {
			b.WriteString("\n\nRevision request: ")
			b.WriteString(pr.Revision)
			b.WriteString("\n\nThe revised reply:\n")
			b.WriteString(fence.Quote("revised", ex.Revision))
		}
		b.WriteString("\n\n")
	}
	b.WriteString("Now the case to work on.\n\n")
}

// shown returns the texts a prompt quotes, as written before quoting: the
// conversation p (the transcript, and each message of a longer one) and
// the other quoted texts. A model's output is read ignoring their echoes
// (see fence.Mask). The prompt's own text is not among them: its fences are
// recognised as such, and it ends with the marker ("Critique:",
// "Revision:") that the model's answer continues.
func shown(p alignment.Prompt, quoted ...string) []string {
	out := []string{p.Transcript()}
	if len(p.Messages) > 1 {
		for _, m := range p.Messages {
			out = append(out, m.Content)
		}
	}
	return append(out, quoted...)
}
