// Placeholders in value templates: parsing them, and rendering values into
// strings, JSON fields and nested JSON objects.

package hookreq

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// segment is a literal run or a placeholder name (without Prefix).
type segment struct {
	lit string
	ph  string
}

type parseError struct {
	kind string // "unknown placeholder", "unterminated placeholder"
	name string // the unknown name, when printable
}

func (e *parseError) Error() string {
	if e.name != "" {
		return fmt.Sprintf("%s {%s%s}", e.kind, Prefix, e.name)
	}
	return e.kind
}

// parse splits a value template into literal runs and placeholders. Only
// "{password_reset." opens a placeholder; every other brace is literal.
func parse(s string) ([]segment, error) {
	var segs []segment
	open := "{" + Prefix
	for {
		i := strings.Index(s, open)
		if i < 0 {
			if s != "" {
				segs = append(segs, segment{lit: s})
			}
			return segs, nil
		}
		if i > 0 {
			segs = append(segs, segment{lit: s[:i]})
		}
		rest := s[i+len(open):]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil, &parseError{kind: "unterminated placeholder"}
		}
		name := rest[:j]
		if _, ok := placeholders[name]; !ok {
			pe := &parseError{kind: "unknown placeholder"}
			if printableName(name) {
				pe.name = name
			}
			return nil, pe
		}
		segs = append(segs, segment{ph: name})
		s = rest[j+1:]
	}
}

func printableName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func firstSecret(segs []segment) string {
	for _, s := range segs {
		if s.ph != "" && placeholders[s.ph] {
			return s.ph
		}
	}
	return ""
}

func value(name string, vals Values) (any, error) {
	v, ok := vals[name]
	if !ok {
		return nil, fmt.Errorf("no value for {%s%s}", Prefix, name)
	}
	return v, nil
}

// renderString interpolates a template into a string.
func renderString(tmpl string, vals Values) (string, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return "", err
	}
	if len(segs) == 1 && segs[0].ph == "" {
		return segs[0].lit, nil
	}
	var b strings.Builder
	for _, s := range segs {
		if s.ph == "" {
			b.WriteString(s.lit)
			continue
		}
		v, err := value(s.ph, vals)
		if err != nil {
			return "", err
		}
		str, err := stringify(s.ph, v)
		if err != nil {
			return "", err
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

// renderJSON renders a JSON field: one lone placeholder keeps its type,
// anything else is a string.
func renderJSON(tmpl string, vals Values) (any, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return nil, err
	}
	if len(segs) == 1 && segs[0].ph != "" {
		v, err := value(segs[0].ph, vals)
		if err != nil {
			return nil, err
		}
		return jsonValue(segs[0].ph, v)
	}
	s, err := renderString(tmpl, vals)
	if err != nil {
		return nil, err
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("value is not valid UTF-8 and cannot go into JSON unchanged")
	}
	return s, nil
}

// jsonValue prepares one value for encoding/json, refusing anything that
// JSON would alter (invalid UTF-8 is replaced by U+FFFD).
func jsonValue(name string, v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("value for {%s%s} is not valid UTF-8 and cannot go into JSON unchanged", Prefix, name)
		}
		return x, nil
	case []byte:
		return jsonValue(name, string(x))
	case json.Number:
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	case *time.Time:
		if x == nil {
			return nil, nil
		}
		return x.UTC().Format(time.RFC3339), nil
	case fmt.Stringer:
		if _, isJSON := v.(json.Marshaler); !isJSON {
			return jsonValue(name, x.String())
		}
	}
	return v, nil
}

// stringify renders a scalar value for string interpolation.
func stringify(name string, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339), nil
	case *time.Time:
		if x == nil {
			return "", nil
		}
		return x.UTC().Format(time.RFC3339), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", fmt.Errorf("value for {%s%s} is not a string, number, bool or time", Prefix, name)
}

// checkNesting refuses dotted names that cannot form one JSON object: empty
// segments, or a name that is both a value and an object ("user" and
// "user.id").
func checkNesting(names []string, what string) error {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	for _, name := range names {
		if slices.Contains(strings.Split(name, "."), "") {
			return fmt.Errorf("hookreq: %s %q: empty segment in a dotted name", what, name)
		}
		for i := range len(name) {
			if name[i] == '.' && set[name[:i]] {
				return fmt.Errorf("hookreq: %s %q: is both a value and an object (%q)", what, name[:i], name)
			}
		}
	}
	return nil
}

// setNested stores v under a dotted name; checkNesting has run.
func setNested(doc map[string]any, name string, v any) {
	parts := strings.Split(name, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
