package caddymodule_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Attack (finding 1, enumeration through verify timing): a wrong code
// typed into a real account's flow took about 46 µs longer than into an
// unknown identifier's (z = 6.8 over 600 + 600 calls on loopback): the
// unknown flow did not exist, so verify returned after one store read,
// while a real one was counted. Now both are stored flows and take the
// same path; this test sends wrong codes into flows of known and unknown
// identifiers, alternated on every connection, and fails when the
// answers differ in status, body or headers, or when the timing tells the
// classes apart in two independent batches: a two-sided Mann-Whitney U
// test at p < 0.001 AND a median gap above 25 µs (the order of the old
// leak, far above what a remote attacker resolves through a network, and
// small enough that the original code fails it: see
// TestEnumerationRequestIndistinguishable for the method).
func TestEnumerationVerifyIndistinguishable(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of requests through Caddy; skipped with -short")
	}
	const (
		flowsPerClass = 400
		attempts      = 2 // wrong codes per flow per batch; 2 batches stay under the lock (5)
		workers       = 2
		practicalNs   = float64(25 * time.Microsecond)
		alpha         = 0.001
	)
	env, _, logPath := faultEnv(t, "\t\trate_limit {\n\t\t\tper_ip 1000000 1m\n\t\t\tper_identifier 1000000 1m\n\t\t\taccount_failures 1000000 1h\n\t\t}", "")

	// Three known accounts and three unknown identifiers of the same
	// lengths, each asked for many times: the same number of budget keys
	// on both sides.
	var known, unknown []string
	for _, a := range legacyapp.DemoAccounts() {
		known = append(known, a.Email)
		local, domain, _ := strings.Cut(a.Email, "@")
		unknown = append(unknown, strings.ToLower(testenv.RandomString(len(local)))+"@"+domain)
	}
	var knownFlows, unknownFlows []string
	for i := 0; i < flowsPerClass; i++ {
		knownFlows = append(knownFlows, requestReset(t, env, known[i%len(known)]))
		unknownFlows = append(unknownFlows, requestReset(t, env, unknown[i%len(unknown)]))
	}
	waitProcessed(t, logPath, 2*flowsPerClass)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
	t.Cleanup(client.CloseIdleConnections)
	send := func(flow string) enumAnswer {
		body := []byte(`{"flow_id":"` + flow + `","code":"00000000"}`)
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return enumAnswer{err: err.Error()}
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := enumAnswer{status: resp.StatusCode, took: time.Since(start), shape: string(data)}
		if err != nil {
			a.err = err.Error()
		}
		h := resp.Header.Clone()
		h.Del("Date")
		a.headers = fmt.Sprint(h)
		return a
	}
	// Warm the connections and the code paths.
	for i := 0; i < 20; i++ {
		send(testenv.RandomString(43))
	}

	batch := func() (ka, ua []enumAnswer) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var k, u []enumAnswer
				for i := w; i < flowsPerClass; i += workers {
					for a := 0; a < attempts; a++ {
						if (i+a)%2 == 0 {
							k = append(k, send(knownFlows[i]))
							u = append(u, send(unknownFlows[i]))
						} else {
							u = append(u, send(unknownFlows[i]))
							k = append(k, send(knownFlows[i]))
						}
					}
				}
				mu.Lock()
				ka, ua = append(ka, k...), append(ua, u...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return ka, ua
	}
	check := func(ka, ua []enumAnswer) (leaks bool, sign float64) {
		ref := ka[0]
		if ref.status != http.StatusBadRequest || !strings.Contains(ref.shape, `"CODE_INVALID"`) {
			t.Fatalf("a wrong code in a known account's flow: %d %s %s", ref.status, ref.shape, ref.err)
		}
		diffs := 0
		for class, as := range map[string][]enumAnswer{"known": ka, "unknown": ua} {
			for _, a := range as {
				if a.err != "" || a.status != ref.status || a.shape != ref.shape || a.headers != ref.headers {
					if diffs++; diffs <= 3 {
						t.Errorf("%s answer differs: %d %s %s %s\nwant %d %s %s", class, a.status, a.shape, a.headers, a.err, ref.status, ref.shape, ref.headers)
					}
				}
			}
		}
		if diffs > 0 {
			t.Fatalf("%d answers differ in status, body or headers", diffs)
		}
		kt, ut := sampleDurations(ka), sampleDurations(ua)
		mk, mu := sampleMedian(kt), sampleMedian(ut)
		u, p := mannWhitneyU(kt, ut)
		t.Logf("%d + %d wrong codes: median known %.1f µs, unknown %.1f µs, difference %+.1f µs; p90 known %.1f µs, unknown %.1f µs; Mann-Whitney U=%.0f p=%.3g",
			len(kt), len(ut), mk/1e3, mu/1e3, (mk-mu)/1e3, sampleQuantile(kt, 0.9)/1e3, sampleQuantile(ut, 0.9)/1e3, u, p)
		return p < alpha && math.Abs(mk-mu) > practicalNs, math.Copysign(1, mk-mu)
	}

	leaks, sign := check(batch())
	if leaks {
		t.Logf("timing gap in the first batch; measuring a confirmation batch")
		again, sign2 := check(batch())
		if again && sign2 == sign {
			t.Errorf("verify timing tells known from unknown accounts in two independent batches (difference > 25 µs, p < %g)", alpha)
		}
	}
}
