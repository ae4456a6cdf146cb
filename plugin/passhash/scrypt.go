package passhash

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Scrypt hashes with scrypt in the PHC-style string
// $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash> (unpadded base64), the
// encoding passlib and other libraries read.
type Scrypt struct {
	// LogN is log2 of the CPU/memory cost N.
	LogN uint8
	// R is the block size, P the parallelism.
	R, P int
}

var _ Hasher = Scrypt{}

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

// scryptOK bounds what a stored hash may ask of us (memory 128·r·N bytes).
func scryptOK(n, r, p int) bool {
	return n > 1 && n&(n-1) == 0 && n <= 1<<22 && r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128*r*n <= 1<<30
}

func verifyScrypt(encoded string, _ map[string]string, password string) bool {
	parts := strings.Split(encoded, "$")
	var ln uint8
	var r, p int
	if len(parts) != 5 || parts[0] != "" || parts[1] != "scrypt" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "ln=%d,r=%d,p=%d", &ln, &r, &p); err != nil || ln > 22 || !scryptOK(1<<ln, r, p) {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[3])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 64 {
		return false
	}
	got, err := scrypt.Key([]byte(password), salt, 1<<ln, r, p, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// DjangoScrypt is Django's ScryptPasswordHasher (Django 4.0+):
// scrypt$<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>, with Django
// 4.2's defaults r=8, p=5 (4.0 and 4.1 wrote p=1; both verify). Django runs
// it with OpenSSL's default 32 MiB memory limit (maxmem=0), hence N ≤ 2^14.
type DjangoScrypt struct {
	// LogN is log2 of N (Django's default 14).
	LogN uint8
}

var _ Hasher = DjangoScrypt{}

// Format implements Hasher.
func (DjangoScrypt) Format() string { return "django_scrypt" }

// Hash implements Hasher.
func (d DjangoScrypt) Hash(password string) (string, error) {
	salt, err := alnumSalt(22)
	if err != nil {
		return "", err
	}
	n := 1 << d.LogN
	const r, p = 8, 5
	key, err := scrypt.Key([]byte(password), []byte(salt), n, r, p, 64)
	if err != nil {
		return "", fmt.Errorf("scrypt: %w", err)
	}
	return fmt.Sprintf("scrypt$%d$%s$%d$%d$%s", n, salt, r, p, base64.StdEncoding.EncodeToString(key)), nil
}

func verifyDjangoScrypt(encoded string, _ map[string]string, password string) bool {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "scrypt" {
		return false
	}
	n, err1 := strconv.Atoi(f[1])
	r, err2 := strconv.Atoi(f[3])
	p, err3 := strconv.Atoi(f[4])
	want, err4 := base64.StdEncoding.DecodeString(f[5])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !scryptOK(n, r, p) || len(want) < 16 || len(want) > 128 {
		return false
	}
	got, err := scrypt.Key([]byte(password), []byte(f[2]), n, r, p, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
