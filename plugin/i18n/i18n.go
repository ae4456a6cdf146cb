// Package i18n holds resetgate's translations: one flat JSON file per
// language (locales/<tag>.json, embedded), shared by the hosted pages and
// the mails. Adding a language is adding one file; an operator can add or
// override languages from a directory without rebuilding.
//
// A message may name placeholders in braces, "Contact {support}.", filled
// in one pass by T (a value that itself contains "{x}" is never expanded
// again). A message missing from a language falls back to English, then to
// its key, so a partial translation still renders.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed locales/*.json
var builtinFS embed.FS

// Fallback is the language every other one falls back to, and the one used
// when nothing matches.
const Fallback = "en"

// tagRE is what a language file may be called (lowercase BCP 47-ish):
// "de", "pt-br", "zh-hant".
var tagRE = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})*$`)

// Catalog is a set of languages. It is read-only after Load and safe for
// concurrent use.
type Catalog struct {
	langs map[string]*Lang
	tags  []string
}

// Lang is one language of a catalog.
type Lang struct {
	tag      string
	msgs     map[string]string
	fallback *Lang
}

var (
	builtinOnce sync.Once
	builtin     *Catalog
	builtinErr  error
)

// Builtin returns the embedded languages. It panics if an embedded file is
// broken, which the package's tests rule out.
func Builtin() *Catalog {
	builtinOnce.Do(func() { builtin, builtinErr = Load("") })
	if builtinErr != nil {
		panic(builtinErr)
	}
	return builtin
}

// Load returns the embedded languages, with the files of dir (when not "")
// merged over them: dir/<tag>.json adds a language or replaces single
// messages of an existing one, key by key. Any other .json name in dir is
// an error, so a misspelt file does not go unnoticed.
func Load(dir string) (*Catalog, error) {
	c := &Catalog{langs: map[string]*Lang{}}
	entries, err := builtinFS.ReadDir("locales")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := builtinFS.ReadFile("locales/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := c.merge("built-in "+e.Name(), e.Name(), data); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("locales %q: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("locales: %w", err)
			}
			if err := c.merge(path, e.Name(), data); err != nil {
				return nil, err
			}
		}
	}
	en := c.langs[Fallback]
	if en == nil {
		return nil, fmt.Errorf("locales: no %s.json", Fallback)
	}
	for tag, l := range c.langs {
		if tag != Fallback {
			l.fallback = en
		}
		c.tags = append(c.tags, tag)
	}
	sort.Strings(c.tags)
	return c, nil
}

func (c *Catalog) merge(where, file string, data []byte) error {
	tag := strings.TrimSuffix(file, ".json")
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("locales: %s: a language file is named <tag>.json with a lowercase language tag, such as de.json or pt-br.json", where)
	}
	var msgs map[string]string
	if err := json.Unmarshal(data, &msgs); err != nil {
		return fmt.Errorf("locales: %s: want one JSON object of strings: %w", where, err)
	}
	for k, v := range msgs {
		if err := checkMessage(v); err != nil {
			return fmt.Errorf("locales: %s: message %q: %w", where, k, err)
		}
	}
	l := c.langs[tag]
	if l == nil {
		l = &Lang{tag: tag, msgs: map[string]string{}}
		c.langs[tag] = l
	}
	for k, v := range msgs {
		if strings.HasPrefix(k, "_") { // "_comment" and the like
			continue
		}
		l.msgs[k] = v
	}
	return nil
}

// checkMessage refuses unbalanced braces, so that a typo shows at load time
// rather than as a stray "{" on a page.
func checkMessage(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return fmt.Errorf("unclosed {")
			}
			name := s[i+1 : i+j]
			if name == "" || strings.ContainsAny(name, "{ ") {
				return fmt.Errorf("bad placeholder {%s}", name)
			}
			i += j
		case '}':
			return fmt.Errorf("} without {")
		}
	}
	return nil
}

// Tags lists the catalog's languages, sorted ("de", "en", "es", "fr").
func (c *Catalog) Tags() []string { return slices.Clone(c.tags) }

// Lang returns the language with this tag (any case, "_" or "-"), or nil.
func (c *Catalog) Lang(tag string) *Lang {
	return c.langs[strings.ReplaceAll(strings.ToLower(strings.TrimSpace(tag)), "_", "-")]
}

// Default is the fallback language.
func (c *Catalog) Default() *Lang { return c.langs[Fallback] }

// ForLocale picks the language for a user's locale as the app's lookup
// gives it ("de", "de-CH", "de_DE", "pt-BR"): the exact tag, else its
// primary language, else English.
func (c *Catalog) ForLocale(locale string) *Lang {
	if l := c.lookup(locale); l != nil {
		return l
	}
	return c.Default()
}

func (c *Catalog) lookup(tag string) *Lang {
	tag = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(tag)), "_", "-")
	for tag != "" {
		if l := c.langs[tag]; l != nil {
			return l
		}
		i := strings.LastIndexByte(tag, '-')
		if i < 0 {
			break
		}
		tag = tag[:i]
	}
	return nil
}

// Match picks the language for an Accept-Language header: the entries in
// order of their q value (the header's order breaks ties), each by exact
// tag and then by its primary language; English when none matches.
func (c *Catalog) Match(acceptLanguage string) *Lang {
	type pref struct {
		tag string
		q   float64
	}
	var prefs []pref
	for i, part := range strings.Split(acceptLanguage, ",") {
		if i >= 32 { // a header is short; do not let one make us work
			break
		}
		fields := strings.Split(part, ";")
		tag := strings.TrimSpace(fields[0])
		if tag == "" || len(tag) > 35 {
			continue
		}
		q := 1.0
		for _, f := range fields[1:] {
			f = strings.TrimSpace(f)
			if v, ok := strings.CutPrefix(f, "q="); ok {
				if x, err := strconv.ParseFloat(v, 64); err == nil && x >= 0 && x <= 1 {
					q = x
				} else {
					q = 0
				}
			}
		}
		if q > 0 {
			prefs = append(prefs, pref{tag, q})
		}
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	for _, p := range prefs {
		if p.tag == "*" {
			return c.Default()
		}
		if l := c.lookup(p.tag); l != nil {
			return l
		}
	}
	return c.Default()
}

// Missing lists the keys English has and the language lacks (they fall
// back to English).
func (c *Catalog) Missing(tag string) []string {
	l := c.Lang(tag)
	en := c.Default()
	if l == nil || en == nil || l == en {
		return nil
	}
	var out []string
	for k := range en.msgs {
		if _, ok := l.msgs[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Tag is the language's BCP 47 tag as written in a lang attribute: "de",
// "pt-BR".
func (l *Lang) Tag() string {
	parts := strings.Split(l.tag, "-")
	for i := 1; i < len(parts); i++ {
		switch len(parts[i]) {
		case 2:
			parts[i] = strings.ToUpper(parts[i])
		case 4:
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "-")
}

// ID is the tag as the catalog files name it, lowercase: "de", "pt-br".
func (l *Lang) ID() string { return l.tag }

// Dir is the text direction, "ltr" or "rtl" (the message "meta.dir").
func (l *Lang) Dir() string {
	if l.msg("meta.dir") == "rtl" {
		return "rtl"
	}
	return "ltr"
}

// Name is the language's own name ("Deutsch"), the message "meta.name".
func (l *Lang) Name() string { return l.msg("meta.name") }

func (l *Lang) msg(key string) string {
	for x := l; x != nil; x = x.fallback {
		if m, ok := x.msgs[key]; ok {
			return m
		}
	}
	return ""
}

// Has reports whether the language, or its fallback, has the message.
func (l *Lang) Has(key string) bool {
	for x := l; x != nil; x = x.fallback {
		if _, ok := x.msgs[key]; ok {
			return true
		}
	}
	return false
}

// T returns the message key with its placeholders filled from args, given
// as name, value pairs: T("layout.help", "support", "help@acme.test").
// Values are formatted with fmt.Sprint. An unknown key gives the key.
func (l *Lang) T(key string, args ...any) string {
	return l.format(key, func(s string) string { return s }, args)
}

// HTML is T for HTML output: the message text and every value are
// escaped, except values of type template.HTML, which are inserted as they
// are (a link built and escaped by the caller).
func (l *Lang) HTML(key string, args ...any) template.HTML {
	return template.HTML(l.format(key, template.HTMLEscapeString, args))
}

func (l *Lang) format(key string, esc func(string) string, args []any) string {
	m := l.msg(key)
	if m == "" && !l.Has(key) {
		return esc(key)
	}
	if !strings.Contains(m, "{") {
		return esc(m)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(m, '{')
		if i < 0 {
			b.WriteString(esc(m))
			break
		}
		j := strings.IndexByte(m[i:], '}')
		if j < 0 {
			b.WriteString(esc(m))
			break
		}
		b.WriteString(esc(m[:i]))
		name := m[i+1 : i+j]
		val, found := "", false
		for k := 0; k+1 < len(args); k += 2 {
			if n, ok := args[k].(string); ok && n == name {
				switch v := args[k+1].(type) {
				case template.HTML:
					val = string(v)
				case string:
					val = esc(v) // as fmt.Sprint prints it
				default:
					val = esc(fmt.Sprint(v))
				}
				found = true
				break
			}
		}
		if found {
			b.WriteString(val)
		} else {
			b.WriteString(esc(m[i : i+j+1]))
		}
		m = m[i+j+1:]
	}
	return b.String()
}

// Duration says d in words: "15 minutes", "1 Stunde", "7 jours".
func (l *Lang) Duration(d time.Duration) string {
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return l.T(one, "n", n)
		}
		return l.T(many, "n", n)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "duration.day", "duration.days")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "duration.hour", "duration.hours")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "duration.minute", "duration.minutes")
	case d >= time.Second && d%time.Second == 0:
		return unit(int64(d/time.Second), "duration.second", "duration.seconds")
	}
	return d.String()
}

// DateTime shows t in UTC, in the language's words: "Tuesday, 3 March 2026
// at 14:05 UTC". A mail cannot know the reader's time zone. The zero time
// gives "".
func (l *Lang) DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	return l.T("datetime.format",
		"weekday", nth(l.T("datetime.weekdays"), int(t.Weekday())),
		"day", strconv.Itoa(t.Day()),
		"month", nth(l.T("datetime.months"), int(t.Month())-1),
		"year", strconv.Itoa(t.Year()),
		"time", t.Format("15:04"))
}

// nth is the i-th name of a "|"-separated list, trimmed ("" when the list
// is shorter): strings.Split's element without the slice.
func nth(list string, i int) string {
	for ; i > 0; i-- {
		_, rest, ok := strings.Cut(list, "|")
		if !ok {
			return ""
		}
		list = rest
	}
	name, _, _ := strings.Cut(list, "|")
	return strings.TrimSpace(name)
}
