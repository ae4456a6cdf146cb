package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/store"
)

// User is what the lookup hook (or the user directory) tells about an
// identifier.
type User = directory.User

// requestJob is a reset request waiting for lookup and mail.
type requestJob struct {
	identifier string
	flowID     string
	ip         string
	at         time.Time
	seq        int64 // the entry in the durable request queue
	// counted is set when the request was already counted against the
	// limit on the identifier as typed (in the handler).
	counted bool
}

// maxIdentifier bounds an identifier, in code points (an e-mail address is
// at most 254 characters).
const maxIdentifier = 254

// handleRequest starts a reset. It does the same work for every
// well-formed request, known user or not: count the client address, draw a
// flow id, queue the job. Lookup, the per-identifier limit and the mail
// happen in the background, so neither status, body nor timing tells
// whether the account exists (invariant 4).
func (e *Engine) handleRequest(w http.ResponseWriter, r *http.Request) *apiError {
	body, apiErr := readJSONBody(w, r)
	if apiErr != nil {
		return apiErr
	}
	// The usual body, {"identifier":"…"} alone, is read without
	// encoding/json (and without the decoded struct on the heap).
	ident, ok := plainStringField(body, "identifier")
	var pow *PowSolution
	if !ok {
		var in struct {
			Identifier *string      `json:"identifier"`
			Pow        *PowSolution `json:"pow"`
		}
		if apiErr := decodeJSONBytes(body, &in); apiErr != nil {
			return apiErr
		}
		if in.Identifier == nil {
			return invalid("identifier is required", "/identifier")
		}
		ident, pow = *in.Identifier, in.Pow
	}
	if err := e.checkPow(r.Context(), pow); err != nil {
		return err
	}
	flowID, apiErr := e.startFlow(r, ident)
	if apiErr != nil {
		return apiErr
	}
	writeAccepted(w, acceptedBody{FlowID: flowID, NextStep: e.firstStep()})
	return nil
}

// acceptedBody is the 202 answer of a reset request: a struct rather than a
// map, so that encoding it neither allocates a map nor sorts its keys (the
// bytes are the same: the fields are in the map's key order).
type acceptedBody struct {
	FlowID   string `json:"flow_id"`
	NextStep string `json:"next_step"`
}

// writeAccepted writes the 202 answer of a reset request: the bytes
// writeJSON would write (TestAcceptedBodyAsEncoded), put together without
// reflection when both values need no escaping, as a flow id (base64url)
// and a step always do.
func writeAccepted(w http.ResponseWriter, body acceptedBody) {
	if !plainJSON(body.FlowID) || !plainJSON(body.NextStep) {
		writeJSON(w, http.StatusAccepted, body)
		return
	}
	setAPIHeaders(w.Header(), "application/json")
	w.WriteHeader(http.StatusAccepted)
	b := make([]byte, 0, len(`{"flow_id":"","next_step":""}`)+1+len(body.FlowID)+len(body.NextStep))
	b = append(b, `{"flow_id":"`...)
	b = append(b, body.FlowID...)
	b = append(b, `","next_step":"`...)
	b = append(b, body.NextStep...)
	b = append(b, "\"}\n"...)
	_, _ = w.Write(b)
}

// plainJSON reports whether s is the same inside a JSON string as encoding/json
// writes it: letters, digits, '-' and '_' only.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// firstStep is what a user does after asking for a reset: type the mailed
// code, or (links only) follow the mailed link. It never depends on the
// account, so it tells nothing about it.
func (e *Engine) firstStep() string {
	if e.methodEnabled(MethodCode) {
		return StepCodeRequired
	}
	return StepLinkRequired
}

