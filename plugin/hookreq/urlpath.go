package hookreq

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// A hook URL may hold placeholders in its path, for REST APIs that name the
// user in the path (Gitea's PATCH /api/v1/admin/users/{username}):
//
//	update http://127.0.0.1:3000/api/v1/admin/users/{password_reset.user.id} { method PATCH … }
//
// Rules: placeholders stand only in the path (not in the scheme, host,
// query or fragment; use Query for the query), never a secret (password,
// password_hash, code, link), and each value is path-escaped. A value that
// is empty, "." or "..", or holds a slash, a backslash or a control
// character is refused when the request is built, so a user-supplied
// identifier cannot climb to another endpoint of the app.

// HasURLPlaceholders reports whether rawURL holds a {password_reset.*}
// placeholder.
func HasURLPlaceholders(rawURL string) bool {
	return strings.Contains(rawURL, "{"+Prefix)
}

// ValidateURL checks where a hook URL's placeholders stand and which they
// are. A URL without placeholders is valid here (its form is checked by
// the caller). Errors name the placeholder, never a URL (it may hold a
// credential).
func ValidateURL(rawURL string) error {
	if !HasURLPlaceholders(rawURL) {
		return nil
	}
	segs, err := parse(rawURL)
	if err != nil {
		return fmt.Errorf("hookreq: hook URL: %w", err)
	}
	if s := firstSecret(segs); s != "" {
		return fmt.Errorf("hookreq: hook URL: {%s%s} is a secret and must not go into a URL", Prefix, s)
	}
	// Everything before the first placeholder must already be scheme,
	// host and the start of the path, and no placeholder may follow the
	// start of a query or a fragment.
	head := segs[0].lit
	scheme, rest, ok := strings.Cut(head, "://")
	if !ok || (scheme != "http" && scheme != "https") || !strings.Contains(rest, "/") || strings.ContainsAny(rest, "?#") {
		return errors.New("hookreq: hook URL: placeholders may stand only in the path, after scheme://host/")
	}
	inPath := true
	for _, s := range segs[1:] {
		switch {
		case s.ph == "" && strings.ContainsAny(s.lit, "?#"):
			inPath = false
		case s.ph != "" && !inPath:
			return errors.New("hookreq: hook URL: placeholders may stand only in the path (use query for query parameters)")
		}
	}
	return nil
}

// renderURL fills the path placeholders of rawURL, each value
// path-escaped. The errors never hold a value.
func renderURL(rawURL string, vals Values) (string, error) {
	if !HasURLPlaceholders(rawURL) {
		return rawURL, nil
	}
	if err := ValidateURL(rawURL); err != nil {
		return "", err
	}
	segs, _ := parse(rawURL)
	var b strings.Builder
	for _, s := range segs {
		if s.ph == "" {
			b.WriteString(s.lit)
			continue
		}
		v, err := value(s.ph, vals)
		if err != nil {
			return "", fmt.Errorf("hookreq: hook URL: %w", err)
		}
		str, err := stringify(s.ph, v)
		if err != nil {
			return "", fmt.Errorf("hookreq: hook URL: %w", err)
		}
		if !pathSegmentOK(str) {
			return "", fmt.Errorf("hookreq: hook URL: the value of {%s%s} cannot be a path segment", Prefix, s.ph)
		}
		b.WriteString(url.PathEscape(str))
	}
	return b.String(), nil
}

// pathSegmentOK refuses values that would move the request elsewhere in
// the app once an upstream decodes the path: empty, dot segments, slashes,
// backslashes and control characters.
func pathSegmentOK(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/\\") && !hasCTL(s)
}
