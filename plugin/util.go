package plugin

import (
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RemoteIP is the host part of the request's RemoteAddr: the client
// address when no trusted proxy is in front. X-Forwarded-For is
// never read here: only the server (Caddy's trusted_proxies) may decide
// which forwarded addresses to believe.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// cleanText checks a short user-typed field (an identifier): present,
// at most max code points, no control or format characters (bidi tricks,
// zero-width joiners), and returns it with surrounding spaces removed.
func cleanText(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > max {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	return s, true
}
