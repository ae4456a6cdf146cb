// Command loadgen is a closed-loop HTTP/1.1 load generator that keeps
// every request's latency, so that percentiles are exact rather than read
// off a histogram, and that can interleave several request bodies on each
// connection (known and unknown accounts) so that they see the same
// conditions: every case once per block of requests, in a random order.
//
// Each of -c connections sends one request, reads the whole answer, and
// sends the next, as wrk does. Requests are written from pre-built bytes
// and answers parsed by hand (Content-Length or chunked), so the generator
// costs little CPU beside the server on a small machine.
//
//	loadgen -addr 127.0.0.1:8080 -path /password-reset/request -c 8 -d 6s \
//	    -case known='{"identifier":"known@bench.test"}' \
//	    -case unknown='{"identifier":"nobody@bench.test"}' -expect 202
//
// A body may contain {n}, replaced by a number that differs on every
// request (so that every request names a fresh identifier).
//
// With -rate the load is open-loop instead: the connections together send
// -rate requests per second on a fixed schedule, whatever the answers take,
// so that latency is measured below saturation rather than at it. A send
// more than 1 ms behind its schedule is counted as late.
//
// Without -case it sends GET requests. It prints a table, then one line per
// case (and one for all together) for scripts:
//
//	RESULT case=known conns=8 n=… rps=… p50_us=… p90_us=… p99_us=… p999_us=… max_us=… mean_us=… errors=… unexpected=… late=…
//
// and with exactly two cases the difference of their medians, with a 95%
// bootstrap confidence interval:
//
//	DIFF a=known b=unknown p50_diff_us=… ci95_lo_us=… ci95_hi_us=…
//
// and the number of answers read, warm-up included: SENT n=…, and the
// measured transport errors by kind, with the first message of each:
//
//	ERRORS dial=… reused=… fresh=… first_dial="…" first_reused="…" first_fresh="…"
//
// dial: the connection could not be made; reused: a connection that had
// already answered a request failed before answering the next one (the
// server closed a keep-alive connection as the request went out); fresh: a
// new connection failed before its first answer.
//
// With -retry-reused, a request that fails on a reused connection before
// any byte of an answer arrived is sent again, once, on a new connection,
// as browsers and Go's http.Transport do (the server closed an idle
// keep-alive connection, so it cannot have read the request); it counts
// as an error only if that fails too. ERRORS then also says how many were
// retried: retried=….
//
// With -timeline FILE it also writes, for each 100 ms of the measured
// time, the requests sent in it and the largest latency among them
// ("<ms from the start of the measured time> <requests> <max µs>"), so
// that a tail can be placed in time against what else happened then.
//
// loadgen -free-ports N prints N currently free TCP ports on 127.0.0.1.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type caseFlag []string

func (c *caseFlag) String() string     { return strings.Join(*c, ",") }
func (c *caseFlag) Set(v string) error { *c = append(*c, v); return nil }

type reqCase struct {
	name string
	raw  []byte
	// With a {n} in the body: the request is head + n + mid + n... built
	// per request; raw is nil.
	head, body string
}

// seq numbers the requests of templated cases; done counts the answers
// read, warm-up included.
var seq, done atomic.Int64

// bytes returns the request to send, into buf.
func (rc *reqCase) bytes(buf []byte) []byte {
	if rc.raw != nil {
		return rc.raw
	}
	n := strconv.FormatInt(seq.Add(1), 10)
	body := strings.ReplaceAll(rc.body, "{n}", n)
	buf = append(buf[:0], rc.head...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...)
}

// connStats is what one connection measured, per case.
type connStats struct {
	lat        [][]time.Duration
	errors     []int
	unexpected []int
	late       []int
	// sent holds, per measured request of any case, when it was sent
	// (since the measured time began) and its latency, when keepSent is
	// set (-timeline).
	sent     []sample
	keepSent bool
	// Transport errors by kind (errDial, errReused, errFresh), and the
	// first message of each.
	kinds   [3]int
	first   [3]string
	retried int
}

const (
	errDial = iota
	errReused
	errFresh
)

