package redis

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/resetgate/resetgate/internal/faultnet"
	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/redis/redistest"
)

// Issue 15.4 — network faults between resetgate and Redis, injected with
// Toxiproxy: added latency, a bandwidth limit, answers cut in the middle,
// connections reset, a peer that never answers. For each: calls fail with
// store.ErrUnavailable and a message naming the cause, no acknowledged
// change is lost, calls succeed again once the fault ends, and no
// goroutine is left behind.
func TestNetworkFaults(t *testing.T) {
	srv := redistest.Start(t)
	big := bytes.Repeat([]byte("x"), 64<<10)
	slowUp := faultnet.Bandwidth(8) // KB/s, on what we send
	slowUp.Stream = "upstream"
	for _, tc := range []struct {
		name  string
		toxic faultnet.Toxic
		value []byte
		cause string // in the error's message
	}{
		{"Latency", faultnet.Latency(400 * time.Millisecond), []byte("v"), "timeout"},
		{"Bandwidth", slowUp, big, "timeout"},
		{"CutMidAnswer", faultnet.CutAfter(10), big, "EOF"},
		{"Reset", faultnet.Reset(), []byte("v"), "EOF"},
		{"NeverAnswers", faultnet.BlackHole(), []byte("v"), "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			p := faultnet.Start(t, "redis", srv.Addr())
			s, err := Open(t.Context(), Options{URL: "redis://" + p.Addr(), KeyPrefix: freshPrefix(), ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			// Changes made before the fault.
			for i := 0; i < 5; i++ {
				if err := s.Put(ctx, fmt.Sprintf("before%d", i), tc.value, time.Hour, "owner"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Incr(ctx, "counter", time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			p.Add(t, "fault", tc.toxic)
			failed, acked := 0, 0
			start := time.Now()
			for i := 0; i < 10; i++ {
				err := s.Put(ctx, fmt.Sprintf("during%d", i), tc.value, time.Hour, "owner")
				if err == nil {
					acked++
					continue
				}
				failed++
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("put during %s: %v, want ErrUnavailable", tc.name, err)
				}
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.cause)) && !strings.Contains(err.Error(), "i/o timeout") {
					t.Errorf("put during %s: %q does not say %q", tc.name, err, tc.cause)
				}
				if i == 0 {
					t.Logf("%s: %v", tc.name, err)
				}
			}
			if failed == 0 {
				t.Fatalf("no call failed during %s", tc.name)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("10 calls during %s took %s: the timeouts do not hold", tc.name, d)
			}
			p.Remove(t, "fault")
			// Recovery: the next calls succeed.
			deadline := time.Now().Add(5 * time.Second)
			for {
				if err := s.Put(ctx, "after", tc.value, time.Hour, "owner"); err == nil {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("still failing 5s after the fault ended: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Nothing acknowledged is lost.
			for i := 0; i < 5; i++ {
				if v, err := s.Get(ctx, fmt.Sprintf("before%d", i)); err != nil || !bytes.Equal(v, tc.value) {
					t.Fatalf("before%d after the fault: %d bytes, %v", i, len(v), err)
				}
			}
			if n, err := s.Incr(ctx, "counter", time.Hour); err != nil || n != 6 {
				t.Fatalf("counter after the fault: %d %v, want 6", n, err)
			}
			if n, err := s.DeleteOwner(ctx, "owner"); err != nil || n < 5+acked+1 {
				t.Fatalf("DeleteOwner after the fault: %d %v, want at least %d", n, err, 5+acked+1)
			}
			s.Close()
			// No goroutine left behind (the proxy's own end with the test).
			deadline = time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before+8 {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<16)
					t.Fatalf("goroutines: %d before, %d after closing the store\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
