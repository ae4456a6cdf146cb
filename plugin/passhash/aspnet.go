package passhash

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/pbkdf2"
)

// ASPNetIdentityV3 is ASP.NET Core Identity's PasswordHasher, format
// version 3 (AspNetUsers.PasswordHash): base64 of 0x01, the PRF (uint32
// big-endian: 0 HMAC-SHA1, 1 HMAC-SHA256, 2 HMAC-SHA512), the iteration
// count, the salt length, the salt and the PBKDF2 subkey. It writes what
// .NET 7 and later write: HMAC-SHA512, 100,000 iterations, a 16-byte salt
// and a 32-byte subkey.
type ASPNetIdentityV3 struct {
	// Iterations of PBKDF2 (default 100000).
	Iterations int
}

var _ Hasher = ASPNetIdentityV3{}

// Format implements Hasher.
func (ASPNetIdentityV3) Format() string { return "aspnet_identity_v3" }

const (
	aspPRFSHA1   = 0
	aspPRFSHA256 = 1
	aspPRFSHA512 = 2
)

// Hash implements Hasher.
func (a ASPNetIdentityV3) Hash(password string) (string, error) {
	salt, err := newSalt(16)
	if err != nil {
		return "", err
	}
	return aspnetV3(password, salt, aspPRFSHA512, a.Iterations), nil
}

// aspnetV3 encodes a version 3 hash with a 32-byte subkey.
func aspnetV3(password string, salt []byte, prf uint32, iter int) string {
	h := map[uint32]func() hash.Hash{aspPRFSHA1: sha1.New, aspPRFSHA256: sha256.New, aspPRFSHA512: sha512.New}[prf]
	key := pbkdf2.Key([]byte(password), salt, iter, 32, h)
	out := make([]byte, 13, 13+len(salt)+len(key))
	out[0] = 0x01
	binary.BigEndian.PutUint32(out[1:], prf)
	binary.BigEndian.PutUint32(out[5:], uint32(iter))
	binary.BigEndian.PutUint32(out[9:], uint32(len(salt)))
	out = append(append(out, salt...), key...)
	return base64.StdEncoding.EncodeToString(out)
}

// verifyASPNetIdentity is PasswordHasher.VerifyHashedPassword: version 3
// with any PRF, and version 2 (0x00, PBKDF2-HMAC-SHA1, 1000 iterations,
// 16-byte salt, 32-byte subkey), which Identity still reads.
func verifyASPNetIdentity(encoded string, _ map[string]string, password string) bool {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(raw) == 0 {
		return false
	}
	var salt, want []byte
	var iter int
	var prf func() hash.Hash
	switch raw[0] {
	case 0x00:
		if len(raw) != 1+16+32 {
			return false
		}
		salt, want, iter, prf = raw[1:17], raw[17:], 1000, sha1.New
	case 0x01:
		if len(raw) < 13 {
			return false
		}
		switch binary.BigEndian.Uint32(raw[1:]) {
		case aspPRFSHA1:
			prf = sha1.New
		case aspPRFSHA256:
			prf = sha256.New
		case aspPRFSHA512:
			prf = sha512.New
		default:
			return false
		}
		it := binary.BigEndian.Uint32(raw[5:])
		saltLen := binary.BigEndian.Uint32(raw[9:])
		if it < 1 || it > 10000000 || saltLen < 16 || uint64(saltLen) > uint64(len(raw)-13) {
			return false
		}
		iter = int(it)
		salt, want = raw[13:13+saltLen], raw[13+saltLen:]
		if len(want) < 16 || len(want) > 256 {
			return false
		}
	default:
		return false
	}
	got := pbkdf2.Key([]byte(password), salt, iter, len(want), prf)
	return subtle.ConstantTimeCompare(got, want) == 1
}
