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

// The bodies the API's forms send are answered by the flat path, which
// allocates nothing; anything else goes to the full scan.
func TestFlatDuplicateKey(t *testing.T) {
	for body, want := range map[string]bool{
		`{"token":"AbC-_x","password":"quartz \"Lantern\" \u00e9","confirm":"x"}`: false,
		`{"flow_id":"f","code":"1234 5678","Code":"1"}`:                           true,
		` { "a" : -1.5e3 , "b" : true , "c" : null , "d" : false } `:              false,
	} {
		dup, ok := flatDuplicateKey([]byte(body))
		if !ok || dup != want {
			t.Errorf("flatDuplicateKey(%s) = %v, %v; want %v, true", body, dup, ok, want)
		}
		if n := testing.AllocsPerRun(10, func() { flatDuplicateKey([]byte(body)) }); n != 0 {
			t.Errorf("flatDuplicateKey(%s): %v allocations", body, n)
		}
	}
	for _, body := range []string{`{"a":{"b":1}}`, `{"a":[1]}`, `{"\u0061":1}`, `{"é":1}`, `{"a":x}`, `{"a":1}x`, `{"a":01}`, `{"a":"\q"}`, `[1]`} {
		if _, ok := flatDuplicateKey([]byte(body)); ok {
			t.Errorf("flatDuplicateKey(%s) answered; the full scan should", body)
		}
	}
}
