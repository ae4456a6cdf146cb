package caddymodule_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the real binary, as a user does: `caddy validate`
// provisions the module, so they prove that a bad config is refused before
// Caddy starts, with a message that names the option and carries no
// secret.

// testTmp holds what outlives one test: the caddy binary.
var testTmp string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "resetgate-caddymodule-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testTmp = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	caddyBin  string
	buildErr  error
)

// caddyBinary builds ./xcaddy (Caddy's standard modules plus resetgate, what
// `xcaddy build --with github.com/resetgate/resetgate` makes) once per test
// binary run. The build is lazy, on the first test that needs it, so that
// `go test -run Adapt` does not pay for it.
func caddyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the caddy binary; skipped with -short")
	}
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go tool in PATH: %w", err)
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(testTmp, "caddy")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./xcaddy")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -o %s ./xcaddy: %v\n%s", bin, err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "built ./xcaddy in %s\n", time.Since(start).Round(time.Millisecond))
		caddyBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return caddyBin
}

// runCaddy runs the binary with a clean environment: HOME and the XDG
// directories point into a temporary directory, so nothing touches the
// real home (Caddy's data dir, autosave, certificates), and only the given
// variables are set besides. It returns the combined stdout and stderr.
func runCaddy(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	bin := caddyBinary(t)
	home := t.TempDir()
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = vars
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Recognisable secret values: none may ever show in Caddy's output.
const (
	shortKey      = "SHORTKEY-rg7f3a-not-32-chars" // < 32 characters
	goodKey       = "GOODKEY-rg-0123456789abcdef0123456789abcdef"
	notWhsec      = "NOTWHSEC-rg-d41d8cd98f00b204e9800998ecf8427e"
	badBase64     = "whsec_BADB64-rg-!!!-e3b0c44298fc1c149afbf4c8996fb"
	smtpPassword  = "SMTPPASS-rg-91c2e0b6f7a84d3b"
	smtpUser      = "resetgate-mailer"
	unsetVariable = "RG_TEST_NEVER_SET"
)

var goodSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("GOODSECRET-rg-0123456789abcdef"))

// validateCase is one Caddyfile for `caddy validate`: the good config with
// some options replaced (a value) or removed (""), and extra lines appended.
type validateCase struct {
	name    string
	options map[string]string
	env     map[string]string
	// want: "" for a valid config, else a substring of the error that
	// names the option.
	want string
	// secrets that must not appear in the output.
	secrets []string
	// knownBug: the config is refused, but only after the storage
	// directory was made (see the check at the end of the test).
	knownBug string
}

// goodOptions is a complete, valid password_reset block, by option, in
// order. {{dir}} is replaced with a fresh storage directory.
var goodOptionOrder = []string{"base_url", "storage", "key", "lookup", "update", "email", "policy", "rate_limit"}

func goodOptions() map[string]string {
	return map[string]string{
		"base_url": "base_url https://app.example.com",
		"storage":  "storage badger {{dir}}",
		"key":      "key {env.RG_TEST_KEY}",
		"lookup":   "lookup http://127.0.0.1:8080/internal/users/lookup {\n\ttimeout 3s\n}",
		"update":   "update http://127.0.0.1:8080/internal/users/password {\n\tsecret {env.RG_TEST_SECRET}\n\thash bcrypt 12\n}",
		"email": "email smtp 127.0.0.1:1025 {\n\tfrom \"Acme <no-reply@acme.test>\"\n\ttls none\n" +
			"\tusername {env.RG_TEST_SMTP_USER}\n\tpassword {env.RG_TEST_SMTP_PASSWORD}\n}",
		"policy":     "policy {\n\tmin_length 12\n\tmax_length 128\n}",
		"rate_limit": "rate_limit {\n\tcode_attempts 5\n}",
	}
}

func goodEnv() map[string]string {
	return map[string]string{
		"RG_TEST_KEY":           goodKey,
		"RG_TEST_SECRET":        goodSecret,
		"RG_TEST_SMTP_USER":     smtpUser,
		"RG_TEST_SMTP_PASSWORD": smtpPassword,
	}
}

