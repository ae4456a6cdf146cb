package plugin

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/mailer"
)

// The "your password was changed" mail (invariant 8) is stored before the
// app is asked to change the password, not after its answer: a process
// killed between the app's 2xx and a later write would leave a changed
// password with no mail to its owner. The entry is stored held, due only
// once updateBound has passed, longer than the app may take to answer:
//   - the app confirms: the entry is released, due at once, in this
//     process's memory (no second write);
//   - the app refuses or cannot be reached: the entry is removed;
//   - the app's answer is lost (a timeout once the change was sent): the
//     entry stays and is sent when its hold is over, as after a kill;
//   - the process dies while it waits for the app: the entry stays, and
//     the next start (or another instance sharing the store) sends it when
//     it falls due. resetgate cannot know whether the app applied the
//     password then, and a notice too many is the safe side: the mail
//     tells the user what to do if the change was not theirs.

// heldMail is a "password changed" mail stored held (holdChangedMail): n
// is its outbox entry, 0 when none was stored (no mail configured, no
// address, or the store failed: the mail is then queued after the change,
// as queueChangedMail does).
type heldMail struct{ n int64 }

// updateBound is how long a password change may wait for the app: the
// directory's timeout and a margin. A complete's lease on its token, and a
// held mail, last that long.
func (e *Engine) updateBound() time.Duration {
	return e.usersWait + 10*time.Second
}

// holdChangedMail stores the "password changed" mail to u, due once
// updateBound has passed, before the app is asked to change u's password.
func (e *Engine) holdChangedMail(ctx context.Context, u User, ip string) heldMail {
	ent, ok := e.changedMailEntry(u, ip)
	if !ok {
		return heldMail{}
	}
	n, err := e.mail.store(ctx, ent, e.now().Add(e.updateBound()))
	if err != nil {
		e.log.Warn("the password-changed mail could not be stored before the change; it is queued after it", zap.String("user_id", u.ID), zap.Error(err))
		return heldMail{}
	}
	return heldMail{n: n}
}

// releaseChangedMail sends the mail held by h now that the app confirmed
// the change, or queues it when none was held.
func (e *Engine) releaseChangedMail(ctx context.Context, h heldMail, u User, ip string) {
	if h.n == 0 {
		e.queueChangedMail(ctx, u, ip)
		return
	}
	e.mail.release(h.n)
}

// failedChangedMail settles the mail held by h after the app's update
// failed with err: it is removed when the app refused or was not reached,
// and stays held, to be sent when its hold is over, when the app's answer
// was lost (directory.ErrOutcomeUnknown: the password may have changed).
// If the user then tries again and the app confirms, that change sends
// its own mail: two notices rather than none.
func (e *Engine) failedChangedMail(ctx context.Context, h heldMail, u User, err error) {
	if h.n == 0 {
		return
	}
	if errors.Is(err, directory.ErrOutcomeUnknown) {
		e.log.Warn("the app's answer to a password change was lost; the password-changed mail is sent when its hold is over",
			zap.String("user_id", u.ID), zap.Int64("entry", h.n), zap.Duration("hold", e.updateBound()))
		return
	}
	if err := e.mail.cancel(ctx, h.n); err != nil {
		e.log.Error("removing the password-changed mail of a change the app refused; it will be sent", zap.Int64("entry", h.n), zap.Error(err))
	}
}

// queueChangedMail queues the "password changed" mail to u, due now.
func (e *Engine) queueChangedMail(ctx context.Context, u User, ip string) {
	ent, ok := e.changedMailEntry(u, ip)
	if !ok {
		return
	}
	if err := e.mail.put(ctx, ent); err != nil {
		e.log.Error("mail not queued", zap.String("kind", "changed"), zap.String("user_id", u.ID), zap.Error(err))
	}
}

// changedMailEntry is the outbox entry of the "password changed" mail to
// u, or false when there is none to send (no mail configured, no
// address). Only what the mail says is stored; it is rendered when sent
// (outbox.message): rendering and storing the bodies was a third of a
// complete's CPU.
func (e *Engine) changedMailEntry(u User, ip string) (outboxEntry, bool) {
	if e.mail == nil || u.Email == "" {
		return outboxEntry{}, false
	}
	id, err := newMessageID()
	if err != nil {
		e.log.Error("mail not queued", zap.String("kind", "changed"), zap.String("user_id", u.ID), zap.Error(err))
		return outboxEntry{}, false
	}
	return outboxEntry{
		Message: mailer.Message{To: u.Email, ToName: u.Name, Kind: "changed", ID: id},
		Changed: &changedMail{Locale: u.Locale, UserName: u.Name, ChangedAt: e.now(), IP: ip},
	}, true
}

// release makes held entry n due now and wakes the worker.
func (o *outbox) release(n int64) {
	o.mu.Lock()
	o.released[n] = struct{}{}
	o.mu.Unlock()
	o.wakeUp()
}

// isReleased reports whether held entry n was released.
func (o *outbox) isReleased(n int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.released[n]
	return ok
}

// forgetReleased drops n from the released entries (the worker takes it).
func (o *outbox) forgetReleased(n int64) {
	o.mu.Lock()
	delete(o.released, n)
	o.mu.Unlock()
}

// cancel removes held entry n, which the walker then counts finished.
func (o *outbox) cancel(ctx context.Context, n int64) error {
	o.forgetReleased(n)
	if err := o.remove(ctx, outboxKey(n)); err != nil {
		return err
	}
	o.walk.finished.add(n)
	return nil
}
