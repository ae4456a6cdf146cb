// Package theme turns the operator's two theme colours into the palettes
// the hosted pages and the mails share: one for a light and one for a dark
// colour scheme, every text colour chosen so that it reaches WCAG 2's
// 4.5:1 contrast on the background it is drawn on.
package theme

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// DefaultColor is the main colour when the theme sets none.
const DefaultColor = "#2456c8"

// colorRE is the only colour syntax accepted: nothing else can reach a
// stylesheet or a mail.
var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Check reports whether c is a colour the theme accepts: "#rgb" or
// "#rrggbb".
func Check(c string) error {
	if !colorRE.MatchString(c) {
		return fmt.Errorf("%q is not a colour of the form #rgb or #rrggbb", c)
	}
	return nil
}

// Scheme is one colour scheme: every value is "#rrggbb".
type Scheme struct {
	// Brand is the background of main buttons; OnBrand their text.
	Brand, OnBrand string
	// Link colours links and the site name on Card.
	Link string
	// Accent is the stripe above the card (decoration only).
	Accent string
	// Focus is the focus ring: at least 3:1 on Card.
	Focus string
	// Bg is the page behind the card, Card the card, Panel a shaded box
	// inside the card (the password rules), Input a text field.
	Bg, Card, Panel, Input string
	// Fg is body text, Muted secondary text; both read on Bg, Card, Panel.
	Fg, Muted string
	// Border outlines fields (3:1 on Card); Line is a hairline rule.
	Border, Line string
	// Err marks errors (borders, the bar beside an error message, danger
	// buttons); OnErr is text on it; ErrText is red text on Card.
	Err, OnErr, ErrText string
	// OkBg and OkFg are the success banner.
	OkBg, OkFg string
	// NoteBg and NoteBorder are a neutral notice; WarnBg, WarnBorder a
	// warning (the mail's "wasn't you?" band). Fg reads on both, and
	// WarnLink is a link on WarnBg.
	NoteBg, NoteBorder, WarnBg, WarnBorder, WarnLink string
}

// Palette is a theme's light and dark schemes.
type Palette struct {
	Light, Dark Scheme
}

// Neutral colours, the same for every theme.
var (
	lightBase = Scheme{
		Bg: "#f4f5f7", Card: "#ffffff", Panel: "#f4f5f7", Input: "#ffffff",
		Fg: "#1d2230", Muted: "#4f5665", Border: "#767d8c", Line: "#dfe2e8",
		Err: "#b3261e", OnErr: "#ffffff", ErrText: "#b3261e",
		OkBg: "#e7f4ea", OkFg: "#14532d",
		NoteBg: "#eef1f6", NoteBorder: "#767d8c", WarnBg: "#fff8e5", WarnBorder: "#e8d49a",
	}
	darkBase = Scheme{
		Bg: "#0f1115", Card: "#1b1e26", Panel: "#242833", Input: "#12151b",
		Fg: "#e8eaf0", Muted: "#b4bac6", Border: "#8a93a6", Line: "#3a404d",
		Err: "#ff8f86", OnErr: "#1b1e26", ErrText: "#ff9d95",
		OkBg: "#173321", OkFg: "#a8e6bb",
		NoteBg: "#242833", NoteBorder: "#8a93a6", WarnBg: "#332b12", WarnBorder: "#6b5a24",
	}
)

// New makes the palette of a theme. color and accent are "#rgb" or
// "#rrggbb", or "" for the default (color: DefaultColor; accent: color).
func New(color, accent string) (Palette, error) {
	if color == "" {
		color = DefaultColor
	}
	if err := Check(color); err != nil {
		return Palette{}, fmt.Errorf("theme color: %w", err)
	}
	if accent == "" {
		accent = color
	}
	if err := Check(accent); err != nil {
		return Palette{}, fmt.Errorf("theme accent: %w", err)
	}
	c, a := Expand(color), Expand(accent)
	return Palette{Light: light(c, a), Dark: dark(c, a)}, nil
}

// Default is the palette of the built-in look.
func Default() Palette {
	p, _ := New("", "")
	return p
}

func light(c, a string) Scheme {
	s := lightBase
	s.Brand, s.OnBrand = buttonColors(c)
	// Links keep the main colour when it reads on white, else take the
	// text colour (they stay underlined).
	s.Link = c
	if Contrast(c, s.Card) < 4.5 {
		s.Link = s.Fg
	}
	s.Accent = a
	s.Focus = s.Fg
	if Contrast(c, s.Card) >= 3 {
		s.Focus = c
	}
	if Contrast(a, s.Card) >= 3 {
		s.Focus = a
	}
	s.WarnLink = readable(s.Link, s.WarnBg, s.Fg)
	return s
}

