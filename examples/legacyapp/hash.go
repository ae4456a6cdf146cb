package legacyapp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hash formats the password endpoint accepts in "hash_format".
const (
	HashBcrypt   = "bcrypt"
	HashArgon2id = "argon2id"
)

// BcryptCost is the default bcrypt work factor for passwords the app
// hashes itself (a plain password in an update, SetPassword, DemoUsers).
const BcryptCost = 10

// Parameters for argon2id hashes the app makes itself (OWASP: 19 MiB, t=2,
// p=1), used only for passwords longer than bcrypt's 72 bytes.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
)

// Upper bounds on the cost of hashes accepted from the outside, so one
// login cannot be made to eat the machine.
const (
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 32
	maxArgonKeyLen    = 128
	minArgonKeyLen    = 16
	minArgonSaltLen   = 8
)

var errBadHash = errors.New("malformed password hash")

// hashPassword hashes a plain password for storage: bcrypt, unless the
// password is longer than bcrypt's 72-byte limit, in which case argon2id
// is used so that no byte of it is silently ignored.
func hashPassword(plain string, bcryptCost int) (string, error) {
	if len(plain) <= 72 {
		h, err := bcrypt.GenerateFromPassword([]byte(plain), bcryptCost)
		if err != nil {
			return "", fmt.Errorf("bcrypt: %w", err)
		}
		return string(h), nil
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id salt: %w", err)
	}
	key := argon2.IDKey([]byte(plain), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemoryKiB, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// validateHash reports whether encoded is a well-formed hash of the named
// format that the app can check at login.
func validateHash(format, encoded string) error {
	switch format {
	case HashBcrypt:
		if !isBcrypt(encoded) {
			return errBadHash
		}
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return errBadHash
		}
		return nil
	case HashArgon2id:
		_, err := parseArgon2id(encoded)
		return err
	}
	return fmt.Errorf("unknown hash_format %q (want %s or %s)", format, HashBcrypt, HashArgon2id)
}

func isBcrypt(encoded string) bool {
	return len(encoded) == 60 && (strings.HasPrefix(encoded, "$2a$") ||
		strings.HasPrefix(encoded, "$2b$") || strings.HasPrefix(encoded, "$2y$"))
}

// checkPassword reports whether plain matches the stored hash (bcrypt
// $2a$/$2b$/$2y$ or argon2id PHC). It compares in constant time.
func checkPassword(encoded, plain string) bool {
	switch {
	case isBcrypt(encoded):
		return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(plain)) == nil
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, err := parseArgon2id(encoded)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(plain), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1
	}
	return false
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id reads "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>"
// with salt and hash in base64 without padding (padding tolerated).
func parseArgon2id(encoded string) (*argonParams, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errBadHash
	}
	var p argonParams
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return nil, errBadHash
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, errBadHash
			}
			p.threads = uint8(n)
		default:
			return nil, errBadHash
		}
	}
	if len(seen) != 3 || p.time < 1 || p.time > maxArgonTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemoryKiB {
		return nil, errBadHash
	}
	var err error
	if p.salt, err = decodeB64(parts[4]); err != nil || len(p.salt) < minArgonSaltLen {
		return nil, errBadHash
	}
	if p.key, err = decodeB64(parts[5]); err != nil || len(p.key) < minArgonKeyLen || len(p.key) > maxArgonKeyLen {
		return nil, errBadHash
	}
	return &p, nil
}

func decodeB64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
