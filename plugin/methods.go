package plugin

import "net/http"

// The method list (methods link code passkey) is enforced on every path
// that turns a proof into a token, not only where a flow starts: a token is
// only as good as the proof that made it, and a proof the operator left out
// of methods makes nothing.
//
//   - verify (code) answers 404 unless code is listed;
//   - a link token exists only when link is listed;
//   - a passkey alone, or a passkey on a flow (in place of the mailed code
//     or link), needs passkey listed, both when the ceremony starts and
//     when it is verified (a ceremony may outlive a config reload);
//   - the step-up on a token (require_passkey) proves a second factor and
//     needs no method of its own;
//   - a stored token whose proof is no longer listed (a reload dropped it)
//     is TOKEN_INVALID everywhere (loadToken).

// errPasskeyMethodOff answers a passkey proof that would replace the mailed
// link or code when methods leaves passkey out.
var errPasskeyMethodOff = newError(http.StatusNotFound, CodeNotFound, "passkey recovery is not enabled", "")

// viaAllowed reports whether a token made by the proof via may still be
// used: link, code and passkey must be listed in methods; admin-issued
// tokens come from the operator and always may.
func (e *Engine) viaAllowed(via string) bool {
	switch via {
	case MethodLink, MethodCode, MethodPasskey:
		return e.methodEnabled(via)
	}
	return true
}

// passkeyReplacesMail reports whether a ceremony is a proof of its own (a
// passkey alone or on a flow) rather than a step-up on a token.
func (rec *ceremonyRecord) passkeyReplacesMail() bool {
	return rec.Kind == "login" && rec.TokenKey == ""
}
