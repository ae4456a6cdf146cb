package plugin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// The proof-of-work guard (pow <difficulty>) makes each reset request cost
// the client some CPU, ALTCHA-style, without a CAPTCHA vendor or any
// tracking: the server hands out a signed challenge, the browser (a Web
// Worker in pow.js) searches for a nonce such that
//
//	SHA-256(challenge ":" nonce)
//
// starts with difficulty zero bits, and request carries both. The check is
// stateless (the challenge carries its expiry and an HMAC under a key
// derived from the server key) except for one store write that makes each
// solved challenge single use. It runs before anything depends on the
// identifier, so it costs known and unknown accounts alike.

// Proof-of-work bounds.
const (
	// MinPowDifficulty and MaxPowDifficulty bound pow <difficulty>, in
	// leading zero bits: 2^difficulty hashes on average.
	MinPowDifficulty = 8
	MaxPowDifficulty = 28
	// powTTL is how long a challenge may be solved and used.
	powTTL = 10 * time.Minute
	// powVersion tags the challenge format.
	powVersion = "p1"
)

// PowChallenge is what GET {prefix}/pow answers and the forgot page embeds.
type PowChallenge struct {
	// Algorithm is always "SHA-256".
	Algorithm string `json:"algorithm"`
	// Challenge is the opaque string to hash, signed by the server.
	Challenge string `json:"challenge"`
	// Difficulty is the number of leading zero bits the hash must have.
	Difficulty int `json:"difficulty"`
	// ExpiresAt is when the challenge stops being accepted (RFC 3339).
	ExpiresAt string `json:"expires_at"`
}

// PowSolution is the "pow" member of a request body.
type PowSolution struct {
	// Challenge is the challenge as received.
	Challenge string `json:"challenge"`
	// Nonce is the decimal number found by the client.
	Nonce string `json:"nonce"`
}

// newPowChallenge makes a signed challenge: version, expiry and 16 random
// bytes, then an HMAC of them.
func (e *Engine) newPowChallenge() (PowChallenge, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return PowChallenge{}, fmt.Errorf("reading randomness: %w", err)
	}
	exp := e.now().Add(powTTL)
	payload := powVersion + "." + strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(salt[:])
	return PowChallenge{
		Algorithm:  "SHA-256",
		Challenge:  payload + "." + e.keys.pow.hex(payload, strconv.Itoa(e.cfg.PowDifficulty)),
		Difficulty: e.cfg.PowDifficulty,
		ExpiresAt:  exp.UTC().Format(time.RFC3339),
	}, nil
}

// powError is the one answer for every refused proof; its detail says why
// (MISSING, INVALID, EXPIRED, INSUFFICIENT, REPLAYED) for the client's
// developer. None of it depends on the identifier.
func powError(detail string) *apiError {
	return newError(http.StatusBadRequest, CodePowRequired, detail, "/pow")
}

// checkPow verifies a solution and spends its challenge. Nil when the guard
// is off.
func (e *Engine) checkPow(ctx context.Context, sol *PowSolution) *apiError {
	if e.cfg.PowDifficulty == 0 {
		return nil
	}
	if sol == nil || sol.Challenge == "" || sol.Nonce == "" {
		return powError("MISSING")
	}
	if len(sol.Challenge) > 200 || len(sol.Nonce) > 20 {
		return powError("INVALID")
	}
	if _, err := strconv.ParseUint(sol.Nonce, 10, 64); err != nil {
		return powError("INVALID")
	}
	i := strings.LastIndexByte(sol.Challenge, '.')
	if i < 0 {
		return powError("INVALID")
	}
	payload, sig := sol.Challenge[:i], sol.Challenge[i+1:]
	want := e.keys.pow.hex(payload, strconv.Itoa(e.cfg.PowDifficulty))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return powError("INVALID")
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != powVersion {
		return powError("INVALID")
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return powError("INVALID")
	}
	left := time.Unix(exp, 0).Sub(e.now())
	if left <= 0 {
		return powError("EXPIRED")
	}
	if leadingZeroBits(sha256.Sum256([]byte(sol.Challenge+":"+sol.Nonce))) < e.cfg.PowDifficulty {
		return powError("INSUFFICIENT")
	}
	// Single use: the first request with this challenge wins; the record
	// lives until the challenge would expire anyway.
	won, err := e.store.PutIfAbsent(ctx, e.keys.powUsedKey(payload), []byte{1}, left)
	if err != nil {
		return storeUnavailable(err)
	}
	if !won {
		e.audit(zapcore.InfoLevel, "proof of work replayed", "pow_replayed", "")
		return powError("REPLAYED")
	}
	return nil
}

// leadingZeroBits counts the zero bits at the start of a hash.
func leadingZeroBits(h [32]byte) int {
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i : i+8])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

// handlePow answers GET {prefix}/pow with a fresh challenge, for API
// clients (a portal's own form). 404 when the guard is off.
func (e *Engine) handlePow(w http.ResponseWriter, r *http.Request) *apiError {
	if e.cfg.PowDifficulty == 0 {
		return newError(http.StatusNotFound, CodeNotFound, "proof of work is not enabled", "")
	}
	c, err := e.newPowChallenge()
	if err != nil {
		return internalError(err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// CheckPowDifficulty accepts 0 (off) or MinPowDifficulty to
// MaxPowDifficulty; its error names the option.
func CheckPowDifficulty(d int) error {
	if d != 0 && (d < MinPowDifficulty || d > MaxPowDifficulty) {
		return fmt.Errorf("pow: difficulty must be between %d and %d leading zero bits, not %d", MinPowDifficulty, MaxPowDifficulty, d)
	}
	return nil
}
