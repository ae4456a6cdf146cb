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
	dec := json.NewDecoder(bytes.NewReader(body))
	dup, _ := scanValue(dec)
	return dup
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
