package mailer

import (
	"bytes"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/resetgate/resetgate/plugin/i18n"
	"github.com/resetgate/resetgate/plugin/theme"
)

// The built-in HTML mails render byte for byte the same with the palette's
// colours written into their source (inlineColours) as with the {{theme}}
// actions, in every language, with the default palette and a custom one.
func TestInlineColoursRenderTheSame(t *testing.T) {
	base, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := theme.New("#0B6E4F", "#fb0")
	if err != nil {
		t.Fatal(err)
	}
	custom, err := base.WithTheme(Theme{Palette: p, Logo: "https://example.test/logo.png"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 5, 6, 7, 0, time.UTC)
	data := map[string]preparer{
		"reset": ResetData{SiteName: "Acme <&>", UserName: "Ada \"L\"", Link: "https://example.test/r?token=abc", Code: "12345678",
			ExpiresAt: at, TTL: "1 hour", CodeExpiresAt: at, CodeTTL: "15 minutes"},
		"changed": ChangedData{SiteName: "Acme", UserName: "Ada", ChangedAt: at, RequestIP: "192.0.2.1",
			ResetLink: "https://example.test/", SupportContact: "help@example.test"},
		"passkey_added": PasskeyAddedData{SiteName: "Acme", UserName: "Ada", PasskeyName: "Phone", AddedAt: at,
			RequestIP: "192.0.2.1", RemoveLink: "https://example.test/x", SupportContact: "help@example.test"},
	}
	inlined := 0
	for _, tpl := range []*Templates{base, custom} {
		for _, tag := range tpl.Languages() {
			l := tpl.cat.Lang(tag)
			for name, d := range data {
				file := name + ".html"
				if colourActionRE.MatchString(inlineColours(tpl.sources[file], tpl.look.Palette)) {
					t.Errorf("%s: a colour action was left in the source", file)
				}
				if inlineColours(tpl.sources[file], tpl.look.Palette) != tpl.sources[file] {
					inlined++
				}
				plain, err := htmltemplate.New(file).Funcs(funcs(l, tpl.look)).Option("missingkey=error").Parse(tpl.sources[file])
				if err != nil {
					t.Fatal(err)
				}
				v, err := d.prepare(l)
				if err != nil {
					t.Fatal(err)
				}
				var want, got bytes.Buffer
				if err := plain.Execute(&want, v); err != nil {
					t.Fatal(err)
				}
				if err := tpl.sets[tag].html[name].Execute(&got, v); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("%s %s: the inlined template renders differently", tag, file)
				}
			}
		}
	}
	if inlined == 0 {
		t.Fatal("no template had a colour to inline")
	}
}

// Every built-in template (subject, text, HTML) renders byte for byte the
// same with the language's constant messages, {{lang}} and {{dir}} written
// into its source (inlineMessages) as with the actions, in every language,
// with every optional field set and with none set.
func TestInlineMessagesRenderTheSame(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 5, 6, 7, 0, time.UTC)
	data := map[string][]preparer{
		"reset": {
			ResetData{SiteName: "Acme <&>", UserName: "Ada \"L\" + 'B'", Link: "https://example.test/r?token=abc&x=1", Code: "12345678",
				ExpiresAt: at, TTL: "1 hour", CodeExpiresAt: at, CodeTTL: "15 minutes"},
			ResetData{SiteName: "Acme", Link: "https://example.test/r", ExpiresAt: at, TTL: "1 hour"},
			ResetData{SiteName: "Acme", Code: "12345678", CodeExpiresAt: at, CodeTTL: "15 minutes"},
		},
		"changed": {
			ChangedData{SiteName: "Acme", UserName: "Ada", ChangedAt: at, RequestIP: "192.0.2.1",
				ResetLink: "https://example.test/", SupportContact: "help@example.test"},
			ChangedData{SiteName: "Acme", SupportContact: "help@example.test"},
			ChangedData{SiteName: "Acme"},
		},
		"passkey_added": {
			PasskeyAddedData{SiteName: "Acme", UserName: "Ada", PasskeyName: "Phone", AddedAt: at,
				RequestIP: "192.0.2.1", RemoveLink: "https://example.test/x", SupportContact: "help@example.test"},
			PasskeyAddedData{SiteName: "Acme", PasskeyName: "Phone", RemoveLink: "https://example.test/x"},
		},
	}
	inlined := 0
	for _, tag := range tpl.Languages() {
		l := tpl.cat.Lang(tag)
		for name, variants := range data {
			for _, kind := range kinds {
				file := name + kind
				src := tpl.sources[file]
				if inlineMessages(src, l, kind == ".html") != src {
					inlined++
				}
				for i, d := range variants {
					v, err := d.prepare(l)
					if err != nil {
						t.Fatal(err)
					}
					var want, got bytes.Buffer
					switch kind {
					case ".html":
						plain, err := htmltemplate.New(file).Funcs(funcs(l, tpl.look)).Option("missingkey=error").Parse(src)
						if err != nil {
							t.Fatal(err)
						}
						if err := plain.Execute(&want, v); err != nil {
							t.Fatal(err)
						}
						err = tpl.sets[tag].html[name].Execute(&got, v)
						if err != nil {
							t.Fatal(err)
						}
					default:
						plain, err := texttemplate.New(file).Funcs(funcs(l, tpl.look)).Option("missingkey=error").Parse(src)
						if err != nil {
							t.Fatal(err)
						}
						if err := plain.Execute(&want, v); err != nil {
							t.Fatal(err)
						}
						m := tpl.sets[tag].text
						if kind == ".subject.txt" {
							m = tpl.sets[tag].subject
						}
						if err := m[name].Execute(&got, v); err != nil {
							t.Fatal(err)
						}
					}
					if got.String() != want.String() {
						t.Errorf("%s %s (data %d): the inlined template renders differently:\n got %q\nwant %q", tag, file, i, got.String(), want.String())
					}
				}
			}
		}
	}
	if inlined < len(tpl.Languages())*len(data)*len(kinds)/2 {
		t.Fatalf("only %d templates had a message to inline", inlined)
	}
}

// An HTML message is escaped as html/template escapes text; an action
// with a trim marker is left alone.
func TestInlineMessagesEscapes(t *testing.T) {
	dir := t.TempDir()
	msgs := `{"x.html": "<b>\"R&D\" + 'x'</b>"}`
	if err := os.WriteFile(filepath.Join(dir, "en.json"), []byte(msgs), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := i18n.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lang("en")
	if got := inlineMessages(`<p>{{t "x.html"}}</p>`, l, true); got != `<p>&lt;b&gt;&#34;R&amp;D&#34; &#43; &#39;x&#39;&lt;/b&gt;</p>` {
		t.Errorf("html message: %q", got)
	}
	if got := inlineMessages(`{{t "x.html"}} {{- t "x.html"}}`, l, false); got != `<b>"R&D" + 'x'</b> {{- t "x.html"}}` {
		t.Errorf("text message: %q", got)
	}
}
