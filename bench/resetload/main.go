// Command resetload drives the token side of the benchmark: it issues reset
// tokens through resetgate's admin API and completes them, as fast as the
// server answers, and times the hash function the update hook uses.
//
//	resetload issue    -addr 127.0.0.1:8080 -bearer <admin token> -n 3000 -c 8 -from 0 -out tokens.txt
//	resetload complete -addr 127.0.0.1:8080 -in tokens.txt -c 8
//	resetload hash     -format bcrypt -cost 12 -n 4
//	resetload gauge
//
// issue POSTs <prefix>/admin/users/b-<i>/reset-token for i in [from,
// from+n), one user per token (completing a token ends every other open
// token of its user, so users must not repeat), and writes the tokens, one
// a line. bench/upstream knows the user ids b-<i>, with role "user".
//
// complete POSTs <prefix>/complete {"token", "password", "confirm"} once for
// every token in the file, with -c requests in flight, and expects 200.
//
// Both print one line for bench/run.sh:
//
//	RESULT op=issue|complete conns=… n=… ok=… secs=… rps=… p50_us=… p90_us=… p99_us=… max_us=… errors=… unexpected=… statuses=200:…,…
//
// rps counts answered requests with the expected status only (ok / secs).
// errors are transport errors (no answer); unexpected are answers with
// another status.
//
// hash prints the wall and CPU time of one hash with plugin/passhash, the
// code the update hook hashes with, run serially in this process:
//
//	HASH format=bcrypt cost=12 n=… wall_us=… cpu_us=…
//
// gauge measures what this machine charges for the work a request is made
// of besides computing, in this process: a system call (getppid, the
// cheapest there is) and a round trip of 32 bytes over a loopback TCP
// connection whose two ends are in this process (two writes, two reads and
// the wake-ups between them). Both are CPU time per operation:
//
//	GAUGE syscall_ns=… roundtrip_us=…
//
// On the bench's virtual machine a system call costs about 1 µs of CPU
// (tens of nanoseconds on bare metal), and both figures rise by a fifth
// or more on stretches when the host is busy. Caddy's CPU per complete
// follows the round trip closely (BENCHMARKS.md, round twenty), so
// bench/run.sh prints both beside its figures, to show which stretch a run
// fell on. The guest cannot tell such time apart: /proc/stat counts no
// steal time, so it is charged to whatever ran.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/resetgate/resetgate/plugin/passhash"
)

// Password is what every complete sets: long enough for the default
// policy, not in its blocklist, unrelated to the bench users' addresses.
// It holds no digits: the users are b-N (known-N@bench.test), and a
// password with "7319" in it breaks the policy for user b-7319.
const Password = "quartz-Lantern-fjord-meadow-Tx"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "issue":
		err = issue(os.Args[2:])
	case "complete":
		err = complete(os.Args[2:])
	case "hash":
		err = hash(os.Args[2:])
	case "gauge":
		err = gauge(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "resetload:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: resetload issue|complete|hash|gauge [flags] (see the package documentation)")
	os.Exit(2)
}

func client(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// result collects what the workers measured.
type result struct {
	mu       sync.Mutex
	lat      []time.Duration
	statuses map[int]int
	errors   int
	firstErr error
}

func (r *result) add(lat time.Duration, status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
		return
	}
	r.lat = append(r.lat, lat)
	r.statuses[status]++
}

func (r *result) print(op string, conns, n, want int, secs float64) {
	slices.Sort(r.lat)
	pct := func(p float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		i := int(p/100*float64(len(r.lat)) + 0.5)
		if i >= len(r.lat) {
			i = len(r.lat) - 1
		}
		return float64(r.lat[i]) / float64(time.Microsecond)
	}
	var codes []int
	for c := range r.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d:%d", c, r.statuses[c]))
	}
	ok := r.statuses[want]
	unexpected := len(r.lat) - ok
	statuses := strings.Join(st, ",")
	if statuses == "" {
		statuses = "none"
	}
	fmt.Printf("RESULT op=%s conns=%d n=%d ok=%d secs=%.3f rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f errors=%d unexpected=%d statuses=%s\n",
		op, conns, n, ok, secs, float64(ok)/secs, pct(50), pct(90), pct(99), pct(100), r.errors, unexpected, statuses)
	if r.firstErr != nil {
		fmt.Fprintf(os.Stderr, "resetload %s: first transport error: %v\n", op, r.firstErr)
	}
}

// post sends one JSON POST and returns the status and the body.
func post(cl *http.Client, url, bearer string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}

// each runs fn(i) for i in [0, n) on conns workers and times the whole.
func each(n, conns int, fn func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
	return time.Since(start).Seconds()
}

