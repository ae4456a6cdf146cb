package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jonboulle/clockwork"

	"github.com/resetgate/resetgate/internal/mailbox"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/webhook"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// upstream is a minimal app: alice is known; it records updates and can
// hold lookups until released.
type upstream struct {
	mu      sync.Mutex
	hold    chan struct{}
	lookups int
	updates []map[string]any
	// refuseUpdates makes /update answer 500 and apply nothing.
	refuseUpdates bool
	// stallUpdates makes /update apply the change, then wait this long
	// before it answers.
	stallUpdates time.Duration
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	switch r.URL.Path {
	case "/lookup":
		if u.hold != nil {
			<-u.hold
		}
		u.mu.Lock()
		u.lookups++
		u.mu.Unlock()
		if body["identifier"] != "alice@example.test" && body["identifier"] != "u1" {
			w.WriteHeader(404)
			return
		}
		_ = json.NewEncoder(w).Encode(User{ID: "u1", Email: "alice@example.test", Name: "Alice"})
	case "/session":
		if c, err := r.Cookie("sid"); err == nil && c.Value == "alice-session" {
			_ = json.NewEncoder(w).Encode(map[string]string{"id": "u1"})
			return
		}
		w.WriteHeader(401)
	case "/verify":
		if body["user_id"] == "u1" && body["password"] == oldPassword {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(401)
		io.WriteString(w, `{"valid": false}`)
	case "/update":
		u.mu.Lock()
		refuse, stall := u.refuseUpdates, u.stallUpdates
		if !refuse {
			u.updates = append(u.updates, body)
		}
		u.mu.Unlock()
		if refuse {
			w.WriteHeader(500)
			return
		}
		time.Sleep(stall)
		w.WriteHeader(204)
	}
}

// oldPassword is alice's current password at the harness upstream.
const oldPassword = "my current long password"

type harness struct {
	e    *Engine
	clk  *clockwork.FakeClock
	up   *upstream
	mail *mailbox.Server
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessLog(t, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), mod)
}

// newHarnessLog is newHarness with the engine logging to log.
func newHarnessLog(t *testing.T, log *zap.Logger, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{clk: clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), up: &upstream{}}
	srv := httptest.NewServer(h.up)
	t.Cleanup(srv.Close)
	var err error
	if h.mail, err = mailbox.Start(mailbox.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.mail.Close() })
	smtp, err := mailer.NewSMTP(mailer.SMTPConfig{Addr: h.mail.Addr(), From: "t@example.test", TLS: "none"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32)),
		Lookup:  Hook{URL: srv.URL + "/lookup", Client: &webhook.Client{}},
		Update:  Hook{URL: srv.URL + "/update", Client: &webhook.Client{}},
		Verify:  Hook{URL: srv.URL + "/verify", Client: &webhook.Client{}},
		Session: Hook{URL: srv.URL + "/session", Client: &webhook.Client{}},
		Mail:    smtp, Clock: h.clk,
	}
	if mod != nil {
		mod(&cfg)
	}
	if h.e, err = New(cfg, st, log); err != nil {
		t.Fatal(err)
	}
	h.e.Start()
	t.Cleanup(h.e.Stop)
	return h
}

func (h *harness) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return h.doAs(t, "", method, path, body)
}

// doAs sends a request with the session cookie of a signed-in user.
func (h *harness) doAs(t *testing.T, session, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: session})
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func (h *harness) resetMail(t *testing.T) (flowID string, m mailbox.Mail) {
	t.Helper()
	st, out := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "alice@example.test"})
	if st != 202 {
		t.Fatalf("request: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := h.mail.WaitFor(ctx, func(m mailbox.Mail) bool { return strings.Contains(m.Subject, "eset") })
	if err != nil {
		t.Fatal(err)
	}
	h.mail.Clear()
	return out["flow_id"].(string), m
}

func tokenOf(t *testing.T, m mailbox.Mail) string {
	i := strings.Index(m.Text, "/new?token=")
	if i < 0 {
		t.Fatalf("no link in %s", m.Text)
	}
	return m.Text[i+len("/new?token=") : i+len("/new?token=")+tokenLen]
}

// Invariant 3: expiry follows the server clock, not the store's TTL nor
// anything the client says: one second past token_ttl the token is dead
// although the store still holds it.
func TestInvariant3ExpiryByServerClock(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.TokenTTL = 15 * time.Minute })
	_, m := h.resetMail(t)
	token := tokenOf(t, m)
	h.clk.Advance(15*time.Minute - time.Second)
	if st, _ := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 200 {
		t.Fatalf("just before expiry: %d", st)
	}
	h.clk.Advance(2 * time.Second)
	if st, out := h.do(t, "GET", "/password-reset/tokens/"+token, nil); st != 404 {
		t.Fatalf("after expiry: %d %v", st, out)
	}
	if st, _ := h.do(t, "POST", "/password-reset/complete", map[string]string{"token": token, "password": "long enough password"}); st != 404 {
		t.Fatalf("complete after expiry: %d", st)
	}
	if len(h.up.updates) != 0 {
		t.Fatal("an expired token reached the upstream")
	}
}

