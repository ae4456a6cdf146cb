package passhash

import (
	"strings"
	"testing"
)

func TestHashFormatsVerifyAgainstPassword(t *testing.T) {
	pw := "Ünïcödé pässwörd  with spaces "
	for _, tc := range []struct {
		format, prefix string
	}{
		{"bcrypt", "$2y$04$"},
		{"argon2id", "$argon2id$v=19$m=19456,t=1,p=1$"},
		{"scrypt", "$scrypt$ln=10,r=8,p=1$"},
		{"pbkdf2_sha256", "pbkdf2_sha256$100000$"},
	} {
		h, err := New(tc.format, map[string]int{"bcrypt": 4, "argon2id": 1, "scrypt": 10, "pbkdf2_sha256": 100000}[tc.format])
		if err != nil {
			t.Fatal(err)
		}
		enc, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enc, tc.prefix) {
			t.Errorf("%s: encoding %q lacks prefix %q", tc.format, enc, tc.prefix)
		}
		if !Check(enc, pw) {
			t.Errorf("%s: hash does not verify the password", tc.format)
		}
		// Invariant 11: no trimming; a trimmed password must not match.
		if Check(enc, strings.TrimSpace(pw)) {
			t.Errorf("%s: trimmed password matched", tc.format)
		}
	}
}

// bcrypt silently ignores bytes past 72; refusing is the only way to keep
// "forwarded exactly as typed" (invariant 11).
func TestBcryptRefusesTruncation(t *testing.T) {
	h, _ := New("bcrypt", 4)
	if _, err := h.Hash(strings.Repeat("a", 73)); err != ErrTooLongForBcrypt {
		t.Fatalf("err = %v, want ErrTooLongForBcrypt", err)
	}
}

func TestNewRejectsUnknownAndBadCost(t *testing.T) {
	if _, err := New("md5", 0); err == nil {
		t.Error("md5 accepted")
	}
	if _, err := New("bcrypt", 40); err == nil {
		t.Error("bcrypt cost 40 accepted")
	}
	if h, err := New("none", 0); h != nil || err != nil {
		t.Error("none should give nil hasher")
	}
}

// A hash made by Django (make_password("correct horse battery staple",
// salt="seasalt1234567890abcd", hasher="pbkdf2_sha256") with 100000
// iterations, computed independently with Python's hashlib) verifies: the
// format is byte-compatible with what a Django app stores.
func TestPBKDF2MatchesDjangoFormat(t *testing.T) {
	const django = "pbkdf2_sha256$100000$seasalt1234567890abcd$" + djangoKey
	if !Check(django, "correct horse battery staple") {
		t.Fatal("Django hash does not verify")
	}
	if Check(django, "correct horse battery stapl") {
		t.Fatal("wrong password verifies")
	}
}

const djangoKey = "FP6kZCfwJhNXUCR+oIWSaXwDFRHhcSd1qUYj7InpUUk="

// Malformed stored hashes are a mismatch, never a panic (an empty key made
// pbkdf2.Key panic).
func TestCheckMalformed(t *testing.T) {
	for _, h := range []string{"pbkdf2_sha256$1$salt$", "pbkdf2_sha256$x$salt$AAAA", "$scrypt$ln=10,r=8,p=1$c2FsdA$", "$argon2id$v=19$m=1,t=1,p=1$$", "$2a$04$short", ""} {
		if Check(h, "password") {
			t.Errorf("%q matched", h)
		}
	}
}
