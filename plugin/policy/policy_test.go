package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

func defaults() *Policy {
	p := &Policy{}
	p.Defaults()
	return p
}

func details(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Detail)
	}
	return out
}

func wantDetails(t *testing.T, got []Violation, want ...string) {
	t.Helper()
	if !slices.Equal(details(got), want) {
		t.Fatalf("violations = %v, want %v", got, want)
	}
}

func TestDefaultsAndZeroCommon(t *testing.T) {
	p := defaults()
	if p.MinLength != 12 || p.MaxLength != 128 || p.SkipCommon || p.MinScore != 0 || p.Breached != nil {
		t.Fatalf("defaults = %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// The common list is on without any configuration.
	wantDetails(t, p.Check(Input{Password: "password1234"}), Common)
}

func TestTooShort(t *testing.T) {
	p := defaults()
	vs := p.Check(Input{Password: "Xk7#vQ2!pL9"}) // 11 code points
	wantDetails(t, vs, TooShort)
	if vs[0].Pointer != "/password" {
		t.Fatalf("pointer = %q", vs[0].Pointer)
	}
	wantDetails(t, p.Check(Input{Password: "Xk7#vQ2!pL9z"})) // 12
	wantDetails(t, p.Check(Input{Password: ""}), TooShort)
}

func TestTooLong(t *testing.T) {
	p := defaults()
	wantDetails(t, p.Check(Input{Password: strings.Repeat("Xk7#vQ2!", 16)}))                // 128
	wantDetails(t, p.Check(Input{Password: strings.Repeat("Xk7#vQ2!", 16) + "z"}), TooLong) // 129

	// MaxBytes: bcrypt reads 72 bytes; a longer password is refused, never
	// truncated. 20 code points of 4 bytes each = 80 bytes.
	p.MaxBytes = 72
	emoji := strings.Repeat("🦊🐙🌵🍉", 5)
	wantDetails(t, p.Check(Input{Password: emoji}), TooLong)
	wantDetails(t, p.Check(Input{Password: emoji[:72]})) // 18 emoji, 72 bytes
}

func TestMismatch(t *testing.T) {
	p := defaults()
	vs := p.Check(Input{Password: "Xk7#vQ2!pL9z", Confirm: "Xk7#vQ2!pL9Z", HasConfirm: true})
	wantDetails(t, vs, Mismatch)
	if vs[0].Pointer != "/confirm" {
		t.Fatalf("pointer = %q", vs[0].Pointer)
	}
	// Without HasConfirm the confirmation is not looked at.
	wantDetails(t, p.Check(Input{Password: "Xk7#vQ2!pL9z", Confirm: "x"}))
	// Custom pointers.
	vs = p.Check(Input{Password: "Xk7#v", Confirm: "x", HasConfirm: true, PasswordPointer: "/new", ConfirmPointer: "/again"})
	if !reflect.DeepEqual(vs, []Violation{{TooShort, "/new"}, {Mismatch, "/again"}}) {
		t.Fatalf("violations = %v", vs)
	}
	// The confirmation is compared exactly: a trailing space is a mismatch.
	wantDetails(t, p.Check(Input{Password: "Xk7#vQ2!pL9z", Confirm: "Xk7#vQ2!pL9z ", HasConfirm: true}), Mismatch)
}

func TestContainsIdentifier(t *testing.T) {
	p := defaults()
	p.ContextWords = []string{"acme", "Example"}
	ids := []string{"alice.archer", "Alice.Archer@example.test", "Alice Archer"}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"xx-alice.archer-7Qz", true}, // whole identifier
		{"ALICE.ARCHER@EXAMPLE.TEST", true},
		{"my-archer-Qz7#vL", true}, // a name part, another case
		{"zz9ALICEzz9#q", true},    // a name part in capitals
		{"Qz7#vL-ACME-key", true},  // a context word
		{"Qz7#vL-eXaMpLe-k", true}, // a context word, mixed case
		{"ｅｘａｍｐｌｅ-Qz7#vL", true},   // full-width letters fold (NFKC)
		{"Qz7#vL-al-ar-k9", false}, // parts shorter than 4 are ignored
		{"Qz7#vL-m9-tower", false},
	} {
		vs := p.Check(Input{Password: tc.pw, Identifiers: ids})
		if got := slices.Contains(details(vs), ContainsIdentifier); got != tc.want {
			t.Errorf("%q: CONTAINS_IDENTIFIER = %v, want %v (%v)", tc.pw, got, tc.want, vs)
		}
	}
	// The local part of a mail address on its own.
	vs := p.Check(Input{Password: "zz-jdoe1987-zz", Identifiers: []string{"jdoe1987@mail.test"}})
	wantDetails(t, vs, ContainsIdentifier)
}

