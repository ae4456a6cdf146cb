package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/examples/legacyapp"
	"github.com/resetgate/resetgate/internal/testenv"
)

// Issue 8.2 — invariant 4 under load: `POST /request` answers known and
// unknown accounts identically in status, headers and body (apart from the
// random flow_id), and in time.
//
// The known accounts' lookup is made SLOW at the upstream (+20 ms, known
// users only), so a handler that looked the account up before answering
// would show a ~20 ms gap at the median and fail at once.
//
// Why the timing check does not flake: thousands of samples per class,
// known and unknown alternated on every connection (so drift in the
// machine's load, GC, Badger compactions and the background work that known
// requests trigger — lookups, mail — hits both classes alike), and the test
// fails only when BOTH
//
//   - a two-sided Mann-Whitney U test (rank based: insensitive to the long
//     tail of a loaded, race-instrumented machine) rejects "same
//     distribution" at p < 0.001, AND
//   - the medians differ by more than 0.5 ms (the practical threshold:
//     far under the 20 ms an inline lookup costs here, and under what a
//     remote attacker can resolve over a network; the benchmark in bench/
//     measures the < 0.1 ms design target on quiet hardware).
//
// A real but tiny bias (a few bytes of JSON, a cache line) may well be
// "significant" with 2,500 samples; it is not a timing oracle, hence the
// second condition. A noisy run may show a large median gap by chance; it
// is then not significant, hence the first. And a batch that fails both is
// measured again: the test fails only when an independent batch confirms
// the gap in the same direction (an inline lookup does, every time).
func TestEnumerationRequestIndistinguishable(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of requests through Caddy; skipped with -short")
	}
	const (
		perClass    = 2500 // measured samples per class (known, unknown)
		warmup      = 200  // requests sent first and not measured
		workers     = 4
		slowLookup  = 20 * time.Millisecond
		practicalNs = float64(500 * time.Microsecond)
		alpha       = 0.001
	)

	env := testenv.New(t, testenv.Options{NoStart: true})

	// The upstream's lookup, slowed down for known users only.
	known := map[string]bool{}
	for _, a := range legacyapp.DemoAccounts() {
		known[strings.ToLower(a.Email)] = true
	}
	var slowed, fast atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/internal/users/lookup" {
			var in struct{ Identifier string }
			_ = json.Unmarshal(body, &in)
			if known[strings.ToLower(in.Identifier)] {
				slowed.Add(1)
				time.Sleep(slowLookup)
			} else {
				fast.Add(1)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		env.App.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	// The slowed lookups fall behind: a queue large enough for every
	// request keeps them all 202 (a full queue answers 503 SERVICE_BUSY).
	cf := env.Caddyfile("\t\trate_limit {\n\t\t\tper_ip 1000000 1m\n\t\t\tper_identifier 1000000 1m\n\t\t\tqueue_size 20000\n\t\t}")
	cf = cfReplace(t, cf, "lookup "+env.AppURL, "lookup "+slow.URL)
	env.Load(cf)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * workers, MaxIdleConnsPerHost: 2 * workers, IdleConnTimeout: time.Minute,
	}}
	t.Cleanup(client.CloseIdleConnections)

	// identifiers: known ones, and unknown ones of the same length (so the
	// two request bodies have the same size).
	var knownIDs []string
	for _, a := range legacyapp.DemoAccounts() {
		knownIDs = append(knownIDs, a.Email)
	}
	unknownID := func(i int) string {
		k := knownIDs[i%len(knownIDs)]
		local, domain, _ := strings.Cut(k, "@")
		return strings.ToLower(testenv.RandomString(len(local))) + "@" + domain
	}

	send := func(ident string) enumAnswer {
		body := []byte(`{"identifier":"` + ident + `"}`)
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/password-reset/request", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return enumAnswer{err: err.Error()}
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil {
			return enumAnswer{err: err.Error()}
		}
		a := enumAnswer{status: resp.StatusCode, took: took}
		var m map[string]any
		if json.Unmarshal(data, &m) == nil {
			if id, ok := m["flow_id"].(string); ok && id != "" {
				data = bytes.Replace(data, []byte(id), []byte("<flow_id>"), 1)
			}
		}
		a.shape = string(data)
		h := resp.Header.Clone()
		h.Del("Date")
		var keys []string
		for k := range h {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s: %s\n", k, strings.Join(h[k], ", "))
		}
		a.headers = sb.String()
		return a
	}

	for i := 0; i < warmup; i++ {
		if i%2 == 0 {
			send(knownIDs[i%len(knownIDs)])
		} else {
			send(unknownID(i))
		}
	}

	// batch sends perClass requests of each class. Every worker alternates
	// known and unknown; half of them start with known, half with unknown.
	batch := func() (knownAns, unknownAns []enumAnswer, elapsed time.Duration) {
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ka, ua []enumAnswer
				for i := 0; i < 2*perClass/workers; i++ {
					if (i+w)%2 == 0 {
						ka = append(ka, send(knownIDs[(i/2)%len(knownIDs)]))
					} else {
						ua = append(ua, send(unknownID(i/2)))
					}
				}
				mu.Lock()
				knownAns = append(knownAns, ka...)
				unknownAns = append(unknownAns, ua...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return knownAns, unknownAns, time.Since(start)
	}

	// check compares one batch: status, body (flow_id aside) and headers
	// identical every time, and the timing. It reports whether the timing
	// tells the classes apart (significant AND larger than the practical
	// threshold), and the sign of the difference.
	var ref *enumAnswer
	check := func(knownAns, unknownAns []enumAnswer, elapsed time.Duration) (leaks bool, sign float64) {
		if ref == nil {
			ref = &knownAns[0]
			if ref.err != "" || ref.status != http.StatusAccepted {
				t.Fatalf("first known answer: status %d, err %q, body %s", ref.status, ref.err, ref.shape)
			}
			if !strings.Contains(ref.shape, `"flow_id":"<flow_id>"`) {
				t.Fatalf("answer without a flow_id: %s", ref.shape)
			}
		}
		diffs := 0
		for class, as := range map[string][]enumAnswer{"known": knownAns, "unknown": unknownAns} {
			for _, a := range as {
				if a.err != "" || a.status != ref.status || a.shape != ref.shape || a.headers != ref.headers {
					diffs++
					if diffs <= 3 {
						t.Errorf("%s answer differs from the first known one:\n got %d %q err=%q\n%s\nwant %d %q\n%s",
							class, a.status, a.shape, a.err, a.headers, ref.status, ref.shape, ref.headers)
					}
				}
			}
		}
		if diffs > 0 {
			t.Fatalf("%d of %d answers differ in status, body or headers", diffs, len(knownAns)+len(unknownAns))
		}

		kt, ut := sampleDurations(knownAns), sampleDurations(unknownAns)
		if len(kt) < 2000 || len(ut) < 2000 {
			t.Fatalf("too few samples: %d known, %d unknown", len(kt), len(ut))
		}
		mk, mu := sampleMedian(kt), sampleMedian(ut)
		diff := mk - mu
		u, p := mannWhitneyU(kt, ut)
		t.Logf("%d requests in %s (%.0f/s); median known %.3f ms, unknown %.3f ms, difference %+.3f ms; p90 known %.3f ms, unknown %.3f ms; Mann-Whitney U=%.0f p=%.3g",
			len(kt)+len(ut), elapsed.Round(time.Millisecond), float64(len(kt)+len(ut))/elapsed.Seconds(),
			mk/1e6, mu/1e6, diff/1e6, sampleQuantile(kt, 0.9)/1e6, sampleQuantile(ut, 0.9)/1e6, u, p)
		return p < alpha && math.Abs(diff) > practicalNs, math.Copysign(1, diff)
	}

	leaks, sign := check(batch())
	if leaks {
		// A gap this large should not happen by chance, but a machine
		// whose load changed under the batch can fake one: an independent
		// batch must show it again, in the same direction.
		t.Logf("timing gap in the first batch; measuring a confirmation batch")
		again, sign2 := check(batch())
		if again && sign2 == sign {
			t.Errorf("request timing tells known from unknown accounts in two independent batches (see the medians above: difference > 0.5 ms, p < %g)", alpha)
		}
	}

	// The slow path was live while we measured: the known users' lookups
	// did go through the 20 ms upstream (in the background).
	if slowed.Load() == 0 || fast.Load() == 0 {
		t.Errorf("the upstream saw %d slow (known) and %d fast (unknown) lookups; the test did not exercise the background lookup", slowed.Load(), fast.Load())
	}
	t.Logf("upstream lookups during the test: %d known (slowed by %s), %d unknown", slowed.Load(), slowLookup, fast.Load())
}

