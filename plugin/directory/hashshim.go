package directory

import (
	"crypto/subtle"

	"github.com/resetgate/resetgate/plugin/passhash"
)

// The three helpers below stand in for passhash.HashParts and
// passhash.Verify until the hash formats land; they are the only places
// that know how a hash is made and checked.

// hashParts hashes password in h's format and returns the parts the
// format keeps in columns of their own ({hash.salt}, {hash.algo}). A nil
// h (format none) gives the password as typed.
func hashParts(h passhash.Hasher, password string) (string, map[string]string, error) {
	if h == nil {
		return password, nil, nil
	}
	s, err := h.Hash(password)
	return s, nil, err
}

// verifyHash checks password against a stored hash (and its parts) in
// constant time.
func verifyHash(format, encoded string, parts map[string]string, password string) bool {
	if format == "" || format == "none" {
		return subtle.ConstantTimeCompare([]byte(encoded), []byte(password)) == 1
	}
	return passhash.Check(encoded, password)
}

// maxPasswordBytes is the longest password h takes whole, or 0.
func maxPasswordBytes(h passhash.Hasher) int {
	if _, ok := h.(passhash.Bcrypt); ok {
		return 72
	}
	return 0
}
