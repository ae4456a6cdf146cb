package mailer

import (
	"fmt"
	"net/url"

	"github.com/resetgate/resetgate/plugin/theme"
)

// Theme is the look of the HTML mails, the same as the hosted pages':
// their palette (light, and dark for mail apps that follow the reader's
// colour scheme) and their logo. Templates read it with {{theme}}:
// {{theme.Light.Brand}}, {{theme.Dark.Card}}, {{theme.Logo}}.
type Theme struct {
	theme.Palette
	// Logo is the logo's absolute http(s) address, or "" for none (the
	// site name is always written out beside it).
	Logo string
}

// defaultTheme is the built-in look: the pages' default palette, no logo.
func defaultTheme() Theme { return Theme{Palette: theme.Default()} }

// WithTheme returns templates whose HTML mails wear th. t is unchanged.
func (t *Templates) WithTheme(th Theme) (*Templates, error) {
	if th.Logo != "" {
		u, err := url.Parse(th.Logo)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("mailer: theme logo %q is not an absolute http(s) address", th.Logo)
		}
	}
	if th.Light.Brand == "" {
		th.Palette = theme.Default()
	}
	c := *t
	c.look = th
	return c.withCatalog(t.cat)
}
