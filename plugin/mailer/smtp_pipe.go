package mailer

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Pipelining (RFC 2920). When the relay's EHLO offers PIPELINING, a mail
// costs two writes and two waits instead of five or more of each: the
// commands (RSET on a kept connection, MAIL, RCPT, DATA) go out in one
// write and their replies are read in order, then the whole message, with
// its end of data, goes out in a second write. go-mail has no pipelining,
// so this file speaks the commands itself on go-mail's connection; the
// EHLO, STARTTLS and AUTH before them are still go-mail's.

// pipeStep names the command of a pipelined transaction that failed.
type pipeStep string

const (
	stepPrepare pipeStep = "message" // ours, before anything was sent
	stepCheck   pipeStep = "RSET"
	stepMail    pipeStep = "MAIL FROM"
	stepRcpt    pipeStep = "RCPT TO"
	stepData    pipeStep = "DATA"
	stepEnd     pipeStep = "end of data"
)

// pipeError is the failure of a pipelined transaction.
type pipeError struct {
	step pipeStep
	// code is the server's reply code, 0 when no reply came (a timeout,
	// a reset, a malformed reply) or the failure was ours.
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

// pipelined runs one mail transaction on c, whose server offers
// PIPELINING. With reset (a kept connection) the group starts with RSET,
// whose reply must come within s.checkTimeout: that is the check take
// makes for a connection without pipelining. The message is written to
// memory first, so that a message go-mail cannot write never starts a
// transaction.
func (s *SMTP) pipelined(c *smtpConn, msg *gomail.Msg, reset bool) error {
	from, err := msg.GetSender(false)
	if err != nil {
		return &pipeError{step: stepPrepare, err: err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return &pipeError{step: stepPrepare, err: err}
	}
	if strings.ContainsAny(from, "\r\n") || strings.ContainsAny(strings.Join(rcpts, ""), "\r\n") {
		return &pipeError{step: stepPrepare, err: errors.New("an address contains a line break")}
	}
	data, err := c.dotStuffed(msg)
	if err != nil {
		return &pipeError{step: stepPrepare, err: fmt.Errorf("writing the message: %w", err)}
	}

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

	// The command group, in one write. MAIL FROM carries the parameters
	// go-mail's smtp.Client.Mail adds (it sets no DSN here).
	w := sc.Text.W
	if reset {
		_, _ = w.WriteString("RSET\r\n")
	}
	_, _ = w.WriteString("MAIL FROM:")
	_, _ = w.WriteString(from)
	if ok, _ := sc.Extension("8BITMIME"); ok {
		_, _ = w.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := sc.Extension("SMTPUTF8"); ok {
		_, _ = w.WriteString(" SMTPUTF8")
	}
	_, _ = w.WriteString("\r\n")
	for _, to := range rcpts {
		_, _ = w.WriteString("RCPT TO:")
		_, _ = w.WriteString(to)
		_, _ = w.WriteString("\r\n")
	}
	_, _ = w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return &pipeError{step: first, err: err}
	}

	r := &sc.Text.Reader
	if reset {
		if _, _, err := r.ReadResponse(250); err != nil {
			// A refusal too fails the check, as in take: the
			// connection is given up, with the commands behind the
			// RSET unanswered and no message content sent.
			return &pipeError{step: stepCheck, err: err}
		}
		if err := sc.UpdateDeadline(s.timeout); err != nil {
			return &pipeError{step: stepCheck, err: err}
		}
	}

	// Every reply of the group is read, also after a refusal, so that
	// the session stays in step. The first refusal is the one reported:
	// after a refused MAIL, the refusals of RCPT and DATA only follow
	// from it. A missing reply ends the reading: the session's state is
	// unknown.
	var refused *pipeError
	read := func(step pipeStep, code int) *pipeError {
		_, _, err := r.ReadResponse(code)
		if err == nil {
			return nil
		}
		pe := pipeFailure(step, err)
		if pe.code == 0 {
			return pe
		}
		if refused == nil {
			refused = pe
		}
		return nil
	}
	if pe := read(stepMail, 250); pe != nil {
		return pe
	}
	for range rcpts {
		if pe := read(stepRcpt, 25); pe != nil {
			return pe
		}
	}
	if _, _, err := r.ReadResponse(354); err != nil {
		pe := pipeFailure(stepData, err)
		if pe.code == 0 {
			return pe
		}
		if refused == nil {
			refused = pe
		}
		refused.synced = true
		return refused
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
	_, err = w.Write(data)
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

// dotStuffed writes msg into c's message buffer as the content of DATA:
// dot-stuffed, line ends as CRLF and closed by CRLF.CRLF, exactly as
// textproto's DotWriter (go-mail's path) puts it on the wire. The buffers
// are reused by the connection's next mail.
func (c *smtpConn) dotStuffed(msg *gomail.Msg) ([]byte, error) {
	c.raw.Reset()
	if _, err := msg.WriteTo(&c.raw); err != nil {
		return nil, err
	}
	c.data = appendDotStuffed(c.data[:0], c.raw.Bytes())
	return c.data, nil
}

// smtpConn's buffers for the pipelined path.
type pipeBuffers struct {
	raw  bytes.Buffer // the message as go-mail writes it
	data []byte       // raw, dot-stuffed: the content of DATA
}

// The states of appendDotStuffed, as textproto's dotWriter has them.
const (
	dotBegin     = iota // nothing written yet
	dotBeginLine        // at the start of a line
	dotData             // within a line
	dotCR               // after a CR
)

// appendDotStuffed appends p to dst as textproto's DotWriter writes it
// and then closes it: a line's leading '.' is doubled, a LF not after a CR
// becomes CRLF, and the content ends with CRLF.CRLF (a CRLF of its own
// first unless p ended a line). It goes through DotWriter's states byte
// for byte (TestAppendDotStuffedMatchesDotWriter) but copies each run of
// bytes between line ends at once instead of one buffered write per byte,
// the largest part of writing a mail through DotWriter.
func appendDotStuffed(dst, p []byte) []byte {
	state := dotBegin
	for i := 0; i < len(p); {
		c := p[i]
		switch state {
		case dotCR:
			state = dotData
			if c == '\n' {
				state = dotBeginLine
			}
			dst = append(dst, c)
			i++
			continue
		case dotBegin, dotBeginLine:
			if c == '.' {
				dst = append(dst, '.')
			}
			state = dotData
		}
		j := i
		for j < len(p) && p[j] != '\r' && p[j] != '\n' {
			j++
		}
		dst = append(dst, p[i:j]...)
		if i = j; i == len(p) {
			break
		}
		if p[i] == '\r' {
			state = dotCR
		} else {
			dst = append(dst, '\r')
			state = dotBeginLine
		}
		dst = append(dst, p[i])
		i++
	}
	switch state {
	case dotBegin, dotData:
		dst = append(dst, '\r', '\n')
	case dotCR:
		dst = append(dst, '\n')
	}
	return append(dst, '.', '\r', '\n')
}
