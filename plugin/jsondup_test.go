package plugin

import "testing"

// A repeated key anywhere in the body is found, compared as encoding/json
// matches field names; distinct keys and malformed JSON are not reported.
func TestDuplicateKey(t *testing.T) {
	for body, want := range map[string]bool{
		`{"a":1,"b":2}`:                      false,
		`{"a":1,"a":2}`:                      true,
		`{"token":"x","Token":"y"}`:          true,
		`{"ſ":"x","S":"y"}`:                  true,
		`{"k":"x","K":"y"}`:                  true,
		`{"a":{"b":1,"b":2}}`:                true,
		`{"a":[{"b":1},{"b":2}]}`:            false,
		`{"a":[{"b":1,"b":2}]}`:              true,
		`{"a":{"b":1},"c":{"b":1}}`:          false,
		`{"a":`:                              false,
		`[1,2,{"x":1}]`:                      false,
		`{"credential":{"id":"a","id":"b"}}`: true,
		`{"identifier":"a@b.test"}`:          false, // one colon: not scanned
		`{"a":"x:y","a":1}`:                  true,
		`{"\u0061":1,"a":2}`:                 true,
		`{"a:b":1}`:                          false,
	} {
		if got := duplicateKey([]byte(body)); got != want {
			t.Errorf("duplicateKey(%s) = %v, want %v", body, got, want)
		}
	}
}