func (c validateCase) caddyfile(dir string) string {
	opts := goodOptions()
	for k, v := range c.options {
		opts[k] = v
	}
	var b strings.Builder
	b.WriteString("app.example.com {\n\tpassword_reset {\n")
	for _, k := range goodOptionOrder {
		if opts[k] == "" {
			continue
		}
		for _, line := range strings.Split(strings.ReplaceAll(opts[k], "{{dir}}", dir), "\n") {
			b.WriteString("\t\t" + line + "\n")
		}
	}
	b.WriteString("\t}\n\treverse_proxy 127.0.0.1:8080\n}\n")
	return b.String()
}

func TestValidateConfigs(t *testing.T) {
	emailTo := func(addr, extra string) string {
		return "email smtp " + addr + " {\n\tfrom no-reply@acme.test\n" + extra + "}"
	}
	cases := []validateCase{
		{name: "good", secrets: []string{goodKey, goodSecret, smtpPassword}},
		{name: "good_literal_secrets", options: map[string]string{
			"key":    "key " + goodKey,
			"update": "update http://127.0.0.1:8080/internal/users/password {\n\tsecret " + goodSecret + "\n}",
			"email":  emailTo("127.0.0.1:1025", "\ttls none\n\tusername "+smtpUser+"\n\tpassword "+smtpPassword+"\n"),
		}, secrets: []string{goodKey, goodSecret, smtpPassword}},
		{name: "good_defaults", options: map[string]string{
			"key": "", "email": "", "policy": "", "rate_limit": "",
			"update": "update http://127.0.0.1:8080/internal/users/password",
		}},

		{name: "base_url_missing", options: map[string]string{"base_url": ""}, want: "base_url is required"},
		{name: "base_url_host_only", options: map[string]string{"base_url": "base_url app.example.com"}, want: "base_url must be an absolute http(s) URL"},
		{name: "base_url_path_only", options: map[string]string{"base_url": "base_url /reset"}, want: "base_url must be an absolute http(s) URL"},
		{name: "base_url_ftp", options: map[string]string{"base_url": "base_url ftp://app.example.com"}, want: "base_url must be an absolute http(s) URL"},
		{name: "prefix_no_slash", options: map[string]string{"base_url": "base_url https://app.example.com\nprefix reset"}, want: "prefix must start with /"},
		{name: "lookup_missing", options: map[string]string{"lookup": ""}, want: "lookup is required"},
		{name: "lookup_not_http", options: map[string]string{"lookup": "lookup 127.0.0.1:8080/lookup"}, want: "lookup: URL must start with http:// or https://"},
		{name: "update_missing", options: map[string]string{"update": ""}, want: "update is required"},
		{name: "update_not_http", options: map[string]string{"update": "update unix:///run/app.sock"}, want: "update: URL must start with http:// or https://"},

		{name: "key_too_short_env", env: map[string]string{"RG_TEST_KEY": shortKey},
			want: "key must be at least 32 characters", secrets: []string{shortKey}},
		{name: "key_too_short_literal", options: map[string]string{"key": "key " + shortKey},
			want: "key must be at least 32 characters", secrets: []string{shortKey}},
		{name: "key_placeholder_unset", options: map[string]string{"key": "key {env." + unsetVariable + "}"},
			want: "key:"},

		{name: "update_secret_not_whsec_env", env: map[string]string{"RG_TEST_SECRET": notWhsec},
			want: "update secret: webhook secret must start with whsec_", secrets: []string{notWhsec}},
		{name: "update_secret_not_whsec_literal", options: map[string]string{
			"update": "update http://127.0.0.1:8080/internal/users/password {\n\tsecret " + notWhsec + "\n}"},
			want: "update secret: webhook secret must start with whsec_", secrets: []string{notWhsec}},
		{name: "update_secret_bad_base64_env", env: map[string]string{"RG_TEST_SECRET": badBase64},
			want: "update secret: webhook secret is not valid base64", secrets: []string{badBase64, strings.TrimPrefix(badBase64, "whsec_")}},
		{name: "update_secret_bad_base64_literal", options: map[string]string{
			"update": "update http://127.0.0.1:8080/internal/users/password {\n\tsecret " + badBase64 + "\n}"},
			want: "update secret: webhook secret is not valid base64", secrets: []string{badBase64, strings.TrimPrefix(badBase64, "whsec_")}},
		{name: "lookup_secret_not_whsec_env", options: map[string]string{
			"lookup": "lookup http://127.0.0.1:8080/internal/users/lookup {\n\tsecret {env.RG_TEST_LOOKUP_SECRET}\n}"},
			env:  map[string]string{"RG_TEST_LOOKUP_SECRET": notWhsec},
			want: "lookup secret: webhook secret must start with whsec_", secrets: []string{notWhsec}},

		{name: "policy_min_length_6", options: map[string]string{"policy": "policy {\n\tmin_length 6\n}"}, want: "policy min_length must be at least 8"},
		{name: "policy_max_length_32", options: map[string]string{"policy": "policy {\n\tmax_length 32\n}"}, want: "policy max_length must be at least 64"},
		{name: "policy_max_below_min", options: map[string]string{"policy": "policy {\n\tmin_length 100\n\tmax_length 80\n}"}, want: "policy max_length must be at least 64 and at least min_length"},

		{name: "email_tls_none_remote_env", options: map[string]string{
			"email": emailTo("smtp.example.com:25", "\ttls none\n\tusername {env.RG_TEST_SMTP_USER}\n\tpassword {env.RG_TEST_SMTP_PASSWORD}\n")},
			want: `email: mailer: tls "none" is allowed only when the smtp addr is a loopback address`, secrets: []string{smtpPassword}},
		{name: "email_tls_none_remote_literal", options: map[string]string{
			"email": emailTo("smtp.example.com:25", "\ttls none\n\tusername "+smtpUser+"\n\tpassword "+smtpPassword+"\n")},
			want: `email: mailer: tls "none" is allowed only when the smtp addr is a loopback address`, secrets: []string{smtpPassword}},
		{name: "email_password_without_username_env", options: map[string]string{
			"email": emailTo("smtp.example.com:587", "\tpassword {env.RG_TEST_SMTP_PASSWORD}\n")},
			want: "email: mailer: password is set but username is empty", secrets: []string{smtpPassword}},
		{name: "email_password_without_username_literal", options: map[string]string{
			"email": emailTo("smtp.example.com:587", "\tpassword "+smtpPassword+"\n")},
			want: "email: mailer: password is set but username is empty", secrets: []string{smtpPassword}},
		{name: "email_from_missing", options: map[string]string{"email": "email smtp smtp.example.com:587"}, want: "email: mailer: from is required"},
		{name: "email_templates_missing_dir", options: map[string]string{
			"email": emailTo("smtp.example.com:587", "\ttemplates /nonexistent/resetgate-mail\n")},
			want: "email templates:"},

		{name: "hash_bcrypt_cost_40", options: map[string]string{
			"update": "update http://127.0.0.1:8080/internal/users/password {\n\tsecret {env.RG_TEST_SECRET}\n\thash bcrypt 40\n}"},
			want: "hash: bcrypt cost must be between 4 and 31", secrets: []string{goodSecret}},
		{name: "hash_argon2id_cost_40", options: map[string]string{
			"update": "update http://127.0.0.1:8080/internal/users/password {\n\thash argon2id 40\n}"},
			want: "hash: argon2id time cost must be between 1 and 20"},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			config := filepath.Join(dir, "Caddyfile")
			storage := filepath.Join(dir, "resetgate")
			if err := os.WriteFile(config, []byte(c.caddyfile(storage)), 0o600); err != nil {
				t.Fatal(err)
			}
			env := goodEnv()
			for k, v := range c.env {
				env[k] = v
			}
			out, err := runCaddy(t, env, "validate", "--config", config, "--adapter", "caddyfile")
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running caddy: %v\n%s", err, out)
			}
			// Caddy logs JSON: match the error with its quotes unescaped.
			out = strings.ReplaceAll(out, `\"`, `"`)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("caddy validate refused a good config: %v\n%s\n%s", err, out, c.caddyfile(dir))
			case c.want == "" && !strings.Contains(out, "Valid configuration"):
				t.Errorf("no 'Valid configuration' in the output:\n%s", out)
			case c.want != "" && err == nil:
				t.Errorf("caddy validate accepted a bad config, want an error containing %q\n%s\n%s", c.want, out, c.caddyfile(dir))
			case c.want != "" && !strings.Contains(out, c.want):
				t.Errorf("caddy validate's error does not contain %q:\n%s", c.want, out)
			case c.want != "" && !strings.Contains(out, "password_reset"):
				t.Errorf("caddy validate's error does not name the module:\n%s", out)
			}
			for _, s := range c.secrets {
				if strings.Contains(out, s) {
					t.Errorf("secret %q appears in caddy validate's output:\n%s", s, out)
				}
			}
			// A refused config must not leave a database (or key file)
			// behind: checks come before the disk is touched.
			if c.want == "" || t.Failed() {
				return
			}
			_, statErr := os.Stat(storage)
			switch made := statErr == nil; {
			case made && c.knownBug != "":
				t.Skipf("known bug: %s", c.knownBug)
			case made:
				t.Errorf("the refused config made the storage directory %s", storage)
			case c.knownBug != "":
				t.Errorf("the storage directory is no longer made: remove the knownBug marker (%s)", c.knownBug)
			}
		})
	}
}

