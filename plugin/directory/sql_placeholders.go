package directory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// statement is one SQL statement with its named placeholders rewritten to
// the driver's parameter syntax ($1… or ?). args names the value bound to
// each parameter, in order; a name used twice is bound twice.
type statement struct {
	// text is the SQL sent to the server.
	text string
	// args are the placeholder names, one per parameter.
	args []string
}

// placeholderName is what may stand between braces: {identifier},
// {hash.salt}, {now.unix}.
var placeholderName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)

// placeholderInText finds a placeholder-looking word anywhere, used to
// refuse one written inside quotes or a comment.
var placeholderInText = regexp.MustCompile(`\{[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?\}`)

// rewrite turns named placeholders into driver parameters. allowed says
// which names the statement may use. Placeholders inside string literals,
// quoted identifiers or comments are refused (they would be sent as text,
// never bound), as are the driver's own parameter markers (which would
// shift the bound values). Errors quote only the placeholder's name, never
// the SQL.
func rewrite(driver, sql string, allowed func(name string) bool) (statement, error) {
	var out strings.Builder
	var st statement
	mysql := driver == DriverMySQL
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || (c == '`' && mysql):
			end := quotedEnd(sql, i, mysql)
			if end < 0 {
				return st, fmt.Errorf("unterminated quote %c", c)
			}
			if m := placeholderInText.FindString(sql[i:end]); m != "" {
				return st, fmt.Errorf("placeholder %s is inside quotes: write it bare, it is bound as a parameter", m)
			}
			out.WriteString(sql[i:end])
			i = end
		case c == '-' && i+1 < n && sql[i+1] == '-', c == '#' && mysql:
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = n
			} else {
				end += i
			}
			if m := placeholderInText.FindString(sql[i:end]); m != "" {
				return st, fmt.Errorf("placeholder %s is inside a comment", m)
			}
			out.WriteString(sql[i:end])
			i = end
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return st, fmt.Errorf("unterminated comment")
			}
			end += i + 4
			if m := placeholderInText.FindString(sql[i:end]); m != "" {
				return st, fmt.Errorf("placeholder %s is inside a comment", m)
			}
			out.WriteString(sql[i:end])
			i = end
		case c == '$' && driver == DriverPostgres && i+1 < n && sql[i+1] >= '0' && sql[i+1] <= '9':
			return st, fmt.Errorf("write named placeholders such as {user_id}, not $%c", sql[i+1])
		case c == '$' && driver == DriverPostgres && dollarTag(sql[i:]) != "":
			tag := dollarTag(sql[i:])
			end := strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				return st, fmt.Errorf("unterminated dollar quote")
			}
			end += i + 2*len(tag)
			if m := placeholderInText.FindString(sql[i:end]); m != "" {
				return st, fmt.Errorf("placeholder %s is inside quotes: write it bare, it is bound as a parameter", m)
			}
			out.WriteString(sql[i:end])
			i = end
		case c == '?' && driver != DriverPostgres:
			return st, fmt.Errorf("write named placeholders such as {user_id}, not ?")
		case c == '{':
			end := strings.IndexByte(sql[i:], '}')
			if end < 0 {
				return st, fmt.Errorf("unterminated placeholder")
			}
			name := sql[i+1 : i+end]
			if !placeholderName.MatchString(name) {
				if len(name) > 40 || !placeholderName.MatchString(strings.ToLower(name)) {
					return st, fmt.Errorf("a brace that is not a placeholder (write placeholders as {name})")
				}
				return st, fmt.Errorf("unknown placeholder {%s}", name)
			}
			if !allowed(name) {
				return st, fmt.Errorf("placeholder {%s} is not available here", name)
			}
			st.args = append(st.args, name)
			if driver == DriverPostgres {
				out.WriteString("$" + strconv.Itoa(len(st.args)))
			} else {
				out.WriteByte('?')
			}
			i += end + 1
		default:
			out.WriteByte(c)
			i++
		}
	}
	st.text = out.String()
	return st, nil
}

// quotedEnd returns the index just past the quote that closes the one
// at start, or -1. A doubled quote is an escaped one; MySQL also escapes
// with a backslash inside string literals.
func quotedEnd(s string, start int, mysql bool) int {
	q := s[start]
	for i := start + 1; i < len(s); i++ {
		switch {
		case mysql && q != '`' && s[i] == '\\':
			i++
		case s[i] == q:
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return -1
}

// dollarTag returns PostgreSQL's dollar-quote opener at the start of s
// ($$ or $tag$), or "".
func dollarTag(s string) string {
	if len(s) < 2 || s[0] != '$' {
		return ""
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			return s[:i+1]
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 1 && c >= '0' && c <= '9'):
		default:
			return ""
		}
	}
	return ""
}

// uses reports whether the statement binds the named value.
func (s statement) uses(name string) bool {
	for _, a := range s.args {
		if a == name {
			return true
		}
	}
	return false
}

// bind returns the statement's arguments from vals.
func (s statement) bind(vals map[string]any) ([]any, error) {
	out := make([]any, len(s.args))
	for i, a := range s.args {
		v, ok := vals[a]
		if !ok {
			return nil, fmt.Errorf("no value for placeholder {%s}", a)
		}
		out[i] = v
	}
	return out, nil
}
