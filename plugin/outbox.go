package plugin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/store"
)

// The outbox keeps mail in the store until the SMTP server took it, so a
// mail server outage or a crash (kill -9) loses nothing: on restart the
// worker finds the pending entries and sends them.
//
// Entries are sealed with AES-256-GCM under a key derived from the server
// key: a pending reset mail carries a live link, and a copy of the
// database must not (invariant 1).
//
// Layout (keyspace.go): "mo/seq" counts entry numbers handed out (in
// blocks, see outboxBlock); "mo/<n>" is entry n;
// "mo/tail" is the highest n below which every entry is done;
// "mo/lease/<n>" is held while one instance sends entry n (several
// instances share a Redis store).

// Outbox timing.
const (
	outboxTTL         = 24 * time.Hour // an undelivered mail is dropped after this
	outboxMaxAttempts = 25             // with backoff capped at 10m, about 3h of trying
	outboxFirstRetry  = time.Second
	outboxMaxBackoff  = 10 * time.Minute
	outboxPoll        = 500 * time.Millisecond
	outboxLeaseTTL    = time.Minute
	outboxSeqTTL      = 10 * 365 * 24 * time.Hour
	outboxSendTimeout = 30 * time.Second
)

// Entry numbers are reserved outboxBlock at a time, one store.Add of
// outboxSeq per block instead of an Incr per mail (a read-modify-write
// transaction on one hot key: 17 µs of CPU per completed reset in the
// bench profile). outboxSeq still counts entry numbers, so a store written
// by an earlier version, which numbered one by one, goes on where it was.
// A block is used for at most outboxBlockLife, well inside missingGrace,
// so a number not used by then never will be and the walker passes it
// once missingGrace has gone by (until then OutboxPending counts it).
const (
	outboxBlock     = 16
	outboxBlockLife = time.Second
)

type outbox struct {
	e      *Engine
	sender mailer.Sender
	aead   cipher.AEAD
	wake   chan struct{}
	walk   queueWalk
	// shared: several instances may use the store (not store.Exclusive),
	// so entries are written in JSON (encodeOutboxFor).
	shared bool

	mu    sync.Mutex  // guards block and released
	block numberBlock // this instance's entry numbers
	// released holds the numbers of held entries (changedmail.go) whose
	// change the app has since confirmed: due now, although the NextAt
	// they were stored with is later. A restart forgets them, and the
	// entries fall due at their NextAt.
	released map[int64]struct{}
}

func newOutbox(e *Engine, s mailer.Sender) (*outbox, error) {
	block, err := aes.NewCipher(e.keys.outbox)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	_, exclusive := e.store.(store.Exclusive)
	return &outbox{e: e, sender: s, aead: aead, wake: make(chan struct{}, 1), walk: newQueueWalk(outboxSeq, outboxTail, outboxPrefix), shared: !exclusive, released: map[int64]struct{}{}}, nil
}

func (o *outbox) seal(ent outboxEntry) ([]byte, error) {
	return sealEntry(o.aead, ent, o.shared)
}

func (o *outbox) open(data []byte, ent *outboxEntry) error {
	return openEntry(o.aead, data, ent)
}

// sealEntry encodes ent (encodeOutboxFor) and seals it under aead.
func sealEntry(aead cipher.AEAD, ent outboxEntry, shared bool) ([]byte, error) {
	plain, err := encodeOutboxFor(ent, shared)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte("resetgate outbox")), nil
}

// openEntry opens an entry sealed by sealEntry into ent.
func openEntry(aead cipher.AEAD, data []byte, ent *outboxEntry) error {
	n := aead.NonceSize()
	if len(data) < n {
		return errors.New("outbox entry too short")
	}
	plain, err := aead.Open(nil, data[:n], data[n:], []byte("resetgate outbox"))
	if err != nil {
		return errors.New("outbox entry cannot be opened (was the server key changed?)")
	}
	return decodeRecord(plain, ent)
}

