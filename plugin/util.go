package plugin

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// clientIP is the address the request came from. Caddy resolves trusted
// proxies into the remote address it hands us; we never read
// X-Forwarded-For ourselves.
func clientIP(r *http.Request) string {
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
