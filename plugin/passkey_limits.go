package plugin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Default bounds on WebAuthn ceremonies (see PasskeyConfig).
var (
	defaultCeremoniesPerIP = Limit{Count: 30, Window: ceremonyTTL}
)

const (
	defaultCeremoniesPerFlow = 5
	defaultMaxCeremonies     = 10000
)

// passkeyDefaults fills the ceremony bounds of a passkey config.
func passkeyDefaults(c *PasskeyConfig, baseURL, siteName string) {
	if u, err := url.Parse(baseURL); err == nil {
		if c.RPID == "" {
			c.RPID = u.Hostname()
		}
		if len(c.Origins) == 0 {
			c.Origins = []string{u.Scheme + "://" + u.Host}
		}
	}
	if c.RPName == "" {
		c.RPName = siteName
	}
	if c.CeremoniesPerIP == (Limit{}) {
		c.CeremoniesPerIP = defaultCeremoniesPerIP
	}
	if c.CeremoniesPerFlow == 0 {
		c.CeremoniesPerFlow = defaultCeremoniesPerFlow
	}
	if c.MaxCeremonies == 0 {
		c.MaxCeremonies = defaultMaxCeremonies
	}
}

// errTooManyCeremonies answers a ceremony over one of the bounds. It says
// nothing about any account: the per-flow count runs for any well-formed
// flow id, stored or not.
func errTooManyCeremonies(retry time.Duration) *apiError {
	apiErr := newError(http.StatusTooManyRequests, CodeRateLimited, "too many passkey attempts; try again later", "")
	apiErr.retry = retry
	return apiErr
}

// limitCeremony counts a ceremony about to be stored, before anything is
// stored: per client address, per scope (the flow, token or account it is
// for; "" for none), and across all clients, so that ceremonies (each a
// stored challenge for ceremonyTTL) cannot be piled up without bound.
func (e *Engine) limitCeremony(ctx context.Context, r *http.Request, scope string) *apiError {
	pc := e.cfg.Passkey
	if l := pc.CeremoniesPerIP; l.Count > 0 {
		ip := e.cfg.ClientIP(r)
		n, err := e.count(ctx, e.counters.key("ceremony\x00"+ip), func() string { return e.keys.ceremonyIPKey(ip) }, l)
		if err != nil {
			return storeUnavailable(err)
		}
		if n > int64(l.Count) {
			return errTooManyCeremonies(l.Window)
		}
	}
	if scope != "" && pc.CeremoniesPerFlow > 0 {
		// A flow or token lives at most token_ttl: count over that.
		over, err := e.overLimit(ctx, ceremonyScopeKey(scope), Limit{Count: pc.CeremoniesPerFlow, Window: e.cfg.TokenTTL})
		if err != nil {
			return storeUnavailable(err)
		}
		if over {
			return errTooManyCeremonies(e.cfg.TokenTTL)
		}
	}
	if pc.MaxCeremonies > 0 {
		// A fixed window as long as a ceremony lives: at most twice the
		// cap is stored at any moment.
		over, err := e.overLimit(ctx, ceremoniesAllKey, Limit{Count: pc.MaxCeremonies, Window: ceremonyTTL})
		if err != nil {
			return storeUnavailable(err)
		}
		if over {
			return errTooManyCeremonies(ceremonyTTL)
		}
	}
	return nil
}
