package caddymodule_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/internal/testenv"
)

// The theme and template options reach the pages through a real Caddy: a
// template directory adds a language and replaces a page, the colour
// becomes theme.css, and a bad theme stops Caddy from loading with a
// message that names the option.
func TestThemeAndTemplatesThroughCaddy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("locales/nl.json", `{"meta.name": "Nederlands", "forgot.title": "Wachtwoord vergeten?", "forgot.submit": "Stuur instructies"}`)
	write("revoked.html", `<p class="custom-revoked">{{t "revoked.body"}}</p>`)
	env := testenv.New(t, testenv.Options{Block: "\t\ttheme {\n\t\t\tcolor \"#7a1f5c\"\n\t\t\ttemplates " + dir + "\n\t\t}"})

	get := func(path, lang string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/password-reset/", "nl-NL,nl;q=0.9,en;q=0.5")
	if resp.StatusCode != 200 || !strings.Contains(body, `<html lang="nl"`) || !strings.Contains(body, "Wachtwoord vergeten?") || !strings.Contains(body, "Stuur instructies") {
		t.Errorf("added language through Caddy: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "E-mail or user name") {
		t.Error("a message missing from the added language does not fall back to English")
	}
	_, css := get("/password-reset/assets/theme.css", "")
	if !strings.Contains(css, "--brand: #7a1f5c;") {
		t.Errorf("theme.css:\n%s", css)
	}

	for name, block := range map[string]string{
		"theme logo":      "\t\ttheme {\n\t\t\tlogo " + filepath.Join(dir, "missing.png") + "\n\t\t}",
		"page templates":  "\t\ttemplates " + filepath.Join(dir, "missing"),
		"unknown file":    "\t\ttemplates " + dir + "/locales",
		"theme templates": "\t\ttheme {\n\t\t\ttemplates {env.RESETGATE_NO_SUCH_VARIABLE_SET}\n\t\t}",
	} {
		err := env.TryLoad(env.Caddyfile(block))
		switch {
		case err == nil:
			t.Errorf("%s: a bad theme loaded", name)
		case name == "unknown file" && !strings.Contains(err.Error(), "nl.json"):
			t.Errorf("%s: %v", name, err)
		case name != "unknown file" && !strings.Contains(err.Error(), strings.SplitN(name, " ", 2)[0]):
			t.Errorf("%s: error does not name the option: %v", name, err)
		}
	}

	// JSON configs skip the Caddyfile's checks: the colour is checked
	// again at provision time, so nothing reaches the stylesheet.
	cfg, err := testenv.Adapt(env.Caddyfile("\t\ttheme {\n\t\t\tcolor \"#7a1f5c\"\n\t\t}"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(cfg), `"color":"#7a1f5c"`, `"color":"#000; } body { background: url(https://evil.test/x) } :root {"`, 1)
	if bad == string(cfg) {
		t.Fatalf("colour not found in the adapted JSON:\n%s", cfg)
	}
	if err := caddy.Load([]byte(bad), true); err == nil || !strings.Contains(err.Error(), "theme color") {
		t.Errorf("a CSS injection through JSON: %v", err)
	}
}
