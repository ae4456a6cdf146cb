package plugin

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/mailer"
)

// SelfTestIdentifier is the identifier the start-up self-test looks up.
// The .invalid top-level domain is reserved (RFC 2606), so no real account
// has it: a lookup that finds a user here is misconfigured.
const SelfTestIdentifier = "resetgate-selftest@example.invalid"

// selfTestTimeout bounds one part's check.
const selfTestTimeout = 5 * time.Second

// PartStatus is the result of checking one configured part.
type PartStatus struct {
	// Part names what was checked: store, smtp, lookup.
	Part string `json:"part"`
	// OK is true when the part answered as it should.
	OK bool `json:"ok"`
	// Detail says what went wrong, without secrets; empty when OK.
	Detail string `json:"detail,omitempty"`
	// CheckedAt is when the check ended.
	CheckedAt time.Time `json:"checked_at"`
}

// SelfTestObserver is implemented by observers that also export the
// self-test's results (a gauge per part).
type SelfTestObserver interface {
	SelfTest(part string, ok bool)
}

// selfTestState keeps the latest results for status.
type selfTestState struct {
	mu    sync.Mutex
	parts []PartStatus
}

// SelfTest checks every configured part without sending anything a user
// would see: the store takes, returns and deletes a probe; the SMTP server
// greets, takes TLS and AUTH (no message); the lookup hook (or user
// directory) answers "not found" for SelfTestIdentifier. Each result is
// logged on one line (a failure is a warning: the part may come up later)
// and kept for Status.
func (e *Engine) SelfTest(ctx context.Context) []PartStatus {
	var parts []PartStatus
	check := func(part string, fn func(context.Context) error) {
		cctx, cancel := context.WithTimeout(ctx, selfTestTimeout)
		err := fn(cctx)
		cancel()
		if ctx.Err() != nil {
			// The engine is stopping (caddy validate, a reload that
			// replaced it): a cancelled check says nothing about the part.
			return
		}
		ps := PartStatus{Part: part, OK: err == nil, CheckedAt: e.now().UTC()}
		if err != nil {
			ps.Detail = err.Error()
			e.log.Warn("self-test: "+part+" failed", zap.String("part", part), zap.Error(err))
		} else {
			e.log.Info("self-test: "+part+" ok", zap.String("part", part))
		}
		if o, ok := e.cfg.Observer.(SelfTestObserver); ok {
			o.SelfTest(part, err == nil)
		}
		parts = append(parts, ps)
	}
	check("store", e.checkStore)
	if c, ok := e.cfg.Mail.(mailer.Checker); ok {
		check("smtp", c.Check)
	}
	check("lookup", e.checkLookup)
	e.selftest.mu.Lock()
	e.selftest.parts = parts
	e.selftest.mu.Unlock()
	return parts
}

// LastSelfTest returns the results of the latest self-test (nil before
// the first one ends).
func (e *Engine) LastSelfTest() []PartStatus {
	e.selftest.mu.Lock()
	defer e.selftest.mu.Unlock()
	return append([]PartStatus(nil), e.selftest.parts...)
}

func (e *Engine) checkStore(ctx context.Context) error {
	want := []byte(e.now().UTC().Format(time.RFC3339Nano))
	if err := e.store.Put(ctx, selfTestKey, want, time.Minute, ""); err != nil {
		return err
	}
	got, err := e.store.Get(ctx, selfTestKey)
	if err != nil {
		return err
	}
	if string(got) != string(want) {
		return errors.New("the store returned another value than the one just written")
	}
	return e.store.Delete(ctx, selfTestKey)
}

func (e *Engine) checkLookup(ctx context.Context) error {
	_, found, err := e.lookup(ctx, SelfTestIdentifier)
	if err != nil {
		return err
	}
	if found {
		return errors.New("the lookup found a user for the reserved identifier " + SelfTestIdentifier + "; it must answer not found")
	}
	return nil
}