// startFlow is the shared core of the API and page request: validate, rate
// limit by IP, then queue the request, or settle it at once when it is
// over the per-identifier limit and the counters are local.
func (e *Engine) startFlow(r *http.Request, identifier string) (string, *apiError) {
	ident, ok := cleanText(identifier, maxIdentifier)
	if !ok {
		return "", invalid("identifier must be 1 to 254 printable characters", "/identifier")
	}
	ip := e.cfg.ClientIP(r)
	if err := e.limitIP(r.Context(), ip); err != nil {
		return "", err
	}
	job := requestJob{identifier: ident, ip: ip, at: e.now()}
	if e.counters != nil && e.cfg.PerIdentifier.Count > 0 && e.methodEnabled(MethodCode) {
		// One process counts (Badger): the limit on the identifier as
		// typed is counted here, in memory, and a request over it is
		// settled before the answer (settleInHandler): a decoy flow
		// instead of a queue entry, a counter and a decoy flow in the
		// background. Known and unknown identifiers go the same way, and
		// both paths wait for one store commit, so they answer in the
		// same time. With links only there is no decoy to give, and
		// settling here would answer sooner than the queue: such
		// requests are counted in the background as before.
		var kb [identKeyLen]byte
		n, ok := e.counters.incr(e.counters.keyBytes(e.appendIdentLimitKey(kb[:0], ident)), job.at, e.cfg.PerIdentifier.Window)
		job.counted = ok
		if over := n - int64(e.cfg.PerIdentifier.Count); ok && over > 0 {
			flowID, err := e.settleInHandler(r.Context(), job, over)
			if err != nil {
				return "", storeUnavailable(err)
			}
			return flowID, nil
		}
	}
	flowID, err := e.newFlowID(job)
	if err != nil {
		return "", internalError(err)
	}
	job.flowID = flowID
	if err := e.acceptRequest(r.Context(), job); err != nil {
		return "", storeUnavailable(err)
	}
	return flowID, nil
}

// limitIP counts a reset request from ip against the per-IP limit, by
// its prefix (limitAddr), and returns the 429 once over the limit. The
// prefix is put together on the stack, as every reset request is counted.
func (e *Engine) limitIP(ctx context.Context, ip string) *apiError {
	l := e.cfg.PerIP
	if l.Count <= 0 {
		return nil
	}
	var buf [64]byte // an IPv6 prefix takes at most 43
	addr := e.appendLimitAddr(buf[:0], ip)
	n, err := e.count(ctx, e.counters.keyBytes(addr), func() string { return e.keys.ipKey(string(addr)) }, l)
	if err != nil {
		return storeUnavailable(err)
	}
	if n > int64(l.Count) {
		apiErr := newError(http.StatusTooManyRequests, CodeRateLimited, "too many requests from this address", "")
		apiErr.retry = l.Window
		return apiErr
	}
	return nil
}

// runRequests processes queued reset requests until stop ends, then drains
// the queue with work (cancelled by Stop at the drain deadline).
func (e *Engine) runRequests(stop, work context.Context) {
	process := func(job requestJob) {
		if err := e.processQueued(work, job); err != nil {
			e.log.Error("processing reset request", zap.Error(err))
		}
	}
	for {
		select {
		case <-stop.Done():
			// Drain: every queued request was answered 202 already.
			for {
				select {
				case job := <-e.jobs:
					if work.Err() != nil {
						return
					}
					process(job)
				default:
					return
				}
			}
		case job := <-e.jobs:
			process(job)
		}
	}
}

// overRequestLimit counts one reset request against l under key: in
// memory when the counters are local (Config.LocalCounters), else in the
// store.
func (e *Engine) overRequestLimit(ctx context.Context, key string, l Limit) (bool, error) {
	if l.Count <= 0 {
		return false, nil
	}
	n, err := e.count(ctx, e.counters.key(key), func() string { return key }, l)
	if err != nil {
		return false, err
	}
	return n > int64(l.Count), nil
}

// overLimit counts one event against l under key in the store.
func (e *Engine) overLimit(ctx context.Context, key string, l Limit) (bool, error) {
	if l.Count <= 0 {
		return false, nil
	}
	n, err := e.store.Incr(ctx, key, l.Window)
	if err != nil {
		return false, err
	}
	return n > int64(l.Count), nil
}

// sendMail renders a mail in the user's language and puts it in the
// durable outbox.
func (e *Engine) sendMail(ctx context.Context, user User, kind string, data any) {
	if e.mail == nil || user.Email == "" {
		return
	}
	subject, text, html, err := e.cfg.Templates.RenderLocale(kind, user.Locale, data)
	if err != nil {
		e.log.Error("rendering mail", zap.String("template", kind), zap.Error(err))
		return
	}
	if err := e.mail.enqueue(ctx, mailer.Message{To: user.Email, ToName: user.Name, Subject: subject, Text: text, HTML: html, Kind: kind}); err != nil {
		e.log.Error("mail not queued", zap.String("kind", kind), zap.String("user_id", user.ID), zap.Error(err))
	}
}

// handlePreflight tells a front end whether a token is usable, without
// consuming it: mail scanners prefetch links.
func (e *Engine) handlePreflight(w http.ResponseWriter, r *http.Request) *apiError {
	rec, _, err := e.loadToken(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "expires_at": rec.ExpiresAt.UTC().Format(time.RFC3339), "next_step": rec.nextStep()})
	return nil
}

