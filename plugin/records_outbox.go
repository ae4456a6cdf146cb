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
//	with flagChanged: Changed.Locale, .UserName, .IP, varint(.ChangedAt).
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
)

var errBadOutboxEntry = errors.New("decoding outbox entry: malformed")

// outboxFields is how many fields the binary form knows in each of the
// types it writes; TestOutboxEntryRoundTrip checks them, so that a field
// added to one of them is not lost on the way through the store.
var outboxFields = map[reflect.Type]int{
	reflect.TypeFor[outboxEntry]():   5,
	reflect.TypeFor[queuedRequest](): 5,
	reflect.TypeFor[changedMail]():   4,
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
	r, c := ent.Request, ent.Changed
	if ent.Attempts < 0 || (!ent.NextAt.IsZero() && !inNanoRange(ent.NextAt)) ||
		(r != nil && !inNanoRange(r.At)) || (c != nil && !inNanoRange(c.ChangedAt)) {
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
	return b, nil
}

// decodeOutbox reads either form into ent.
func decodeOutbox(data []byte, ent *outboxEntry) error {
	*ent = outboxEntry{}
	flags, rest, isJSON, err := splitBinary(data, outboxV1, "outbox", ent, errBadOutboxEntry)
	if err != nil || isJSON {
		return err
	}
	if flags&^(flagRequest|flagRequestCounted|flagChanged|flagNoNextAt) != 0 || (flags&flagRequestCounted != 0 && flags&flagRequest == 0) {
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
	if len(rest) != 0 {
		return errBadOutboxEntry
	}
	return nil
}

// readTime reads a time written as varint Unix nanoseconds, in UTC.
func readTime(rest []byte) (time.Time, []byte, bool) {
	ns, rest, ok := readVarint(rest)
	if !ok {
		return time.Time{}, nil, false
	}
	return time.Unix(0, ns).UTC(), rest, true
}
