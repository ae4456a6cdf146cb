package plugin

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/resetgate/resetgate/plugin/mailer"
)

// The binary outbox entry keeps everything an entry holds, for a queued
// request, a request turned into its mail, a "password changed" mail and
// a mail sent again; what it cannot hold stays JSON; JSON an earlier
// version wrote still reads.
func TestOutboxEntryRoundTrip(t *testing.T) {
	for typ, n := range outboxFields {
		if got := typ.NumField(); got != n {
			t.Fatalf("%s has %d fields; encodeOutbox and decodeOutbox know %d", typ, got, n)
		}
	}
	if n := reflect.TypeFor[mailer.Message]().NumField(); n != 7 {
		t.Fatalf("mailer.Message has %d fields; encodeOutbox and decodeOutbox know 7", n)
	}
	at := time.Date(2026, 12, 4, 5, 6, 7, 891011121, time.UTC)
	msg := mailer.Message{To: "ada@example.test", ToName: "Ada Ω", Subject: "Réinitialiser", Text: "line\r\n.dot\n", HTML: "<p>\x00</p>", Kind: "reset", ID: "abc123"}
	for _, ent := range []outboxEntry{
		{Request: &queuedRequest{Identifier: "ada@example.test", FlowID: "f1", IP: "192.0.2.1", At: at}},
		{Request: &queuedRequest{Identifier: "Ada", FlowID: "f2", IP: "2001:db8::1", At: at, Counted: true}, Attempts: 3, NextAt: at},
		{Message: msg, NextAt: at},
		{Message: mailer.Message{To: "b@example.test", Kind: "changed", ID: "x"}, NextAt: at, Attempts: 24,
			Changed: &changedMail{Locale: "de-CH", UserName: "Bob", ChangedAt: at, IP: "192.0.2.9"}},
		{Message: msg, Changed: &changedMail{ChangedAt: at}, Request: &queuedRequest{At: at}},
		{Message: mailer.Message{To: "c@example.test", ToName: "Cé", Kind: "reset", ID: "y"}, NextAt: at,
			Reset: &resetMail{Locale: "fr", UserName: "Cé", Link: "https://app.example.test/password-reset/set?token=t", Code: "12345678",
				RevokeLink: "https://app.example.test/password-reset/revoke?token=r", RequestIP: "2001:db8::2",
				TTL: time.Hour, CodeTTL: 15 * time.Minute, ExpiresAt: at.Add(time.Hour), CodeExpiresAt: at.Add(15 * time.Minute), RequestTime: at}},
		// A link-only mail: no code, no code expiry.
		{Message: mailer.Message{To: "d@example.test", Kind: "reset", ID: "z"}, NextAt: at,
			Reset: &resetMail{Link: "l", TTL: time.Hour, CodeTTL: 15 * time.Minute, ExpiresAt: at, RequestTime: at}},
	} {
		data, err := encodeOutboxFor(ent, false)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != outboxV1 {
			t.Fatalf("%+v: not the binary form: %q", ent, data)
		}
		// A shared store (Redis) gets JSON: an instance on an earlier
		// version, during a rolling upgrade, reads it.
		if shared, err := encodeOutboxFor(ent, true); err != nil || shared[0] != '{' {
			t.Fatalf("%+v: for a shared store: %q %v", ent, shared, err)
		}
		if own, err := encodeOutboxFor(ent, false); err != nil || string(own) != string(data) {
			t.Fatalf("%+v: for a store of one process: %q %v", ent, own, err)
		}
		var got outboxEntry
		if err := decodeRecord(data, &got); err != nil {
			t.Fatalf("%+v: %v", ent, err)
		}
		if !reflect.DeepEqual(got, ent) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, ent)
		}
		// Every truncation is refused, not misread, and so is a byte more.
		for i := range len(data) {
			if err := decodeOutbox(data[:i], &got); err == nil {
				t.Fatalf("%+v: truncated to %d bytes decoded", ent, i)
			}
		}
		if err := decodeOutbox(append(data, 0), &got); err == nil {
			t.Fatalf("%+v: a trailing byte decoded", ent)
		}
		// What an earlier version wrote (JSON) reads the same.
		old, err := json.Marshal(ent)
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeRecord(old, &got); err != nil || !got.NextAt.Equal(ent.NextAt) || got.Message != ent.Message || got.Attempts != ent.Attempts {
			t.Fatalf("JSON entry read back %+v %v", got, err)
		}
	}
	// A time beyond Unix nanoseconds, or a negative count, stays JSON.
	for _, odd := range []outboxEntry{
		{Message: msg, NextAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Message: msg, NextAt: at, Changed: &changedMail{}},
		{Message: msg, NextAt: at, Attempts: -1},
	} {
		data, err := encodeOutbox(odd)
		if err != nil {
			t.Fatal(err)
		}
		var got outboxEntry
		if data[0] != '{' {
			t.Fatalf("%+v: not JSON: %q", odd, data)
		} else if err := decodeOutbox(data, &got); err != nil || got.Attempts != odd.Attempts || !got.NextAt.Equal(odd.NextAt) {
			t.Fatalf("%+v: read back %+v %v", odd, got, err)
		}
	}
	// Unknown flags are refused.
	if err := decodeOutbox([]byte{outboxV1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0}, new(outboxEntry)); err == nil {
		t.Fatal("an unknown flag decoded")
	}
}

// FuzzDecodeOutbox: any bytes decode without panicking, and an entry that
// decodes from the binary form reads back the same once encoded again.
// (Only this process's sealed entries reach the decoder; the bytes need
// not be the same, as a varint may be written longer than it needs.)
func FuzzDecodeOutbox(f *testing.F) {
	at := time.Date(2026, 12, 4, 5, 6, 7, 8, time.UTC)
	for _, ent := range []outboxEntry{
		{Request: &queuedRequest{Identifier: "a", FlowID: "f", IP: "i", At: at, Counted: true}},
		{Message: mailer.Message{To: "t", Kind: "changed"}, NextAt: at, Attempts: 2, Changed: &changedMail{Locale: "de", ChangedAt: at}},
	} {
		data, err := encodeOutbox(ent)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ent outboxEntry
		if err := decodeOutbox(data, &ent); err != nil || len(data) == 0 || data[0] != outboxV1 {
			return
		}
		again, err := encodeOutbox(ent)
		if err != nil {
			t.Fatal(err)
		}
		var back outboxEntry
		if err := decodeOutbox(again, &back); err != nil || !reflect.DeepEqual(back, ent) {
			t.Fatalf("decoded %+v from %q; encoded again it reads %+v, %v", ent, data, back, err)
		}
	})
}

// BenchmarkOutboxEntry encodes and decodes a "password changed" entry
// and a queued request, in the binary form and in JSON.
func BenchmarkOutboxEntry(b *testing.B) {
	at := time.Now()
	ents := map[string]outboxEntry{
		"changed": {Message: mailer.Message{To: "ada@example.test", ToName: "Ada", Kind: "changed", ID: "0123456789abcdef"}, NextAt: at,
			Changed: &changedMail{Locale: "en", UserName: "Ada", ChangedAt: at, IP: "192.0.2.1"}},
		"request": {Request: &queuedRequest{Identifier: "ada@example.test", FlowID: "f-0123456789abcdef0123", IP: "192.0.2.1", At: at}},
	}
	for name, ent := range ents {
		b.Run(name+"/binary", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				data, _ := encodeOutbox(ent)
				var got outboxEntry
				if err := decodeOutbox(data, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/json", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				data, _ := json.Marshal(ent)
				var got outboxEntry
				if err := json.Unmarshal(data, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
