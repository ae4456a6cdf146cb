package hookreq

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/resetgate/resetgate/plugin/webhook"
)

const hookURL = "https://legacy.test/api/users/password"

func vals() Values {
	return Values{
		"user.id":         "42",
		"user.email":      "ada@example.com",
		"user.name":       "Ada Lovelace",
		"user.role":       "admin",
		"user.locale":     nil,
		"identifier":      "ada@example.com",
		"password":        "correct horse & battery = staple+ü",
		"password_hash":   "$2a$12$abcdefghijklmnopqrstuuQ7y6Ue9k0m1n2o3p4q5r6s7t8u9v0w",
		"hash_format":     "bcrypt",
		"type":            "password.reset",
		"revoke_sessions": true,
		"link":            "https://app.test/reset/t0ken",
		"code":            "123456",
		"expires_at":      time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func mustBuild(t *testing.T, tp *Template, v Values) webhook.Request {
	t.Helper()
	if err := tp.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	req, err := tp.Build(hookURL, v)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return req
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, b)
	}
	return m
}

func TestZeroTemplateDefaultJSON(t *testing.T) {
	var tp Template
	engine := []byte(`{"type":"password.reset","user_id":"42","password":"p<&>w"}`)
	req, err := tp.BuildWith(hookURL, vals(), engine)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL != hookURL || req.ContentType != ContentTypeJSON {
		t.Errorf("got %s %s %s", req.Method, req.URL, req.ContentType)
	}
	if !bytes.Equal(req.Body, engine) {
		t.Errorf("default body changed: %s", req.Body)
	}
	if req.Header != nil {
		t.Errorf("unexpected headers %v", req.Header)
	}

	// Without an engine body, Build sends the values, dotted names nested.
	req = mustBuild(t, &tp, Values{"user.id": "42", "password": "a<b>&c", "revoke_sessions": true})
	want := `{"password":"a<b>&c","revoke_sessions":true,"user":{"id":"42"}}`
	if string(req.Body) != want {
		t.Errorf("body = %s, want %s", req.Body, want)
	}
}

func TestJSONNestedAndTyped(t *testing.T) {
	tp := &Template{Body: map[string]string{
		"user.id":            "{password_reset.user.id}",
		"user.contact.email": "{password_reset.user.email}",
		"credentials.hash":   "{password_reset.password_hash}",
		"credentials.algo":   "{password_reset.hash_format}",
		"logout":             "{password_reset.revoke_sessions}",
		"logout_text":        "revoke={password_reset.revoke_sessions}",
		"locale":             "{password_reset.user.locale}",
		"expires":            "{password_reset.expires_at}",
		"attempts":           "{password_reset.code}",
		"literal":            `{"not": "a placeholder"}`,
		"greeting":           "Hi {password_reset.user.name}, {password_reset.type}",
	}}
	v := vals()
	v["code"] = 7 // an int keeps its type
	req := mustBuild(t, tp, v)
	got := decodeJSON(t, req.Body)
	want := map[string]any{
		"user": map[string]any{
			"id":      "42",
			"contact": map[string]any{"email": "ada@example.com"},
		},
		"credentials": map[string]any{
			"hash": v["password_hash"],
			"algo": "bcrypt",
		},
		"logout":      true,
		"logout_text": "revoke=true",
		"locale":      nil,
		"expires":     "2025-01-02T03:04:05Z",
		"attempts":    float64(7),
		"literal":     `{"not": "a placeholder"}`,
		"greeting":    "Hi Ada Lovelace, password.reset",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body:\n got %#v\nwant %#v", got, want)
	}
}

func TestJSONPasswordExact(t *testing.T) {
	tp := &Template{Body: map[string]string{"pw": "{password_reset.password}", "wrapped": "[{password_reset.password}]"}}
	for _, pw := range []string{" lead and trail ", "<script>&amp;", `quote" back\slash`, "tab\tnew\nline", "ÅngströmÅ", "🙂🙂", "\u2028\u2029"} {
		v := vals()
		v["password"] = pw
		got := decodeJSON(t, mustBuild(t, tp, v).Body)
		if got["pw"] != pw || got["wrapped"] != "["+pw+"]" {
			t.Errorf("password %q came back as %q / %q", pw, got["pw"], got["wrapped"])
		}
	}
	// Invalid UTF-8 would be altered by encoding/json: refused, not mangled.
	v := vals()
	v["password"] = "bad\xff"
	_, err := tp.Build(hookURL, v)
	if err == nil || strings.Contains(err.Error(), "bad") {
		t.Errorf("invalid UTF-8: err = %v", err)
	}
}

