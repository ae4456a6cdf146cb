package caddymodule

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestHookURLKeepsResetPlaceholdersAndResolvesEnv(t *testing.T) {
	t.Setenv("RG_TEST_GITEA", "127.0.0.1:3000")
	repl := caddy.NewReplacer()
	u, err := hookURL(repl, "update", "http://{env.RG_TEST_GITEA}/api/v1/admin/users/{password_reset.user.id}")
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:3000/api/v1/admin/users/{password_reset.user.id}"; u != want {
		t.Fatalf("hookURL = %q, want %q", u, want)
	}
	for _, bad := range []string{
		"http://{password_reset.user.id}/x",
		"http://127.0.0.1/x?u={password_reset.user.id}",
		"http://127.0.0.1/x/{password_reset.password}",
		"http://127.0.0.1/x/{password_reset.nope}",
	} {
		if _, err := hookURL(repl, "update", bad); err == nil || !strings.HasPrefix(err.Error(), "update: ") {
			t.Errorf("hookURL(%q) = %v, want an error naming the option", bad, err)
		}
	}
}