func issue(args []string) error {
	fs := flag.NewFlagSet("issue", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "resetgate's site, host:port")
	prefix := fs.String("prefix", "/password-reset", "resetgate's prefix")
	bearer := fs.String("bearer", "", "admin bearer token (tokens:issue)")
	n := fs.Int("n", 1000, "tokens to issue")
	from := fs.Int("from", 0, "first user number (users b-<from> … b-<from+n-1>)")
	conns := fs.Int("c", 8, "requests in flight")
	out := fs.String("out", "", "write the tokens here, one a line")
	_ = fs.Parse(args)
	if *bearer == "" || *out == "" {
		return errors.New("issue: -bearer and -out are required")
	}
	cl := client(*conns)
	tokens := make([]string, *n)
	res := &result{statuses: map[int]int{}}
	secs := each(*n, *conns, func(i int) {
		url := fmt.Sprintf("http://%s%s/admin/users/b-%d/reset-token", *addr, *prefix, *from+i)
		t0 := time.Now()
		status, body, err := post(cl, url, *bearer, nil)
		lat := time.Since(t0)
		if err == nil && status == http.StatusCreated {
			var v struct {
				Token string `json:"token"`
			}
			if jerr := json.Unmarshal(body, &v); jerr != nil || v.Token == "" {
				err = fmt.Errorf("issue answered 201 without a token: %q", body)
			} else {
				tokens[i] = v.Token
			}
		} else if err == nil && status != http.StatusCreated {
			res.mu.Lock()
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("issue for b-%d answered %d: %s", *from+i, status, bytes.TrimSpace(body))
			}
			res.mu.Unlock()
		}
		res.add(lat, status, err)
	})
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, t := range tokens {
		if t != "" {
			fmt.Fprintln(w, t)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	res.print("issue", *conns, *n, http.StatusCreated, secs)
	return nil
}

func complete(args []string) error {
	fs := flag.NewFlagSet("complete", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "resetgate's site, host:port")
	prefix := fs.String("prefix", "/password-reset", "resetgate's prefix")
	in := fs.String("in", "", "tokens, one a line")
	conns := fs.Int("c", 8, "requests in flight")
	_ = fs.Parse(args)
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	tokens := strings.Fields(string(data))
	if len(tokens) == 0 {
		return fmt.Errorf("complete: no tokens in %s", *in)
	}
	cl := client(*conns)
	url := fmt.Sprintf("http://%s%s/complete", *addr, *prefix)
	res := &result{statuses: map[int]int{}}
	secs := each(len(tokens), *conns, func(i int) {
		body, _ := json.Marshal(map[string]string{"token": tokens[i], "password": Password, "confirm": Password})
		t0 := time.Now()
		status, answer, err := post(cl, url, "", body)
		lat := time.Since(t0)
		if err == nil && status != http.StatusOK {
			res.mu.Lock()
			if res.firstErr == nil {
				res.firstErr = fmt.Errorf("complete answered %d: %s", status, bytes.TrimSpace(answer))
			}
			res.mu.Unlock()
		}
		res.add(lat, status, err)
	})
	res.print("complete", *conns, len(tokens), http.StatusOK, secs)
	return nil
}

func hash(args []string) error {
	fs := flag.NewFlagSet("hash", flag.ExitOnError)
	format := fs.String("format", "bcrypt", "hash format (plugin/passhash)")
	cost := fs.Int("cost", 12, "cost")
	n := fs.Int("n", 4, "hashes to time")
	_ = fs.Parse(args)
	h, err := passhash.New(*format, *cost)
	if err != nil {
		return err
	}
	if _, err := h.Hash(Password); err != nil { // warm up
		return err
	}
	cpu0 := cpuTime()
	t0 := time.Now()
	for range *n {
		if _, err := h.Hash(Password); err != nil {
			return err
		}
	}
	wall := time.Since(t0)
	cpu := cpuTime() - cpu0
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(*n) }
	fmt.Printf("HASH format=%s cost=%d n=%d wall_us=%.0f cpu_us=%.0f\n", *format, *cost, *n, us(wall), us(cpu))
	return nil
}

func gauge(args []string) error {
	fs := flag.NewFlagSet("gauge", flag.ExitOnError)
	calls := fs.Int("calls", 500_000, "system calls to time")
	trips := fs.Int("trips", 20_000, "loopback round trips to time")
	_ = fs.Parse(args)
	if *calls <= 0 || *trips <= 0 {
		return errors.New("gauge: -calls and -trips must be positive")
	}
	cpu0 := cpuTime()
	for range *calls {
		syscall.Getppid()
	}
	sys := cpuTime() - cpu0
	trip, err := roundTrips(*trips)
	if err != nil {
		return err
	}
	fmt.Printf("GAUGE syscall_ns=%.0f roundtrip_us=%.1f\n",
		float64(sys)/float64(*calls), float64(trip)/float64(*trips)/float64(time.Microsecond))
	return nil
}

// roundTrips sends n messages of 32 bytes over a loopback TCP connection
// to an echo at its other end, in this process, one at a time, and returns
// the CPU time they took.
func roundTrips(n int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("gauge: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 64)
		for {
			k, err := c.Read(b)
			if err != nil {
				return
			}
			if _, err := c.Write(b[:k]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, fmt.Errorf("gauge: %w", err)
	}
	defer c.Close()
	msg, buf := make([]byte, 32), make([]byte, 32)
	cpu0 := cpuTime()
	for range n {
		if _, err := c.Write(msg); err != nil {
			return 0, fmt.Errorf("gauge: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, fmt.Errorf("gauge: %w", err)
		}
	}
	return cpuTime() - cpu0, nil
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
