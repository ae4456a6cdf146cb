package i18n

import (
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The languages the project promises (pages and mails).
var promised = []string{"de", "en", "es", "fr"}

func TestBuiltinLanguages(t *testing.T) {
	c := Builtin()
	for _, tag := range promised {
		if c.Lang(tag) == nil {
			t.Errorf("no built-in %s", tag)
		}
	}
}

var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

func placeholders(s string) []string {
	ps := placeholderRE.FindAllString(s, -1)
	slices.Sort(ps)
	return slices.Compact(ps)
}

// Every built-in language translates every English message, with the same
// placeholders, and has no key English lacks (a typo would never be used).
func TestBuiltinLanguagesAreComplete(t *testing.T) {
	c := Builtin()
	en := c.Default()
	for _, tag := range c.Tags() {
		if tag == Fallback {
			continue
		}
		l := c.Lang(tag)
		if m := c.Missing(tag); len(m) > 0 {
			t.Errorf("%s lacks %d messages: %v", tag, len(m), m)
		}
		for k, v := range l.msgs {
			ev, ok := en.msgs[k]
			if !ok {
				t.Errorf("%s has %q, which English lacks", tag, k)
				continue
			}
			if !slices.Equal(placeholders(v), placeholders(ev)) {
				t.Errorf("%s %q has placeholders %v, English %v", tag, k, placeholders(v), placeholders(ev))
			}
			if k == "datetime.weekdays" && strings.Count(v, "|") != 6 || k == "datetime.months" && strings.Count(v, "|") != 11 {
				t.Errorf("%s %q has the wrong number of names", tag, k)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	c := Builtin()
	for header, want := range map[string]string{
		"":                              "en",
		"de":                            "de",
		"de-CH,de;q=0.9,en;q=0.8":       "de",
		"fr-FR, en;q=0.5":               "fr",
		"en;q=0.4, es;q=0.9":            "es",
		"ja, zh;q=0.9":                  "en",
		"ja, fr;q=0.1":                  "fr",
		"de;q=0, fr;q=0.5":              "fr",
		"*":                             "en",
		"garbage;;;q=abc, es":           "es",
		"ES-mx":                         "es",
		"pt-BR,pt;q=0.9,de;q=0.8,*;q=1": "en",
	} {
		if got := c.Match(header).tag; got != want {
			t.Errorf("Match(%q) = %s, want %s", header, got, want)
		}
	}
	for locale, want := range map[string]string{"": "en", "de": "de", "de_DE": "de", "fr-CA": "fr", "xx": "en", "ES": "es"} {
		if got := c.ForLocale(locale).tag; got != want {
			t.Errorf("ForLocale(%q) = %s, want %s", locale, got, want)
		}
	}
}

func TestTFillsOnceAndFallsBack(t *testing.T) {
	c := Builtin()
	de := c.Lang("de")
	if got := de.T("layout.help", "support", "{site}"); got != "Brauchen Sie Hilfe? Wenden Sie sich an {site}." {
		t.Errorf("a value was expanded again: %q", got)
	}
	if got := de.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q", got)
	}
	if got := de.T("layout.help"); !strings.Contains(got, "{support}") {
		t.Errorf("missing argument should stay visible: %q", got)
	}
	h := de.HTML("layout.help", "support", template.HTML(`<a href="mailto:x@y">x@y</a>`))
	if !strings.Contains(string(h), `<a href="mailto:x@y">`) {
		t.Errorf("HTML value escaped: %s", h)
	}
	if h := de.HTML("layout.help", "support", "<b>"); !strings.Contains(string(h), "&lt;b&gt;") {
		t.Errorf("string value not escaped: %s", h)
	}
}

func TestDurationAndDateTime(t *testing.T) {
	c := Builtin()
	at := time.Date(2026, 3, 3, 14, 5, 0, 0, time.UTC)
	for tag, want := range map[string][2]string{
		"en": {"15 minutes", "Tuesday, 3 March 2026 at 14:05 UTC"},
		"de": {"15 Minuten", "Dienstag, 3. März 2026 um 14:05 UTC"},
		"fr": {"15 minutes", "mardi 3 mars 2026 à 14:05 UTC"},
		"es": {"15 minutos", "martes, 3 de marzo de 2026 a las 14:05 UTC"},
	} {
		l := c.Lang(tag)
		if got := l.Duration(15 * time.Minute); got != want[0] {
			t.Errorf("%s duration = %q", tag, got)
		}
		if got := l.DateTime(at); got != want[1] {
			t.Errorf("%s datetime = %q", tag, got)
		}
	}
	// The first weekday and the last month of the lists.
	if got := c.Lang("de").DateTime(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)); got != "Sonntag, 6. Dezember 2026 um 08:00 UTC" {
		t.Errorf("de datetime = %q", got)
	}
	en := c.Default()
	for d, want := range map[time.Duration]string{time.Hour: "1 hour", 168 * time.Hour: "7 days", 90 * time.Minute: "90 minutes", 1500 * time.Millisecond: "1.5s"} {
		if got := en.Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("nl.json", `{"meta.name": "Nederlands", "forgot.title": "Wachtwoord vergeten?"}`)
	write("de.json", `{"forgot.title": "Kennwort vergessen?"}`)
	write("notes.txt", "ignored")
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Match("nl-BE").T("forgot.title"); got != "Wachtwoord vergeten?" {
		t.Errorf("added language: %q", got)
	}
	if got := c.Lang("nl").T("sent.title"); got != "Check your e-mail" {
		t.Errorf("a missing message should fall back to English: %q", got)
	}
	if got := c.Lang("de").T("forgot.title"); got != "Kennwort vergessen?" {
		t.Errorf("override: %q", got)
	}
	if got := c.Lang("de").T("sent.title"); got != "Prüfen Sie Ihre E-Mails" {
		t.Errorf("override dropped the other messages: %q", got)
	}
	if Builtin().Lang("de").T("forgot.title") != "Passwort vergessen?" {
		t.Error("an override changed the built-in catalog")
	}

	for name, content := range map[string]string{
		"Deutsch.json": `{}`,
		"it.json":      `{"x": 1}`,
		"pl.json":      `{"x": "a {b"}`,
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing dir accepted")
	}
}

func TestTag(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "pt-br": "pt-BR", "zh-hant": "zh-Hant", "es-419": "es-419"} {
		if got := (&Lang{tag: in}).Tag(); got != want {
			t.Errorf("Tag(%s) = %s", in, got)
		}
	}
}

// nth picks a list's element as strings.Split and an index would.
func TestNth(t *testing.T) {
	for _, list := range []string{"", "a", "a|b", " a | b |c ", "|x||", "Mon|Tue|Wed"} {
		names := strings.Split(list, "|")
		for i := range 6 {
			want := ""
			if i < len(names) {
				want = strings.TrimSpace(names[i])
			}
			if got := nth(list, i); got != want {
				t.Errorf("nth(%q, %d) = %q, want %q", list, i, got, want)
			}
		}
	}
}
