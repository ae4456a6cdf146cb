// A user's stored passkeys (passkeyAccount): loading, atomic updates,
// removal.

package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/store"
)

// loadAccount returns the user's passkeys (found false when none) and the
// raw stored bytes for a later compare-and-swap.
func (e *Engine) loadAccount(ctx context.Context, userID string) (*passkeyAccount, []byte, error) {
	raw, err := e.store.Get(ctx, e.keys.accountKey(userID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var a passkeyAccount
	if err := decodeRecord(raw, &a); err != nil {
		return nil, nil, fmt.Errorf("decoding passkeys: %w", err)
	}
	return &a, raw, nil
}

// hasPasskey reports whether the user registered at least one passkey.
func (e *Engine) hasPasskey(ctx context.Context, userID string) (bool, error) {
	if e.webauthn == nil {
		return false, nil
	}
	a, _, err := e.loadAccount(ctx, userID)
	return a != nil && len(a.Credentials) > 0, err
}

// updateAccount applies change to the user's passkeys atomically (retrying
// on a concurrent writer).
func (e *Engine) updateAccount(ctx context.Context, userID string, change func(*passkeyAccount) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		a, raw, err := e.loadAccount(ctx, userID)
		if err != nil {
			return err
		}
		if a == nil {
			handle := make([]byte, 32)
			if _, err := rand.Read(handle); err != nil {
				return err
			}
			a = &passkeyAccount{UserID: userID, Handle: handle}
		}
		if err := change(a); err != nil {
			return err
		}
		next, err := encodeRecord(a)
		if err != nil {
			return err
		}
		if raw == nil {
			won, err := e.store.PutIfAbsent(ctx, e.keys.accountKey(userID), next, passkeyTTL)
			if err != nil {
				return err
			}
			if !won {
				continue
			}
			return e.store.Put(ctx, handleKey(a.Handle), []byte(userID), passkeyTTL, "")
		}
		ok, err := e.store.CompareAndSwap(ctx, e.keys.accountKey(userID), raw, next)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if ok {
			return nil
		}
	}
	return errors.New("passkeys changed concurrently too often")
}

// removePasskey deletes one of the user's passkeys and reports whether it
// was there. The removal is audit-logged.
func (e *Engine) removePasskey(ctx context.Context, userID string, id []byte) (bool, error) {
	removed := false
	err := e.updateAccount(ctx, userID, func(a *passkeyAccount) error {
		removed = false // a retry starts over
		kept := a.Credentials[:0]
		for _, c := range a.Credentials {
			if bytes.Equal(c.Credential.ID, id) {
				removed = true
				continue
			}
			kept = append(kept, c)
		}
		a.Credentials = kept
		return nil
	})
	if err == nil && removed {
		e.audit(zapcore.InfoLevel, "passkey removed", "passkey_removed", "", zap.String("user_id", userID))
	}
	return removed, err
}
