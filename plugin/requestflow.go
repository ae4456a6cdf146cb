package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/store"
)

// processRequest does the background half of a reset request. The
// per-identifier mail limit counts the identifier as typed (case-folded)
// before the lookup, and the resolved account after it, so that every
// alias (e-mail address, user id, another case) of one account shares it.
//
// Only an account that may get a mail gets a real flow (code, link, mail).
// Every other outcome (an unknown or disabled identifier, an account over
// its mail limit, the global mail budget spent, a failed lookup) stores a
// decoy flow under the same flow id: the client types codes into it and
// sees them counted, the flow lock after MaxCodeAttempts wrong codes and
// the same per-identifier failure budget, but no code ever opens it. So
// neither the verify answers nor their timing tell whether the account
// exists.
func (e *Engine) processRequest(ctx context.Context, job requestJob) error {
	// The same limit on the identifier as typed comes first: a flood of
	// one identifier costs the app no lookup (and the queue no time).
	// With local counters the handler counted it already.
	if !job.counted {
		over, err := e.overRequestLimit(ctx, e.identLimitKey(job.identifier), e.cfg.PerIdentifier)
		if err != nil {
			return fmt.Errorf("counting identifier: %w", err)
		}
		if over {
			return e.settleOverLimit(ctx, job, 0)
		}
	}
	user, found, lookupErr := e.lookup(ctx, job.identifier)
	if lookupErr != nil || !found {
		if err := e.storeDecoyFlow(ctx, job, e.identifierBudget(job.identifier)); err != nil {
			return errors.Join(lookupErr, err)
		}
		if lookupErr != nil {
			return lookupErr
		}
		e.audit(zapcore.InfoLevel, "reset requested for an unknown identifier", "requested", "", zap.Bool("known", false), zap.String("ip", job.ip))
		return nil
	}
	owner := e.keys.ownerKey(user.ID)
	budget := e.identifierBudget(job.identifier)
	over, err := e.overRequestLimit(ctx, e.keys.accountMailKey(user.ID), e.cfg.PerIdentifier)
	if err != nil {
		return fmt.Errorf("counting the account's reset mails: %w", err)
	}
	if over {
		if err := e.storeDecoyFlow(ctx, job, budget); err != nil {
			return err
		}
		e.audit(zapcore.InfoLevel, "reset request over the per-identifier limit; no mail", "rate_limited", "", zap.String("user_id", user.ID))
		return nil
	}
	over, err = e.overRequestLimit(ctx, mailBudgetKey, e.cfg.MailBudget)
	if err != nil {
		return fmt.Errorf("counting mail budget: %w", err)
	}
	if over {
		if err := e.storeDecoyFlow(ctx, job, budget); err != nil {
			return err
		}
		e.audit(zapcore.WarnLevel, "global reset mail budget exhausted; no mail", "mail_budget", "", zap.String("user_id", user.ID))
		return nil
	}

	token, err := newToken()
	if err != nil {
		return err
	}
	revoke, err := newToken()
	if err != nil {
		return err
	}
	now := e.now()
	flowKey := e.keys.flowKey(job.flowID)
	tokenKey := e.keys.tokenKey(token)
	flow := flowRecord{
		User: user, Identifier: job.identifier, TokenKey: tokenKey, Budget: budget,
		CreatedAt: now, ExpiresAt: now.Add(e.cfg.TokenTTL), IP: job.ip,
	}
	var code string
	if e.methodEnabled(MethodCode) {
		if code, err = newCode(); err != nil {
			return err
		}
		flow.CodeMAC = e.keys.codeMAC(job.flowID, code)
		flow.CodeExpiry = now.Add(e.cfg.CodeTTL)
	}
	// The flow, its link's token and the revoke link's record: one commit
	// on a store that batches (writeRecords), all or none.
	needsPasskey, err := e.needsPasskey(ctx, user.ID)
	if err != nil {
		return err
	}
	flowRec, err := newRecord(flowKey, flow, e.cfg.TokenTTL, owner)
	if err != nil {
		return err
	}
	records := []store.Record{flowRec}
	var link string
	if e.methodEnabled(MethodLink) {
		rec := tokenRecord{User: user, Identifier: job.identifier, Via: MethodLink, ExpiresAt: now.Add(e.cfg.TokenTTL), NeedsPasskey: needsPasskey}
		tokenRec, err := newRecord(tokenKey, rec, e.cfg.TokenTTL, e.keys.tokenOwnerKey(user.ID))
		if err != nil {
			return err
		}
		records = append(records, tokenRec)
		link = e.resetLink(token)
	}
	revokeRec, err := newRecord(e.keys.revokeKey(revoke), revokeRecord{UserID: user.ID, FlowKey: flowKey}, e.cfg.RevokeTTL, "")
	if err != nil {
		return err
	}
	if err := e.writeRecords(ctx, append(records, revokeRec), nil); err != nil {
		return err
	}
	e.audit(zapcore.InfoLevel, "reset requested", "requested", "", zap.Bool("known", true), zap.String("user_id", user.ID), zap.String("ip", job.ip))
	revokeLink := e.link("/revoke", url.Values{"token": {revoke}})
	if e.cfg.Deliver.URL != "" {
		e.deliverReset(ctx, user, link, code, revokeLink, flow.ExpiresAt)
	}
	e.sendResetMail(ctx, user, resetMail{
		Locale: user.Locale, UserName: user.Name, Link: link, Code: code, RevokeLink: revokeLink, RequestIP: job.ip,
		TTL: e.cfg.TokenTTL, CodeTTL: e.cfg.CodeTTL, ExpiresAt: flow.ExpiresAt, CodeExpiresAt: flow.CodeExpiry, RequestTime: job.at,
	})
	return nil
}

