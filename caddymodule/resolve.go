package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/plugin"
)

// envFilePlaceholder matches the placeholders a config may hold secrets
// and host-specific values in: {env.NAME} and {file.PATH}. Every other
// placeholder ({password_reset.*} in a hook, {identifier} in a SQL query)
// is left for its own reader.
var envFilePlaceholder = regexp.MustCompile(`\{(env|file)\.[^{}]+\}`)

// resolveOptions returns a copy of in with every {env.*} and {file.*}
// placeholder in its strings resolved, whatever the option. An error names
// the option (its JSON path, "update secret", "users sql dsn") and the
// placeholder, never a value.
func resolveOptions(in plugin.Options) (plugin.Options, error) {
	var out plugin.Options
	err := resolveStrings(caddy.NewReplacer(), "", in, &out)
	return out, err
}

// resolveStrings copies in to out (through JSON) with every {env.*} and
// {file.*} placeholder in its strings resolved. option, when set, names
// the whole value in errors; else each string is named by its JSON path.
func resolveStrings(repl *caddy.Replacer, option string, in, out any) error {
	name := func(path []string) string {
		if option != "" {
			return option
		}
		return strings.Join(path, " ")
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", name(nil), err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return fmt.Errorf("%s: %w", name(nil), err)
	}
	var walk func(v any, path []string) (any, error)
	walk = func(v any, path []string) (any, error) {
		switch x := v.(type) {
		case string:
			var rerr error
			r := envFilePlaceholder.ReplaceAllStringFunc(x, func(ph string) string {
				val, e := repl.ReplaceOrErr(ph, true, true)
				if e != nil && rerr == nil {
					// The replacer's error names the placeholder, never
					// its value.
					rerr = fmt.Errorf("%s: %w", name(path), e)
				}
				return val
			})
			return r, rerr
		case map[string]any:
			for k, e := range x {
				n, err := walk(e, append(path[:len(path):len(path)], k))
				if err != nil {
					return nil, err
				}
				x[k] = n
			}
		case []any:
			for i, e := range x {
				n, err := walk(e, path)
				if err != nil {
					return nil, err
				}
				x[i] = n
			}
		}
		return v, nil
	}
	if tree, err = walk(tree, nil); err != nil {
		return err
	}
	if raw, err = json.Marshal(tree); err != nil {
		return fmt.Errorf("%s: %w", name(nil), err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return errors.New(name(nil) + ": the resolved config does not fit (not shown)")
	}
	return nil
}
