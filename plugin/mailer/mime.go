package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// The message itself. compose writes the MIME message for one Message
// straight into the form DATA carries on the wire (CRLF line ends, a
// leading "." doubled, closed by CRLF.CRLF), in one pass into a buffer
// that later messages reuse. Both transaction paths (smtp_pipe.go) send
// these bytes as they are.

// maxHeaderLine is the length header lines are folded to where their
// words allow (RFC 5322 recommends 78; RFC 2047 encoded words are at most
// 75 characters, which fit after the leading space of a folded line).
const maxHeaderLine = 76

// maxKeptBuffer is the capacity above which a message buffer is not kept
// for the next message.
const maxKeptBuffer = 1 << 20

// outgoing is one message ready for a transaction.
type outgoing struct {
	// from and to are the envelope addresses for MAIL FROM and RCPT TO,
	// as "<a@b>".
	from, to string
	// data is the content of DATA: dot-stuffed, CRLF line ends, ending
	// in CRLF.CRLF. It lives in a reused buffer and is valid until the
	// buffer goes back to the pool.
	data []byte
}

// msgBuffer is the reusable state of compose.
type msgBuffer struct {
	dot dotBuffer
	qp  quotedprintable.Writer
}

// dotBuffer collects DATA content. Text appended with the append methods
// must not start a line with "." (headers and MIME delimiters never do);
// Write doubles a "." that starts a line, for body text from the
// quoted-printable encoder, which emits CRLF line ends.
type dotBuffer struct {
	b   []byte
	mid bool // the last byte written did not end a line
}

// Write appends p, dot-stuffed. It never fails.
func (d *dotBuffer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if !d.mid && p[0] == '.' {
			d.b = append(d.b, '.')
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.b = append(d.b, p...)
			d.mid = true
			break
		}
		d.b = append(d.b, p[:i+1]...)
		d.mid = false
		p = p[i+1:]
	}
	return n, nil
}

// line appends s, which must end in CRLF and start no line with ".".
func (d *dotBuffer) line(s ...string) {
	for _, p := range s {
		d.b = append(d.b, p...)
	}
	d.mid = false
}

// header appends "name: value", folded at its spaces so that lines stay
// within maxHeaderLine characters where the words allow. value must hold
// no line break (callers pass encoded words or net/mail's formatting).
func (d *dotBuffer) header(name, value string) {
	d.b = append(d.b, name...)
	d.b = append(d.b, ':')
	n := len(name) + 1
	for {
		word, rest, more := strings.Cut(value, " ")
		if word != "" && n+1+len(word) > maxHeaderLine && n > 1 {
			d.b = append(d.b, "\r\n"...)
			n = 0
		}
		d.b = append(d.b, ' ')
		d.b = append(d.b, word...)
		n += 1 + len(word)
		if !more {
			break
		}
		value = rest
	}
	d.b = append(d.b, "\r\n"...)
	d.mid = false
}

// body appends text as quoted-printable (line breaks of any kind become
// CRLF). Its last line is left open: the CRLF after it belongs to what
// follows (a MIME delimiter, or the end of data).
func (mb *msgBuffer) body(text string) error {
	mb.qp = *quotedprintable.NewWriter(&mb.dot)
	if _, err := mb.qp.Write([]byte(text)); err != nil {
		return err
	}
	return mb.qp.Close()
}

const (
	partText = "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	partHTML = "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
)

// compose checks m and writes it into mb as the content of DATA: From
// (with its display name), To (with ToName), Subject (RFC 2047 encoded
// when not ASCII), Date, Message-ID, MIME-Version, Auto-Submitted:
// auto-generated and X-Auto-Response-Suppress: All, then the text, the
// HTML, or both as multipart/alternative, each as UTF-8 in
// quoted-printable.
func (s *SMTP) compose(mb *msgBuffer, m Message) (outgoing, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		// The address itself stays out of the error.
		return outgoing{}, Permanent(errors.New("mailer: recipient address is not valid"))
	}
	if m.ToName != "" {
		to.Name = m.ToName
	}
	if m.Text == "" && m.HTML == "" {
		return outgoing{}, Permanent(errors.New("mailer: message has no body"))
	}
	out := outgoing{from: s.envFrom, to: envelope(to)}
	if strings.ContainsAny(out.from+out.to, "\r\n") {
		return outgoing{}, Permanent(errors.New("mailer: an address contains a line break"))
	}
	var rnd [32]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails on supported platforms

	d := &mb.dot
	d.b, d.mid = d.b[:0], false
	d.header("From", s.from.String())
	d.header("To", to.String())
	d.header("Subject", mime.QEncoding.Encode("UTF-8", oneLine(m.Subject)))
	d.b = append(d.b, "Date: "...)
	d.b = now().AppendFormat(d.b, time.RFC1123Z)
	d.b = append(d.b, "\r\nMessage-ID: <"...)
	if m.ID != "" {
		d.b = append(d.b, oneLine(m.ID)...)
	} else {
		d.b = hex.AppendEncode(d.b, rnd[:16])
	}
	d.line("@", s.domain, ">\r\n",
		"MIME-Version: 1.0\r\n",
		"Auto-Submitted: auto-generated\r\n",
		// Ask Exchange and friends not to answer with out-of-office
		// replies.
		"X-Auto-Response-Suppress: All\r\n")

	switch {
	case m.Text != "" && m.HTML != "":
		// "=_" cannot occur in quoted-printable output (every "=" there
		// is followed by a hex digit or a line end), so no line of a
		// part can be the boundary (RFC 2045, section 6.7).
		var bnd [2 + 32]byte
		copy(bnd[:], "=_")
		hex.Encode(bnd[2:], rnd[16:])
		boundary := string(bnd[:])
		d.line("Content-Type: multipart/alternative;\r\n boundary=\"", boundary, "\"\r\n\r\n",
			"--", boundary, "\r\n", partText, "\r\n")
		if err := mb.body(m.Text); err != nil {
			return outgoing{}, err
		}
		d.line("\r\n--", boundary, "\r\n", partHTML, "\r\n")
		if err := mb.body(m.HTML); err != nil {
			return outgoing{}, err
		}
		d.line("\r\n--", boundary, "--\r\n")
	case m.Text != "":
		d.line(partText, "\r\n")
		if err := mb.body(m.Text); err != nil {
			return outgoing{}, err
		}
	default:
		d.line(partHTML, "\r\n")
		if err := mb.body(m.HTML); err != nil {
			return outgoing{}, err
		}
	}
	if d.mid {
		d.line("\r\n")
	}
	d.line(".\r\n")
	out.data = d.b
	return out, nil
}

// envelope is a's address for MAIL FROM or RCPT TO: "<a@b>", quoted as
// RFC 5321 asks when the local part needs it.
func envelope(a *mail.Address) string {
	return (&mail.Address{Address: a.Address}).String()
}

// getBuffer returns a message buffer from s's pool.
func (s *SMTP) getBuffer() *msgBuffer {
	if mb, ok := s.buffers.Get().(*msgBuffer); ok {
		return mb
	}
	return new(msgBuffer)
}

// putBuffer gives mb back to s's pool, unless it grew too large to keep.
func (s *SMTP) putBuffer(mb *msgBuffer) {
	if cap(mb.dot.b) <= maxKeptBuffer {
		s.buffers.Put(mb)
	}
}
