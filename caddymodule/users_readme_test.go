package caddymodule_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/plugin/directory"
)

// TestREADMEUsersBlocks adapts every ready `users sql` block of the
// README's "Apps without an endpoint" and checks its statements, hash and
// placeholders as Caddy would at start (with a DSN of the right shape), so
// the documented blocks cannot rot.
func TestREADMEUsersBlocks(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "## Apps without an endpoint")
	if start < 0 {
		t.Fatal("README has no section Apps without an endpoint")
	}
	s = s[start:]
	if end := strings.Index(s[3:], "\n## "); end >= 0 {
		s = s[:end+3]
	}
	blocks := regexp.MustCompile("(?s)```caddyfile\n(users sql (?:postgres|mysql|sqlite) .*?)```").FindAllStringSubmatch(s, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d ready users sql blocks, want PostgreSQL, MySQL and SQLite", len(blocks))
	}
	sqliteFile := filepath.Join(t.TempDir(), "app.db")
	if err := os.WriteFile(sqliteFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dsns := map[string]string{
		"postgres": "postgres://resetgate:pw@db:5432/app?sslmode=verify-full",
		"mysql":    "resetgate:pw@tcp(db:3306)/wordpress?tls=true",
		"sqlite":   sqliteFile,
	}
	for _, b := range blocks {
		block := b[1]
		driver := strings.Fields(block)[2]
		t.Run(driver, func(t *testing.T) {
			cf := ":8080 {\n\tpassword_reset {\n\t\t" + strings.ReplaceAll(strings.TrimSpace(block), "\n", "\n\t\t") + "\n\t}\n}\n"
			out, _, err := adapt(t, "README.md", []byte(cf))
			if err != nil {
				t.Fatalf("the README's %s block does not adapt: %v\n%s", driver, err, cf)
			}
			var h struct {
				Users directory.Config `json:"users"`
			}
			if err := json.Unmarshal(handlerJSON(t, out), &h); err != nil || h.Users.SQL == nil {
				t.Fatalf("adapted handler: %v\n%s", err, out)
			}
			h.Users.SQL.DSN = dsns[driver]
			if err := h.Users.Validate(); err != nil {
				t.Fatalf("the README's %s block is refused: %v", driver, err)
			}
			if len(h.Users.SQL.Update) < 2 || !h.Users.SQL.Update[len(h.Users.SQL.Update)-1].Any {
				t.Errorf("the README's %s block does not end sessions with update any", driver)
			}
		})
	}
}
