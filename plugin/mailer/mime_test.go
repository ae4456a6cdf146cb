package mailer

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// The message compose writes (mime.go), read back as a mail client would,
// and compared with what go-mail rendered for the same Message before
// compose replaced it.

// goMailMsg is the message go-mail made for m before compose (the former
// SMTP.build), the reference compose is held to.
func goMailMsg(s *SMTP, m Message) *gomail.Msg {
	to, _ := mail.ParseAddress(m.To)
	if m.ToName != "" {
		to.Name = m.ToName
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageIDWithValue(oneLine(m.ID) + "@" + s.domain)
	msg.SetDateWithValue(now())
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if m.Text != "" {
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		if m.HTML != "" {
			msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
		}
	} else {
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg
}

// goMailData is goMailMsg's message as DATA carried it: written through
// textproto's DotWriter, as the former smtpConn.dotStuffed did.
func goMailData(buf *bytes.Buffer, tw *textproto.Writer, msg *gomail.Msg) ([]byte, error) {
	buf.Reset()
	dw := tw.DotWriter()
	if _, err := msg.WriteTo(dw); err != nil {
		return nil, err
	}
	if err := dw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decoded is what a mail client shows of a message.
type decoded struct {
	From, To                              mail.Address
	Subject, MessageID, Date, MIMEVersion string
	AutoSubmitted, AutoResponseSuppress   string
	Text, HTML                            string
	Bcc                                   string // must stay empty
}

// undot checks that data is well-formed DATA content (CRLF line ends
// only, a leading "." doubled, ending in CRLF.CRLF) and returns the
// message it carries.
func undot(t *testing.T, data []byte) []byte {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n.\r\n")) {
		t.Fatalf("data does not end in CRLF.CRLF: %q", tail(data))
	}
	data = data[:len(data)-3]
	var msg []byte
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) || bytes.ContainsAny(line[:len(line)-2], "\r\n") {
			t.Fatalf("line %d does not end in CRLF alone: %q", i+1, line)
		}
		if len(line) > 1000 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
		if line[0] == '.' {
			if len(line) < 2 || line[1] != '.' {
				t.Fatalf("line %d starts with a lone dot: %q", i+1, line)
			}
			line = line[1:]
		}
		msg = append(msg, line...)
	}
	return msg
}

func tail(b []byte) []byte { return b[max(0, len(b)-20):] }

// decode reads DATA content as a mail client would. Quoted-printable
// lines must stay within 76 characters.
func decode(t *testing.T, data []byte) decoded {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(undot(t, data)))
	if err != nil {
		t.Fatalf("reading the message: %v", err)
	}
	h := msg.Header
	var d decoded
	for name, dst := range map[string]*mail.Address{"From": &d.From, "To": &d.To} {
		list, err := h.AddressList(name)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: %v %v", name, list, err)
		}
		*dst = *list[0]
	}
	var wd mime.WordDecoder
	if d.Subject, err = wd.DecodeHeader(h.Get("Subject")); err != nil {
		t.Fatalf("Subject %q: %v", h.Get("Subject"), err)
	}
	d.MessageID, d.Date, d.MIMEVersion = h.Get("Message-Id"), h.Get("Date"), h.Get("Mime-Version")
	d.AutoSubmitted, d.AutoResponseSuppress = h.Get("Auto-Submitted"), h.Get("X-Auto-Response-Suppress")
	d.Bcc = h.Get("Bcc")

	part := func(ct, cte string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || params["charset"] != "UTF-8" || !strings.EqualFold(cte, "quoted-printable") {
			t.Fatalf("part %q (%v), encoding %q", ct, err, cte)
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(raw), "\r\n") {
			if len(line) > 76 {
				t.Fatalf("quoted-printable line of %d characters: %q", len(line), line)
			}
		}
		text, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("quoted-printable: %v", err)
		}
		switch mt {
		case "text/plain":
			d.Text = string(text)
		case "text/html":
			d.HTML = string(text)
		default:
			t.Fatalf("part type %q", mt)
		}
	}
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ct, err)
	}
	if mt != "multipart/alternative" {
		part(ct, h.Get("Content-Transfer-Encoding"), msg.Body)
		return d
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		part(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
	}
	return d
}

// composeData is compose's DATA content for m.
func composeData(t *testing.T, s *SMTP, m Message) []byte {
	t.Helper()
	out, err := s.compose(new(dotBuffer), m)
	if err != nil {
		t.Fatal(err)
	}
	if out.from != "<no-reply@acme.test>" || out.to != "<"+m.To+">" {
		t.Errorf("envelope %q -> %q", out.from, out.to)
	}
	return out.data
}

