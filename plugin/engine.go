// Package plugin is resetgate's engine, free of Caddy: the reset flows,
// tokens and codes, the password policy, the upstream hooks, the mail and
// the hosted pages, served as a plain net/http handler.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/mailer"
	"github.com/resetgate/resetgate/store"
)

// Proof methods a user may use to prove who they are.
const (
	MethodLink = "link"
	MethodCode = "code"
)

// Next steps of a flow (the Airlock "nextStep").
const (
	StepCodeRequired        = "CODE_REQUIRED"
	StepLinkRequired        = "LINK_REQUIRED"
	StepNewPasswordRequired = "NEW_PASSWORD_REQUIRED"
	StepDone                = "DONE"
)

// Engine serves the reset API and pages.
type Engine struct {
	cfg        Config
	keys       *keys
	store      store.Store
	log        *zap.Logger
	now        func() time.Time
	base       *url.URL
	mux        *http.ServeMux
	users      directory.Directory
	canVerify  bool
	usersWait  time.Duration
	jobs       chan requestJob
	mail       *outbox
	requests   *requestQueue
	counters   *localCounter
	webauthn   *webauthn.WebAuthn
	pages      *pages
	cancel     context.CancelFunc
	workCancel context.CancelFunc
	wg         sync.WaitGroup
	workers    sync.WaitGroup
	selftest   selfTestState
}

// New checks cfg, fills defaults and returns an engine. Call Start before
// serving and Stop when done.
func New(cfg Config, st store.Store, log *zap.Logger) (*Engine, error) {
	if st == nil {
		return nil, errors.New("no store")
	}
	if log == nil {
		log = zap.NewNop()
	}
	k, err := deriveKeys(cfg.Key)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL)
	base.Path = strings.TrimSuffix(base.Path, "/")
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.logger = log
	defaults(&cfg)
	if err := checkHookURLs(cfg); err != nil {
		return nil, err
	}
	if cfg.Templates == nil {
		if cfg.Templates, err = mailer.LoadTemplates(""); err != nil {
			return nil, fmt.Errorf("loading built-in mail templates: %w", err)
		}
	}
	e := &Engine{
		cfg:   cfg,
		keys:  k,
		store: st,
		log:   log,
		now:   cfg.Clock.Now,
		base:  base,
		jobs:  make(chan requestJob, cfg.QueueSize),
	}
	e.setUsers()
	if cfg.LocalCounters {
		e.counters = newLocalCounter()
	}
	if e.requests, err = newRequestQueue(e); err != nil {
		return nil, fmt.Errorf("request queue: %w", err)
	}
	if cfg.Mail != nil {
		if e.mail, err = newOutbox(e, cfg.Mail); err != nil {
			return nil, fmt.Errorf("mail outbox: %w", err)
		}
	}
	if cfg.Passkey != nil {
		if e.webauthn, err = newWebAuthn(cfg.Passkey); err != nil {
			return nil, err
		}
	}
	if e.pages, err = newPages(e, e.pageSettings(), cfg.Pages); err != nil {
		return nil, err
	}
	if err := e.themeMail(); err != nil {
		return nil, err
	}
	e.routes()
	return e, nil
}

// Prefix is the path the engine answers under.
func (e *Engine) Prefix() string { return e.cfg.Prefix }

// Handles reports whether a request path belongs to the engine: the prefix
// itself or anything below it. This is the only work done for pass-through
// traffic.
func (e *Engine) Handles(path string) bool {
	p := e.cfg.Prefix
	return strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/')
}

// CarriesSecretInURL reports whether a request carries a token in its URL
// (the mailed link, the preflight), so that access logs skip it
// (invariant 7).
func (e *Engine) CarriesSecretInURL(r *http.Request) bool {
	if !e.Handles(r.URL.Path) {
		return false
	}
	if strings.HasPrefix(r.URL.Path, e.cfg.Prefix+"/tokens/") {
		return true
	}
	// The mailed links (and a portal's link_path, if it is under the
	// prefix) carry ?token=; anything else with a query (?v= on assets)
	// is logged as usual. A token under any other name is refused by the
	// pages anyway. Without a query there is nothing to parse: the reset
	// request's POST has none, and parsing one allocates.
	if r.URL.RawQuery == "" {
		return false
	}
	return r.URL.Query().Has("token") || strings.Contains(strings.ToLower(r.URL.RawQuery), "token")
}

