package passhash

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

// MediaWiki is MediaWiki's default password type (includes/Password/
// AbstractPbkdf2Password.php with $wgPasswordConfig['pbkdf2']):
// ":pbkdf2:sha512:<rounds>:64:<base64 salt>:<base64 key>", PBKDF2-HMAC-
// SHA512 over the 16 random salt bytes (base64-decoded, as crypt() does).
type MediaWiki struct {
	// Iterations of PBKDF2 (MediaWiki's cost, default 30000).
	Iterations int
}

var _ Hasher = MediaWiki{}

// Format implements Hasher.
func (MediaWiki) Format() string { return "mediawiki" }

// Hash implements Hasher.
func (m MediaWiki) Hash(password string) (string, error) {
	salt, err := newSalt(16)
	if err != nil {
		return "", err
	}
	key := pbkdf2.Key([]byte(password), salt, m.Iterations, 64, sha512.New)
	enc := base64.StdEncoding
	return fmt.Sprintf(":pbkdf2:sha512:%d:64:%s:%s", m.Iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

var mediaWikiDigests = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

// verifyMediaWiki reads :pbkdf2: hashes with any of the usual digests and
// the older salted MD5 type (":B:<salt>:<md5(salt-md5(password))>").
func verifyMediaWiki(encoded string, _ map[string]string, password string) bool {
	f := strings.Split(encoded, ":")
	switch {
	case len(f) == 7 && f[0] == "" && f[1] == "pbkdf2":
		digest, ok := mediaWikiDigests[f[2]]
		rounds, err1 := strconv.Atoi(f[3])
		length, err2 := strconv.Atoi(f[4])
		salt, err3 := base64.StdEncoding.DecodeString(f[5])
		want, err4 := base64.StdEncoding.DecodeString(f[6])
		if !ok || err1 != nil || err2 != nil || err3 != nil || err4 != nil ||
			rounds < 1 || rounds > 10000000 || length != len(want) || length < 16 || length > 256 {
			return false
		}
		got := pbkdf2.Key([]byte(password), salt, rounds, length, digest)
		return subtle.ConstantTimeCompare(got, want) == 1
	case len(f) == 4 && f[0] == "" && f[1] == "B":
		inner := md5.Sum([]byte(password))
		sum := md5.Sum([]byte(f[2] + "-" + hex.EncodeToString(inner[:])))
		return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(f[3])) == 1
	}
	return false
}