func TestFormSpecialCharacters(t *testing.T) {
	tp := &Template{
		Encoding: "form",
		Body: map[string]string{
			"uid":     "{password_reset.user.id}",
			"pw":      "{password_reset.password}",
			"comment": "set by {password_reset.user.name} & co",
			"a=b&c":   "x",
		},
	}
	for _, pw := range []string{
		"a&b=c+d e",
		"  spaces  ",
		"%41%zz%",
		"ünïcødé 🙂 日本語",
		"semi;colon#hash?q",
		"plus+plus++",
		"new\r\nline\x00nul",
		"bad utf8 \xff\xfe",
		"",
	} {
		v := vals()
		v["password"] = pw
		req := mustBuild(t, tp, v)
		if req.ContentType != ContentTypeForm || req.Method != http.MethodPost {
			t.Fatalf("content type %q method %q", req.ContentType, req.Method)
		}
		if req.URL != hookURL {
			t.Errorf("URL changed: %s", req.URL)
		}
		q, err := url.ParseQuery(string(req.Body))
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", req.Body, err)
		}
		if got := q["pw"]; len(got) != 1 || got[0] != pw {
			t.Errorf("password %q came back as %q", pw, got)
		}
		if q.Get("uid") != "42" || q.Get("comment") != "set by Ada Lovelace & co" || q.Get("a=b&c") != "x" || len(q) != 4 {
			t.Errorf("form = %v", q)
		}
	}
}

func TestGETWithQuery(t *testing.T) {
	tp := &Template{
		Method:   "get",
		Encoding: "form",
		Body:     map[string]string{"user": "{password_reset.identifier}"},
		Query:    map[string]string{"api": "v1", "kind": "{password_reset.type}"},
	}
	req := mustBuild(t, tp, vals())
	if req.Method != http.MethodGet || req.Body != nil || req.ContentType != "" {
		t.Errorf("GET request: %s body=%q ct=%q", req.Method, req.Body, req.ContentType)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "legacy.test" || u.Path != "/api/users/password" {
		t.Errorf("URL = %s", req.URL)
	}
	want := url.Values{"user": {"ada@example.com"}, "api": {"v1"}, "kind": {"password.reset"}}
	if !reflect.DeepEqual(u.Query(), want) {
		t.Errorf("query = %v, want %v", u.Query(), want)
	}

	// An existing query in the hook URL is kept as is.
	req, err = tp.Build("http://legacy.test/check?token=a%2Fb&x=1", vals())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.URL, "http://legacy.test/check?token=a%2Fb&x=1&") {
		t.Errorf("URL = %s", req.URL)
	}

	// POST with an extra query parameter.
	tp = &Template{Query: map[string]string{"tenant": "acme corp"}, Body: map[string]string{"id": "{password_reset.user.id}"}}
	req = mustBuild(t, tp, vals())
	if req.URL != hookURL+"?tenant=acme+corp" || string(req.Body) != `{"id":"42"}` {
		t.Errorf("POST with query: %s %s", req.URL, req.Body)
	}

	// GET without a body: a session-style hook.
	tp = &Template{Method: "GET"}
	req = mustBuild(t, tp, vals())
	if req.URL != hookURL || req.Body != nil {
		t.Errorf("plain GET: %s %q", req.URL, req.Body)
	}
}

