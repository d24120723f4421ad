package openai

import (
	"strings"

	"github.com/selfalign/selfalign/alignment"
)

// ChatML renders a prompt in the ChatML layout (Qwen, Yi, OpenHermes and
// many fine-tunes use it) and opens the assistant turn, so that the
// completion follows the returned text directly:
//
//	<|im_start|>user
//	What is 2+2?<|im_end|>
//	<|im_start|>assistant
//
// It is the default Options.Render, used by the Scorer, which must send the
// raw text a model continues because /v1/completions applies no chat
// template. The text is concatenated, never interpreted: message content is
// data.
func ChatML(p alignment.Prompt) string {
	var b strings.Builder
	for _, m := range p.Messages {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteByte('\n')
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	b.WriteString("<|im_start|>assistant\n")
	return b.String()
}
