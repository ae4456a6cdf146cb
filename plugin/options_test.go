package plugin

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/plugin/duration"
)

// fill sets every exported, JSON-visible field of v to a non-zero value.
func fill(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			fill(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), path+"[0]")
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, path+".key")
		fill(t, e, path+".value")
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x" + path)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	default:
		t.Fatalf("%s: cannot fill a %s", path, v.Kind())
	}
}

// TestOptionsJSONRoundTrip pins that the options are one JSON document:
// every field of Options and its parts, set, survives a trip through JSON
// (so each has a tag and a type JSON can carry), and a strict decoder
// accepts what Marshal wrote.
func TestOptionsJSONRoundTrip(t *testing.T) {
	var in Options
	fill(t, reflect.ValueOf(&in).Elem(), "Options")
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Options
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the options\nin:  %+v\nout: %+v", in, out)
	}
}

// TestOptionsDocumented pins that each option of Options and its parts has
// a JSON name and a doc comment saying its default (or that it is
// required): the user docs live on the fields, once.
func TestOptionsDocumented(t *testing.T) {
	files := map[string][]string{
		"options.go":          {"Options", "HookOptions", "SessionHookOptions", "UpdateHookOptions", "AdminTokenOptions", "PasskeyOptions", "LimitOptions", "RateLimitOptions"},
		"pages.go":            {"PageOptions"},
		"mailer/options.go":   {"Options"},
		"policy/policy.go":    {"Policy"},
		"policy/breached.go":  {"BreachedCheck"},
		"../store/options.go": {"Options", "SentinelOptions"},
	}
	for file, types := range files {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.FromSlash(file), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !slices.Contains(types, ts.Name.Name) {
				return true
			}
			found++
			for _, fld := range ts.Type.(*ast.StructType).Fields.List {
				if len(fld.Names) == 0 {
					continue // embedded: its own fields are checked
				}
				name := file + " " + ts.Name.Name + "." + fld.Names[0].Name
				if fld.Tag == nil || !strings.Contains(fld.Tag.Value, `json:"`) {
					t.Errorf("%s has no json tag", name)
					continue
				}
				if strings.Contains(fld.Tag.Value, `json:"-"`) {
					continue // not an option
				}
				doc := fld.Doc.Text()
				if !strings.Contains(doc, "Default") && !strings.Contains(doc, "Required") {
					t.Errorf("%s: its doc comment says neither its default nor that it is required:\n%s", name, doc)
				}
			}
			return true
		})
		if found != len(types) {
			t.Errorf("%s: found %d of the types %v", file, found, types)
		}
	}
}

