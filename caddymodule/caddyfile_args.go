package caddymodule

import (
	"iter"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/resetgate/resetgate/plugin/duration"
)

// shown quotes an unrecognized token for an error message, unless it does
// not look like an option name: a misplaced line may start with a secret
// (a key, a whsec_ value), and config errors never print secrets.
func shown(tok string) string {
	if optionName.MatchString(tok) {
		return "'" + tok + "'"
	}
	return "(a token that is not an option name; not shown)"
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: expected one argument", opt)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: expected one argument", opt)
	}
	return noBlock(d, opt)
}

// noBlock refuses a block after an option that takes none.
func noBlock(d *caddyfile.Dispenser, opt string) error {
	if d.NextBlock(d.Nesting()) {
		return d.Errf("%s: takes no block", opt)
	}
	return nil
}

// noArgs refuses arguments before an option's block.
func noArgs(d *caddyfile.Dispenser, opt string) error {
	if d.NextArg() {
		return d.Errf("%s: takes no arguments, only a block", opt)
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("%s: '%s' is not a non-negative integer", opt, s)
	}
	*dst = n
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *duration.Duration) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := duration.Parse(s)
	if err != nil || v <= 0 {
		return d.Errf("%s: '%s' is not a positive duration", opt, s)
	}
	*dst = duration.Duration(v)
	return nil
}

// seenOptions refuses an option given twice in one block, as
// caddy-ratelimit does ("already specified"): in a config file a second
// value that silently wins hides a mistake. Options that add to a list may
// repeat.
type seenOptions map[string]bool

func (s seenOptions) once(d *caddyfile.Dispenser, opt string, repeatable ...string) error {
	if slices.Contains(repeatable, opt) {
		return nil
	}
	if s[opt] {
		return d.Errf("%s already specified", shown(opt))
	}
	s[opt] = true
	return nil
}

// blockOptions walks the options of the block the dispenser is at, as
// d.NextBlock does, and yields each option's name with the dispenser on
// it. An option given twice (other than the repeatable ones) ends the walk
// with its "already specified" error.
func blockOptions(d *caddyfile.Dispenser, repeatable ...string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		seen := seenOptions{}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			opt := d.Val()
			if err := seen.once(d, opt, repeatable...); err != nil {
				yield("", err)
				return
			}
			if !yield(opt, nil) {
				return
			}
		}
	}
}
