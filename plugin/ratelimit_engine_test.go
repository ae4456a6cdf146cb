package plugin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// waitLookups waits until the upstream has answered n lookups.
func (h *harness) waitLookups(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.up.mu.Lock()
		got := h.up.lookups
		h.up.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d lookups", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With local counters (Badger), a request over the per-identifier limit is
// settled in the handler: its decoy flow is sealed in its flow id, so the
// store holds no record for it, it costs the app no lookup, and it behaves
// as a decoy under verify (wrong codes counted, the flow lock, the
// identifier's failure budget charged). With links only it goes through the
// queue like any other and still sends no mail.
func TestOverLimitRequestSettledInHandler(t *testing.T) {
	for _, methods := range [][]string{nil, {MethodLink}} {
		h := newHarness(t, func(c *Config) {
			c.LocalCounters = true
			c.PerIdentifier = Limit{Count: 2, Window: time.Hour}
			c.Workers = 1 // jobs in order, so the sentinel below comes last
			if methods != nil {
				c.Methods = methods
			}
		})
		var flowID string
		for i := 0; i < 3; i++ {
			st, body := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "alice@example.test"})
			if st != 202 {
				t.Fatalf("%v: request %d: %d", methods, i, st)
			}
			flowID, _ = body["flow_id"].(string)
		}
		if methods == nil {
			var flow flowRecord
			if found, err := h.e.getRecord(context.Background(), h.e.keys.flowKey(flowID), &flow); err != nil || found {
				t.Fatalf("the over-limit request's flow record right after its 202: found %v (%+v), %v; want none (sealed in its id)", found, flow, err)
			}
			for i, want := range []ErrorCode{CodeCodeInvalid, CodeCodeInvalid, CodeCodeInvalid, CodeCodeInvalid, CodeFlowLocked} {
				st, body := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": "12345678"})
				if got := errCode(body); st != 400 || got != want {
					t.Fatalf("verify %d on the over-limit flow: %d %s, want 400 %s", i+1, st, got, want)
				}
			}
			// Its 5 wrong codes were charged to the identifier's budget
			// (this increment is the 6th).
			if n, err := h.e.store.Incr(context.Background(), failureCountKey(budgetCode, h.e.identifierBudget("ALICE@example.test")), time.Hour); err != nil || n != 6 {
				t.Fatalf("the identifier's code failures after 5 wrong codes on the over-limit flow: %d, %v; want 5 (+1)", n-1, err)
			}
		}
		h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "sentinel@example.test"})
		h.waitLookups(t, 3)
		time.Sleep(300 * time.Millisecond) // the outbox delivers in the background
		h.up.mu.Lock()
		lookups := h.up.lookups
		h.up.mu.Unlock()
		if lookups != 3 {
			t.Fatalf("%v: %d lookups, want 3 (2 under the limit and the sentinel)", methods, lookups)
		}
		resets := 0
		for _, m := range h.mail.Messages() {
			if strings.Contains(m.Subject, "eset") {
				resets++
			}
		}
		if resets != 2 {
			t.Fatalf("%v: %d reset mails, want 2 (the per-identifier limit)", methods, resets)
		}
	}
}

// eventCounter is an Observer that counts events by name.
type eventCounter struct {
	nopObserver
	mu sync.Mutex
	n  map[string]int
}

func (c *eventCounter) Event(event, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[event]++
}

func (c *eventCounter) count(event string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[event]
}

// A flood of requests over one identifier's limit, settled in the handler,
// counts every request in the events metric but writes an audit line only
// for the 1st, 2nd, 4th, 8th… request over the limit, each with its number.
func TestOverLimitAuditLinesSampled(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	events := &eventCounter{}
	h := newHarnessLog(t, zap.New(core), func(c *Config) {
		c.LocalCounters = true
		c.PerIdentifier = Limit{Count: 2, Window: time.Hour}
		c.PerIP = Limit{Count: 1000, Window: time.Minute}
		c.Observer = events
	})
	const requests = 2 + 20
	for i := 0; i < requests; i++ {
		if st, _ := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "mallory@example.test"}); st != 202 {
			t.Fatalf("request %d: %d", i+1, st)
		}
	}
	if got := events.count("rate_limited"); got != 20 {
		t.Errorf("rate_limited events: %d, want 20 (every request over the limit)", got)
	}
	var over []int64
	for _, e := range logs.FilterField(zap.String("event", "rate_limited")).All() {
		n, ok := e.ContextMap()["over_limit"].(int64)
		if !ok {
			t.Fatalf("a rate_limited line without over_limit: %v", e.ContextMap())
		}
		over = append(over, n)
	}
	if fmt.Sprint(over) != "[1 2 4 8 16]" {
		t.Errorf("audit lines' over_limit: %v, want [1 2 4 8 16]", over)
	}
}
