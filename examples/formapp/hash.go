package formapp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

// MaxIterations bounds the PBKDF2 iterations of a hash the app accepts,
// so that one stored hash cannot make every sign-in eat the machine.
const MaxIterations = 10_000_000

// keyLen is the length of a Django pbkdf2_sha256 key: one SHA-256 block.
const keyLen = sha256.Size

// saltChars are the characters of the salts the app makes (Django's).
const saltChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// HashPassword makes a Django pbkdf2_sha256 hash of password with a fresh
// 22-character salt.
func HashPassword(password string, iterations int) (string, error) {
	if iterations < 1 || iterations > MaxIterations {
		return "", fmt.Errorf("formapp: iterations %d outside 1..%d", iterations, MaxIterations)
	}
	raw := make([]byte, 22)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("formapp: salt: %w", err)
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = saltChars[int(b)%len(saltChars)]
	}
	key := pbkdf2.Key([]byte(password), salt, iterations, keyLen, sha256.New)
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches a Django pbkdf2_sha256
// hash. A malformed hash matches nothing. The keys are compared in
// constant time.
func CheckPassword(encoded, password string) bool {
	if _, err := checkHashFormat(encoded); err != nil {
		return false
	}
	parts := strings.Split(encoded, "$")
	iter, _ := strconv.Atoi(parts[1])
	want, _ := base64.StdEncoding.DecodeString(parts[3])
	got := pbkdf2.Key([]byte(password), []byte(parts[2]), iter, keyLen, sha256.New)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// checkHashFormat reports whether encoded is a well-formed Django
// pbkdf2_sha256 hash, pbkdf2_sha256$<iterations>$<salt>$<base64 key>, and
// returns its iterations. The error never quotes the hash.
func checkHashFormat(encoded string) (int, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
		return 0, errBadHash
	}
	// Digits only: Atoi would take "+100000" and "0100000".
	if parts[1] == "" || parts[1][0] == '0' || strings.Trim(parts[1], "0123456789") != "" || len(parts[1]) > 8 {
		return 0, errBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > MaxIterations {
		return 0, errBadHash
	}
	salt := parts[2]
	if salt == "" || len(salt) > 128 {
		return 0, errBadHash
	}
	for i := 0; i < len(salt); i++ {
		if c := salt[i]; c <= ' ' || c >= 0x7f {
			return 0, errBadHash
		}
	}
	// encoding/base64 skips CR and LF even when strict: check the length
	// first, 44 characters for 32 bytes.
	if len(parts[3]) != base64.StdEncoding.EncodedLen(keyLen) {
		return 0, errBadHash
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[3])
	if err != nil || len(key) != keyLen {
		return 0, errBadHash
	}
	return iter, nil
}

// DemoAccount is one demo sign-in, published on purpose.
type DemoAccount struct {
	Mail     string
	Password string
}

// DemoAccounts returns the demo sign-ins, in the order of DemoUsers:
//
//	dora@example.test   purple tiger lantern   uid 7, group member
//	eric@example.test   quiet harbor biscuit   uid 8, group member
//	fay@example.test    velvet orbit canyon    uid 9, group staff
func DemoAccounts() []DemoAccount {
	return []DemoAccount{
		{Mail: "dora@example.test", Password: "purple tiger lantern"},
		{Mail: "eric@example.test", Password: "quiet harbor biscuit"},
		{Mail: "fay@example.test", Password: "velvet orbit canyon"},
	}
}

// DemoUsers returns the demo users with fresh pbkdf2_sha256 hashes of the
// DemoAccounts passwords, made with the given iterations.
func DemoUsers(iterations int) ([]User, error) {
	users := []User{
		{UID: 7, FullName: "Dora Dreyfus", Group: "member"},
		{UID: 8, FullName: "Eric Eastwood", Group: "member"},
		{UID: 9, FullName: "Fay Fontaine", Group: "staff"},
	}
	for i, acc := range DemoAccounts() {
		h, err := HashPassword(acc.Password, iterations)
		if err != nil {
			return nil, err
		}
		users[i].Mail, users[i].PwHash = acc.Mail, h
	}
	return users, nil
}
