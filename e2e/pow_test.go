package e2e

import (
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
)

// TestBrowserProofOfWork: with `pow 14`, Chromium's pow.js solves the
// forgot form's challenge in a Web Worker under the pages' strict CSP, and
// the request goes through: the user lands on the "sent" page and the
// mail arrives. A form sent before the worker is done waits for it.
func TestBrowserProofOfWork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Caddy; skipped with -short")
	}
	chrome := chromiumPath(t)
	shots := accountShots(t, "9-pow")
	env := testenv.New(t, testenv.Options{Block: "\t\tpow 14"})
	browser := &chromium{path: chrome}
	browser.start(t)

	u := newUser(t, browser, env, shots, "9-pow", "")
	u.open(env.BaseURL + "/password-reset/")
	u.waitPage("forgot")
	u.shot("forgot")
	// Sent at once: the worker may still be searching; the form waits.
	u.keys("#identifier", alice+"\n")
	u.waitPage("sent")
	if got := u.eval(`String(document.querySelector('.error') === null)`); got != "true" {
		t.Errorf("the sent page shows an error")
	}
	u.mail(alice, "Reset")
}
