package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/resetgate/resetgate/plugin/i18n"
)

//go:embed templates/*
var defaultTemplates embed.FS

// templateNames are the mails Render knows. Each has three files:
// NAME.subject.txt and NAME.txt (text/template) and NAME.html
// (html/template).
var templateNames = []string{"reset", "changed", "passkey_added"}

// kinds are the three files of a mail, by suffix.
var kinds = []string{".subject.txt", ".txt", ".html"}

// ResetData fills the "reset" mail.
type ResetData struct {
	// SiteName names the service ("Acme"). Required.
	SiteName string
	// UserName is the greeting name; optional.
	UserName string
	// Link opens the set-password page. Link or Code is required.
	Link string
	// Code is the 8-digit code, shown as "1234 5678"; empty for a mail
	// without one.
	Code string
	// ExpiresAt is when the link stops working.
	ExpiresAt time.Time
	// TTL is how long the link works, in words ("15 minutes"). An English
	// "N minutes"/"N hours"/"N days" or a Go duration is said again in the
	// mail's language.
	TTL string
	// CodeExpiresAt is when the code stops working (code_ttl after the
	// request); zero when unknown.
	CodeExpiresAt time.Time
	// CodeTTL is how long the code works, written like TTL; when empty
	// the mail does not say how long.
	CodeTTL string
	// RequestIP is the address the request came from.
	RequestIP string
	// RequestTime is when the request was made.
	RequestTime time.Time
	// When, LinkUntil and CodeUntil are RequestTime, ExpiresAt and
	// CodeExpiresAt as {{datetime}} writes them in the mail's language
	// (empty for a zero time). The mailer writes them; a value given here
	// is replaced. A template tests and prints them without the
	// reflective calls .RequestTime.IsZero and {{datetime}} take.
	When, LinkUntil, CodeUntil string
	// RevokeLink is the "this wasn't me" link that kills the flow.
	RevokeLink string
	// SupportContact is where to ask for help (an address or URL); optional.
	SupportContact string
}

// ChangedData fills the "changed" mail, sent after a password change.
type ChangedData struct {
	// SiteName names the service ("Acme"). Required.
	SiteName string
	// UserName is the greeting name; optional.
	UserName string
	// ChangedAt is when the password was changed.
	ChangedAt time.Time
	// When is ChangedAt as {{datetime}} writes it in the mail's language
	// (empty for a zero time). The mailer writes it; a value given here is
	// replaced.
	When string
	// RequestIP is the address the change came from.
	RequestIP string
	// ResetLink starts a new reset, for a user who did not make the change.
	ResetLink string
	// SupportContact is where to ask for help (an address or URL); optional.
	SupportContact string
}

// PasskeyAddedData fills the "passkey_added" mail, sent when a passkey is
// added to an account.
type PasskeyAddedData struct {
	// SiteName names the service ("Acme"). Required.
	SiteName string
	// UserName is the greeting name; optional.
	UserName string
	// PasskeyName is the name the user gave the passkey.
	PasskeyName string
	// AddedAt is when the passkey was added.
	AddedAt time.Time
	// When is AddedAt as {{datetime}} writes it in the mail's language
	// (empty for a zero time). The mailer writes it; a value given here is
	// replaced.
	When string
	// RequestIP is the address it was added from.
	RequestIP string
	// RemoveLink removes the passkey ("this wasn't me"). Required.
	RemoveLink string
	// SupportContact is where to ask for help (an address or URL); optional.
	SupportContact string
}

func (d PasskeyAddedData) prepare(l *i18n.Lang) (any, error) {
	if strings.TrimSpace(d.SiteName) == "" {
		return nil, errors.New("mailer: passkey_added mail needs SiteName")
	}
	if d.RemoveLink == "" {
		return nil, errors.New("mailer: passkey_added mail needs RemoveLink")
	}
	d.SiteName = shortLine(d.SiteName)
	d.UserName = shortLine(d.UserName)
	d.PasskeyName = shortLine(d.PasskeyName)
	d.When = l.DateTime(d.AddedAt)
	return d, nil
}

// maxNameLen caps names that come from users (a display name chosen at
// sign-up) so that they cannot fill a mail with text of their own.
const maxNameLen = 64

