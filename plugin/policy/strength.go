package policy

import (
	"strings"
	"unicode/utf8"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/adjacency"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/matching"
)

// Bounds on the work one zxcvbn score may cost. zxcvbn-go grows faster than
// quadratically with the length of its input (about 12 ms at 64 code points,
// 30 to 70 ms at 100, 0.4 s at 200, 3 s at 400 on a 2-core machine), and its
// l33t matcher reruns every dictionary over the whole input once for each
// way of undoing the substitutions the password's digits and symbols allow
// ("1" and "|" may stand for i or l, "7" for l or t...): 64 code points
// drawn from the 20 l33t characters took 3.8 s, 64 drawn from "1|7!" still
// 86 ms. Both are denial-of-service vectors, so:
const (
	// scoreMaxRunes: only the first 64 code points are scored. A longer
	// password is judged by that prefix; appending characters never makes a
	// password easier to guess, so the cap can only err towards TOO_WEAK for
	// a password whose first 64 code points are weak.
	scoreMaxRunes = 64
	// scoreLeetBudget: the l33t matcher runs only when (an upper bound of)
	// the number of substitution variants times the squared length stays
	// within 4 variants at 64 code points, about 20 ms. "P@ssw0rd-2024"
	// (1 variant, 13 code points) is well within; a long password thick
	// with ambiguous digits and symbols is scored without undoing l33t
	// (the dictionary, spatial, repeat, sequence and date matchers still
	// run).
	scoreLeetBudget = 4 * scoreMaxRunes * scoreMaxRunes
	// scoreMaxInputs and scoreMaxInputRunes bound the user inputs (the
	// identifier, its parts, the context words) handed to zxcvbn.
	scoreMaxInputs     = 32
	scoreMaxInputRunes = 64
)

// leetTable is zxcvbn-go's l33t table: letter → the characters that may
// stand for it.
var leetTable = adjacency.GraphMap["l33t"].Graph

// leetVariants returns an upper bound of the number of substitution
// variants zxcvbn-go's l33t matcher tries for s: it splits its table once
// for every character that may stand for several letters (one table per
// letter), then tries every combination of one character per letter.
func leetVariants(s string) int {
	owners := map[string]int{} // l33t character → letters it may stand for
	variants := 1
	for _, subs := range leetTable {
		n := 0
		for _, c := range subs {
			if strings.Contains(s, c) {
				n++
				owners[c]++
			}
		}
		if n > 0 {
			variants *= n
		}
	}
	for _, k := range owners {
		variants *= k
	}
	return variants
}

func withoutLeet(m match.Matcher) bool { return m.ID == matching.L33TMatcherName }

// Score returns the zxcvbn score (0 to 4) of password, with userInputs
// (names, identifiers, site words) counted as known words. The work is
// bounded: see scoreMaxRunes and scoreLeetBudget.
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
	if n := utf8.RuneCountInString(pw); leetVariants(pw)*n*n > scoreLeetBudget {
		filters = append(filters, withoutLeet)
	}
	return zxcvbn.PasswordStrength(pw, inputs, filters...).Score
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
