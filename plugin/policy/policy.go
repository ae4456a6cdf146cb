// Package policy checks a new password against the rules of NIST SP 800-63B
// and OWASP ASVS: length in Unicode code points, no composition rules, no
// trimming or truncation, and refusal of passwords built from the user's own
// identifier or the site's context words.
package policy

import (
	"strings"
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
	Breached           = "BREACHED"
	SameAsOld          = "SAME_AS_OLD"
)

// Policy is the active set of password rules.
type Policy struct {
	// MinLength is the minimum length in code points. Default: 12.
	MinLength int `json:"min_length"`
	// MaxLength is the maximum length in code points. Default: 128.
	MaxLength int `json:"max_length"`
	// MaxBytes, when positive, is a hard byte limit imposed by the hash
	// format (bcrypt reads 72 bytes); longer passwords are TOO_LONG rather
	// than silently truncated.
	MaxBytes int `json:"max_bytes,omitempty"`
	// ContextWords are words (the site name, the product) a password must
	// not contain.
	ContextWords []string `json:"context_words,omitempty"`
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
}

// minWordLength is the shortest identifier or context word looked for: a
// shorter one ("al") would refuse too many good passwords.
const minWordLength = 4

// Check returns every rule the input breaks; none means acceptable. The
// password is never modified.
func (p *Policy) Check(in Input) []Violation {
	pw := in.PasswordPointer
	if pw == "" {
		pw = "/password"
	}
	cp := in.ConfirmPointer
	if cp == "" {
		cp = "/confirm"
	}
	var out []Violation
	n := utf8.RuneCountInString(in.Password)
	if n < p.MinLength {
		out = append(out, Violation{TooShort, pw})
	}
	if n > p.MaxLength || (p.MaxBytes > 0 && len(in.Password) > p.MaxBytes) {
		out = append(out, Violation{TooLong, pw})
	}
	if in.HasConfirm && in.Confirm != in.Password {
		out = append(out, Violation{Mismatch, cp})
	}
	if containsAny(in.Password, identifierWords(in.Identifiers)) || containsAny(in.Password, p.ContextWords) {
		out = append(out, Violation{ContainsIdentifier, pw})
	}
	return out
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

func containsAny(password string, words []string) bool {
	lp := strings.ToLower(password)
	for _, w := range words {
		w = strings.ToLower(strings.TrimSpace(w))
		if utf8.RuneCountInString(w) >= minWordLength && strings.Contains(lp, w) {
			return true
		}
	}
	return false
}
