package plugin

import (
	"context"
	"net/http"

	"go.uber.org/zap"
)

// attemptBudget hands out the account's password-guess budget
// (account_failures) one slot at a time, before the guess reaches the app.
//
// A check-then-count limit (is the account locked? ask the app; count the
// failure afterwards) lets racing guesses through: all of them pass the
// check before the first failure is counted. Here each guess first takes
// one of Count slots with PutIfAbsent, which has exactly one winner per
// slot on every backend, so at most Count guesses are ever in flight or
// spent within a window, however many arrive at once. A right password (or
// a failed call that checked nothing) gives its slot back; a wrong one
// keeps it until the window ends.
type attemptBudget struct {
	e     *Engine
	kind  string // "old_password"
	owner string
}

// attempt is one slot taken from a budget.
type attempt struct {
	b   attemptBudget
	key string // the slot's store key; "" when the budget is off
}

// errBudgetSpent answers a guess when the account's budget is spent.
func (e *Engine) errBudgetSpent() *apiError {
	apiErr := newError(http.StatusTooManyRequests, CodeRateLimited, "too many wrong passwords; try again later", "")
	apiErr.retry = e.cfg.AccountFailures.Window
	return apiErr
}

func (e *Engine) passwordBudget(owner string) attemptBudget {
	return attemptBudget{e: e, kind: budgetOldPassword, owner: owner}
}

// take reserves one guess. It answers 429 RATE_LIMITED when the account is
// locked or every slot of the window is taken.
func (b attemptBudget) take(ctx context.Context) (attempt, *apiError) {
	e := b.e
	if locked, err := e.accountLocked(ctx, b.kind, b.owner); err != nil {
		return attempt{}, storeUnavailable(err)
	} else if locked {
		return attempt{}, e.errBudgetSpent()
	}
	l := e.cfg.AccountFailures
	if l.Count <= 0 {
		return attempt{b: b}, nil
	}
	for i := 0; i < l.Count; i++ {
		key := budgetSlotKey(b.kind, b.owner, i)
		won, err := e.store.PutIfAbsent(ctx, key, []byte("1"), l.Window)
		if err != nil {
			return attempt{}, storeUnavailable(err)
		}
		if won {
			return attempt{b: b, key: key}, nil
		}
	}
	return attempt{}, e.errBudgetSpent()
}

// refund gives the slot back: the guess was right, or nothing was checked.
func (a attempt) refund(ctx context.Context) {
	if a.key == "" {
		return
	}
	if err := a.b.e.store.Delete(context.WithoutCancel(ctx), a.key); err != nil {
		a.b.e.log.Warn("giving back a password-guess slot", zap.Error(err))
	}
}

// spend keeps the slot (a wrong guess) and counts the failure, which locks
// the account for the window once the budget is spent.
func (a attempt) spend(ctx context.Context) *apiError {
	if _, err := a.b.e.recordFailure(ctx, a.b.kind, a.b.owner); err != nil {
		return storeUnavailable(err)
	}
	return nil
}

// checkCurrentPassword asks the verify hook whether pw is the user's
// current password, spending one guess of the account's budget first and
// giving it back when the password was right.
func (e *Engine) checkCurrentPassword(ctx context.Context, user User, pw string) (bool, *apiError) {
	a, apiErr := e.passwordBudget(e.keys.ownerKey(user.ID)).take(ctx)
	if apiErr != nil {
		return false, apiErr
	}
	ok, err := e.passwordMatches(ctx, user.ID, pw)
	if err != nil {
		a.refund(ctx)
		return false, upstreamFailed("the application could not check the password; try again", err)
	}
	if ok {
		a.refund(ctx)
		return true, nil
	}
	if apiErr := a.spend(ctx); apiErr != nil {
		return false, apiErr
	}
	return false, nil
}