// Invariant 4: the answer does not wait for the lookup, so its time cannot
// depend on whether the account exists. With the upstream's lookup held
// open, request still answers 202.
func TestInvariant4RequestDoesNotWaitForLookup(t *testing.T) {
	hold := make(chan struct{})
	h := newHarness(t, nil)
	h.up.hold = hold
	defer close(hold)
	done := make(chan int, 1)
	go func() {
		st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "alice@example.test"})
		done <- st
	}()
	select {
	case st := <-done:
		if st != 202 {
			t.Fatalf("status %d", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request waited for the upstream lookup: its timing depends on the account")
	}
}

// codeFlow starts a reset and returns its flow id, the mailed code and a
// code that is not it.
func (h *harness) codeFlow(t *testing.T) (flowID, code, wrong string) {
	t.Helper()
	flowID, m := h.resetMail(t)
	code = codeOf(t, m)
	wrong = "00000000"
	if wrong == code {
		wrong = "11111111"
	}
	return flowID, code, wrong
}

// A mailed code trades for a token once; wrong codes lock the flow after
// five attempts, even when the sixth is right (no online brute force).
func TestCodeVerifyAndLock(t *testing.T) {
	h := newHarness(t, nil)
	flowID, code, wrong := h.codeFlow(t)
	st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code[:4] + " " + code[4:]})
	if st != 200 || out["next_step"] != StepNewPasswordRequired || out["token"] == nil {
		t.Fatalf("verify: %d %v", st, out)
	}
	if st, _ := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code}); st != 400 {
		t.Fatalf("second use of a code: %d", st)
	}

	flowID, code, wrong = h.codeFlow(t)
	for n := 1; n <= 5; n++ {
		st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": wrong})
		want := CodeCodeInvalid
		if n == 5 {
			want = CodeFlowLocked
		}
		if st != 400 || errCode(out) != want {
			t.Fatalf("wrong code %d: %d %v", n, st, out)
		}
	}
	if st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code}); st != 400 || errCode(out) != "FLOW_LOCKED" {
		t.Fatalf("right code after lock: %d %v", st, out)
	}
}

// Racing guesses cannot slip past the limit: 40 wrong codes sent at once
// to one flow are compared at most five times (each attempt is counted in
// the store before the comparison, and Badger's increments of one counter
// share commits), so four answer CODE_INVALID and the rest FLOW_LOCKED;
// the right code afterwards finds the flow locked.
func TestRacingGuessesStopAtTheLimit(t *testing.T) {
	h := newHarness(t, nil)
	flowID, code, wrong := h.codeFlow(t)
	const guesses = 40
	answers := make(chan string, guesses)
	var wg sync.WaitGroup
	for i := 0; i < guesses; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": wrong})
			answers <- fmt.Sprint(st, " ", errCode(out))
		}()
	}
	wg.Wait()
	close(answers)
	seen := map[string]int{}
	for a := range answers {
		seen[a]++
	}
	if want := map[string]int{"400 " + string(CodeCodeInvalid): 4, "400 " + string(CodeFlowLocked): guesses - 4}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("%d racing wrong codes: %v, want %v", guesses, seen, want)
	}
	if st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code}); st != 400 || errCode(out) != CodeFlowLocked {
		t.Fatalf("right code after the racing guesses: %d %v", st, out)
	}
}

// Code expiry follows code_ttl on the server clock.
func TestCodeExpires(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CodeTTL = 10 * time.Minute })
	flowID, m := h.resetMail(t)
	h.clk.Advance(10*time.Minute + time.Second)
	if st, out := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": codeOf(t, m)}); st != 400 || errCode(out) != "CODE_INVALID" {
		t.Fatalf("expired code: %d %v", st, out)
	}
}

var mailCodeRE = regexp.MustCompile(`\b(\d{4}) (\d{4})\b`)

