// Package mailer sends resetgate's emails: it renders them from templates
// (built in, overridable file by file), writes them as MIME messages and
// hands them to an SMTP relay; github.com/wneessen/go-mail dials it and
// does STARTTLS and AUTH. Queueing and retries live in the
// engine's durable outbox (plugin/outbox.go), so a request never waits for
// a mail server.
//
// Nothing here logs a message body, and recipient addresses appear only in
// debug-level log lines: a reset mail carries a link and a code that are as
// good as the password they replace.
package mailer

import "context"

// Message is one email ready to send.
type Message struct {
	// To is the recipient's address ("ada@example.com").
	To string
	// ToName is the recipient's display name; optional.
	ToName string
	// Subject is the Subject header, one line.
	Subject string
	// Text is the text/plain body; HTML, when set, is sent beside it as
	// multipart/alternative.
	Text, HTML string
	// Kind names the mail for logs and metrics ("reset", "changed"); it
	// never changes what is sent.
	Kind string
	// ID, when set, is the left part of the Message-ID (before the "@"):
	// the outbox keeps one per mail, so a mail sent again after a crash
	// carries the Message-ID of the first send and mail clients show it
	// once. Default: a fresh random one per send.
	ID string `json:",omitempty"`
}

// Sender delivers one message. Implementations must be safe for concurrent
// use and must not put the recipient's address, the body or any credential in
// the error they return. A Sender that keeps connections open between
// messages (SMTP) also implements io.Closer; whoever made it closes it when
// done (the engine does on Stop).
type Sender interface {
	Send(ctx context.Context, m Message) error
}
