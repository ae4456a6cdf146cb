package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/store"
)

// The store's record types and their one encoding: every value the engine
// writes under a key of keyspace.go is one of these, encoded and decoded
// here (and, for tokens, in records_token.go) and nowhere else
// (TestKeySpaceHasOneOwner keeps it so).

// flowRecord is a reset flow as stored under its flow key.
type flowRecord struct {
	User       User      `json:"user"`
	Identifier string    `json:"identifier"`
	CodeMAC    string    `json:"code_mac,omitempty"`
	CodeExpiry time.Time `json:"code_expires_at,omitempty"`
	TokenKey   string    `json:"token_key"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	// Decoy marks a flow that sends no mail and that no code opens
	// (requestflow.go); Budget is the key its wrong codes count against.
	Decoy  bool   `json:"decoy,omitempty"`
	Budget string `json:"budget,omitempty"`
}

// tokenRecord, the one record not in JSON, is in records_token.go.

// revokeRecord backs a "this wasn't me" link.
type revokeRecord struct {
	UserID  string `json:"user_id"`
	FlowKey string `json:"flow_key"`
	// PasskeyID is set on the link of a "passkey added" mail: that
	// passkey goes too.
	PasskeyID []byte `json:"passkey_id,omitempty"`
}

// passkeyAccount is a user's passkeys, stored outside the owner index so a
// reset (which kills the user's tokens) keeps them.
type passkeyAccount struct {
	UserID      string          `json:"user_id"`
	Handle      []byte          `json:"handle"`
	Credentials []passkeyRecord `json:"credentials"`
	// ResetAt is the user's last password reset: "this wasn't me" removes
	// the passkeys added after it (passkey_notify.go).
	ResetAt time.Time `json:"reset_at,omitempty"`
}

// passkeyRecord is one registered credential.
type passkeyRecord struct {
	Credential webauthn.Credential `json:"credential"`
	Name       string              `json:"name"`
	CreatedAt  time.Time           `json:"created_at"`
	LastUsedAt time.Time           `json:"last_used_at,omitempty"`
}

// ceremonyRecord is the server half of one WebAuthn ceremony.
type ceremonyRecord struct {
	Kind     string               `json:"kind"` // register | login
	Session  webauthn.SessionData `json:"session"`
	UserID   string               `json:"user_id,omitempty"`
	TokenKey string               `json:"token_key,omitempty"`
	FlowKey  string               `json:"flow_key,omitempty"`
}

// reauthGrant is the stored side of the grant cookie.
type reauthGrant struct {
	UserID string `json:"user_id"`
}

// outboxEntry is one pending mail.
type outboxEntry struct {
	Message  mailer.Message `json:"message"`
	Attempts int            `json:"attempts"`
	NextAt   time.Time      `json:"next_at"`
	// Request, in the request queue only, is a reset request that still
	// waits for its lookup; once processed, the entry becomes its mail.
	Request *queuedRequest `json:"request,omitempty"`
	// Changed, when set, is what a "password changed" mail says; it is
	// rendered when sent (Message then holds only recipient and kind).
	Changed *changedMail `json:"changed,omitempty"`
	// Reset, when set, is what a reset mail says, rendered when sent as
	// Changed is. Only in a store one process owns (Badger): with Redis
	// the reset mail is stored rendered, which an instance still on an
	// earlier version sends during a rolling upgrade.
	Reset *resetMail `json:"reset,omitempty"`
}

// resetMail is what a queued reset mail is rendered from: the
// request-specific part of mailer.ResetData (the site's name and support
// contact come from the configuration when it is sent). It holds the link
// and the code, as the rendered mail did, and is sealed as the entry is.
type resetMail struct {
	Locale     string `json:"locale,omitempty"`
	UserName   string `json:"user_name,omitempty"`
	Link       string `json:"link,omitempty"`
	Code       string `json:"code,omitempty"`
	RevokeLink string `json:"revoke_link,omitempty"`
	RequestIP  string `json:"request_ip,omitempty"`
	// TTL and CodeTTL are the token's and the code's lifetimes, said in
	// words when rendered.
	TTL     time.Duration `json:"ttl"`
	CodeTTL time.Duration `json:"code_ttl"`
	// CodeExpiresAt is zero for a mail without a code.
	ExpiresAt     time.Time `json:"expires_at"`
	CodeExpiresAt time.Time `json:"code_expires_at"`
	RequestTime   time.Time `json:"request_time"`
}

// data is the template data of m for the engine's site.
func (m *resetMail) data(e *Engine) mailer.ResetData {
	return mailer.ResetData{
		SiteName: e.cfg.SiteName, UserName: m.UserName, Link: m.Link, Code: m.Code,
		ExpiresAt: m.ExpiresAt, TTL: humanDuration(m.TTL), RequestIP: m.RequestIP, RequestTime: m.RequestTime,
		CodeExpiresAt: m.CodeExpiresAt, CodeTTL: humanDuration(m.CodeTTL),
		RevokeLink: m.RevokeLink, SupportContact: e.cfg.SupportContact,
	}
}

// changedMail is what a queued "password changed" mail is rendered from.
type changedMail struct {
	Locale    string    `json:"locale,omitempty"`
	UserName  string    `json:"user_name,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
	IP        string    `json:"ip,omitempty"`
}