// cfReplace replaces old with new in s, failing the test when old is
// not there.
func cfReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found in:\n%s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// enumAnswer is one measured answer to a request call.
type enumAnswer struct {
	status  int
	shape   string // body with the flow_id replaced
	headers string // every header but Date, in canonical order
	took    time.Duration
	err     string
}

func sampleDurations(as []enumAnswer) []float64 {
	out := make([]float64, 0, len(as))
	for _, a := range as {
		out = append(out, float64(a.took))
	}
	return out
}

func sampleMedian(xs []float64) float64 { return sampleQuantile(xs, 0.5) }

// sampleQuantile returns the q-quantile of xs (linear interpolation).
func sampleQuantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// mannWhitneyU returns the U statistic of a against b and the two-sided p
// value of the normal approximation, with the tie correction and a
// continuity correction (exact enough for samples in the thousands).
func mannWhitneyU(a, b []float64) (u, p float64) {
	type obs struct {
		v     float64
		first bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n1, n2 := float64(len(a)), float64(len(b))
	n := n1 + n2
	var rankSum, tieTerm float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j, averaged
		for k := i; k < j; k++ {
			if all[k].first {
				rankSum += rank
			}
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	u = rankSum - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	if sd == 0 {
		return u, 1
	}
	z := (math.Abs(u-mean) - 0.5) / sd
	if z < 0 {
		z = 0
	}
	return u, math.Erfc(z / math.Sqrt2)
}
