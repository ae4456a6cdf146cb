// Package policy checks a new password against the rules of NIST SP 800-63B
// and OWASP ASVS: length in Unicode code points, no composition rules, no
// trimming or truncation, refusal of passwords built from the user's own
// identifier or the site's context words, a blocklist of common passwords,
// and, optionally, a zxcvbn strength score, a breached-password check (a
// k-anonymity range API) and a "same as the old password" check.
//
// Check runs the offline rules; CheckContext runs them all.
package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Detail codes of a PASSWORD_POLICY_VIOLATED error.
const (
	TooShort           = "TOO_SHORT"
	TooLong            = "TOO_LONG"
	Mismatch           = "MISMATCH"
	ContainsIdentifier = "CONTAINS_IDENTIFIER"
	Common             = "COMMON"
	TooWeak            = "TOO_WEAK"
	Breached           = "BREACHED"
	SameAsOld          = "SAME_AS_OLD"
)

// Policy is the active set of password rules, and the "policy" option of
// the JSON config (an absent option is the zero Policy: the defaults).
type Policy struct {
	// MinLength is the minimum length in code points (at least 8).
	// Default: 12.
	MinLength int `json:"min_length,omitempty"`
	// MaxLength is the maximum length in code points (at least 64).
	// Default: 128.
	MaxLength int `json:"max_length,omitempty"`
	// MaxBytes, when positive, is a hard byte limit imposed by the hash
	// format (bcrypt reads 72 bytes); longer passwords are TOO_LONG rather
	// than silently truncated. Set by the engine from the hash format, not
	// a config option. Default: 0, none.
	MaxBytes int `json:"-"`
	// ContextWords are words (the site name, the product) a password must
	// not contain. Default: none.
	ContextWords []string `json:"context_words,omitempty"`
	// SkipCommon turns off the check against the embedded list of 49,233
	// common passwords (see IsCommon). Default: false, the check is on.
	SkipCommon bool `json:"skip_common,omitempty"`
	// MinScore, from 1 to 4, is the lowest zxcvbn score accepted; a weaker
	// password is TOO_WEAK. Only the first 64 code points are scored.
	// Default: 0, no score check.
	MinScore int `json:"min_score,omitempty"`
	// Breached, when set, refuses passwords that a k-anonymity range API
	// (Pwned Passwords) knows from breaches; only the first five hex
	// characters of the password's SHA-1 leave the server. Checked by
	// CheckContext only. Default: none.
	Breached *BreachedCheck `json:"breached,omitempty"`
}

// Defaults fills unset fields with the NIST/ASVS defaults.
func (p *Policy) Defaults() {
	if p.MinLength == 0 {
		p.MinLength = 12
	}
	if p.MaxLength == 0 {
		p.MaxLength = 128
	}
}

// The floors of the length rules (NIST SP 800-63B 3.1.1.2: at least 8
// characters, and at least 64 allowed).
const (
	MinMinLength = 8
	MinMaxLength = 64
)

// Validate checks the configuration; call it after Defaults.
func (p *Policy) Validate() error {
	switch {
	case p.MinLength < MinMinLength:
		return fmt.Errorf("min_length must be at least %d (NIST 800-63B), got %d", MinMinLength, p.MinLength)
	case p.MaxLength < MinMaxLength || p.MaxLength < p.MinLength:
		return fmt.Errorf("max_length must be at least %d and at least min_length, got %d", MinMaxLength, p.MaxLength)
	case p.MaxBytes < 0:
		return errors.New("max_bytes must not be negative")
	case p.MinScore < 0 || p.MinScore > 4:
		return fmt.Errorf("min_score must be 0 (off) to 4, got %d", p.MinScore)
	}
	if p.Breached != nil {
		return p.Breached.Validate()
	}
	return nil
}

// Violation is one failed rule.
type Violation struct {
	// Detail is one of the detail codes above.
	Detail string
	// Pointer is the JSON pointer of the offending field.
	Pointer string
}

// Input is what one check looks at.
type Input struct {
	// Password is the new password, exactly as typed.
	Password string
	// Confirm is the repeated password; checked only when HasConfirm.
	Confirm    string
	HasConfirm bool
	// Identifiers are the user's own names (the identifier typed, the mail
	// address and its local part, the display name).
	Identifiers []string
	// PasswordPointer names the password field in errors. Default: /password.
	PasswordPointer string
	// ConfirmPointer names the confirmation field. Default: /confirm.
	ConfirmPointer string
	// OldPasswordMatches, when set, reports whether the password is the
	// user's current one (the upstream verify hook); true gives SAME_AS_OLD.
	// Called by CheckContext only, never for a TOO_LONG password.
	OldPasswordMatches func(ctx context.Context, password string) (bool, error)
}

// minWordLength is the shortest identifier or context word looked for: a
// shorter one ("al") would refuse too many good passwords.
const minWordLength = 4

