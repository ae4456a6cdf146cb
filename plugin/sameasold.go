package plugin

import (
	"context"

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
// runs right before the verify hook would be asked: false skips the
// check (a spent bound), an error answers.
func (e *Engine) checkNewPassword(ctx context.Context, u User, identifier, password, confirm string, hasConfirm bool, pointer string, guard func(context.Context) (bool, *apiError)) *apiError {
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
	if !e.canVerify {
		return nil
	}
	if guard != nil {
		if check, apiErr := guard(ctx); apiErr != nil || !check {
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

// sameAsOldGuard bounds the SAME_AS_OLD checks of a reset: at most
// maxOldChecksPerToken per token, and each check takes one attempt from
// the account's old-password failure budget (account_failures, shared with
// the signed-in change) before the verify hook is asked. A holder of a
// reset token therefore cannot use the check to guess the current
// password more than a handful of times. Beyond either bound the check is
// skipped, not refused: the answer then depends on nothing the attacker
// does not know, and a user whose budget someone else spent can still
// reset (SAME_AS_OLD is hygiene, not a defence).
func (e *Engine) sameAsOldGuard(tokenKey string, u User) func(context.Context) (bool, *apiError) {
	return func(ctx context.Context) (bool, *apiError) {
		n, err := e.store.Incr(ctx, sameAsOldKey(tokenKey), e.cfg.TokenTTL)
		if err != nil {
			return false, storeUnavailable(err)
		}
		if n > maxOldChecksPerToken {
			e.audit(zapcore.WarnLevel, "SAME_AS_OLD bound per reset token reached; not checked", "same_as_old_skipped", "", zap.String("user_id", u.ID))
			return false, nil
		}
		ok, err := e.takeOldPasswordAttempt(ctx, e.keys.ownerKey(u.ID))
		if err != nil {
			return false, storeUnavailable(err)
		}
		if !ok {
			e.audit(zapcore.WarnLevel, "old-password budget spent; SAME_AS_OLD not checked", "same_as_old_skipped", "", zap.String("user_id", u.ID))
			return false, nil
		}
		return true, nil
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
	if locked, err := e.accountLocked(ctx, budgetOldPassword, owner); err != nil || locked {
		return false, err
	}
	n, err := e.store.Incr(ctx, failureCountKey(budgetOldPassword, owner), l.Window)
	if err != nil {
		return false, err
	}
	if n >= int64(l.Count) {
		if err := e.store.Put(ctx, lockoutKey(budgetOldPassword, owner), []byte("1"), l.Window, owner); err != nil {
			return false, err
		}
	}
	return n <= int64(l.Count), nil
}
