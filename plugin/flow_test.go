package plugin

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/plugin/duration"
	"github.com/resetgate/resetgate/plugin/policy"
)

func violations(out map[string]any) []string {
	var got []string
	errs, _ := out["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		got = append(got, fmt.Sprint(m["code"], "/", m["detail"], "@", m["pointer"]))
	}
	return got
}

// Every detail code comes back through the API as a 422 naming the field,
// and the token survives each refusal.
func TestCompletePolicyDetails(t *testing.T) {
	var rangeCalls atomic.Int32
	breachedPw := "this exact sentence was leaked somewhere"
	rng := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rangeCalls.Add(1)
		sum := sha1.Sum([]byte(breachedPw))
		full := strings.ToUpper(hex.EncodeToString(sum[:]))
		if strings.TrimPrefix(r.URL.Path, "/range/") == full[:5] {
			fmt.Fprintf(w, "%s:42\r\n", full[5:])
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35)) // padding
	}))
	defer rng.Close()
	h := newHarness(t, func(c *Config) {
		c.Policy = policy.Policy{MinScore: 3, ContextWords: []string{"acmecorp"},
			Breached: &policy.BreachedCheck{URL: rng.URL + "/range/"}}
	})
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	cases := []struct {
		password, confirm string
		want              string
	}{
		{"short", "short", "PASSWORD_POLICY_VIOLATED/TOO_SHORT@/password"},
		{strings.Repeat("a", 129), strings.Repeat("a", 129), "PASSWORD_POLICY_VIOLATED/TOO_LONG@/password"},
		{"a fine long passphrase", "a fine long passphrasE", "PASSWORD_POLICY_VIOLATED/MISMATCH@/confirm"},
		{"i-am-alice-and-proud", "i-am-alice-and-proud", "PASSWORD_POLICY_VIOLATED/CONTAINS_IDENTIFIER@/password"},
		{"welcome to acmecorp!", "welcome to acmecorp!", "PASSWORD_POLICY_VIOLATED/CONTAINS_IDENTIFIER@/password"},
		{"password1234", "password1234", "PASSWORD_POLICY_VIOLATED/COMMON@/password"},
		{"aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa1", "PASSWORD_POLICY_VIOLATED/TOO_WEAK@/password"},
		{breachedPw, breachedPw, "PASSWORD_POLICY_VIOLATED/BREACHED@/password"},
		{oldPassword, oldPassword, "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD@/password"},
	}
	for _, c := range cases {
		st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": c.password, "confirm": c.confirm})
		got := violations(out)
		if st != 422 || !contains(got, c.want) {
			t.Errorf("%q: %d %v, want %s", c.password, st, got, c.want)
		}
	}
	// Several rules at once are all listed.
	_, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "alice", "confirm": "bob"})
	if got := violations(out); len(got) < 3 {
		t.Errorf("several failures listed as %v", got)
	}
	if rangeCalls.Load() == 0 {
		t.Fatal("the breached service was never asked")
	}
	if st, _ := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "Correct Zebra Battery Staple 9"}); st != 200 {
		t.Fatalf("a good password after all those refusals: %d (the token should have survived)", st)
	}
	if len(h.up.updates) != 1 {
		t.Fatalf("%d updates", len(h.up.updates))
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Fail-closed: when the breached service is down the user is asked to retry
// (502) and the token stays alive; fail-open accepts the password.
func TestBreachedServiceDown(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		h := newHarness(t, func(c *Config) {
			c.Policy = policy.Policy{Breached: &policy.BreachedCheck{URL: "http://127.0.0.1:1/range/", FailOpen: failOpen, Timeout: duration.Duration(time.Second)}}
		})
		_, m := h.resetMail(t)
		token := tokenOf(t, m)
		st, out := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "Correct Zebra Battery Staple 9"})
		if failOpen && st != 200 {
			t.Errorf("fail_open: %d %v", st, out)
		}
		if !failOpen {
			if st != 502 || errCode(out) != CodeUpstreamFailed {
				t.Errorf("fail_closed: %d %v", st, out)
			}
			if st, _ := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 200 {
				t.Errorf("token died after a fail-closed refusal: %d", st)
			}
		}
	}
}

// Opening many flows does not multiply guesses: the account's failure
// budget (10 per hour by default) spans all its flows, so after two flows'
// worth of wrong codes a third flow is locked even for the right code.
func TestCodeBudgetAcrossFlows(t *testing.T) {
	h := newHarness(t, nil)
	for f := 0; f < 2; f++ {
		flowID, _, wrong := h.codeFlow(t)
		for i := 0; i < 5; i++ {
			h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": wrong})
		}
	}
	flowID, code, _ := h.codeFlow(t)
	st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code})
	if st != 400 || errCode(out) != CodeFlowLocked {
		t.Fatalf("right code after the account budget is spent: %d %v", st, out)
	}
}

// methods chooses the proofs: with link only, the mail has no code, verify
// is off and the first step is LINK_REQUIRED; with code only, the mail has
// no link. The mail shows the code as "1234 5678".
func TestMethodsChooseProofs(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Methods = []string{MethodLink} })
	st, out := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "nobody@example.test"})
	if st != 202 || out["next_step"] != StepLinkRequired {
		t.Fatalf("link-only request: %d %v", st, out)
	}
	flowID, m := h.resetMail(t)
	if mailCodeRE.MatchString(m.Text) {
		t.Errorf("link-only mail carries a code:\n%s", m.Text)
	}
	if st, _ := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": "12345678"}); st != 404 {
		t.Errorf("verify with codes off: %d", st)
	}

	h = newHarness(t, func(c *Config) { c.Methods = []string{MethodCode} })
	flowID, m = h.resetMail(t)
	if strings.Contains(m.Text, "/new?token=") {
		t.Errorf("code-only mail carries a link:\n%s", m.Text)
	}
	st, out = h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": codeOf(t, m)})
	if st != 200 || out["next_step"] != StepNewPasswordRequired {
		t.Fatalf("verify: %d %v", st, out)
	}
	st, out = h.do(t, "POST", "/password-reset/complete", map[string]string{"token": out["token"].(string), "password": "Correct Zebra Battery Staple 9"})
	if st != 200 || out["next_step"] != StepDone {
		t.Fatalf("complete: %d %v", st, out)
	}
}

// GET policy describes the active rules for a front end.
func TestPolicyEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	st, out := h.do(t, "GET", "/password-reset/policy", nil)
	if st != 200 || out["min_length"] != float64(12) || out["max_length"] != float64(128) || out["blocks_common"] != true || out["rejects_old_password"] != true {
		t.Fatalf("policy: %d %v", st, out)
	}
}
