package passhash

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

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

var _ Hasher = Argon2id{}

// Format implements Hasher.
func (Argon2id) Format() string { return "argon2id" }

// Hash implements Hasher.
func (a Argon2id) Hash(password string) (string, error) {
	salt, err := newSalt(16)
	if err != nil {
		return "", err
	}
	return argon2idPHC(password, salt, a.Time, a.MemoryKiB, a.Threads, 32), nil
}

func argon2idPHC(password string, salt []byte, t, m uint32, p uint8, keyLen uint32) string {
	key := argon2.IDKey([]byte(password), salt, t, m, p, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, m, t, p, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// Limits on what a stored argon2 hash may ask of us, so a planted hash
// cannot exhaust memory or CPU.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 64
)

// verifyArgon2 checks a PHC argon2id or argon2i string (version 19).
func verifyArgon2(encoded string, _ map[string]string, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return false
	}
	id := parts[1] == "argon2id"
	if !id && parts[1] != "argon2i" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	if m == 0 || m > maxArgonMemoryKiB || t == 0 || t > maxArgonTime || p == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[4], "="))
	want, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[5], "="))
	if err1 != nil || err2 != nil || len(want) < 4 || len(want) > 1024 {
		return false
	}
	var got []byte
	if id {
		got = argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	} else {
		got = argon2.Key([]byte(password), salt, t, m, p, uint32(len(want)))
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

// DjangoArgon2 is Django's Argon2PasswordHasher: "argon2" + the PHC
// argon2id string, with Django's memory (100 MiB), parallelism (8), hash
// length (argon2-cffi's 16 bytes, which must_update compares) and a salt of
// 22 random alphanumeric characters.
type DjangoArgon2 struct {
	// Time is argon2's time cost (Django's default 2).
	Time uint32
}

var _ Hasher = DjangoArgon2{}

// Format implements Hasher.
func (DjangoArgon2) Format() string { return "django_argon2" }

// Hash implements Hasher.
func (d DjangoArgon2) Hash(password string) (string, error) {
	salt, err := alnumSalt(22)
	if err != nil {
		return "", err
	}
	return "argon2" + argon2idPHC(password, []byte(salt), d.Time, 102400, 8, 16), nil
}

func verifyDjangoArgon2(encoded string, parts map[string]string, password string) bool {
	rest, ok := strings.CutPrefix(encoded, "argon2$")
	if !ok {
		return false
	}
	return verifyArgon2("$"+rest, parts, password)
}
