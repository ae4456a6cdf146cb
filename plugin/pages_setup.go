package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/i18n"
	"github.com/resetgate/resetgate/plugin/theme"
)

type asset struct {
	ctype string
	body  []byte
	csp   string
}

// pages serves the hosted HTML pages. It reaches the engine only through
// pageEngine and reads its settings from cfg.
type pages struct {
	e       pageEngine
	cfg     pageConfig
	cat     *i18n.Catalog
	custom  bool                                     // cat holds the operator's translations
	tmpl    map[string]map[string]*template.Template // language → page → template
	assets  map[string]asset
	version string
	logo    string        // the logo's URL on the page, or ""
	palette theme.Palette // the colours of the pages, the favicon and the mails
	csp     string
}

// pageSources are the page templates and stylesheet, built in and replaced
// file by file from the operator's templates directory.
type pageSources struct {
	src        map[string]string // file name → template text
	where      map[string]string // file name → where it came from, for errors
	style      []byte
	localesDir string
}

// newPages builds the pages: sources, languages, theme and assets, then
// the parsed templates.
func newPages(e pageEngine, cfg pageConfig, o PageOptions) (*pages, error) {
	p := &pages{e: e, cfg: cfg, tmpl: map[string]map[string]*template.Template{}, assets: map[string]asset{}}
	srcs, err := readPageSources(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	if err := p.loadLanguages(srcs.localesDir); err != nil {
		return nil, err
	}
	imgSrc, err := p.buildAssets(o, srcs.style)
	if err != nil {
		return nil, err
	}
	p.csp = pageCSP(imgSrc)
	if err := p.parseTemplates(srcs); err != nil {
		return nil, err
	}
	return p, nil
}

// readPageSources reads the built-in templates and stylesheet, and
// replaces them with the files of dir (when not "").
func readPageSources(dir string) (pageSources, error) {
	s := pageSources{src: map[string]string{}, where: map[string]string{}}
	for _, name := range append([]string{"layout"}, pageNames...) {
		b, err := webFS.ReadFile("web/templates/" + name + ".html")
		if err != nil {
			return s, err
		}
		s.src[name+".html"] = string(b)
		s.where[name+".html"] = "built-in " + name + ".html"
	}
	var err error
	if s.style, err = webFS.ReadFile("web/style.css"); err != nil {
		return s, err
	}
	if dir == "" {
		return s, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return s, fmt.Errorf("page templates %q: %w", dir, err)
	}
	for _, en := range entries {
		name := en.Name()
		full := filepath.Join(dir, name)
		switch {
		case en.IsDir() && name == "locales":
			s.localesDir = full
		case en.IsDir() || strings.HasPrefix(name, "."):
		case name == "style.css":
			if s.style, err = os.ReadFile(full); err != nil {
				return s, fmt.Errorf("page templates: %w", err)
			}
		case strings.HasSuffix(name, ".html"):
			if _, ok := s.src[name]; !ok {
				return s, fmt.Errorf("page templates %q: unknown template file %q (known: layout.html, %s.html, style.css, locales/)",
					dir, name, strings.Join(pageNames, ".html, "))
			}
			b, err := os.ReadFile(full)
			if err != nil {
				return s, fmt.Errorf("page templates: %w", err)
			}
			s.src[name] = string(b)
			s.where[name] = full
		case strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".json"):
			return s, fmt.Errorf("page templates %q: unknown file %q (a stylesheet must be style.css, translations go in locales/<tag>.json)", dir, name)
		}
	}
	return s, nil
}

// loadLanguages loads the built-in languages, plus the operator's from
// localesDir (the engine gives the mails the same, see themeMail).
func (p *pages) loadLanguages(localesDir string) error {
	if localesDir == "" {
		p.cat = i18n.Builtin()
		return nil
	}
	cat, err := i18n.Load(localesDir)
	if err != nil {
		return err
	}
	for _, tag := range cat.Tags() {
		if m := cat.Missing(tag); len(m) > 0 {
			p.cfg.log.Warn("translation incomplete; English is used for the missing messages",
				zap.String("language", tag), zap.Int("missing", len(m)), zap.Strings("keys", firstN(m, 10)))
		}
	}
	p.cat, p.custom = cat, true
	return nil
}