// prepare checks the required fields and flattens free-text fields to one
// short line.
func (d ResetData) prepare(l *i18n.Lang) (any, error) {
	if strings.TrimSpace(d.SiteName) == "" {
		return nil, errors.New("mailer: reset mail needs SiteName")
	}
	if d.Link == "" && d.Code == "" {
		return nil, errors.New("mailer: reset mail needs a Link or a Code")
	}
	d.SiteName = shortLine(d.SiteName)
	d.UserName = shortLine(d.UserName)
	d.TTL = localDuration(l, d.TTL)
	d.CodeTTL = localDuration(l, d.CodeTTL)
	d.When, d.LinkUntil, d.CodeUntil = l.DateTime(d.RequestTime), l.DateTime(d.ExpiresAt), l.DateTime(d.CodeExpiresAt)
	return d, nil
}

func (d ChangedData) prepare(l *i18n.Lang) (any, error) {
	if strings.TrimSpace(d.SiteName) == "" {
		return nil, errors.New("mailer: changed mail needs SiteName")
	}
	d.SiteName = shortLine(d.SiteName)
	d.UserName = shortLine(d.UserName)
	d.When = l.DateTime(d.ChangedAt)
	return d, nil
}

type preparer interface {
	prepare(*i18n.Lang) (any, error)
	// site returns the data's site fields, as prepare leaves them.
	site() Site
}

func (d ResetData) site() Site {
	return Site{Name: shortLine(d.SiteName), SupportContact: d.SupportContact}
}

func (d ChangedData) site() Site {
	return Site{Name: shortLine(d.SiteName), SupportContact: d.SupportContact}
}

func (d PasskeyAddedData) site() Site {
	return Site{Name: shortLine(d.SiteName), SupportContact: d.SupportContact}
}

func shortLine(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > maxNameLen {
		s = string([]rune(s)[:maxNameLen-1]) + "…"
	}
	return s
}

var englishDurationRE = regexp.MustCompile(`^(\d+) (second|minute|hour|day)s?$`)

// localDuration says an English duration ("15 minutes", as the engine
// writes it) or a Go duration ("15m") in the mail's language; anything else
// stays as it is.
func localDuration(l *i18n.Lang, s string) string {
	if s == "" {
		return ""
	}
	if m := englishDurationRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return s
		}
		unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[m[2]]
		return l.Duration(time.Duration(n) * unit)
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return l.Duration(d)
	}
	return s
}

// FormatCode groups an 8-digit code as "1234 5678" so it is easy to read and
// type. Other input is returned unchanged.
func FormatCode(code string) string {
	if len(code) != 8 {
		return code
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return code
		}
	}
	return code[:4] + " " + code[4:]
}

// funcs are the functions every mail template may call, bound to the
// mail's language:
//
//	{{t "mail.reset.intro" "site" .SiteName}}  a message of the language
//	{{code .Code}}          "12345678" → "1234 5678"
//	{{datetime .ExpiresAt}} "Tuesday, 3 March 2026 at 14:05 UTC" (localised)
//	{{lang}}                "de": the language tag, for <html lang>
//	{{dir}}                 "ltr" or "rtl"
//	{{theme.Light.Brand}}   the theme's colours ("#2456c8"); {{theme.Logo}}
func funcs(l *i18n.Lang, look Theme) map[string]any {
	return map[string]any{
		"t":        l.T,
		"code":     FormatCode,
		"datetime": l.DateTime,
		"lang":     l.Tag,
		"dir":      l.Dir,
		"theme":    func() *Theme { return &look }, // a pointer: no copy per call
	}
}

// Templates renders resetgate's mails in the user's language. It is safe
// for concurrent use.
type Templates struct {
	dir     string
	sources map[string]string // file name → source, built-in or override
	where   map[string]string // file name → where it came from, for errors
	cat     *i18n.Catalog
	sets    map[string]*templateSet // language tag → parsed templates
	look    Theme
	// site, when set (WithSite), is written into bound's built-in
	// templates, which render data whose site fields are site.
	site  *Site
	bound map[string]*templateSet // language tag → parsed templates
	// bufs holds RenderLocale's buffers (*bytes.Buffer), shared by the
	// copies With… makes: a mail's HTML is a few KiB, which a fresh
	// buffer reaches in seven allocations and as many copies.
	bufs *sync.Pool
}

