// Package e2e holds resetgate's end-to-end tests in a real browser: headless
// Chromium (Debian's package) driven over the DevTools protocol with
// chromedp, against a real Caddy with resetgate, the example legacy app and
// an SMTP server (internal/testenv). A user's whole journey is clicked and
// typed, from the app's "Forgot your password?" link to signing in with the
// new password, and every page is saved as a screenshot. Passkeys use
// Chromium's virtual authenticator (DevTools WebAuthn domain): registration
// on the passkeys page, a reset with the passkey alone, and the
// require_passkey step after the mailed link; the signed-in change page is
// driven the same way. TestAccessibility runs axe-core (vendored in
// testdata/axe) on every page state and both mails, with scripts on and
// off, light and dark, phone and desktop.
//
//	go test ./e2e/                       # needs /usr/bin/chromium (apt-get install -y chromium)
//	RESETGATE_CHROMIUM=/path/to/chrome   # another browser binary
//	RESETGATE_ARTIFACTS=/tmp/shots       # where screenshots go (default e2e/artifacts)
//	RESETGATE_SKIP_BROWSER=1             # skip instead of failing when there is no browser
package e2e