// Start launches the background workers (lookup and mail queues). They run
// until Stop.
func (e *Engine) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	// Request workers get their own context for I/O: on Stop they first
	// finish the queued requests (each already answered 202), and only
	// then, or at the drain deadline, is their I/O cancelled.
	workCtx, workCancel := context.WithCancel(context.Background())
	e.workCancel = workCancel
	for i := 0; i < e.cfg.Workers; i++ {
		e.workers.Add(1)
		go func() {
			defer e.workers.Done()
			e.runRequests(ctx, workCtx)
		}()
	}
	if e.counters != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			t := e.cfg.Clock.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.Chan():
					e.counters.sweep(e.now())
				}
			}
		}()
	}
	if e.mail != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.mail.run(ctx)
		}()
	}
	if e.cfg.SelfTest {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.SelfTest(ctx)
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.requests.run(ctx)
	}()
}

// drainDeadline bounds how long Stop waits for queued reset requests.
const drainDeadline = 10 * time.Second

// Stop ends the background workers and waits for them. Reset requests
// still queued (a config reload, a shutdown) are processed first, within
// drainDeadline, so no accepted request is lost. Then the mail sender is
// closed (its kept connections), when it can be.
func (e *Engine) Stop() {
	if e.cancel != nil {
		e.cancel()
	}
	drained := make(chan struct{})
	go func() {
		e.workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainDeadline): // wall time: it bounds a shutdown, whatever the engine's clock says
		e.log.Warn("reset requests still queued at shutdown were not processed", zap.Int("queued", len(e.jobs)))
	}
	if e.workCancel != nil {
		e.workCancel()
	}
	<-drained
	e.wg.Wait()
	// Nothing sends any more: close the connections the mailer keeps.
	if c, ok := e.cfg.Mail.(io.Closer); ok {
		if err := c.Close(); err != nil {
			e.log.Warn("closing the mail sender", zap.Error(err))
		}
	}
}

// ServeHTTP answers a request under the prefix.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mux.ServeHTTP(w, r)
}

func (e *Engine) routes() {
	p := e.cfg.Prefix
	m := http.NewServeMux()
	m.HandleFunc("POST "+p+"/request", e.api(e.handleRequest))
	m.HandleFunc("GET "+p+"/pow", e.api(e.handlePow))
	m.HandleFunc("GET "+p+"/tokens/{token}", e.api(e.handlePreflight))
	m.HandleFunc("POST "+p+"/verify", e.api(e.handleVerify))
	m.HandleFunc("POST "+p+"/complete", e.api(e.handleComplete))
	// Two URLs have two faces: a form post goes to the page, JSON to the
	// API. The routing table chooses, so neither handler calls the other.
	m.HandleFunc("POST "+p+"/revoke", formOr(e.pages.revokeSubmit, e.api(e.handleRevoke)))
	m.HandleFunc("GET "+p+"/policy", e.api(e.handlePolicy))
	change := e.api(e.handleChange)
	if e.changeEnabled() {
		change = formOr(e.pages.changeSubmit, change)
	}
	m.HandleFunc("POST "+p+"/change", change)
	e.adminRoutes(m)
	e.passkeyRoutes(m)
	e.pages.routes(m)
	m.HandleFunc(p+"/", e.api(func(w http.ResponseWriter, r *http.Request) *apiError {
		return newError(http.StatusNotFound, CodeNotFound, "no such reset route", "")
	}))
	e.mux = m
}

// formOr sends a form post to form and any other body to api.
func formOr(form, api http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			form(w, r)
			return
		}
		api(w, r)
	}
}

// api adapts a handler that returns a public error.
func (e *Engine) api(h func(http.ResponseWriter, *http.Request) *apiError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			e.logError(r, err)
			writeError(w, err)
		}
	}
}

func (e *Engine) logError(r *http.Request, err *apiError) {
	if err.status >= 500 {
		route := "admin"
		if r != nil {
			route = e.route(r)
		}
		e.log.Error("reset request failed",
			zap.String("route", route),
			zap.Int("status", err.status),
			zap.String("code", string(err.items[0].Code)),
			zap.NamedError("cause", err.cause))
	}
}

// route names a request for logs without its secret parts.
func (e *Engine) route(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, e.cfg.Prefix+"/tokens/") {
		return r.Method + " " + e.cfg.Prefix + "/tokens/{token}"
	}
	return r.Method + " " + r.URL.Path
}

func (e *Engine) methodEnabled(m string) bool {
	for _, x := range e.cfg.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// resetLink is the mailed link for a token: base_url + link_path.
func (e *Engine) resetLink(token string) string {
	u := *e.base
	u.Path = e.base.Path + e.cfg.LinkPath
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// link builds a public URL from base_url alone (invariant 5).
func (e *Engine) link(path string, q url.Values) string {
	u := *e.base
	u.Path = e.base.Path + e.cfg.Prefix + path
	u.RawQuery = q.Encode()
	return u.String()
}
