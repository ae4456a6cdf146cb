package portal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"net/smtp"
	"strings"
	"text/template"
	"time"
)

// Mail is one message the portal sends.
type Mail struct {
	// From is the From header, e.g. "Acme Support <support@acme.test>".
	From string
	// To is the recipient's address.
	To string
	// Subject is the subject line (UTF-8).
	Subject string
	// Text is the plain-text body.
	Text string
}

var resetText = template.Must(template.New("reset").Parse(`Hello{{if .Name}} {{.Name}}{{end}},

our support team started a password reset for your {{.Brand}} account.
Choose a new password here:

{{.URL}}

The link works once and until {{.Expires}}.
If you did not ask our support for this, ignore this mail: your password
stays as it is.

-- 
{{.Brand}} Support
`))

// ResetMail writes the portal's branded reset mail for an issued token.
func ResetMail(brand, from, to, name string, iss *Issued) (Mail, error) {
	var b strings.Builder
	err := resetText.Execute(&b, map[string]string{
		"Brand": brand, "Name": name, "URL": iss.URL,
		"Expires": iss.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"),
	})
	if err != nil {
		return Mail{}, err
	}
	return Mail{From: from, To: to, Subject: "Your " + brand + " password reset", Text: b.String()}, nil
}

// Bytes renders the message (RFC 5322, UTF-8 text). Addresses are parsed
// and re-encoded, and header fields holding CR or LF are refused, so no
// value can add a header.
func (m Mail) Bytes() ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("portal: From: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("portal: To: %w", err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("portal: the subject holds a line break")
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes(), nil
}

// SendSMTP sends m through the SMTP server at addr (host:port). It uses
// STARTTLS when the server offers it; this example sends without
// authentication, as to a local relay.
func SendSMTP(addr string, m Mail) error {
	msg, err := m.Bytes()
	if err != nil {
		return err
	}
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)
	if err := smtp.SendMail(addr, nil, from.Address, []string{to.Address}, msg); err != nil {
		return fmt.Errorf("portal: sending mail via %s: %w", addr, err)
	}
	return nil
}
