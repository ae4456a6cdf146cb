package plugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/resetgate/resetgate/store"
)

// Status is what an operator sees with `caddy password-reset status`.
type Status struct {
	// Site is the engine's base URL and prefix.
	Site string `json:"site"`
	// OutboxPending counts mail entries not yet settled (sent, dropped or
	// expired): an upper bound on the mail waiting to go out.
	OutboxPending int64 `json:"outbox_pending"`
	// OpenTokens counts live reset tokens (mailed links, admin-issued
	// tokens); -1 when the store cannot count.
	OpenTokens int `json:"open_tokens"`
	// OpenFlows counts live reset flows (requests waiting for a code or a
	// link); -1 when the store cannot count.
	OpenFlows int `json:"open_flows"`
	// Parts are the self-test's results, taken now.
	Parts []PartStatus `json:"parts"`
	// Healthy is true when every part is OK.
	Healthy bool `json:"healthy"`
}

// Status runs the self-test again and reports it with the store's counts.
func (e *Engine) Status(ctx context.Context) (*Status, error) {
	st := &Status{Site: e.cfg.BaseURL + e.cfg.Prefix, OpenTokens: -1, OpenFlows: -1}
	st.Parts = e.SelfTest(ctx)
	st.Healthy = true
	for _, p := range st.Parts {
		st.Healthy = st.Healthy && p.OK
	}
	if e.mail != nil {
		n, err := e.OutboxPending(ctx)
		if err != nil {
			return st, fmt.Errorf("reading the outbox: %w", err)
		}
		st.OutboxPending = n
	}
	if c, ok := e.store.(store.Counter); ok {
		var err error
		if st.OpenTokens, err = c.CountPrefix(ctx, tokenPrefix); err != nil {
			return st, fmt.Errorf("counting tokens: %w", err)
		}
		if st.OpenFlows, err = c.CountPrefix(ctx, flowPrefix); err != nil {
			return st, fmt.Errorf("counting flows: %w", err)
		}
	}
	return st, nil
}

// OutboxPending counts the outbox entries not yet settled: the entries
// numbered after the tail (see outbox.go) that this instance does not know
// to be settled or unused. 0 when mail is off. With several instances on
// one store, another instance's settled entries and unused numbers count
// until the walkers pass them (missingGrace).
func (e *Engine) OutboxPending(ctx context.Context) (int64, error) {
	if e.mail == nil {
		return 0, nil
	}
	head, err := e.counter(ctx, outboxSeq)
	if err != nil {
		return 0, err
	}
	tail, err := e.counter(ctx, outboxTail)
	if err != nil {
		return 0, err
	}
	if head < tail {
		return 0, nil
	}
	// Not mail: entries sent behind an unsent one (the tail waits for
	// it), and numbers reserved in blocks that no entry has.
	done := e.mail.walk.finished.countAfter(tail) + e.mail.unusedAfter(tail)
	return max(head-tail-done, 0), nil
}

// MailBudgetUse returns how many reset mails the global mail budget has
// counted in its current window, and its limit (0 when there is none).
func (e *Engine) MailBudgetUse(ctx context.Context) (used int64, limit int, err error) {
	if e.cfg.MailBudget.Count <= 0 {
		return 0, 0, nil
	}
	raw, err := e.store.Get(ctx, mailBudgetKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, e.cfg.MailBudget.Count, nil
	}
	if err != nil {
		return 0, 0, err
	}
	used, err = strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the mail budget counter: %w", err)
	}
	return used, e.cfg.MailBudget.Count, nil
}
