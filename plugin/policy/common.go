package policy

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The embedded list of common passwords: @zxcvbn-ts/language-common 4.1.3,
// src/passwords.json, one password a line, most common first. Licence and
// provenance: data/LICENSE and data/PROVENANCE.md.
//
//go:embed data/passwords.txt
var commonData string

// commonSource names the list in Describe.
const commonSource = "@zxcvbn-ts/language-common@4.1.3 src/passwords.json"

// trivialAffixMax is the longest run of ASCII digits and punctuation that
// counts as a trivial addition to a common password even when the run is not
// itself a common password ("2024", "!!", "123!").
const trivialAffixMax = 4

var (
	commonOnce   sync.Once
	commonSorted commonIndex
	commonMaxLen int // bytes of the longest entry
)

// commonIndex is the embedded list in sorted order: each distinct line of
// commonData as one uint32, its byte offset shifted left by lenBits and
// its length in the low bits (0 for a line of 32 bytes or more, whose end
// is then searched for), sorted by the line. Four bytes an entry (about
// 190 KiB) where a []string took sixteen (770 KiB); the lines themselves
// stay in the embedded data.
type commonIndex struct {
	data    string
	entries []uint32
}

const (
	lenBits = 5
	lenMask = 1<<lenBits - 1
)

// line returns the entry e.
func (c commonIndex) line(e uint32) string {
	off, n := int(e>>lenBits), int(e&lenMask)
	if n == 0 {
		n = strings.IndexByte(c.data[off:], '\n')
		if n < 0 {
			n = len(c.data) - off
		}
	}
	return c.data[off : off+n]
}

// has reports whether s is an entry.
func (c commonIndex) has(s string) bool {
	_, ok := slices.BinarySearchFunc(c.entries, s, func(e uint32, s string) int {
		return strings.Compare(c.line(e), s)
	})
	return ok
}

// commonList returns the embedded list sorted for binary search. It is built
// once, on first use.
func commonList() commonIndex {
	commonOnce.Do(func() { commonSorted, commonMaxLen = buildCommonList(commonData) })
	return commonSorted
}

// buildCommonList indexes the lines of data, sorted and without
// duplicates, and returns the index with the byte length of the longest.
// data must be under 128 MiB (the offset's 27 bits).
func buildCommonList(data string) (commonIndex, int) {
	c := commonIndex{data: data, entries: make([]uint32, 0, strings.Count(data, "\n")+1)}
	maxLen := 0
	for off := 0; off < len(data); {
		n := strings.IndexByte(data[off:], '\n')
		if n < 0 {
			n = len(data) - off
		}
		if n > 0 {
			e := uint32(off) << lenBits
			if n <= lenMask {
				e |= uint32(n)
			}
			c.entries = append(c.entries, e)
			maxLen = max(maxLen, n)
		}
		off += n + 1
	}
	slices.SortFunc(c.entries, func(a, b uint32) int { return strings.Compare(c.line(a), c.line(b)) })
	c.entries = slices.CompactFunc(c.entries, func(a, b uint32) bool { return c.line(a) == c.line(b) })
	return c, maxLen
}

// CommonListSize is the number of distinct passwords in the embedded list.
func CommonListSize() int { return len(commonList().entries) }

func inCommonList(s string) bool {
	return commonList().has(s)
}

// foldKey is the form in which passwords and words are compared: NFKC (so
// full-width letters and ligatures match their plain forms) then lower case.
// It is used only for comparisons; the password itself is never changed.
func foldKey(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return strings.ToLower(norm.NFKC.String(s))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// IsCommon reports whether password is a common password: after folding
// case (and NFKC), either the whole password is on the embedded list, or it
// is a listed password with a trivial prefix and/or suffix, such as
// "sunshine2024", "Jennifer1985!", "trustno1!!" or "123monkey". An affix is
// a run of ASCII digits and punctuation at the start or the end; it is
// trivial when it has at most 4 characters or is itself on the list
// ("123456789", "19841984").
//
// Why the affixes: with a minimum of 12 code points only 308 of the 49,233
// listed passwords are long enough to be typed at all, while "a common word
// with digits appended" is the first thing a guessing attack tries.
func IsCommon(password string) bool {
	k := foldKey(password)
	if k == "" {
		return false
	}
	commonList() // sets commonMaxLen
	if inCommonList(k) {
		return true
	}
	// Affixes longer than the longest listed password are never trivial,
	// which bounds the work at (commonMaxLen+1)² lookups.
	lead := min(len(k)-len(strings.TrimLeftFunc(k, isAffixRune)), commonMaxLen)
	trail := min(len(k)-len(strings.TrimRightFunc(k, isAffixRune)), commonMaxLen)
	okSuffix := make([]bool, trail+1)
	for s := 1; s <= trail; s++ {
		okSuffix[s] = trivialAffix(k[len(k)-s:])
	}
	for p := 0; p <= lead; p++ {
		if p > 0 && !trivialAffix(k[:p]) {
			continue
		}
		for s := 0; s <= trail && p+s < len(k); s++ {
			if (p > 0 || s > 0) && (s == 0 || okSuffix[s]) && inCommonList(k[p:len(k)-s]) {
				return true
			}
		}
	}
	return false
}

// isAffixRune reports ASCII digits and punctuation (not letters, not space).
func isAffixRune(r rune) bool {
	return r > ' ' && r < 0x7f && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
}

func trivialAffix(s string) bool {
	return len(s) <= trivialAffixMax || inCommonList(s)
}
