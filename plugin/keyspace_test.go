package plugin

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestKeySpaceHasOneOwner keeps the store's layout in two files: every key
// prefix is written in keyspace.go, every record type is declared and
// encoded in records.go (the token, flow and outbox records' compact
// forms in records_token.go, records_flow.go and records_outbox.go). A key built inline elsewhere ("t/" + …) or a
// record type declared beside its flow fails here, so a new key cannot
// collide with an old one unseen and keyspace.go stays the whole map.
func TestKeySpaceHasOneOwner(t *testing.T) {
	prefix := regexp.MustCompile(`"(t|r|f|u|ri|rp|rm|ca|lf|lk|ls|so|pk|ph|pc|ra|pl|pw|mo|rq|l|st)/`)
	recordType := regexp.MustCompile(`^type \w+(Record|Entry|Account|Grant)\b|^type queuedRequest\b`)
	encoding := regexp.MustCompile(`json\.(Marshal|Unmarshal)\(\w*(rec|ent|acct|grant|tr|a)\b`)
	sources := engineSources(t)
	checked := 0
	for _, f := range slices.Sorted(maps.Keys(sources)) {
		if f == "keyspace.go" || f == "records.go" || f == "records_token.go" || f == "records_flow.go" || f == "records_outbox.go" || f == "records_binary.go" {
			continue
		}
		checked++
		for i, line := range strings.Split(sources[f], "\n") {
			code, _, _ := strings.Cut(line, "//")
			switch {
			case prefix.MatchString(code):
				t.Errorf("%s:%d builds a store key outside keyspace.go: %s", f, i+1, strings.TrimSpace(line))
			case recordType.MatchString(code):
				t.Errorf("%s:%d declares a store record outside records.go: %s", f, i+1, strings.TrimSpace(line))
			case encoding.MatchString(code):
				t.Errorf("%s:%d encodes a record outside records.go: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked only %d files; is the test in the engine's directory?", checked)
	}
}

// engineSources returns the text of every non-test Go file of the engine,
// by file name, for the tests that keep a rule over the whole source.
func engineSources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[f] = string(src)
	}
	return sources
}
