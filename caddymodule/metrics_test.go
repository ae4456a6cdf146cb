package caddymodule_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
)

// Metrics exist under caddy_password_reset_*, count the journey's audit
// events and hook calls, and carry no secret and no identifier in any
// label: the planted password, token, code, identifier and key never
// appear in the scrape.
func TestMetricsCountEventsWithoutSecrets(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoStart: true})
	adminPort := testenv.FreePort(t)
	env.Load(strings.Replace(env.Caddyfile(""), "admin off", "admin 127.0.0.1:"+itoa(adminPort)+"\n\tmetrics", 1))

	requestReset(t, env, alice)
	m := env.WaitMail(alice, "reset")
	_, token := testenv.ResetLink(t, m)
	code := testenv.Code(t, m)
	requestReset(t, env, "nobody-planted-identifier@example.test")
	pw := "Planted-Secret-Password-9431"
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token, "password": pw}); r.StatusCode != 200 {
		t.Fatalf("complete: %d %s", r.StatusCode, r.Body)
	}
	env.WaitMail(alice, "changed")

	// A second reset proved by the mailed code: the code's guesses and its
	// verification count under method "code", the reset under the
	// token's method.
	env.Mail.Clear()
	flowID := requestReset(t, env, alice)
	code2 := testenv.Code(t, env.WaitMail(alice, "reset"))
	if got := verifyAnswers(env, flowID, wrongCode(code2)); got[0] != "Bad Request CODE_INVALID" {
		t.Fatalf("a wrong code answered %s", got[0])
	}
	r := env.PostJSON("/password-reset/verify", map[string]string{"flow_id": flowID, "code": code2})
	token2, _ := r.JSON()["token"].(string)
	if r.StatusCode != 200 || token2 == "" {
		t.Fatalf("verify: %d %s", r.StatusCode, r.Body)
	}
	if r := env.PostJSON("/password-reset/complete", map[string]string{"token": token2, "password": pw + "-2"}); r.StatusCode != 200 {
		t.Fatalf("complete after the code: %d %s", r.StatusCode, r.Body)
	}
	env.WaitMail(alice, "changed")

	resp, err := http.Get("http://127.0.0.1:" + itoa(adminPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	scrape := string(body)
	for _, want := range []string{
		`caddy_password_reset_events_total{event="requested",method=""}`,
		`caddy_password_reset_events_total{event="reset",method="link"} 1`,
		`caddy_password_reset_events_total{event="reset",method="code"} 1`,
		`caddy_password_reset_events_total{event="verified",method="code"} 1`,
		`caddy_password_reset_events_total{event="failed",method="code"} 1`,
		`caddy_password_reset_events_total{event="mailed"`,
		`caddy_password_reset_upstream_duration_seconds_count{hook="update",outcome="ok"} 2`,
		// The unknown identifier's lookup and the start-up self-test's
		// (a reserved identifier that must be unknown).
		`caddy_password_reset_upstream_duration_seconds_count{hook="lookup",outcome="refused"} 2`,
		`caddy_password_reset_mail_duration_seconds_count{kind="reset",outcome="ok"}`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for name, secret := range map[string]string{
		"password": pw, "token": token, "code": code, "identifier": "nobody-planted-identifier",
		"user mail": alice, "server key": env.Key, "webhook secret": strings.TrimPrefix(env.Secret, "whsec_"),
	} {
		if strings.Contains(scrape, secret) {
			t.Errorf("the metrics contain the %s", name)
		}
	}
}