// Check returns every offline rule the input breaks, in this order:
// TOO_SHORT, TOO_LONG, MISMATCH, CONTAINS_IDENTIFIER, COMMON, TOO_WEAK. None
// means acceptable to the offline rules; the breached and same-as-old checks
// need CheckContext. The password is never modified: it is judged exactly
// as typed, surrounding spaces included, its length counted in code points.
func (p *Policy) Check(in Input) []Violation {
	out, _ := p.check(in)
	return out
}

// check runs the offline rules and reports whether the password is too
// long.
func (p *Policy) check(in Input) (out []Violation, tooLong bool) {
	pw := pointer(in.PasswordPointer, "/password")
	cp := pointer(in.ConfirmPointer, "/confirm")
	n := utf8.RuneCountInString(in.Password)
	if n < p.MinLength {
		out = append(out, Violation{TooShort, pw})
	}
	if n > p.MaxLength || (p.MaxBytes > 0 && len(in.Password) > p.MaxBytes) {
		out = append(out, Violation{TooLong, pw})
		tooLong = true
	}
	if in.HasConfirm && in.Confirm != in.Password {
		out = append(out, Violation{Mismatch, cp})
	}
	ids := identifierWords(in.Identifiers)
	if containsAny(in.Password, ids) || containsAny(in.Password, p.ContextWords) {
		out = append(out, Violation{ContainsIdentifier, pw})
	}
	if !p.SkipCommon && IsCommon(in.Password) {
		out = append(out, Violation{Common, pw})
	}
	if p.MinScore > 0 && Score(in.Password, append(ids, p.ContextWords...)) < p.MinScore {
		out = append(out, Violation{TooWeak, pw})
	}
	return out, tooLong
}

// CheckContext runs every rule: the offline ones of Check, then BREACHED
// (when Breached is set) and SAME_AS_OLD (when in.OldPasswordMatches is
// set), the two in parallel. The online checks are skipped for a TOO_LONG
// password, which is refused anyway and which an upstream limited to 72
// bytes could not even verify.
//
// The error is non-nil only when a rule could not be evaluated and the
// policy does not let that pass:
//   - the breached-password service failed and Breached.FailOpen is off:
//     the error wraps ErrBreachedUnavailable (a fail-open failure adds no
//     violation, returns no error, and is reported to Breached.OnFailOpen);
//   - in.OldPasswordMatches returned an error: the error wraps it;
//   - ctx ended: the error wraps ctx.Err().
//
// The violations found are returned with the error. A non-empty list
// refuses the password whatever the error (answer 422); an error with no
// violation means the password could not be judged (answer 502 or 503,
// keep the user's token alive).
func (p *Policy) CheckContext(ctx context.Context, in Input) ([]Violation, error) {
	out, tooLong := p.check(in)
	if tooLong || (p.Breached == nil && in.OldPasswordMatches == nil) {
		return out, ctx.Err()
	}
	pw := pointer(in.PasswordPointer, "/password")
	var (
		wg                 sync.WaitGroup
		breached, sameOld  bool
		breachErr, sameErr error
	)
	if p.Breached != nil {
		wg.Go(func() { breached, breachErr = p.Breached.Check(ctx, in.Password) })
	}
	if in.OldPasswordMatches != nil {
		sameOld, sameErr = in.OldPasswordMatches(ctx, in.Password)
	}
	wg.Wait()

	var errs []error
	switch {
	case breachErr == nil:
		if breached {
			out = append(out, Violation{Breached, pw})
		}
	case ctx.Err() != nil:
		// The caller went away or its deadline passed: not the service's
		// fault, and no reason to let the password through.
	case p.Breached.FailOpen:
		if p.Breached.OnFailOpen != nil {
			p.Breached.OnFailOpen(breachErr)
		}
	default:
		errs = append(errs, breachErr)
	}
	if sameErr != nil {
		errs = append(errs, fmt.Errorf("checking the old password: %w", sameErr))
	} else if sameOld {
		out = append(out, Violation{SameAsOld, pw})
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func pointer(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// identifierWords expands identifiers into the words a user might reuse:
// the whole value, a mail address's local part and the parts of a name.
func identifierWords(ids []string) []string {
	var words []string
	for _, id := range ids {
		words = append(words, id)
		if at := strings.LastIndexByte(id, '@'); at > 0 {
			words = append(words, id[:at])
		}
		words = append(words, strings.FieldsFunc(id, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		})...)
	}
	return words
}

// containsAny reports whether password contains one of words (of at least
// minWordLength code points), comparing case-insensitively after NFKC.
func containsAny(password string, words []string) bool {
	lp := foldKey(password)
	for _, w := range words {
		w = foldKey(strings.TrimSpace(w))
		if utf8.RuneCountInString(w) >= minWordLength && strings.Contains(lp, w) {
			return true
		}
	}
	return false
}
