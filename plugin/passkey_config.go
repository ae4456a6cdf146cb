package plugin

import (
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// PasskeyConfig is the WebAuthn relying party.
type PasskeyConfig struct {
	// RPID is the relying party id, the site's registrable domain.
	RPID string
	// RPName is the name shown by the authenticator.
	RPName string
	// Origins are the origins allowed to run ceremonies.
	Origins []string
	// CeremoniesPerIP limits the ceremonies one client address may start.
	// Default: 30 per 5 minutes.
	CeremoniesPerIP Limit
	// CeremoniesPerFlow limits the ceremonies started for one flow, token
	// or signed-in account within token_ttl. Default: 5.
	CeremoniesPerFlow int
	// MaxCeremonies caps the ceremonies started by all clients per 5
	// minutes (a ceremony's lifetime). Default: 10000.
	MaxCeremonies int
	// RemoveOnReset removes every passkey of a user whose password is
	// reset (by link, code, passkey or admin token). Default: false:
	// passkeys older than the reset stay.
	RemoveOnReset bool
}

// ceremonyTTL bounds a WebAuthn ceremony: challenges are short-lived.
const ceremonyTTL = 5 * time.Minute

// passkeyTTL keeps credentials: the store needs a TTL, and a passkey is
// meant to last.
const passkeyTTL = 10 * 365 * 24 * time.Hour

func newWebAuthn(c *PasskeyConfig) (*webauthn.WebAuthn, error) {
	wa, err := webauthn.New(&webauthn.Config{
		RPID: c.RPID, RPDisplayName: c.RPName, RPOrigins: c.Origins,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return wa, nil
}
