package plugin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// MinKeyLength is the shortest server secret accepted, in bytes.
const MinKeyLength = 32

// CheckKeyLength reports whether a server secret of n bytes is long
// enough (MinKeyLength).
func CheckKeyLength(n int) error {
	if n < MinKeyLength {
		return fmt.Errorf("must be at least %d characters", MinKeyLength)
	}
	return nil
}

// keys holds the HMAC keys derived from the server secret. None of them is
// ever written to the store, so a copy of the database alone cannot map a
// token, a code or an identifier to its stored key (invariant 1).
type keys struct {
	token, code, flow, owner, ident, ip, idem, csrf, pow macKey
	outbox                                               []byte
	// decoy seals the decoy flow ids of requests over their limit
	// (decoyid.go).
	decoy decoySeal
}

func deriveKeys(secret []byte) (*keys, error) {
	if err := CheckKeyLength(len(secret)); err != nil {
		return nil, fmt.Errorf("server key %w", err)
	}
	derive := func(purpose string) []byte {
		out := make([]byte, 32)
		r := hkdf.New(sha256.New, secret, []byte("resetgate/v1"), []byte(purpose))
		if _, err := io.ReadFull(r, out); err != nil {
			panic(err) // HKDF-SHA256 yields far more than 32 bytes
		}
		return out
	}
	decoy, err := newDecoySeal(derive("decoy-seal"), derive("decoy-seal-mac"))
	if err != nil {
		return nil, err
	}
	return &keys{
		decoy:  decoy,
		token:  newMACKey(derive("token")),
		code:   newMACKey(derive("code")),
		flow:   newMACKey(derive("flow")),
		owner:  newMACKey(derive("owner")),
		ident:  newMACKey(derive("identifier")),
		ip:     newMACKey(derive("ip")),
		idem:   newMACKey(derive("idempotency")),
		csrf:   newMACKey(derive("csrf")),
		outbox: derive("outbox"),
		pow:    newMACKey(derive("proof-of-work")),
	}, nil
}

// macKey is a derived HMAC-SHA256 key with a pool of states keyed with it:
// a state is keyed once and Reset for each use, where hmac.New would
// allocate and hash the key's pads every time (four keyed hashes per
// reset request).
type macKey struct{ pool *sync.Pool }

// macState is a keyed HMAC with scratch space for its input and output.
type macState struct {
	h   hash.Hash
	in  []byte
	out []byte // hex or base64 of the sum, then the sum itself
}

func newMACKey(key []byte) macKey {
	return macKey{pool: &sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, key), out: make([]byte, 0, 2*sha256.Size+sha256.Size)}
	}}}
}

// with runs fn on HMAC-SHA256(key, parts joined by NUL) and returns what
// it returns; the sum is valid only during fn.
func (k macKey) with(parts []string, fn func(sum []byte, scratch []byte) string) string {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.in = st.in[:0]
	for i, p := range parts {
		if i > 0 {
			st.in = append(st.in, 0)
		}
		st.in = append(st.in, p...)
	}
	st.h.Write(st.in)
	sum := st.h.Sum(st.out[:0])
	s := fn(sum, sum[len(sum):cap(sum)])
	k.pool.Put(st)
	return s
}

// sum writes HMAC-SHA256(key, parts concatenated) into dst, cut to
// dst's length.
func (k macKey) sum(dst []byte, parts ...[]byte) {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	for _, p := range parts {
		st.h.Write(p)
	}
	copy(dst, st.h.Sum(st.out[:0]))
	k.pool.Put(st)
}

// hex returns hex(HMAC-SHA256(key, parts joined by NUL)).
func (k macKey) hex(parts ...string) string {
	return k.with(parts, func(sum, scratch []byte) string {
		n := hex.Encode(scratch[:hex.EncodedLen(len(sum))], sum)
		return string(scratch[:n])
	})
}

// appendHex appends hex(HMAC-SHA256(key, parts joined by NUL)) to dst.
func (k macKey) appendHex(dst []byte, parts ...string) []byte {
	k.with(parts, func(sum, _ []byte) string {
		dst = hex.AppendEncode(dst, sum)
		return ""
	})
	return dst
}

// short returns base64url(HMAC-SHA256(key, parts joined by NUL)[:16]):
// 128 bits in 22 characters instead of hex's 64. The keys every open
// token writes (its own, and its owner's, which the owner index repeats
// for every token) use it; 128 bits of a keyed hash are far beyond any
// collision or guess over the keys a store holds.
func (k macKey) short(parts ...string) string {
	return k.with(parts, func(sum, scratch []byte) string {
		enc := base64.RawURLEncoding
		out := scratch[:enc.EncodedLen(16)]
		enc.Encode(out, sum[:16])
		return string(out)
	})
}

// tokenBytes is the entropy of tokens and flow ids: 256 bits (invariant 1).
const tokenBytes = 32

// tokenLen is the length of a token in base64url without padding.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// newToken returns 256 bits from crypto/rand, base64url-encoded.
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormedToken reports whether s could be a token we issued, so that
// garbage never reaches the store.
func wellFormedToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// newCode returns 8 uniformly random decimal digits from crypto/rand.
func newCode() (string, error) {
	const limit = 4294967295 - 4294967295%100000000 // reject to avoid modulo bias
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("reading randomness: %w", err)
		}
		n := binary.BigEndian.Uint32(b[:])
		if n < limit {
			return fmt.Sprintf("%08d", n%100000000), nil
		}
	}
}
