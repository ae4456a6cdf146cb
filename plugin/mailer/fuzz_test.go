package mailer

// Fuzz target for the mail templates (issue 8, point 4). `go test` runs
// the seed corpus in testdata/fuzz/FuzzRender; scripts/fuzz fuzzes it.

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fzScriptRE finds a script element or an event handler attribute: the
// built-in templates have none, so any one comes from a fuzzed value that
// escaped html/template.
var fzScriptRE = regexp.MustCompile(`(?i)<\s*script|<[^>]*\son[a-z]+\s*=|href\s*=\s*["']?\s*(javascript|vbscript|data):`)

// fzMaxSubjectRunes bounds a subject: the longest translated subject plus
// a site name cut to maxNameLen.
const fzMaxSubjectRunes = 200

// FuzzRender fills the "reset" and "changed" mails, in a fuzzed locale,
// with fuzzed site name, user name, link, code, address, support contact,
// TTL and time. Invariants: no panic; a refusal only for a missing site
// name (or a reset mail with neither link nor code); otherwise the subject
// is one short line (no CR, LF or other line break: no header injection),
// the HTML holds no script, event handler or javascript: link, no fuzzed
// value holding markup characters appears unescaped in it, and the text and
// HTML bodies are valid UTF-8 when the values are.
func FuzzRender(f *testing.F) {
	tpl, err := LoadTemplates("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind uint8, locale, site, user, link, code, ip, support, ttl string, when int64) {
		at := time.Unix(when, 0)
		name := "reset"
		if kind%2 == 1 {
			name = "changed"
		}
		build := func(site, user, link, code, ip, support string) any {
			if name == "changed" {
				return ChangedData{SiteName: site, UserName: user, ChangedAt: at, RequestIP: ip, ResetLink: link, SupportContact: support}
			}
			return ResetData{SiteName: site, UserName: user, Link: link, Code: code, ExpiresAt: at.Add(15 * time.Minute),
				TTL: ttl, RequestIP: ip, RequestTime: at, RevokeLink: link, SupportContact: support}
		}
		data := build(site, user, link, code, ip, support)
		subject, text, html, err := tpl.RenderLocale(name, locale, data)
		if err != nil {
			missing := strings.TrimSpace(site) == "" || (name == "reset" && link == "" && code == "")
			if !missing {
				t.Fatalf("%s refused %+v: %v", name, data, err)
			}
			return
		}
		if strings.ContainsAny(subject, "\r\n\v\f\u0085\u2028\u2029") {
			t.Fatalf("subject %q is not one line", subject)
		}
		if subject == "" || subject != strings.TrimSpace(subject) || utf8.RuneCountInString(subject) > fzMaxSubjectRunes {
			t.Fatalf("subject %q: empty, padded or longer than %d code points", subject, fzMaxSubjectRunes)
		}
		if m := fzScriptRE.FindString(html); m != "" {
			t.Fatalf("%s HTML holds %q from a fuzzed value:\n%s", name, m, html)
		}
		// A value with markup characters must not come through as is:
		// render again with a plain value in its place, and the piece must
		// not show up more often with the fuzzed one.
		vals := []string{site, user, link, code, ip, support}
		for i, field := range []string{"site", "user", "link", "code", "ip", "support"} {
			v := vals[i]
			if !strings.ContainsAny(v, "<>\"'") {
				continue
			}
			plain := append([]string(nil), vals...)
			plain[i] = "Zq"
			_, _, html0, err := tpl.RenderLocale(name, locale, build(plain[0], plain[1], plain[2], plain[3], plain[4], plain[5]))
			if err != nil {
				continue
			}
			if strings.Count(html, v) > strings.Count(html0, v) {
				t.Fatalf("%s HTML holds the %s %q unescaped:\n%s", name, field, v, html)
			}
		}
		valid := true
		for _, v := range []string{locale, site, user, link, code, ip, support, ttl} {
			valid = valid && utf8.ValidString(v)
		}
		if valid && (!utf8.ValidString(text) || !utf8.ValidString(html) || !utf8.ValidString(subject)) {
			t.Fatalf("%s: invalid UTF-8 out of valid values", name)
		}
	})
}
