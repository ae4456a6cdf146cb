package portal

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// No value can add a header to the portal's mail: addresses are parsed,
// and a subject with a line break is refused.
func TestMailHeaderInjection(t *testing.T) {
	iss := &Issued{URL: "http://localhost:8000/portal/reset?token=abc", ExpiresAt: time.Now().Add(time.Hour)}
	for name, m := range map[string]struct{ brand, from, to string }{
		"to":    {"Acme", DefaultFrom, "alice@example.test\r\nBcc: eve@example.test"},
		"from":  {"Acme", "x@example.test\nBcc: eve@example.test", "alice@example.test"},
		"brand": {"Acme\r\nBcc: eve@example.test", DefaultFrom, "alice@example.test"},
	} {
		mail, err := ResetMail(m.brand, m.from, m.to, "", iss)
		if err != nil {
			continue
		}
		if raw, err := mail.Bytes(); err == nil {
			t.Errorf("%s: injected header accepted:\n%s", name, raw)
		}
	}
	mail, err := ResetMail("Acmé", DefaultFrom, "Alice <alice@example.test>", "Alice", iss)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mail.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("Subject: =?utf-8?q?Your_Acm=C3=A9_password_reset?=\r\n")) || !bytes.Contains(raw, []byte(iss.URL)) {
		t.Fatalf("mail:\n%s", raw)
	}
}

// Error answers from resetgate become an *APIError with the status and
// code; the bearer token is sent and never appears in an error.
func TestClientErrors(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/password-reset/admin/users/a%2Fb/reset-token" && r.URL.RawPath != "/password-reset/admin/users/a%2Fb/reset-token" {
			http.Error(w, "path "+r.URL.Path, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"errors":[{"code":"ROLE_NOT_ALLOWED","detail":"no"}]}`))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "secret-token-123"}
	_, err := c.IssueResetToken(context.Background(), "a/b")
	e, ok := err.(*APIError)
	if !ok || e.Status != 403 || e.Code != "ROLE_NOT_ALLOWED" {
		t.Fatalf("error %v", err)
	}
	if gotAuth != "Bearer secret-token-123" || strings.Contains(err.Error(), "secret-token-123") {
		t.Fatalf("auth %q, error %q", gotAuth, err)
	}
}

func TestExplain(t *testing.T) {
	msgs, invalid := explain([]byte(`{"errors":[{"code":"PASSWORD_POLICY_VIOLATED","detail":"TOO_SHORT"},{"code":"PASSWORD_POLICY_VIOLATED","detail":"MISMATCH"}]}`))
	if invalid || len(msgs) != 2 || msgs[0] != messages["TOO_SHORT"] || msgs[1] != messages["MISMATCH"] {
		t.Fatalf("%v %v", msgs, invalid)
	}
	if _, invalid := explain([]byte(`{"errors":[{"code":"TOKEN_INVALID"}]}`)); !invalid {
		t.Fatal("TOKEN_INVALID not seen")
	}
}

// The page refuses to render a malformed token and sends no Referer.
func TestPageMalformedToken(t *testing.T) {
	p := &Page{Brand: "Acme", ResetgateURL: "http://127.0.0.1:1"}
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PagePath+"?token=%22%3E%3Cscript%3E", nil))
	if rec.Code != 404 || strings.Contains(rec.Body.String(), "<script>") || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
