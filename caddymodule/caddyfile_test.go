package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/resetgate/resetgate/caddymodule"
	"github.com/resetgate/resetgate/plugin"
)

// go test ./caddymodule/ -run Adapt -update rewrites the expected JSON of
// every testdata/adapt fixture from what the adapter produces now. Read the
// diff before committing it.
var update = flag.Bool("update", false, "rewrite the expected JSON of the testdata/adapt fixtures")

// A fixture (caddy-l4 style) is a Caddyfile, a line of dashes, and the
// expected result: indented JSON for testdata/adapt, an error substring for
// testdata/errors.
var fixtureSep = regexp.MustCompile(`(?m)^-{3,}[ \t]*\r?\n?`)

// knownBug marks a fixture that states the wanted behaviour but fails
// because of a bug in caddyfile.go: it is skipped while it fails and turns
// red once the bug is fixed, so that the marker gets removed.
var knownBug = regexp.MustCompile(`(?m)^#\s*known-bug:\s*(.+)$`)

type fixture struct {
	path      string
	caddyfile []byte
	expected  []byte
	knownBug  string
}

func readFixtures(t *testing.T, dir string) []fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/%s", dir)
	}
	var out []fixture
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		loc := fixtureSep.FindIndex(data)
		if loc == nil {
			t.Fatalf("%s: no line of dashes between the Caddyfile and the expected result", p)
		}
		f := fixture{path: p, caddyfile: data[:loc[0]], expected: bytes.TrimSpace(data[loc[1]:])}
		if m := knownBug.FindSubmatch(f.caddyfile); m != nil {
			f.knownBug = string(m[1])
		}
		out = append(out, f)
	}
	return out
}

func fixtureName(p string) string {
	return strings.TrimSuffix(filepath.Base(p), ".caddyfiletest")
}

// adapt runs the Caddyfile adapter as `caddy adapt` does.
func adapt(t *testing.T, filename string, caddyfile []byte) ([]byte, []caddyconfig.Warning, error) {
	t.Helper()
	a := caddyconfig.GetAdapter("caddyfile")
	if a == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	return a.Adapt(caddyfile, map[string]any{"filename": filename})
}

func indentJSON(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "\t"); err != nil {
		t.Fatalf("indent: %v\n%s", err, raw)
	}
	return buf.Bytes()
}

func decodeJSON(t *testing.T, what string, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, raw)
	}
	return v
}

// TestAdaptFixtures adapts every testdata/adapt fixture and compares the
// JSON semantically with the expected JSON. Every option and sub-option of
// the syntax in UnmarshalCaddyfile's godoc has a fixture.
func TestAdaptFixtures(t *testing.T) {
	for _, f := range readFixtures(t, "adapt") {
		t.Run(fixtureName(f.path), func(t *testing.T) {
			got, warnings, err := adapt(t, f.path, f.caddyfile)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("adapt warning: %s", w.String())
			}
			if *update {
				var buf bytes.Buffer
				buf.Write(f.caddyfile)
				buf.WriteString("----------\n")
				buf.Write(indentJSON(t, got))
				buf.WriteString("\n")
				if err := os.WriteFile(f.path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !reflect.DeepEqual(decodeJSON(t, "adapted config", got), decodeJSON(t, "expected JSON", f.expected)) {
				t.Errorf("adapted JSON differs from the fixture (run with -update to rewrite it)\n--- got:\n%s\n--- want:\n%s", indentJSON(t, got), f.expected)
			}
		})
	}
}

// TestErrorFixtures adapts every testdata/errors fixture: each must fail
// with an error that contains the expected substring, which names the
// option at fault.
func TestErrorFixtures(t *testing.T) {
	for _, f := range readFixtures(t, "errors") {
		t.Run(fixtureName(f.path), func(t *testing.T) {
			if len(f.expected) == 0 {
				t.Fatal("fixture has no expected error substring")
			}
			out, _, err := adapt(t, f.path, f.caddyfile)
			var failure string
			switch {
			case err == nil:
				failure = "adapt succeeded, want an error containing " + string(f.expected) + "\n" + string(out)
			case !strings.Contains(err.Error(), string(f.expected)):
				failure = "error " + err.Error() + "\nwant it to contain: " + string(f.expected)
			}
			switch {
			case failure != "" && f.knownBug != "":
				t.Skipf("known bug: %s\n%s", f.knownBug, failure)
			case failure != "":
				t.Error(failure)
			case f.knownBug != "":
				t.Errorf("fixture passes now: remove its 'known-bug:' line (%s)", f.knownBug)
			}
		})
	}
}

// handlerJSON returns the raw JSON of the first password_reset handler in
// an adapted config.
func handlerJSON(t *testing.T, config []byte) json.RawMessage {
	t.Helper()
	var found json.RawMessage
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		if found != nil {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			var name string
			if json.Unmarshal(obj["handler"], &name) == nil && name == "password_reset" {
				found = raw
				return
			}
			for _, v := range obj {
				walk(v)
			}
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) == nil {
			for _, v := range arr {
				walk(v)
			}
		}
	}
	walk(config)
	if found == nil {
		t.Fatalf("no password_reset handler in\n%s", config)
	}
	return found
}

