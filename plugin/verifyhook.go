package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/resetgate/resetgate/plugin/webhook"
)

// errVerifyRefused is the verify hook answering 401 or 403 without saying
// the password is wrong: most likely it refused our call (a wrong secret,
// a wrong API key), which must not pass for "not the current password"
// and silently switch SAME_AS_OLD off.
var errVerifyRefused = errors.New(`verify hook refused the call: a 401 or 403 without {"valid": false} in its body (check the hook's secret, or list the status under mismatch_status)`)

// verifyAnswer reads the verify hook's answer:
//
//   - a success (2xx, or the template's ok_status) whose JSON body has
//     "valid": false: not the current password;
//   - any other success: the current password;
//   - 401 or 403 whose JSON body has "valid": false: not the current
//     password;
//   - a status listed under mismatch_status: not the current password;
//   - a bare 401 or 403: errVerifyRefused;
//   - anything else: an error.
//
// An error fails the check: complete answers 502 and keeps the token.
func verifyAnswer(h Hook, resp *webhook.Response) (bool, error) {
	saysInvalid := !resp.TooLarge && validFalse(resp.Body)
	switch {
	case h.ok(resp):
		return !saysInvalid, nil
	case slices.Contains(h.MismatchStatus, resp.Status):
		return false, nil
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		if saysInvalid {
			return false, nil
		}
		return false, errVerifyRefused
	}
	return false, fmt.Errorf("verify answered status %d", resp.Status)
}

// validFalse reports whether body is a JSON object with "valid": false.
func validFalse(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	var v struct {
		Valid *bool `json:"valid"`
	}
	return json.Unmarshal(body, &v) == nil && v.Valid != nil && !*v.Valid
}
