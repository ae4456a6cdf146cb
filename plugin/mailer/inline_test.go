package mailer

import (
	"bytes"
	htmltemplate "html/template"
	"testing"
	"time"

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
