package plugin

import (
	"context"
	"testing"
	"time"
)

// A queued request whose identifier has no account to mail is looked up
// like any other and then settled without a flow record: its flow id was
// sealed for the identifier when it was drawn (newFlowID), so the id is
// the decoy. Verify treats it as it treats a stored decoy and a known
// account's flow: wrong codes counted, FLOW_LOCKED after code_attempts,
// the identifier's failure budget charged. A known account's request, in
// the same queue, still gets its flow (the mail's code opens it). Both with
// the store's counters and with local ones (Badger), where a request under
// the limit is queued too.
func TestUnknownIdentifierStoresNoDecoy(t *testing.T) {
	for _, local := range []bool{false, true} {
		h := newHarness(t, func(c *Config) {
			c.LocalCounters = local
			c.Workers = 1 // jobs in order: the known request's mail comes last
		})
		st, body := h.do(t, "POST", "/password-reset/request", map[string]string{"identifier": "Nobody@example.test"})
		flowID, _ := body["flow_id"].(string)
		if st != 202 || !wellFormedToken(flowID) {
			t.Fatalf("local %v: request for an unknown identifier: %d %v", local, st, body)
		}
		knownFlow, m := h.resetMail(t) // processed after the unknown one
		ctx := context.Background()
		var flow flowRecord
		if found, err := h.e.getRecord(ctx, h.e.keys.flowKey(flowID), &flow); err != nil || found {
			t.Fatalf("local %v: the unknown identifier's flow record once settled: found %v (%+v), %v; want none (its id is the decoy)", local, found, flow, err)
		}
		if found, err := h.e.getRecord(ctx, h.e.keys.flowKey(knownFlow), &flow); err != nil || !found || flow.Decoy {
			t.Fatalf("local %v: the known account's flow record: found %v, decoy %v, %v; want a real one", local, found, flow.Decoy, err)
		}
		for i, want := range []ErrorCode{CodeCodeInvalid, CodeCodeInvalid, CodeCodeInvalid, CodeCodeInvalid, CodeFlowLocked} {
			st, body := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": "12345678"})
			if got := errCode(body); st != 400 || got != want {
				t.Fatalf("local %v: verify %d on the unknown identifier's flow: %d %s, want 400 %s", local, i+1, st, got, want)
			}
		}
		// Its 5 wrong codes were charged to the identifier's budget (as
		// typed, case-folded; this increment is the 6th).
		if n, err := h.e.store.Incr(ctx, failureCountKey(budgetCode, h.e.identifierBudget("nobody@EXAMPLE.test")), time.Hour); err != nil || n != 6 {
			t.Fatalf("local %v: the identifier's code failures after 5 wrong codes: %d, %v; want 5 (+1)", local, n-1, err)
		}
		if st, body := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": knownFlow, "code": codeOf(t, m)}); st != 200 || body["token"] == nil {
			t.Fatalf("local %v: the known account's code: %d %v", local, st, body)
		}
	}
}

// Once a real flow is used, its id opens as the decoy it was sealed as:
// the used code again is CODE_INVALID, counted against the identifier's
// failure budget like any wrong code (README, "sealed in the flow id").
func TestUsedFlowIDAnswersAsDecoy(t *testing.T) {
	h := newHarness(t, nil)
	flowID, m := h.resetMail(t)
	code := codeOf(t, m)
	if st, body := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code}); st != 200 {
		t.Fatalf("verify: %d %v", st, body)
	}
	st, body := h.do(t, "POST", "/password-reset/verify", map[string]string{"flow_id": flowID, "code": code})
	if got := errCode(body); st != 400 || got != CodeCodeInvalid {
		t.Fatalf("the used code again: %d %s, want 400 %s", st, got, CodeCodeInvalid)
	}
	ctx := context.Background()
	if n, err := h.e.store.Incr(ctx, failureCountKey(budgetCode, h.e.identifierBudget("alice@example.test")), time.Hour); err != nil || n != 2 {
		t.Fatalf("the identifier's code failures after the used code again: %d, %v; want 1 (+1)", n-1, err)
	}
}
