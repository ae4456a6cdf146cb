package plugin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// tokenRecord is a password-setting token as stored under its token key,
// in the compact form below (every open token writes one, so its size is
// the store's size; issue 17.3).
type tokenRecord struct {
	User       User   `json:"user"`
	Identifier string `json:"identifier"`
	Via        string `json:"via"`
	// NeedsPasskey marks a token whose user must still prove a passkey
	// (require_passkey).
	NeedsPasskey bool      `json:"needs_passkey,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// putToken stores rec under key (keys.tokenKey) for the token TTL,
// indexed under its user's tokenOwnerKey so that endUser ends it.
func (e *Engine) putToken(ctx context.Context, key string, rec tokenRecord) error {
	return e.putRecord(ctx, key, rec, e.cfg.TokenTTL, e.keys.tokenOwnerKey(rec.User.ID))
}

// getToken returns the record of a stored token and its store key; found
// is false when there is none (expiry against the server clock is the
// caller's check). A token an earlier version stored under the long key
// is found there.
func (e *Engine) getToken(ctx context.Context, token string) (rec tokenRecord, key string, found bool, err error) {
	key, found, err = e.getRecordAt(ctx, &rec, e.keys.tokenKey(token), e.keys.legacyTokenKey(token))
	return rec, key, found, err
}

// endUser removes every open token, flow and grant of a user and reports
// how many records went (invariant 8): the tokens indexed under
// tokenOwnerKey, and the flows, grants and earlier versions' tokens under
// ownerKey. A failure on one index does not spare the other.
func (e *Engine) endUser(ctx context.Context, userID string) (int, error) {
	n, err := e.store.DeleteOwner(ctx, e.keys.tokenOwnerKey(userID))
	m, err2 := e.store.DeleteOwner(ctx, e.keys.ownerKey(userID))
	return n + m, errors.Join(err, err2)
}

// The token record's binary form (657 bytes of disk per open token with
// JSON and long keys, 206 with it; see BENCHMARKS.md):
//
//	tokenV1, flags, varint(ExpiresAt in Unix ns),
//	then uvarint-length-prefixed: User.ID, User.Email, User.Name,
//	User.Role, User.Locale, and Identifier unless flagSameIdent.
//
// A record that starts with '{' is JSON: what an earlier version wrote
// (decodeToken reads it, so tokens open across an upgrade keep working),
// or a record the binary form cannot hold (a Via it does not know, an
// expiry outside Unix nanoseconds' range).
const (
	tokenV1 = 1

	flagViaMask      = 0x07 // the index of Via in tokenVias, plus one
	flagNeedsPasskey = 0x08
	flagSameIdent    = 0x10 // Identifier == User.Email
)

// tokenVias are the ways a token is issued; a Via not listed here (none
// today) is kept in JSON.
var tokenVias = [...]string{MethodLink, MethodCode, "admin", MethodPasskey}

func encodeToken(rec tokenRecord) []byte {
	via := 0
	for i, v := range tokenVias {
		if v == rec.Via {
			via = i + 1
		}
	}
	if via == 0 || !inNanoRange(rec.ExpiresAt) {
		data, _ := json.Marshal(rec) // strings and a time: cannot fail
		return data
	}
	flags := byte(via)
	if rec.NeedsPasskey {
		flags |= flagNeedsPasskey
	}
	same := rec.Identifier == rec.User.Email
	if same {
		flags |= flagSameIdent
	}
	u := rec.User
	b := make([]byte, 0, 2+binary.MaxVarintLen64+6+len(u.ID)+len(u.Email)+len(u.Name)+len(u.Role)+len(u.Locale)+len(rec.Identifier))
	b = append(b, tokenV1, flags)
	b = binary.AppendVarint(b, rec.ExpiresAt.UnixNano())
	for _, s := range [...]string{u.ID, u.Email, u.Name, u.Role, u.Locale} {
		b = appendString(b, s)
	}
	if !same {
		b = appendString(b, rec.Identifier)
	}
	return b
}

var errBadTokenRecord = errors.New("decoding token record: malformed")

// decodeToken reads either form into rec.
func decodeToken(data []byte, rec *tokenRecord) error {
	*rec = tokenRecord{}
	flags, rest, isJSON, err := splitBinary(data, tokenV1, "token", rec, errBadTokenRecord)
	if err != nil || isJSON {
		return err
	}
	via := int(flags & flagViaMask)
	if via == 0 || via > len(tokenVias) {
		return errBadTokenRecord
	}
	rec.Via = tokenVias[via-1]
	rec.NeedsPasskey = flags&flagNeedsPasskey != 0
	ns, rest, ok := readVarint(rest)
	if !ok {
		return errBadTokenRecord
	}
	rec.ExpiresAt = time.Unix(0, ns).UTC()
	fields := [...]*string{&rec.User.ID, &rec.User.Email, &rec.User.Name, &rec.User.Role, &rec.User.Locale, &rec.Identifier}
	last := len(fields)
	if flags&flagSameIdent != 0 {
		last--
	}
	if rest, ok = readStrings(rest, fields[:last]); !ok || len(rest) != 0 {
		return errBadTokenRecord
	}
	if flags&flagSameIdent != 0 {
		rec.Identifier = rec.User.Email
	}
	return nil
}
