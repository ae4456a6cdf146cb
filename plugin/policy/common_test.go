package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
)

// TestCommonListProvenance pins the data file to data/PROVENANCE.md.
func TestCommonListProvenance(t *testing.T) {
	sum := sha256.Sum256([]byte(commonData))
	if got := hex.EncodeToString(sum[:]); got != "861b4d0bacb7ff670bd98e8f92260694f7d75e2267239ebd92c007357d1cfe2b" {
		t.Fatalf("data/passwords.txt sha256 = %s: update data/PROVENANCE.md", got)
	}
	if n := strings.Count(commonData, "\n"); n != 49233 || len(commonData) != 388158 {
		t.Fatalf("lines = %d, bytes = %d", n, len(commonData))
	}
	if !strings.HasPrefix(commonData, "123456\npassword\n12345678\nqwerty\n") {
		t.Fatalf("unexpected start: %q", commonData[:40])
	}
	if CommonListSize() != 49233 {
		t.Fatalf("CommonListSize() = %d: duplicates in the data?", CommonListSize())
	}
	if commonMaxLen != 20 {
		t.Fatalf("longest entry = %d bytes", commonMaxLen)
	}
}

func TestIsCommon(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"123456", true},
		{"Password", true},
		{"password1234", true},    // rank 18,529
		{"qwerty123456", true},    // rank 2,688
		{"1qaz2wsx3edc", true},    // rank 1,369
		{"unbelievable", true},    // rank 11,673
		{"P@SSW0RD", true},        // "p@ssw0rd" is listed as such
		{"sunshine2024", true},    // listed + 4 digits
		{"2024sunshine", true},    // prefix
		{"!!sunshine!!", true},    // both
		{"trustno1!!", true},      // the listed word ends in a digit
		{"monkey123456789", true}, // "123456789" is itself listed
		{"sunshine12345", true},   // so is "12345"
		{"12345678901", true},     // listed as is
		{"123456789012345", true}, // "123456789012" + "345"
		{"sunshine!2024!", false},
		{"sunshinex2024", false},
		{"", false},
		{"!!!!", false},
		{"zq-8Lk#mV2tw", false},
	} {
		if got := IsCommon(tc.pw); got != tc.want {
			t.Errorf("IsCommon(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
}

// BenchmarkCheck is the per-request cost of the offline rules with the
// common list (the list is built before the timer starts).
func BenchmarkCheck(b *testing.B) {
	p := defaults()
	p.ContextWords = []string{"acme", "example"}
	ids := []string{"alice.archer", "alice.archer@example.test", "Alice Archer"}
	commonList()
	for _, tc := range []struct{ name, pw string }{
		{"common", "password1234"},
		{"affix", "sunshine2024!"},
		{"good", "correct horse battery staple"},
		{"unicode", "日本語のパスワードです十二"},
		{"worst-affix", "1!2@3#4$5%6^7&8*9(0)" + "a" + "1!2@3#4$5%6^7&8*9(0)"},
		{"max-128", strings.Repeat("Xk7#vQ2!", 16)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Check(Input{Password: tc.pw, Identifiers: ids})
			}
		})
	}
}

// BenchmarkIsCommon is the lookup alone.
func BenchmarkIsCommon(b *testing.B) {
	commonList()
	b.ReportAllocs()
	for b.Loop() {
		IsCommon("correct horse battery staple")
	}
}

// A line of 32 bytes or more (its length does not fit the entry) and a
// last line without a newline are found like any other.
func TestCommonIndexLongLines(t *testing.T) {
	long := strings.Repeat("x", 40)
	c, maxLen := buildCommonList("b\n" + long + "\na\nb\n\nzz")
	if maxLen != 40 || len(c.entries) != 4 {
		t.Fatalf("maxLen = %d, entries = %d", maxLen, len(c.entries))
	}
	for _, s := range []string{"a", "b", long, "zz"} {
		if !c.has(s) {
			t.Errorf("%q not found", s)
		}
	}
	for _, s := range []string{"", "x", long[:31], long + "x", "z"} {
		if c.has(s) {
			t.Errorf("%q found", s)
		}
	}
}

// BenchmarkBuildCommonList is the one-time cost of the list: B/op is the
// memory it keeps (the offsets; the lines stay in the embedded data).
func BenchmarkBuildCommonList(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buildCommonList(commonData)
	}
}

func TestCommonListMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	list, _ := buildCommonList(commonData)
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("common list: %d entries, %d KiB of heap kept", len(list.entries), kept>>10)
	if kept > 256<<10 {
		t.Errorf("the common list keeps %d bytes, want under 256 KiB (4 bytes an entry)", kept)
	}
	runtime.KeepAlive(list)
}