func TestHeaders(t *testing.T) {
	tp := &Template{
		Headers: map[string]string{
			"X-Api-Key":   "k3y-{not.ours}",
			"x-user":      "{password_reset.user.id}",
			"X-Reset-For": "{password_reset.user.email} ({password_reset.type})",
		},
		Body: map[string]string{"id": "{password_reset.user.id}"},
	}
	req := mustBuild(t, tp, vals())
	want := http.Header{
		"X-Api-Key":   {"k3y-{not.ours}"},
		"X-User":      {"42"},
		"X-Reset-For": {"ada@example.com (password.reset)"},
	}
	if !reflect.DeepEqual(req.Header, want) {
		t.Errorf("headers = %v, want %v", req.Header, want)
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	const secret = "Bearer sup3r-s3cret"
	for name, value := range map[string]string{
		"X-Token": secret + "\r\nX-Evil: 1",
		"X-Nul":   secret + "\x00",
		"X-Lf":    secret + "\n",
	} {
		tp := &Template{Headers: map[string]string{name: value}}
		err := tp.Validate()
		if err == nil {
			t.Errorf("%s: CR/LF in header value accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "sup3r") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q must name the header and not leak its value", name, err)
		}
	}
	for _, name := range []string{"X-Bad\r\nInjected", "X Space", "", "X:Colon"} {
		tp := &Template{Headers: map[string]string{name: "v"}}
		if err := tp.Validate(); err == nil {
			t.Errorf("header name %q accepted", name)
		}
	}
	for _, name := range []string{"Content-Type", "webhook-signature", "Host", "idempotency-key"} {
		tp := &Template{Headers: map[string]string{name: "v"}}
		if err := tp.Validate(); err == nil {
			t.Errorf("reserved header %q accepted", name)
		}
	}
	tp := &Template{Headers: map[string]string{"X-A": "1", "x-a": "2"}}
	if err := tp.Validate(); err == nil {
		t.Error("header given twice accepted")
	}

	// A value that gains CR/LF by substitution is refused at Build.
	tp = &Template{Headers: map[string]string{"X-User": "{password_reset.user.name}"}, Body: map[string]string{}}
	v := vals()
	v["user.name"] = "Ada\r\nSet-Cookie: session=stolen"
	_, err := tp.Build(hookURL, v)
	if err == nil {
		t.Fatal("CR/LF after substitution accepted")
	}
	if strings.Contains(err.Error(), "Ada") || strings.Contains(err.Error(), "stolen") || !strings.Contains(err.Error(), "X-User") {
		t.Errorf("error %q must name the header and not leak the value", err)
	}
	// An unknown placeholder in a header value: the message does not echo the value.
	tp = &Template{Headers: map[string]string{"Authorization": "Bearer s3cret {password_reset.tokn}"}}
	if err := tp.Validate(); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "Authorization") {
		t.Errorf("unknown placeholder in header: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		tp   Template
		want string // part of the message
	}{
		"unknown encoding":        {Template{Encoding: "xml"}, "encoding"},
		"unknown method":          {Template{Method: "TRACE"}, "method"},
		"GET with JSON body":      {Template{Method: "GET", Body: map[string]string{"a": "b"}}, "GET"},
		"form without body":       {Template{Encoding: "form"}, "form"},
		"unknown placeholder":     {Template{Body: map[string]string{"pw": "{password_reset.pasword}"}}, `"pw"`},
		"unknown name echoed":     {Template{Body: map[string]string{"pw": "{password_reset.pasword}"}}, "pasword"},
		"unterminated":            {Template{Body: map[string]string{"pw": "{password_reset.password"}}, "unterminated"},
		"empty placeholder":       {Template{Body: map[string]string{"pw": "{password_reset.}"}}, "unknown placeholder"},
		"secret in query":         {Template{Query: map[string]string{"p": "{password_reset.password}"}}, `query parameter "p"`},
		"hash in query":           {Template{Query: map[string]string{"h": "x{password_reset.password_hash}"}}, "secret"},
		"code in query":           {Template{Query: map[string]string{"c": "{password_reset.code}"}}, "secret"},
		"link in query":           {Template{Query: map[string]string{"l": "{password_reset.link}"}}, "secret"},
		"secret in GET form body": {Template{Method: "GET", Encoding: "form", Body: map[string]string{"pw": "{password_reset.password}"}}, `body field "pw"`},
		"GET body and query clash": {Template{Method: "GET", Encoding: "form", Body: map[string]string{"a": "1"},
			Query: map[string]string{"a": "2"}}, "query"},
		"nesting conflict":  {Template{Body: map[string]string{"user": "x", "user.id": "y"}}, "both"},
		"empty segment":     {Template{Body: map[string]string{"user..id": "x"}}, "empty segment"},
		"empty field":       {Template{Body: map[string]string{"": "x"}}, "empty"},
		"bad response path": {Template{Response: map[string]string{"id": "data..uid"}}, `response field "id"`},
		"bad status":        {Template{OKStatus: []int{200, 1000}}, "1000"},
	} {
		err := tc.tp.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, tc.want)
		}
		if _, berr := tc.tp.Build(hookURL, vals()); berr == nil {
			t.Errorf("%s: Build accepted an invalid template", name)
		}
	}
	// Secrets in a POST body and in headers are fine; so are other braces.
	for _, tp := range []Template{
		{Body: map[string]string{"pw": "{password_reset.password}", "j": `{"a":{"b":1}}`}},
		{Encoding: "form", Body: map[string]string{"pw": "{password_reset.password}"}},
		{Method: "put", Encoding: "FORM", Body: map[string]string{"pw": "{password_reset.password_hash}"}},
		{Headers: map[string]string{"X-Code": "{password_reset.code}"}},
		{Query: map[string]string{"env": "{env.TENANT}"}},
	} {
		if err := tp.Validate(); err != nil {
			t.Errorf("%+v: %v", tp, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tp := &Template{Body: map[string]string{"pw": "{password_reset.password_hash}"}}
	v := vals()
	delete(v, "password_hash")
	if _, err := tp.Build(hookURL, v); err == nil || !strings.Contains(err.Error(), "password_hash") {
		t.Errorf("missing value: %v", err)
	}
	for _, u := range []string{"ftp://x/y", "/relative", "http://[::1", "https://{password_reset.user.id}.test/x", "https://x.test/{password_reset.password}"} {
		if _, err := tp.Build(u, vals()); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	bad := &Template{Body: map[string]string{"x": "a{password_reset.user.id}"}}
	if _, err := bad.Build(hookURL, Values{"user.id": []int{1}}); err == nil {
		t.Error("non-scalar interpolation accepted")
	}
}

func TestUsesAndPlaceholders(t *testing.T) {
	tp := &Template{
		Headers: map[string]string{"X-U": "{password_reset.user.id}"},
		Body:    map[string]string{"a": "{password_reset.password_hash}/{password_reset.hash_format}", "b": "{password_reset.user.id}"},
	}
	if got, want := tp.Uses(), []string{"hash_format", "password_hash", "user.id"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Uses = %v, want %v", got, want)
	}
	if len(Placeholders()) != 14 || !IsSecret("password") || !IsSecret("link") || IsSecret("user.email") {
		t.Errorf("Placeholders = %v", Placeholders())
	}
}

func TestMap(t *testing.T) {
	tp := &Template{Response: map[string]string{
		"id":     "data.uid",
		"email":  "data.mail",
		"role":   "data.groups.0",
		"locale": "data.prefs.lang",
		"name":   "data.missing",
	}}
	resp := &webhook.Response{Status: 200, Body: []byte(`{
		"name": "top-level name is overridden by the mapping",
		"active": true,
		"score": 1.5,
		"big": 12345678901234567890,
		"nothing": null,
		"data": {"uid": 9007199254740993, "mail": "ada@example.com", "groups": ["admin", "dev"], "prefs": {"lang": "fr"}}
	}`)}
	got, err := tp.Map(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id":     "9007199254740993",
		"email":  "ada@example.com",
		"role":   "admin",
		"locale": "fr",
		"active": "true",
		"score":  "1.5",
		"big":    "12345678901234567890",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Map = %v, want %v", got, want)
	}

	// No mapping: the same names at the top level.
	var zero Template
	got, err = zero.Map(&webhook.Response{Status: 200, Body: []byte(`{"id": 42, "email": "a@b.c", "role": "user", "locale": null}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"id": "42", "email": "a@b.c", "role": "user"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Map = %v, want %v", got, want)
	}

	// White space may follow the value; nothing else may.
	for _, body := range []string{"{\"id\": 7}\n", "{\"id\": 7} \t\r\n "} {
		if got, err := zero.Map(&webhook.Response{Status: 200, Body: []byte(body)}); err != nil || got["id"] != "7" {
			t.Errorf("answer %q: %v, %v", body, got, err)
		}
	}
	for _, body := range []string{"", "<html>oops</html>", "[1,2]", `"x"`, `{"id":1} trailing`, `{"id":1} {}`, `{"id":1}}`, "{\"id\":1}\n\u00a0", `{"id":`} {
		if _, err := zero.Map(&webhook.Response{Status: 200, Body: []byte(body)}); err == nil {
			t.Errorf("answer %q accepted", body)
		} else if body != "" && strings.Contains(err.Error(), body) {
			t.Errorf("error %q quotes the answer", err)
		}
	}
	obj := &Template{Response: map[string]string{"id": "data"}}
	if _, err := obj.Map(&webhook.Response{Status: 200, Body: []byte(`{"data": {"uid": 1}}`)}); err == nil || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("object at path: %v", err)
	}
	if _, err := zero.Map(nil); err == nil {
		t.Error("nil answer accepted")
	}
}

func TestOKStatus(t *testing.T) {
	var zero Template
	for status, want := range map[int]bool{200: true, 204: true, 299: true, 302: false, 404: false, 500: false} {
		if got := zero.OK(&webhook.Response{Status: status}); got != want {
			t.Errorf("default OK(%d) = %v", status, got)
		}
	}
	tp := &Template{OKStatus: []int{200, 302}}
	for status, want := range map[int]bool{200: true, 302: true, 201: false, 204: false, 500: false} {
		if got := tp.OK(&webhook.Response{Status: status}); got != want {
			t.Errorf("OKStatus OK(%d) = %v", status, got)
		}
	}
	if tp.OK(nil) {
		t.Error("nil answer OK")
	}
}

// FuzzBuild checks that a form body always parses back to exactly the given
// password (forwarded exactly as typed), that a JSON body does too or
// refuses, that the password never reaches the URL, and that a header value
// is either exact or refused.
func FuzzBuild(f *testing.F) {
	for _, s := range []struct{ pw, uid string }{
		{"correct horse battery staple", "42"},
		{"a&b=c+d e%20f", "7"},
		{"ünïcødé 🙂", "x y"},
		{"\r\n\x00\xff", "a\r\nb"},
		{"{password_reset.password}", "{password_reset.code}"},
		{";#?/", ""},
		{"", "\t"},
	} {
		f.Add(s.pw, s.uid)
	}
	form := &Template{
		Encoding: "form",
		Headers:  map[string]string{"X-User": "id={password_reset.user.id}"},
		Query:    map[string]string{"uid": "{password_reset.user.id}"},
		Body: map[string]string{
			"pw":   "{password_reset.password}",
			"note": "x&y={password_reset.password}&z",
			"uid":  "{password_reset.user.id}",
		},
	}
	js := &Template{Body: map[string]string{"cred.pw": "{password_reset.password}", "note": "<{password_reset.password}>"}}
	f.Fuzz(func(t *testing.T, pw, uid string) {
		v := Values{"password": pw, "user.id": uid}
		req, err := form.Build(hookURL, v)
		if hasCTL("id=" + uid) {
			if err == nil {
				t.Fatalf("control character in header value accepted: %q", uid)
			}
			// The body must still be exact without the header.
			noHeader := *form
			noHeader.Headers = nil
			if req, err = noHeader.Build(hookURL, v); err != nil {
				t.Fatal(err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("X-User"); got != "id="+uid {
				t.Fatalf("header %q, want %q", got, "id="+uid)
			}
		}
		q, err := url.ParseQuery(string(req.Body))
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", req.Body, err)
		}
		if got := q["pw"]; len(got) != 1 || got[0] != pw {
			t.Fatalf("password %q came back as %q", pw, got)
		}
		if got := q["note"]; len(got) != 1 || got[0] != "x&y="+pw+"&z" {
			t.Fatalf("note came back as %q", got)
		}
		if got := q["uid"]; len(got) != 1 || got[0] != uid || len(q) != 3 {
			t.Fatalf("form = %v", q)
		}
		u, err := url.Parse(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		if uq := u.Query(); len(uq) != 1 || uq.Get("uid") != uid {
			t.Fatalf("URL query = %v", uq)
		}

		req, err = js.Build(hookURL, v)
		if !utf8.ValidString(pw) {
			if err == nil {
				t.Fatalf("invalid UTF-8 password %q sent in JSON", pw)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Cred struct {
				PW string `json:"pw"`
			} `json:"cred"`
			Note string `json:"note"`
		}
		if err := json.Unmarshal(req.Body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Cred.PW != pw || doc.Note != "<"+pw+">" {
			t.Fatalf("JSON password %q came back as %q / %q", pw, doc.Cred.PW, doc.Note)
		}
		if req.URL != hookURL {
			t.Fatalf("URL changed: %s", req.URL)
		}
	})
}