// loadToken returns a live token's record and store key. Unknown, used,
// expired and malformed tokens are all 404 TOKEN_INVALID. Expiry is
// checked against the server clock, not only the store's TTL (invariant 3).
func (e *Engine) loadToken(ctx context.Context, token string) (tokenRecord, string, *apiError) {
	if !wellFormedToken(token) {
		return tokenRecord{}, "", errTokenInvalid
	}
	rec, key, found, err := e.getToken(ctx, token)
	if err != nil {
		return rec, "", storeUnavailable(err)
	}
	if !found || !e.now().Before(rec.ExpiresAt) || !e.viaAllowed(rec.Via) {
		return rec, "", errTokenInvalid
	}
	return rec, key, nil
}

// errPasskeyRequired answers a complete whose user must still prove a
// passkey (require_passkey): a mailbox alone does not bypass a registered
// second factor (ASVS 5.0 6.4.3).
var errPasskeyRequired = newError(http.StatusForbidden, CodePasskeyRequired, "this account has a passkey: prove it before setting a new password", "")

// nextStep is what the token's holder does next.
func (t tokenRecord) nextStep() string {
	if t.NeedsPasskey {
		return StepPasskeyRequired
	}
	return StepNewPasswordRequired
}

// needsPasskey reports whether a reset of this user must include a passkey.
func (e *Engine) needsPasskey(ctx context.Context, userID string) (bool, error) {
	if !e.cfg.RequirePasskey {
		return false, nil
	}
	return e.hasPasskey(ctx, userID)
}

// handleVerify checks a mailed code and trades it for a token.
func (e *Engine) handleVerify(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		FlowID *string `json:"flow_id"`
		Code   *string `json:"code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.FlowID == nil {
		return invalid("flow_id is required", "/flow_id")
	}
	if in.Code == nil {
		return invalid("code is required", "/code")
	}
	token, step, apiErr := e.verifyCode(r.Context(), *in.FlowID, *in.Code)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token, "next_step": step})
	return nil
}

var errCodeInvalid = newError(http.StatusBadRequest, CodeCodeInvalid, "the code is wrong or expired", "/code")
var errFlowLocked = newError(http.StatusBadRequest, CodeFlowLocked, "too many wrong codes; request a new reset", "/code")

// normaliseCode accepts "12345678", "1234 5678" and "1234-5678".
func normaliseCode(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(s) != 8 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// handleComplete sets the new password.
func (e *Engine) handleComplete(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Token    *string `json:"token"`
		Password *string `json:"password"`
		Confirm  *string `json:"confirm"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Token == nil {
		return invalid("token is required", "/token")
	}
	if in.Password == nil {
		return invalid("password is required", "/password")
	}
	confirm := ""
	if in.Confirm != nil {
		confirm = *in.Confirm
	}
	if err := e.complete(r.Context(), e.cfg.ClientIP(r), *in.Token, *in.Password, confirm, in.Confirm != nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "password_updated", "next_step": StepDone})
	return nil
}

// policyError turns violations into a 422 listing every failed rule.
func policyError(vs []policy.Violation) *apiError {
	e := &apiError{status: http.StatusUnprocessableEntity}
	for _, v := range vs {
		e.items = append(e.items, ErrorItem{Code: CodePolicyViolated, Detail: v.Detail, Pointer: v.Pointer})
	}
	return e
}