// baseURLLate: handler.go checks only that base_url is set; its form (and
// prefix's) is checked by plugin.New, after openStore has made the Badger
// directory and (without key) the key file.
const baseURLLate = "base_url and prefix are checked after the store is opened"

// TestValidateCaddyfileExample runs what CI runs on the annotated example:
// `caddy adapt --validate`. Its storage directory is moved into a temporary
// directory, so the test writes nothing outside it.
func TestValidateCaddyfileExample(t *testing.T) {
	src := filepath.Join("..", "Caddyfile.example")
	data, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no Caddyfile.example")
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	storageLine := regexp.MustCompile(`(?m)^(\s*storage\s+badger)\s+\S+\s*$`)
	data = storageLine.ReplaceAll(data, []byte("${1} "+filepath.Join(dir, "resetgate")))
	config := filepath.Join(dir, "Caddyfile.example")
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"RESETGATE_KEY":    goodKey,
		"RESETGATE_SECRET": goodSecret,
	}
	out, err := runCaddy(t, env, "adapt", "--validate", "--config", config, "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("caddy adapt --validate %s: %v\n%s", src, err, out)
	}
	if strings.Contains(out, "not formatted") {
		t.Errorf("%s is not formatted as `caddy fmt` wants:\n%s", src, out)
	}
	for _, s := range []string{goodKey, goodSecret} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q appears in caddy adapt's output", s)
		}
	}
}

