package plugin

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/resetgate/resetgate/plugin/mailer"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/policy"
)

// pageEngine is all the hosted pages may ask of the engine: the flow
// operations a form post stands for. The pages are a second face of the
// JSON API, not a second engine: they hold no store, key or hook of their
// own, so a form can do nothing the API could not, and every rule (rate
// limits, single use, enumeration safety) is enforced in one place. Keeping
// the list short keeps that true; *Engine implements it.
type pageEngine interface {
	// checkPow spends the proof of work a forgot form carries (pow on).
	checkPow(ctx context.Context, sol *PowSolution) *apiError
	// newPowChallenge makes the challenge the forgot form embeds.
	newPowChallenge() (PowChallenge, error)
	// startFlow accepts a reset request, as POST /request.
	startFlow(r *http.Request, identifier string) (string, *apiError)
	// verifyCode checks a code typed into a flow, as POST /verify.
	verifyCode(ctx context.Context, flowID, code string) (string, string, *apiError)
	// loadToken reads a token without spending it, as the preflight.
	loadToken(ctx context.Context, token string) (tokenRecord, string, *apiError)
	// complete sets the new password, as POST /complete.
	complete(ctx context.Context, ip, token, password, confirm string, hasConfirm bool) *apiError
	// revoke ends the user's open resets, as POST /revoke.
	revoke(ctx context.Context, token, ip string) *apiError
	// ChangePassword changes a signed-in user's password, as POST /change.
	ChangePassword(r *http.Request, old, newPassword, confirm string, hasConfirm bool) *apiError
	// signedInUser asks the session hook who is signed in.
	signedInUser(ctx context.Context, r *http.Request) (User, *apiError)
	// loadAccount reads the user's passkeys.
	loadAccount(ctx context.Context, userID string) (*passkeyAccount, []byte, error)
	// removePasskey removes one of the user's passkeys.
	removePasskey(ctx context.Context, userID string, id []byte) (bool, error)
	// checkCurrentPassword checks the current password within the
	// account's guess budget (the fresh proof before adding a passkey).
	checkCurrentPassword(ctx context.Context, user User, password string) (bool, *apiError)
	// issueGrant and hasGrant keep the fresh proof between the passkeys
	// page's password form and its add form.
	issueGrant(ctx context.Context, user User) (string, error)
	hasGrant(ctx context.Context, r *http.Request, user User) bool
	// logError logs a 5xx with its route and cause.
	logError(r *http.Request, err *apiError)
}

var _ pageEngine = (*Engine)(nil)

// pageConfig is the part of the engine's settings the pages show or obey,
// copied once when the pages are built.
type pageConfig struct {
	prefix              string
	base                *url.URL
	siteName, support   string
	tokenTTL, codeTTL   time.Duration
	policy              policy.Policy
	link, code, passkey bool // the proofs offered
	passkeys            bool // passkeys are on (the passkeys page)
	rejectsOld          bool // a verify hook: SAME_AS_OLD and current-password checks
	change              bool // change password is on (session and verify)
	session             bool // a session hook: someone can be signed in
	verifyHook          bool // a verify hook (the passkeys page's password form)
	pow                 bool
	csrfKey             macKey
	clientIP            func(*http.Request) string
	log                 *zap.Logger
}

// pageSettings copies what the pages need from e.
func (e *Engine) pageSettings() pageConfig {
	return pageConfig{
		prefix: e.cfg.Prefix, base: e.base, siteName: e.cfg.SiteName, support: e.cfg.SupportContact,
		tokenTTL: e.cfg.TokenTTL, codeTTL: e.cfg.CodeTTL, policy: e.cfg.Policy,
		link: e.methodEnabled(MethodLink), code: e.methodEnabled(MethodCode),
		passkey:  e.webauthn != nil && e.methodEnabled(MethodPasskey),
		passkeys: e.webauthn != nil, rejectsOld: e.canVerify, change: e.changeEnabled(),
		session: e.cfg.Session.URL != "", verifyHook: e.cfg.Verify.URL != "", pow: e.cfg.PowDifficulty > 0,
		csrfKey: e.keys.csrf, clientIP: e.cfg.ClientIP, log: e.log,
	}
}

// themeMail gives the mails the pages' look and languages: the operator's
// translations (when the pages loaded any) and the pages' palette and logo,
// and binds them to the site's name and support contact (WithSite).
func (e *Engine) themeMail() error {
	t := e.cfg.Templates
	var err error
	if e.pages.custom {
		if t, err = t.WithCatalog(e.pages.cat); err != nil {
			return err
		}
	}
	if t, err = t.WithTheme(mailTheme(e.pages.palette, e.pages.logo, e.base.String())); err != nil {
		return err
	}
	if t, err = t.WithSite(mailer.Site{Name: e.cfg.SiteName, SupportContact: e.cfg.SupportContact}); err != nil {
		return err
	}
	e.cfg.Templates = t
	return nil
}
