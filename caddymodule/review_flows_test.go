package caddymodule_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/testenv"
)

// Regression tests for the December 2026 security review, findings 1 and
// 9 and the lookup's "exists but disabled" answer: whatever an attacker
// does with a flow id, an unknown, a disabled and a real account answer
// alike.

// reviewLimits is the rate_limit block of these tests: generous per IP,
// and the given per-identifier and account failure limits.
func reviewLimits(perIdentifier, accountFailures string) string {
	return "\t\trate_limit {\n\t\t\tper_ip 1000 1m\n\t\t\tper_identifier " + perIdentifier +
		"\n\t\t\taccount_failures " + accountFailures + "\n\t\t}"
}

// waitProcessed waits until the engine has processed n reset requests in
// the background (each one writes one audit line: requested, or
// rate_limited when over the per-identifier limit).
func waitProcessed(t *testing.T, logPath string, n int) {
	t.Helper()
	// Generous: 800 requests (400 with a mail) take a while on a loaded
	// machine under the race detector.
	deadline := time.Now().Add(15*time.Second + time.Duration(n)*100*time.Millisecond)
	for {
		got := logLines(logPath, `"event":"requested"`) + logLines(logPath, `"event":"rate_limited"`)
		if got >= n {
			// The audit line follows the flow's store write; give the
			// mail outbox a moment too.
			time.Sleep(150 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d reset requests processed", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wrongCode returns an 8-digit code other than code.
func wrongCode(code string) string {
	if code == "00000000" {
		return "11111111"
	}
	return "00000000"
}

// verifyAnswers types each code into flowID through the API and returns
// the answers as "status CODE".
func verifyAnswers(env *testenv.Env, flowID string, codes ...string) []string {
	var out []string
	for _, c := range codes {
		r := env.PostJSON("/password-reset/verify", map[string]string{"flow_id": flowID, "code": c})
		code := "OK"
		if cs := r.ErrorCodes(); len(cs) > 0 {
			code = cs[0]
		}
		out = append(out, http.StatusText(r.StatusCode)+" "+code)
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Attack (finding 1, enumeration through the code lockout): the attacker
// asks for a reset of an identifier, then types wrong codes into the flow
// id the 202 gave him. Before the fix only a real account's flow locked
// (FLOW_LOCKED, "Too many attempts" on the page) after 5 wrong codes, and
// only a real account's budget locked a fresh flow after 10 wrong codes
// spread over several flows; an unknown identifier's flow answered
// CODE_INVALID forever. Now an unknown identifier's flow is stored and
// counted like a real one: the same answers, in the same order, on the
// API and on the pages.
func TestAttackEnumerationThroughCodeLockout(t *testing.T) {
	env, _, logPath := faultEnv(t, reviewLimits("100 1m", "10 1h"), "")
	unknown := "nobody-" + strings.ToLower(testenv.RandomString(8)) + "@example.test"

	// One flow per class; the known one's real code is known to us.
	env.Mail.Clear()
	knownFlow := requestReset(t, env, alice)
	unknownFlow := requestReset(t, env, unknown)
	realCode := testenv.Code(t, env.WaitMail(alice, "reset"))
	waitProcessed(t, logPath, 2)
	bad := wrongCode(realCode)

	want := append(repeat("Bad Request CODE_INVALID", 4), "Bad Request FLOW_LOCKED", "Bad Request FLOW_LOCKED")
	for class, flow := range map[string]string{"known": knownFlow, "unknown": unknownFlow} {
		if got := verifyAnswers(env, flow, repeat(bad, 6)...); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s account, 6 wrong codes in one flow:\n got %q\nwant %q", class, got, want)
		}
	}
	// The flow stays locked even for the right code.
	if got := verifyAnswers(env, knownFlow, realCode); got[0] != "Bad Request FLOW_LOCKED" {
		t.Errorf("the right code in a locked flow: %s", got[0])
	}

	// The account budget (10 per hour) spans flows: 5 failures above,
	// 4 more in a second flow, the 10th in a third locks it, and a fourth
	// flow is locked from its first code, even the right one.
	flows := map[string][]string{}
	var lastCode string
	for i := 0; i < 3; i++ {
		env.Mail.Clear()
		flows["known"] = append(flows["known"], requestReset(t, env, alice))
		flows["unknown"] = append(flows["unknown"], requestReset(t, env, unknown))
		lastCode = testenv.Code(t, env.WaitMail(alice, "reset"))
	}
	waitProcessed(t, logPath, 8)
	answers := map[string][]string{}
	for class, fs := range flows {
		a := verifyAnswers(env, fs[0], repeat(wrongCode(lastCode), 4)...)
		a = append(a, verifyAnswers(env, fs[1], wrongCode(lastCode), wrongCode(lastCode))...)
		a = append(a, verifyAnswers(env, fs[2], lastCode)...)
		answers[class] = a
	}
	wantBudget := append(repeat("Bad Request CODE_INVALID", 4), "Bad Request FLOW_LOCKED", "Bad Request FLOW_LOCKED", "Bad Request FLOW_LOCKED")
	for class, a := range answers {
		if strings.Join(a, ",") != strings.Join(wantBudget, ",") {
			t.Errorf("%s account, wrong codes spread over flows:\n got %q\nwant %q", class, a, wantBudget)
		}
	}

	// Two aliases of one real account (address and user id) against two
	// unknown identifiers: a budget shared by the aliases would lock the
	// real pair's third flow (5 + 5 + 1 = 11 > 10) and not the unknown
	// pair's, telling that the address exists and has that id. Budgets are
	// per identifier, so neither locks.
	pairs := map[string][2]string{
		"known":   {"carol@example.test", "1003"},
		"unknown": {"nobody-" + strings.ToLower(testenv.RandomString(8)) + "@example.test", "9" + testenv.RandomString(3)},
	}
	aliasFlows := map[string][]string{}
	for class, p := range pairs {
		for _, ident := range []string{p[0], p[1], p[0]} {
			aliasFlows[class] = append(aliasFlows[class], requestReset(t, env, ident))
		}
	}
	waitProcessed(t, logPath, 14)
	aliasAnswers := map[string][]string{}
	for class, fs := range aliasFlows {
		aliasAnswers[class] = append(verifyAnswers(env, fs[0], repeat("00000000", 5)...), verifyAnswers(env, fs[1], repeat("00000000", 5)...)...)
		aliasAnswers[class] = append(aliasAnswers[class], verifyAnswers(env, fs[2], "00000000")...)
	}
	if k, u := strings.Join(aliasAnswers["known"], ","), strings.Join(aliasAnswers["unknown"], ","); k != u {
		t.Errorf("wrong codes over two aliases tell a real account from two unknown identifiers:\n  known %q\nunknown %q", aliasAnswers["known"], aliasAnswers["unknown"])
	}

	// The hosted pages: the forgot form, then wrong codes on the "sent"
	// page, for another real account and another unknown identifier.
	pageAnswers := map[string][]string{}
	processed := 14
	for class, ident := range map[string]string{"known": "bob@example.test", "unknown": "nobody-" + strings.ToLower(testenv.RandomString(8)) + "@example.test"} {
		b := newPageClient(t, env)
		b.submit("/password-reset/", url.Values{"identifier": {ident}})
		processed++
		waitProcessed(t, logPath, processed)
		for i := 0; i < 6; i++ {
			st, body := b.submit("/password-reset/sent", url.Values{"code": {"00000000"}})
			pageAnswers[class] = append(pageAnswers[class], http.StatusText(st)+" "+pageKind(body))
		}
	}
	if k, u := strings.Join(pageAnswers["known"], ","), strings.Join(pageAnswers["unknown"], ","); k != u || !strings.Contains(k, "locked") {
		t.Errorf("the pages tell the accounts apart (or never lock):\n  known %q\nunknown %q", pageAnswers["known"], pageAnswers["unknown"])
	}
}

// Attack (lookup contract, "exists but disabled"): the app answers its
// lookup with {"id":…, "disabled": true} for an account that must not be
// reset. The account gets no mail, and its flow answers exactly like an
// unknown identifier's, so the attacker cannot tell a disabled account
// from a missing one.
func TestAttackDisabledAccountResetAndEnumeration(t *testing.T) {
	env, up, logPath := faultEnv(t, reviewLimits("100 1m", "10 1h"), "")
	const dora = "dora@example.test"
	up.SetLookup(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		var in struct{ Identifier string }
		_ = json.Unmarshal(body, &in)
		if !strings.EqualFold(in.Identifier, dora) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1004","email":"dora@example.test","name":"Dora Disabled","role":"user","disabled":true}`)
		return true
	})
	doraFlow := requestReset(t, env, dora)
	unknownFlow := requestReset(t, env, "nobody-"+strings.ToLower(testenv.RandomString(8))+"@example.test")
	waitProcessed(t, logPath, 2)
	time.Sleep(300 * time.Millisecond)
	for _, m := range env.Mail.Messages() {
		if len(m.To) > 0 && strings.EqualFold(m.To[0], dora) {
			t.Fatalf("a disabled account got a mail: %q", m.Subject)
		}
	}
	d := verifyAnswers(env, doraFlow, repeat("12345678", 6)...)
	u := verifyAnswers(env, unknownFlow, repeat("12345678", 6)...)
	if strings.Join(d, ",") != strings.Join(u, ",") || d[5] != "Bad Request FLOW_LOCKED" {
		t.Errorf("disabled and unknown flows differ (or never lock):\ndisabled %q\n unknown %q", d, u)
	}
}

// Attack (finding 9, mail flood through aliases): the per-identifier mail
// limit counted each spelling of an identifier on its own, so asking by
// e-mail address, by user id and in another case gave 6 mails against a
// limit of 3. Now the limit counts the resolved account, silently: every
// request still answers 202.
func TestAttackMailFloodThroughAliases(t *testing.T) {
	env, _, logPath := faultEnv(t, reviewLimits("3 15m", "10 1h"), "")
	aliases := []string{alice, "1001", "ALICE@example.test", "1001", "Alice@Example.Test", "1001"}
	for _, a := range aliases {
		requestReset(t, env, a) // fails the test unless 202
	}
	waitProcessed(t, logPath, len(aliases))
	// The three allowed mails arrive; then no more.
	deadline := time.Now().Add(15 * time.Second)
	for resetMailCount(env.Mail) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if n := resetMailCount(env.Mail); n != 3 {
		t.Fatalf("%d reset mails to one account asked for under %d aliases; the limit is 3", n, len(aliases))
	}
}

// pageClient is a browser: a cookie jar, following redirects, posting the
// CSRF token of the page it last saw.
type pageClient struct {
	t    *testing.T
	env  *testenv.Env
	c    *http.Client
	last string
}

func newPageClient(t *testing.T, env *testenv.Env) *pageClient {
	jar, _ := cookiejar.New(nil)
	return &pageClient{t: t, env: env, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// get fetches a page and remembers its body.
func (b *pageClient) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.env.URL + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	b.last = string(data)
	return resp.StatusCode, b.last
}

// submit loads path's form (for its CSRF token) and posts it with form.
func (b *pageClient) submit(path string, form url.Values) (int, string) {
	b.t.Helper()
	b.get(path)
	form.Set("csrf", between(b.last, `name="csrf" value="`, `"`))
	resp, err := b.c.PostForm(b.env.URL+path, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	b.last = string(data)
	return resp.StatusCode, b.last
}

var bodyClassRE = regexp.MustCompile(`<body class="([^"]*)"`)
var h1RE = regexp.MustCompile(`<h1>([^<]*)</h1>`)

// pageKind names a page by its body class and heading, e.g.
// "page-error This link does not work"; "locked" is added for the
// too-many-attempts page.
func pageKind(body string) string {
	k := ""
	if m := bodyClassRE.FindStringSubmatch(body); m != nil {
		k = m[1]
	}
	if m := h1RE.FindStringSubmatch(body); m != nil {
		k += " " + m[1]
	}
	if strings.Contains(strings.ToLower(body), "too many") {
		k += " locked"
	}
	return k
}
