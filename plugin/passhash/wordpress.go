package passhash

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// WordPress68 is the format WordPress 6.8 and later write
// (wp-includes/pluggable.php, wp_hash_password): "$wp" + bcrypt ($2y$) of
// base64(HMAC-SHA384(key "wp-sha384", trim(password))). WordPress before 6.8
// cannot read it; use format wordpress for those.
type WordPress68 struct {
	// Cost is bcrypt's log2 work factor (WordPress uses PHP's default).
	Cost int
}

var _ Hasher = WordPress68{}

// Format implements Hasher.
func (WordPress68) Format() string { return "wordpress68" }

// wpMaxPassword is the longest password wp_hash_password hashes (it
// returns "*" for longer ones, and wp_check_password refuses them).
const wpMaxPassword = 4096

// Hash implements Hasher.
func (w WordPress68) Hash(password string) (string, error) {
	if len(password) > wpMaxPassword {
		return "", ErrTooLong
	}
	h, err := bcryptHash(wpPreHash(phpTrim(password)), w.Cost, 'y')
	if err != nil {
		return "", err
	}
	return "$wp" + h, nil
}

// wpPreHash is base64_encode(hash_hmac('sha384', $password, 'wp-sha384', true)).
func wpPreHash(password string) string {
	m := hmac.New(sha512.New384, []byte("wp-sha384"))
	m.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// verifyWordPress is WordPress 6.8's wp_check_password, which reads every
// hash any WordPress wrote: MD5 (32 hex), $wp$ (6.8+), phpass $P$ (2.5 to
// 6.7) and password_hash bcrypt. WordPress's login (wp_authenticate) trims
// the password before checking it, so this does too.
func verifyWordPress(encoded string, parts map[string]string, password string) bool {
	password = phpTrim(password)
	switch {
	case len(encoded) <= 32:
		sum := md5.Sum([]byte(password))
		return subtle.ConstantTimeCompare([]byte(encoded), []byte(hex.EncodeToString(sum[:]))) == 1
	case len(password) > wpMaxPassword:
		return false
	case strings.HasPrefix(encoded, "$wp"):
		return verifyBcrypt(encoded[3:], parts, wpPreHash(password))
	case strings.HasPrefix(encoded, "$P$"), strings.HasPrefix(encoded, "$H$"):
		return verifyPHPass(encoded, password)
	}
	return verifyPHP(encoded, parts, password)
}

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// verifyPHPass is phpass's portable hash (CheckPassword's crypt_private),
// which WordPress wrote from 2.5 to 6.7 and phpBB writes as $H$.
func verifyPHPass(encoded, password string) bool {
	if len(encoded) != 34 {
		return false
	}
	countLog2 := strings.IndexByte(itoa64, encoded[3])
	if countLog2 < 7 || countLog2 > 20 { // phpass allows 30; WordPress uses 8
		return false
	}
	salt := encoded[4:12]
	sum := md5.Sum([]byte(salt + password))
	for i := 0; i < 1<<countLog2; i++ {
		sum = md5.Sum(append(sum[:], password...))
	}
	got := encoded[:12] + phpassEncode64(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(encoded)) == 1
}

// phpassEncode64 is phpass's encode64, little-endian groups of 6 bits.
func phpassEncode64(in []byte) string {
	var out strings.Builder
	count := len(in)
	for i := 0; i < count; {
		value := int(in[i])
		i++
		out.WriteByte(itoa64[value&0x3f])
		if i < count {
			value |= int(in[i]) << 8
		}
		out.WriteByte(itoa64[(value>>6)&0x3f])
		if i >= count {
			break
		}
		i++
		if i < count {
			value |= int(in[i]) << 16
		}
		out.WriteByte(itoa64[(value>>12)&0x3f])
		if i >= count {
			break
		}
		i++
		out.WriteByte(itoa64[(value>>18)&0x3f])
	}
	return out.String()
}
