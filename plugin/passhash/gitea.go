package passhash

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Gitea is Gitea's password scheme (modules/auth/password/hash): the user
// table's passwd column holds the hex PBKDF2-HMAC-SHA256 key (50,000
// rounds, 50 bytes: Gitea's default pbkdf2_v2) computed over the
// hex-decoded salt column, and passwd_hash_algo names the parameters
// ("pbkdf2$50000$50"). HashParts gives part "salt" (16 random bytes, 32
// hex) and part "algo".
type Gitea struct {
	// Iterations of PBKDF2 (default 50000, as Gitea's pbkdf2_v2).
	Iterations int
}

var _ Hasher = Gitea{}

// Format implements Hasher.
func (Gitea) Format() string { return "gitea" }

// Hash implements Hasher: always ErrNeedsParts, salt and algorithm have
// their own columns.
func (Gitea) Hash(string) (string, error) { return "", ErrNeedsParts }

const giteaKeyLen = 50

func (g Gitea) hashParts(password string) (string, map[string]string, error) {
	salt, err := newSalt(16)
	if err != nil {
		return "", nil, err
	}
	key := pbkdf2.Key([]byte(password), salt, g.Iterations, giteaKeyLen, sha256.New)
	return hex.EncodeToString(key), map[string]string{
		"salt": hex.EncodeToString(salt),
		"algo": fmt.Sprintf("pbkdf2$%d$%d", g.Iterations, giteaKeyLen),
	}, nil
}

// giteaAliases are Gitea's setting names (setting.go), in case a row holds
// one instead of a full specification.
var giteaAliases = map[string]string{
	"argon2":    "argon2$2$65536$8$50",
	"bcrypt":    "bcrypt$10",
	"scrypt":    "scrypt$65536$16$2$50",
	"pbkdf2_v1": "pbkdf2$10000$50",
	"pbkdf2_v2": "pbkdf2$50000$50",
	"pbkdf2_hi": "pbkdf2$320000$50",
}

// verifyGitea is Gitea's VerifyPassword for each algorithm it stores: an
// empty or bare "pbkdf2" algo is the original pbkdf2 (10000 rounds, 50
// bytes); a 10-character salt is used as bytes (older Gitea), any other
// is hex-decoded.
func verifyGitea(encoded string, parts map[string]string, password string) bool {
	algo := parts["algo"]
	if a, ok := giteaAliases[algo]; ok {
		algo = a
	}
	spec := strings.Split(algo, "$")
	if spec[0] == "bcrypt" {
		return verifyBcrypt(encoded, parts, password)
	}
	salt := []byte(parts["salt"])
	if len(salt) != 10 {
		var err error
		if salt, err = hex.DecodeString(parts["salt"]); err != nil {
			return false
		}
	}
	want, err := hex.DecodeString(encoded)
	if err != nil || len(want) == 0 {
		return false
	}
	nums := make([]int, len(spec)-1)
	for i, s := range spec[1:] {
		if nums[i], err = strconv.Atoi(s); err != nil || nums[i] < 1 {
			return false
		}
	}
	var got []byte
	switch {
	case spec[0] == "" || (spec[0] == "pbkdf2" && len(nums) == 0):
		got = pbkdf2.Key([]byte(password), salt, 10000, 50, sha256.New)
	case spec[0] == "pbkdf2" && len(nums) == 2 && nums[0] <= 10000000 && nums[1] <= 1024:
		got = pbkdf2.Key([]byte(password), salt, nums[0], nums[1], sha256.New)
	case spec[0] == "argon2" && len(nums) == 4 && nums[0] <= maxArgonTime && nums[1] <= maxArgonMemoryKiB && nums[2] <= 255 && nums[3] <= 1024:
		got = argon2.IDKey([]byte(password), salt, uint32(nums[0]), uint32(nums[1]), uint8(nums[2]), uint32(nums[3]))
	case spec[0] == "scrypt" && len(nums) == 4 && scryptOK(nums[0], nums[1], nums[2]) && nums[3] <= 1024:
		if got, err = scrypt.Key([]byte(password), salt, nums[0], nums[1], nums[2], nums[3]); err != nil {
			return false
		}
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
