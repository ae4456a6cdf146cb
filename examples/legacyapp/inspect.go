// What a test reads from an App and sets on it: the password updates and
// calls it received, injected failures, users' passwords and live sessions.

package legacyapp

import "fmt"

// Updates returns a copy of the password updates applied so far, oldest
// first.
func (a *App) Updates() []Update {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Update(nil), a.updates...)
}

// UpdateCalls returns how many correctly signed requests reached the
// password endpoint, including failed, rejected and replayed ones.
func (a *App) UpdateCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.updateCalls
}

// Lookups returns how many correctly signed lookup requests the app has
// answered.
func (a *App) Lookups() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookups
}

// LookupsOf returns how many correctly signed lookups asked about
// identifier (after trimming), so a test can tell its own requests from
// resetgate's start-up self-test, which asks about a reserved identifier.
func (a *App) LookupsOf(identifier string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookedUp[identifier]
}

// LookupsBesides returns how many correctly signed lookups the app has
// answered that did not ask about identifier (after trimming): both
// counts read at once, so that a lookup of identifier in between (the
// self-test's, in the background) cannot skew the difference.
func (a *App) LookupsBesides(identifier string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lookups - a.lookedUp[identifier]
}

// SetFailUpdates makes the next n requests to the password endpoint answer
// 500 without applying anything (for fault tests). n ≤ 0 clears it.
func (a *App) SetFailUpdates(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failUpdates = max(n, 0)
}

// SetPassword stores a bcrypt hash (cost Config.BcryptCost) of plain as user id's password. It does
// not end the user's sessions and is not recorded in Updates.
func (a *App) SetPassword(id, plain string) error {
	h, err := hashPassword(plain, a.bcryptCost)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[id]
	if !ok {
		return fmt.Errorf("legacyapp: unknown user %q", id)
	}
	u.PasswordHash = h
	return nil
}

// User returns a copy of the user with the given ID, stored hash included.
func (a *App) User(id string) (User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// SessionCount returns how many live sessions the user has.
func (a *App) SessionCount(userID string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	n := 0
	for _, s := range a.sessions {
		if s.userID == userID && now.Before(s.expires) {
			n++
		}
	}
	return n
}
