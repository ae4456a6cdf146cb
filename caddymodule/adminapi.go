package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/plugin"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// running lists the provisioned handlers, so Caddy's admin endpoint can
// reach their engines. Entries are keyed by handler, not by site: during a
// reload the new config is provisioned before the old one is cleaned up,
// and both must coexist.
var running = struct {
	sync.Mutex
	handlers map[*Handler]struct{}
}{handlers: map[*Handler]struct{}{}}

func registerHandler(h *Handler) {
	running.Lock()
	running.handlers[h] = struct{}{}
	running.Unlock()
}

func unregisterHandler(h *Handler) {
	running.Lock()
	delete(running.handlers, h)
	running.Unlock()
}

// AdminAPI offers the admin operations on Caddy's own admin endpoint, for
// operators on the host (the admin endpoint is local and unauthenticated
// by Caddy's design: keep it on localhost or a unix socket):
//
//	POST   /password-reset/users/{id}/reset-token[?site=<base_url>]
//	POST   /password-reset/users/{id}/reset-code[?site=<base_url>]
//	DELETE /password-reset/users/{id}/reset-tokens[?site=<base_url>]
//	GET    /password-reset/status[?site=<base_url>]
//	GET    /password-reset/preview/{page|mail}/{name}[?lang=de&part=html|text|subject&site=…]
//
// site is needed only when several sites run password_reset (status
// reports every site without it). The `caddy password-reset` command
// (command.go) is a client of these routes.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.password_reset",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/password-reset/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	switch {
	case r.URL.Path == "/password-reset/status":
		return a.serveStatus(w, r)
	case strings.HasPrefix(r.URL.Path, "/password-reset/preview/"):
		return a.servePreview(w, r)
	}
	rest := strings.TrimPrefix(r.URL.Path, "/password-reset/users/")
	id, action, ok := strings.Cut(rest, "/")
	if rest == r.URL.Path || !ok || id == "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("unknown password_reset admin route")}
	}
	eng, err := pickEngine(r.URL.Query().Get("site"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	switch {
	case r.Method == http.MethodPost && action == "reset-token":
		res, apiErr := eng.IssueResetToken(r.Context(), id, "caddy-admin")
		if apiErr != nil {
			return adminError(apiErr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusCreated)
		return json.NewEncoder(w).Encode(res)
	case r.Method == http.MethodPost && action == "reset-code":
		res, apiErr := eng.IssueResetCode(r.Context(), id, "caddy-admin")
		if apiErr != nil {
			return adminError(apiErr)
		}
		return writeAdminJSON(w, http.StatusCreated, res)
	case r.Method == http.MethodDelete && action == "reset-tokens":
		if apiErr := eng.RevokeUserTokens(r.Context(), id, "caddy-admin"); apiErr != nil {
			return adminError(apiErr)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("%s %s not allowed", r.Method, action)}
}

func adminError(e *plugin.PublicError) error {
	return caddy.APIError{HTTPStatus: e.Status, Err: errors.New(string(e.Code)), Message: string(e.Code) + ": " + e.Detail}
}

// pickEngine finds the engine for site (its base_url), or the only one.
func pickEngine(site string) (*plugin.Engine, error) {
	running.Lock()
	defer running.Unlock()
	var found []*plugin.Engine
	for h := range running.handlers {
		if h.engine == nil {
			continue
		}
		if site == "" || strings.TrimSuffix(h.engine.BaseURL(), "/") == strings.TrimSuffix(site, "/") {
			found = append(found, h.engine)
		}
	}
	// During a reload two handlers of one site coexist briefly; they share
	// the store, so either serves.
	sites := map[string]bool{}
	for _, e := range found {
		sites[e.BaseURL()+e.Prefix()] = true
	}
	switch {
	case len(found) == 0 && site != "":
		return nil, fmt.Errorf("no password_reset handler with base_url %q", site)
	case len(found) == 0:
		return nil, errors.New("no password_reset handler is running")
	case len(sites) > 1:
		return nil, errors.New("several sites run password_reset: add ?site=<base_url>")
	}
	return found[0], nil
}

// Interface guards.
var (
	_ caddy.Module      = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
