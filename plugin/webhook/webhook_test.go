package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The signature matches the Standard Webhooks reference vector, also when
// the signer's HMAC states are reused by signatures before it and beside
// it (run under -race).
func TestSignMatchesSpecVector(t *testing.T) {
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				_ = s.Sign("msg_other", time.Unix(int64(g*i), 0), []byte("a longer body than the vector's"))
				if got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)); got != want {
					t.Errorf("signature %s, want %s", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A receiver refuses a tampered body, a wrong key and a replay from outside
// the tolerance window.
func TestVerifyRejectsTamperingAndReplay(t *testing.T) {
	s, _ := ParseSecret(testSecret)
	now := time.Unix(1700000000, 0)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1700000000")
	h.Set("webhook-signature", s.Sign("msg_1", now, []byte("body")))
	if err := s.Verify(h, []byte("body"), now, 5*time.Minute); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	if s.Verify(h, []byte("bodY"), now, 5*time.Minute) == nil {
		t.Error("tampered body accepted")
	}
	if s.Verify(h, []byte("body"), now.Add(6*time.Minute), 5*time.Minute) == nil {
		t.Error("replay outside tolerance accepted")
	}
	other, _ := ParseSecret("whsec_" + strings.Repeat("A", 40))
	if other.Verify(h, []byte("body"), now, 5*time.Minute) == nil {
		t.Error("wrong key accepted")
	}
}

func TestParseSecretNeverEchoesTheSecret(t *testing.T) {
	for _, bad := range []string{"supersecretvalue-no-prefix", "whsec_!!!supersecretvalue!!!", "whsec_c2hvcnQ="} {
		_, err := ParseSecret(bad)
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if strings.Contains(err.Error(), "supersecretvalue") || strings.Contains(err.Error(), "c2hvcnQ") {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
}

// Calls are signed, carry the Idempotency-Key, time out, and refuse
// oversized answers.
func TestClientSignsTimesOutAndCaps(t *testing.T) {
	s, _ := ParseSecret(testSecret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := s.Verify(r.Header, body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 100)))
			return
		case "/headers":
			var seen []string
			for _, k := range []string{"Content-Type", "Accept", "User-Agent", "Idempotency-Key", "Cookie"} {
				if len(r.Header.Values(k)) > 1 {
					k += "(twice)"
				}
				seen = append(seen, k+"="+r.Header.Get(k))
			}
			seen = append(seen, fmt.Sprintf("signed=%v", r.Header.Get("Webhook-Id") != ""))
			_, _ = w.Write([]byte(strings.Join(seen, "|")))
			return
		}
		_, _ = w.Write([]byte(r.Header.Get("Idempotency-Key")))
	}))
	defer srv.Close()
	c := &Client{Signer: s, Timeout: 100 * time.Millisecond, MaxResponse: 50}
	resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/ok", Body: []byte(`{}`), IdempotencyKey: "k1"})
	if err != nil || resp.Status != 200 || string(resp.Body) != "k1" {
		t.Fatalf("signed call: %v %+v", err, resp)
	}
	if _, err := c.Do(context.Background(), Request{URL: srv.URL + "/slow?token=SECRET", Body: []byte(`{}`)}); err == nil {
		t.Fatal("no timeout")
	} else if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error repeats the URL query: %v", err)
	}
	// The headers an upstream sees: Do's own over a caller's of the same
	// name, a caller's other ones kept.
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{URL: srv.URL + "/headers", Body: []byte(`{}`), Header: http.Header{"Content-Type": {"text/evil"}, "Cookie": {"a=1"}}},
			"Content-Type=application/json|Accept=application/json|User-Agent=resetgate-test|Idempotency-Key=|Cookie=a=1|signed=true"},
		{Request{URL: srv.URL + "/headers", Body: []byte(`x=1`), ContentType: "application/x-www-form-urlencoded", IdempotencyKey: "k2"},
			"Content-Type=application/x-www-form-urlencoded|Accept=application/json|User-Agent=resetgate-test|Idempotency-Key=k2|Cookie=|signed=true"},
	} {
		c := &Client{Signer: s, UserAgent: "resetgate-test"}
		resp, err := c.Do(context.Background(), tc.req)
		if err != nil || resp.Status != 200 || string(resp.Body) != tc.want {
			t.Errorf("headers seen: %v %d %q, want %q", err, resp.Status, resp.Body, tc.want)
		}
	}
	// An oversized answer keeps its status (a 2xx still means done) but is
	// marked so that nobody parses the cut body.
	if resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/big", Body: []byte(`{}`)}); err != nil || !resp.TooLarge || resp.Status != 200 || len(resp.Body) != 50 {
		t.Fatalf("oversized answer: %v %+v", err, resp)
	}
}

// A hook call follows no redirect: a 3xx is the upstream's answer (an
// upstream cannot send the signed body, or a new password, elsewhere).
// Credentials in the hook URL are sent as Basic authentication unless the
// call carries its own Authorization header.
func TestClientFollowsNoRedirectAndSendsURLCredentials(t *testing.T) {
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		case "/elsewhere":
			followed = true
		default:
			_, _ = w.Write([]byte(r.Header.Get("Authorization")))
		}
	}))
	defer srv.Close()
	c := &Client{}
	resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/moved", Body: []byte(`{"password":"x"}`)})
	if err != nil || resp.Status != http.StatusTemporaryRedirect || followed {
		t.Fatalf("a 307 from the upstream: %v, status %d, followed %v; want the 307 itself", err, resp.Status, followed)
	}
	withUser := strings.Replace(srv.URL, "http://", "http://app:p%40ss@", 1) + "/auth"
	for _, tc := range []struct {
		header http.Header
		want   string
	}{
		{nil, "Basic " + base64.StdEncoding.EncodeToString([]byte("app:p@ss"))},
		{http.Header{"Authorization": {"Bearer own"}}, "Bearer own"},
	} {
		resp, err := c.Do(context.Background(), Request{URL: withUser, Body: []byte(`{}`), Header: tc.header})
		if err != nil || string(resp.Body) != tc.want {
			t.Errorf("Authorization seen with URL credentials and header %v: %v %q, want %q", tc.header, err, resp.Body, tc.want)
		}
	}
}

// A change (a call with an Idempotency-Key) whose request went out in
// full and whose answer never came, or came cut short, is marked
// ErrAnswerLost: the upstream may have acted on it. A call that never
// reached the upstream, or one without a key, is not.
func TestClientMarksALostAnswer(t *testing.T) {
	applied := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		applied <- string(body)
		switch r.URL.Path {
		case "/slow":
			time.Sleep(600 * time.Millisecond)
		case "/cut":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	c := &Client{Timeout: 200 * time.Millisecond}
	for _, tc := range []struct {
		name, url, key string
		lost, reached  bool
	}{
		{"timeout after the request", srv.URL + "/slow", "k1", true, true},
		{"answer cut short", srv.URL + "/cut", "k2", true, true},
		{"timeout, no key", srv.URL + "/slow", "", false, true},
		{"connection refused", refusedURL, "k3", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Do(context.Background(), Request{URL: tc.url, Body: []byte(`{"n":1}`), IdempotencyKey: tc.key})
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrAnswerLost); got != tc.lost {
				t.Fatalf("errors.Is(%v, ErrAnswerLost) = %v; want %v", err, got, tc.lost)
			}
			select {
			case body := <-applied:
				if !tc.reached || body != `{"n":1}` {
					t.Fatalf("the upstream got %q; reached=%v", body, tc.reached)
				}
			case <-time.After(time.Second):
				if tc.reached {
					t.Fatal("the upstream never got the request")
				}
			}
		})
	}
}