// queuedRequest is a reset request as kept in the request queue.
type queuedRequest struct {
	Identifier string    `json:"identifier"`
	FlowID     string    `json:"flow_id"`
	IP         string    `json:"ip"`
	At         time.Time `json:"at"`
	// Counted: the handler counted the request against the limit on the
	// identifier as typed (local counters).
	Counted bool `json:"counted,omitempty"`
}

func (e *Engine) putRecord(ctx context.Context, key string, v any, ttl time.Duration, owner string) error {
	r, err := newRecord(key, v, ttl, owner)
	if err != nil {
		return err
	}
	return e.putOne(ctx, r)
}

// newRecord encodes v as the record putRecord would store under key.
func newRecord(key string, v any, ttl time.Duration, owner string) (store.Record, error) {
	data, err := encodeRecord(v)
	if err != nil {
		return store.Record{}, fmt.Errorf("encoding record: %w", err)
	}
	return store.Record{Key: key, Value: data, TTL: ttl, Owner: owner}, nil
}

// writeRecords stores puts and removes deletes (keys stored without an
// owner): in one commit when the store batches writes (store.Batcher:
// Badger), so that they are all done or none is; otherwise one call each,
// the puts first, in order. With neither it does nothing (a Badger Write
// of nothing would still wait for a commit).
func (e *Engine) writeRecords(ctx context.Context, puts []store.Record, deletes []string) error {
	if len(puts) == 0 && len(deletes) == 0 {
		return nil
	}
	if b, ok := e.store.(store.Batcher); ok {
		if err := b.Write(ctx, puts, deletes); err != nil {
			return fmt.Errorf("writing records: %w", err)
		}
		return nil
	}
	for _, r := range puts {
		if err := e.putOne(ctx, r); err != nil {
			return err
		}
	}
	for _, key := range deletes {
		if err := e.store.Delete(ctx, key); err != nil {
			return fmt.Errorf("removing record: %w", err)
		}
	}
	return nil
}

// putOne stores r with the store's Put.
func (e *Engine) putOne(ctx context.Context, r store.Record) error {
	if err := e.store.Put(ctx, r.Key, r.Value, r.TTL, r.Owner); err != nil {
		return fmt.Errorf("storing record: %w", err)
	}
	return nil
}

// getRecordAt reads into v the record under the first of keys that holds
// one (a record's current key, then the one an earlier version stored it
// under) and returns that key; found is false when none does.
func (e *Engine) getRecordAt(ctx context.Context, v any, keys ...string) (key string, found bool, err error) {
	for _, key := range keys {
		if found, err := e.getRecord(ctx, key, v); err != nil || found {
			return key, found, err
		}
	}
	return "", false, nil
}

func (e *Engine) getRecord(ctx context.Context, key string, v any) (bool, error) {
	data, err := e.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := decodeRecord(data, v); err != nil {
		return false, fmt.Errorf("decoding record: %w", err)
	}
	return true, nil
}

// encodeRecord is the one encoding of a stored record: JSON, but for the
// compact forms of tokens (records_token.go) and flows (records_flow.go).
// Outbox and request-queue entries, which are sealed, are encoded by
// encodeOutboxFor (records_outbox.go): their form depends on the store.
func encodeRecord(v any) ([]byte, error) {
	switch r := v.(type) {
	case tokenRecord:
		return encodeToken(r), nil
	case flowRecord:
		return encodeFlow(r), nil
	}
	return json.Marshal(v)
}

// decodeRecord reads a record written by encodeRecord or encodeOutboxFor
// (or, for a token, a flow or an outbox entry, by an earlier version).
func decodeRecord(raw []byte, v any) error {
	switch r := v.(type) {
	case *tokenRecord:
		return decodeToken(raw, r)
	case *flowRecord:
		return decodeFlow(raw, r)
	case *outboxEntry:
		return decodeOutbox(raw, r)
	}
	return json.Unmarshal(raw, v)
}