func dark(c, a string) Scheme {
	s := darkBase
	// On a dark card the main colour is lightened until it reads; buttons
	// use it with dark text, the usual dark-mode look.
	s.Link = lighten(c, s.Card, 5)
	// Text on the button must read on the lightened colour, and the
	// lightened colour on the panel and the card.
	s.Brand, s.OnBrand = s.Link, s.Card
	if Contrast(s.Brand, s.OnBrand) < 4.5 {
		s.Brand, s.OnBrand = buttonColors(c)
	}
	s.Accent = a
	s.Focus = s.Link
	if Contrast(a, s.Card) >= 3 {
		s.Focus = a
	}
	s.WarnLink = readable(lighten(c, s.WarnBg, 4.5), s.WarnBg, s.Fg)
	return s
}

// buttonColors is a button's background and text for the main colour c:
// white or dark text, whichever reads better; when neither reaches 4.5:1
// the background is darkened (or lightened) until it does.
func buttonColors(c string) (bg, text string) {
	const white, darkText = "#ffffff", "#1d2230"
	if Contrast(c, white) >= Contrast(c, darkText) {
		return darken(c, white, 4.5), white
	}
	return lighten(c, darkText, 4.5), darkText
}

// readable is c when it has 4.5:1 on bg, else fallback.
func readable(c, bg, fallback string) string {
	if Contrast(c, bg) >= 4.5 {
		return c
	}
	return fallback
}

// lighten mixes c with white until it has min contrast on bg (a dark
// colour).
func lighten(c, bg string, min float64) string { return mixUntil(c, "#ffffff", bg, min) }

// darken mixes c with black until it has min contrast on bg (a light
// colour).
func darken(c, bg string, min float64) string { return mixUntil(c, "#000000", bg, min) }

func mixUntil(c, toward, bg string, min float64) string {
	for i := 0; i <= 50; i++ {
		m := mix(c, toward, float64(i)/50)
		if Contrast(m, bg) >= min {
			return m
		}
	}
	return toward
}

// mix is c moved the fraction t of the way to d.
func mix(c, d string, t float64) string {
	r1, g1, b1 := rgb(c)
	r2, g2, b2 := rgb(d)
	f := func(x, y float64) int { return int(math.Round(x + (y-x)*t)) }
	return fmt.Sprintf("#%02x%02x%02x", f(r1, r2), f(g1, g2), f(b1, b2))
}

func rgb(c string) (r, g, b float64) {
	v := func(i int) float64 {
		n, _ := strconv.ParseUint(c[i:i+2], 16, 8)
		return float64(n)
	}
	return v(1), v(3), v(5)
}

// Expand turns "#abc" into "#aabbcc", lowercase.
func Expand(c string) string {
	c = strings.ToLower(c)
	if len(c) == 4 {
		return "#" + strings.Repeat(c[1:2], 2) + strings.Repeat(c[2:3], 2) + strings.Repeat(c[3:4], 2)
	}
	return c
}

// Contrast is the WCAG 2 contrast ratio of two "#rrggbb" colours.
func Contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(c string) float64 {
	r, g, b := rgb(c)
	ch := func(v float64) float64 {
		x := v / 255
		if x <= 0.03928 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(b)
}

// vars are the CSS custom properties a scheme sets, in order.
func (s Scheme) vars() [][2]string {
	return [][2]string{
		{"brand", s.Brand}, {"on-brand", s.OnBrand}, {"link", s.Link}, {"accent", s.Accent}, {"focus", s.Focus},
		{"bg", s.Bg}, {"card", s.Card}, {"panel", s.Panel}, {"input", s.Input},
		{"fg", s.Fg}, {"muted", s.Muted}, {"border", s.Border}, {"line", s.Line},
		{"err", s.Err}, {"on-err", s.OnErr}, {"err-text", s.ErrText},
		{"ok-bg", s.OkBg}, {"ok-fg", s.OkFg},
		{"note-bg", s.NoteBg}, {"note-border", s.NoteBorder}, {"warn-bg", s.WarnBg}, {"warn-border", s.WarnBorder},
	}
}

// CSS is the palette as CSS custom properties: the light scheme on :root
// and the dark one under prefers-color-scheme: dark.
func (p Palette) CSS() []byte {
	var b bytes.Buffer
	b.WriteString(":root {\n")
	for _, v := range p.Light.vars() {
		fmt.Fprintf(&b, "  --%s: %s;\n", v[0], v[1])
	}
	b.WriteString("}\n@media (prefers-color-scheme: dark) {\n  :root {\n")
	for _, v := range p.Dark.vars() {
		fmt.Fprintf(&b, "    --%s: %s;\n", v[0], v[1])
	}
	b.WriteString("  }\n}\n")
	return b.Bytes()
}