// enqueue stores m durably and wakes the worker (enqueueEntry).
func (o *outbox) enqueue(ctx context.Context, m mailer.Message) error {
	return o.enqueueEntry(ctx, outboxEntry{Message: m})
}

// enqueueEntry stores the mail ent durably and wakes the worker. Inside
// the processing of a queued reset request the mail is handed to that
// request's queue entry instead (see requestqueue.go), so that the request
// and its mail are settled in one atomic step.
func (o *outbox) enqueueEntry(ctx context.Context, ent outboxEntry) error {
	if ent.Message.ID == "" {
		id, err := newMessageID()
		if err != nil {
			return err
		}
		ent.Message.ID = id
	}
	if c := capturedSettlement(ctx); c != nil {
		c.mails = append(c.mails, ent)
		return nil
	}
	return o.put(ctx, ent)
}

// message is the mail of ent as sent: a "password changed" mail, and a
// reset mail queued in Badger (outboxEntry.Reset), are rendered here, in
// the user's language, with the current site settings.
func (o *outbox) message(ent outboxEntry) (mailer.Message, error) {
	m, c, r := ent.Message, ent.Changed, ent.Reset
	e := o.e
	var err error
	switch {
	case r != nil:
		m.Subject, m.Text, m.HTML, err = e.cfg.Templates.RenderLocale("reset", r.Locale, r.data(e))
	case c != nil:
		m.Subject, m.Text, m.HTML, err = e.cfg.Templates.RenderLocale("changed", c.Locale, mailer.ChangedData{
			SiteName: e.cfg.SiteName, UserName: c.UserName, ChangedAt: c.ChangedAt, RequestIP: c.IP,
			ResetLink: e.link("/", nil), SupportContact: e.cfg.SupportContact,
		})
	}
	return m, err
}

// remove deletes the entry under key, sent or dropped. Entries are stored
// without an owner, so the removal need not read the entry first: on a
// store that batches (Badger) it joins the next group commit
// (writeRecords) instead of taking a read-write transaction of its own.
func (o *outbox) remove(ctx context.Context, key string) error {
	return o.e.writeRecords(ctx, nil, []string{key})
}

// put stores ent, due now, as the next outbox entry and wakes the worker.
func (o *outbox) put(ctx context.Context, ent outboxEntry) error {
	if _, err := o.store(ctx, ent, o.e.now()); err != nil {
		return err
	}
	o.wakeUp()
	return nil
}

// store stores ent, due at due, as the next outbox entry and returns its
// number.
func (o *outbox) store(ctx context.Context, ent outboxEntry, due time.Time) (int64, error) {
	ent.NextAt = due
	data, err := o.seal(ent)
	if err != nil {
		return 0, fmt.Errorf("sealing mail: %w", err)
	}
	n, err := o.number(ctx)
	if err != nil {
		return 0, fmt.Errorf("numbering mail: %w", err)
	}
	if err := o.e.store.Put(ctx, outboxKey(n), data, outboxTTL, ""); err != nil {
		return 0, fmt.Errorf("storing mail: %w", err)
	}
	return n, nil
}

// wakeUp starts a pass of the worker, or makes the next one start at once.
func (o *outbox) wakeUp() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// number hands out the next entry number, reserving a new block when this
// one is used up or too old.
func (o *outbox) number(ctx context.Context) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, _, unused, err := o.block.take(outboxBlock, outboxBlockLife, func() (int64, error) {
		last, err := o.e.store.Add(ctx, outboxSeq, outboxBlock, outboxSeqTTL)
		return last - outboxBlock + 1, err
	})
	// The numbers the old block left are never written: the walker
	// passes them at once instead of after missingGrace.
	for k := unused[0]; k < unused[1]; k++ {
		o.walk.finished.add(k)
	}
	return n, err
}

