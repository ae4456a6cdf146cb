package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/resetgate/resetgate/plugin"
)

// serveStatus answers GET /password-reset/status: a fresh self-test and
// the store's counts for each running site (or the one named by ?site=).
func (a *AdminAPI) serveStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("status takes GET")}
	}
	engines, err := listEngines(r.URL.Query().Get("site"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: err}
	}
	out := make([]*plugin.Status, 0, len(engines))
	for _, e := range engines {
		st, err := e.Status(r.Context())
		if err != nil {
			// The parts still say what is wrong; the count error is a
			// part of its own so status always answers.
			st.Healthy = false
			st.Parts = append(st.Parts, plugin.PartStatus{Part: "counts", Detail: err.Error()})
		}
		out = append(out, st)
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

// servePreview answers GET /password-reset/preview/{page|mail}/{name}.
func (a *AdminAPI) servePreview(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errors.New("preview takes GET")}
	}
	kind, name, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/password-reset/preview/"), "/")
	if !ok || name == "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("preview needs /preview/page/<name> or /preview/mail/<name>")}
	}
	q := r.URL.Query()
	eng, err := pickEngine(q.Get("site"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	ctype, body, err := eng.Preview(kind, name, q.Get("lang"), q.Get("part"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(body)
	return err
}

// listEngines returns one engine per running site, or the one for site.
func listEngines(site string) ([]*plugin.Engine, error) {
	if site != "" {
		e, err := pickEngine(site)
		if err != nil {
			return nil, err
		}
		return []*plugin.Engine{e}, nil
	}
	running.Lock()
	defer running.Unlock()
	seen := map[string]bool{}
	var out []*plugin.Engine
	for h := range running.handlers {
		if h.engine == nil {
			continue
		}
		key := h.engine.BaseURL() + h.engine.Prefix()
		if !seen[key] {
			seen[key] = true
			out = append(out, h.engine)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no password_reset handler is running")
	}
	return out, nil
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
