package openai

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://localhost:8000/v1", "http://localhost:8000/v1"},
		{"http://user:" + secret + "@host/v1", "http://REDACTED@host/v1"},
		{"http://" + secret + "@host/v1", "http://REDACTED@host/v1"},
		{"https://host/v1?api-key=" + secret, "https://host/v1?api-key=REDACTED"},
		{"https://host/v1?api_key=" + secret + "&deployment=gpt", "https://host/v1?api_key=REDACTED&deployment=gpt"},
		{"https://host/v1?key=" + secret, "https://host/v1?key=REDACTED"},
		{"https://host/v1?Access_Token=" + secret, "https://host/v1?Access_Token=REDACTED"},
		{"https://host/v1?token=" + secret + "&sig=" + secret, "https://host/v1?token=REDACTED&sig=REDACTED"},
		{"https://host/v1?apikey", "https://host/v1?REDACTED"},
		{"https://host/v1?%zz=" + secret, "https://host/v1?REDACTED"},
		{"https://host/v1?model=qwen&temperature=1", "https://host/v1?model=qwen&temperature=1"},
		{"http://user:" + secret + "@h:bad/v1", "[unparsable URL]"},
	} {
		got := RedactURL(tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.NotContains(t, got, secret)
	}
}

// FuzzRedactURL checks that a secret put in the user information or a
// key-like query parameter never survives, whatever surrounds it.
func FuzzRedactURL(f *testing.F) {
	f.Add("http", "host:8000", "/v1", "api-key", "x=1")
	f.Add("https", "h", "", "token", "")
	f.Add("http", "[::1]:1", "/a%2Fb", "Key", "a=%zz")
	f.Fuzz(func(t *testing.T, scheme, host, path, param, rest string) {
		const s = "S3cr3tValue"
		if strings.Contains(scheme+host+path+param+rest, s) {
			return
		}
		raw := scheme + "://u:" + s + "@" + host + path + "?" + rest + "&" + url.QueryEscape(param) + "=" + s
		got := RedactURL(raw)
		if secretParam(param) || !strings.Contains(got, "?") {
			assert.NotContains(t, got, s, raw)
		}
		assert.NotContains(t, strings.SplitN(got, "?", 2)[0], s, raw)
	})
}
