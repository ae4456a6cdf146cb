package hookreq

import (
	"strings"
	"testing"
)

func TestURLPathPlaceholderIsFilledAndEscaped(t *testing.T) {
	tp := &Template{Method: "PATCH", Body: map[string]string{"password": "{password_reset.password}"}}
	v := vals()
	v["user.id"] = "ada lovelace@x"
	req, err := tp.Build("http://127.0.0.1:3000/api/v1/admin/users/{password_reset.user.id}?a=1", v)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if want := "http://127.0.0.1:3000/api/v1/admin/users/ada%20lovelace@x?a=1"; req.URL != want {
		t.Fatalf("URL = %q, want %q", req.URL, want)
	}
}

// TestURLPathPlaceholderTraversal pins the attack where a user types an
// identifier such as "../../admin/users/root" (or one with an encoded
// slash) into the forgot form, hoping that a lookup URL of the form
// /api/v1/users/{password_reset.identifier} sends resetgate's privileged
// request to another endpoint of the app. Such values are refused before
// any request is sent, and the error does not repeat them.
func TestURLPathPlaceholderTraversal(t *testing.T) {
	tp := &Template{Method: "GET"}
	for _, id := range []string{"..", ".", "", "../admin", "a/b", `a\b`, "a\nb", "a\x00b"} {
		v := vals()
		v["identifier"] = id
		_, err := tp.Build("http://127.0.0.1:3000/api/v1/users/{password_reset.identifier}", v)
		if err == nil {
			t.Fatalf("identifier %q: built a request", id)
		}
		if len(id) > 2 && strings.Contains(err.Error(), id) {
			t.Fatalf("identifier %q: the error repeats the value: %v", id, err)
		}
	}
	// %2F typed by the user is escaped again, never decoded into a slash.
	v := vals()
	v["identifier"] = "a%2Fb"
	req, err := tp.Build("http://127.0.0.1:3000/api/v1/users/{password_reset.identifier}", v)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if want := "http://127.0.0.1:3000/api/v1/users/a%252Fb"; req.URL != want {
		t.Fatalf("URL = %q, want %q", req.URL, want)
	}
}

func TestValidateURLRefusesSecretsAndPlacesOutsideThePath(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1/users/{password_reset.password}",
		"http://127.0.0.1/users/{password_reset.password_hash}",
		"http://127.0.0.1/reset/{password_reset.link}",
		"http://127.0.0.1/codes/{password_reset.code}",
		"http://{password_reset.user.id}.example/x",
		"http://127.0.0.1/x?id={password_reset.user.id}",
		"http://127.0.0.1/x#{password_reset.user.id}",
		"http://127.0.0.1/{password_reset.user.id}?a=b#{password_reset.user.id}",
		"{password_reset.user.id}",
		"http://127.0.0.1/users/{password_reset.nope}",
		"http://127.0.0.1/users/{password_reset.user.id",
	} {
		if err := ValidateURL(u); err == nil {
			t.Errorf("ValidateURL(%q) = nil", u)
		}
	}
	for _, u := range []string{
		"http://127.0.0.1:3000/api/v1/admin/users/{password_reset.user.id}",
		"https://app.test/u/{password_reset.user.id}/password?x=1",
		"http://127.0.0.1/plain",
	} {
		if err := ValidateURL(u); err != nil {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
	}
}