// crlf is text with its line breaks as a quoted-printable decoder returns
// them, and ended as in a single-part message when single.
func crlf(text string, single bool) string {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	text = strings.ReplaceAll(text, "\n", "\r\n")
	if single && !strings.HasSuffix(text, "\r\n") {
		text += "\r\n"
	}
	return text
}

func TestComposeMatchesGoMail(t *testing.T) {
	at := time.Date(2026, 12, 4, 23, 30, 5, 0, time.FixedZone("CET", 3600))
	now = func() time.Time { return at }
	t.Cleanup(func() { now = time.Now })

	long := strings.Repeat("0123456789 abcdefghij=", 12) + "\n" + strings.Repeat("x", 300)
	dots := ".\n..\n.leading dot\n. \nend.\n.\n"
	cases := []struct {
		name string
		m    Message
	}{
		{"ASCII text and HTML", testMessage()},
		{"dots, long lines, CR and LF", Message{Subject: "Dots", Text: dots + long + "\r\nwindows\r\nmac\rold  \t\n", HTML: "<p>" + long + "</p>\r\n." + dots}},
		{"German", Message{ToName: "Jürgen Müller, \"Abt. Überprüfung\"", Subject: "Ihr Passwort für Straße & Söhne wurde geändert – bitte prüfen Sie, ob Sie das waren",
			Text: "Grüße aus Köln.\n.Äpfel\n" + strings.Repeat("ÄÖÜäöüß", 30), HTML: "<p>Grüße</p>"}},
		{"Arabic", Message{ToName: "محمد عبد الله", Subject: "تم تغيير كلمة المرور الخاصة بك",
			Text: "مرحبا، تم تغيير كلمة المرور.\n.نقطة\n", HTML: "<p dir=\"rtl\">مرحبا</p>\n"}},
		{"Japanese text only", Message{ToName: "山田太郎", Subject: "パスワードが変更されました。心当たりがない場合はサポートまでご連絡ください",
			Text: strings.Repeat("パスワードが変更されました。", 20) + "\n"}},
		{"HTML only", Message{ToName: "Ada", Subject: "HTML", HTML: ".<p>hi</p>\n.\n<p>" + long + "</p>"}},
		{"one line no break", Message{Subject: "x", Text: "."}},
	}
	s := newSMTP(t, SMTPConfig{Addr: "127.0.0.1:25", From: "Äcme Straße GmbH <no-reply@acme.test>", TLS: "none"})
	var buf bytes.Buffer
	tw := textproto.NewWriter(bufio.NewWriter(&buf))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			m.To, m.ID = testTo, "outbox-id-1"
			got := decode(t, composeData(t, s, m))

			ref, err := goMailData(&buf, tw, goMailMsg(s, m))
			if err != nil {
				t.Fatal(err)
			}
			want := decode(t, ref)
			if got != want {
				t.Errorf("compose and go-mail differ:\ncompose: %+v\ngo-mail: %+v", got, want)
			}

			// And both say what m says.
			single := m.Text == "" || m.HTML == ""
			exp := decoded{
				From: mail.Address{Name: "Äcme Straße GmbH", Address: "no-reply@acme.test"}, To: mail.Address{Name: m.ToName, Address: testTo},
				Subject: m.Subject, MessageID: "<outbox-id-1@acme.test>", Date: "Fri, 04 Dec 2026 23:30:05 +0100", MIMEVersion: "1.0",
				AutoSubmitted: "auto-generated", AutoResponseSuppress: "All",
			}
			if m.Text != "" {
				exp.Text = crlf(m.Text, single)
			}
			if m.HTML != "" {
				exp.HTML = crlf(m.HTML, single)
			}
			if got != exp {
				t.Errorf("decoded message differs from its input:\ngot:  %+v\nwant: %+v", got, exp)
			}
		})
	}
}

// Line breaks in the subject and the names cannot add a header.
func TestComposeHeaderInjection(t *testing.T) {
	s := newSMTP(t, SMTPConfig{Addr: "127.0.0.1:25", From: testFrom, TLS: "none"})
	m := testMessage()
	m.Subject = "Hi\r\nBcc: evil@example.org\r\n\r\nbody"
	m.ToName = "Ada\r\nBcc: evil@example.org"
	d := decode(t, composeData(t, s, m))
	if d.Bcc != "" {
		t.Fatalf("Bcc header injected: %q", d.Bcc)
	}
	if d.Subject != "Hi Bcc: evil@example.org body" || d.To.Name != m.ToName {
		t.Errorf("Subject %q, To name %q", d.Subject, d.To.Name)
	}
}

