package plugin

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/resetgate/resetgate/plugin/directory"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// historyDirectory is a small directory that keeps passwords in memory and
// refuses one used before, as an LDAP server's ppolicy history does.
type historyDirectory struct {
	mu      sync.Mutex
	history map[string][]string
	changes int
}

func (d *historyDirectory) Find(_ context.Context, identifier string) (User, bool, error) {
	if identifier != "alice@example.test" && identifier != "u1" {
		return User{}, false, nil
	}
	return User{ID: "u1", Email: "alice@example.test", Name: "Alice"}, true, nil
}

func (d *historyDirectory) CheckPassword(_ context.Context, userID, pw string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.history[userID]
	return len(h) > 0 && h[len(h)-1] == pw, nil
}

func (d *historyDirectory) SetPassword(_ context.Context, c directory.Change) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, old := range d.history[c.UserID] {
		if old == c.Password {
			return &directory.PolicyError{Reason: "password in history"}
		}
	}
	d.history[c.UserID] = append(d.history[c.UserID], c.Password)
	d.changes++
	return nil
}

func (d *historyDirectory) Close() error { return nil }

// A directory's own policy refusal (a password from its history) answers
// 422 PASSWORD_POLICY_VIOLATED with detail UPSTREAM_POLICY on the password
// field, and the token stays usable for another password.
func TestDirectoryPolicyRefusalKeepsToken(t *testing.T) {
	dir := &historyDirectory{history: map[string][]string{"u1": {"an older password of hers", oldPassword}}}
	h := newHarness(t, func(c *Config) {
		c.Lookup, c.Update, c.Verify = Hook{}, Hook{}, Hook{}
		c.Users = dir
	})
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "an older password of hers"})
	if got := violations(out); st != 422 || len(got) != 1 || got[0] != "PASSWORD_POLICY_VIOLATED/UPSTREAM_POLICY@/password" {
		t.Fatalf("complete with a password from the history: %d %v", st, got)
	}
	if st, _ := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 200 {
		t.Fatalf("preflight after the refusal: %d", st)
	}
	// SAME_AS_OLD comes from CheckPassword, before the directory is asked.
	st, out = h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": oldPassword})
	if got := violations(out); st != 422 || len(got) != 1 || !strings.HasPrefix(got[0], "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD") {
		t.Fatalf("complete with the current password: %d %v", st, got)
	}
	if st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "a fresh password never used"}); st != 200 {
		t.Fatalf("complete with a fresh password: %d %v", st, out)
	}
	if dir.changes != 1 {
		t.Fatalf("%d changes applied, want 1", dir.changes)
	}
	// The signed-in change reports the refusal on its own field.
	st, out = h.doAs(t, "alice-session", "POST", "/password-reset/change", map[string]string{"old": "a fresh password never used", "new": oldPassword, "confirm": oldPassword})
	if got := violations(out); st != 422 || len(got) != 1 || got[0] != "PASSWORD_POLICY_VIOLATED/UPSTREAM_POLICY@/new" {
		t.Fatalf("change to a password from the history: %d %v", st, got)
	}
}

// users replaces the hooks: an engine configured with both is refused.
func TestUsersBesideHooksRefused(t *testing.T) {
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = New(Config{BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32)),
		Lookup: Hook{URL: "http://127.0.0.1:1/lookup"}, Users: &historyDirectory{}}, st, nil)
	if err == nil || !strings.Contains(err.Error(), "users replaces lookup, update and verify: remove lookup, or remove users") {
		t.Fatalf("New with users beside the lookup hook: %v", err)
	}
}
