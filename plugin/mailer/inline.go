package mailer

import (
	"reflect"
	"regexp"

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
