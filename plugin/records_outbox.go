package plugin

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"time"
)

// The binary form of an outbox entry (and of a request queue entry, the
// same type), under AES-GCM in the store (outbox.seal). Every completed
// reset writes and reads one, as every reset request does: in JSON an
// entry took 4.3-5.9 µs to encode and decode (BenchmarkOutboxEntry; 0.4-0.6
// in this form), and decoding was 14 µs of CPU per mail in the bench's
// profile of Caddy:
//
//	outboxV1, flags, uvarint(Attempts), varint(NextAt in Unix ns) unless
//	flagNoNextAt (a request queue entry's is the zero time),
//	then uvarint-length-prefixed: Message.To, .ToName, .Subject, .Text,
//	.HTML, .Kind, .ID;
//	with flagRequest: Request.Identifier, .FlowID, .IP, varint(.At);
//	with flagChanged: Changed.Locale, .UserName, .IP, varint(.ChangedAt);
//	with flagReset: Reset.Locale, .UserName, .Link, .Code, .RevokeLink,
//	.RequestIP, varint(.TTL), varint(.CodeTTL), varint(.ExpiresAt),
//	varint(.RequestTime), and varint(.CodeExpiresAt) with flagResetCodeAt
//	(a mail without a code has the zero time there).
//
// Times are read back in UTC. An entry with a time the form cannot hold
// (outside Unix nanoseconds: the zero time) or a negative Attempts is kept
// in JSON, which is also what an earlier version wrote (a leading '{').
const (
	outboxV1 = 1

	flagRequest        = 0x01
	flagRequestCounted = 0x02
	flagChanged        = 0x04
	flagNoNextAt       = 0x08
	flagReset          = 0x10
	flagResetCodeAt    = 0x20
)

var errBadOutboxEntry = errors.New("decoding outbox entry: malformed")

// outboxFields is how many fields the binary form knows in each of the
// types it writes; TestOutboxEntryRoundTrip checks them, so that a field
// added to one of them is not lost on the way through the store.
var outboxFields = map[reflect.Type]int{
	reflect.TypeFor[outboxEntry]():   6,
	reflect.TypeFor[queuedRequest](): 5,
	reflect.TypeFor[changedMail]():   4,
	reflect.TypeFor[resetMail]():     11,
}

// encodeOutboxFor writes ent for a store: in the binary form when one
// process owns the store (Badger: it reads both forms after an upgrade),
// in JSON when several instances share it (Redis), because during a
// rolling upgrade an instance still on an earlier version would drop an
// entry it cannot read, and with it a reset mail.
func encodeOutboxFor(ent outboxEntry, shared bool) ([]byte, error) {
	if shared {
		return json.Marshal(ent)
	}
	return encodeOutbox(ent)
}

func encodeOutbox(ent outboxEntry) ([]byte, error) {
	r, c, rs := ent.Request, ent.Changed, ent.Reset
	if ent.Attempts < 0 || (!ent.NextAt.IsZero() && !inNanoRange(ent.NextAt)) ||
		(r != nil && !inNanoRange(r.At)) || (c != nil && !inNanoRange(c.ChangedAt)) ||
		(rs != nil && (!inNanoRange(rs.ExpiresAt) || !inNanoRange(rs.RequestTime) ||
			(!rs.CodeExpiresAt.IsZero() && !inNanoRange(rs.CodeExpiresAt)))) {
		return json.Marshal(ent)
	}
	var flags byte
	if ent.NextAt.IsZero() {
		flags |= flagNoNextAt
	}
	m := ent.Message
	size := 2 + 3*binary.MaxVarintLen64 + 7*binary.MaxVarintLen32 + len(m.To) + len(m.ToName) + len(m.Subject) + len(m.Text) + len(m.HTML) + len(m.Kind) + len(m.ID)
	if r != nil {
		flags |= flagRequest
		if r.Counted {
			flags |= flagRequestCounted
		}
		size += binary.MaxVarintLen64 + 3*binary.MaxVarintLen32 + len(r.Identifier) + len(r.FlowID) + len(r.IP)
	}
	if c != nil {
		flags |= flagChanged
		size += binary.MaxVarintLen64 + 3*binary.MaxVarintLen32 + len(c.Locale) + len(c.UserName) + len(c.IP)
	}
	if rs != nil {
		flags |= flagReset
		if !rs.CodeExpiresAt.IsZero() {
			flags |= flagResetCodeAt
		}
		size += 5*binary.MaxVarintLen64 + 6*binary.MaxVarintLen32 + len(rs.Locale) + len(rs.UserName) + len(rs.Link) + len(rs.Code) + len(rs.RevokeLink) + len(rs.RequestIP)
	}
	b := make([]byte, 0, size)
	b = append(b, outboxV1, flags)
	b = binary.AppendUvarint(b, uint64(ent.Attempts))
	if flags&flagNoNextAt == 0 {
		b = binary.AppendVarint(b, ent.NextAt.UnixNano())
	}
	for _, s := range [...]string{m.To, m.ToName, m.Subject, m.Text, m.HTML, m.Kind, m.ID} {
		b = appendString(b, s)
	}
	if r != nil {
		b = appendString(appendString(appendString(b, r.Identifier), r.FlowID), r.IP)
		b = binary.AppendVarint(b, r.At.UnixNano())
	}
	if c != nil {
		b = appendString(appendString(appendString(b, c.Locale), c.UserName), c.IP)
		b = binary.AppendVarint(b, c.ChangedAt.UnixNano())
	}
	if rs != nil {
		for _, s := range [...]string{rs.Locale, rs.UserName, rs.Link, rs.Code, rs.RevokeLink, rs.RequestIP} {
			b = appendString(b, s)
		}
		for _, v := range [...]int64{int64(rs.TTL), int64(rs.CodeTTL), rs.ExpiresAt.UnixNano(), rs.RequestTime.UnixNano()} {
			b = binary.AppendVarint(b, v)
		}
		if flags&flagResetCodeAt != 0 {
			b = binary.AppendVarint(b, rs.CodeExpiresAt.UnixNano())
		}
	}
	return b, nil
}

