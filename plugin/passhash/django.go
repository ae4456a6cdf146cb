package passhash

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

// PBKDF2SHA256 hashes in Django's default format:
// pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>.
type PBKDF2SHA256 struct {
	// Iterations of PBKDF2-HMAC-SHA256.
	Iterations int
}

var _ Hasher = PBKDF2SHA256{}

// Format implements Hasher.
func (PBKDF2SHA256) Format() string { return "pbkdf2_sha256" }

// Hash implements Hasher. The salt is 22 characters from [a-zA-Z0-9], as
// Django writes it.
func (p PBKDF2SHA256) Hash(password string) (string, error) {
	salt, err := alnumSalt(22)
	if err != nil {
		return "", err
	}
	key := pbkdf2.Key([]byte(password), []byte(salt), p.Iterations, sha256.Size, sha256.New)
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", p.Iterations, salt, base64.StdEncoding.EncodeToString(key)), nil
}

func verifyDjangoPBKDF2(encoded string, _ map[string]string, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
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
