package plugin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

// The store's key space: every key the engine reads or writes is built in
// this file and nowhere else (TestKeySpaceHasOneOwner keeps it so), so one
// page tells what lives under which prefix. Every key that stands for a
// token, code, flow, identifier, user or address is a keyed hash (keys.go):
// the raw value never reaches the store, and a copy of the database alone
// cannot map one back (invariant 1).
//
//	t/   reset tokens (tokenRecord)          r/   "this wasn't me" links (revokeRecord)
//	f/   flows (flowRecord)                  u/   a user's index, for ending all they own
//	ri/  mails per identifier                rp/  requests per client address
//	rm/  the global mail budget              ca/  code guesses per flow
//	lf/  an account's failure count          lk/  an account's lockout
//	ls/  an account's guess slots            so/  SAME_AS_OLD checks per token
//	pk/  a user's passkeys                   ph/  a passkey user handle → user
//	pc/  passkey ceremonies                  ra/  fresh-proof grants
//	pl/  passkey ceremony limits             pw/  spent proofs of work
//	mo/  the mail outbox                     rq/  the request queue
//	l/   per-key locks (TOKEN_BUSY)          st/  the self-test probe
const (
	tokenPrefix = "t/"
	flowPrefix  = "f/"
	// ownerPrefix starts a user's index, and the failure budgets of
	// accounts and identifiers.
	ownerPrefix  = "u/"
	outboxPrefix = "mo/"
	// outboxSeq counts outbox entries, outboxTail is the highest entry
	// below which all are done, outboxLease+n is held while one instance
	// sends entry n.
	outboxSeq   = "mo/seq"
	outboxTail  = "mo/tail"
	outboxLease = "mo/lease/"
	// requestPrefix+n is request queue entry n; requestSeq counts blocks
	// of entry numbers; requestTail and requestLease as for the outbox.
	requestPrefix = "rq/"
	requestSeq    = "rq/blocks"
	requestTail   = "rq/tail"
	requestLease  = "rq/lease/"
	// mailBudgetKey counts reset mails across all users (the global
	// budget).
	mailBudgetKey = "rm/global"
	// ceremoniesAllKey counts passkey ceremonies across all users.
	ceremoniesAllKey = "pl/all"
	// selfTestKey is the store key of the self-test's probe.
	selfTestKey = "st/probe"
)

// The kinds of an account's failure budget.
const (
	budgetCode        = "code"
	budgetOldPassword = "old_password"
)

// tokenKey is where a token's record lives: "t/" + shortMAC (22
// characters). Tokens an earlier version issued live under
// legacyTokenKey ("t/" + 64 hex digits) until they expire; Engine.getToken
// looks there too (records_token.go).
func (k *keys) tokenKey(token string) string       { return tokenPrefix + k.token.short(token) }
func (k *keys) legacyTokenKey(token string) string { return tokenPrefix + k.token.hex(token) }

// legacyFlowKey is where versions before the short flow key stored a flow
// (the hex HMAC); findFlow still reads it.
func (k *keys) legacyFlowKey(flowID string) string { return flowPrefix + k.flow.hex(flowID) }

// isTokenKey reports whether key is where token is stored, in either form.
func (k *keys) isTokenKey(token, key string) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	return key != "" && (eq(key, k.tokenKey(token)) || eq(key, k.legacyTokenKey(token)))
}

// tokenOwnerKey is the owner index tokens are stored under: "u/" +
// shortMAC, short because the index repeats it for every token. Flows,
// grants and the tokens an earlier version wrote are under ownerKey;
// Engine.endUser ends both (records_token.go). The lengths differ, so the
// two forms never meet.
func (k *keys) tokenOwnerKey(userID string) string { return "u/" + k.owner.short(userID) }

func (k *keys) revokeKey(token string) string { return "r/" + k.token.hex("revoke", token) }
func (k *keys) flowKey(flowID string) string  { return flowPrefix + k.flow.short(flowID) }
func (k *keys) ownerKey(userID string) string { return ownerPrefix + k.owner.hex(userID) }
func (k *keys) ipKey(ip string) string        { return "rp/" + k.ip.hex(ip) }

