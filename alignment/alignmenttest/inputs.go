package alignmenttest

import "github.com/selfalign/selfalign/alignment"

// The ordinary inputs of the conformance tests: single-turn and multi-turn
// prompts, a near-empty response and non-ASCII text, with every slice field
// filled so that modifications show.

func samplePrompts() []alignment.Prompt {
	return []alignment.Prompt{
		alignment.NewPrompt("conformance-single", "Name one prime number."),
		{ID: "conformance-multi", Messages: []alignment.Message{
			{Role: alignment.RoleSystem, Content: "You are a concise assistant."},
			{Role: alignment.RoleUser, Content: "What is the capital of France?"},
			{Role: alignment.RoleAssistant, Content: "Paris."},
			{Role: alignment.RoleUser, Content: "And of Italy?"},
		}},
		alignment.NewPrompt("conformance-unicode", "Übersetze «naïve café» ins Japanische — 日本語で？ 🙂"),
	}
}

func sampleResponses() []alignment.Response {
	return []alignment.Response{
		{Text: "Two is the only even prime number.", Source: "conformance", FinishReason: "stop", Tokens: 8},
		{Text: ".", Source: "conformance"},
		{
			Text:         "Rom. ローマ 🙂",
			Source:       "conformance",
			FinishReason: "length",
			LogProb:      -3.5,
			HasLogProb:   true,
			TokenLogProbs: []alignment.TokenLogProb{
				{Token: "Rom", LogProb: -1.5, Top: []alignment.TokenLogProb{{Token: "Rom", LogProb: -1.5}, {Token: "Roma", LogProb: -2}}},
				{Token: ". ローマ 🙂", LogProb: -2},
			},
			Revisions: []alignment.Revision{
				{Refiner: "conformance", Principle: "be brief", Critique: "The answer was long.", Text: "Rom. ローマ 🙂"},
			},
		},
	}
}

func sampleOptions(n int) alignment.SampleOptions {
	return alignment.SampleOptions{
		N:           n,
		Temperature: 0.8,
		TopP:        0.95,
		MaxTokens:   64,
		Stop:        []string{"\nUser:", "</s>"},
		Seed:        42,
		Extra:       map[string]any{"top_k": 40, "min_p": 0.05},
	}
}

func samplePairs() []alignment.Pair {
	ps, rs := samplePrompts(), sampleResponses()
	return []alignment.Pair{
		{Prompt: ps[0], Chosen: rs[0], Rejected: rs[1], ScoreChosen: 4.5, ScoreRejected: 1, Scored: true, Source: "conformance"},
		{Prompt: ps[1], Chosen: rs[2], Rejected: rs[0], ScoreChosen: 0.25, ScoreRejected: -0.25, Scored: true, Iteration: 2, Source: "conformance"},
		{Prompt: ps[2], Chosen: rs[2], Rejected: rs[1], Iteration: 1},
	}
}
