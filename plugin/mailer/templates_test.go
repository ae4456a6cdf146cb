package mailer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/plugin/theme"
)

var testTime = time.Date(2026, 3, 3, 14, 5, 0, 0, time.UTC)

func sampleReset() ResetData {
	return ResetData{
		SiteName:       "Acme",
		UserName:       "Ada",
		Link:           "https://app.example.com/password-reset/new#token=tok123",
		Code:           "12345678",
		ExpiresAt:      testTime.Add(15 * time.Minute),
		TTL:            "15 minutes",
		CodeExpiresAt:  testTime.Add(10 * time.Minute),
		CodeTTL:        "10 minutes",
		RequestIP:      "203.0.113.7",
		RequestTime:    testTime,
		RevokeLink:     "https://app.example.com/password-reset/revoke#token=tok123",
		SupportContact: "help@acme.test",
	}
}

func loadTemplates(t *testing.T, dir string) *Templates {
	t.Helper()
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestFormatCode(t *testing.T) {
	for in, want := range map[string]string{
		"12345678":  "1234 5678",
		"00000000":  "0000 0000",
		"":          "",
		"1234567":   "1234567",
		"1234 5678": "1234 5678",
		"1234567a":  "1234567a",
	} {
		if got := FormatCode(in); got != want {
			t.Errorf("FormatCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderReset(t *testing.T) {
	tpl := loadTemplates(t, "")
	data := sampleReset()
	subject, text, html, err := tpl.Render("reset", data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Reset your Acme password" {
		t.Errorf("subject = %q", subject)
	}
	for name, body := range map[string]string{"text": text, "html": html} {
		for _, want := range []string{
			"1234 5678", data.Link, data.RevokeLink, "203.0.113.7",
			"Tuesday, 3 March 2026 at 14:05 UTC", // when it was asked
			"The link works once, for 15 minutes, until Tuesday, 3 March 2026 at 14:20 UTC.",
			"The code works once, for 10 minutes, until Tuesday, 3 March 2026 at 14:15 UTC.",
			"has not been changed", "help@acme.test", "Hello Ada",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if strings.Contains(body, "12345678") {
			t.Errorf("%s shows the code ungrouped", name)
		}
	}
	if !strings.Contains(html, `href="`+data.Link+`"`) || !strings.Contains(html, `href="`+data.RevokeLink+`"`) {
		t.Error("html links are not clickable")
	}
	if strings.Contains(html, "<img") || strings.Contains(html, "<script") {
		t.Error("html has images or scripts")
	}
}

func TestRenderResetOptionalFields(t *testing.T) {
	tpl := loadTemplates(t, "")
	_, text, html, err := tpl.Render("reset", ResetData{SiteName: "Acme", Link: "https://app.example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{text, html} {
		if strings.Contains(body, "code") && strings.Contains(body, "enter this code") {
			t.Error("code paragraph shown without a code")
		}
		if strings.Contains(body, "IP address") || strings.Contains(body, "expire in") {
			t.Error("empty fields rendered")
		}
	}
}

func TestRenderEscapesAndFlattensNames(t *testing.T) {
	tpl := loadTemplates(t, "")
	data := sampleReset()
	data.UserName = "<script>x</script>\r\n\r\nYour account is locked, call 555-0100"
	subject, text, html, err := tpl.Render("reset", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") {
		t.Error("html does not escape the user name")
	}
	if strings.Contains(text, "\n\nYour account") {
		t.Error("user name broke out of its line in the text")
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Error("subject has a line break")
	}

	data = sampleReset()
	data.Link = "javascript:alert(1)"
	_, _, html, err = tpl.Render("reset", data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, `href="javascript:`) {
		t.Error("html template let a javascript: link through")
	}
}

func TestRenderChanged(t *testing.T) {
	tpl := loadTemplates(t, "")
	data := ChangedData{
		SiteName: "Acme", UserName: "Ada", ChangedAt: testTime, RequestIP: "203.0.113.7",
		ResetLink: "https://app.example.com/password-reset/", SupportContact: "help@acme.test",
	}
	subject, text, html, err := tpl.Render("changed", data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Your Acme password was changed" {
		t.Errorf("subject = %q", subject)
	}
	for name, body := range map[string]string{"text": text, "html": html} {
		for _, want := range []string{data.ResetLink, "203.0.113.7", "Tuesday, 3 March 2026 at 14:05 UTC", "help@acme.test", "did not make this change"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tpl := loadTemplates(t, "")
	if _, _, _, err := tpl.Render("welcome", ResetData{}); err == nil {
		t.Error("unknown template rendered")
	}
	if _, _, _, err := tpl.Render("reset", ResetData{SiteName: "Acme"}); err == nil || !strings.Contains(err.Error(), "Link") {
		t.Errorf("reset without Link: %v", err)
	}
	if _, _, _, err := tpl.Render("changed", ChangedData{}); err == nil || !strings.Contains(err.Error(), "SiteName") {
		t.Errorf("changed without SiteName: %v", err)
	}
}

func TestLoadTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("reset.html", `<p>Custom {{.SiteName}}: <a href="{{.Link}}">reset</a> {{code .Code}}</p>`)
	write("README.md", "not a template, ignored")

	tpl := loadTemplates(t, dir)
	data := sampleReset()
	subject, text, html, err := tpl.Render("reset", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `<p>Custom Acme: <a href="` + data.Link + `">reset</a> 1234 5678</p>`; html != want {
		t.Errorf("html = %q, want %q", html, want)
	}
	if subject != "Reset your Acme password" || !strings.Contains(text, data.RevokeLink) {
		t.Error("the other templates did not stay built in")
	}

	write("rest.txt", "typo")
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "rest.txt") {
		t.Errorf("misspelt override: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "rest.txt")); err != nil {
		t.Fatal(err)
	}

	write("changed.subject.txt", "{{.Broken")
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "changed.subject.txt") {
		t.Errorf("broken override: %v", err)
	}

	if _, err := LoadTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing override dir accepted")
	}
}

func TestOverrideWithEmptySubject(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reset.subject.txt"), []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl := loadTemplates(t, dir)
	if _, _, _, err := tpl.Render("reset", sampleReset()); err == nil {
		t.Error("empty subject accepted")
	}
}

// The mail follows the user's locale (as the lookup gives it); unknown
// locales get English.
func TestRenderLocalised(t *testing.T) {
	tpl := loadTemplates(t, "")
	data := sampleReset()
	for locale, want := range map[string][]string{
		"de":    {"Setzen Sie Ihr Passwort für Acme zurück", "Hallo Ada,", "Dienstag, 3. März 2026 um 14:05 UTC", "15 Minuten", "Ihr Passwort wurde nicht geändert", "Fragen? Wenden Sie sich an help@acme.test"},
		"de_CH": {"Setzen Sie Ihr Passwort für Acme zurück"},
		"fr-FR": {"Réinitialisez votre mot de passe Acme", "Bonjour Ada,", "mardi 3 mars 2026 à 14:05 UTC", "15 minutes"},
		"es":    {"Restablezca su contraseña de Acme", "Hola, Ada:", "martes, 3 de marzo de 2026 a las 14:05 UTC", "15 minutos"},
		"xx":    {"Reset your Acme password", "Hello Ada,"},
	} {
		subject, text, html, err := tpl.RenderLocale("reset", locale, data)
		if err != nil {
			t.Fatalf("%s: %v", locale, err)
		}
		if subject != want[0] {
			t.Errorf("%s: subject %q, want %q", locale, subject, want[0])
		}
		for _, w := range want[1:] {
			if !strings.Contains(text, w) || !strings.Contains(html, w) {
				t.Errorf("%s: mail lacks %q", locale, w)
			}
		}
		for _, must := range []string{"1234 5678", data.Link, data.RevokeLink} {
			if !strings.Contains(text, must) {
				t.Errorf("%s: text lacks %q", locale, must)
			}
		}
		lang := strings.ToLower(strings.SplitN(strings.ReplaceAll(locale, "_", "-"), "-", 2)[0])
		if lang == "xx" {
			lang = "en"
		}
		if !strings.Contains(html, `<html lang="`+lang+`"`) {
			t.Errorf("%s: html has no lang=%s", locale, lang)
		}
	}
	subject, text, _, err := tpl.RenderLocale("changed", "de", ChangedData{SiteName: "Acme", ChangedAt: testTime, ResetLink: "https://x.test/r", SupportContact: "help@acme.test"})
	if err != nil || subject != "Ihr Passwort für Acme wurde geändert" || !strings.Contains(text, "Wenden Sie sich danach an help@acme.test.") {
		t.Errorf("changed in German: %q %v\n%s", subject, err, text)
	}
}

func TestLocalDuration(t *testing.T) {
	tpl := loadTemplates(t, "")
	for in, want := range map[string]string{"15 minutes": "15 Minuten", "1 hour": "1 Stunde", "2 hours": "2 Stunden", "7 days": "7 Tage", "90s": "90 Sekunden", "soon": "soon"} {
		d := sampleReset()
		d.TTL = in
		_, text, _, err := tpl.RenderLocale("reset", "de", d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Der Link funktioniert einmal und "+want+" lang") {
			t.Errorf("TTL %q: want %q in\n%s", in, want, text)
		}
	}
}

func TestOverridePerLanguage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reset.de.subject.txt"), []byte("Neues Passwort für {{.SiteName}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl := loadTemplates(t, dir)
	if s, _, _, _ := tpl.RenderLocale("reset", "de", sampleReset()); s != "Neues Passwort für Acme" {
		t.Errorf("German override: %q", s)
	}
	if s, _, _, _ := tpl.RenderLocale("reset", "fr", sampleReset()); s != "Réinitialisez votre mot de passe Acme" {
		t.Errorf("the German override leaked into French: %q", s)
	}
	if err := os.WriteFile(filepath.Join(dir, "reset.deutsch.html"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "reset.deutsch.html") {
		t.Errorf("bad language in a file name: %v", err)
	}
}

// TestResetMailTellsEachValidity pins the fix for a mail that said "the
// link and the code ... valid for 15 minutes" while the code died after
// code_ttl: each proof states its own lifetime, and a code whose lifetime
// the caller did not give gets no lifetime at all rather than the link's.
func TestResetMailTellsEachValidity(t *testing.T) {
	tpl := loadTemplates(t, "")
	d := sampleReset()
	d.CodeTTL, d.CodeExpiresAt = "", time.Time{}
	_, text, html, err := tpl.Render("reset", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{text, html} {
		if !strings.Contains(body, "The code can be used once.") || strings.Contains(body, "The code works once, for 15") {
			t.Errorf("code validity without CodeTTL:\n%s", body)
		}
	}
	for locale, want := range map[string]string{"de": "Der Code funktioniert einmal und 10 Minuten lang", "fr": "Le code ne sert qu’une fois et reste valable 10 minutes", "es": "El código funciona una sola vez, durante 10 minutos"} {
		_, text, html, err := tpl.RenderLocale("reset", locale, sampleReset())
		if err != nil || !strings.Contains(text, want) || !strings.Contains(html, want) {
			t.Errorf("%s: mail lacks %q (%v)", locale, want, err)
		}
	}
}

// TestRenderThemed checks that the mails wear the pages' theme: the
// built-in blue by default, the theme's colours and logo when set, and a
// dark scheme for mail apps that follow the reader's.
func TestRenderThemed(t *testing.T) {
	tpl := loadTemplates(t, "")
	_, _, html, err := tpl.Render("reset", sampleReset())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "background:#2456c8") || strings.Contains(html, "#1f6feb") {
		t.Error("the unthemed mail does not use the pages' blue")
	}
	p, err := theme.New("#0b6e4f", "#f5b400")
	if err != nil {
		t.Fatal(err)
	}
	themed, err := tpl.WithTheme(Theme{Palette: p, Logo: "https://app.example.com/password-reset/assets/logo?v=1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reset", "changed"} {
		var data any = sampleReset()
		if name == "changed" {
			data = ChangedData{SiteName: "Acme", ResetLink: "https://app.example.com/password-reset/"}
		}
		_, _, html, err := themed.Render(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`<img src="https://app.example.com/password-reset/assets/logo?v=1" alt=""`,
			"border-top:5px solid #f5b400", "color:#0b6e4f", "@media (prefers-color-scheme: dark)",
			"background: " + p.Dark.Card + " !important", `content="light dark"`,
		} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: themed html lacks %q", name, want)
			}
		}
		if strings.Contains(html, "ZgotmplZ") {
			t.Errorf("%s: a theme value was refused by html/template", name)
		}
	}
	if _, err := tpl.WithTheme(Theme{Palette: p, Logo: "/relative/logo.png"}); err == nil {
		t.Error("a relative logo address was accepted for mails")
	}
}

// Every mail can be overridden, passkey_added's two-word name too (the
// file name pattern once refused it), and an override may use the times
// (.ChangedAt.IsZero, {{datetime .ChangedAt}}) or the strings the mailer
// writes from them (.When, .LinkUntil, .CodeUntil), which the built-in
// mails use.
func TestOverrideEveryMailWithTheData(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 3, 14, 5, 0, 0, time.UTC)
	for name, src := range map[string]string{
		"reset.html":            `{{if not .RequestTime.IsZero}}{{datetime .RequestTime}}{{end}}|{{datetime .ExpiresAt}}|{{.When}}|{{.LinkUntil}}|{{.CodeUntil}}`,
		"changed.html":          `{{if not .ChangedAt.IsZero}}{{datetime .ChangedAt}}{{end}}|{{.When}}`,
		"passkey_added.de.html": `{{if not .AddedAt.IsZero}}{{datetime .AddedAt}}{{end}}|{{.When}}|{{.PasskeyName}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tpl := loadTemplates(t, dir)
	en, de := "Tuesday, 3 March 2026 at 14:05 UTC", "Dienstag, 3. März 2026 um 14:05 UTC"
	for _, tc := range []struct {
		name, locale string
		data         any
		want         string
	}{
		{"reset", "en", ResetData{SiteName: "Acme", Link: "https://x.test/r", RequestTime: at, ExpiresAt: at}, en + "|" + en + "|" + en + "|" + en + "|"},
		{"reset", "en", ResetData{SiteName: "Acme", Link: "https://x.test/r"}, "||||"},
		{"changed", "en", ChangedData{SiteName: "Acme", ChangedAt: at}, en + "|" + en},
		{"changed", "en", ChangedData{SiteName: "Acme"}, "|"},
		{"passkey_added", "de", PasskeyAddedData{SiteName: "Acme", AddedAt: at, PasskeyName: "Laptop", RemoveLink: "https://x.test/u"}, de + "|" + de + "|Laptop"},
	} {
		_, _, html, err := tpl.RenderLocale(tc.name, tc.locale, tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if html != tc.want {
			t.Errorf("%s %s: html = %q, want %q", tc.name, tc.locale, html, tc.want)
		}
	}
	// passkey_added.de.html replaced German only.
	if _, _, html, err := tpl.RenderLocale("passkey_added", "en", PasskeyAddedData{SiteName: "Acme", PasskeyName: "Laptop", RemoveLink: "https://x.test/u"}); err != nil || !strings.Contains(html, "<!DOCTYPE html>") {
		t.Errorf("English passkey_added is not the built-in one: %v", err)
	}
}
