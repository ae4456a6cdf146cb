package policy

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/plugin/duration"
)

// rangeServer speaks the Pwned Passwords range protocol for a few known
// passwords, with padding.
type rangeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

func hashOf(pw string) string {
	s := sha1.Sum([]byte(pw))
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// newRangeServer answers for breached (password → count). notBreached
// passwords get their own suffix as a padding line with count 0, which must
// not count as a hit.
func newRangeServer(t testing.TB, breached map[string]int, notBreached ...string) *rangeServer {
	t.Helper()
	rs := &rangeServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.requests = append(rs.requests, r.Clone(context.Background()))
		rs.mu.Unlock()
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if !ok || len(prefix) != 5 {
			http.NotFound(w, r)
			return
		}
		var lines []string
		for pw, n := range breached {
			if h := hashOf(pw); h[:5] == prefix {
				lines = append(lines, fmt.Sprintf("%s:%d", h[5:], n))
			}
		}
		if r.Header.Get("Add-Padding") == "true" {
			for _, pw := range notBreached {
				if h := hashOf(pw); h[:5] == prefix {
					lines = append(lines, h[5:]+":0")
				}
			}
			for i := range 300 {
				h := hashOf(fmt.Sprint("padding", i))
				lines = append(lines, h[5:]+":0")
			}
		}
		// Lower-case suffixes and CRLF are accepted as well.
		lines = append(lines, strings.ToLower(hashOf("unrelated")[5:])+":12")
		slices.Sort(lines)
		fmt.Fprint(w, strings.Join(lines, "\r\n"))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rangeServer) lastRequests() []*http.Request {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.requests)
}

func TestBreachedRangeAPI(t *testing.T) {
	rs := newRangeServer(t, map[string]int{"Tr0ub4dor&3xyz": 3, "seen-once-only!": 1}, "never-seen-Qz7#vL")
	b := &BreachedCheck{URL: rs.URL + "/range/"}
	ctx := context.Background()
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"Tr0ub4dor&3xyz", true},
		{"seen-once-only!", true},
		{"never-seen-Qz7#vL", false}, // present only as padding (count 0)
		{"Xk7#vQ2!pL9z-ok", false},
	} {
		got, err := b.Check(ctx, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("Check(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	// MinCount raises the bar.
	b.MinCount = 2
	if got, _ := b.Check(ctx, "seen-once-only!"); got {
		t.Error("MinCount 2 refused a password seen once")
	}
	if got, _ := b.Check(ctx, "Tr0ub4dor&3xyz"); !got {
		t.Error("MinCount 2 accepted a password seen 3 times")
	}

	// What went over the wire: the 5-character prefix, nothing more.
	prefixOnly := regexp.MustCompile(`^/range/[0-9A-F]{5}$`)
	reqs := rs.lastRequests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, r := range reqs {
		pw := []string{"Tr0ub4dor&3xyz", "seen-once-only!", "never-seen-Qz7#vL", "Xk7#vQ2!pL9z-ok", "seen-once-only!", "Tr0ub4dor&3xyz"}[i]
		h := hashOf(pw)
		if r.Method != http.MethodGet || !prefixOnly.MatchString(r.URL.Path) || r.URL.Path != "/range/"+h[:5] || r.URL.RawQuery != "" {
			t.Errorf("request %d: %s %s?%s", i, r.Method, r.URL.Path, r.URL.RawQuery)
		}
		if r.Header.Get("Add-Padding") != "true" {
			t.Errorf("request %d: Add-Padding = %q", i, r.Header.Get("Add-Padding"))
		}
		dump := fmt.Sprint(r.URL, r.Header)
		if strings.Contains(dump, pw) || strings.Contains(strings.ToUpper(dump), h[5:]) {
			t.Errorf("request %d carries the password or the hash suffix: %s", i, dump)
		}
	}
}

func TestBreachedInPolicy(t *testing.T) {
	rs := newRangeServer(t, map[string]int{"Tr0ub4dor&3xyz": 3})
	p := defaults()
	p.Breached = &BreachedCheck{URL: rs.URL + "/range/"}
	ctx := context.Background()
	vs, err := p.CheckContext(ctx, Input{Password: "Tr0ub4dor&3xyz"})
	if err != nil {
		t.Fatal(err)
	}
	wantDetails(t, vs, Breached)
	if vs[0].Pointer != "/password" {
		t.Fatal(vs)
	}
	// Listed together with the offline violations and SAME_AS_OLD.
	vs, err = p.CheckContext(ctx, Input{
		Password: "Tr0ub4dor&3xyz", Confirm: "x", HasConfirm: true,
		OldPasswordMatches: func(context.Context, string) (bool, error) { return true, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDetails(t, vs, Mismatch, Breached, SameAsOld)
	// Check (offline) does not ask the service.
	n := len(rs.lastRequests())
	wantDetails(t, p.Check(Input{Password: "Tr0ub4dor&3xyz"}))
	// Nor does CheckContext for a TOO_LONG password.
	vs, _ = p.CheckContext(ctx, Input{Password: strings.Repeat("x", 129)})
	wantDetails(t, vs, TooLong)
	if len(rs.lastRequests()) != n {
		t.Fatal("the service was asked")
	}
}

// failingServers returns the ways a range service can fail.
func failingServers(t *testing.T) map[string]string {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	status500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "oops", http.StatusInternalServerError)
	}))
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>Please sign in to the Wi-Fi</body></html>")
	}))
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := hashOf("x")[5:] + ":0\r\n"
		for range maxRangeBody/len(line) + 2 {
			if _, err := fmt.Fprint(w, line); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		close(release)
		status500.Close()
		slow.Close()
		portal.Close()
		huge.Close()
	})
	return map[string]string{
		"down": down.URL + "/range/", "500": status500.URL + "/range/", "slow": slow.URL + "/range/",
		"malformed": portal.URL + "/range/", "too large": huge.URL + "/range/",
	}
}