// buildAssets makes the stylesheets, scripts, favicon and logo the pages
// link to, and their version; it returns the CSP's img-src.
func (p *pages) buildAssets(o PageOptions, style []byte) (string, error) {
	palette, themeSheet, err := themeCSS(o.Color, o.Accent)
	if err != nil {
		return "", err
	}
	p.palette = palette
	imgSrc := defaultImgSrc
	if o.Logo != "" {
		logoURL, origin, logoAsset, err := loadLogo(o.Logo)
		if err != nil {
			return "", err
		}
		if origin != "" {
			imgSrc += " " + origin
			p.logo = logoURL
		} else {
			p.assets["logo"] = logoAsset
		}
	}
	p.assets["style.css"] = asset{ctype: "text/css; charset=utf-8", body: style}
	p.assets["theme.css"] = asset{ctype: "text/css; charset=utf-8", body: themeSheet}
	p.assets["favicon.svg"] = asset{ctype: "image/svg+xml", body: faviconSVG(palette), csp: svgCSP}
	for _, name := range []string{"app.js", "passkey.js", "pow.js", "pow-worker.js"} {
		body, err := webFS.ReadFile("web/" + name)
		if err != nil {
			return "", err
		}
		p.assets[name] = asset{ctype: "text/javascript; charset=utf-8", body: body}
	}
	h := sha256.New()
	for _, name := range []string{"style.css", "theme.css", "app.js", "passkey.js", "pow.js", "pow-worker.js", "logo", "favicon.svg"} {
		h.Write([]byte(name))
		h.Write(p.assets[name].body)
	}
	p.version = hex.EncodeToString(h.Sum(nil))[:12]
	if _, ok := p.assets["logo"]; ok {
		p.logo = p.cfg.prefix + "/assets/logo?v=" + p.version
	}
	return imgSrc, nil
}

// parseTemplates parses every page once per language, so that {{t}} is
// bound to it.
func (p *pages) parseTemplates(s pageSources) error {
	for _, tag := range p.cat.Tags() {
		l := p.cat.Lang(tag)
		base, err := template.New("layout.html").Funcs(pageFuncs(l)).Parse(s.src["layout.html"])
		if err != nil {
			return fmt.Errorf("page template %s: %w", s.where["layout.html"], err)
		}
		p.tmpl[tag] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := base.Clone()
			if err != nil {
				return err
			}
			if _, err := t.New("content").Parse(s.src[name+".html"]); err != nil {
				return fmt.Errorf("page template %s: %w", s.where[name+".html"], err)
			}
			p.tmpl[tag][name] = t
		}
	}
	return nil
}

// defaultImgSrc is the CSP's img-src without a logo from elsewhere.
const defaultImgSrc = "'self' data:"

// pageCSP is the pages' Content-Security-Policy: our own stylesheets and
// script, images from imgSrc, forms posting back to us, nothing else.
func pageCSP(imgSrc string) string {
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + imgSrc +
		"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// pageFuncs are what page templates may call besides the builtins:
//
//	{{t "key" "name" value ...}}      a message of the page's language
//	{{thtml "key" "name" value ...}}  the same, keeping template.HTML values (links)
func pageFuncs(l *i18n.Lang) template.FuncMap {
	return template.FuncMap{
		"t":     l.T,
		"thtml": l.HTML,
	}
}

const maxLogo = 512 << 10

var hostRE = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$`)

// loadLogo reads the logo option: an http(s) URL gives the URL and its
// origin for the CSP; a file path gives an asset to serve.
func loadLogo(v string) (pageURL, origin string, a asset, err error) {
	if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || u.User != nil || !hostRE.MatchString(u.Host) {
			return "", "", a, fmt.Errorf("theme logo: %q is not a usable http(s) URL", v)
		}
		return u.String(), u.Scheme + "://" + u.Host, a, nil
	}
	if strings.Contains(v, "://") {
		return "", "", a, fmt.Errorf("theme logo: %q: only http:// and https:// URLs or a file path", v)
	}
	fi, err := os.Stat(v)
	if err != nil {
		return "", "", a, fmt.Errorf("theme logo: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxLogo {
		return "", "", a, fmt.Errorf("theme logo: %s must be a file of at most %d KiB", v, maxLogo>>10)
	}
	body, err := os.ReadFile(v)
	if err != nil {
		return "", "", a, fmt.Errorf("theme logo: %w", err)
	}
	ctype := http.DetectContentType(body)
	if strings.EqualFold(path.Ext(v), ".svg") {
		ctype = "image/svg+xml"
	}
	switch strings.SplitN(ctype, ";", 2)[0] {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml":
	default:
		return "", "", a, fmt.Errorf("theme logo: %s is %s, not a PNG, JPEG, GIF, WebP or SVG image", v, ctype)
	}
	// An SVG opened on its own runs no script and loads nothing.
	return "", "", asset{ctype: ctype, body: body, csp: svgCSP}, nil
}