// sendResetMail queues the reset mail m to user. In a store one process
// owns (Badger) the entry holds m and the mail is rendered when sent
// (outbox.message): a rendered mail is 14 times the size (its HTML and
// text), and it was written, read back, decrypted and copied several
// times on its way through the queue. With Redis it is rendered now
// (outboxEntry.Reset).
func (e *Engine) sendResetMail(ctx context.Context, user User, m resetMail) {
	if e.mail == nil || user.Email == "" {
		return
	}
	if e.mail.shared {
		e.sendMail(ctx, user, "reset", m.data(e))
		return
	}
	ent := outboxEntry{Message: mailer.Message{To: user.Email, ToName: user.Name, Kind: "reset"}, Reset: &m}
	if err := e.mail.enqueueEntry(ctx, ent); err != nil {
		e.log.Error("mail not queued", zap.String("kind", "reset"), zap.String("user_id", user.ID), zap.Error(err))
	}
}

// settleOverLimit settles a request over the limit on the identifier as
// typed: a decoy flow under its flow id, and no lookup or mail. over is
// the request's number over the limit in the limit's window, or 0 when it
// was not counted in memory (the store's counters): see auditOverLimit.
func (e *Engine) settleOverLimit(ctx context.Context, job requestJob, over int64) error {
	if err := e.storeDecoyFlow(ctx, job, e.identifierBudget(job.identifier)); err != nil {
		return err
	}
	e.auditOverLimit(over)
	return nil
}

// settleInHandler settles a request over the limit on the identifier as
// typed, counted in the handler, and returns its flow id. When the store
// commits writes in groups (store.Committer: Badger) the id is a sealed
// decoy (decoyid.go) and nothing is stored: the request waits for the
// store's next commit, as one under the limit waits for its queue entry's,
// so both answer in the same time while a flood of one identifier writes
// (nearly) nothing. Otherwise the decoy is stored under a random id, so
// that the answer follows a store write, as a queued request's does.
func (e *Engine) settleInHandler(ctx context.Context, job requestJob, over int64) (string, error) {
	c, ok := e.store.(store.Committer)
	if !ok {
		flowID, err := newToken()
		if err != nil {
			return "", err
		}
		job.flowID = flowID
		return flowID, e.settleOverLimit(ctx, job, over)
	}
	flowID, err := e.newFlowID(job)
	if err != nil {
		return "", err
	}
	if err := c.AwaitCommit(ctx); err != nil {
		return "", fmt.Errorf("waiting for the store: %w", err)
	}
	e.auditOverLimit(over)
	return flowID, nil
}

// newFlowID draws the flow id of a reset request. With codes it is
// a sealed decoy id (decoyid.go) for the identifier: should the
// background find no account to mail (unknown, disabled, over a limit),
// the id itself is the decoy flow and nothing is stored for it; a real
// flow is stored under it, and verify finds that first. With links only
// there is no decoy to give, and the id is random.
func (e *Engine) newFlowID(job requestJob) (string, error) {
	if !e.methodEnabled(MethodCode) {
		return newToken()
	}
	return e.keys.decoy.seal(job.at, e.keys.budgetTag(job.identifier))
}

// sealedDecoy returns the decoy flow a sealed flow id stands for
// (settleInHandler), when flowID is one and its lifetime has not ended: a
// flow no code opens, with the identifier's failure budget, as
// storeDecoyFlow would have stored it.
func (e *Engine) sealedDecoy(flowID string, now time.Time) (flowRecord, bool) {
	created, tag, ok := e.keys.decoy.open(flowID, now, e.cfg.TokenTTL)
	if !ok {
		return flowRecord{}, false
	}
	return flowRecord{
		Decoy: true, Budget: budgetKey(tag),
		// Compared in constant time like a real one; Decoy refuses it
		// whatever it is.
		CodeMAC:    sealedCodeMAC,
		CodeExpiry: created.Add(e.cfg.CodeTTL),
		CreatedAt:  created, ExpiresAt: created.Add(e.cfg.TokenTTL),
	}, true
}

