package formapp

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testKey = "test-api-key-0123456789"

// testMinIterations keeps PBKDF2 cheap under the race detector.
const testMinIterations = 1000

func newTestApp(t *testing.T) *App {
	t.Helper()
	users, err := DemoUsers(testMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	users = append(users, User{UID: 10, Mail: "mallory@example.test", FullName: `<script>alert(1)</script>`, Group: "member"})
	a, err := New(Config{APIKey: testKey, Users: users, MinIterations: testMinIterations, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := HashPassword("mallory's own password", testMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	a.users[10].PwHash = h
	return a
}

func post(t *testing.T, a *App, path, key, contentType string, form url.Values) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

const formCT = "application/x-www-form-urlencoded"

// A hash made by Django (make_password("correct horse battery staple",
// salt="seasalt1234567890abcd", hasher="pbkdf2_sha256"), 100000
// iterations) checks: the app reads what a Django app stores.
func TestCheckPasswordDjangoVector(t *testing.T) {
	const django = "pbkdf2_sha256$100000$seasalt1234567890abcd$FP6kZCfwJhNXUCR+oIWSaXwDFRHhcSd1qUYj7InpUUk="
	if !CheckPassword(django, "correct horse battery staple") {
		t.Fatal("Django's hash does not check")
	}
	for _, pw := range []string{"correct horse battery stapl", "Correct horse battery staple", ""} {
		if CheckPassword(django, pw) {
			t.Fatalf("%q checks against Django's hash", pw)
		}
	}
	h, err := HashPassword("a new one for the app", 1000)
	if err != nil || !CheckPassword(h, "a new one for the app") || CheckPassword(h, "a new one for the ap") {
		t.Fatalf("own hash round trip: %v", err)
	}
}

// Malformed hashes are refused by set_password.php and match nothing at
// sign-in; none makes the check panic (an empty key would, in pbkdf2).
func TestHashFormatRefusals(t *testing.T) {
	a := newTestApp(t)
	good, _ := HashPassword("pw", testMinIterations)
	parts := strings.Split(good, "$")
	bad := map[string]string{
		"empty":            "",
		"other algorithm":  "pbkdf2_sha1$100000$" + parts[2] + "$" + parts[3],
		"bcrypt":           "$2a$10$abcdefghijklmnopqrstuuJ6rK6sQKVxqHq7v5mYVxgPu2i8jZk2",
		"too few iter":     "pbkdf2_sha256$999$" + parts[2] + "$" + parts[3],
		"signed iter":      "pbkdf2_sha256$+1000$" + parts[2] + "$" + parts[3],
		"leading zero":     "pbkdf2_sha256$01000$" + parts[2] + "$" + parts[3],
		"too many iter":    "pbkdf2_sha256$99999999$" + parts[2] + "$" + parts[3],
		"empty salt":       "pbkdf2_sha256$1000$$" + parts[3],
		"salt with space":  "pbkdf2_sha256$1000$a b$" + parts[3],
		"empty key":        "pbkdf2_sha256$1000$" + parts[2] + "$",
		"short key":        "pbkdf2_sha256$1000$" + parts[2] + "$AAAA",
		"not base64":       "pbkdf2_sha256$1000$" + parts[2] + "$" + strings.Repeat("!", 44),
		"extra part":       good + "$x",
		"newline in value": good + "\n",
	}
	for name, h := range bad {
		if CheckPassword(h, "pw") {
			t.Errorf("%s: checks", name)
		}
		status, _ := post(t, a, "/legacy/set_password.php", testKey, formCT, url.Values{"uid": {"7"}, "pwhash": {h}, "kill_sessions": {"1"}})
		if status != http.StatusBadRequest {
			t.Errorf("%s: set_password.php answered %d", name, status)
		}
	}
	if n := len(a.Updates()); n != 0 {
		t.Fatalf("%d updates from refused hashes", n)
	}
}

// Every internal script wants the API key (403 otherwise) and a form post.
func TestInternalScriptsNeedKeyAndForm(t *testing.T) {
	a := newTestApp(t)
	form := url.Values{"login": {"dora@example.test"}}
	for name, key := range map[string]string{"no key": "", "wrong key": testKey + "x", "prefix of key": testKey[:10]} {
		for _, p := range []string{"/legacy/find_user.php", "/legacy/set_password.php", "/legacy/check_password.php"} {
			if status, _ := post(t, a, p, key, formCT, form); status != http.StatusForbidden {
				t.Errorf("%s on %s: %d", name, p, status)
			}
		}
	}
	if status, _ := post(t, a, "/legacy/find_user.php", testKey, "application/json", form); status != http.StatusBadRequest {
		t.Errorf("JSON instead of a form: %d", status)
	}
	for _, c := range a.Calls() {
		if c.APIKeyOK && c.Status != http.StatusBadRequest {
			t.Errorf("call %+v", c)
		}
	}
}

func TestFindUser(t *testing.T) {
	a := newTestApp(t)
	status, body := post(t, a, "/legacy/find_user.php", testKey, formCT, url.Values{"login": {" Dora@Example.TEST "}})
	if status != 200 {
		t.Fatalf("find_user: %d %s", status, body)
	}
	var got struct {
		User map[string]any `json:"user"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.User["uid"] != float64(7) || got.User["mail"] != "dora@example.test" || got.User["full_name"] != "Dora Dreyfus" || got.User["group"] != "member" {
		t.Fatalf("find_user answer %s", body)
	}
	if status, _ := post(t, a, "/legacy/find_user.php", testKey, formCT, url.Values{"login": {"nobody@example.test"}}); status != 404 {
		t.Fatalf("unknown login: %d", status)
	}
}

func TestSetAndCheckPassword(t *testing.T) {
	a := newTestApp(t)
	pw := "a brand new password"
	h, _ := HashPassword(pw, testMinIterations)
	if status, body := post(t, a, "/legacy/set_password.php", testKey, formCT, url.Values{"uid": {"99"}, "pwhash": {h}}); status != 404 {
		t.Fatalf("unknown uid: %d %s", status, body)
	}
	if status, body := post(t, a, "/legacy/set_password.php", testKey, formCT, url.Values{"uid": {"7"}, "pwhash": {h}, "kill_sessions": {"1"}}); status != 200 || body != "OK" {
		t.Fatalf("set_password: %d %s", status, body)
	}
	ups := a.Updates()
	if len(ups) != 1 || ups[0].UID != 7 || ups[0].PwHash != h || !ups[0].KillSessions {
		t.Fatalf("updates %+v", ups)
	}
	for _, tc := range []struct {
		uid, pw string
		want    int
	}{{"7", pw, 200}, {"7", "purple tiger lantern", 401}, {"7", "", 401}, {"8", pw, 401}, {"99", pw, 401}} {
		if status, _ := post(t, a, "/legacy/check_password.php", testKey, formCT, url.Values{"uid": {tc.uid}, "password": {tc.pw}}); status != tc.want {
			t.Errorf("check_password uid %s: %d, want %d", tc.uid, status, tc.want)
		}
	}
}

func TestLoginPage(t *testing.T) {
	a := newTestApp(t)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `href="/password-reset/"`) {
		t.Fatalf("home: %d %s", rec.Code, rec.Body)
	}
	login := func(email, pw string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"email": {email}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", formCT)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if status, body := login("dora@example.test", "purple tiger lantern"); status != 200 || !strings.Contains(body, "Welcome, Dora Dreyfus") {
		t.Fatalf("login: %d %s", status, body)
	}
	if a.SessionCount(7) != 1 {
		t.Fatal("no session")
	}
	for _, c := range [][2]string{{"dora@example.test", "purple tiger lanter"}, {"nobody@example.test", "purple tiger lantern"}} {
		if status, _ := login(c[0], c[1]); status != 401 {
			t.Errorf("login %v: %d", c, status)
		}
	}
	if _, body := login("mallory@example.test", "mallory's own password"); strings.Contains(body, "<script>") {
		t.Fatal("the user's name is not escaped")
	}
}

func TestNewRefusesWeakConfig(t *testing.T) {
	if _, err := New(Config{APIKey: "short"}); err == nil {
		t.Fatal("a short API key was accepted")
	}
	if _, err := New(Config{APIKey: testKey, Users: []User{{UID: 1, Mail: "a@x"}, {UID: 2, Mail: "A@x"}}}); err == nil {
		t.Fatal("duplicate mail accepted")
	}
}

// By default set_password.php wants at least 100000 iterations, Django's
// floor for this example.
func TestDefaultMinIterations(t *testing.T) {
	a, err := New(Config{APIKey: testKey, Users: []User{{UID: 7, Mail: "dora@example.test"}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("A", 43) + "="
	for iter, want := range map[string]int{"99999": 400, "100000": 200} {
		status, body := post(t, a, "/legacy/set_password.php", testKey, formCT, url.Values{"uid": {"7"}, "pwhash": {"pbkdf2_sha256$" + iter + "$somesalt$" + key}})
		if status != want {
			t.Errorf("%s iterations: %d %s", iter, status, body)
		}
	}
}
