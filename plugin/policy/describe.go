package policy

// Describe returns the active rules as JSON-ready values, for GET /policy
// and a front end that shows them before the user types. Every key is
// always present, so the shape does not change with the configuration:
//
//	min_length, max_length   code points
//	length_unit              "code_points"
//	max_bytes                byte limit of the hash format, 0 = none
//	composition_rules        false: no "one digit, one symbol" rules
//	trimmed                  false: the password is judged as typed
//	rejects_identifier       true: the user's identifier, mail address,
//	                         its local part and name parts (4+ code points)
//	context_words            the site's words, refused as substrings
//	blocks_common            the common-password list is checked
//	common_source            which list ("" when off)
//	common_size              how many passwords it holds (0 when off)
//	min_score                lowest zxcvbn score accepted, 0 = off
//	breached_check           a breached-password service is asked
//	breached_mode            "fail_open", "fail_closed" or "" when off
//
// The service URL is left out: the front end has no use for it.
func (p *Policy) Describe() map[string]any {
	words := p.ContextWords
	if words == nil {
		words = []string{}
	}
	out := map[string]any{
		"min_length":         p.MinLength,
		"max_length":         p.MaxLength,
		"length_unit":        "code_points",
		"max_bytes":          p.MaxBytes,
		"composition_rules":  false,
		"trimmed":            false,
		"rejects_identifier": true,
		"context_words":      words,
		"blocks_common":      !p.SkipCommon,
		"common_source":      "",
		"common_size":        0,
		"min_score":          p.MinScore,
		"breached_check":     p.Breached != nil,
		"breached_mode":      "",
	}
	if !p.SkipCommon {
		out["common_source"] = commonSource
		out["common_size"] = CommonListSize()
	}
	if p.Breached != nil {
		out["breached_mode"] = "fail_closed"
		if p.Breached.FailOpen {
			out["breached_mode"] = "fail_open"
		}
	}
	return out
}
