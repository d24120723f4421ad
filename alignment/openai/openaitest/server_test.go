package openaitest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/selfalign/selfalign/alignment"
)

func post(t *testing.T, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	return resp.StatusCode, out
}

func errMessage(t *testing.T, body map[string]any) string {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "error object in %v", body)
	return e["message"].(string)
}

func choices(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range body["choices"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

const chat3 = `{"model":"m","messages":[{"role":"user","content":"Hi there"}],"n":3,"seed":4}`

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"Hello, big world", []string{"Hello,", " big", " world"}},
		{"  lead", []string{"  lead"}},
		{"trail  ", []string{"trail", "  "}},
		{"a\nb\n\nc", []string{"a", "\n", "b", "\n", "\n", "c"}},
		{"x \n y", []string{"x", " ", "\n", " y"}},
		{"Ça coûte 5 €", []string{"Ça", " coûte", " 5", " €"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Tokenize(tt.in), "%q", tt.in)
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"", "a b", "a\n\nb ", " \t\n", "日本 語\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks := Tokenize(s)
		assert.Equal(t, s, strings.Join(toks, ""))
		for _, tok := range toks {
			assert.NotEmpty(t, tok)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add("/v1/chat/completions", []byte(chat3))
	f.Add("/v1/completions", []byte(`{"model":"m","prompt":"x","echo":true,"logprobs":1,"max_tokens":0,"stop":"\n"}`))
	f.Add("/v1/chat/completions", []byte(`{"logprobs":"yes"}`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		req, err := parseRequest(path, body)
		assert.Equal(t, path, req.Path)
		if err == nil && path == "/v1/chat/completions" {
			assert.NotEmpty(t, req.Messages)
		}
	})
}

func TestNQuirks(t *testing.T) {
	tests := []struct {
		flavor  Flavor
		status  int
		choices int
		message string
	}{
		{VLLM, 200, 3, ""},
		{OpenAI, 200, 3, ""},
		{Ollama, 200, 1, ""},
		{SGLang, 200, 3, ""},
		{LlamaCpp, 200, 3, ""},
		{LlamaCpp, 400, 0, "Field 'n': Value must be between 1 <= value <= 2, but got 3"},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String()+"/"+strconv.Itoa(tt.status), func(t *testing.T) {
			s := NewServer(t, Options{Flavor: tt.flavor, Slots: 2 + tt.choices})
			code, body := post(t, s.URL()+"/chat/completions", "", chat3)
			assert.Equal(t, tt.status, code)
			if tt.message != "" {
				assert.Equal(t, tt.message, errMessage(t, body))
				return
			}
			cs := choices(t, body)
			require.Len(t, cs, tt.choices)
			for i, c := range cs {
				assert.EqualValues(t, i, c["index"])
				msg := c["message"].(map[string]any)
				assert.Equal(t, CannedReply(tt.flavor, Request{Messages: []alignment.Message{{Role: "user", Content: "Hi there"}}, Seed: ptr(int64(4))}, i), msg["content"])
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestStopAndMaxTokens(t *testing.T) {
	s := NewServer(t, Options{Reply: func(Request, int) string { return "one two. three four" }})
	tests := []struct {
		body, text, finish string
		stopReason         any
	}{
		{`{"messages":[{"role":"user","content":"x"}]}`, "one two. three four", "stop", nil},
		{`{"messages":[{"role":"user","content":"x"}],"stop":"."}`, "one two", "stop", "."},
		{`{"messages":[{"role":"user","content":"x"}],"stop":["four","three"]}`, "one two. ", "stop", "three"},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":2}`, "one two.", "length", nil},
		{`{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":3}`, "one two. three", "length", nil},
	}
	for _, tt := range tests {
		code, body := post(t, s.URL()+"/chat/completions", "", tt.body)
		require.Equal(t, 200, code)
		c := choices(t, body)[0]
		assert.Equal(t, tt.text, c["message"].(map[string]any)["content"], tt.body)
		assert.Equal(t, tt.finish, c["finish_reason"], tt.body)
		assert.Equal(t, tt.stopReason, c["stop_reason"], tt.body)
	}
}

func TestCompletionEcho(t *testing.T) {
	s := NewServer(t, Options{Reply: func(Request, int) string { return " the end" }, LogProb: func(tok string) float64 { return -float64(utf8.RuneCountInString(tok)) }})
	code, body := post(t, s.URL()+"/completions", "", `{"model":"m","prompt":"Größe 🙂\nok","echo":true,"logprobs":1,"max_tokens":1}`)
	require.Equal(t, 200, code)
	c := choices(t, body)[0]
	assert.Equal(t, "Größe 🙂\nok the", c["text"], "the reply is cut at max_tokens")
	lp := c["logprobs"].(map[string]any)
	assert.Equal(t, []any{"Größe", " 🙂", "\n", "ok", " the"}, lp["tokens"])
	assert.Equal(t, []any{0.0, 5.0, 7.0, 8.0, 10.0}, lp["text_offset"], "offsets count runes")
	assert.Equal(t, []any{nil, -2.0, -1.0, -2.0, -4.0}, lp["token_logprobs"])
	assert.Equal(t, "length", c["finish_reason"])
}

func TestCompletionQuirks(t *testing.T) {
	const echo = `{"model":"m","prompt":"Hi","echo":true,"logprobs":1,"max_tokens":1}`
	s := NewServer(t, Options{Flavor: LlamaCpp})
	code, body := post(t, s.URL()+"/completions", "", echo)
	assert.Equal(t, 500, code)
	assert.Equal(t, "Only no echo is supported", errMessage(t, body))

	s = NewServer(t, Options{Flavor: OpenAI})
	code, body = post(t, s.URL()+"/completions", "", echo)
	assert.Equal(t, 404, code)
	assert.Contains(t, errMessage(t, body), "This is a chat model")

	s = NewServer(t, Options{Flavor: Ollama, Reply: func(Request, int) string { return "Hello" }})
	code, body = post(t, s.URL()+"/completions", "", echo)
	assert.Equal(t, 200, code)
	c := choices(t, body)[0]
	assert.Equal(t, "Hello", c["text"], "Ollama ignores echo")
	assert.Nil(t, c["logprobs"])
}

func TestModelAndKey(t *testing.T) {
	tests := []struct {
		flavor  Flavor
		model   string
		status  int
		message string
	}{
		{VLLM, "other", 404, "The model `other` does not exist."},
		{Ollama, "other", 404, `model "other" not found, try pulling it first`},
		{OpenAI, "other", 404, "The model `other` does not exist or you do not have access to it."},
		{LlamaCpp, "other", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			s := NewServer(t, Options{Flavor: tt.flavor, Model: "served", APIKey: "k"})
			code, _ := post(t, s.URL()+"/chat/completions", "Bearer wrong", `{"model":"served","messages":[{"role":"user","content":"x"}]}`)
			assert.Equal(t, 401, code)
			code, body := post(t, s.URL()+"/chat/completions", "Bearer k", `{"model":"`+tt.model+`","messages":[{"role":"user","content":"x"}]}`)
			assert.Equal(t, tt.status, code)
			if tt.message != "" {
				assert.Equal(t, tt.message, errMessage(t, body))
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	s := NewServer(t, Options{})
	for body, want := range map[string]string{
		`not json`:         "not a JSON object",
		`{"messages":[]}`:  "messages must be a non-empty list",
		`{"messages":"x"}`: "invalid request",
		`{"messages":[{"role":"user","content":"x"}],"stop":5}`: "invalid stop",
	} {
		code, out := post(t, s.URL()+"/chat/completions", "", body)
		assert.Equal(t, 400, code, body)
		assert.Contains(t, errMessage(t, out), want, body)
	}
	code, _ := post(t, s.URL()+"/completions", "", `{"model":"m"}`)
	assert.Equal(t, 400, code)
	code, _ = post(t, s.URL()+"/embeddings", "", `{}`)
	assert.Equal(t, 404, code)
	assert.Len(t, s.Requests(), 6, "every request is recorded")
}

func TestInterceptAndRecording(t *testing.T) {
	s := NewServer(t, Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("X-Fail") == "" {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"message":"overloaded"}}`)
		return true
	}})
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/chat/completions", strings.NewReader(chat3))
	require.NoError(t, err)
	req.Header.Set("X-Fail", "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	code, _ := post(t, s.URL()+"/chat/completions", "", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"top_k":5}`)
	assert.Equal(t, 200, code)
	reqs := s.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, 3, reqs[0].N)
	assert.Equal(t, int64(4), *reqs[0].Seed)
	assert.Nil(t, reqs[0].Temperature)
	require.NotNil(t, reqs[1].Temperature)
	assert.Zero(t, *reqs[1].Temperature)
	assert.JSONEq(t, "5", string(reqs[1].Body["top_k"]))
}

func TestChatLogProbs(t *testing.T) {
	s := NewServer(t, Options{Flavor: OpenAI, Reply: func(Request, int) string { return "Yes sir" }})
	code, body := post(t, s.URL()+"/chat/completions", "", `{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2}`)
	require.Equal(t, 200, code)
	content := choices(t, body)[0]["logprobs"].(map[string]any)["content"].([]any)
	require.Len(t, content, 2)
	second := content[1].(map[string]any)
	assert.Equal(t, " sir", second["token"])
	assert.Equal(t, CannedLogProb(" sir"), second["logprob"])
	top := second["top_logprobs"].([]any)
	require.Len(t, top, 2)
	assert.Equal(t, " sir", top[0].(map[string]any)["token"])
	assert.Equal(t, CannedLogProb(" sir")-1, top[1].(map[string]any)["logprob"])
}

func TestFlavorString(t *testing.T) {
	assert.Equal(t, "vllm", VLLM.String())
	assert.Equal(t, "llama.cpp", LlamaCpp.String())
	assert.Equal(t, "sglang", SGLang.String())
	assert.Equal(t, "ollama", Ollama.String())
	assert.Equal(t, "openai", OpenAI.String())
	assert.Equal(t, "Flavor(9)", Flavor(9).String())
}

// postRaw posts body to url and returns the status and the raw answer.
func postRaw(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

// Loading an adapter makes a new model name servable, in each server's
// request and answer shapes; an unknown name gets the server's 404.
func TestLoadAdapter(t *testing.T) {
	adapter := t.TempDir()
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"Hi"}]}`
	}
	tests := []struct {
		name  string
		o     Options
		steps []struct {
			path, body string
			code       int
			want       string
		}
	}{
		{"vllm", Options{Flavor: VLLM, Model: "base", LoRA: true}, []struct {
			path, body string
			code       int
			want       string
		}{
			{"/v1/chat/completions", chat("a1"), 404, `"message":"The model ` + "`a1`" + ` does not exist."`},
			{"/v1/load_lora_adapter", `{"lora_name":"a1"}`, 400, `"message":"Both 'lora_name' and 'lora_path' must be provided.","param":null,"type":"InvalidUserInput"`},
			{"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"/nonexistent"}`, 404, `Loading lora a1 failed: No adapter found for /nonexistent`},
			{"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 200, `Success: LoRA adapter 'a1' added successfully.`},
			{"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 400, `The lora adapter 'a1' has already been loaded.`},
			{"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `","load_inplace":true}`, 200, `added successfully`},
			{"/v1/chat/completions", chat("a1"), 200, `"model":"a1"`},
			{"/v1/unload_lora_adapter", `{"lora_name":"zz"}`, 404, `The lora adapter 'zz' cannot be found.`},
		}},
		{"vllm without runtime updating", Options{Flavor: VLLM, Model: "base"}, []struct {
			path, body string
			code       int
			want       string
		}{
			{"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 404, `{"detail":"Not Found"}`},
		}},
		{"sglang", Options{Flavor: SGLang, Model: "base", LoRA: true}, []struct {
			path, body string
			code       int
			want       string
		}{
			{"/v1/chat/completions", chat("base:a1"), 404, `does not exist`},
			{"/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 200, `"success":true`},
			{"/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 400, `"error_message":"LoRA with name a1 already exists.`},
			{"/v1/chat/completions", chat("base:a1"), 200, `"model":"base:a1"`},
			{"/update_weights_from_disk", `{"model_path":"/nonexistent"}`, 400, `"success":false`},
			{"/update_weights_from_disk", `{"model_path":"` + adapter + `"}`, 200, `"message":"Succeeded to update model weights."`},
		}},
		{"sglang without --enable-lora", Options{Flavor: SGLang, Model: "base"}, []struct {
			path, body string
			code       int
			want       string
		}{
			{"/load_lora_adapter", `{"lora_name":"a1","lora_path":"` + adapter + `"}`, 400, "LoRA is not enabled. Please set `--enable-lora` to enable LoRA."},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewServer(t, tt.o)
			root := strings.TrimSuffix(srv.URL(), "/v1")
			for _, st := range tt.steps {
				code, body := postRaw(t, root+st.path, st.body)
				assert.Equal(t, st.code, code, "%s %s: %s", st.path, st.body, body)
				assert.Contains(t, body, st.want, "%s %s", st.path, st.body)
			}
		})
	}
	t.Run("vllm lists its adapters", func(t *testing.T) {
		srv := NewServer(t, Options{Flavor: VLLM, Model: "base", LoRA: true})
		code, _ := postRaw(t, strings.TrimSuffix(srv.URL(), "/v1")+"/v1/load_lora_adapter", `{"lora_name":"a1","lora_path":"`+adapter+`"}`)
		require.Equal(t, 200, code)
		resp, err := http.Get(srv.URL() + "/models")
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Contains(t, string(raw), `{"created":1735689600,"id":"a1","max_model_len":null,"object":"model","owned_by":"vllm","parent":"base","root":"`+adapter+`"}`)
		assert.Equal(t, map[string]string{"a1": adapter}, srv.Adapters())
	})
}
