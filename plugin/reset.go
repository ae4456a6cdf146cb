package plugin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/hookreq"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/plugin/policy"
	"github.com/resetgate/resetgate/store"
)

// User is what the lookup hook tells about an identifier.
type User struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
	Locale string `json:"locale,omitempty"`
}

// flowRecord is a reset flow as stored under its flow key.
type flowRecord struct {
	User       User      `json:"user"`
	Identifier string    `json:"identifier"`
	CodeMAC    string    `json:"code_mac,omitempty"`
	CodeExpiry time.Time `json:"code_expires_at,omitempty"`
	TokenKey   string    `json:"token_key"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
}

// tokenRecord is a password-setting token as stored under its token key.
type tokenRecord struct {
	User       User   `json:"user"`
	Identifier string `json:"identifier"`
	FlowKey    string `json:"flow_key,omitempty"`
	Via        string `json:"via"`
	// NeedsPasskey marks a token whose user must still prove a passkey
	// (require_passkey).
	NeedsPasskey bool      `json:"needs_passkey,omitempty"`
	IssuedAt     time.Time `json:"issued_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// revokeRecord backs a "this wasn't me" link.
type revokeRecord struct {
	UserID  string `json:"user_id"`
	FlowKey string `json:"flow_key"`
}

// requestJob is a reset request waiting for lookup and mail.
type requestJob struct {
	identifier string
	flowID     string
	ip         string
	at         time.Time
	seq        int64 // the entry in the durable request queue
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
	var in struct {
		Identifier *string `json:"identifier"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Identifier == nil {
		return invalid("identifier is required", "/identifier")
	}
	flowID, apiErr := e.startFlow(r, *in.Identifier)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"flow_id": flowID, "next_step": e.firstStep()})
	return nil
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
// limit by IP, queue.
func (e *Engine) startFlow(r *http.Request, identifier string) (string, *apiError) {
	ident, ok := cleanText(identifier, maxIdentifier)
	if !ok {
		return "", invalid("identifier must be 1 to 254 printable characters", "/identifier")
	}
	ip := e.cfg.ClientIP(r)
	if err := e.limitIP(r.Context(), ip); err != nil {
		return "", err
	}
	flowID, err := newToken()
	if err != nil {
		return "", internalError(err)
	}
	job := requestJob{identifier: ident, flowID: flowID, ip: ip, at: e.now()}
	if err := e.acceptRequest(r.Context(), job); err != nil {
		return "", storeUnavailable(err)
	}
	return flowID, nil
}

func (e *Engine) limitIP(ctx context.Context, ip string) *apiError {
	if e.cfg.PerIP.Count <= 0 {
		return nil
	}
	var n int64
	if e.perIP != nil {
		n = e.perIP.incr(ip, e.now(), e.cfg.PerIP.Window)
	} else {
		var err error
		if n, err = e.store.Incr(ctx, e.keys.ipKey(ip), e.cfg.PerIP.Window); err != nil {
			return storeUnavailable(err)
		}
	}
	if n > int64(e.cfg.PerIP.Count) {
		apiErr := newError(http.StatusTooManyRequests, CodeRateLimited, "too many requests from this address", "")
		apiErr.retry = e.cfg.PerIP.Window
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

// overLimit counts one event under key and reports whether l is exceeded.
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

func (e *Engine) processRequest(ctx context.Context, job requestJob) error {
	over, err := e.overLimit(ctx, e.keys.identKey(strings.ToLower(job.identifier)), e.cfg.PerIdentifier)
	if err != nil {
		return fmt.Errorf("counting identifier: %w", err)
	}
	if over {
		e.audit(zapcore.InfoLevel, "reset request over the per-identifier limit; no mail", "rate_limited")
		return nil
	}
	user, found, err := e.lookup(ctx, job.identifier)
	if err != nil {
		return err
	}
	if !found {
		e.audit(zapcore.InfoLevel, "reset requested for an unknown identifier", "requested", zap.Bool("known", false), zap.String("ip", job.ip))
		return nil
	}
	over, err = e.overLimit(ctx, "rm/global", e.cfg.MailBudget)
	if err != nil {
		return fmt.Errorf("counting mail budget: %w", err)
	}
	if over {
		e.audit(zapcore.WarnLevel, "global reset mail budget exhausted; no mail", "mail_budget", zap.String("user_id", user.ID))
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
	owner := e.keys.ownerKey(user.ID)
	flowKey := e.keys.flowKey(job.flowID)
	tokenKey := e.keys.tokenKey(token)
	flow := flowRecord{
		User: user, Identifier: job.identifier, TokenKey: tokenKey,
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
	if err := e.putJSON(ctx, flowKey, flow, e.cfg.TokenTTL, owner); err != nil {
		return err
	}
	needsPasskey, err := e.needsPasskey(ctx, user.ID)
	if err != nil {
		return err
	}
	var link string
	if e.methodEnabled(MethodLink) {
		rec := tokenRecord{User: user, Identifier: job.identifier, FlowKey: flowKey, Via: MethodLink, IssuedAt: now, ExpiresAt: now.Add(e.cfg.TokenTTL), NeedsPasskey: needsPasskey}
		if err := e.putJSON(ctx, tokenKey, rec, e.cfg.TokenTTL, owner); err != nil {
			return err
		}
		link = e.resetLink(token)
	}
	if err := e.putJSON(ctx, e.keys.revokeKey(revoke), revokeRecord{UserID: user.ID, FlowKey: flowKey}, e.cfg.RevokeTTL, ""); err != nil {
		return err
	}
	e.audit(zapcore.InfoLevel, "reset requested", "requested", zap.Bool("known", true), zap.String("user_id", user.ID), zap.String("ip", job.ip))
	revokeLink := e.link("/revoke", url.Values{"token": {revoke}})
	if e.cfg.Deliver.URL != "" {
		e.deliverReset(ctx, user, link, code, revokeLink, flow.ExpiresAt)
	}
	e.sendMail(ctx, user, "reset", mailer.ResetData{
		SiteName: e.cfg.SiteName, UserName: user.Name, Link: link, Code: code,
		ExpiresAt: flow.ExpiresAt, TTL: humanDuration(e.cfg.TokenTTL), RequestIP: job.ip, RequestTime: job.at,
		RevokeLink: revokeLink, SupportContact: e.cfg.SupportContact,
	})
	return nil
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

// lookup asks the upstream who an identifier is.
func (e *Engine) lookup(ctx context.Context, identifier string) (User, bool, error) {
	body, _ := json.Marshal(map[string]string{"identifier": identifier})
	resp, err := e.cfg.Lookup.call(ctx, "", hookreq.Values{"identifier": identifier}, body, "", nil)
	if err != nil {
		return User{}, false, fmt.Errorf("lookup: %w", err)
	}
	switch {
	case resp.Status == http.StatusNotFound:
		return User{}, false, nil
	case !e.cfg.Lookup.ok(resp):
		return User{}, false, fmt.Errorf("lookup answered status %d", resp.Status)
	}
	f, err := e.cfg.Lookup.fields(resp)
	if err != nil {
		return User{}, false, fmt.Errorf("lookup answered success without a user id: %w", err)
	}
	if f["id"] == "" {
		return User{}, false, errors.New("lookup answered success without a user id")
	}
	return User{ID: f["id"], Email: f["email"], Name: f["name"], Role: f["role"], Locale: f["locale"]}, true, nil
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
	var rec tokenRecord
	if !wellFormedToken(token) {
		return rec, "", errTokenInvalid
	}
	key := e.keys.tokenKey(token)
	found, err := e.getJSON(ctx, key, &rec)
	if err != nil {
		return rec, "", storeUnavailable(err)
	}
	if !found || !e.now().Before(rec.ExpiresAt) {
		return rec, "", errTokenInvalid
	}
	return rec, key, nil
}

// errPasskeyRequired answers a complete whose user must still prove a
// passkey (require_passkey): a mailbox alone does not bypass a registered
// second factor (ASVS 5.0 6.4.3).
var errPasskeyRequired = newError(http.StatusForbidden, StepPasskeyRequired, "this account has a passkey: prove it before setting a new password", "")

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

func (e *Engine) verifyCode(ctx context.Context, flowID, rawCode string) (string, string, *apiError) {
	if !e.methodEnabled(MethodCode) {
		return "", "", newError(http.StatusNotFound, CodeNotFound, "codes are not enabled", "")
	}
	code, ok := normaliseCode(rawCode)
	if !ok {
		return "", "", invalid("code must be 8 digits", "/code")
	}
	if !wellFormedToken(flowID) {
		return "", "", errCodeInvalid
	}
	flowKey := e.keys.flowKey(flowID)
	var flow flowRecord
	found, err := e.getJSON(ctx, flowKey, &flow)
	if err != nil {
		return "", "", storeUnavailable(err)
	}
	now := e.now()
	if !found || flow.CodeMAC == "" || !now.Before(flow.CodeExpiry) {
		return "", "", errCodeInvalid
	}
	// Every attempt counts, before the comparison, so racing guesses
	// cannot slip past the limit.
	n, err := e.store.Incr(ctx, "ca/"+flowKey, e.cfg.CodeTTL)
	if err != nil {
		return "", "", storeUnavailable(err)
	}
	if n > int64(e.cfg.MaxCodeAttempts) {
		return "", "", errFlowLocked
	}
	owner := e.keys.ownerKey(flow.User.ID)
	// The account's failure budget spans all its flows, so opening many
	// flows does not multiply guesses.
	if locked, err := e.accountLocked(ctx, "code", owner); err != nil {
		return "", "", storeUnavailable(err)
	} else if locked {
		return "", "", errFlowLocked
	}
	if subtle.ConstantTimeCompare([]byte(e.keys.codeMAC(flowID, code)), []byte(flow.CodeMAC)) != 1 {
		e.audit(zapcore.InfoLevel, "wrong reset code", "failed", zap.String("user_id", flow.User.ID), zap.Int64("attempt", n))
		over, err := e.recordFailure(ctx, "code", owner)
		if err != nil {
			return "", "", storeUnavailable(err)
		}
		if over || n >= int64(e.cfg.MaxCodeAttempts) {
			e.audit(zapcore.WarnLevel, "reset code attempts exhausted", "locked", zap.String("user_id", flow.User.ID), zap.Bool("account", over))
			return "", "", errFlowLocked
		}
		return "", "", errCodeInvalid
	}
	// One winner: the flow is consumed, so a code works once.
	if _, err := e.store.Consume(ctx, flowKey); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", "", errCodeInvalid
		}
		return "", "", storeUnavailable(err)
	}
	token, err := newToken()
	if err != nil {
		return "", "", internalError(err)
	}
	needsPasskey, err := e.needsPasskey(ctx, flow.User.ID)
	if err != nil {
		return "", "", storeUnavailable(err)
	}
	rec := tokenRecord{User: flow.User, Identifier: flow.Identifier, Via: MethodCode, IssuedAt: now, ExpiresAt: now.Add(e.cfg.TokenTTL), NeedsPasskey: needsPasskey}
	if err := e.putJSON(ctx, e.keys.tokenKey(token), rec, e.cfg.TokenTTL, owner); err != nil {
		return "", "", storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "reset code verified", "verified", zap.String("user_id", flow.User.ID))
	return token, rec.nextStep(), nil
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

// checkPolicy runs every password rule, the online ones (breached
// service, SAME_AS_OLD through the verify hook) included. Violations are a
// 422; a failed online check with no violation is a 502 that keeps the
// token alive.
func (e *Engine) checkPolicy(ctx context.Context, u User, identifier, password, confirm string, hasConfirm bool, pointer string) *apiError {
	in := policy.Input{
		Password: password, Confirm: confirm, HasConfirm: hasConfirm,
		Identifiers:     []string{identifier, u.Email, u.Name},
		PasswordPointer: pointer,
	}
	if e.cfg.Verify.URL != "" {
		in.OldPasswordMatches = func(ctx context.Context, pw string) (bool, error) {
			return e.passwordMatches(ctx, u.ID, pw)
		}
	}
	vs, err := e.cfg.Policy.CheckContext(ctx, in)
	if len(vs) > 0 {
		return policyError(vs)
	}
	if err != nil {
		return upstreamFailed("the password could not be checked right now; try again", err)
	}
	return nil
}

// passwordMatches asks the verify hook whether pw is the user's current
// password (verifyhook.go reads the answer).
func (e *Engine) passwordMatches(ctx context.Context, userID, pw string) (bool, error) {
	body, err := json.Marshal(map[string]string{"user_id": userID, "password": pw})
	if err != nil {
		return false, err
	}
	resp, err := e.cfg.Verify.call(ctx, "", hookreq.Values{"user.id": userID, "password": pw}, body, "", nil)
	if err != nil {
		return false, fmt.Errorf("verify: %w", err)
	}
	return e.verifyAnswer(resp)
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
func (e *Engine) complete(ctx context.Context, ip, token, password, confirm string, hasConfirm bool) *apiError {
	rec, key, apiErr := e.loadToken(ctx, token)
	if apiErr != nil {
		return apiErr
	}
	if rec.NeedsPasskey {
		return errPasskeyRequired
	}
	if apiErr := e.checkPolicy(ctx, rec.User, rec.Identifier, password, confirm, hasConfirm, "/password"); apiErr != nil {
		return apiErr
	}
	lease := e.cfg.Update.Client.Timeout + 10*time.Second
	won, err := e.store.PutIfAbsent(ctx, lockKey(key), []byte("1"), lease)
	if err != nil {
		return storeUnavailable(err)
	}
	if !won {
		return newError(http.StatusConflict, CodeTokenBusy, "another request is using this token", "")
	}
	defer func() {
		// Release with a fresh context: the lease must go even if the
		// client went away.
		if err := e.store.Delete(context.WithoutCancel(ctx), lockKey(key)); err != nil {
			e.log.Warn("releasing token lease", zap.Error(err))
		}
	}()
	// Re-read under the lease: a racer that held it may have consumed the
	// token between our first read and winning the lease.
	if rec, _, apiErr = e.loadToken(ctx, token); apiErr != nil {
		return apiErr
	}
	if rec.NeedsPasskey {
		return errPasskeyRequired
	}
	if err := e.callUpdate(ctx, "password.reset", rec.User, key, password); err != nil {
		return err
	}
	if _, err := e.store.Consume(context.WithoutCancel(ctx), key); err != nil && !errors.Is(err, store.ErrNotFound) {
		e.log.Error("consuming token after a successful update", zap.Error(err))
	}
	e.afterPasswordChange(context.WithoutCancel(ctx), rec.User, ip, "reset")
	return nil
}

// callUpdate sends the new password (or its hash) to the upstream.
func (e *Engine) callUpdate(ctx context.Context, typ string, u User, tokenKey, password string) *apiError {
	body := map[string]any{"type": typ, "user_id": u.ID, "revoke_sessions": true}
	vals := userValues(u, u.Email)
	vals["type"], vals["revoke_sessions"], vals["password"] = typ, true, password
	vals["password_hash"], vals["hash_format"] = "", ""
	if e.cfg.Hasher != nil {
		h, err := e.cfg.Hasher.Hash(password)
		if err != nil {
			return internalError(fmt.Errorf("hashing the new password: %w", err))
		}
		body["password_hash"] = h
		body["hash_format"] = e.cfg.Hasher.Format()
		vals["password_hash"], vals["hash_format"] = h, e.cfg.Hasher.Format()
	} else {
		body["password"] = password
	}
	data, err := json.Marshal(body)
	if err != nil {
		return internalError(err)
	}
	// The same token and password give the same key, so an upstream that
	// applied a call whose answer we lost can recognise the retry.
	idem := mac(e.keys.idem, tokenKey, password)[:32]
	const notAccepted = "the application did not accept the new password; try again"
	resp, err := e.cfg.Update.call(ctx, "", vals, data, idem, nil)
	if err != nil {
		return upstreamFailed(notAccepted, err)
	}
	if !e.cfg.Update.ok(resp) {
		return upstreamFailed(notAccepted, fmt.Errorf("update answered status %d", resp.Status))
	}
	return nil
}

// afterPasswordChange kills every open token and flow of the user and sends
// the "your password was changed" mail (invariant 8).
func (e *Engine) afterPasswordChange(ctx context.Context, u User, ip, how string) {
	n, err := e.store.DeleteOwner(ctx, e.keys.ownerKey(u.ID))
	if err != nil {
		e.log.Error("ending the user's other reset tokens", zap.String("user_id", u.ID), zap.Error(err))
	}
	e.audit(zapcore.InfoLevel, "password changed", how, zap.String("user_id", u.ID), zap.Int("tokens_ended", n), zap.String("ip", ip))
	e.sendMail(ctx, u, "changed", mailer.ChangedData{
		SiteName: e.cfg.SiteName, UserName: u.Name, ChangedAt: e.now(), RequestIP: ip,
		ResetLink: e.link("/", nil), SupportContact: e.cfg.SupportContact,
	})
}

// handleRevoke is the "this wasn't me" action: it ends the user's open
// reset flows and tokens.
func (e *Engine) handleRevoke(w http.ResponseWriter, r *http.Request) *apiError {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		e.pages.revokeSubmit(w, r)
		return nil
	}
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
	found, err := e.getJSON(ctx, e.keys.revokeKey(token), &rec)
	if err != nil {
		return storeUnavailable(err)
	}
	if !found {
		return errTokenInvalid
	}
	n, err := e.store.DeleteOwner(ctx, e.keys.ownerKey(rec.UserID))
	if err != nil {
		return storeUnavailable(err)
	}
	e.audit(zapcore.WarnLevel, "reset revoked by the user (\"this wasn't me\")", "revoked", zap.String("user_id", rec.UserID), zap.Int("tokens_ended", n), zap.String("ip", ip))
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
	out["rejects_old_password"] = e.cfg.Verify.URL != ""
	out["methods"] = e.cfg.Methods
	out["token_ttl_seconds"] = int(e.cfg.TokenTTL / time.Second)
	out["code_ttl_seconds"] = int(e.cfg.CodeTTL / time.Second)
	return out
}

func (e *Engine) putJSON(ctx context.Context, key string, v any, ttl time.Duration, owner string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding record: %w", err)
	}
	if err := e.store.Put(ctx, key, data, ttl, owner); err != nil {
		return fmt.Errorf("storing record: %w", err)
	}
	return nil
}

func (e *Engine) getJSON(ctx context.Context, key string, v any) (bool, error) {
	data, err := e.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decoding record: %w", err)
	}
	return true, nil
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
