package mailer

import (
	"bytes"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
			ResetData{SiteName: "Acme <&>", UserName: "<b>", Link: "https://example.test/r?token=abc&x=1", Code: "12345678",
				ExpiresAt: at, TTL: "<i>", CodeExpiresAt: at, CodeTTL: "\"1\" & '2'", RequestIP: "192.0.2.1 <&>", RequestTime: at,
				RevokeLink: "https://example.test/x?a=1&b=2", SupportContact: "help+desk@example.test <b>"},
			ResetData{SiteName: "Acme", Link: "https://example.test/r", ExpiresAt: at, TTL: "1 hour"},
			ResetData{SiteName: "Acme", Code: "12345678", CodeExpiresAt: at, CodeTTL: "15 minutes"},
		},
		"changed": {
			ChangedData{SiteName: "Acme", UserName: "Ada", ChangedAt: at, RequestIP: "192.0.2.1",
				ResetLink: "https://example.test/", SupportContact: "help@example.test"},
			ChangedData{SiteName: "Acme", SupportContact: "help@example.test"},
			ChangedData{SiteName: "Acme \"R&D\"", UserName: "<Ada> + 'B'", ChangedAt: at, RequestIP: "::1 <&>",
				SupportContact: "<help@example.test>"},
			ChangedData{SiteName: "Acme"},
		},
		"passkey_added": {
			PasskeyAddedData{SiteName: "Acme", UserName: "Ada", PasskeyName: "Phone", AddedAt: at,
				RequestIP: "192.0.2.1", RemoveLink: "https://example.test/x", SupportContact: "help@example.test"},
			PasskeyAddedData{SiteName: "Acme", PasskeyName: "Phone", RemoveLink: "https://example.test/x"},
			PasskeyAddedData{SiteName: "<Acme>", UserName: "\"Ada\"", PasskeyName: "Phone <&> + 'x'", AddedAt: at,
				RequestIP: "192.0.2.1 &", RemoveLink: "https://example.test/x?a=1&b=2", SupportContact: "<help>"},
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

// Every field a message may be inlined over (stringFields) is a string
// field of each mail's data that has it, as prepare leaves it, and each
// data type's every string field but the links and the code is listed.
func TestStringFields(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range []preparer{ResetData{SiteName: "a", Code: "1"}, ChangedData{SiteName: "a"}, PasskeyAddedData{SiteName: "a", RemoveLink: "x"}} {
		v, err := d.prepare(i18n.Builtin().Lang("en"))
		if err != nil {
			t.Fatal(err)
		}
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			f := rt.Field(i)
			if f.Type.Kind() != reflect.String {
				if stringFields[f.Name] {
					t.Errorf("%s.%s is listed in stringFields but is a %s", rt.Name(), f.Name, f.Type)
				}
				continue
			}
			seen[f.Name] = true
			if !stringFields[f.Name] && !strings.HasSuffix(f.Name, "Link") && f.Name != "Code" {
				t.Errorf("%s.%s is a string field missing from stringFields", rt.Name(), f.Name)
			}
		}
	}
	for name := range stringFields {
		if !seen[name] {
			t.Errorf("stringFields lists %s, which no mail's data has", name)
		}
	}
}

// A message over fields is written as its text around {{.Field}} actions,
// the text escaped for HTML; one over a field that is not a string, one
// with a trim marker and one whose text holds a slot's characters are
// left as actions.
func TestInlineFields(t *testing.T) {
	l := englishWith(t, `{"x.ip": "<b>From</b> {ip} & {ip}, {other}", "x.odd": "a \ue0001\ue001 {ip}"}`)
	for _, tc := range []struct {
		src  string
		html bool
		want string
	}{
		{`<p>{{t "x.ip" "ip" .RequestIP}}</p>`, true, `<p>&lt;b&gt;From&lt;/b&gt; {{.RequestIP}} &amp; {{.RequestIP}}, {other}</p>`},
		{`{{t "x.ip" "ip" .RequestIP "other" .When}}`, false, `<b>From</b> {{.RequestIP}} & {{.RequestIP}}, {{.When}}`},
		{`{{t "x.ip" "ip" .ExpiresAt}}`, false, `{{t "x.ip" "ip" .ExpiresAt}}`},
		{`{{- t "x.ip" "ip" .RequestIP}}`, false, `{{- t "x.ip" "ip" .RequestIP}}`},
		{`{{t "x.odd" "ip" .RequestIP}}`, false, `{{t "x.odd" "ip" .RequestIP}}`},
	} {
		if got := inlineFields(tc.src, l, tc.html); got != tc.want {
			t.Errorf("inlineFields(%q, html %v) = %q, want %q", tc.src, tc.html, got, tc.want)
		}
	}
}

// An HTML message is escaped as html/template escapes text; an action
// with a trim marker is left alone.
func TestInlineMessagesEscapes(t *testing.T) {
	l := englishWith(t, `{"x.html": "<b>\"R&D\" + 'x'</b>"}`)
	if got := inlineMessages(`<p>{{t "x.html"}}</p>`, l, true); got != `<p>&lt;b&gt;&#34;R&amp;D&#34; &#43; &#39;x&#39;&lt;/b&gt;</p>` {
		t.Errorf("html message: %q", got)
	}
	if got := inlineMessages(`{{t "x.html"}} {{- t "x.html"}}`, l, false); got != `<b>"R&D" + 'x'</b> {{- t "x.html"}}` {
		t.Errorf("text message: %q", got)
	}
}

