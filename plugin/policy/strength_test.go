package policy

import (
	"strings"
	"testing"
	"unicode/utf8"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
)

func TestTooWeak(t *testing.T) {
	p := defaults()
	p.MinScore = 3
	p.SkipCommon = true // let the score speak alone
	// Keyboard walks and repeats score low though they are long enough.
	for _, pw := range []string{"qwertyuiopasdf", "aaaaaaaaaaaaaaaa", "abcdefghijklmnop"} {
		wantDetails(t, p.Check(Input{Password: pw}), TooWeak)
	}
	for _, pw := range []string{"correct horse battery staple", "Xk7#vQ2!pL9z", "日本語のパスワードです十二"} {
		wantDetails(t, p.Check(Input{Password: pw}))
	}
	// Off by default.
	p.MinScore = 0
	wantDetails(t, p.Check(Input{Password: "aaaaaaaaaaaaaaaa"}))
}

func TestScoreUsesUserInputs(t *testing.T) {
	// A random-looking word is strong until it is the user's own name.
	pw := "Zxqvorlandtrabix"
	if s := Score(pw, nil); s < 3 {
		t.Fatalf("Score(%q) = %d without inputs", pw, s)
	}
	if s := Score(pw, []string{"zxqvorlandtrabix"}); s >= 3 {
		t.Fatalf("Score(%q) = %d with the word as a user input", pw, s)
	}
	// Through the policy, the identifiers reach zxcvbn as user inputs.
	p := defaults()
	p.MinScore = 3
	p.SkipCommon = true
	vs := p.Check(Input{Password: pw, Identifiers: []string{"Zxqvorlandtrabix"}})
	wantDetails(t, vs, ContainsIdentifier, TooWeak)
}

func TestScoreCap(t *testing.T) {
	// Only the first 64 code points are scored: a 128-code-point password
	// scores exactly as its prefix does.
	weak := strings.Repeat("a", 64) + "Xk7#vQ2!pL9zR4&mT8*wB1^nC6(hD3)j" + strings.Repeat("Y5", 16)
	if n := utf8.RuneCountInString(weak); n != 128 {
		t.Fatalf("len = %d", n)
	}
	if got, want := Score(weak, nil), Score(weak[:64], nil); got != want || got > 1 {
		t.Fatalf("Score(128) = %d, Score(first 64) = %d", got, want)
	}
	if got := truncateRunes(strings.Repeat("🦊", 100), scoreMaxRunes); utf8.RuneCountInString(got) != 64 || !utf8.ValidString(got) {
		t.Fatalf("truncateRunes cut %q", got)
	}
	if got := truncateRunes("short", 64); got != "short" {
		t.Fatal(got)
	}
}

func TestScoreLeetGate(t *testing.T) {
	for s, want := range map[string]int{
		"plain words":   1,
		"p@ssw0rd":      1,  // a: @, o: 0
		"p@$$w0rd-4":    2,  // a: @ or 4, s: $, o: 0
		"1|7!":          72, // i: 1 ! |, l: 1 | 7, t: 7; 1, | and 7 split the table
		"4@8(3!1|70$5+": 2 * 1 * 1 * 3 * 3 * 1 * 2 * 2 * 8,
	} {
		if got := leetVariants(s); got != want {
			t.Errorf("leetVariants(%q) = %d, want %d", s, got, want)
		}
	}
	// With few variants the l33t matcher still undoes them.
	if s := Score("p@ssw0rdp@ssw0rd", nil); s > 1 {
		t.Fatalf("Score(p@ssw0rdp@ssw0rd) = %d", s)
	}
	// The pathological input finishes (3.8 s without the gate); the
	// benchmark below shows how long it takes.
	Score(strings.Repeat("4@8(3!1|70$5+%2{[<69", 4), nil)
}

func TestScoreOddInput(t *testing.T) {
	// Invalid UTF-8, NUL, lone combining marks, RTL marks: no panic.
	for _, s := range []string{"\xff\xfe\xfd", "\x00\x00\x00", "\u0301\u0301", "\u202eabc\u202c", ""} {
		Score(s, []string{"", " ", "\xff"})
	}
}

// BenchmarkScore shows the cap: the 128-code-point input costs what its
// first 64 cost, and the worst l33t input stays bounded.
func BenchmarkScore(b *testing.B) {
	for _, tc := range []struct{ name, pw string }{
		{"12", "Xk7#vQ2!pL9z"},
		{"64", strings.Repeat("correcthorsebatterystaple!", 3)[:64]},
		{"128", strings.Repeat("correcthorsebatterystaple!", 5)[:128]},
		{"400", strings.Repeat("correcthorsebatterystaple!", 16)[:400]},
		{"leet-1|7!-64", strings.Repeat("1|7!qmwnxbv", 6)[:64]},
		{"leet20-64", strings.Repeat("4@8(3!1|70$5+%2{[<69", 4)[:64]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Score(tc.pw, []string{"alice.archer", "alice", "archer", "acme"})
			}
		})
	}
	// For comparison: zxcvbn-go on the whole 128 code points, no cap.
	b.Run("128-uncapped", func(b *testing.B) {
		pw := strings.Repeat("correcthorsebatterystaple!", 5)[:128]
		b.ReportAllocs()
		for b.Loop() {
			zxcvbn.PasswordStrength(pw, []string{"alice.archer", "alice", "archer", "acme"})
		}
	})
}
