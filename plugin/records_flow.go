package plugin

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// The flow record's binary form. Every reset request stores a flow (a
// real one, or a decoy under a flood of one identifier: one per request),
// so its size is what a flood writes to disk and compacts: about 380 bytes
// of JSON for a decoy, under 100 in this form.
//
//	flowV1, flags, varint(CreatedAt in Unix ns),
//	varint(ExpiresAt − CreatedAt), varint(CodeExpiry − CreatedAt) when
//	flagCodeExpiry, 32 bytes of CodeMAC when flagCodeMAC (a hex HMAC),
//	32 bytes of Budget's HMAC when flagBudgetMAC, then
//	uvarint-length-prefixed: User.ID, User.Email, User.Name,
//	User.Role, User.Locale, Identifier unless flagFlowSameIdent,
//	TokenKey, IP, Budget (empty when flagBudgetMAC).
//
// A record that starts with '{' is JSON: what an earlier version wrote
// (flows open across an upgrade keep working), or a flow the binary form
// cannot hold (a time outside Unix nanoseconds' range, a CodeMAC that is
// not 64 hex digits).
const (
	flowV1 = 2 // tokens' form starts with 1

	flagFlowDecoy     = 0x01
	flagCodeMAC       = 0x02
	flagCodeExpiry    = 0x04
	flagFlowSameIdent = 0x08
	flagBudgetMAC     = 0x10 // Budget is ownerPrefix + 64 hex digits, kept as 32 bytes
)

var errBadFlowRecord = errors.New("decoding flow record: malformed")

func encodeFlow(f flowRecord) []byte {
	created := f.CreatedAt.UnixNano()
	var mac, budgetMAC [32]byte
	hasMAC := hexMAC(&mac, f.CodeMAC, "")
	hasBudgetMAC := hexMAC(&budgetMAC, f.Budget, ownerPrefix)
	if !inNanoRange(f.CreatedAt) || !inNanoRange(f.ExpiresAt) ||
		(!f.CodeExpiry.IsZero() && !inNanoRange(f.CodeExpiry)) || (f.CodeMAC != "" && !hasMAC) {
		data, _ := json.Marshal(f) // strings, times and a bool: cannot fail
		return data
	}
	var flags byte
	if f.Decoy {
		flags |= flagFlowDecoy
	}
	if f.CodeMAC != "" {
		flags |= flagCodeMAC
	}
	if !f.CodeExpiry.IsZero() {
		flags |= flagCodeExpiry
	}
	budget := f.Budget
	if hasBudgetMAC {
		flags |= flagBudgetMAC
		budget = ""
	}
	same := f.Identifier == f.User.Email
	if same {
		flags |= flagFlowSameIdent
	}
	u := f.User
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+2*32+9+len(u.ID)+len(u.Email)+len(u.Name)+len(u.Role)+len(u.Locale)+len(f.Identifier)+len(f.TokenKey)+len(f.IP)+len(f.Budget))
	b = append(b, flowV1, flags)
	b = binary.AppendVarint(b, created)
	b = binary.AppendVarint(b, f.ExpiresAt.UnixNano()-created)
	if !f.CodeExpiry.IsZero() {
		b = binary.AppendVarint(b, f.CodeExpiry.UnixNano()-created)
	}
	if hasMAC {
		b = append(b, mac[:]...)
	}
	if hasBudgetMAC {
		b = append(b, budgetMAC[:]...)
	}
	for _, s := range [...]string{u.ID, u.Email, u.Name, u.Role, u.Locale} {
		b = appendString(b, s)
	}
	if !same {
		b = appendString(b, f.Identifier)
	}
	for _, s := range [...]string{f.TokenKey, f.IP, budget} {
		b = appendString(b, s)
	}
	return b
}

// hexMAC decodes into dst the HMAC that s holds when s is prefix and 64
// lowercase hex digits (as keys.go writes one), and reports whether it
// did. It decodes by hand: encoding/hex would need the string copied to a
// []byte first, and would also accept upper case, which does not round
// trip.
func hexMAC(dst *[32]byte, s, prefix string) bool {
	h, ok := strings.CutPrefix(s, prefix)
	if !ok || len(h) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHex(h[2*i])
		lo, ok2 := lowerHex(h[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeFlow reads either form into f.
func decodeFlow(data []byte, f *flowRecord) error {
	*f = flowRecord{}
	flags, rest, isJSON, err := splitBinary(data, flowV1, "flow", f, errBadFlowRecord)
	if err != nil || isJSON {
		return err
	}
	f.Decoy = flags&flagFlowDecoy != 0
	created, rest, ok := readVarint(rest)
	if !ok {
		return errBadFlowRecord
	}
	f.CreatedAt = time.Unix(0, created).UTC()
	d, rest, ok := readVarint(rest)
	if !ok {
		return errBadFlowRecord
	}
	f.ExpiresAt = time.Unix(0, created+d).UTC()
	if flags&flagCodeExpiry != 0 {
		if d, rest, ok = readVarint(rest); !ok {
			return errBadFlowRecord
		}
		f.CodeExpiry = time.Unix(0, created+d).UTC()
	}
	if flags&flagCodeMAC != 0 {
		var mac []byte
		if mac, rest, ok = readFixed(rest, 32); !ok {
			return errBadFlowRecord
		}
		f.CodeMAC = hex.EncodeToString(mac)
	}
	var budgetMAC []byte
	if flags&flagBudgetMAC != 0 {
		if budgetMAC, rest, ok = readFixed(rest, 32); !ok {
			return errBadFlowRecord
		}
	}
	fields := []*string{&f.User.ID, &f.User.Email, &f.User.Name, &f.User.Role, &f.User.Locale, &f.Identifier, &f.TokenKey, &f.IP, &f.Budget}
	if flags&flagFlowSameIdent != 0 {
		fields = append(fields[:5], fields[6:]...)
	}
	if rest, ok = readStrings(rest, fields); !ok || len(rest) != 0 {
		return errBadFlowRecord
	}
	if flags&flagFlowSameIdent != 0 {
		f.Identifier = f.User.Email
	}
	if budgetMAC != nil {
		if f.Budget != "" {
			return errBadFlowRecord
		}
		f.Budget = ownerPrefix + hex.EncodeToString(budgetMAC)
	}
	return nil
}