// goodOptions is a minimal valid config.
func goodOptions(t *testing.T) Options {
	t.Helper()
	var o Options
	if err := json.Unmarshal([]byte(`{
		"base_url": "https://app.example.test",
		"key": "0123456789abcdef0123456789abcdef",
		"lookup": {"url": "http://127.0.0.1:8080/lookup"},
		"update": {"url": "http://127.0.0.1:8080/update", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	}`), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOptionsValidateNamesOption: each rule's error names the option, as
// written in the JSON config.
func TestOptionsValidateNamesOption(t *testing.T) {
	if o := goodOptions(t); o.Validate() != nil {
		t.Fatalf("good options refused: %v", o.Validate())
	}
	cases := []struct{ set, want string }{
		{`{"base_url": ""}`, "base_url is required"},
		{`{"prefix": "reset"}`, "prefix must start with /"},
		{`{"key": "short"}`, "key must be at least 32 characters"},
		{`{"storage": {"backend": "memcached"}}`, "storage: unknown backend"},
		{`{"storage": {"backend": "redis"}}`, "storage redis: a URL is required"},
		{`{"key": "", "storage": {"backend": "redis", "url": "redis://127.0.0.1:6379/0"}}`, "storage redis needs an explicit key"},
		{`{"storage": {"backend": "redis", "url": "redis://h:1/0", "sentinel": {"master_name": "m"}}}`, "storage redis: sentinel needs master_name and addrs"},
		{`{"theme": {"color": "red"}}`, "theme color:"},
		{`{"theme": {"logo": "javascript://x"}}`, "theme logo:"},
		{`{"lookup": {"url": "127.0.0.1:8080/lookup"}}`, "lookup: URL must start with http:// or https://"},
		{`{"lookup": null}`, "lookup is required"},
		{`{"update": {"url": "http://127.0.0.1/u", "secret": "nope"}}`, "update secret: webhook secret must start with whsec_"},
		{`{"update": {"url": "http://127.0.0.1/u", "hash": "md5"}}`, "update hash: unknown hash format"},
		{`{"update": {"url": "http://127.0.0.1/u", "hash": "gitea"}}`, "update hash: format gitea stores"},
		{`{"lookup": {"url": "http://127.0.0.1/l", "timeout": "-1s"}}`, "lookup timeout must be positive"},
		{`{"deliver": {"url": "http://127.0.0.1/d", "mismatch_status": [401]}}`, "deliver: mismatch_status is for the verify hook only"},
		{`{"verify": {"url": "http://127.0.0.1/v", "template": {"encoding": "xml"}}}`, "verify template:"},
		{`{"session": {"url": "http://127.0.0.1/{password_reset.password}"}}`, "session:"},
		{`{"users": {"sql": {"driver": "sqlite", "dsn": "x"}}}`, "users replaces lookup, update and verify: remove lookup, update"},
		{`{"admin_tokens": [{"hash": "sha256:00", "scopes": ["tokens:issue"]}]}`, "admin_token #1: admin_token hash must be 64 hex characters"},
		{`{"admin_tokens": [{"hash": "sha256:` + strings.Repeat("0", 64) + `", "scopes": ["tokens:all"]}]}`, "admin_token #1:"},
		{`{"email": {"transport": "sendmail", "address": "127.0.0.1:25", "from": "a@acme.test"}}`, "email: unknown transport"},
		{`{"email": {"address": "127.0.0.1:25"}}`, "email: mailer: from is required"},
		{`{"token_ttl": "-15m"}`, "token_ttl must be positive"},
		{`{"code_ttl": -1}`, "code_ttl must be positive"},
		{`{"methods": ["sms"]}`, "methods: unknown method"},
		{`{"methods": ["passkey"]}`, "methods passkey and require_passkey need a passkey block"},
		{`{"passkey": {"ceremonies_per_ip": {"count": 0, "window": "5m"}}}`, "passkey ceremonies_per_ip needs a count"},
		{`{"passkey": {"max_ceremonies": -1}}`, "passkey: ceremonies_per_flow and max_ceremonies must not be negative"},
		{`{"pow": 3}`, "pow: difficulty must be between"},
		{`{"policy": {"min_length": 6}}`, "policy min_length must be at least 8"},
		{`{"policy": {"breached": {"url": "ftp://x/range/"}}}`, "policy breached: url must be an absolute http(s) URL"},
		{`{"rate_limit": {"per_ip": {"count": 0, "window": 0}}}`, "rate_limit per_ip needs a count ≥ 1 and a positive window"},
		{`{"rate_limit": {"mail_budget": {"count": 5, "window": "-1h"}}}`, "rate_limit mail_budget needs a count"},
		{`{"rate_limit": {"code_attempts": 11}}`, "rate_limit code_attempts must be between 1 and 10"},
		{`{"rate_limit": {"ipv6_prefix": 129}}`, "rate_limit ipv6_prefix must be between 1 and 128"},
		{`{"rate_limit": {"queue_size": -1}}`, "rate_limit queue_size must be between"},
	}
	for _, c := range cases {
		o := goodOptions(t)
		if err := json.Unmarshal([]byte(c.set), &o); err != nil {
			t.Fatalf("%s: %v", c.set, err)
		}
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", c.set, err, c.want)
		}
		if _, cerr := o.Config(); cerr == nil || (err != nil && cerr.Error() != err.Error()) {
			t.Errorf("%s: Config() = %v, want Validate's error", c.set, cerr)
		}
	}
}

// TestOptionsConfig: the engine's Config carries the options, built.
func TestOptionsConfig(t *testing.T) {
	o := goodOptions(t)
	if err := json.Unmarshal([]byte(`{"token_ttl": "1d", "rate_limit": {"per_ip": {"count": 9, "window": "1m"}, "code_attempts": 3},
		"session": {"url": "http://127.0.0.1/s", "id_field": "user.id"}, "policy": {"min_length": 14}}`), &o); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.TokenTTL != 24*time.Hour:
		t.Errorf("TokenTTL = %s", cfg.TokenTTL)
	case cfg.PerIP != (Limit{Count: 9, Window: time.Minute}) || cfg.MaxCodeAttempts != 3:
		t.Errorf("limits = %+v, %d", cfg.PerIP, cfg.MaxCodeAttempts)
	case cfg.Session.URL != "http://127.0.0.1/s" || cfg.SessionIDField != "user.id":
		t.Errorf("session = %+v %q", cfg.Session, cfg.SessionIDField)
	case cfg.Session.Client == nil || cfg.Session.Client.Signer == nil:
		t.Error("the session hook does not sign with the update hook's secret")
	case cfg.Policy.MinLength != 14:
		t.Errorf("policy = %+v", cfg.Policy)
	case !reflect.DeepEqual(cfg.Options, o):
		t.Error("Config does not carry its options")
	}
	if _, err := New(cfg, nil, nil); err == nil || err.Error() != "no store" {
		t.Errorf("New: %v", err)
	}
}

// TestDurationJSON: the JSON duration reads what caddy.Duration reads.
func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"15m"`: 15 * time.Minute, `"7d"`: 7 * 24 * time.Hour, `"1.5h"`: 90 * time.Minute, `1000`: time.Microsecond, `"-1s"`: -time.Second} {
		var d duration.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("%s: %v %v, want %s", in, d.D(), err, want)
		}
	}
	for _, in := range []string{`"15"`, `"soon"`, `true`, `"1x"`} {
		var d duration.Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: accepted as %s", in, d.D())
		}
	}
	if out, _ := json.Marshal(duration.Duration(time.Second)); string(out) != "1000000000" {
		t.Errorf("marshal: %s, want nanoseconds as caddy.Duration writes", out)
	}
}