// sealedCodeMAC stands for a sealed decoy's code MAC: as long as a real
// one (keys.codeMAC, 64 hex digits), so the comparison takes the same time.
var sealedCodeMAC = strings.Repeat("0", 64)

// auditOverLimit records a request over the limit on the identifier as
// typed. Every one counts in the events metric (rate_limited). When the
// counters are in memory (over > 0), only the 1st, 2nd, 4th, 8th… request
// over the limit in a window writes an audit line, which carries that
// number as over_limit: a flood against one identifier takes a few lines a
// window, not one log write per request (a line cost 6% of Caddy's CPU
// under such a flood in bench/run.sh), and the log still shows each flood
// as it grows. With the store's counters (over == 0) each request gets its
// line, as the count is not known here.
func (e *Engine) auditOverLimit(over int64) {
	const msg = "reset request over the per-identifier limit; no mail"
	switch {
	case over <= 0:
		e.audit(zapcore.InfoLevel, msg, "rate_limited", "")
	case over&(over-1) == 0:
		e.audit(zapcore.InfoLevel, msg, "rate_limited", "", zap.Int64("over_limit", over))
	default:
		e.cfg.Observer.Event("rate_limited", "")
	}
}

// identLimitKey is the key of the limit on the identifier as typed
// (case-folded).
func (e *Engine) identLimitKey(identifier string) string {
	return e.keys.identKey(strings.ToLower(identifier))
}

// appendIdentLimitKey appends identLimitKey(identifier) to dst.
func (e *Engine) appendIdentLimitKey(dst []byte, identifier string) []byte {
	return e.keys.appendIdentKey(dst, strings.ToLower(identifier))
}

// storeDecoyFlow gives job a flow that behaves like a real one under
// verify but that no code opens. When job's flow id is sealed for budget
// (newFlowID) the id is that flow and nothing is stored. Otherwise (a
// queue entry an earlier version wrote, or a store without group commits
// settling in the handler) it stores one: its code is drawn at random and
// forgotten, and Decoy refuses even that one. Failures count against
// budget, the identifier's, as for a real flow. It keeps neither the
// identifier nor the address in clear, and it is tied to no account.
// While a queued request is settled (a settlement in ctx) the flow is
// handed to the settlement instead, which stores it in the commit that
// deletes the request's entry.
func (e *Engine) storeDecoyFlow(ctx context.Context, job requestJob, budget string) error {
	if !e.methodEnabled(MethodCode) {
		return nil // no code to type: verify answers 404 for every flow
	}
	if _, tag, sealed := e.keys.decoy.open(job.flowID, e.now(), e.cfg.TokenTTL); sealed && budgetKey(tag) == budget {
		// The flow id stands for this decoy already (newFlowID): verify
		// finds no flow under it and opens the id (sealedDecoy).
		return nil
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	now := e.now()
	flow := flowRecord{
		Decoy: true, Budget: budget,
		CodeMAC: e.keys.codeMAC(job.flowID, code), CodeExpiry: now.Add(e.cfg.CodeTTL),
		CreatedAt: now, ExpiresAt: now.Add(e.cfg.TokenTTL),
	}
	rec, err := newRecord(e.keys.flowKey(job.flowID), flow, e.cfg.TokenTTL, "")
	if err != nil {
		return err
	}
	if c := capturedSettlement(ctx); c != nil {
		// Settling a queued request: the decoy goes into the commit that
		// settles its entry (requestQueue.settle).
		c.decoys = append(c.decoys, rec)
		return nil
	}
	if err := e.writeRecords(ctx, []store.Record{rec}, nil); err != nil {
		return fmt.Errorf("storing the flow: %w", err)
	}
	return nil
}

// identifierBudget is the key wrong codes count against: the identifier
// as typed (case-folded), for a known and an unknown account alike. A
// budget per resolved account would tell an attacker that two identifiers
// (an address and a user name) belong to one existing account, since an
// unknown pair never shares one; an account reachable under k aliases
// gets k budgets instead, a small and fixed multiple.
func (e *Engine) identifierBudget(identifier string) string {
	return e.keys.identifierOwnerKey(identifier)
}

// accountMailKey is the per-identifier mail counter of a resolved
// account: every alias of one account shares it.
func (k *keys) accountMailKey(userID string) string { return k.identKey("account\x00" + userID) }

// disabled reads the lookup answer's "disabled" field: a JSON true (or
// the string "true" or "1" from a template mapping) marks the account
// disabled.
func disabled(v string) bool {
	return strings.EqualFold(v, "true") || v == "1"
}
