// Package passhash turns a new password into the hash format the upstream
// application stores, so a legacy app can take a hash it already knows how
// to check instead of the plain password.
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"crypto/sha256"
	"strconv"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Hasher produces one hash format.
type Hasher interface {
	// Format is the name sent as hash_format ("bcrypt", "argon2id").
	Format() string
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
}

// New returns the hasher for a format name; cost is the format's work
// factor (0 means the default): bcrypt cost, or argon2id time (iterations).
// Format "none" (or "") returns nil: the password is sent as typed.
func New(format string, cost int) (Hasher, error) {
	switch format {
	case "", "none":
		return nil, nil
	case "bcrypt":
		if cost == 0 {
			cost = 12
		}
		if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
			return nil, fmt.Errorf("bcrypt cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
		}
		return Bcrypt{Cost: cost}, nil
	case "argon2id":
		if cost == 0 {
			cost = 2
		}
		if cost < 1 || cost > 20 {
			return nil, errors.New("argon2id time cost must be between 1 and 20")
		}
		return Argon2id{Time: uint32(cost), MemoryKiB: 19 * 1024, Threads: 1}, nil
	case "scrypt":
		if cost == 0 {
			cost = 17
		}
		if cost < 10 || cost > 22 {
			return nil, errors.New("scrypt cost (log2 N) must be between 10 and 22")
		}
		return Scrypt{LogN: uint8(cost), R: 8, P: 1}, nil
	case "pbkdf2_sha256":
		if cost == 0 {
			cost = 870000 // Django 5.1's default
		}
		if cost < 100000 || cost > 10000000 {
			return nil, errors.New("pbkdf2_sha256 iterations must be between 100000 and 10000000")
		}
		return PBKDF2SHA256{Iterations: cost}, nil
	}
	return nil, fmt.Errorf("unknown hash format %q (want bcrypt, argon2id, scrypt, pbkdf2_sha256 or none)", format)
}

// Bcrypt hashes with bcrypt in the "$2a$" encoding.
type Bcrypt struct {
	// Cost is bcrypt's log2 work factor.
	Cost int
}

// Format implements Hasher.
func (Bcrypt) Format() string { return "bcrypt" }

// Hash implements Hasher. bcrypt reads at most 72 bytes; a longer password
// is refused rather than silently truncated.
func (b Bcrypt) Hash(password string) (string, error) {
	if len(password) > 72 {
		return "", ErrTooLongForBcrypt
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), b.Cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}

// ErrTooLongForBcrypt is returned for passwords longer than bcrypt's 72
// bytes, which bcrypt would otherwise cut silently.
var ErrTooLongForBcrypt = errors.New("password longer than 72 bytes cannot be hashed with bcrypt without truncation")

// Argon2id hashes with argon2id in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
type Argon2id struct {
	// Time is the number of passes.
	Time uint32
	// MemoryKiB is the memory cost in KiB (OWASP: 19 MiB with t=2).
	MemoryKiB uint32
	// Threads is the parallelism.
	Threads uint8
}

// Format implements Hasher.
func (Argon2id) Format() string { return "argon2id" }

// Hash implements Hasher.
func (a Argon2id) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.MemoryKiB, a.Time, a.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Scrypt hashes with scrypt in the PHC-style string
// $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64), the
// encoding passlib and other libraries read.
type Scrypt struct {
	// LogN is log2 of the CPU/memory cost N.
	LogN uint8
	// R is the block size, P the parallelism.
	R, P int
}

// Format implements Hasher.
func (Scrypt) Format() string { return "scrypt" }

// Hash implements Hasher.
func (s Scrypt) Hash(password string) (string, error) {
	salt, err := newSalt(16)
	if err != nil {
		return "", err
	}
	key, err := scrypt.Key([]byte(password), salt, 1<<s.LogN, s.R, s.P, 32)
	if err != nil {
		return "", fmt.Errorf("scrypt: %w", err)
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", s.LogN, s.R, s.P, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// PBKDF2SHA256 hashes in Django's format:
// pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>.
type PBKDF2SHA256 struct {
	// Iterations of PBKDF2-HMAC-SHA256.
	Iterations int
}

// Format implements Hasher.
func (PBKDF2SHA256) Format() string { return "pbkdf2_sha256" }

// saltAlphabet is Django's: salts are 22 characters from [a-zA-Z0-9].
const saltAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Hash implements Hasher.
func (p PBKDF2SHA256) Hash(password string) (string, error) {
	raw, err := newSalt(22)
	if err != nil {
		return "", err
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = saltAlphabet[int(b)%len(saltAlphabet)] // 256 % 62 bias is irrelevant for a salt
	}
	key := pbkdf2.Key([]byte(password), salt, p.Iterations, sha256.Size, sha256.New)
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", p.Iterations, salt, base64.StdEncoding.EncodeToString(key)), nil
}

func newSalt(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("reading salt: %w", err)
	}
	return b, nil
}

// Check reports whether password matches an encoded bcrypt or argon2id
// hash. It exists for tests and for the example app.
func Check(encoded, password string) bool {
	switch {
	case strings.HasPrefix(encoded, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)) == nil
	case strings.HasPrefix(encoded, "$argon2id$"):
		var v int
		var m, t uint32
		var p uint8
		parts := strings.Split(encoded, "$")
		if len(parts) != 6 {
			return false
		}
		if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
			return false
		}
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
			return false
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
		want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
		if err1 != nil || err2 != nil || len(want) == 0 {
			return false
		}
		got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
		return subtle.ConstantTimeCompare(got, want) == 1
	case strings.HasPrefix(encoded, "$scrypt$"):
		parts := strings.Split(encoded, "$")
		var ln uint8
		var r, p int
		if len(parts) != 5 {
			return false
		}
		if _, err := fmt.Sscanf(parts[2], "ln=%d,r=%d,p=%d", &ln, &r, &p); err != nil || ln > 22 {
			return false
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[3])
		want, err2 := base64.RawStdEncoding.DecodeString(parts[4])
		if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 64 {
			return false
		}
		got, err := scrypt.Key([]byte(password), salt, 1<<ln, r, p, len(want))
		return err == nil && subtle.ConstantTimeCompare(got, want) == 1
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		parts := strings.Split(encoded, "$")
		if len(parts) != 4 {
			return false
		}
		iter, err := strconv.Atoi(parts[1])
		if err != nil || iter < 1 || iter > 10000000 {
			return false
		}
		want, err := base64.StdEncoding.DecodeString(parts[3])
		if err != nil || len(want) < 16 || len(want) > 64 {
			return false
		}
		got := pbkdf2.Key([]byte(password), []byte(parts[2]), iter, len(want), sha256.New)
		return subtle.ConstantTimeCompare(got, want) == 1
	}
	return false
}
