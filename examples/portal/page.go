package portal

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// PagePath is where the portal's set-new-password page lives; the
// Caddyfile's link_path points here.
const PagePath = "/portal/reset"

//go:embed reset.js
var resetJS []byte

// Page serves the portal's set-new-password page:
//
//	GET  /portal/reset?token=…  the form (the token goes into a hidden field)
//	GET  /portal/reset.js       its script: posts JSON to {prefix}/complete
//	POST /portal/reset          the same without JavaScript: the portal
//	                            forwards the form to {prefix}/complete
type Page struct {
	// Brand is the product name on the page.
	Brand string
	// ResetgateURL is where the portal reaches resetgate (Caddy) for the
	// token preflight and the no-JavaScript fallback, e.g.
	// http://127.0.0.1:8000. Required.
	ResetgateURL string
	// Prefix is resetgate's prefix. Default: DefaultPrefix.
	Prefix string
	// HTTP sends the requests to resetgate. Default: a client with a 10 s
	// timeout.
	HTTP *http.Client
}

// Handler returns the page's routes.
func (p *Page) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET "+PagePath, p.show)
	m.Handle("POST "+PagePath, http.NewCrossOriginProtection().Handler(http.HandlerFunc(p.submit)))
	m.HandleFunc("GET "+PagePath+".js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(resetJS)
	})
	return m
}

// tokenRE is the shape of a resetgate token (43 base64url characters);
// anything else is not worth asking about.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{20,128}$`)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Choose a new password · {{.Brand}}</title>
<script src="{{.Path}}.js" defer></script>
</head>
<body>
<h1>{{.Brand}}: choose a new password</h1>
{{- if .Done}}
<p id="result" role="status">Your password was changed. You can sign in with it now.</p>
<p><a href="/">Sign in</a></p>
{{- else if .Invalid}}
<p id="result" role="alert">This link is no longer valid. Ask our support for a new one.</p>
{{- else}}
<p id="result" role="status">{{range .Errors}}{{.}} {{end}}</p>
<form id="reset" method="post" action="{{.Path}}" data-complete="{{.Complete}}">
<input type="hidden" name="token" value="{{.Token}}">
<label>New password <input name="password" type="password" autocomplete="new-password" required minlength="12"></label>
<label>Repeat it <input name="confirm" type="password" autocomplete="new-password" required minlength="12"></label>
<button type="submit">Set password</button>
</form>
{{- end}}
</body>
</html>
`))

type pageData struct {
	Brand, Path, Complete, Token string
	Errors                       []string
	Done, Invalid                bool
}

func (p *Page) render(w http.ResponseWriter, status int, d pageData) {
	d.Brand, d.Path, d.Complete = p.Brand, PagePath, prefixOr(p.Prefix)+"/complete"
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The token is in this page's URL: no Referer may carry it away.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func (p *Page) base() string { return strings.TrimSuffix(p.ResetgateURL, "/") + prefixOr(p.Prefix) }

// show renders the form for a token that resetgate still knows (the
// preflight never consumes it).
func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if !tokenRE.MatchString(token) {
		p.render(w, http.StatusNotFound, pageData{Invalid: true})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.base()+"/tokens/"+url.PathEscape(token), nil)
	if err == nil {
		if resp, err := httpClient(p.HTTP).Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				p.render(w, http.StatusNotFound, pageData{Invalid: true})
				return
			}
		}
	}
	// resetgate unreachable: show the form; complete will say.
	p.render(w, http.StatusOK, pageData{Token: token})
}

// submit is the no-JavaScript path: the form comes to the portal, which
// posts it to resetgate's complete as the script would.
func (p *Page) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, pageData{Errors: []string{"The form could not be read."}})
		return
	}
	token := r.PostForm.Get("token")
	if !tokenRE.MatchString(token) {
		p.render(w, http.StatusNotFound, pageData{Invalid: true})
		return
	}
	body := map[string]string{"token": token, "password": r.PostForm.Get("password"), "confirm": r.PostForm.Get("confirm")}
	status, answer, err := postJSON(r.Context(), p.HTTP, p.base()+"/complete", body)
	switch {
	case err != nil:
		p.render(w, http.StatusBadGateway, pageData{Token: token, Errors: []string{"The password service cannot be reached; try again."}})
	case status == http.StatusOK:
		p.render(w, http.StatusOK, pageData{Done: true})
	default:
		msgs, invalid := explain(answer)
		if invalid {
			p.render(w, http.StatusNotFound, pageData{Invalid: true})
			return
		}
		p.render(w, status, pageData{Token: token, Errors: msgs})
	}
}

// messages explain resetgate's error codes and policy details; reset.js
// holds the same list.
var messages = map[string]string{
	"TOO_SHORT":           "The password is too short (12 characters at least).",
	"TOO_LONG":            "The password is too long.",
	"MISMATCH":            "The two passwords differ.",
	"CONTAINS_IDENTIFIER": "The password contains your name, address or the site's name.",
	"COMMON":              "This password is too common.",
	"TOO_WEAK":            "This password is too easy to guess.",
	"BREACHED":            "This password appeared in a data breach.",
	"SAME_AS_OLD":         "This is your current password; choose another one.",
	"TOKEN_BUSY":          "This link is being used right now; try again in a moment.",
	"UPSTREAM_FAILED":     "The password could not be saved right now; try again.",
	"RATE_LIMITED":        "Too many attempts; try again later.",
}

// explain turns an error answer into sentences, and reports a dead token.
func explain(answer []byte) ([]string, bool) {
	var b errorBody
	if json.Unmarshal(answer, &b) != nil || len(b.Errors) == 0 {
		return []string{"Something went wrong; try again."}, false
	}
	var out []string
	for _, e := range b.Errors {
		if e.Code == "TOKEN_INVALID" {
			return nil, true
		}
		key := e.Code
		if e.Code == "PASSWORD_POLICY_VIOLATED" {
			key = e.Detail
		}
		if m, ok := messages[key]; ok {
			out = append(out, m)
		} else {
			out = append(out, "Something went wrong; try again.")
		}
	}
	return out, false
}