func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any { return new(bytes.Buffer) }}
}

type templateSet struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// overrideRE is a valid override file name: NAME[.LANG](.subject.txt|.txt|.html).
var overrideRE = regexp.MustCompile(`^([a-z]+(?:_[a-z]+)*)(\.([a-z]{2,3}(-[a-z0-9]{2,8})*))?(\.subject\.txt|\.txt|\.html)$`)

// LoadTemplates parses the built-in templates, replacing each one for which
// overrideDir (when not "") holds a file of the same name: reset.subject.txt,
// reset.txt, reset.html, changed.subject.txt, changed.txt, changed.html.
// A file with a language tag before the suffix (reset.de.html) replaces the
// template for that language only. Subjects and .txt files are
// text/template, .html files html/template (so values are escaped); all may
// call {{t "key"}}, {{code .Code}}, {{datetime .Time}}, {{lang}}, {{dir}}
// and {{theme}} (the pages' palette and logo, see WithTheme). A .txt or .html file in overrideDir with any other name is an
// error, so a misspelt override does not go unnoticed.
//
// The templates are ready for the built-in languages; WithCatalog makes
// them ready for a catalog with more (or changed) languages.
func LoadTemplates(overrideDir string) (*Templates, error) {
	t := &Templates{dir: overrideDir, sources: map[string]string{}, where: map[string]string{}, look: defaultTheme(), bufs: newBufferPool()}
	for _, name := range templateNames {
		for _, kind := range kinds {
			file := name + kind
			b, err := defaultTemplates.ReadFile("templates/" + file)
			if err != nil {
				return nil, fmt.Errorf("mailer: template %s: %w", file, err)
			}
			t.sources[file] = string(b)
			t.where[file] = "built-in " + file
		}
	}
	if overrideDir != "" {
		entries, err := os.ReadDir(overrideDir)
		if err != nil {
			return nil, fmt.Errorf("mailer: templates %q: %w", overrideDir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || (!strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".html")) {
				continue
			}
			m := overrideRE.FindStringSubmatch(name)
			if m == nil || !slices.Contains(templateNames, m[1]) {
				return nil, fmt.Errorf("mailer: templates %q: unknown template file %q (known: %s, optionally with a language before the suffix, as in reset.de.html)",
					overrideDir, name, strings.Join(knownFiles(), ", "))
			}
			path := filepath.Join(overrideDir, name)
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("mailer: template %s: %w", name, err)
			}
			t.sources[name] = string(b)
			t.where[name] = path
		}
	}
	return t.withCatalog(i18n.Builtin())
}

// WithCatalog returns templates that render in the languages of c (the
// pages' catalog, with the operator's added languages). t is unchanged.
func (t *Templates) WithCatalog(c *i18n.Catalog) (*Templates, error) {
	if c == nil || c == t.cat {
		return t, nil
	}
	return t.withCatalog(c)
}