// Every built-in mail renders byte for byte the same from templates bound
// to its site (WithSite: the site's name and support contact written into
// the source) as from unbound ones, in every language, with and without a
// support contact and with a name that needs escaping; data for another
// site renders with its own name, from the unbound templates.
func TestInlineSiteRendersTheSame(t *testing.T) {
	plain, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 5, 6, 7, 0, time.UTC)
	for _, site := range []Site{
		{Name: `Acme <&> "R&D" + 'x'`, SupportContact: "help+desk@example.test <b>"},
		{Name: "Acme"},
	} {
		bound, err := plain.WithSite(site)
		if err != nil {
			t.Fatal(err)
		}
		data := map[string][]any{
			"reset": {
				ResetData{SiteName: site.Name, UserName: "Ada", Link: "https://example.test/r?token=abc&x=1", Code: "12345678",
					ExpiresAt: at, TTL: "1 hour", CodeExpiresAt: at, CodeTTL: "15 minutes", SupportContact: site.SupportContact},
				ResetData{SiteName: site.Name, Code: "12345678", CodeExpiresAt: at, CodeTTL: "15 minutes", SupportContact: site.SupportContact},
			},
			"changed": {
				ChangedData{SiteName: site.Name, UserName: "Ada", ChangedAt: at, RequestIP: "192.0.2.1",
					ResetLink: "https://example.test/", SupportContact: site.SupportContact},
				ChangedData{SiteName: site.Name, SupportContact: site.SupportContact},
			},
			"passkey_added": {
				PasskeyAddedData{SiteName: site.Name, UserName: "Ada", PasskeyName: "Phone", AddedAt: at,
					RequestIP: "192.0.2.1", RemoveLink: "https://example.test/x", SupportContact: site.SupportContact},
			},
		}
		for _, tag := range plain.Languages() {
			for name, variants := range data {
				for i, d := range variants {
					ws, wt, wh, err := plain.RenderLocale(name, tag, d)
					if err != nil {
						t.Fatal(err)
					}
					gs, gt, gh, err := bound.RenderLocale(name, tag, d)
					if err != nil {
						t.Fatal(err)
					}
					if gs != ws || gt != wt || gh != wh {
						t.Errorf("%s %s (data %d, site %q): the bound templates render differently:\n got %q\nwant %q", tag, name, i, site.Name, gt+gh, wt+wh)
					}
				}
			}
			// The bound templates hold the site in their source.
			src := bound.bound[bound.cat.Lang(tag).ID()].html["changed"].Tree.Root.String()
			if siteFieldRE.MatchString(src) || fieldMessageRE.MatchString(src) {
				t.Errorf("%s: a site action was left in the bound changed.html", tag)
			}
		}
		// Another site's data is not rendered with the bound name.
		_, text, html, err := bound.RenderLocale("changed", "en", ChangedData{SiteName: "Other Co", SupportContact: site.SupportContact})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Other Co") || !strings.Contains(html, "Other Co") {
			t.Errorf("data for another site rendered without its name:\n%s", text)
		}
		if site.Name != "Acme" && (strings.Contains(text, site.Name) || strings.Contains(html, "R&amp;D")) {
			t.Errorf("data for another site rendered with the bound name:\n%s", text)
		}
	}
}

// A buffer RenderLocale is done with is wiped before it goes back to the
// pool: nothing of the mail it held (a reset link, a code) is left in it.
func TestReleaseWipesTheBuffer(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.WriteString("https://example.test/r?token=SECRET-TOKEN 9876 5432")
	tpl.release(b)
	if all := b.Bytes()[:0][:b.Cap()]; bytes.Contains(all, []byte("SECRET")) || bytes.Contains(all, []byte("9876")) || b.Len() != 0 {
		t.Fatalf("released buffer still holds %q", all)
	}
	// A render leaves nothing readable in the buffer it used either.
	d := ResetData{SiteName: "Acme", Link: "https://example.test/r?token=SECRET-TOKEN", Code: "98765432"}
	b = tpl.bufs.Get().(*bytes.Buffer)
	tpl.bufs.Put(b) // the buffer RenderLocale's Get returns, unless the pool drops it
	if _, _, html, err := tpl.RenderLocale("reset", "en", d); err != nil || !strings.Contains(html, "SECRET-TOKEN") {
		t.Fatalf("render: %v", err)
	}
	if all := b.Bytes()[:0][:b.Cap()]; bytes.Contains(all, []byte("SECRET")) {
		t.Fatal("a rendered mail was left in the pooled buffer")
	}
}

// BenchmarkRender renders the "changed" and "reset" mails as the outbox
// does, from templates bound to the site (WithSite) and from unbound ones.
func BenchmarkRender(b *testing.B) {
	plain, err := LoadTemplates("")
	if err != nil {
		b.Fatal(err)
	}
	site := Site{Name: "Bench", SupportContact: "help@example.test"}
	bound, err := plain.WithSite(site)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	mails := []struct {
		name string
		data any
	}{
		{"changed", ChangedData{SiteName: site.Name, UserName: "Ada", ChangedAt: now, RequestIP: "192.0.2.1",
			ResetLink: "https://example.test/", SupportContact: site.SupportContact}},
		{"reset", ResetData{SiteName: site.Name, UserName: "Ada", Link: "https://example.test/r?token=abc", Code: "12345678",
			ExpiresAt: now, TTL: "1 hour", CodeExpiresAt: now, CodeTTL: "15 minutes", RequestIP: "192.0.2.1", RequestTime: now,
			RevokeLink: "https://example.test/x", SupportContact: site.SupportContact}},
	}
	for _, m := range mails {
		for _, c := range []struct {
			name string
			t    *Templates
		}{{"unbound", plain}, {"bound", bound}} {
			b.Run(m.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, _, _, err := c.t.RenderLocale(m.name, "en", m.data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// englishWith is English with the messages of the JSON object msgs added.
func englishWith(t *testing.T, msgs string) *i18n.Lang {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "en.json"), []byte(msgs), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := i18n.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c.Lang("en")
}