func (st *connStats) fail(kind int, err error) {
	st.kinds[kind]++
	if st.first[kind] == "" {
		st.first[kind] = err.Error()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server host:port")
	path := flag.String("path", "/", "request path")
	host := flag.String("host", "", "Host header (default: -addr)")
	conns := flag.Int("c", 8, "connections")
	dur := flag.Duration("d", 5*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up before -d")
	expect := flag.Int("expect", 0, "expected status; others are counted as unexpected (0: any 2xx)")
	freePorts := flag.Int("free-ports", 0, "print this many free TCP ports on 127.0.0.1 and exit")
	rate := flag.Float64("rate", 0, "open loop: total requests per second on a fixed schedule (0: closed loop)")
	retryReused := flag.Bool("retry-reused", false, "send a request again, once, on a new connection when a reused connection closes before answering")
	timeline := flag.String("timeline", "", "write each 100 ms window's requests and largest latency to this file")
	var cases caseFlag
	flag.Var(&cases, "case", "name=JSON body to POST (repeatable; interleaved per request, each case once per block in a random order)")
	flag.Parse()

	if *freePorts > 0 {
		if err := printFreePorts(*freePorts); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *host == "" {
		*host = *addr
	}
	var rcs []reqCase
	if len(cases) == 0 {
		rcs = append(rcs, reqCase{name: "get", raw: []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: resetgate-loadgen\r\n\r\n", *path, *host))})
	}
	for _, c := range cases {
		name, body, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			fmt.Fprintf(os.Stderr, "-case %q: want name=body\n", c)
			os.Exit(2)
		}
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: resetgate-loadgen\r\nContent-Type: application/json\r\nContent-Length: ", *path, *host)
		if strings.Contains(body, "{n}") {
			rcs = append(rcs, reqCase{name: name, head: head, body: body})
		} else {
			rcs = append(rcs, reqCase{name: name, raw: []byte(fmt.Sprintf("%s%d\r\n\r\n%s", head, len(body), body))})
		}
	}

	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*dur)
	stats := make([]*connStats, *conns)
	var wg sync.WaitGroup
	for i := range *conns {
		st := &connStats{lat: make([][]time.Duration, len(rcs)), errors: make([]int, len(rcs)), unexpected: make([]int, len(rcs)), late: make([]int, len(rcs)), keepSent: *timeline != ""}
		for k := range rcs {
			st.lat[k] = make([]time.Duration, 0, 1<<14)
		}
		stats[i] = st
		wg.Add(1)
		// Connections start on different cases so that every case is in
		// flight at every moment.
		var interval, phase time.Duration
		if *rate > 0 {
			interval = time.Duration(float64(*conns) / *rate * float64(time.Second))
			phase = interval * time.Duration(i) / time.Duration(*conns)
		}
		go func(offset int) {
			defer wg.Done()
			run(*addr, rcs, offset, *expect, *retryReused, start.Add(phase), interval, measureFrom, end, st)
		}(i)
	}
	wg.Wait()

	// Merge.
	all := make([][]time.Duration, len(rcs))
	errs := make([]int, len(rcs))
	unexp := make([]int, len(rcs))
	late := make([]int, len(rcs))
	for _, st := range stats {
		for k := range rcs {
			all[k] = append(all[k], st.lat[k]...)
			errs[k] += st.errors[k]
			unexp[k] += st.unexpected[k]
			late[k] += st.late[k]
		}
	}
	secs := dur.Seconds()
	mode := "closed loop"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f req/s", *rate)
	}
	fmt.Printf("%d connections, %s, %s measured after %s warm-up, %s %s\n", *conns, mode, *dur, *warmup, *addr, *path)
	fmt.Printf("%-10s %9s %10s %9s %9s %9s %9s %9s %7s %7s %7s\n", "case", "n", "req/s", "p50", "p90", "p99", "p99.9", "max", "errors", "unexp", "late")
	var kinds [3]int
	var first [3]string
	retried := 0
	for _, st := range stats {
		retried += st.retried
		for k := range kinds {
			kinds[k] += st.kinds[k]
			if first[k] == "" {
				first[k] = st.first[k]
			}
		}
	}
	var merged []time.Duration
	tErr, tUnexp, tLate := 0, 0, 0
	var lines []string
	for k, rc := range rcs {
		lines = append(lines, report(rc.name, *conns, all[k], secs, errs[k], unexp[k], late[k]))
		merged = append(merged, all[k]...)
		tErr += errs[k]
		tUnexp += unexp[k]
		tLate += late[k]
	}
	if len(rcs) > 1 {
		lines = append(lines, report("all", *conns, merged, secs, tErr, tUnexp, tLate))
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	if *timeline != "" {
		if err := writeTimeline(*timeline, stats); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("SENT n=%d\n", done.Load())
	fmt.Printf("ERRORS dial=%d reused=%d fresh=%d retried=%d first_dial=%q first_reused=%q first_fresh=%q\n",
		kinds[errDial], kinds[errReused], kinds[errFresh], retried, first[errDial], first[errReused], first[errFresh])
	if len(rcs) == 2 && len(all[0]) > 0 && len(all[1]) > 0 {
		// all[k] are sorted by report.
		d, lo, hi := medianDiff(all[0], all[1])
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		fmt.Printf("median %s − %s: %v (95%% CI %v … %v)\n", rcs[0].name, rcs[1].name, d, lo, hi)
		fmt.Printf("DIFF a=%s b=%s p50_diff_us=%.1f ci95_lo_us=%.1f ci95_hi_us=%.1f\n", rcs[0].name, rcs[1].name, us(d), us(lo), us(hi))
	}
}

func run(addr string, rcs []reqCase, offset, expect int, retryReused bool, first time.Time, interval time.Duration, measureFrom, end time.Time, st *connStats) {
	var (
		conn   net.Conn
		br     *bufio.Reader
		buf    = make([]byte, 0, 1024)
		next   = first
		reused bool // conn has answered a request
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	// Each block of len(rcs) requests sends every case once, in an order
	// drawn afresh: with a fixed order the work one case leaves behind
	// (a known account's lookup and mail) would always land on the next
	// case's request and show as a difference between the cases.
	rng := rand.New(rand.NewPCG(uint64(offset), uint64(time.Now().UnixNano())))
	order := make([]int, len(rcs))
	for i := range order {
		order[i] = (offset + i) % len(rcs)
	}
	for i := 0; ; i++ {
		if i%len(rcs) == 0 && i > 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		k := order[i%len(rcs)]
		if interval > 0 {
			// Open loop: wait for the request's slot.
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		if conn == nil {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				if time.Now().After(measureFrom) {
					st.errors[k]++
					st.fail(errDial, err)
				}
				if time.Now().After(end) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br, reused = c, bufio.NewReaderSize(c, 32<<10), false
		}
		req := rcs[k].bytes(buf)
		t0 := time.Now()
		if t0.After(end) {
			return
		}
		measured := t0.After(measureFrom)
		if interval > 0 {
			if measured && t0.Sub(next) > time.Millisecond {
				st.late[k]++
			}
			next = next.Add(interval)
		}
		_ = conn.SetDeadline(t0.Add(10 * time.Second))
		_, err := conn.Write(req)
		var status int
		var keep bool
		if err == nil {
			status, keep, err = readResponse(br)
		} else {
			err = noAnswerError{err}
		}
		var noAnswer noAnswerError
		if err != nil && reused && retryReused && errors.As(err, &noAnswer) {
			// The server closed the idle connection as the request went
			// out: send it again on a new one, as a browser would.
			if measured {
				st.retried++
			}
			conn.Close()
			conn = nil
			c, derr := net.Dial("tcp", addr)
			if derr != nil {
				err = derr
			} else {
				conn, br, reused = c, bufio.NewReaderSize(c, 32<<10), false
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = conn.Write(req); err == nil {
					status, keep, err = readResponse(br)
				}
			}
		}
		lat := time.Since(t0)
		if err == nil {
			done.Add(1)
		}
		if err != nil {
			if measured {
				st.errors[k]++
				if reused {
					st.fail(errReused, err)
				} else {
					st.fail(errFresh, err)
				}
			}
			if conn != nil {
				conn.Close()
			}
			conn = nil
			continue
		}
		reused = true
		if measured {
			st.lat[k] = append(st.lat[k], lat)
			if st.keepSent {
				st.sent = append(st.sent, sample{t0.Sub(measureFrom), lat})
			}
			if (expect != 0 && status != expect) || (expect == 0 && (status < 200 || status > 299)) {
				st.unexpected[k]++
			}
		}
		if !keep {
			conn.Close()
			conn = nil
		}
	}
}

func printFreePorts(n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
