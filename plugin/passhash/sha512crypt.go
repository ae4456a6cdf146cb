package passhash

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
)

// SHA512Crypt is glibc's SHA-512 crypt ("$6$rounds=<n>$<salt>$<hash>",
// Ulrich Drepper's specification "Unix crypt using SHA-256 and SHA-512"),
// read by crypt(3) for system accounts, Dovecot, Postfix SASL and others.
type SHA512Crypt struct {
	// Rounds of the final loop (default 656000, passlib's default).
	Rounds int
}

var _ Hasher = SHA512Crypt{}

// Format implements Hasher.
func (SHA512Crypt) Format() string { return "sha512_crypt" }

// cryptAlphabet is crypt(3)'s base-64 alphabet.
const cryptAlphabet = itoa64

// Hash implements Hasher with a 16-character salt.
func (s SHA512Crypt) Hash(password string) (string, error) {
	raw, err := newSalt(16)
	if err != nil {
		return "", err
	}
	salt := make([]byte, len(raw))
	for i, b := range raw {
		salt[i] = cryptAlphabet[b&0x3f]
	}
	return sha512Crypt(password, string(salt), s.Rounds, true), nil
}

// sha512Crypt computes the crypt string; rounds are clamped as glibc
// clamps them, and written when explicit.
func sha512Crypt(password, salt string, rounds int, explicit bool) string {
	if len(salt) > 16 {
		salt = salt[:16]
	}
	rounds = min(max(rounds, 1000), 999999999)
	p, s := []byte(password), []byte(salt)

	b := sha512.New()
	b.Write(p)
	b.Write(s)
	b.Write(p)
	sumB := b.Sum(nil)

	a := sha512.New()
	a.Write(p)
	a.Write(s)
	i := len(p)
	for ; i > 64; i -= 64 {
		a.Write(sumB)
	}
	a.Write(sumB[:i])
	for i = len(p); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(p)
		}
	}
	sumA := a.Sum(nil)

	dp := sha512.New()
	for range len(p) {
		dp.Write(p)
	}
	pSeq := repeatTo(dp.Sum(nil), len(p))

	ds := sha512.New()
	for range 16 + int(sumA[0]) {
		ds.Write(s)
	}
	sSeq := repeatTo(ds.Sum(nil), len(s))

	c := sumA
	h := sha512.New()
	for r := range rounds {
		h.Reset()
		if r&1 != 0 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if r%3 != 0 {
			h.Write(sSeq)
		}
		if r%7 != 0 {
			h.Write(pSeq)
		}
		if r&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString("$6$")
	if explicit {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.WriteString(salt)
	out.WriteByte('$')
	b64 := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for k := range 21 {
		x, y, z := c[k], c[k+21], c[k+42]
		switch k % 3 {
		case 0:
			b64(x, y, z, 4)
		case 1:
			b64(y, z, x, 4)
		case 2:
			b64(z, x, y, 4)
		}
	}
	b64(0, 0, c[63], 2)
	return out.String()
}

func repeatTo(block []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out)+len(block) <= n {
		out = append(out, block...)
	}
	return append(out, block[:n-len(out)]...)
}

// verifySHA512Crypt reads "$6$[rounds=<n>$]<salt>$<hash>" (5000 rounds
// when not given, as glibc).
func verifySHA512Crypt(encoded string, _ map[string]string, password string) bool {
	rest, ok := strings.CutPrefix(encoded, "$6$")
	if !ok {
		return false
	}
	rounds, explicit := 5000, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		n, err := strconv.Atoi(num)
		if !found || err != nil || n < 1 || n > 10000000 { // above 10^7 is a planted DoS, not a real hash
			return false
		}
		rounds, explicit, rest = n, true, after
	}
	salt, _, found := strings.Cut(rest, "$")
	if !found {
		return false
	}
	got := sha512Crypt(password, salt, rounds, explicit)
	return subtle.ConstantTimeCompare([]byte(got), []byte(encoded)) == 1
}
