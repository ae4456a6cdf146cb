package mailer

import "fmt"

// Options is how mail is sent: the "email" option of the JSON config.
type Options struct {
	// The transport; only "smtp". Default: smtp.
	Transport string `json:"transport,omitempty"`
	// The SMTP server, host:port. Required.
	Address string `json:"address,omitempty"`
	// The From header, e.g. "Acme <no-reply@acme.test>". Required.
	From string `json:"from,omitempty"`
	// "starttls" (required upgrade), "implicit" (TLS from the first byte,
	// port 465) or "none" (loopback servers only). Default: starttls.
	TLS string `json:"tls,omitempty"`
	// SMTP AUTH user name. Default: no authentication.
	Username string `json:"username,omitempty"`
	// SMTP AUTH password. Use a placeholder. Default: none.
	Password string `json:"password,omitempty"`
	// A directory whose files override the built-in mail templates.
	// Default: none.
	Templates string `json:"templates,omitempty"`
}

// Validate checks the options as NewSMTP would, without connecting;
// errors start with "email" and never echo the password.
func (o *Options) Validate() error {
	if o.Transport != "" && o.Transport != "smtp" {
		return fmt.Errorf("email: unknown transport %q (want smtp)", o.Transport)
	}
	if _, err := NewSMTP(o.smtp()); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return nil
}

// Build makes the sender and loads the templates (the built-in ones, with
// the files of Templates over them).
func (o *Options) Build() (Sender, *Templates, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	s, err := NewSMTP(o.smtp())
	if err != nil {
		return nil, nil, fmt.Errorf("email: %w", err)
	}
	t, err := LoadTemplates(o.Templates)
	if err != nil {
		return nil, nil, fmt.Errorf("email templates: %w", err)
	}
	return s, t, nil
}

func (o *Options) smtp() SMTPConfig {
	return SMTPConfig{Addr: o.Address, From: o.From, Username: o.Username, Password: o.Password, TLS: o.TLS}
}
