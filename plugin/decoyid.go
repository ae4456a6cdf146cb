package plugin

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Sealed decoy flow ids.
//
// A reset request with no account to mail (an unknown identifier, one
// over its limit…) gets a decoy flow: the client types codes into it and
// sees them counted, then the flow lock, and its wrong codes count against
// the identifier's failure budget, but no code opens it. Under a flood
// there is one such flow per request. Instead of a record in the store,
// the flow id itself carries what the decoy needs, sealed under a key
// derived from the server secret. Every request's flow id is drawn this
// way (Engine.newFlowID), as whether it gets a real flow is known only
// after the lookup; a real flow is stored under it, and verify looks for
// that first:
//
//	salt (8 random bytes) ‖ tag (8) ‖ AES-256(P ⊕ (salt ‖ tag))
//	P   = creation time (4 bytes, Unix seconds) ‖ budget tag (12)
//	tag = HMAC-SHA256(seal MAC key, salt ‖ P)[:8]
//
// 32 bytes, base64url: the same length and alphabet as a random flow id.
// salt is random, tag is a keyed hash over a fresh salt and the AES input
// differs with salt, so without the server secret a sealed id cannot be
// told from a random one, nor its time or identifier read. Changing any
// byte breaks the tag (a forgery holds with 2⁻⁶⁴), and a sealed id is
// accepted only until the flow's lifetime from its creation time has
// passed. Codes are counted per flow id as for a stored flow (the flow's
// key, codeAttemptsKey), so a sealed decoy locks after the same number of
// wrong codes.
const (
	sealSalt      = 8
	sealTag       = 8
	budgetTagSize = 12
	sealPlain     = 4 + budgetTagSize // one AES block
)

// decoySeal holds the keys of sealed decoy flow ids.
type decoySeal struct {
	block cipher.Block
	mac   macKey
}

func newDecoySeal(encKey, mac []byte) (decoySeal, error) {
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return decoySeal{}, fmt.Errorf("decoy seal key: %w", err)
	}
	return decoySeal{block: block, mac: newMACKey(mac)}, nil
}

// seal returns a flow id that carries created and budget.
func (d decoySeal) seal(created time.Time, budget [budgetTagSize]byte) (string, error) {
	var id [tokenBytes]byte
	salt := id[:sealSalt]
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading randomness: %w", err)
	}
	var plain [sealPlain]byte
	binary.BigEndian.PutUint32(plain[:4], uint32(created.Unix()))
	copy(plain[4:], budget[:])
	d.mac.sum(id[sealSalt:sealSalt+sealTag], salt, plain[:])
	var in [sealPlain]byte
	subtle.XORBytes(in[:], plain[:], id[:sealSalt+sealTag])
	d.block.Encrypt(id[sealSalt+sealTag:], in[:])
	return base64.RawURLEncoding.EncodeToString(id[:]), nil
}

// open returns what flowID carries when it is a sealed decoy id whose
// lifetime ttl has not ended at now.
func (d decoySeal) open(flowID string, now time.Time, ttl time.Duration) (created time.Time, budget [budgetTagSize]byte, ok bool) {
	var id [tokenBytes]byte
	if len(flowID) != tokenLen {
		return created, budget, false
	}
	if n, err := base64.RawURLEncoding.Decode(id[:], []byte(flowID)); err != nil || n != tokenBytes {
		return created, budget, false
	}
	var plain [sealPlain]byte
	d.block.Decrypt(plain[:], id[sealSalt+sealTag:])
	subtle.XORBytes(plain[:], plain[:], id[:sealSalt+sealTag])
	var tag [sealTag]byte
	d.mac.sum(tag[:], id[:sealSalt], plain[:])
	if !hmac.Equal(tag[:], id[sealSalt:sealSalt+sealTag]) {
		return created, budget, false
	}
	created = time.Unix(int64(binary.BigEndian.Uint32(plain[:4])), 0).UTC()
	// A second of slack for the creation time's truncation.
	if created.After(now.Add(time.Second)) || !now.Before(created.Add(ttl)) {
		return created, budget, false
	}
	copy(budget[:], plain[4:])
	return created, budget, true
}

// budgetTag is the identifier's failure budget in the 12 bytes a sealed
// decoy id carries: the first 96 bits of a keyed hash of the identifier as
// typed (case-folded).
func (k *keys) budgetTag(identifier string) [budgetTagSize]byte {
	var tag [budgetTagSize]byte
	k.owner.with([]string{"identifier", strings.ToLower(identifier)}, func(sum, _ []byte) string {
		copy(tag[:], sum)
		return ""
	})
	return tag
}