func codeOf(t *testing.T, m mailbox.Mail) string {
	t.Helper()
	sm := mailCodeRE.FindStringSubmatch(m.Text)
	if sm == nil {
		t.Fatalf("no code in %s", m.Text)
	}
	return sm[1] + sm[2]
}

func errCode(out map[string]any) ErrorCode {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return ErrorCode(errs[0].(map[string]any)["code"].(string))
}

// Invariant 1: tokens are 256-bit, codes 8 digits and uniform.
func TestTokenAndCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok, _ := newToken()
		if !wellFormedToken(tok) || seen[tok] {
			t.Fatalf("bad or repeated token %q", tok)
		}
		seen[tok] = true
		c, _ := newCode()
		if _, ok := normaliseCode(c); !ok {
			t.Fatalf("bad code %q", c)
		}
	}
}

// Invariant 6 (per identifier), counted per resolved account (review
// finding 9): over the limit the answer stays 202 (it says nothing about
// the account) but no mail goes out, whichever alias (e-mail address or
// user id) named the account, so a victim's inbox cannot be flooded.
func TestPerIdentifierLimitIsSilent(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.PerIdentifier = Limit{Count: 2, Window: time.Hour}
		c.Workers = 1 // jobs in order, so the sentinel below comes last
	})
	for i, ident := range []string{"alice@example.test", "u1", "alice@example.test", "u1"} {
		if st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": ident}); st != 202 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "sentinel@example.test"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.up.mu.Lock()
		n := h.up.lookups
		h.up.mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d lookups", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the outbox delivers in the background
	resets := 0
	for _, m := range h.mail.Messages() {
		if strings.Contains(m.Subject, "eset") {
			resets++
		}
	}
	if resets != 2 {
		t.Fatalf("%d reset mails for one account named by two aliases, want 2 (the per-identifier limit)", resets)
	}
}

// A reload or shutdown stops the engine; reset requests it already
// answered 202 but had not yet processed are processed before Stop
// returns, not dropped.
func TestStopDrainsQueuedRequests(t *testing.T) {
	hold := make(chan struct{})
	h := newHarness(t, func(c *Config) { c.Workers = 1 })
	h.up.hold = hold
	for i := 0; i < 5; i++ {
		if st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": fmt.Sprintf("user%d@example.test", i)}); st != 202 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	stopped := make(chan struct{})
	go func() {
		h.e.Stop()
		close(stopped)
	}()
	time.Sleep(50 * time.Millisecond)
	close(hold) // the app answers again
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
	h.up.mu.Lock()
	defer h.up.mu.Unlock()
	if h.up.lookups != 5 {
		t.Fatalf("%d of 5 queued requests were looked up before Stop returned", h.up.lookups)
	}
}

// The SMTP sender keeps its connection open between mails; Stop (a
// reload, a shutdown) closes it.
func TestStopClosesMailConnection(t *testing.T) {
	h := newHarness(t, nil)
	h.resetMail(t)
	if accepted, open := h.mail.Connections(); accepted != 1 || open != 1 {
		t.Fatalf("after a mail: %d connections accepted, %d open; want 1, 1", accepted, open)
	}
	h.e.Stop()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, open := h.mail.Connections(); open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mail connection stayed open after Stop")
		}
	}
}

// A Caddy reload stops the old engine (Handler.Cleanup) while the old
// server still answers the requests in flight: a request answered 202
// after Stop is in the store, but no worker of the stopped engine takes
// it. The next engine on the same store looks it up and sends its mail.
func TestRequestAnsweredAfterStopIsTakenByTheNextEngine(t *testing.T) {
	h := newHarness(t, nil)
	h.e.Stop()
	idents := []string{"alice@example.test", "nobody1@example.test", "nobody2@example.test"}
	for _, ident := range idents {
		if st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": ident}); st != 202 {
			t.Fatalf("request for %s answered %d by the stopped engine, want 202", ident, st)
		}
	}
	next, err := New(h.e.cfg, h.e.store, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	next.Start()
	defer next.Stop()
	h.clk.Advance(requestGrace) // until then the entries are left to the engine that took them
	waitMail(t, h.mail, 10*time.Second)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		h.up.mu.Lock()
		n := h.up.lookups
		h.up.mu.Unlock()
		if n == len(idents) {
			break
		}
		if n > len(idents) || time.Now().After(deadline) {
			t.Fatalf("%d lookups for %d requests answered 202 by the stopped engine", n, len(idents))
		}
	}
}
