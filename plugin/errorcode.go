package plugin

import "net/http"

// ErrorCode is a public error code: the "code" of an item in the error
// shape {"errors":[{"code","detail","pointer"}]}. Every code the API and
// the admin API answer with is declared below and listed in errorCodes,
// and nowhere else; README.md's "Error codes" table is checked against
// errorCodes both ways (TestErrorCodesMatchREADME), as supabase/auth keeps
// its codes in one typed file.
type ErrorCode string

// The public error codes, with the status each is sent with.
const (
	// CodeInvalidRequest (400): the body or a parameter is malformed; the
	// detail and pointer say which. Nothing changed.
	CodeInvalidRequest ErrorCode = "INVALID_REQUEST"
	// CodeRateLimited (429, with Retry-After): a per-IP, ceremony or
	// account limit was reached.
	CodeRateLimited ErrorCode = "RATE_LIMITED"
	// CodePowRequired (400): pow is on and the request carries no valid,
	// unspent proof of work.
	CodePowRequired ErrorCode = "POW_REQUIRED"
	// CodeTokenInvalid (404): the token is unknown, used or expired, alike.
	CodeTokenInvalid ErrorCode = "TOKEN_INVALID"
	// CodeTokenBusy (409): another request holds the token right now.
	CodeTokenBusy ErrorCode = "TOKEN_BUSY"
	// CodeCodeInvalid (400): the code is wrong or expired.
	CodeCodeInvalid ErrorCode = "CODE_INVALID"
	// CodeFlowLocked (400): too many wrong codes for the flow or account.
	CodeFlowLocked ErrorCode = "FLOW_LOCKED"
	// CodePolicyViolated (422): the new password breaks a rule; each item's
	// detail names one (policy.TooShort, …, DetailUpstreamPolicy).
	CodePolicyViolated ErrorCode = "PASSWORD_POLICY_VIOLATED"
	// CodePasskeyRequired (403): the account has a passkey and
	// require_passkey is on; prove it before setting a password.
	CodePasskeyRequired ErrorCode = "PASSKEY_REQUIRED"
	// CodePasskeyInvalid (400): the passkey assertion or ceremony is not
	// valid.
	CodePasskeyInvalid ErrorCode = "PASSKEY_INVALID"
	// CodeReauthRequired (403): adding a passkey needs a fresh proof.
	CodeReauthRequired ErrorCode = "REAUTH_REQUIRED"
	// CodeOldPasswordWrong (403): the current password sent is not right.
	CodeOldPasswordWrong ErrorCode = "OLD_PASSWORD_WRONG"
	// CodeNotSignedIn (401): the session hook says nobody is signed in.
	CodeNotSignedIn ErrorCode = "NOT_SIGNED_IN"
	// CodeUpstreamFailed (502): the app could not be reached or refused;
	// the token is kept for a retry.
	CodeUpstreamFailed ErrorCode = "UPSTREAM_FAILED"
	// CodeStoreUnavailable (503): the token store cannot be reached.
	CodeStoreUnavailable ErrorCode = "STORE_UNAVAILABLE"
	// CodeNotFound (404): no such route, or the feature is off.
	CodeNotFound ErrorCode = "NOT_FOUND"
	// CodeInternal (500): an unexpected failure, logged with its cause.
	CodeInternal ErrorCode = "INTERNAL_ERROR"

	// CodeUnauthorized (401, admin API): the bearer token is missing or
	// wrong.
	CodeUnauthorized ErrorCode = "UNAUTHORIZED"
	// CodeInsufficientScope (403, admin API): the admin token lacks the
	// scope the call needs.
	CodeInsufficientScope ErrorCode = "INSUFFICIENT_SCOPE"
	// CodeUserNotFound (404, admin API): lookup does not know the user, or
	// says the account is disabled.
	CodeUserNotFound ErrorCode = "USER_NOT_FOUND"
	// CodeRoleNotAllowed (403, admin API): the user's role is not in
	// admin_allow_roles.
	CodeRoleNotAllowed ErrorCode = "ROLE_NOT_ALLOWED"
	// CodeCodesDisabled (409, admin API): a code was asked for but methods
	// does not include code.
	CodeCodesDisabled ErrorCode = "CODES_DISABLED"
)

// errorCodes maps every public code to the status it is sent with: the
// list the README's table is checked against.
var errorCodes = map[ErrorCode]int{
	CodeInvalidRequest:    http.StatusBadRequest,
	CodeRateLimited:       http.StatusTooManyRequests,
	CodePowRequired:       http.StatusBadRequest,
	CodeTokenInvalid:      http.StatusNotFound,
	CodeTokenBusy:         http.StatusConflict,
	CodeCodeInvalid:       http.StatusBadRequest,
	CodeFlowLocked:        http.StatusBadRequest,
	CodePolicyViolated:    http.StatusUnprocessableEntity,
	CodePasskeyRequired:   http.StatusForbidden,
	CodePasskeyInvalid:    http.StatusBadRequest,
	CodeReauthRequired:    http.StatusForbidden,
	CodeOldPasswordWrong:  http.StatusForbidden,
	CodeNotSignedIn:       http.StatusUnauthorized,
	CodeUpstreamFailed:    http.StatusBadGateway,
	CodeStoreUnavailable:  http.StatusServiceUnavailable,
	CodeNotFound:          http.StatusNotFound,
	CodeInternal:          http.StatusInternalServerError,
	CodeUnauthorized:      http.StatusUnauthorized,
	CodeInsufficientScope: http.StatusForbidden,
	CodeUserNotFound:      http.StatusNotFound,
	CodeRoleNotAllowed:    http.StatusForbidden,
	CodeCodesDisabled:     http.StatusConflict,
}

// ErrorCodes returns every public error code with the status it is sent
// with, for documentation and tests.
func ErrorCodes() map[ErrorCode]int {
	out := make(map[ErrorCode]int, len(errorCodes))
	for c, s := range errorCodes {
		out[c] = s
	}
	return out
}