// The boundary is fresh per message and no line of a part is it, even when
// a part holds what looks like one.
func TestComposeBoundary(t *testing.T) {
	s := newSMTP(t, SMTPConfig{Addr: "127.0.0.1:25", From: testFrom, TLS: "none"})
	boundary := func(data []byte) string {
		msg, err := mail.ReadMessage(bytes.NewReader(undot(t, data)))
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || len(params["boundary"]) < 32 {
			t.Fatalf("boundary %q: %v", params["boundary"], err)
		}
		return params["boundary"]
	}
	first := composeData(t, s, testMessage())
	b1 := boundary(first)
	m := testMessage()
	m.Text = "--" + b1 + "\n--" + b1 + "--\n"
	m.HTML = m.Text
	data := composeData(t, s, m)
	b2 := boundary(data)
	if b1 == b2 {
		t.Fatalf("boundary %q used twice", b1)
	}
	if n := bytes.Count(data, []byte("--"+b2)); n != 3 {
		t.Errorf("boundary occurs %d times, want 3 (two parts and the end)", n)
	}
	if d := decode(t, data); d.Text != crlf(m.Text, false) || d.HTML != d.Text {
		t.Errorf("parts %q, %q", d.Text, d.HTML)
	}
}

// quotedPrintable writes what mime/quotedprintable's Writer writes, byte
// for byte once the stuffing dots are taken out, for text made of the
// characters where encoders go wrong: line breaks of every kind, spaces
// and tabs before them, "=", ".", control and non-ASCII bytes, at every
// position around the 76-character limit. The Writer is given the text
// with its line breaks made LF: it loses the LF of "\r", an encoded
// byte, "\n" (its CR flag survives the encoded byte), which
// quotedPrintable keeps as a second line break.
func TestQuotedPrintableMatchesStdlib(t *testing.T) {
	alphabet := []string{" ", "\t", "\r", "\n", "\r\n", ".", "=", "a", "bcdefghij", "ä", "\x00", "\xff", "\x7f", "~"}
	rng := rand.New(rand.NewPCG(1, 2))
	lf := strings.NewReplacer("\r\n", "\n", "\r", "\n")
	var d dotBuffer
	var want bytes.Buffer
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(120) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		text := sb.String()
		d.b, d.mid = d.b[:0], false
		d.quotedPrintable(text)
		got := strings.ReplaceAll("\r\n"+string(d.b), "\r\n..", "\r\n.")[2:]
		if d.mid != (len(got) > 0 && !strings.HasSuffix(got, "\r\n")) {
			t.Fatalf("%q: mid = %v after %q", text, d.mid, got)
		}
		for line := range strings.SplitSeq(string(d.b), "\r\n") {
			if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, "..") {
				t.Fatalf("%q: lone leading dot in %q", text, d.b)
			}
		}
		want.Reset()
		w := quotedprintable.NewWriter(&want)
		_, _ = w.Write([]byte(lf.Replace(text)))
		_ = w.Close()
		if got != want.String() {
			t.Fatalf("%q:\ngot  %q\nwant %q", text, got, want.String())
		}
	}
}

// benchMessage is the "password changed" mail as the engine renders it.
func benchMessage(b *testing.B) Message {
	tpl, err := LoadTemplates("")
	if err != nil {
		b.Fatal(err)
	}
	subject, text, html, err := tpl.Render("changed", ChangedData{SiteName: "Acme", UserName: "Ada Lovelace",
		ChangedAt: time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC), RequestIP: "203.0.113.7",
		ResetLink: "https://app.example.com/password-reset", SupportContact: "help@acme.test"})
	if err != nil {
		b.Fatal(err)
	}
	return Message{To: testTo, ToName: "Ada Lovelace", Subject: subject, Text: text, HTML: html, Kind: "changed", ID: "0123456789abcdef0123456789abcdef"}
}

// BenchmarkComposeGoMail is the message as it was made before compose:
// go-mail's Msg, written through textproto's DotWriter into a reused
// buffer.
func BenchmarkComposeGoMail(b *testing.B) {
	s, err := NewSMTP(SMTPConfig{Addr: "127.0.0.1:25", From: testFrom, TLS: "none"})
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage(b)
	var buf bytes.Buffer
	tw := textproto.NewWriter(bufio.NewWriter(&buf))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := goMailData(&buf, tw, goMailMsg(s, m)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompose is compose into a reused buffer.
func BenchmarkCompose(b *testing.B) {
	s, err := NewSMTP(SMTPConfig{Addr: "127.0.0.1:25", From: testFrom, TLS: "none"})
	if err != nil {
		b.Fatal(err)
	}
	m := benchMessage(b)
	mb := new(dotBuffer)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.compose(mb, m); err != nil {
			b.Fatal(err)
		}
	}
}
