package theme

import (
	"fmt"
	"strings"
	"testing"
)

// pairs are the text (or control) colours of a scheme and what they are
// drawn on, with the ratio WCAG 2 asks of them: 4.5:1 for text (1.4.3),
// 3:1 for borders and focus rings (1.4.11).
func pairs(s Scheme) []struct {
	name     string
	fg, bg   string
	minRatio float64
} {
	type p = struct {
		name     string
		fg, bg   string
		minRatio float64
	}
	return []p{
		{"text on page", s.Fg, s.Bg, 4.5}, {"text on card", s.Fg, s.Card, 4.5}, {"text on panel", s.Fg, s.Panel, 4.5},
		{"text in field", s.Fg, s.Input, 4.5}, {"text on notice", s.Fg, s.NoteBg, 4.5}, {"text on warning", s.Fg, s.WarnBg, 4.5},
		{"muted on card", s.Muted, s.Card, 4.5}, {"muted on panel", s.Muted, s.Panel, 4.5}, {"muted on page", s.Muted, s.Bg, 4.5},
		{"muted on notice", s.Muted, s.NoteBg, 4.5}, {"muted on warning", s.Muted, s.WarnBg, 4.5},
		{"link on card", s.Link, s.Card, 4.5}, {"link on warning", s.WarnLink, s.WarnBg, 4.5},
		{"button text", s.OnBrand, s.Brand, 4.5}, {"danger button text", s.OnErr, s.Err, 4.5},
		{"error text", s.ErrText, s.Card, 4.5}, {"success text", s.OkFg, s.OkBg, 4.5},
		{"focus ring", s.Focus, s.Card, 3}, {"field border", s.Border, s.Card, 3}, {"error border", s.Err, s.Card, 3},
	}
}

// TestEveryThemeReads tries all 4096 colours of the form #rgb as the main
// colour and as the accent, and checks every text colour of both schemes.
func TestEveryThemeReads(t *testing.T) {
	hex := "0123456789abcdef"
	bad := 0
	for i := range 4096 {
		c := fmt.Sprintf("#%c%c%c", hex[i>>8], hex[(i>>4)&15], hex[i&15])
		p, err := New(c, c)
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]Scheme{"light": p.Light, "dark": p.Dark} {
			for _, pr := range pairs(s) {
				if r := Contrast(pr.fg, pr.bg); r < pr.minRatio {
					if bad++; bad < 20 {
						t.Errorf("color %s, %s: %s %s on %s is %.2f:1, want ≥ %.1f:1", c, name, pr.name, pr.fg, pr.bg, r, pr.minRatio)
					}
				}
			}
		}
	}
}

func TestDefaultAndKnownThemes(t *testing.T) {
	d := Default()
	if d.Light.Brand != DefaultColor || d.Light.Link != DefaultColor || d.Light.OnBrand != "#ffffff" {
		t.Errorf("default light: %+v", d.Light)
	}
	p, err := New("#0B6E4F", "#fb0")
	if err != nil {
		t.Fatal(err)
	}
	if p.Light.Brand != "#0b6e4f" || p.Light.Link != "#0b6e4f" || p.Light.Accent != "#ffbb00" || p.Light.Focus != "#0b6e4f" {
		t.Errorf("green theme, light: %+v", p.Light)
	}
	// A light main colour gets dark text, and links fall back to dark.
	y, _ := New("#ffeb3b", "")
	if y.Light.OnBrand != "#1d2230" || y.Light.Link != "#1d2230" {
		t.Errorf("yellow theme: %+v", y.Light)
	}
	css := string(p.CSS())
	for _, want := range []string{"--brand: #0b6e4f;", "@media (prefers-color-scheme: dark)", "--card: #1b1e26;"} {
		if !strings.Contains(css, want) {
			t.Errorf("CSS lacks %q:\n%s", want, css)
		}
	}
	for _, bad := range []string{"red", "#12", "#1234567", "#fff;}", "rgb(1,2,3)"} {
		if _, err := New(bad, ""); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
		if _, err := New("", bad); err == nil {
			t.Errorf("New accent %q accepted", bad)
		}
	}
}
