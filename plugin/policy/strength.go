package policy

import (
	"strings"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/adjacency"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
)

// Bounds on the work one zxcvbn score may cost. zxcvbn-go grows faster than
// quadratically with the length of its input (about 12 ms at 64 code points,
// 30 to 70 ms at 100, 0.4 s at 200, 3 s at 400 on a 2-core machine), and its
// l33t matcher multiplies that by the number of substitution tables the
// password's digits and symbols open up: 64 code points drawn from 20
// distinct l33t characters took 3.8 s. Both are denial-of-service vectors,
// so:
const (
	// scoreMaxRunes: only the first 64 code points are scored. A longer
	// password is judged by that prefix; appending characters never makes a
	// password easier to guess, so the cap can only err towards TOO_WEAK for
	// a password whose first 64 code points are weak.
	scoreMaxRunes = 64
	// scoreMaxLeet: the l33t matcher runs only when the scored prefix holds
	// at most this many distinct l33t characters ("4@8(3!1|70$5+%2{[<69").
	// Past that, the password draws on enough digits and symbols that the
	// plain dictionary, spatial, repeat, sequence and date matchers still
	// run, but "p@ssw0rd"-style substitutions are no longer undone.
	scoreMaxLeet = 4
	// scoreMaxInputs and scoreMaxInputRunes bound the user inputs (the
	// identifier, its parts, the context words) handed to zxcvbn.
	scoreMaxInputs     = 32
	scoreMaxInputRunes = 64
)

// leetChars are the characters of zxcvbn-go's l33t table.
var leetChars = func() map[rune]bool {
	m := map[rune]bool{}
	for _, subs := range adjacency.GraphMap["l33t"].Graph {
		for _, s := range subs {
			for _, r := range s {
				m[r] = true
			}
		}
	}
	return m
}()

func withoutLeet(m match.Matcher) bool { return m.ID == matching.L33TMatcherName }

// Score returns the zxcvbn score (0 to 4) of password, with userInputs
// (names, identifiers, site words) counted as known words. The work is
// bounded: see scoreMaxRunes and scoreMaxLeet.
func Score(password string, userInputs []string) int {
	pw := truncateRunes(password, scoreMaxRunes)
	inputs := make([]string, 0, min(len(userInputs), scoreMaxInputs))
	for _, in := range userInputs {
		if len(inputs) == scoreMaxInputs {
			break
		}
		if in = strings.TrimSpace(in); in != "" {
			inputs = append(inputs, truncateRunes(in, scoreMaxInputRunes))
		}
	}
	var filters []func(match.Matcher) bool
	if distinctLeet(pw) > scoreMaxLeet {
		filters = append(filters, withoutLeet)
	}
	return zxcvbn.PasswordStrength(pw, inputs, filters...).Score
}

func distinctLeet(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		if leetChars[r] {
			seen[r] = true
		}
	}
	return len(seen)
}

// truncateRunes returns the first n code points of s.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