// TestValidateJSONConfigs covers what a JSON config can say but the
// Caddyfile parser refuses early: Provision must refuse it too, naming the
// option.
func TestValidateJSONConfigs(t *testing.T) {
	cases := []struct {
		name     string
		set      map[string]any
		want     string
		knownBug string
	}{
		{name: "good", set: nil},
		{name: "storage_backend_memcached", set: map[string]any{"storage": map[string]any{"backend": "memcached"}}, want: "storage: unknown backend"},
		{name: "storage_redis_without_key", set: map[string]any{"key": "", "storage": map[string]any{"backend": "redis", "url": "redis://127.0.0.1:1/0"}}, want: "storage redis needs an explicit key"},
		{name: "methods_passkey_without_block", set: map[string]any{"methods": []string{"link", "passkey"}}, want: "methods passkey and require_passkey need a passkey block"},
		{name: "methods_sms", set: map[string]any{"methods": []string{"link", "sms"}}, want: "methods: unknown method"},
		{name: "email_transport_sendmail", set: map[string]any{"email": map[string]any{"transport": "sendmail", "address": "127.0.0.1:25", "from": "a@acme.test"}}, want: "email: unknown transport"},
		{name: "email_tls_ssl", set: map[string]any{"email": map[string]any{"address": "127.0.0.1:25", "from": "a@acme.test", "tls": "ssl"}}, want: "email: mailer: tls"},
		{name: "hash_md5", set: map[string]any{"update": map[string]any{"url": "http://127.0.0.1:8080/u", "hash": "md5"}}, want: "update hash: unknown hash format"},
		{name: "hash_gitea_on_endpoint", set: map[string]any{"update": map[string]any{"url": "http://127.0.0.1:8080/u", "hash": "gitea"}}, want: "update hash: format gitea stores salt and algo in columns of its own"},
		{name: "rate_limit_count_zero", set: map[string]any{"rate_limit": map[string]any{"per_ip": map[string]any{"count": 0, "window": "15m"}}}, want: "rate_limit per_ip needs a count"},
		{name: "rate_limit_window_negative", set: map[string]any{"rate_limit": map[string]any{"mail_budget": map[string]any{"count": 5, "window": "-1h"}}}, want: "rate_limit mail_budget needs a count"},
		{name: "code_attempts_11", set: map[string]any{"rate_limit": map[string]any{"code_attempts": 11}}, want: "rate_limit code_attempts must be between 1 and 10"},
		{name: "token_ttl_negative", set: map[string]any{"token_ttl": "-15m"}, want: "token_ttl"},
		{name: "code_ttl_negative", set: map[string]any{"code_ttl": -1}, want: "code_ttl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			h := map[string]any{
				"handler":  "password_reset",
				"base_url": "https://app.example.com",
				"storage":  map[string]any{"backend": "badger", "dir": filepath.Join(dir, "resetgate")},
				"key":      "{env.RG_TEST_KEY}",
				"lookup":   map[string]any{"url": "http://127.0.0.1:8080/internal/users/lookup"},
				"update":   map[string]any{"url": "http://127.0.0.1:8080/internal/users/password", "secret": "{env.RG_TEST_SECRET}"},
			}
			for k, v := range c.set {
				h[k] = v
			}
			cfg := map[string]any{"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"srv0": map[string]any{
				"listen": []string{":8080"},
				"routes": []any{map[string]any{"handle": []any{h}}},
			}}}}}
			data, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(dir, "caddy.json")
			if err := os.WriteFile(config, data, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runCaddy(t, goodEnv(), "validate", "--config", config)
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running caddy: %v\n%s", err, out)
			}
			out = strings.ReplaceAll(out, `\"`, `"`)
			var failure string
			switch {
			case c.want == "" && err != nil:
				failure = fmt.Sprintf("caddy validate refused a good config: %v\n%s", err, out)
			case c.want != "" && err == nil:
				failure = fmt.Sprintf("caddy validate accepted %s, want an error containing %q", data, c.want)
			case c.want != "" && !strings.Contains(out, c.want):
				failure = fmt.Sprintf("caddy validate's error does not contain %q:\n%s", c.want, out)
			}
			switch {
			case failure != "" && c.knownBug != "":
				t.Skipf("known bug: %s\n%s", c.knownBug, failure)
			case failure != "":
				t.Error(failure)
			case c.knownBug != "":
				t.Errorf("passes now: remove the knownBug marker (%s)", c.knownBug)
			}
			for _, s := range []string{goodKey, goodSecret} {
				if strings.Contains(out, s) {
					t.Errorf("secret %q appears in caddy validate's output", s)
				}
			}
		})
	}
}
