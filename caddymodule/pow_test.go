package caddymodule_test

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/bits"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
)

// solvePow finds the nonce a browser's pow-worker.js would find.
func solvePow(t *testing.T, challenge string, difficulty int) string {
	t.Helper()
	for i := 0; i < 1<<26; i++ {
		n := strconv.Itoa(i)
		h := sha256.Sum256([]byte(challenge + ":" + n))
		if zeros(h) >= difficulty {
			return n
		}
	}
	t.Fatal("no nonce found")
	return ""
}

func zeros(h [32]byte) int {
	n := 0
	for i := 0; i < 32; i += 8 {
		w := binary.BigEndian.Uint64(h[i : i+8])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

func powChallenge(t *testing.T, env *testenv.Env) (string, int) {
	t.Helper()
	r := env.Get("/password-reset/pow")
	j := r.JSON()
	c, _ := j["challenge"].(string)
	d, _ := j["difficulty"].(float64)
	if r.StatusCode != 200 || c == "" || d != 12 || j["algorithm"] != "SHA-256" {
		t.Fatalf("GET pow: %d %s", r.StatusCode, r.Body)
	}
	return c, int(d)
}

func expectPowRefused(t *testing.T, r *testenv.Response, detail string) {
	t.Helper()
	j := r.JSON()
	errs, _ := j["errors"].([]any)
	if r.StatusCode != 400 || len(errs) != 1 {
		t.Fatalf("want 400 POW_REQUIRED %s, got %d %s", detail, r.StatusCode, r.Body)
	}
	e := errs[0].(map[string]any)
	if e["code"] != "POW_REQUIRED" || e["detail"] != detail || e["pointer"] != "/pow" {
		t.Fatalf("want POW_REQUIRED %s, got %s", detail, r.Body)
	}
}

// TestPowGuardOnRequest: with `pow 12`, a reset request without a solved
// challenge, with a forged or too easy one, or with a replayed one gets
// 400 POW_REQUIRED and sends no mail; a solved challenge is accepted once.
func TestPowGuardOnRequest(t *testing.T) {
	env := testenv.New(t, testenv.Options{Block: "\t\tpow 12"})

	expectPowRefused(t, env.PostJSON("/password-reset/request", map[string]any{"identifier": alice}), "MISSING")

	c, d := powChallenge(t, env)
	nonce := solvePow(t, c, d)

	// A challenge the server did not sign (difficulty lowered by the
	// client, or made up) is refused, solved or not.
	forged := strings.Replace(c, "p1.", "p1.9", 1)
	expectPowRefused(t, env.PostJSON("/password-reset/request", map[string]any{"identifier": alice, "pow": map[string]string{"challenge": forged, "nonce": solvePow(t, forged, d)}}), "INVALID")
	// A nonce that does not reach the difficulty is refused.
	bad := "0"
	for zeros(sha256.Sum256([]byte(c+":"+bad))) >= d {
		bad += "0"
	}
	expectPowRefused(t, env.PostJSON("/password-reset/request", map[string]any{"identifier": alice, "pow": map[string]string{"challenge": c, "nonce": bad}}), "INSUFFICIENT")

	r := env.PostJSON("/password-reset/request", map[string]any{"identifier": alice, "pow": map[string]string{"challenge": c, "nonce": nonce}})
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("a solved challenge: %d %s", r.StatusCode, r.Body)
	}
	env.WaitMail(alice, "reset")

	// The same solution again: refused, however valid it is.
	expectPowRefused(t, env.PostJSON("/password-reset/request", map[string]any{"identifier": alice, "pow": map[string]string{"challenge": c, "nonce": nonce}}), "REPLAYED")
	if n := len(env.Mail.Messages()); n != 1 {
		t.Errorf("%d mails went out, want 1 (a refused request sent mail)", n)
	}
}

// TestPowGuardOnForgotForm: the no-JS form says what is needed, refuses a
// post without a solution with a message on the field, and accepts a
// solved one.
func TestPowGuardOnForgotForm(t *testing.T) {
	env := testenv.New(t, testenv.Options{Block: "\t\tpow 12"})
	jar := newJar(t)
	client := *env.Client
	client.Jar = jar

	get := func() (csrf, challenge string) {
		resp, err := client.Get(env.URL + "/password-reset/")
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if !strings.Contains(body, "<noscript>") || !strings.Contains(body, "turn on JavaScript") || !strings.Contains(body, "/assets/pow.js") {
			t.Fatalf("the forgot page does not explain the proof of work without JavaScript:\n%s", body)
		}
		csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
		challenge = regexp.MustCompile(`name="pow_challenge" value="([^"]+)"`).FindStringSubmatch(body)[1]
		return csrf, challenge
	}
	post := func(form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", env.BaseURL)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	csrf, c := get()
	resp := post(url.Values{"csrf": {csrf}, "identifier": {alice}, "pow_challenge": {c}})
	body := readBody(t, resp)
	if resp.StatusCode != 400 || !strings.Contains(body, "could not prove it was sent by a browser") {
		t.Fatalf("a form post without a solution: %d\n%s", resp.StatusCode, body)
	}
	csrf, c = get()
	resp = post(url.Values{"csrf": {csrf}, "identifier": {alice}, "pow_challenge": {c}, "pow_nonce": {solvePow(t, c, 12)}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/password-reset/sent" {
		t.Fatalf("a solved form: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	env.WaitMail(alice, "reset")
}

// TestPowOffByDefault: without pow, requests need no solution and GET pow
// is 404.
func TestPowOffByDefault(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	if r := env.Get("/password-reset/pow"); r.StatusCode != 404 {
		t.Errorf("GET pow without the guard: %d", r.StatusCode)
	}
	requestReset(t, env, alice)
}

func newJar(t *testing.T) http.CookieJar {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
