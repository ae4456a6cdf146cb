package mailer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Queue defaults, used for zero QueueOptions fields.
const (
	// DefaultQueueSize is QueueOptions.Size when unset.
	DefaultQueueSize = 1024
	// DefaultWorkers is QueueOptions.Workers when unset.
	DefaultWorkers = 2
	// DefaultMaxAttempts is QueueOptions.MaxAttempts when unset.
	DefaultMaxAttempts = 5
	// DefaultBackoff is QueueOptions.Backoff when unset.
	DefaultBackoff = time.Second
	// maxBackoff caps the doubling delay between two attempts.
	maxBackoff = 10 * time.Minute
)

// Errors passed to QueueOptions.OnResult for messages that never reached a
// send attempt.
var (
	// ErrQueueFull means Enqueue refused a message because the queue held
	// Size messages already.
	ErrQueueFull = errors.New("mailer: queue full")
	// ErrQueueStopped means Enqueue refused a message because Run has
	// returned.
	ErrQueueStopped = errors.New("mailer: queue stopped")
)

// QueueOptions configures NewQueue. The zero value is usable.
type QueueOptions struct {
	// Size is how many messages may wait; Enqueue refuses more. Default:
	// 1024.
	Size int

	// Workers is how many messages are sent at once. Default: 2.
	Workers int

	// MaxAttempts is how often one message is tried before it is dropped.
	// Default: 5.
	MaxAttempts int

	// Backoff is the wait before the first retry; it doubles for every
	// further one (1s, 2s, 4s, 8s with the defaults), up to 10 minutes.
	// Default: 1s.
	Backoff time.Duration

	// Logger receives queue events. Recipient addresses appear only at
	// debug level; bodies never. Default: no logging.
	Logger *zap.Logger

	// Sleep waits d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case. Tests inject one that does not
	// sleep. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// OnResult, when set, is called after every send attempt with the
	// message's Kind, the Sender's error (nil on success) and how long the
	// attempt took; and with ErrQueueFull or ErrQueueStopped (and a zero
	// duration) when Enqueue refuses a message. It runs on a worker
	// goroutine and must be quick (a metrics counter).
	OnResult func(kind string, err error, d time.Duration)
}

// Queue sends messages in the background so that callers never wait for the
// mail server. Failed sends are retried with exponential backoff; messages
// still failing after MaxAttempts, or failing permanently (see IsPermanent),
// are dropped and logged. Messages still waiting when Run returns are lost:
// the queue lives in memory.
type Queue struct {
	sender  Sender
	opts    QueueOptions
	log     *zap.Logger
	ch      chan Message
	stopped atomic.Bool
}

// NewQueue returns a queue that delivers through s once Run is called.
// Messages may be enqueued before Run starts.
func NewQueue(s Sender, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Queue{sender: s, opts: o, log: log, ch: make(chan Message, o.Size)}
}

// Enqueue hands m to the queue and returns at once: true if it was accepted,
// false if the queue is full or stopped (the refusal is logged).
func (q *Queue) Enqueue(m Message) bool {
	if q.stopped.Load() {
		q.refuse(m, ErrQueueStopped)
		return false
	}
	select {
	case q.ch <- m:
		return true
	default:
		q.refuse(m, ErrQueueFull)
		return false
	}
}

func (q *Queue) refuse(m Message, reason error) {
	q.log.Warn("mail not queued", zap.String("kind", m.Kind), zap.String("reason", reason.Error()),
		zap.Int("queue_size", q.opts.Size))
	q.log.Debug("mail not queued: recipient", zap.String("kind", m.Kind), zap.String("to", m.To))
	if q.opts.OnResult != nil {
		q.opts.OnResult(m.Kind, reason, 0)
	}
}

// Len is the number of messages waiting (not counting those being sent).
func (q *Queue) Len() int { return len(q.ch) }

// Run sends queued messages with Workers goroutines until ctx is done, then
// returns once they have stopped. Call it once.
func (q *Queue) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range q.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.work(ctx)
		}()
	}
	wg.Wait()
	q.stopped.Store(true)
	if n := len(q.ch); n > 0 {
		q.log.Warn("mail queue stopped with unsent messages", zap.Int("unsent", n))
	}
}

func (q *Queue) work(ctx context.Context) {
	for {
		// Stop promptly even when messages are waiting.
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case m := <-q.ch:
			q.deliver(ctx, m)
		}
	}
}

// deliver tries m up to MaxAttempts times.
func (q *Queue) deliver(ctx context.Context, m Message) {
	delay := q.opts.Backoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := q.sender.Send(ctx, m)
		took := time.Since(start)
		if q.opts.OnResult != nil {
			q.opts.OnResult(m.Kind, err, took)
		}
		if err == nil {
			q.log.Info("mail sent", zap.String("kind", m.Kind), zap.Int("attempt", attempt),
				zap.Duration("took", took))
			q.log.Debug("mail sent: recipient", zap.String("kind", m.Kind), zap.String("to", m.To))
			return
		}
		errText := scrub(err, m.To)
		if ctx.Err() != nil {
			q.log.Warn("mail queue stopped during a send; message not sent",
				zap.String("kind", m.Kind), zap.Int("attempt", attempt), zap.String("error", errText))
			return
		}
		if IsPermanent(err) || attempt >= q.opts.MaxAttempts {
			q.log.Error("mail dropped", zap.String("kind", m.Kind), zap.Int("attempts", attempt),
				zap.Bool("permanent", IsPermanent(err)), zap.String("error", errText))
			q.log.Debug("mail dropped: recipient", zap.String("kind", m.Kind), zap.String("to", m.To))
			return
		}
		q.log.Warn("mail send failed; will retry", zap.String("kind", m.Kind), zap.Int("attempt", attempt),
			zap.Duration("retry_in", delay), zap.String("error", errText))
		if err := q.opts.Sleep(ctx, delay); err != nil {
			q.log.Warn("mail queue stopped before a retry; message not sent",
				zap.String("kind", m.Kind), zap.Int("attempts", attempt))
			return
		}
		delay = min(delay*2, maxBackoff)
	}
}

// scrub returns err's text without the recipient address, whatever Sender
// produced it.
func scrub(err error, to string) string {
	text := err.Error()
	if to != "" {
		text = strings.ReplaceAll(text, to, "<recipient>")
	}
	return text
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
