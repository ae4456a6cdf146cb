// Command upstream is the benchmark's tiny upstream: the app Caddy proxies
// to. It answers every GET with 200 "ok" and offers the two internal
// endpoints resetgate calls, answering as examples/legacyapp would:
//
//	POST /internal/users/lookup    {"identifier": "known@bench.test"} → 200 user, anything else → 404
//	                               (known-<anything>@bench.test is known too, as user "b-<anything>";
//	                               the user ids b1 and b-<anything> are known as well, as the admin
//	                               API looks users up by id: role "user", which admin_allow_roles allows)
//	POST /internal/users/password  → 204
//	GET  /internal/stats           {"lookups", "selftest", "known", "updates"}: counters since start
//
// "lookups" counts every lookup; "selftest" those of resetgate's start-up
// self-test (plugin.SelfTestIdentifier, one per engine start, so one per
// caddy reload), which are no reset request's.
//
// It does not check webhook signatures: it stands in for an app that
// answers as fast as it can, so that the figures are resetgate's and
// Caddy's, not the upstream's.
//
//	upstream -addr 127.0.0.1:0 -addr-file /tmp/upstream.addr
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resetgate/resetgate/plugin"
)

// Known is the one account the lookup endpoint knows.
const Known = "known@bench.test"

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	addrFile := flag.String("addr-file", "", "write the address actually listened on to this file")
	flag.Parse()

	var lookups, selftest, known, updates atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/users/lookup", func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		var in struct {
			Identifier string `json:"identifier"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err := json.Unmarshal(body, &in); err != nil || strings.TrimSpace(in.Identifier) == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "identifier required"})
			return
		}
		ident := strings.ToLower(strings.TrimSpace(in.Identifier))
		if ident == plugin.SelfTestIdentifier {
			selftest.Add(1)
		}
		id := ""
		switch {
		case ident == Known:
			id = "b1"
		case strings.HasPrefix(ident, "known-") && strings.HasSuffix(ident, "@bench.test"):
			id = "b-" + strings.TrimSuffix(strings.TrimPrefix(ident, "known-"), "@bench.test")
		// The admin API (POST <prefix>/admin/users/{id}/reset-token) looks
		// a user up by id and wants the same id back.
		case ident == "b1":
			id, ident = "b1", Known
		case strings.HasPrefix(ident, "b-") && len(ident) > 2:
			id, ident = ident, "known-"+strings.TrimPrefix(ident, "b-")+"@bench.test"
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		known.Add(1)
		writeJSON(w, http.StatusOK, map[string]string{
			"id": id, "email": ident, "name": "Bench Known", "role": "user", "locale": "en",
		})
	})
	mux.HandleFunc("POST /internal/users/password", func(w http.ResponseWriter, r *http.Request) {
		updates.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /internal/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int64{"lookups": lookups.Load(), "selftest": selftest.Load(), "known": known.Load(), "updates": updates.Load()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("upstream listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
