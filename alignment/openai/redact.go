package openai

import (
	"net/url"
	"strings"
)

// RedactURL returns raw, a URL, in a form safe to print, log or store: the
// user information (where "http://user:KEY@host" puts a password) becomes
// "REDACTED", and so do a fragment, an opaque part and the value of every query parameter whose name
// looks like a credential (key, api_key, api-key, apikey, token,
// access_token, auth, password, secret, sig, signature, session, ...).
// Other parameters, the scheme, host and path are kept, so
// that the result still says which server it is. A raw string that is not
// a URL comes back as "[unparsable URL]" (and one without a host as "[URL
// without a host]"), since url.Parse's own message
// would quote it. A list of URLs must be redacted one URL at a time: a
// comma may belong to a query.
//
// Every URL this package puts in an error, a log record or a String is
// redacted this way; hosts that show a base URL to people (the quickstart,
// reports) call it too.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "[unparsable URL]"
	}
	return redactURL(u)
}

// redactedValue replaces a secret in a redacted URL.
const redactedValue = "REDACTED"

// redactURL renders u with its user information and secret query values
// replaced, leaving u itself unchanged.
func redactURL(u *url.URL) string {
	if u.Host == "" && u.Opaque == "" {
		// Without a host, user information and the rest are only path
		// ("/://user:key@host"): nothing tells a secret apart.
		return "[URL without a host]"
	}
	c := *u
	if c.User != nil {
		c.User = url.User(redactedValue)
	}
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	// A fragment is never sent, so it has no business in a base URL, and an
	// opaque URL ("http:user:key@host") is not one a client can use: both
	// are shown as a placeholder rather than parsed for secrets.
	if c.Fragment != "" || c.RawFragment != "" {
		c.Fragment, c.RawFragment = redactedValue, ""
	}
	if c.Opaque != "" {
		c.Opaque = redactedValue
	}
	return c.String()
}

// redactQuery replaces the values of secret parameters in a raw query,
// keeping the order and spelling of everything else. A part that does not
// decode is redacted whole: it cannot be told apart from a secret.
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		name, _, hasValue := strings.Cut(part, "=")
		dec, err := url.QueryUnescape(name)
		switch {
		case err != nil:
			parts[i] = redactedValue
		case secretParam(dec) && hasValue:
			parts[i] = name + "=" + redactedValue
		case secretParam(dec):
			parts[i] = redactedValue
		}
	}
	return strings.Join(parts, "&")
}

// secretWords are the parts of parameter names that carry credentials in
// the URLs of OpenAI-compatible servers and the proxies in front of them
// (Azure's api-key, Google's key, signed URLs' sig, bearer tokens).
var secretWords = []string{"key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "credential", "session"}

// secretParam reports whether a URL query parameter's name looks like it
// carries a credential: it contains, ignoring case, one of secretWords.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