func TestCommonRule(t *testing.T) {
	p := defaults()
	for _, pw := range []string{
		"password1234", "PASSWORD1234", "Password1234", "qwerty123456",
		"1qaz2wsx3edc", "123qweasdzxc", "leavemealone", "administrator",
		"passwordpassword", "qwertyuiop123", // listed as they are
		"sunshine2024", "Jennifer1985!", "trustno1!!!!", "123456monkey", // trivial affixes
		"ｐａｓｓｗｏｒｄ１２３４", // full-width digits and letters (NFKC)
	} {
		wantDetails(t, p.Check(Input{Password: pw}), Common)
	}
	for _, pw := range []string{
		"sunshine2024!#xQ",      // the suffix is not trivial
		"sunshine 2024",         // a space is not an affix
		"correct horse battery", // a passphrase
		"sunshineqwerty12",      // two listed words: not the affix rule
		"jennifer8362917",       // 7 random digits are not trivial
		" password1234",         // judged as typed: the space makes it another password
	} {
		wantDetails(t, p.Check(Input{Password: pw}))
	}
	p.SkipCommon = true
	wantDetails(t, p.Check(Input{Password: "password1234"}))
}

func TestNoTrimming(t *testing.T) {
	p := defaults()
	// 11 code points plus a leading and a trailing space = 13: long enough.
	wantDetails(t, p.Check(Input{Password: " Xk7#vQ2!pL9 "}))
	// Without the spaces it is too short: nothing was trimmed above.
	wantDetails(t, p.Check(Input{Password: "Xk7#vQ2!pL9"}), TooShort)
	// Spaces only: long enough, and allowed (no composition rules).
	wantDetails(t, p.Check(Input{Password: strings.Repeat(" ", 12)}))
}

func TestUnicodeCodePoints(t *testing.T) {
	p := defaults()
	// 12 emoji: 12 code points, 48 bytes.
	wantDetails(t, p.Check(Input{Password: strings.Repeat("🦊", 12)}))
	wantDetails(t, p.Check(Input{Password: strings.Repeat("🦊", 11)}), TooShort)
	// "é" as e + U+0301 is two code points: 6 of them are 12 code points
	// though they show as 6 letters. Length counts code points, as NIST says.
	wantDetails(t, p.Check(Input{Password: strings.Repeat("e\u0301", 6)}))
	wantDetails(t, p.Check(Input{Password: strings.Repeat("e\u0301", 5) + "e"}), TooShort)
	// A family emoji joined with ZWJ is 7 code points; two of them pass.
	wantDetails(t, p.Check(Input{Password: strings.Repeat("👨\u200d👩\u200d👧\u200d👦", 2)}))
	wantDetails(t, p.Check(Input{Password: "日本語のパスワードです十二"}))
}

