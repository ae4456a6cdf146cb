package plugin

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestErrorCodesMatchREADME keeps the one list of public error codes and
// the README in step: the "Error codes" table holds exactly the codes of
// errorCodes with their statuses, and every "status CODE" written anywhere
// in the README (e.g. "403 OLD_PASSWORD_WRONG") names a listed code with
// its status. A code added in the source and not documented, documented
// and not in the source, or documented with another status fails here.
func TestErrorCodesMatchREADME(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("reading the README: %v", err)
	}
	readme := string(raw)

	section := regexp.MustCompile(`(?s)\n### Error codes\n(.*?)\n#`).FindStringSubmatch(readme)
	if section == nil {
		t.Fatal(`the README has no "### Error codes" section`)
	}
	rows := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (\\d{3}) \\|").FindAllStringSubmatch(section[1], -1)
	table := map[ErrorCode]int{}
	for _, r := range rows {
		st, _ := strconv.Atoi(r[2])
		if _, dup := table[ErrorCode(r[1])]; dup {
			t.Errorf("the README's table lists %s twice", r[1])
		}
		table[ErrorCode(r[1])] = st
	}
	for code, status := range ErrorCodes() {
		got, ok := table[code]
		switch {
		case !ok:
			t.Errorf("%s (%d) is a public code but missing from the README's table", code, status)
		case got != status:
			t.Errorf("the README's table gives %s status %d; the code sends %d", code, got, status)
		}
	}
	for code := range table {
		if _, ok := errorCodes[code]; !ok {
			t.Errorf("the README's table lists %s, which no code path sends", code)
		}
	}

	// "status CODE" anywhere in the prose, also across a line break.
	mentions := regexp.MustCompile(`\b([1-5]\d\d)\s+([A-Z][A-Z_]+[A-Z])\b`).FindAllStringSubmatch(readme, -1)
	if len(mentions) < 20 {
		t.Fatalf("found only %d status-code mentions in the README; the pattern is broken", len(mentions))
	}
	for _, m := range mentions {
		st, _ := strconv.Atoi(m[1])
		want, ok := errorCodes[ErrorCode(m[2])]
		switch {
		case !ok:
			t.Errorf("the README says %q, but %s is not a public error code", m[0], m[2])
		case want != st:
			t.Errorf("the README says %q; %s is sent with %d", m[0], m[2], want)
		}
	}
}

// TestErrorCodesAreConstants refuses a code written as a string literal
// (an untyped constant converts to ErrorCode silently): every error is
// built from one of the declared constants.
func TestErrorCodesAreConstants(t *testing.T) {
	literal := regexp.MustCompile(`newError\([^,]+,\s*"|Code:\s*"[A-Z]|ErrorCode\("`)
	sources := engineSources(t)
	for _, f := range slices.Sorted(maps.Keys(sources)) {
		for i, line := range strings.Split(sources[f], "\n") {
			if literal.MatchString(line) {
				t.Errorf("%s:%d builds an error code from a literal: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
