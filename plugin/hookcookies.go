package plugin

import (
	"net/http"
	"strings"
)

// ownCookies are the cookies resetgate sets under its prefix: the CSRF
// pair, the reset token moved out of the link, the flow, the "this wasn't
// me" token and the fresh-password grant for adding a passkey. They are
// resetgate's secrets: no hook ever receives them.
var ownCookies = map[string]bool{
	cookieCSRF: true, cookieToken: true, cookieFlow: true, cookieRevoke: true, cookieReauth: true,
}

// hookCookieHeader returns the browser's Cookie headers for a hook call
// without resetgate's own cookies, keeping every other cookie as the
// browser sent it. A header left empty is dropped.
func hookCookieHeader(r *http.Request) []string {
	var out []string
	for _, line := range r.Header.Values("Cookie") {
		var kept []string
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(part, "=")
			if ownCookies[strings.TrimSpace(name)] {
				continue
			}
			if p := strings.TrimSpace(part); p != "" {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	return out
}