func TestBreachedFailures(t *testing.T) {
	const pw = "Xk7#vQ2!pL9z-ok"
	prefix := hashOf(pw)[:5]
	for name, u := range failingServers(t) {
		t.Run(name, func(t *testing.T) {
			b := &BreachedCheck{URL: u, Timeout: duration.Duration(100 * time.Millisecond)}
			start := time.Now()
			got, err := b.Check(context.Background(), pw)
			if got || !errors.Is(err, ErrBreachedUnavailable) {
				t.Fatalf("Check = %v, %v", got, err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("Timeout not applied: %v", time.Since(start))
			}
			// Errors go to logs: never the password, its hash, or the URL
			// that carries the prefix.
			if msg := err.Error(); strings.Contains(msg, pw) || strings.Contains(strings.ToUpper(msg), prefix) || strings.Contains(msg, "/range/") {
				t.Fatalf("error leaks: %s", msg)
			}

			// Fail closed (the default): the error, with the offline
			// violations, and no BREACHED.
			p := defaults()
			p.Breached = b
			vs, err := p.CheckContext(context.Background(), Input{Password: pw, Confirm: "x", HasConfirm: true})
			if !errors.Is(err, ErrBreachedUnavailable) {
				t.Fatalf("fail closed: err = %v", err)
			}
			wantDetails(t, vs, Mismatch)

			// Fail open: no violation, no error, the cause reported.
			var reported []error
			b.FailOpen = true
			b.OnFailOpen = func(err error) { reported = append(reported, err) }
			vs, err = p.CheckContext(context.Background(), Input{Password: pw})
			if err != nil || len(vs) != 0 {
				t.Fatalf("fail open: %v, %v", vs, err)
			}
			if len(reported) != 1 || !errors.Is(reported[0], ErrBreachedUnavailable) {
				t.Fatalf("OnFailOpen got %v", reported)
			}
		})
	}
}

func TestBreachedCallerCancelled(t *testing.T) {
	// The caller's context ends: an error even when failing open (the
	// password is not let through because the client went away).
	srv := failingServers(t)["slow"]
	p := defaults()
	p.Breached = &BreachedCheck{URL: srv, FailOpen: true, OnFailOpen: func(error) { t.Error("OnFailOpen called") }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.CheckContext(ctx, Input{Password: "Xk7#vQ2!pL9z-ok"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestBreachedParallelWithOldPassword(t *testing.T) {
	// The two online checks run side by side: the old-password callback
	// waits for the range request to arrive, which it could not do if the
	// checks ran one after the other.
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	defer srv.Close()
	p := defaults()
	p.Breached = &BreachedCheck{URL: srv.URL + "/range/", Timeout: duration.Duration(time.Minute)}
	vs, err := p.CheckContext(context.Background(), Input{Password: "Xk7#vQ2!pL9z-ok", OldPasswordMatches: func(context.Context, string) (bool, error) {
		defer close(release)
		select {
		case <-arrived:
			return false, nil
		case <-time.After(10 * time.Second):
			return false, errors.New("the range request never arrived while the callback ran")
		}
	}})
	if err != nil || len(vs) != 0 {
		t.Fatalf("%v, %v", vs, err)
	}
}

func BenchmarkBreachedLocal(b *testing.B) {
	rs := newRangeServer(b, map[string]int{"Tr0ub4dor&3xyz": 3})
	c := &BreachedCheck{URL: rs.URL + "/range/"}
	for b.Loop() {
		if _, err := c.Check(context.Background(), "Xk7#vQ2!pL9z-ok"); err != nil {
			b.Fatal(err)
		}
	}
}
