package plugin

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

func solve(challenge string, difficulty int) string {
	for i := 0; ; i++ {
		n := strconv.Itoa(i)
		if leadingZeroBits(sha256.Sum256([]byte(challenge+":"+n))) >= difficulty {
			return n
		}
	}
}

// TestPowChallengeExpires: a challenge solved but used after its ten
// minutes is refused as EXPIRED (the server clock decides), and a
// challenge made for another difficulty does not verify.
func TestPowChallengeExpires(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PowDifficulty = 10 })
	c, err := h.e.newPowChallenge()
	if err != nil {
		t.Fatal(err)
	}
	sol := &PowSolution{Challenge: c.Challenge, Nonce: solve(c.Challenge, 10)}
	h.clk.Advance(powTTL + time.Second)
	if apiErr := h.e.checkPow(t.Context(), sol); apiErr == nil || apiErr.items[0].Detail != "EXPIRED" {
		t.Fatalf("an expired challenge: %v", apiErr)
	}
	c2, _ := h.e.newPowChallenge()
	h.e.cfg.PowDifficulty = 11
	if apiErr := h.e.checkPow(t.Context(), &PowSolution{Challenge: c2.Challenge, Nonce: solve(c2.Challenge, 11)}); apiErr == nil || apiErr.items[0].Detail != "INVALID" {
		t.Fatalf("a challenge signed for another difficulty: %v", apiErr)
	}
}

func TestLeadingZeroBits(t *testing.T) {
	var h [32]byte
	if n := leadingZeroBits(h); n != 256 {
		t.Errorf("all zero: %d", n)
	}
	h[9] = 0x10
	if n := leadingZeroBits(h); n != 75 {
		t.Errorf("0x10 in byte 9: %d, want 75", n)
	}
}

func TestCheckPowDifficulty(t *testing.T) {
	for d, ok := range map[int]bool{0: true, 8: true, 28: true, 7: false, 29: false, -1: false} {
		if err := CheckPowDifficulty(d); (err == nil) != ok {
			t.Errorf("difficulty %d: %v", d, err)
		}
	}
}
