package mailbox

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Mail is one message the server accepted.
type Mail struct {
	// ID numbers messages in arrival order, from 1.
	ID int
	// From is the envelope sender (MAIL FROM); the From header is in Header.
	From string
	// To are the envelope recipients (RCPT TO), in order.
	To []string
	// Subject is the decoded Subject header.
	Subject string
	// Text is the decoded text/plain body (the first one found), in UTF-8
	// with LF line ends.
	Text string
	// HTML is the decoded text/html body (the first one found), in UTF-8
	// with LF line ends.
	HTML string
	// Header holds the top-level header fields as sent (not decoded).
	Header mail.Header
	// Raw is the message exactly as received after DATA.
	Raw []byte
	// Received is when the server accepted the message.
	Received time.Time
	// TLS reports whether the connection was encrypted (STARTTLS or
	// implicit TLS) when the message was sent.
	TLS bool
	// AuthUser is the user name the client authenticated as, or "".
	AuthUser string
	// Conn numbers the connection the message came in on, from 1 in the
	// order the server accepted them: messages sent over one kept-open
	// connection share it.
	Conn int
}

// Parse decodes a raw RFC 5322 message: headers, Subject (RFC 2047 encoded
// words), and the text and HTML bodies of single-part or multipart messages
// (nested multipart/mixed and multipart/alternative included), undoing
// quoted-printable and base64 transfer encodings. Envelope fields (From, To)
// and connection fields are left empty. On a malformed message Parse returns
// what it could read together with the error; Raw is always set.
func Parse(raw []byte) (Mail, error) {
	m := Mail{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("mailbox: read message: %w", err)
	}
	m.Header = msg.Header
	m.Subject = decodeHeader(msg.Header.Get("Subject"))
	err = m.walk(partHeader(msg.Header), msg.Body, 0)
	return m, err
}

// partHeader is the part of a header the body walker needs; both mail.Header
// and textproto.MIMEHeader provide it.
type partHeader interface {
	Get(key string) string
}

const maxDepth = 8

func (m *Mail) walk(h partHeader, body io.Reader, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("mailbox: multipart nested deeper than %d", maxDepth)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("mailbox: content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart keeps Content-Transfer-Encoding visible, so
			// every part is decoded by the same code below.
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailbox: multipart: %w", err)
			}
			if err := m.walk(p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}
	if disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disp == "attachment" {
		return nil
	}
	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil
	}
	data, err := io.ReadAll(decodeTransfer(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("mailbox: decode %s body: %w", mediaType, err)
	}
	// Mail travels with CRLF line ends; Go code and scripts expect LF.
	text := strings.ReplaceAll(toUTF8(params["charset"], data), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && m.Text == "":
		m.Text = text
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = text
	}
	return nil
}

func decodeTransfer(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips CR and LF, so wrapped lines are fine.
		return base64.NewDecoder(base64.StdEncoding, r)
	default: // 7bit, 8bit, binary
		return r
	}
}

// toUTF8 converts the charsets a mail library realistically uses for text
// parts; anything else is returned as is.
func toUTF8(charset string, b []byte) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1":
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	default:
		if !utf8.Valid(b) {
			return strings.ToValidUTF8(string(b), "\uFFFD")
		}
		return string(b)
	}
}

var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(toUTF8(charset, b)), nil
	},
}

func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