// unusedAfter counts the numbers left in this instance's current block
// after tail: no entry has them yet, so OutboxPending does not count them
// as mail.
func (o *outbox) unusedAfter(tail int64) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.block.left(tail)
}

// scrubRecipient drops the recipient's address from an error's text.
func scrubRecipient(err error, to string) string {
	if to == "" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), to, "<recipient>")
}

// run sends pending mail until ctx ends.
func (o *outbox) run(ctx context.Context) {
	t := o.e.cfg.Clock.NewTicker(outboxPoll)
	defer t.Stop()
	for {
		if err := o.pass(ctx); err != nil && ctx.Err() == nil {
			o.e.log.Warn("mail outbox pass failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		case <-o.wake:
		}
	}
}

// pass walks the entries after the tail, sends those that are due, and
// moves the tail past the finished ones.
func (o *outbox) pass(ctx context.Context) error {
	return o.e.walkQueue(ctx, &o.walk, func(ctx context.Context, n int64, key string, raw []byte) (bool, error) {
		var ent outboxEntry
		if err := o.open(raw, &ent); err != nil {
			o.e.log.Error("dropping an unreadable outbox entry", zap.Int64("entry", n), zap.Error(err))
			return true, o.e.store.Delete(ctx, key)
		}
		if o.e.now().Before(ent.NextAt) && !o.isReleased(n) {
			return false, nil
		}
		won, release, err := o.e.takeLease(ctx, outboxLeaseKey(n), outboxLeaseTTL)
		if err != nil || !won {
			return false, err
		}
		defer release()
		// Released or not, a failed attempt's retry waits its backoff.
		o.forgetReleased(n)
		return o.attempt(ctx, key, ent)
	})
}

// attempt sends the mail of the entry under key (whose lease the caller
// holds) and reports whether the entry is finished: sent, or dropped after
// a permanent failure or too many attempts. A failed attempt is written
// back with its next retry time.
func (o *outbox) attempt(ctx context.Context, key string, ent outboxEntry) (bool, error) {
	msg, err := o.message(ent)
	if err != nil {
		o.e.log.Error("mail dropped: rendering failed", zap.String("template", ent.Message.Kind), zap.Error(err))
		return true, o.remove(ctx, key)
	}
	sendCtx, cancel := context.WithTimeout(ctx, outboxSendTimeout)
	start := time.Now()
	err = o.sender.Send(sendCtx, msg)
	cancel()
	o.e.cfg.Observer.Mail(ent.Message.Kind, outcome(err, true), time.Since(start))
	ent.Attempts++
	switch {
	case err == nil:
		o.e.audit(zapcore.InfoLevel, "mail sent", "mailed", "", zap.String("kind", ent.Message.Kind), zap.Int("attempt", ent.Attempts))
		return true, o.remove(ctx, key)
	case mailer.IsPermanent(err) || ent.Attempts >= outboxMaxAttempts:
		o.e.log.Error("mail dropped", zap.String("kind", ent.Message.Kind), zap.Int("attempts", ent.Attempts),
			zap.Bool("permanent", mailer.IsPermanent(err)), zap.String("error", scrubRecipient(err, ent.Message.To)))
		return true, o.remove(ctx, key)
	}
	delay := outboxFirstRetry << min(ent.Attempts-1, 20)
	if delay > outboxMaxBackoff {
		delay = outboxMaxBackoff
	}
	ent.NextAt = o.e.now().Add(delay)
	o.e.log.Warn("mail send failed; will retry", zap.String("kind", ent.Message.Kind), zap.Int("attempt", ent.Attempts),
		zap.Duration("retry_in", delay), zap.String("error", scrubRecipient(err, ent.Message.To)))
	data, err := o.seal(ent)
	if err != nil {
		return false, err
	}
	// Put keeps the entry for its full TTL again; the attempt cap bounds it.
	return false, o.e.store.Put(ctx, key, data, outboxTTL, "")
}