// identKey is the key of the limit on an identifier: "ri/" and the hex
// of its keyed hash (appendIdentKey).
func (k *keys) identKey(ident string) string {
	var buf [identKeyLen]byte
	return string(k.appendIdentKey(buf[:0], ident))
}

// identKeyLen is the length of an identKey.
const identKeyLen = len("ri/") + 2*sha256.Size

// appendIdentKey appends identKey(ident) to dst, for a key the caller
// only hashes (the in-memory counters) and can keep on its stack.
func (k *keys) appendIdentKey(dst []byte, ident string) []byte {
	return k.ident.appendHex(append(dst, "ri/"...), ident)
}

// codeMAC is what a flow keeps of its code.
func (k *keys) codeMAC(flowID, code string) string { return k.code.hex(flowID, code) }

// identifierOwnerKey is the budget owner of an identifier as typed
// (case-folded), see Engine.identifierBudget: ownerPrefix and 96 bits of a
// keyed hash, which a sealed decoy flow id can carry (decoyid.go). Flows
// stored by versions before sealed decoys hold the 256-bit form they were
// stored with (ownerPrefix and 64 hex digits) and count against it.
func (k *keys) identifierOwnerKey(identifier string) string {
	return budgetKey(k.budgetTag(identifier))
}

// budgetKey is the failure budget key of a budget tag: ownerPrefix and
// its 16 base64url characters (an account's owner key is 64 hex digits, a
// token owner's 22 characters, so the forms never meet).
func budgetKey(tag [budgetTagSize]byte) string {
	return ownerPrefix + base64.RawURLEncoding.EncodeToString(tag[:])
}

func (k *keys) accountKey(userID string) string { return "pk/" + k.owner.hex("passkeys", userID) }
func (k *keys) ceremonyKey(id string) string    { return "pc/" + k.token.hex("ceremony", id) }
func (k *keys) reauthKey(grant string) string   { return "ra/" + k.token.hex("reauth", grant) }
func (k *keys) ceremonyIPKey(ip string) string  { return "pl/ip/" + k.ip.hex("ceremony", ip) }
func (k *keys) powUsedKey(payload string) string {
	return "pw/" + k.pow.hex("used", payload)
}

// handleKey maps a passkey's user handle to its user.
func handleKey(handle []byte) string { return "ph/" + hex.EncodeToString(handle) }

// ceremonyScopeKey counts the ceremonies of one flow or token.
func ceremonyScopeKey(scope string) string { return "pl/s/" + scope }

// lockKey is the lock that makes one request at a time use storeKey.
func lockKey(storeKey string) string { return "l/" + storeKey }

// codeAttemptsKey counts the code guesses of the flow under flowKey.
func codeAttemptsKey(flowKey string) string { return "ca/" + flowKey }

// sameAsOldKey counts the SAME_AS_OLD checks of the token under tokenKey.
func sameAsOldKey(tokenKey string) string { return "so/" + tokenKey }

// failureCountKey counts an account's failures of one kind; lockoutKey
// marks the account locked for that kind; budgetSlotKey is slot i of its
// guess budget (budget.go).
func failureCountKey(kind, owner string) string { return "lf/" + kind + "/" + owner }
func lockoutKey(kind, owner string) string      { return "lk/" + kind + "/" + owner }
func budgetSlotKey(kind, owner string, i int) string {
	return "ls/" + kind + "/" + owner + "/" + strconv.Itoa(i)
}

func outboxKey(n int64) string       { return queueEntryKey(outboxPrefix, n) }
func requestKey(n int64) string      { return queueEntryKey(requestPrefix, n) }
func outboxLeaseKey(n int64) string  { return queueEntryKey(outboxLease, n) }
func requestLeaseKey(n int64) string { return queueEntryKey(requestLease, n) }

// queueEntryKey is entry n of the numbered queue under prefix.
func queueEntryKey(prefix string, n int64) string { return prefix + strconv.FormatInt(n, 10) }
