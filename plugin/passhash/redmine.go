package passhash

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
)

// Redmine is Redmine's password scheme (app/models/user.rb,
// salt_password and check_password?): users.hashed_password holds
// hex SHA1(salt + hex SHA1(password)) and users.salt the salt, 16 random
// bytes as 32 hex characters (Redmine::Utils.random_hex(16)). HashParts
// gives the salt as part "salt".
type Redmine struct{}

var _ Hasher = Redmine{}

// Format implements Hasher.
func (Redmine) Format() string { return "redmine" }

// Hash implements Hasher: always ErrNeedsParts, the salt has its own column.
func (Redmine) Hash(string) (string, error) { return "", ErrNeedsParts }

func (Redmine) hashParts(password string) (string, map[string]string, error) {
	raw, err := newSalt(16)
	if err != nil {
		return "", nil, err
	}
	salt := hex.EncodeToString(raw)
	return redmineHash(salt, password), map[string]string{"salt": salt}, nil
}

func redmineHash(salt, password string) string {
	inner := sha1.Sum([]byte(password))
	outer := sha1.Sum([]byte(salt + hex.EncodeToString(inner[:])))
	return hex.EncodeToString(outer[:])
}

// verifyRedmine is check_password?: an empty salt (accounts from before
// Redmine 1.2 not yet salted) hashes with the empty string, as Ruby's
// "#{nil}" does.
func verifyRedmine(encoded string, parts map[string]string, password string) bool {
	if len(encoded) != 40 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(redmineHash(parts["salt"], password)), []byte(encoded)) == 1
}
