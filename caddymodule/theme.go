package caddymodule

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin"
)

// Theme is the look of the hosted pages and of the HTML mails: logo,
// colours (a light and a dark scheme are made from them), and templates.
// The product name and the support contact stay in site_name and support
// (the theme block of the Caddyfile sets them too).
type Theme struct {
	// A logo shown above each page: an http(s) URL, or the path of a PNG,
	// JPEG, GIF, WebP or SVG file (at most 512 KiB) that resetgate serves
	// itself. Default: none (the site name alone).
	Logo string `json:"logo,omitempty"`

	// The main colour (buttons, links), "#rgb" or "#rrggbb"; nothing else
	// is accepted, so nothing can be injected into the stylesheet. Text
	// colours are chosen for contrast. Default: #2456c8.
	Color string `json:"color,omitempty"`

	// The accent colour (the stripe above the card; the focus ring when it
	// contrasts enough with white), "#rgb" or "#rrggbb". Default: color.
	Accent string `json:"accent,omitempty"`

	// A directory whose files override the page templates one by one
	// (layout.html, forgot.html, sent.html, new.html, done.html,
	// revoke.html, revoked.html, error.html), the stylesheet (style.css)
	// and the translations (locales/<tag>.json, pages and mails). See
	// docs/templates.md. Default: none.
	Templates string `json:"templates,omitempty"`
}

// pageOptions resolves placeholders and checks the theme. A nil theme is
// the built-in look.
func (t *Theme) pageOptions(repl *caddy.Replacer) (plugin.PageOptions, error) {
	var o plugin.PageOptions
	if t == nil {
		return o, nil
	}
	var err error
	if o.Logo, err = resolve(repl, "theme logo", t.Logo); err != nil {
		return o, err
	}
	if o.TemplatesDir, err = resolve(repl, "theme templates", t.Templates); err != nil {
		return o, err
	}
	for _, c := range []struct {
		name string
		in   string
		out  *string
	}{{"color", t.Color, &o.Color}, {"accent", t.Accent, &o.Accent}} {
		if c.in == "" {
			continue
		}
		if err := plugin.CheckColor(c.in); err != nil {
			return o, fmt.Errorf("theme %s: %w", c.name, err)
		}
		*c.out = c.in
	}
	return o, nil
}

var bareHexRE = regexp.MustCompile(`^([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// colorArg reads a colour argument. In a Caddyfile "#" starts a comment,
// so "#2456c8" must be quoted; the bare form 2456c8 is accepted too.
func colorArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected a colour such as \"#2456c8\" (quote it: an unquoted # starts a comment)", opt)
	}
	v := d.Val()
	if bareHexRE.MatchString(v) {
		v = "#" + v
	}
	if err := plugin.CheckColor(v); err != nil {
		return d.Errf("%s: %v", opt, err)
	}
	*dst = v
	if d.NextArg() {
		return d.Errf("%s: expected one colour", opt)
	}
	return noBlock(d, opt)
}

// parseTheme reads
//
//	theme {
//		site_name <name>
//		support   <contact>
//		logo      <url or file>
//		color     "#rrggbb"
//		accent    "#rrggbb"
//		templates <dir>
//	}
//
// site_name and support set the handler's options of the same name.
func parseTheme(d *caddyfile.Dispenser, h *Handler) error {
	if err := noArgs(d, "theme"); err != nil {
		return err
	}
	if h.Theme == nil {
		h.Theme = &Theme{}
	}
	t := h.Theme
	seen := seenOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		sub := d.Val()
		if err := seen.once(d, sub); err != nil {
			return err
		}
		switch sub {
		case "site_name":
			err = oneArg(d, &h.SiteName)
		case "support":
			err = oneArg(d, &h.Support)
		case "logo":
			if err = oneArg(d, &t.Logo); err == nil && strings.Contains(t.Logo, "://") &&
				!strings.HasPrefix(t.Logo, "https://") && !strings.HasPrefix(t.Logo, "http://") {
				return d.Errf("logo: '%s' is neither an http(s) URL nor a file path", t.Logo)
			}
		case "color":
			err = colorArg(d, &t.Color)
		case "accent":
			err = colorArg(d, &t.Accent)
		case "templates":
			err = oneArg(d, &t.Templates)
		default:
			return d.Errf("unrecognized theme option %s", shown(sub))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseTemplates reads the top-level "templates <dir>", the same as
// theme { templates <dir> }.
func parseTemplates(d *caddyfile.Dispenser, h *Handler) error {
	if h.Theme == nil {
		h.Theme = &Theme{}
	}
	return oneArg(d, &h.Theme.Templates)
}
