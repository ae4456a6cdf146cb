package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

//go:embed templates/*
var defaultTemplates embed.FS

// templateNames are the mails Render knows. Each has three files:
// NAME.subject.txt and NAME.txt (text/template) and NAME.html
// (html/template).
var templateNames = []string{"reset", "changed"}

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
	// ExpiresAt is when the link and code stop working.
	ExpiresAt time.Time
	// TTL is how long they work, in words ("15 minutes").
	TTL string
	// RequestIP is the address the request came from.
	RequestIP string
	// RequestTime is when the request was made.
	RequestTime time.Time
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
	// RequestIP is the address the change came from.
	RequestIP string
	// ResetLink starts a new reset, for a user who did not make the change.
	ResetLink string
	// SupportContact is where to ask for help (an address or URL); optional.
	SupportContact string
}

// maxNameLen caps names that come from users (a display name chosen at
// sign-up) so that they cannot fill a mail with text of their own.
const maxNameLen = 64

// prepare checks the required fields and flattens free-text fields to one
// short line.
func (d ResetData) prepare() (any, error) {
	if strings.TrimSpace(d.SiteName) == "" {
		return nil, errors.New("mailer: reset mail needs SiteName")
	}
	if d.Link == "" && d.Code == "" {
		return nil, errors.New("mailer: reset mail needs a Link or a Code")
	}
	d.SiteName = shortLine(d.SiteName)
	d.UserName = shortLine(d.UserName)
	return d, nil
}

func (d ChangedData) prepare() (any, error) {
	if strings.TrimSpace(d.SiteName) == "" {
		return nil, errors.New("mailer: changed mail needs SiteName")
	}
	d.SiteName = shortLine(d.SiteName)
	d.UserName = shortLine(d.UserName)
	return d, nil
}

type preparer interface{ prepare() (any, error) }

func shortLine(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > maxNameLen {
		s = string([]rune(s)[:maxNameLen-1]) + "…"
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

// formatTime shows t in UTC; the sender cannot know the reader's time zone.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC")
}

// templateFuncs are available in every template:
//
//	{{code .Code}}          "12345678" → "1234 5678"
//	{{datetime .ExpiresAt}} "Tuesday, 3 March 2026 at 14:05 UTC"
var templateFuncs = map[string]any{
	"code":     FormatCode,
	"datetime": formatTime,
}

// Templates renders resetgate's mails. It is safe for concurrent use.
type Templates struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// LoadTemplates parses the built-in templates, replacing each one for which
// overrideDir (when not "") holds a file of the same name: reset.subject.txt,
// reset.txt, reset.html, changed.subject.txt, changed.txt, changed.html.
// Subjects and .txt files are text/template, .html files html/template (so
// values are escaped); all may call {{code .Code}} and {{datetime .Time}}.
// A .txt or .html file in overrideDir with any other name is an error, so a
// misspelt override does not go unnoticed.
func LoadTemplates(overrideDir string) (*Templates, error) {
	overrides := map[string]bool{}
	if overrideDir != "" {
		entries, err := os.ReadDir(overrideDir)
		if err != nil {
			return nil, fmt.Errorf("mailer: templates %q: %w", overrideDir, err)
		}
		known := knownFiles()
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || (!strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".html")) {
				continue
			}
			if !slices.Contains(known, name) {
				return nil, fmt.Errorf("mailer: templates %q: unknown template file %q (known: %s)",
					overrideDir, name, strings.Join(known, ", "))
			}
			overrides[name] = true
		}
	}
	read := func(file string) (string, error) {
		var b []byte
		var err error
		if overrides[file] {
			b, err = os.ReadFile(filepath.Join(overrideDir, file))
		} else {
			b, err = defaultTemplates.ReadFile("templates/" + file)
		}
		if err != nil {
			return "", fmt.Errorf("mailer: template %s: %w", file, err)
		}
		return string(b), nil
	}
	where := func(file string) string {
		if overrides[file] {
			return filepath.Join(overrideDir, file)
		}
		return "built-in " + file
	}

	t := &Templates{
		subject: map[string]*texttemplate.Template{},
		text:    map[string]*texttemplate.Template{},
		html:    map[string]*htmltemplate.Template{},
	}
	for _, name := range templateNames {
		for _, kind := range []string{".subject.txt", ".txt"} {
			file := name + kind
			src, err := read(file)
			if err != nil {
				return nil, err
			}
			tt, err := texttemplate.New(file).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
			if err != nil {
				return nil, fmt.Errorf("mailer: parse %s: %w", where(file), err)
			}
			if kind == ".txt" {
				t.text[name] = tt
			} else {
				t.subject[name] = tt
			}
		}
		file := name + ".html"
		src, err := read(file)
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New(file).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mailer: parse %s: %w", where(file), err)
		}
		t.html[name] = ht
	}
	return t, nil
}

func knownFiles() []string {
	var files []string
	for _, name := range templateNames {
		files = append(files, name+".subject.txt", name+".txt", name+".html")
	}
	return files
}

// Render fills the mail called name ("reset" with ResetData, "changed" with
// ChangedData) and returns its one-line subject and its text and HTML bodies.
// Required fields are checked, and user-chosen names are cut to one short
// line before they reach a template.
func (t *Templates) Render(name string, data any) (subject, text, html string, err error) {
	st, ok := t.subject[name]
	if !ok {
		return "", "", "", fmt.Errorf("mailer: no template %q (known: %s)", name, strings.Join(templateNames, ", "))
	}
	if p, ok := data.(preparer); ok {
		if data, err = p.prepare(); err != nil {
			return "", "", "", err
		}
	}
	var b bytes.Buffer
	if err := st.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s subject: %w", name, err)
	}
	subject = oneLine(b.String())
	if subject == "" {
		return "", "", "", fmt.Errorf("mailer: template %s.subject.txt renders an empty subject", name)
	}
	b.Reset()
	if err := t.text[name].Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s text: %w", name, err)
	}
	text = b.String()
	b.Reset()
	if err := t.html[name].Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: render %s html: %w", name, err)
	}
	html = b.String()
	return subject, text, html, nil
}
