// Command mailbox is the demo's mail outbox: an SMTP server that keeps every
// message in memory and a small web page to read them.
//
//	go run ./examples/mailbox [-smtp 127.0.0.1:1025] [-http 127.0.0.1:8025]
//
// Point resetgate at it with
//
//	email smtp 127.0.0.1:1025 {
//		from "Legacy App <no-reply@example.test>"
//		tls  none
//	}
//
// and open http://127.0.0.1:8025. Scripts read GET /api/messages (newest
// first; ?to=address filters by recipient), GET /api/messages/{id}, and
// empty the box with DELETE /api/messages.
//
// The mails hold live reset links and codes: keep both addresses on loopback.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"html/template"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resetgate/resetgate/internal/mailbox"
)

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:1025", "SMTP listen address")
	httpAddr := flag.String("http", "127.0.0.1:8025", "web UI listen address")
	flag.Parse()
	for _, a := range []string{*smtpAddr, *httpAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil && !isLoopback(host) {
			log.Printf("warning: %s is not a loopback address; anyone who reaches it can read reset links", a)
		}
	}

	mb, err := mailbox.Start(mailbox.Options{
		Addr: *smtpAddr,
		OnMessage: func(m mailbox.Mail) {
			log.Printf("mail #%d received: %q", m.ID, m.Subject)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer mb.Close()

	srv := &http.Server{
		Addr:              *httpAddr,
		Handler:           newUI(mb),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("SMTP on %s, mails at http://%s", mb.Addr(), ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// newUI serves the pages and the JSON API.
func newUI(mb *mailbox.Server) http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		msgs := newestFirst(mb.Messages())
		page(w, listPage, msgs)
	})

	mux.HandleFunc("GET /messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := lookup(mb, r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		page(w, messagePage, struct {
			mailbox.Mail
			TextHTML template.HTML
		}{m, linkify(m.Text)})
	})

	// The mail's own HTML, shown in a sandboxed iframe: no scripts, no
	// forms, no remote content; links open in a new, unsandboxed tab so the
	// reset pages work.
	mux.HandleFunc("GET /messages/{id}/html", func(w http.ResponseWriter, r *http.Request) {
		m, ok := lookup(mb, r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "+
			"form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(withBaseTarget(m.HTML)))
	})

	mux.HandleFunc("GET /messages/{id}/raw", func(w http.ResponseWriter, r *http.Request) {
		m, ok := lookup(mb, r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(m.Raw)
	})

	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		msgs := newestFirst(mb.Messages())
		if to := r.URL.Query().Get("to"); to != "" {
			msgs = slices.DeleteFunc(msgs, func(m mailbox.Mail) bool {
				return !slices.ContainsFunc(m.To, func(a string) bool { return strings.EqualFold(a, to) })
			})
		}
		out := make([]apiMessage, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, toAPI(m))
		}
		writeJSON(w, out)
	})

	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := lookup(mb, r)
		if !ok {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		writeJSON(w, toAPI(m))
	})

	mux.HandleFunc("DELETE /api/messages", func(w http.ResponseWriter, r *http.Request) {
		mb.Clear()
		w.WriteHeader(http.StatusNoContent)
	})

	return mux
}

func lookup(mb *mailbox.Server, r *http.Request) (mailbox.Mail, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return mailbox.Mail{}, false
	}
	return mb.Message(id)
}

func newestFirst(msgs []mailbox.Mail) []mailbox.Mail {
	slices.Reverse(msgs)
	return msgs
}

// apiMessage is one message in the JSON API.
type apiMessage struct {
	ID       int       `json:"id"`
	From     string    `json:"from"`
	To       []string  `json:"to"`
	Subject  string    `json:"subject"`
	Received time.Time `json:"received"`
	TLS      bool      `json:"tls"`
	Text     string    `json:"text"`
	HTML     string    `json:"html"`
}

func toAPI(m mailbox.Mail) apiMessage {
	return apiMessage{ID: m.ID, From: m.From, To: m.To, Subject: m.Subject, Received: m.Received,
		TLS: m.TLS, Text: m.Text, HTML: m.HTML}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func page(w http.ResponseWriter, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; "+
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if err := t.Execute(w, data); err != nil {
		log.Printf("render page: %v", err)
	}
}

// withBaseTarget makes every link in doc open in a new tab: it adds
// <base target="_blank"> inside <head>, or in front when there is none (in
// front of a doctype it would switch the page to quirks mode).
func withBaseTarget(doc string) string {
	const base = `<base target="_blank">`
	if i := strings.Index(strings.ToLower(doc), "<head"); i >= 0 {
		if j := strings.IndexByte(doc[i:], '>'); j >= 0 {
			k := i + j + 1
			return doc[:k] + base + doc[k:]
		}
	}
	return base + doc
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"']+`)

// linkify escapes text and turns http(s) URLs in it into links that open in
// a new tab.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range urlRE.FindAllStringIndex(text, -1) {
		start, end := loc[0], loc[1]
		// Sentence punctuation after a URL is not part of it.
		for end > start && strings.ContainsRune(".,;:!?)", rune(text[end-1])) {
			end--
		}
		b.WriteString(template.HTMLEscapeString(text[last:start]))
		u := template.HTMLEscapeString(text[start:end])
		b.WriteString(`<a href="` + u + `" target="_blank" rel="noreferrer">` + u + `</a>`)
		last = end
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String()) //nolint:gosec // every piece is escaped above
}

const style = `<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px}header a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:960px;margin:20px auto;padding:0 16px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td a{color:#0969da}
pre{background:#fff;border:1px solid #d0d7de;padding:12px;white-space:pre-wrap;word-break:break-word}
iframe{width:100%;height:640px;border:1px solid #d0d7de;background:#fff}
.muted{color:#57606a;font-size:13px}
</style>`

var funcs = template.FuncMap{
	"when": func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
	"join": func(s []string) string { return strings.Join(s, ", ") },
}

var listPage = template.Must(template.New("list").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Mailbox ({{len .}})</title>` + style + `</head><body>
<header><a href="/">Mailbox</a></header>
<main>
{{if .}}
<table>
<tr><th>Received</th><th>To</th><th>Subject</th></tr>
{{range .}}<tr><td class="muted">{{when .Received}}</td><td>{{join .To}}</td><td><a href="/messages/{{.ID}}">{{or .Subject "(no subject)"}}</a></td></tr>
{{end}}</table>
{{else}}<p>No mail yet. This page refreshes every 5 seconds.</p>{{end}}
<p class="muted">JSON for scripts: <a href="/api/messages">/api/messages</a></p>
</main></body></html>`))

var messagePage = template.Must(template.New("message").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Subject}}</title>` + style + `</head><body>
<header><a href="/">← Mailbox</a></header>
<main>
<table>
<tr><th>Subject</th><td>{{.Subject}}</td></tr>
<tr><th>From</th><td>{{.Header.Get "From"}} <span class="muted">(envelope {{.From}})</span></td></tr>
<tr><th>To</th><td>{{join .To}}</td></tr>
<tr><th>Received</th><td>{{when .Received}}{{if .TLS}} over TLS{{end}}{{with .AuthUser}}, authenticated as {{.}}{{end}}</td></tr>
</table>
{{if .HTML}}<h3>HTML</h3>
<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" src="/messages/{{.ID}}/html" title="HTML body"></iframe>{{end}}
{{if .Text}}<h3>Text</h3>
<pre>{{.TextHTML}}</pre>{{end}}
<p class="muted"><a href="/messages/{{.ID}}/raw">Raw message</a> · <a href="/api/messages/{{.ID}}">JSON</a></p>
</main></body></html>`))
