package mailer

import (
	htmltemplate "html/template"
	"reflect"
	"regexp"
	"strconv"
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

// fieldMessageRE is {{t "key" "arg" .Field …}} whose every argument is a
// field of the mail's data (not one with trim markers); fieldArgRE picks
// its arguments.
var (
	fieldMessageRE = regexp.MustCompile(`\{\{\s*t\s+"([a-z0-9_.\-]+)"((?:\s+"[a-z_]+"\s+\.[A-Z][A-Za-z]*)+)\s*\}\}`)
	fieldArgRE     = regexp.MustCompile(`"([a-z_]+)"\s+\.([A-Z][A-Za-z]*)`)
)

// stringFields are the fields of ResetData, ChangedData and
// PasskeyAddedData that are strings once prepared (TestStringFields
// checks): a message whose arguments are all among them prints each as
// {{.Field}} would, so inlineFields may write it so.
var stringFields = map[string]bool{
	"SiteName": true, "UserName": true, "SupportContact": true, "RequestIP": true,
	"When": true, "TTL": true, "LinkUntil": true, "CodeTTL": true, "CodeUntil": true,
	"PasskeyName": true,
}

// slot marks where argument i of a message goes while inlineFields
// formats it: two private-use characters around a digit, which neither
// escaping changes nor a catalog's message holds (inlineFields checks).
func slot(i int) string { return "\ue000" + strconv.Itoa(i) + "\ue001" }

// inlineFields writes the messages matched by fieldMessageRE into a
// built-in template's source as their text in language l, each argument
// an action that prints its field: {{t "mail.ip" "ip" .RequestIP}} becomes
// "From {{.RequestIP}}" (the text escaped for HTML when html is set, the
// field escaped by html/template in the same context as the message was).
// The output is unchanged (l.T prints a string argument as it is;
// TestInlineMessagesRenderTheSame compares every template in every
// language, with values that need escaping), but each such message was a
// reflected call with a variadic slice, most of what was left of a
// mail's allocations. A message over a field not in stringFields, or one
// that holds "{{" or a slot's characters, is left as an action.
func inlineFields(src string, l *i18n.Lang, html bool) string {
	return fieldMessageRE.ReplaceAllStringFunc(src, func(action string) string {
		m := fieldMessageRE.FindStringSubmatch(action)
		var (
			args   []any
			fields []string
		)
		for i, a := range fieldArgRE.FindAllStringSubmatch(m[2], -1) {
			if !stringFields[a[2]] {
				return action
			}
			args = append(args, a[1], slot(i))
			fields = append(fields, a[2])
		}
		if strings.ContainsAny(l.T(m[1]), "\ue000\ue001") {
			return action
		}
		v := inlined(action, l.T(m[1], args...), html)
		if v == action {
			return action
		}
		for i, f := range fields {
			v = strings.ReplaceAll(v, slot(i), "{{."+f+"}}")
		}
		return v
	})
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

// inlineSite writes site s's fields into a built-in template's source in
// place of the actions matched by siteFieldRE, escaped for HTML text when
// html is set. Run after inlineFields, it also covers the messages over
// site fields ({{t "mail.reset.intro" "site" .SiteName}}), which
// inlineFields has turned into text around {{.SiteName}}. As with
// inlineMessages the output is unchanged (every such action in the
// built-in templates stands in HTML text or a title;
// TestInlineSiteRendersTheSame compares every template in every language,
// with a name that needs escaping), and a value that holds "{{" is left as
// an action. RenderLocale uses these templates only for data whose site
// fields are s.
func inlineSite(src string, html bool, s Site) string {
	return siteFieldRE.ReplaceAllStringFunc(src, func(action string) string {
		return inlined(action, s.field(siteFieldRE.FindStringSubmatch(action)[1]), html)
	})
}
