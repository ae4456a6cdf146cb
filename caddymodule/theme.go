package caddymodule

import (
	"regexp"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/resetgate/resetgate/plugin"
)

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
		h.Theme = &plugin.PageOptions{}
	}
	t := h.Theme
	for sub, err := range blockOptions(d) {
		if err != nil {
			return err
		}
		switch sub {
		case "site_name":
			err = oneArg(d, &h.SiteName)
		case "support":
			err = oneArg(d, &h.Support)
		case "logo":
			if err = oneArg(d, &t.Logo); err == nil {
				if err := plugin.CheckLogo(t.Logo); err != nil {
					return d.Errf("logo: %v", err)
				}
			}
		case "color":
			err = colorArg(d, &t.Color)
		case "accent":
			err = colorArg(d, &t.Accent)
		case "templates":
			err = oneArg(d, &t.TemplatesDir)
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
		h.Theme = &plugin.PageOptions{}
	}
	return oneArg(d, &h.Theme.TemplatesDir)
}
