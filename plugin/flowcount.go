package plugin

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/store"
)

// budget is the key the flow's wrong codes count against: the one it was
// stored with (the identifier's), or the account's owner key for a flow
// stored before budgets were per identifier.
func (f flowRecord) budget(k *keys) string {
	if f.Budget != "" {
		return f.Budget
	}
	return k.ownerKey(f.User.ID)
}

// findFlow returns the flow stored for flowID and its store key (the
// current one when there is none, and found is false). A flow an earlier
// version stored under the long key is found there.
func (e *Engine) findFlow(ctx context.Context, flowID string) (flow flowRecord, key string, found bool, err error) {
	current := e.keys.flowKey(flowID)
	key, found, err = e.getRecordAt(ctx, &flow, current, e.keys.legacyFlowKey(flowID))
	if !found {
		key = current
	}
	return flow, key, found, err
}

// verifyCode checks a mailed code and trades it for a token. A real flow
// and a decoy flow (unknown or disabled account, no mail) take the same
// path, with the same store calls, counters and audit line, up to the
// comparison, which a decoy always fails: the answers (CODE_INVALID, then
// FLOW_LOCKED) and their timing are the same for both.
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
	flow, flowKey, found, err := e.findFlow(ctx, flowID)
	if err != nil {
		return "", "", storeUnavailable(err)
	}
	now := e.now()
	if !found {
		flow, found = e.sealedDecoy(flowID, now)
	}
	if !found || flow.CodeMAC == "" || !now.Before(flow.CodeExpiry) {
		return "", "", errCodeInvalid
	}
	// Every attempt counts, before the comparison, so racing guesses
	// cannot slip past the limit.
	n, err := e.store.Incr(ctx, codeAttemptsKey(flowKey), e.cfg.CodeTTL)
	if err != nil {
		return "", "", storeUnavailable(err)
	}
	if n > int64(e.cfg.MaxCodeAttempts) {
		return "", "", errFlowLocked
	}
	budget := flow.budget(e.keys)
	// The identifier's failure budget spans all its flows, so opening
	// many flows does not multiply guesses.
	if locked, err := e.accountLocked(ctx, budgetCode, budget); err != nil {
		return "", "", storeUnavailable(err)
	} else if locked {
		return "", "", errFlowLocked
	}
	match := subtle.ConstantTimeCompare([]byte(e.keys.codeMAC(flowID, code)), []byte(flow.CodeMAC)) == 1
	if !match || flow.Decoy {
		e.audit(zapcore.InfoLevel, "wrong reset code", "failed", MethodCode, zap.String("user_id", flow.User.ID), zap.Int64("attempt", n))
		over, err := e.recordFailure(ctx, budgetCode, budget)
		if err != nil {
			return "", "", storeUnavailable(err)
		}
		if over || n >= int64(e.cfg.MaxCodeAttempts) {
			e.audit(zapcore.WarnLevel, "reset code attempts exhausted", "locked", MethodCode, zap.String("user_id", flow.User.ID), zap.Bool("account", over))
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
	rec := tokenRecord{User: flow.User, Identifier: flow.Identifier, Via: MethodCode, ExpiresAt: now.Add(e.cfg.TokenTTL), NeedsPasskey: needsPasskey}
	if err := e.putToken(ctx, e.keys.tokenKey(token), rec); err != nil {
		return "", "", storeUnavailable(err)
	}
	e.audit(zapcore.InfoLevel, "reset code verified", "verified", MethodCode, zap.String("user_id", flow.User.ID))
	return token, rec.nextStep(), nil
}