// decodeOutbox reads either form into ent.
func decodeOutbox(data []byte, ent *outboxEntry) error {
	*ent = outboxEntry{}
	flags, rest, isJSON, err := splitBinary(data, outboxV1, "outbox", ent, errBadOutboxEntry)
	if err != nil || isJSON {
		return err
	}
	if flags&^(flagRequest|flagRequestCounted|flagChanged|flagNoNextAt|flagReset|flagResetCodeAt) != 0 ||
		(flags&flagRequestCounted != 0 && flags&flagRequest == 0) || (flags&flagResetCodeAt != 0 && flags&flagReset == 0) {
		return errBadOutboxEntry
	}
	attempts, n := binary.Uvarint(rest)
	if n <= 0 || attempts > uint64(^uint(0)>>1) {
		return errBadOutboxEntry
	}
	ent.Attempts = int(attempts)
	rest = rest[n:]
	ok := true
	if flags&flagNoNextAt == 0 {
		if ent.NextAt, rest, ok = readTime(rest); !ok {
			return errBadOutboxEntry
		}
	}
	m := &ent.Message
	if rest, ok = readStrings(rest, []*string{&m.To, &m.ToName, &m.Subject, &m.Text, &m.HTML, &m.Kind, &m.ID}); !ok {
		return errBadOutboxEntry
	}
	if flags&flagRequest != 0 {
		r := &queuedRequest{Counted: flags&flagRequestCounted != 0}
		if rest, ok = readStrings(rest, []*string{&r.Identifier, &r.FlowID, &r.IP}); !ok {
			return errBadOutboxEntry
		}
		if r.At, rest, ok = readTime(rest); !ok {
			return errBadOutboxEntry
		}
		ent.Request = r
	}
	if flags&flagChanged != 0 {
		c := &changedMail{}
		if rest, ok = readStrings(rest, []*string{&c.Locale, &c.UserName, &c.IP}); !ok {
			return errBadOutboxEntry
		}
		if c.ChangedAt, rest, ok = readTime(rest); !ok {
			return errBadOutboxEntry
		}
		ent.Changed = c
	}
	if flags&flagReset != 0 {
		if rest, ok = decodeResetMail(rest, flags&flagResetCodeAt != 0, ent); !ok {
			return errBadOutboxEntry
		}
	}
	if len(rest) != 0 {
		return errBadOutboxEntry
	}
	return nil
}

// decodeResetMail reads the flagReset part of an entry into ent.Reset.
func decodeResetMail(rest []byte, codeAt bool, ent *outboxEntry) ([]byte, bool) {
	r := &resetMail{}
	rest, ok := readStrings(rest, []*string{&r.Locale, &r.UserName, &r.Link, &r.Code, &r.RevokeLink, &r.RequestIP})
	if !ok {
		return nil, false
	}
	var ttl, codeTTL int64
	if ttl, rest, ok = readVarint(rest); !ok {
		return nil, false
	}
	if codeTTL, rest, ok = readVarint(rest); !ok {
		return nil, false
	}
	r.TTL, r.CodeTTL = time.Duration(ttl), time.Duration(codeTTL)
	if r.ExpiresAt, rest, ok = readTime(rest); !ok {
		return nil, false
	}
	if r.RequestTime, rest, ok = readTime(rest); !ok {
		return nil, false
	}
	if codeAt {
		if r.CodeExpiresAt, rest, ok = readTime(rest); !ok {
			return nil, false
		}
	}
	ent.Reset = r
	return rest, true
}

// readTime reads a time written as varint Unix nanoseconds, in UTC.
func readTime(rest []byte) (time.Time, []byte, bool) {
	ns, rest, ok := readVarint(rest)
	if !ok {
		return time.Time{}, nil, false
	}
	return time.Unix(0, ns).UTC(), rest, true
}
