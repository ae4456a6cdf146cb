package mailer

import (
	htmltemplate "html/template"
	"reflect"
	"regexp"
	"strings"

	"github.com/resetgate/resetgate/plugin/i18n"
	"github.com/resetgate/resetgate/plugin/theme"
)

// colourActionRE is an action that prints one colour of the palette,
// {{theme.Light.Bg}} or {{ theme.Dark.Fg }} (not one with trim markers).
var colourActionRE = regexp.MustCompile(`\{\{\s*theme\.(Light|Dark)\.([A-Za-z]+)\s*\}\}`)

// inlineColours writes the palette's colours into a built-in HTML
// template's source in place of the actions that print them. The output
// is the same (a "#rrggbb" colour is printed unchanged in every context
// the built-in templates use it in: a CSS value in a style element or a
// style attribute; TestInlineColoursRenderTheSame compares), but each
// such action cost a function call, two reflected field lookups and a CSS
// filter per mail, the largest part of rendering one. Only colours that
// theme.Check accepts are written in; any other action is left alone.
// Operators' overrides are not rewritten: an override may print a colour
// in a context (a script) where the escaped form differs.
func inlineColours(src string, p theme.Palette) string {
	return colourActionRE.ReplaceAllStringFunc(src, func(action string) string {
		m := colourActionRE.FindStringSubmatch(action)
		scheme := reflect.ValueOf(p).FieldByName(m[1])
		f := scheme.FieldByName(m[2])
		if !f.IsValid() || f.Kind() != reflect.String {
			return action
		}
		c := f.String()
		if theme.Check(c) != nil {
			return action
		}
		return c
	})
}

// constActionRE is an action whose output depends only on the language:
// {{t "key"}} without arguments, {{lang}} and {{dir}} (not one with trim
// markers).
var constActionRE = regexp.MustCompile(`\{\{\s*(?:t\s+"([a-z0-9_.\-]+)"|(lang|dir))\s*\}\}`)

// htmlTextEscaper prints a string as html/template prints a value in HTML
// text, so that an inlined message reads byte for byte as the action did.
var htmlTextEscaper = htmltemplate.Must(htmltemplate.New("").Parse("{{.}}"))

// inlineMessages writes what the actions matched by constActionRE print in
// language l into a built-in template's source, escaped for HTML text when
// html is set. Like inlineColours it changes no output (every such action
// in the built-in templates stands in HTML text, a quoted attribute or
// plain text; TestInlineMessagesRenderTheSame compares every template in
// every language), but each action was a reflected function call, and
// about half a mail's actions are of this kind. A message that holds "{{"
// (which catalogs refuse as a bad placeholder) would be left as an
// action; operators' overrides are not rewritten.
func inlineMessages(src string, l *i18n.Lang, html bool) string {
	return constActionRE.ReplaceAllStringFunc(src, func(action string) string {
		m := constActionRE.FindStringSubmatch(action)
		var v string
		switch {
		case m[1] != "":
			v = l.T(m[1])
		case m[2] == "lang":
			v = l.Tag()
		default:
			v = l.Dir()
		}
		return inlined(action, v, html)
	})
}

// inlined is what replaces action, which prints v: v itself, escaped for
// HTML text when html is set, or action again when v holds "{{" (it would
// be read as an action).
func inlined(action, v string, html bool) string {
	if strings.Contains(v, "{{") {
		return action
	}
	if !html {
		return v
	}
	var b strings.Builder
	if err := htmlTextEscaper.Execute(&b, v); err != nil {
		return action
	}
	return b.String()
}

// Site is what every mail says about the service: its name and where to
// ask for help. The engine's are the same in every mail it sends, so
// WithSite writes them into the built-in templates' source.
type Site struct {
	// Name is ResetData.SiteName and the like (and the "site" argument of
	// their messages).
	Name string
	// SupportContact is ResetData.SupportContact and the like.
	SupportContact string
}

func (s Site) field(name string) string {
	if name == "SiteName" {
		return s.Name
	}
	return s.SupportContact
}

// siteFieldRE is an action that prints a site field: {{.SiteName}} or
// {{.SupportContact}} (not one with trim markers).
var siteFieldRE = regexp.MustCompile(`\{\{\s*\.(SiteName|SupportContact)\s*\}\}`)

// siteMessageRE is {{t "key" "arg" .SiteName …}} whose every argument is a
// site field; siteArgRE picks its arguments.
var (
	siteMessageRE = regexp.MustCompile(`\{\{\s*t\s+"([a-z0-9_.\-]+)"((?:\s+"[a-z_]+"\s+\.(?:SiteName|SupportContact))+)\s*\}\}`)
	siteArgRE     = regexp.MustCompile(`"([a-z_]+)"\s+\.(SiteName|SupportContact)`)
)

// inlineSite writes what the actions matched by siteFieldRE and
// siteMessageRE print for site s in language l into a built-in template's
// source, escaped for HTML text when html is set. As with inlineMessages
// the output is unchanged (every such action in the built-in templates
// stands in HTML text or a title; TestInlineSiteRendersTheSame compares
// every template in every language, with a name that needs escaping), and
// a value that holds "{{" is left as an action. RenderLocale uses these
// templates only for data whose site fields are s.
func inlineSite(src string, l *i18n.Lang, html bool, s Site) string {
	src = siteMessageRE.ReplaceAllStringFunc(src, func(action string) string {
		m := siteMessageRE.FindStringSubmatch(action)
		var args []any
		for _, a := range siteArgRE.FindAllStringSubmatch(m[2], -1) {
			args = append(args, a[1], s.field(a[2]))
		}
		return inlined(action, l.T(m[1], args...), html)
	})
	return siteFieldRE.ReplaceAllStringFunc(src, func(action string) string {
		return inlined(action, s.field(siteFieldRE.FindStringSubmatch(action)[1]), html)
	})
}
