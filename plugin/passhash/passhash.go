// Package passhash turns a new password into the hash format the upstream
// application stores, so a legacy app can take a hash it already knows how
// to check instead of the plain password. Formats are named after the apps
// that read them (wordpress, mediawiki, gitea, django_argon2, …); the one
// table of them is in formats.go.
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Hasher produces one hash format.
type Hasher interface {
	// Format is the name sent as hash_format ("bcrypt", "wordpress").
	Format() string
	// Hash returns the encoded hash of password. Formats that keep part
	// of the hash in other columns (gitea, redmine) return
	// ErrNeedsParts: use HashParts for them.
	Hash(password string) (string, error)
}

// partsHasher is implemented by formats that store more than one value
// (a salt column, an algorithm column).
type partsHasher interface {
	hashParts(password string) (string, map[string]string, error)
}

// ErrNeedsParts is returned by Hash for formats whose salt or algorithm
// lives in columns of its own: only HashParts can give all of it.
var ErrNeedsParts = errors.New("this hash format stores a salt or algorithm in columns of its own; it can only be written with HashParts (users sql)")

// ErrTooLongForBcrypt is returned for passwords longer than bcrypt's 72
// bytes, which bcrypt would otherwise cut silently.
var ErrTooLongForBcrypt = errors.New("password longer than 72 bytes cannot be hashed with bcrypt without truncation")

// ErrTooLong is returned for passwords longer than a format's consumer
// accepts (WordPress refuses more than 4096 bytes).
var ErrTooLong = errors.New("password longer than the format's consumer accepts")

// New returns the hasher for a format name; cost is the format's work
// factor (0 means the format's default, listed in formats.go): bcrypt cost,
// argon2 time, scrypt log2 N, or PBKDF2/sha512-crypt iterations. Format
// "none" (or "") returns nil: the password is sent (or stored) as typed.
// An unknown format's error lists the valid names.
func New(format string, cost int) (Hasher, error) {
	if format == "" {
		return nil, nil
	}
	f, err := lookup(format)
	if err != nil {
		return nil, err
	}
	if f.newHasher == nil { // none
		if cost != 0 {
			return nil, fmt.Errorf("hash format %s takes no cost", f.name)
		}
		return nil, nil
	}
	if cost == 0 {
		cost = f.defaultCost
	} else if f.maxCost == 0 {
		return nil, fmt.Errorf("hash format %s takes no cost", f.name)
	} else if cost < f.minCost || cost > f.maxCost {
		what := f.costName
		if !strings.HasPrefix(what, f.name) {
			what = f.name + " " + what
		}
		return nil, fmt.Errorf("%s must be between %d and %d", what, f.minCost, f.maxCost)
	}
	return f.newHasher(cost), nil
}

// HashParts hashes password with h and returns the encoded hash and the
// other values the format stores beside it, by part name: "salt" and
// "algo" for gitea, "salt" for redmine, nil for most formats. A nil h (format
// none) returns the password as typed.
func HashParts(h Hasher, password string) (hash string, parts map[string]string, err error) {
	if h == nil {
		return password, nil, nil
	}
	if ph, ok := h.(partsHasher); ok {
		return ph.hashParts(password)
	}
	hash, err = h.Hash(password)
	return hash, nil, err
}

// Verify reports whether password matches encoded (with the format's
// parts, as HashParts returns them and the app stores them). It accepts the
// hashes the format's consumer itself writes, not only ours: $2a$, $2b$ and
// $2y$ for bcrypt, phpass and $wp$ for wordpress, and so on. Comparisons
// are constant time; a malformed or unknown input is a mismatch, never a
// panic.
func Verify(format, encoded string, parts map[string]string, password string) bool {
	if format == "" {
		format = "none"
	}
	f, err := lookup(format)
	if err != nil {
		return false
	}
	return f.verify(encoded, parts, password)
}

// Formats returns the names of every hash format, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for _, f := range formats {
		names = append(names, f.name)
	}
	sort.Strings(names)
	return names
}

// Parts returns the names of the values a format stores beside its hash
// ("salt", "algo"), nil when it stores only the hash or is unknown.
func Parts(format string) []string {
	f, err := lookup(format)
	if err != nil || len(f.parts) == 0 {
		return nil
	}
	return append([]string(nil), f.parts...)
}

// MaxPasswordBytes returns the longest password h can hash without
// truncation, 0 for no limit (plain bcrypt formats: 72).
func MaxPasswordBytes(h Hasher) int {
	if l, ok := h.(interface{ maxBytes() int }); ok {
		return l.maxBytes()
	}
	return 0
}

func lookup(name string) (*format, error) {
	for i := range formats {
		if formats[i].name == name {
			return &formats[i], nil
		}
	}
	return nil, fmt.Errorf("unknown hash format %q (want one of: %s)", name, strings.Join(Formats(), ", "))
}

// Check reports whether password matches an encoded bcrypt, argon2id,
// scrypt (passlib) or Django pbkdf2_sha256 hash, recognised by its prefix.
// It exists for tests and for the example app; Verify is the general form.
func Check(encoded, password string) bool {
	switch {
	case strings.HasPrefix(encoded, "$2"):
		return verifyBcrypt(encoded, nil, password)
	case strings.HasPrefix(encoded, "$argon2"):
		return verifyArgon2(encoded, nil, password)
	case strings.HasPrefix(encoded, "$scrypt$"):
		return verifyScrypt(encoded, nil, password)
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		return verifyDjangoPBKDF2(encoded, nil, password)
	}
	return false
}

func verifyNone(encoded string, _ map[string]string, password string) bool {
	return subtle.ConstantTimeCompare([]byte(encoded), []byte(password)) == 1
}

func newSalt(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("reading salt: %w", err)
	}
	return b, nil
}

// alnumSalt returns n random characters from [a-zA-Z0-9], the salts Django
// writes.
func alnumSalt(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("reading salt: %w", err)
		}
		for _, b := range buf {
			if int(b) < 248 && len(out) < n { // 248 = 4*62: no modulo bias
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