// TestJSONRoundTrip unmarshals the adapted handler of the full example into
// caddymodule.Handler, refusing unknown fields (so every name the Caddyfile
// produces is a JSON tag of Handler), and marshals it back: the JSON must
// be identical.
func TestJSONRoundTrip(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "adapt", "full.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	caddyfile := data[:fixtureSep.FindIndex(data)[0]]
	config, _, err := adapt(t, "full.caddyfiletest", caddyfile)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	raw := handlerJSON(t, config)

	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "handler") // the module name, not a field of Handler
	in, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}

	var h caddymodule.Handler
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("adapted JSON does not fit caddymodule.Handler: %v\n%s", err, in)
	}
	out, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	// Same document, and byte for byte once keys are put in one order.
	if !reflect.DeepEqual(decodeJSON(t, "input", in), decodeJSON(t, "output", out)) {
		t.Fatalf("round trip changed the handler\n--- in:\n%s\n--- out:\n%s", indentJSON(t, in), indentJSON(t, out))
	}
	canon := func(b []byte) []byte {
		c, err := json.Marshal(decodeJSON(t, "json", b))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if !bytes.Equal(canon(in), canon(out)) {
		t.Fatalf("round trip is not byte-identical\n--- in:\n%s\n--- out:\n%s", canon(in), canon(out))
	}
	// And a second trip through the struct changes nothing at all.
	var h2 caddymodule.Handler
	if err := json.Unmarshal(out, &h2); err != nil {
		t.Fatal(err)
	}
	out2, err := json.Marshal(&h2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("second round trip differs\n%s\n%s", out, out2)
	}
	// The full example sets every field: none may be lost on the way.
	for _, key := range []string{"prefix", "base_url", "storage", "key", "site_name", "support", "lookup", "update", "email", "token_ttl", "code_ttl", "revoke_ttl", "methods", "policy", "rate_limit"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("full example does not set %q", key)
		}
	}
}

// TestHandlerJSONIsTheOptions pins that the handler's JSON is the engine's
// options and nothing else: its only exported field is the embedded
// plugin.Options, so a new option is a field there (with its default and
// its Validate), never a second copy here.
func TestHandlerJSONIsTheOptions(t *testing.T) {
	typ := reflect.TypeOf(caddymodule.Handler{})
	var exported []string
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			exported = append(exported, f.Name)
			if !f.Anonymous || f.Type != reflect.TypeOf(plugin.Options{}) {
				t.Errorf("Handler.%s is not the embedded plugin.Options", f.Name)
			}
		}
	}
	if len(exported) != 1 {
		t.Errorf("Handler's exported fields are %v, want only the embedded Options", exported)
	}
}

// TestDirectiveOrder proves that password_reset needs no `order` line and
// is sorted before the directives that would otherwise swallow or guard its
// routes: redir, rewrite, try_files, basic_auth, forward_auth, handle and
// reverse_proxy. It is written last on purpose.
func TestDirectiveOrder(t *testing.T) {
	const caddyfile = `app.example.com {
	reverse_proxy 127.0.0.1:8080
	handle /api/* {
		respond "api"
	}
	try_files {path} /index.html
	rewrite /old /new
	basic_auth /admin/* {
		alice $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	forward_auth /sso/* 127.0.0.1:9091 {
		uri /api/verify
	}
	redir /x /y
	password_reset {
		base_url https://app.example.com
	}
}
`
	config, warnings, err := adapt(t, "Caddyfile", []byte(caddyfile))
	if err != nil {
		t.Fatalf("adapt without an order line: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w.String())
	}

	// apps.http.servers.srv0.routes[0] is the site; its subroute holds one
	// route per directive, in execution order.
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg.Apps.HTTP.Servers["srv0"]
	if !ok || len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 {
		t.Fatalf("unexpected server layout:\n%s", indentJSON(t, config))
	}
	var site struct {
		Handler string            `json:"handler"`
		Routes  []json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal(srv.Routes[0].Handle[0], &site); err != nil || site.Handler != "subroute" {
		t.Fatalf("site is not a subroute:\n%s", indentJSON(t, config))
	}

	// The handler names (at any depth) of each route, in order.
	handlerRE := regexp.MustCompile(`"handler":"([a-z_]+)"`)
	layout := make([][]string, len(site.Routes))
	for i, r := range site.Routes {
		for _, m := range handlerRE.FindAllSubmatch(r, -1) {
			layout[i] = append(layout[i], string(m[1]))
		}
	}
	if len(layout) == 0 || !reflect.DeepEqual(layout[0], []string{"password_reset"}) {
		t.Fatalf("the first route is not password_reset alone; routes: %v", layout)
	}
	const pr = 0
	// What each directive adapts to; each must come after password_reset
	// (and password_reset must not come again).
	for directive, handler := range map[string]string{
		"reverse_proxy":             "reverse_proxy",
		"handle":                    "subroute",
		"rewrite / try_files":       "rewrite",
		"basic_auth / forward_auth": "authentication",
		"redir":                     "static_response",
	} {
		found := false
		for i := pr + 1; i < len(layout); i++ {
			found = found || slices.Contains(layout[i], handler)
			if slices.Contains(layout[i], "password_reset") {
				t.Fatalf("password_reset appears again in route %d: %v", i, layout)
			}
		}
		if !found {
			t.Errorf("%s: no %q handler after password_reset; routes: %v", directive, handler, layout)
		}
	}
	// The password_reset route is unconditional and not terminal, so every
	// request reaches it and whatever it does not handle goes on.
	var first struct {
		Match    json.RawMessage `json:"match"`
		Terminal bool            `json:"terminal"`
		Group    string          `json:"group"`
	}
	if err := json.Unmarshal(site.Routes[pr], &first); err != nil {
		t.Fatal(err)
	}
	if first.Match != nil || first.Terminal || first.Group != "" {
		t.Errorf("password_reset route has match/terminal/group: %s", site.Routes[pr])
	}
}
