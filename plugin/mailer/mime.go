package mailer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"net/mail"
	"strings"
	"time"
)

// The message itself. compose writes the MIME message for one Message
// straight into the form DATA carries on the wire (CRLF line ends, a
// leading "." doubled, closed by CRLF.CRLF), in one pass into a buffer
// that later messages reuse. Both transaction paths (smtp_pipe.go) send
// these bytes as they are. Bodies are quoted-printable from our own
// encoder, which writes what mime/quotedprintable's Writer writes (a test
// holds it to that) without its per-line writes and a second pass for
// dot-stuffing.

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

// dotBuffer collects DATA content. Text appended with line and header
// must not start a line with "." (headers and MIME delimiters never do);
// quotedPrintable doubles a "." that starts a line.
type dotBuffer struct {
	b   []byte
	mid bool // the last byte written did not end a line
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

// qpLine is the longest line quotedPrintable writes, soft break included
// (RFC 2045, section 6.7).
const qpLine = 76

// quotedPrintable appends text in quoted-printable, as mime/quotedprintable's
// Writer in text mode encodes it (line breaks of any kind become CRLF,
// space and tab before a line end are encoded, lines stay within qpLine
// characters), dot-stuffed. Its last line is left open: the CRLF after it
// belongs to what follows (a MIME delimiter, or the end of data).
func (d *dotBuffer) quotedPrintable(text string) {
	b := d.b
	col := 0 // characters on the current line, a stuffing dot not counted
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\r' || c == '\n':
			i++
			if c == '\r' && i < len(text) && text[i] == '\n' {
				i++
			}
			b, col = qpEndLine(b, col)
			b, col = append(b, "\r\n"...), 0
		case qpLiteral(c):
			if col == qpLine-1 {
				b, col = append(b, "=\r\n"...), 0
			}
			if col == 0 && c == '.' {
				b = append(b, '.')
			}
			// The run of literal characters that fits on the line.
			j, end := i+1, min(len(text), i+qpLine-1-col)
			for j < end && qpLiteral(text[j]) {
				j++
			}
			b, col = append(b, text[i:j]...), col+j-i
			i = j
		default:
			b, col = qpEncode(b, col, c)
			i++
		}
	}
	b, col = qpEndLine(b, col)
	d.b, d.mid = b, col > 0
}

// qpLiteral reports whether quoted-printable keeps c as it is (a space or
// tab only where no line end follows).
func qpLiteral(c byte) bool {
	return c >= ' ' && c <= '~' && c != '=' || c == '\t'
}

// qpEncode appends c as "=XX" to a line of col characters, after a soft
// line break when it would not fit.
func qpEncode(b []byte, col int, c byte) ([]byte, int) {
	const hex = "0123456789ABCDEF"
	if col > qpLine-4 {
		b, col = append(b, "=\r\n"...), 0
	}
	return append(b, '=', hex[c>>4], hex[c&15]), col + 3
}

// qpEndLine encodes the space or tab that ends a line of col characters,
// if any.
func qpEndLine(b []byte, col int) ([]byte, int) {
	if col == 0 {
		return b, col
	}
	if c := b[len(b)-1]; c == ' ' || c == '\t' {
		return qpEncode(b[:len(b)-1], col-1, c)
	}
	return b, col
}

const (
	partText = "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	partHTML = "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
)

// compose checks m and writes it into d as the content of DATA: From
// (with its display name), To (with ToName), Subject (RFC 2047 encoded
// when not ASCII), Date, Message-ID, MIME-Version, Auto-Submitted:
// auto-generated and X-Auto-Response-Suppress: All, then the text, the
// HTML, or both as multipart/alternative, each as UTF-8 in
// quoted-printable.
func (s *SMTP) compose(d *dotBuffer, m Message) (outgoing, error) {
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
		d.quotedPrintable(m.Text)
		d.line("\r\n--", boundary, "\r\n", partHTML, "\r\n")
		d.quotedPrintable(m.HTML)
		d.line("\r\n--", boundary, "--\r\n")
	case m.Text != "":
		d.line(partText, "\r\n")
		d.quotedPrintable(m.Text)
	default:
		d.line(partHTML, "\r\n")
		d.quotedPrintable(m.HTML)
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
func (s *SMTP) getBuffer() *dotBuffer {
	if d, ok := s.buffers.Get().(*dotBuffer); ok {
		return d
	}
	return new(dotBuffer)
}

// putBuffer gives d back to s's pool, unless it grew too large to keep.
func (s *SMTP) putBuffer(d *dotBuffer) {
	if cap(d.b) <= maxKeptBuffer {
		s.buffers.Put(d)
	}
}