// complete checks the password, hands it to the upstream under a lease on
// the token, and consumes the token only after the upstream said 2xx
// (invariant 2: concurrent calls give exactly one update).
//
// On a store that keeps leases in this process's memory (store.Locker:
// Badger) the lease is taken first, which costs no store access, and the
// token is read once under it. Elsewhere taking the lease is a store
// write, so the token is read first (a request with a bad token writes
// nothing) and again under the lease: a racer that held it may have
// consumed the token between the first read and winning the lease. Either
// way every complete of a token takes the same lease (a store is either a
// Locker or not), and the read under it is the one that counts.
func (e *Engine) complete(ctx context.Context, ip, token, password, confirm string, hasConfirm bool) *apiError {
	_, leaseFirst := e.store.(store.Locker)
	if leaseFirst && wellFormedToken(token) {
		release, apiErr := e.leaseToken(ctx, e.keys.tokenKey(token))
		if apiErr != nil {
			return apiErr
		}
		defer release()
	}
	rec, key, apiErr := e.loadToken(ctx, token)
	if apiErr != nil {
		return apiErr
	}
	if rec.NeedsPasskey {
		return errPasskeyRequired
	}
	if apiErr := e.checkNewPassword(ctx, rec.User, rec.Identifier, password, confirm, hasConfirm, "/password", e.sameAsOldGuard(key, rec.User)); apiErr != nil {
		return apiErr
	}
	if !leaseFirst {
		release, apiErr := e.leaseToken(ctx, key)
		if apiErr != nil {
			return apiErr
		}
		defer release()
		if rec, _, apiErr = e.loadToken(ctx, token); apiErr != nil {
			return apiErr
		}
		if rec.NeedsPasskey {
			return errPasskeyRequired
		}
	}
	held := e.holdChangedMail(ctx, rec.User, ip)
	if err := e.callUpdate(ctx, "password.reset", rec.User, key, password, "/password"); err != nil {
		e.failedChangedMail(context.WithoutCancel(ctx), held, rec.User, err)
		return err
	}
	if _, err := e.store.Consume(context.WithoutCancel(ctx), key); err != nil && !errors.Is(err, store.ErrNotFound) {
		e.log.Error("consuming token after a successful update", zap.Error(err))
	}
	e.afterPasswordChange(context.WithoutCancel(ctx), rec.User, ip, "reset", rec.Via, held)
	return nil
}

// leaseToken takes the lease of the token stored under key for one
// complete, or answers 409 TOKEN_BUSY. The lease is released with a fresh
// context (takeLease): it must go even if the client went away.
func (e *Engine) leaseToken(ctx context.Context, key string) (func(), *apiError) {
	won, release, err := e.takeLease(ctx, lockKey(key), e.updateBound())
	if err != nil {
		return nil, storeUnavailable(err)
	}
	if !won {
		return nil, newError(http.StatusConflict, CodeTokenBusy, "another request is using this token", "")
	}
	return release, nil
}

// afterPasswordChange kills every open token and flow of the user and sends
// the "your password was changed" mail (invariant 8), held before the
// change as held (changedmail.go).
func (e *Engine) afterPasswordChange(ctx context.Context, u User, ip, how, method string, held heldMail) {
	n, err := e.endUser(ctx, u.ID)
	if err != nil {
		e.log.Error("ending the user's other reset tokens", zap.String("user_id", u.ID), zap.Error(err))
	}
	e.audit(zapcore.InfoLevel, "password changed", how, method, zap.String("user_id", u.ID), zap.Int("tokens_ended", n), zap.String("ip", ip))
	if how == "reset" {
		e.passkeysAfterReset(ctx, u.ID)
	}
	e.releaseChangedMail(ctx, held, u, ip)
}

// handleRevoke is the "this wasn't me" action: it ends the user's open
// reset flows and tokens.
func (e *Engine) handleRevoke(w http.ResponseWriter, r *http.Request) *apiError {
	var in struct {
		Token *string `json:"token"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Token == nil {
		return invalid("token is required", "/token")
	}
	if err := e.revoke(r.Context(), *in.Token, e.cfg.ClientIP(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "revoked"})
	return nil
}

func (e *Engine) revoke(ctx context.Context, token, ip string) *apiError {
	if !wellFormedToken(token) {
		return errTokenInvalid
	}
	var rec revokeRecord
	found, err := e.getRecord(ctx, e.keys.revokeKey(token), &rec)
	if err != nil {
		return storeUnavailable(err)
	}
	if !found {
		return errTokenInvalid
	}
	n, err := e.endUser(ctx, rec.UserID)
	if err != nil {
		return storeUnavailable(err)
	}
	e.audit(zapcore.WarnLevel, "reset revoked by the user (\"this wasn't me\")", "revoked", "", zap.String("user_id", rec.UserID), zap.Int("tokens_ended", n), zap.String("ip", ip))
	if err := e.revokePasskeys(ctx, rec); err != nil {
		return storeUnavailable(err)
	}
	return nil
}

// handlePolicy describes the active password rules.
func (e *Engine) handlePolicy(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, e.policyJSON())
	return nil
}

func (e *Engine) policyJSON() map[string]any {
	out := e.cfg.Policy.Describe()
	out["confirm_must_match"] = true
	out["rejects_old_password"] = e.canVerify
	out["methods"] = e.cfg.Methods
	out["token_ttl_seconds"] = int(e.cfg.TokenTTL / time.Second)
	out["code_ttl_seconds"] = int(e.cfg.CodeTTL / time.Second)
	return out
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