func (t *Templates) withCatalog(c *i18n.Catalog) (*Templates, error) {
	out := &Templates{dir: t.dir, sources: t.sources, where: t.where, cat: c, sets: map[string]*templateSet{}, look: t.look, site: t.site, bufs: t.bufs}
	if t.site != nil {
		out.bound = map[string]*templateSet{}
	}
	for _, tag := range c.Tags() {
		l := c.Lang(tag)
		set, err := t.parse(l, tag, nil)
		if err != nil {
			return nil, err
		}
		out.sets[tag] = set
		if t.site != nil {
			if out.bound[tag], err = t.parse(l, tag, t.site); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parse parses every template for language l (tag), with the palette,
// the language's constant messages and, when site is set, the site's
// fields written into the built-in ones.
func (t *Templates) parse(l *i18n.Lang, tag string, site *Site) (*templateSet, error) {
	set := &templateSet{
		subject: map[string]*texttemplate.Template{},
		text:    map[string]*texttemplate.Template{},
		html:    map[string]*htmltemplate.Template{},
	}
	for _, name := range templateNames {
		for _, kind := range kinds {
			file := name + "." + tag + kind
			if _, ok := t.sources[file]; !ok {
				file = name + kind
			}
			src := t.sources[file]
			if strings.HasPrefix(t.where[file], "built-in ") {
				if kind == ".html" {
					src = inlineColours(src, t.look.Palette)
				}
				src = inlineMessages(src, l, kind == ".html")
				src = inlineFields(src, l, kind == ".html")
				if site != nil {
					src = inlineSite(src, kind == ".html", *site)
				}
			}
			var err error
			switch kind {
			case ".html":
				set.html[name], err = htmltemplate.New(file).Funcs(funcs(l, t.look)).Option("missingkey=error").Parse(src)
			case ".txt":
				set.text[name], err = texttemplate.New(file).Funcs(funcs(l, t.look)).Option("missingkey=error").Parse(src)
			default:
				set.subject[name], err = texttemplate.New(file).Funcs(funcs(l, t.look)).Option("missingkey=error").Parse(src)
			}
			if err != nil {
				return nil, fmt.Errorf("mailer: parse %s: %w", t.where[file], err)
			}
		}
	}
	return set, nil
}

// WithSite returns templates that render mails for site s faster: its
// name and support contact are written into the built-in templates (see
// inlineSite), which are used for data whose SiteName and SupportContact
// are s's; other data renders as before. t is unchanged.
func (t *Templates) WithSite(s Site) (*Templates, error) {
	s.Name = shortLine(s.Name) // as prepare leaves it
	c := *t
	c.site = &s
	return c.withCatalog(t.cat)
}

func knownFiles() []string {
	var files []string
	for _, name := range templateNames {
		for _, kind := range kinds {
			files = append(files, name+kind)
		}
	}
	return files
}

// Languages lists the tags the templates can render in.
func (t *Templates) Languages() []string { return t.cat.Tags() }

// Render fills the mail called name in English; see RenderLocale.
func (t *Templates) Render(name string, data any) (subject, text, html string, err error) {
	return t.RenderLocale(name, "", data)
}

// maxPooledBuffer is the largest buffer RenderLocale keeps for the next
// mail; an override that renders a larger mail gets a fresh buffer each
// time rather than pinning its size.
const maxPooledBuffer = 64 << 10

// release wipes b and returns it to the pool, unless it grew past
// maxPooledBuffer. A reset mail holds its link and code: a pooled buffer
// keeps no secret until the next mail.
func (t *Templates) release(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	clear(b.Bytes()[:b.Cap()])
	t.bufs.Put(b)
}

// RenderLocale fills the mail called name ("reset" with ResetData,
// "changed" with ChangedData) in the language that best fits locale (the
// user's locale as the app's lookup gives it: "de", "de-CH", "pt_BR";
// English when none fits) and returns its one-line subject and its text
// and HTML bodies. Required fields are checked, and user-chosen names are
// cut to one short line before they reach a template.
func (t *Templates) RenderLocale(name, locale string, data any) (subject, text, html string, err error) {
	l := t.cat.ForLocale(locale)
	set := t.sets[l.ID()]
	if set == nil {
		return "", "", "", fmt.Errorf("mailer: no templates for language %s", l.Tag())
	}
	st, ok := set.subject[name]
	if !ok {
		return "", "", "", fmt.Errorf("mailer: no template %q (known: %s)", name, strings.Join(templateNames, ", "))
	}
	if p, ok := data.(preparer); ok {
		if data, err = p.prepare(l); err != nil {
			return "", "", "", err
		}
		if t.site != nil && p.site() == *t.site {
			set = t.bound[l.ID()]
			st = set.subject[name]
		}
	}
	b := t.bufs.Get().(*bytes.Buffer) // empty: release resets what it pools
	defer t.release(b)
	if err := st.Execute(b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s subject: %w", name, err)
	}
	subject = oneLine(b.String())
	if subject == "" {
		return "", "", "", fmt.Errorf("mailer: template %s.subject.txt renders an empty subject", name)
	}
	b.Reset()
	if err := set.text[name].Execute(b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s text: %w", name, err)
	}
	text = b.String()
	b.Reset()
	if err := set.html[name].Execute(b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s html: %w", name, err)
	}
	html = b.String()
	return subject, text, html, nil
}
