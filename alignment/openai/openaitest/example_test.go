package openaitest_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/selfalign/selfalign/alignment/openai/openaitest"
)

// A fake Ollama server ignores n and answers one choice; Requests shows
// what the client sent.
func ExampleNewServer() {
	srv := openaitest.NewServer(nil, openaitest.Options{Flavor: openaitest.Ollama, Model: "llama3.2"})
	defer srv.Close()

	body := `{"model":"llama3.2","messages":[{"role":"user","content":"Hi!"}],"n":3,"temperature":0,"seed":1}`
	resp, err := http.Post(srv.URL()+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, strings.Count(string(out), `"finish_reason"`), "choice")
	r := srv.Requests()[0]
	fmt.Println(r.N, *r.Temperature, *r.Seed)
	fmt.Println(openaitest.CannedReply(openaitest.Ollama, r, 0))
	// Output:
	// 200 1 choice
	// 3 0 1
	// Reply 0 from ollama (seed 1) to: Hi!
}
