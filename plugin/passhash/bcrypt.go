package passhash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Bcrypt hashes with bcrypt, labelled "$2y$" (the label PHP, Laravel and
// Symfony identify) unless Minor says otherwise. The formats bcrypt, php,
// laravel, wordpress and spring are all this type with other settings.
type Bcrypt struct {
	// Cost is bcrypt's log2 work factor.
	Cost int
	// Name is the format name; "" means "bcrypt".
	Name string
	// Prefix is written before the bcrypt string ("{bcrypt}" for Spring).
	Prefix string
	// Minor is the version letter after "$2": 'y' when zero. Go writes
	// 'a'; the hash bytes of $2a$, $2b$ and $2y$ are the same for any
	// UTF-8 password (they differ only for bytes 0xff, never in UTF-8).
	Minor byte
	// Trim removes surrounding whitespace as PHP's trim() does before
	// hashing, as WordPress's wp_hash_password and its login do.
	Trim bool
}

var _ Hasher = Bcrypt{}

// Format implements Hasher.
func (b Bcrypt) Format() string {
	if b.Name == "" {
		return "bcrypt"
	}
	return b.Name
}

func (Bcrypt) maxBytes() int { return 72 }

// Hash implements Hasher. bcrypt reads at most 72 bytes; a longer password
// is refused rather than silently truncated.
func (b Bcrypt) Hash(password string) (string, error) {
	if b.Trim {
		password = phpTrim(password)
	}
	h, err := bcryptHash(password, b.Cost, b.Minor)
	if err != nil {
		return "", err
	}
	return b.Prefix + h, nil
}

// bcryptHash returns the bcrypt string of password relabelled with minor
// ('y' when 0).
func bcryptHash(password string, cost int, minor byte) (string, error) {
	if len(password) > 72 {
		return "", ErrTooLongForBcrypt
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	if minor == 0 {
		minor = 'y'
	}
	if len(h) < 4 || string(h[:4]) != "$2a$" {
		return "", fmt.Errorf("bcrypt: unexpected encoding from the library")
	}
	h[2] = minor
	return string(h), nil
}

// verifyBcrypt accepts $2a$, $2b$ and $2y$ (and the unlabelled $2$) hashes.
// The library compares in constant time.
func verifyBcrypt(encoded string, _ map[string]string, password string) bool {
	if len(encoded) < 4 || encoded[0] != '$' || encoded[1] != '2' {
		return false
	}
	switch encoded[2] {
	case 'a', 'b', 'y', '$':
	default:
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)) == nil
}

// verifyPHP accepts what PHP's password_verify reads from password_hash:
// bcrypt of any label, argon2id and argon2i.
func verifyPHP(encoded string, parts map[string]string, password string) bool {
	if strings.HasPrefix(encoded, "$argon2") {
		return verifyArgon2(encoded, parts, password)
	}
	return verifyBcrypt(encoded, parts, password)
}

// verifySpring accepts DelegatingPasswordEncoder's {bcrypt} and {argon2}
// ids (Spring's encoders write $2a$ and read $2a$, $2b$, $2y$).
func verifySpring(encoded string, parts map[string]string, password string) bool {
	switch {
	case strings.HasPrefix(encoded, "{bcrypt}"):
		return verifyBcrypt(strings.TrimPrefix(encoded, "{bcrypt}"), parts, password)
	case strings.HasPrefix(encoded, "{argon2}"):
		return verifyArgon2(strings.TrimPrefix(encoded, "{argon2}"), parts, password)
	}
	return false
}

// DjangoBcryptSHA256 is Django's BCryptSHA256PasswordHasher:
// "bcrypt_sha256$" + bcrypt ($2b$, as Python's bcrypt writes) of the hex
// SHA-256 of the password, which lifts bcrypt's 72-byte limit.
type DjangoBcryptSHA256 struct {
	// Cost is bcrypt's log2 work factor (Django's rounds, default 12).
	Cost int
}

var _ Hasher = DjangoBcryptSHA256{}

// Format implements Hasher.
func (DjangoBcryptSHA256) Format() string { return "django_bcrypt_sha256" }

// Hash implements Hasher.
func (d DjangoBcryptSHA256) Hash(password string) (string, error) {
	h, err := bcryptHash(sha256Hex(password), d.Cost, 'b')
	if err != nil {
		return "", err
	}
	return "bcrypt_sha256$" + h, nil
}

func verifyDjangoBcryptSHA256(encoded string, parts map[string]string, password string) bool {
	rest, ok := strings.CutPrefix(encoded, "bcrypt_sha256$")
	if !ok {
		return false
	}
	return verifyBcrypt(rest, parts, sha256Hex(password))
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// phpTrim is PHP's trim() with its default characters: " \t\n\r\0\x0B".
func phpTrim(s string) string {
	return strings.Trim(s, " \t\n\r\x00\x0b")
}
