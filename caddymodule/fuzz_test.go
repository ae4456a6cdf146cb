package caddymodule_test

// Fuzz target for the Caddyfile parser (issue 8, point 4). `go test` runs
// the seeds (the password_reset block of every testdata/adapt and
// testdata/errors fixture, and testdata/fuzz/FuzzCaddyfile); scripts/fuzz
// fuzzes it.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/caddymodule"
)

// fzFixtureSep is the line of dashes between a fixture's Caddyfile and its
// expected result.
var fzFixtureSep = regexp.MustCompile(`(?m)^-{3,}[ \t]*\r?\n?`)

// fzBlockBody returns what sits between the braces of the first
// password_reset block of a Caddyfile ("" for a bare directive).
func fzBlockBody(caddyfileText string) (string, bool) {
	i := strings.Index(caddyfileText, "password_reset")
	if i < 0 {
		return "", false
	}
	rest := caddyfileText[i+len("password_reset"):]
	eol := strings.IndexByte(rest, '\n')
	if eol < 0 {
		eol = len(rest)
	}
	open := strings.IndexByte(rest[:eol], '{')
	if open < 0 {
		return "", true
	}
	depth := 0
	for j := open; j < len(rest); j++ {
		switch rest[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return rest[open+1 : j], true
			}
		}
	}
	return rest[open+1:], true
}

// fzSecretOptions take a secret as their argument: a parse error must not
// print it.
var fzSecretOptions = map[string]bool{"key": true, "secret": true, "password": true}

// fzParse parses body inside a password_reset block; h is nil when the
// lexer refuses the text.
func fzParse(body string) (h *caddymodule.Handler, tokens []caddyfile.Token, err error) {
	input := "password_reset {\n" + body + "\n}\n"
	// caddyfile.NewTestDispenser would log.Fatal on a lexer error (an
	// unterminated quote): tokenize first, as it does, and skip those.
	tokens, err = caddyfile.Tokenize([]byte(input), "Testfile")
	if err != nil {
		return nil, nil, nil
	}
	h = new(caddymodule.Handler)
	return h, tokens, h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
}

// FuzzCaddyfile feeds arbitrary text inside `password_reset { … }` to
// (*Handler).UnmarshalCaddyfile. Invariants: no panic; a refusal never
// prints the argument of key, secret or password; an accepted block gives
// a handler whose JSON (what `caddy adapt` prints) decodes to an equal
// handler and encodes to the same JSON again.
func FuzzCaddyfile(f *testing.F) {
	for _, dir := range []string{"adapt", "errors"} {
		paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.caddyfiletest"))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			text := string(data)
			if loc := fzFixtureSep.FindStringIndex(text); loc != nil {
				text = text[:loc[0]]
			}
			if body, ok := fzBlockBody(text); ok {
				f.Add(body)
			}
		}
	}
	for _, s := range []string{
		"",
		"base_url https://a.test\nlookup http://l.test {\n}\nupdate http://u.test {\n\tsecret `whsec_x`\n\thash bcrypt 4\n}",
		"key <<EOF\n\tsecret-in-a-heredoc-0123456789abcdef\n\tEOF",
		"lookup http://l.test {\n\tmethod GET\n\tencoding form\n\theader X-A \"{password_reset.user.id}\"\n\tbody user.id {password_reset.user.id}\n\tquery a b\n\tresponse id data.uid\n\tok_status 200 204\n}",
		"session http://s.test {\n\tid_field data.user.id\n}",
		"policy {\n\tmin_length 0\n\tmax_length 99999999999999999999\n}",
		"rate_limit {\n\tper_ip 1 1ns\n\tcode_attempts 10\n}",
		"{\n{\n{\n}\n}\n}",
		"site_name \"a\\\"b\" \\{ \\}",
		"token_ttl 1d\ncode_ttl -1m\nrevoke_ttl 1.5h",
		"key hunter2-is-my-secret-key extra-argument",
		"email smtp h:25 {\n\tpassword my-smtp-password extra\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h, tokens, err := fzParse(body)
		if h == nil {
			return
		}
		if err != nil {
			for i := 0; i+1 < len(tokens); i++ {
				secret := tokens[i+1].Text
				if !fzSecretOptions[tokens[i].Text] || tokens[i+1].Line != tokens[i].Line || len(secret) < 8 || !strings.Contains(err.Error(), secret) {
					continue
				}
				// Printing another token that holds the same text (an
				// unknown option) is no leak.
				elsewhere := false
				for j, tok := range tokens {
					elsewhere = elsewhere || (j != i+1 && strings.Contains(tok.Text, secret))
				}
				if elsewhere {
					continue
				}
				// The value may be a piece of the message by chance
				// ("password_reset"): put a canary in its place.
				canary := "Cq" + strings.Repeat("Zx", len(secret))
				h2, _, err2 := fzParse(strings.ReplaceAll(body, secret, canary))
				if h2 != nil && err2 != nil && strings.Contains(err2.Error(), canary) {
					t.Fatalf("the error %q prints the %s argument %q", err, tokens[i].Text, secret)
				}
			}
			return
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("accepted %q but its JSON does not encode: %v", body, err)
		}
		var back caddymodule.Handler
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("accepted %q but its JSON %s does not decode: %v", body, b, err)
		}
		b2, err := json.Marshal(&back)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("JSON of %q changes on a round trip:\n%s\n%s", body, b, b2)
		}
		// JSON has no room for invalid UTF-8 (encoding/json writes U+FFFD
		// instead), so only valid text must come back exactly.
		if utf8.ValidString(body) && !reflect.DeepEqual(h, &back) {
			t.Fatalf("handler of %q changes on a JSON round trip:\n%+v\n%+v\n%s", body, *h, back, b)
		}
	})
}
