package mailer

import (
	"errors"
	"net/textproto"
)

// The mail transaction (MAIL, RCPT, DATA and the message), spoken on
// go-mail's connection; the EHLO, STARTTLS and AUTH before it are
// go-mail's. When the relay's EHLO offers PIPELINING (RFC 2920), a mail
// costs two writes and two waits instead of five or more of each: the
// commands (RSET on a kept connection, MAIL, RCPT, DATA) go out in one
// write and their replies are read in order, then the whole message, with
// its end of data, goes out in a second write. Without PIPELINING each
// command waits for its reply before the next one goes out. Either way
// the message is the one compose wrote (mime.go), sent as it is.

// pipeStep names the command of a pipelined transaction that failed.
type pipeStep string

const (
	stepCheck pipeStep = "RSET"
	stepMail  pipeStep = "MAIL FROM"
	stepRcpt  pipeStep = "RCPT TO"
	stepData  pipeStep = "DATA"
	stepEnd   pipeStep = "end of data"
)

// pipeError is the failure of a transaction, pipelined or not.
type pipeError struct {
	step pipeStep
	// code is the server's reply code, 0 when no reply came (a timeout,
	// a reset, a malformed reply).
	code int
	// sent is true once the message and its end of data were handed to
	// the connection: the server may have taken the mail.
	sent bool
	// synced is true when every reply of the transaction was read and
	// the server is not waiting for message content: the session is as
	// it was before the transaction, and the next RSET starts afresh.
	synced bool
	err    error
}

func (e *pipeError) Error() string { return string(e.step) + ": " + e.err.Error() }
func (e *pipeError) Unwrap() error { return e.err }

// pipeFailure makes the error for step from a read or write error: a
// reply with an unexpected code carries that code.
func pipeFailure(step pipeStep, err error) *pipeError {
	pe := &pipeError{step: step, err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		pe.code = te.Code
	}
	return pe
}

// transaction runs one mail transaction for out on c. With reset (a kept
// connection that pipelines) the group starts with RSET, whose reply must
// come within s.checkTimeout: that is the check take makes for a
// connection without pipelining.
func (s *SMTP) transaction(c *smtpConn, out outgoing, reset bool) error {
	// Until the first reply, a failure on a kept connection is its check
	// failing.
	first, deadline := stepMail, s.timeout
	if reset {
		first, deadline = stepCheck, s.checkTimeout
	}
	sc := c.sc
	if !sc.HasConnection() {
		return &pipeError{step: first, err: errors.New("connection closed")}
	}
	if err := sc.UpdateDeadline(deadline); err != nil {
		return &pipeError{step: first, err: err}
	}
	w, r := sc.Text.W, &sc.Text.Reader

	// command writes the command of step. MAIL FROM carries the
	// parameters go-mail's smtp.Client.Mail adds (it sets no DSN here).
	command := func(step pipeStep) {
		switch step {
		case stepCheck:
			_, _ = w.WriteString("RSET\r\n")
		case stepMail:
			_, _ = w.WriteString("MAIL FROM:")
			_, _ = w.WriteString(out.from)
			if ok, _ := sc.Extension("8BITMIME"); ok {
				_, _ = w.WriteString(" BODY=8BITMIME")
			}
			if ok, _ := sc.Extension("SMTPUTF8"); ok {
				_, _ = w.WriteString(" SMTPUTF8")
			}
			_, _ = w.WriteString("\r\n")
		case stepRcpt:
			_, _ = w.WriteString("RCPT TO:")
			_, _ = w.WriteString(out.to)
			_, _ = w.WriteString("\r\n")
		case stepData:
			_, _ = w.WriteString("DATA\r\n")
		}
	}
	steps := []pipeStep{stepCheck, stepMail, stepRcpt, stepData}
	if !reset {
		steps = steps[1:]
	}
	if c.pipelining {
		// The command group, in one write.
		for _, step := range steps {
			command(step)
		}
		if err := w.Flush(); err != nil {
			return &pipeError{step: first, err: err}
		}
	}

	// With pipelining, every reply of the group is read, also after a
	// refusal, so that the session stays in step; without, a refusal
	// ends the transaction. The first refusal is the one reported: after
	// a refused MAIL, the refusals of RCPT and DATA only follow from it.
	// A missing reply ends the reading: the session's state is unknown.
	var refused *pipeError
	for _, step := range steps {
		if !c.pipelining {
			command(step)
			if err := w.Flush(); err != nil {
				return &pipeError{step: step, err: err}
			}
		}
		code := 250
		switch step {
		case stepRcpt:
			code = 25
		case stepData:
			code = 354
		}
		_, _, err := r.ReadResponse(code)
		if step == stepCheck {
			if err != nil {
				// A refusal too fails the check, as in take: the
				// connection is given up, with the commands behind
				// the RSET unanswered and no message content sent.
				return &pipeError{step: stepCheck, err: err}
			}
			if err := sc.UpdateDeadline(s.timeout); err != nil {
				return &pipeError{step: stepCheck, err: err}
			}
			continue
		}
		if err == nil {
			continue
		}
		pe := pipeFailure(step, err)
		if pe.code == 0 {
			return pe
		}
		if refused == nil {
			refused = pe
		}
		if step == stepData || !c.pipelining {
			// No reply is outstanding, and the server waits for no
			// message content.
			refused.synced = true
			return refused
		}
	}
	if refused != nil {
		// The server answered 354 to DATA after refusing the sender or
		// every recipient, which RFC 2920 forbids (it asks for 503 or
		// 554), and now waits for message content. None is sent, not
		// even an empty message, which could still be delivered: the
		// connection is given up (synced stays false).
		return refused
	}

	// The message, dot-stuffed and ending in CRLF.CRLF, in one write.
	// From here on the server may have taken the mail, even when the
	// write reports a failure: the caller never sends it again.
	_, err := w.Write(out.data)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return &pipeError{step: stepEnd, sent: true, err: err}
	}
	if _, _, err := r.ReadResponse(250); err != nil {
		pe := pipeFailure(stepEnd, err)
		pe.sent = true
		pe.synced = pe.code != 0
		return pe
	}
	return nil
}
