package caddymodule

import (
	"fmt"
	"regexp"

	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/plugin/hookreq"
)

// hookPlaceholder matches one {password_reset.*} placeholder, which a hook
// URL may hold in its path (filled for each call by hookreq).
var hookPlaceholder = regexp.MustCompile(`\{password_reset\.[^{}]*\}`)

// resolveKeepingHookPlaceholders resolves Caddy placeholders ({env.*},
// {file.*}, …) in a hook URL and leaves its {password_reset.*}
// placeholders for each call; then it checks where those stand (only in
// the path, never a secret). Errors name the option, never the URL.
func resolveKeepingHookPlaceholders(repl *caddy.Replacer, option, raw string) (string, error) {
	if !hookreq.HasURLPlaceholders(raw) {
		return resolve(repl, option, raw)
	}
	var out []byte
	last := 0
	for _, loc := range hookPlaceholder.FindAllStringIndex(raw, -1) {
		lit, err := resolve(repl, option, raw[last:loc[0]])
		if err != nil {
			return "", err
		}
		out = append(out, lit...)
		out = append(out, raw[loc[0]:loc[1]]...)
		last = loc[1]
	}
	lit, err := resolve(repl, option, raw[last:])
	if err != nil {
		return "", err
	}
	u := string(append(out, lit...))
	if err := hookreq.ValidateURL(u); err != nil {
		return "", fmt.Errorf("%s: %w", option, err)
	}
	return u, nil
}
