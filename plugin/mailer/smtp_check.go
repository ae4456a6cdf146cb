package mailer

import "context"

// Checker is implemented by senders that can test their connection without
// sending anything a user would see.
type Checker interface {
	// Check connects, greets, negotiates TLS and authenticates, then quits.
	Check(ctx context.Context) error
}

// Check implements Checker: the server must greet, take STARTTLS (or
// implicit TLS) as configured, and accept AUTH when credentials are set.
// No message is sent. The error holds neither the password nor a body.
// It dials as a send does (dial, which closes the connection when a step
// fails) and ends with QUIT.
func (s *SMTP) Check(ctx context.Context) error {
	c, err := s.dial(ctx)
	if err != nil {
		return s.redact(err, "")
	}
	s.quit(c)
	return nil
}

var _ Checker = (*SMTP)(nil)
