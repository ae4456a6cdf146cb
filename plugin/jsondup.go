package plugin

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// duplicateKey reports whether a JSON text has an object with the same key
// twice, at any depth. Keys are compared case-insensitively, because
// encoding/json matches struct fields that way: {"token":"a","Token":"b"}
// would otherwise be read as "b" by us and perhaps as "a" by a proxy or
// WAF in front. Malformed JSON reports false (the decoder refuses it).
func duplicateKey(body []byte) bool {
	// Every key is followed by a colon: a text with fewer than two colons
	// (a reset request's {"identifier": "..."}) has no key twice, and
	// needs no scan.
	if bytes.Count(body, []byte{':'}) < 2 {
		return false
	}
	if dup, ok := flatDuplicateKey(body); ok {
		return dup
	}
	return scanDuplicateKey(body)
}

// scanDuplicateKey is duplicateKey for any JSON text, token by token.
func scanDuplicateKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dup, _ := scanValue(dec)
	return dup
}

// flatMaxKeys is how many keys flatDuplicateKey compares; an object with
// more goes to the full scan.
const flatMaxKeys = 8

// flatDuplicateKey answers duplicateKey for the bodies the API's forms
// send: one object, at most flatMaxKeys keys of printable ASCII without
// escapes, and values that are strings, numbers, true, false or null. ok
// is false for anything else (a nested object or array, an escaped or
// non-ASCII key, a text it does not follow to its end), which the full
// scan then reads: this path only answers for a text it read whole. It
// allocates nothing (the full scan makes about 30 allocations for a
// complete's body).
func flatDuplicateKey(body []byte) (dup, ok bool) {
	var keys [flatMaxKeys][]byte
	n := 0
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return false, skipSpace(body, i+1) == len(body)
	}
	for {
		// A key: printable ASCII, no backslash.
		if i >= len(body) || body[i] != '"' {
			return false, false
		}
		start := i + 1
		j := start
		for j < len(body) && body[j] != '"' {
			if c := body[j]; c < 0x20 || c > 0x7e || c == '\\' {
				return false, false
			}
			j++
		}
		if j >= len(body) || n == flatMaxKeys {
			return false, false
		}
		key := body[start:j]
		for _, k := range keys[:n] {
			if asciiEqualFold(k, key) {
				dup = true
			}
		}
		keys[n] = key
		n++
		i = skipSpace(body, j+1)
		if i >= len(body) || body[i] != ':' {
			return false, false
		}
		i = skipSpace(body, i+1)
		// A value without structure.
		if i >= len(body) {
			return false, false
		}
		switch c := body[i]; {
		case c == '"':
			if i = skipString(body, i); i < 0 {
				return false, false
			}
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if !bytes.HasPrefix(body[i:], []byte(lit)) {
				return false, false
			}
			i += len(lit)
		case c == '-' || (c >= '0' && c <= '9'):
			if i = skipNumber(body, i); i < 0 {
				return false, false
			}
		default:
			return false, false
		}
		i = skipSpace(body, i)
		if i >= len(body) {
			return false, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return dup, skipSpace(body, i+1) == len(body)
		default:
			return false, false
		}
	}
}

// skipString returns the index after the JSON string that starts at
// b[i] (a quote), or -1 when it is not one: unterminated, a control
// character, or an escape JSON does not have.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// skipNumber returns the index after the JSON number that starts at b[i],
// or -1 when the text there is not one.
func skipNumber(b []byte, i int) int {
	digits := func() bool {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}

// asciiEqualFold compares two ASCII keys as foldKey does: letters without
// case.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// foldKey folds a key the way encoding/json matches field names (the
// long s and the Kelvin sign included).
func foldKey(k string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, k)
}

// scanValue reads one JSON value from dec and reports whether an object in
// it repeats a key.
func scanValue(dec *json.Decoder) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return false, nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return false, err
			}
			k, _ := kt.(string)
			fold := foldKey(k)
			if seen[fold] {
				return true, nil
			}
			seen[fold] = true
			if dup, err := scanValue(dec); dup || err != nil {
				return dup, err
			}
		}
	case '[':
		for dec.More() {
			if dup, err := scanValue(dec); dup || err != nil {
				return dup, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return false, err
}
