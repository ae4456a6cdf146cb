package plugin

import (
	"strings"
	"testing"

	"github.com/resetgate/resetgate/plugin/hookreq"
)

func TestHookURLPlaceholdersNeedATemplate(t *testing.T) {
	cfg := Config{
		Lookup: Hook{URL: "http://127.0.0.1:3000/api/v1/users/{password_reset.identifier}", Template: &hookreq.Template{Method: "GET"}},
		Update: Hook{URL: "http://127.0.0.1:3000/api/v1/admin/users/{password_reset.user.id}"},
	}
	if err := checkHookURLs(cfg); err == nil || !strings.Contains(err.Error(), "update") {
		t.Fatalf("an update URL with placeholders and no template: %v", err)
	}
	cfg.Update.Template = &hookreq.Template{Method: "PATCH", Body: map[string]string{"password": "{password_reset.password}"}}
	if err := checkHookURLs(cfg); err != nil {
		t.Fatalf("valid URLs refused: %v", err)
	}
	cfg.Update.URL = "http://127.0.0.1:3000/api/v1/admin/users/{password_reset.password}"
	if err := checkHookURLs(cfg); err == nil {
		t.Fatal("a password in the update URL was accepted")
	}
}