func TestMultipleViolations(t *testing.T) {
	p := defaults()
	p.MinScore = 3
	vs := p.Check(Input{Password: "alice1", Confirm: "alice2", HasConfirm: true, Identifiers: []string{"alice@example.test"}})
	wantDetails(t, vs, TooShort, Mismatch, ContainsIdentifier, Common, TooWeak) // "alice1" is listed

	vs = p.Check(Input{Password: "password", Identifiers: []string{"bob"}})
	wantDetails(t, vs, TooShort, Common, TooWeak)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
	}{
		{"min", Policy{MinLength: 0, MaxLength: 10}},
		{"max below min", Policy{MinLength: 12, MaxLength: 11}},
		{"bytes", Policy{MinLength: 12, MaxLength: 64, MaxBytes: -1}},
		{"score", Policy{MinLength: 12, MaxLength: 64, MinScore: 5}},
		{"breached url", Policy{MinLength: 12, MaxLength: 64, Breached: &BreachedCheck{URL: "ftp://x/"}}},
		{"breached creds", Policy{MinLength: 12, MaxLength: 64, Breached: &BreachedCheck{URL: "https://u:p@x/range/"}}},
		{"breached timeout", Policy{MinLength: 12, MaxLength: 64, Breached: &BreachedCheck{URL: "https://x/range/", Timeout: -1}}},
	} {
		if err := tc.p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", tc.name, tc.p)
		}
	}
	ok := Policy{MinLength: 12, MaxLength: 128, MinScore: 4, Breached: &BreachedCheck{URL: "https://api.pwnedpasswords.com/range/"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDescribe(t *testing.T) {
	p := defaults()
	d := p.Describe()
	want := map[string]any{
		"min_length": 12, "max_length": 128, "length_unit": "code_points", "max_bytes": 0,
		"composition_rules": false, "trimmed": false, "rejects_identifier": true,
		"context_words": []string{}, "blocks_common": true, "common_source": commonSource,
		"common_size": 49233, "min_score": 0, "breached_check": false, "breached_mode": "",
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Describe() = %v\nwant %v", d, want)
	}
	p.SkipCommon, p.MinScore, p.MaxBytes = true, 3, 72
	p.ContextWords = []string{"acme"}
	p.Breached = &BreachedCheck{URL: "https://secret.internal/range/", FailOpen: true}
	d = p.Describe()
	if d["blocks_common"] != false || d["common_size"] != 0 || d["min_score"] != 3 || d["max_bytes"] != 72 ||
		d["breached_check"] != true || d["breached_mode"] != "fail_open" || !reflect.DeepEqual(d["context_words"], []string{"acme"}) {
		t.Fatalf("Describe() = %v", d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "secret.internal") {
		t.Fatalf("Describe leaks the service URL: %s", b)
	}
	p.Breached.FailOpen = false
	if p.Describe()["breached_mode"] != "fail_closed" {
		t.Fatal("fail_closed not described")
	}
}

func TestPolicyJSON(t *testing.T) {
	// Config round trip: the new fields have JSON names; the client and
	// the hook do not travel.
	in := `{"min_length":14,"max_length":64,"skip_common":true,"min_score":2,"breached":{"url":"https://x/range/","fail_open":true,"timeout":1000000000,"min_count":3}}`
	var p Policy
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if !p.SkipCommon || p.MinScore != 2 || p.Breached == nil || !p.Breached.FailOpen || p.Breached.MinCount != 3 || p.Breached.Timeout.D().Seconds() != 1 {
		t.Fatalf("decoded %+v %+v", p, p.Breached)
	}
	out, _ := json.Marshal(p)
	if string(out) != in {
		t.Fatalf("round trip:\n%s\n%s", out, in)
	}
}

func TestSameAsOld(t *testing.T) {
	p := defaults()
	var got []string
	matches := func(_ context.Context, pw string) (bool, error) {
		got = append(got, pw)
		return pw == " Old-password-9 ", nil
	}
	vs, err := p.CheckContext(context.Background(), Input{Password: " Old-password-9 ", OldPasswordMatches: matches})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vs, []Violation{{SameAsOld, "/password"}}) {
		t.Fatalf("violations = %v", vs)
	}
	// The callback saw the password exactly as typed.
	if !slices.Equal(got, []string{" Old-password-9 "}) {
		t.Fatalf("callback got %q", got)
	}
	vs, err = p.CheckContext(context.Background(), Input{Password: "New-password-9", OldPasswordMatches: matches})
	if err != nil || len(vs) != 0 {
		t.Fatalf("vs = %v, err = %v", vs, err)
	}
	// Check (offline) never calls it.
	got = nil
	p.Check(Input{Password: " Old-password-9 ", OldPasswordMatches: matches})
	if got != nil {
		t.Fatal("Check called the old-password callback")
	}
	// Not called for a TOO_LONG password.
	p.MaxBytes = 72
	vs, err = p.CheckContext(context.Background(), Input{Password: strings.Repeat("ab", 40), OldPasswordMatches: matches})
	if err != nil || got != nil {
		t.Fatalf("callback called for a TOO_LONG password: %q, %v", got, err)
	}
	wantDetails(t, vs, TooLong)
	// A failing callback: the error is returned with the other violations.
	boom := errors.New("upstream down")
	vs, err = p.CheckContext(context.Background(), Input{Password: "Xk7#v", OldPasswordMatches: func(context.Context, string) (bool, error) { return false, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	wantDetails(t, vs, TooShort)
}

func TestCheckContextWithoutOnlineRules(t *testing.T) {
	p := defaults()
	vs, err := p.CheckContext(context.Background(), Input{Password: "password1234"})
	if err != nil {
		t.Fatal(err)
	}
	wantDetails(t, vs, Common)
}

func TestConcurrentChecks(t *testing.T) {
	// The common list is built once under sync.Once and zxcvbn-go keeps
	// only read-only globals: many requests at once are safe (run with
	// -race).
	p := defaults()
	p.MinScore = 2
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := fmt.Sprintf("p@ssw0rd-%d-sunshine", i)
			p.Check(Input{Password: pw, Identifiers: []string{"alice@example.test"}})
			IsCommon("password1234")
		})
	}
	wg.Wait()
}
