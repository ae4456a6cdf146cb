package plugin

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/policy"
)

// maxOldChecksPerToken bounds how many times one reset token may have a
// new password checked against the current one (SAME_AS_OLD) through the
// verify hook.
const maxOldChecksPerToken = 3

// checkPolicy runs every password rule, the online ones (breached
// service, SAME_AS_OLD through the verify hook) included. Violations are a
// 422; a failed online check with no violation is a 502 that keeps the
// token alive.
func (e *Engine) checkPolicy(ctx context.Context, u User, identifier, password, confirm string, hasConfirm bool, pointer string) *apiError {
	return e.checkNewPassword(ctx, u, identifier, password, confirm, hasConfirm, pointer, nil)
}

// checkNewPassword is checkPolicy with a guard for the old-password check.
// SAME_AS_OLD is checked last, and only for a password that every other
// rule (offline and breached) accepted: an answer with any other violation
// (MISMATCH, TOO_SHORT, ...) has not asked the verify hook, so it cannot
// tell whether the password was the current one. guard, when not nil,
// runs right before the verify hook is asked and may refuse (a spent
// budget).
func (e *Engine) checkNewPassword(ctx context.Context, u User, identifier, password, confirm string, hasConfirm bool, pointer string, guard func(context.Context) *apiError) *apiError {
	in := policy.Input{
		Password: password, Confirm: confirm, HasConfirm: hasConfirm,
		Identifiers:     []string{identifier, u.Email, u.Name},
		PasswordPointer: pointer,
	}
	vs, err := e.cfg.Policy.CheckContext(ctx, in)
	if len(vs) > 0 {
		return policyError(vs)
	}
	if err != nil {
		return upstreamFailed("the password could not be checked right now; try again", err)
	}
	if e.cfg.Verify.URL == "" {
		return nil
	}
	if guard != nil {
		if apiErr := guard(ctx); apiErr != nil {
			return apiErr
		}
	}
	same, err := e.passwordMatches(ctx, u.ID, password)
	if err != nil {
		return upstreamFailed("the password could not be checked right now; try again", err)
	}
	if same {
		if pointer == "" {
			pointer = "/password"
		}
		return policyError([]policy.Violation{{Detail: policy.SameAsOld, Pointer: pointer}})
	}
	return nil
}

// errTooManyOldChecks answers a complete whose token, or whose account,
// has used up its SAME_AS_OLD checks. The token stays alive.
func errTooManyOldChecks(retry time.Duration) *apiError {
	e := newError(http.StatusTooManyRequests, CodeRateLimited, "too many attempts; try again later", "")
	e.retry = retry
	return e
}

// sameAsOldGuard bounds the SAME_AS_OLD checks of a reset: at most
// maxOldChecksPerToken per token, and each check takes one attempt from
// the account's old-password failure budget (account_failures, shared with
// the signed-in change) before the verify hook is asked. A holder of a
// reset token therefore cannot use the check to guess the current
// password more than a handful of times.
func (e *Engine) sameAsOldGuard(tokenKey string, u User) func(context.Context) *apiError {
	return func(ctx context.Context) *apiError {
		n, err := e.store.Incr(ctx, "so/"+tokenKey, e.cfg.TokenTTL)
		if err != nil {
			return storeUnavailable(err)
		}
		if n > maxOldChecksPerToken {
			e.audit(zapcore.WarnLevel, "too many SAME_AS_OLD checks on one reset token", "locked", zap.String("user_id", u.ID))
			return errTooManyOldChecks(e.cfg.TokenTTL)
		}
		ok, err := e.takeOldPasswordAttempt(ctx, e.keys.ownerKey(u.ID))
		if err != nil {
			return storeUnavailable(err)
		}
		if !ok {
			e.audit(zapcore.WarnLevel, "old-password budget spent; SAME_AS_OLD not checked", "locked", zap.String("user_id", u.ID))
			return errTooManyOldChecks(e.cfg.AccountFailures.Window)
		}
		return nil
	}
}

// takeOldPasswordAttempt takes one attempt from the account's
// old-password failure budget, atomically, before the upstream is asked:
// it reports false when the budget is spent. The attempt that spends it
// also sets the account's lock, as recordFailure does.
func (e *Engine) takeOldPasswordAttempt(ctx context.Context, owner string) (bool, error) {
	l := e.cfg.AccountFailures
	if l.Count <= 0 {
		return true, nil
	}
	if locked, err := e.accountLocked(ctx, "old_password", owner); err != nil || locked {
		return false, err
	}
	n, err := e.store.Incr(ctx, "lf/old_password/"+owner, l.Window)
	if err != nil {
		return false, err
	}
	if n >= int64(l.Count) {
		if err := e.store.Put(ctx, "lk/old_password/"+owner, []byte("1"), l.Window, owner); err != nil {
			return false, err
		}
	}
	return n <= int64(l.Count), nil
}
