package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/store/badger"
)

// BenchmarkPassThrough is ServeHTTP for a request outside the prefix (GET /,
// as bench/run.sh's part (a) sends), against calling the next handler
// directly: the whole price resetgate adds to traffic that is not its own.
// It must stay at 0 allocs/op and a few ns/op:
//
//	go test -run '^$' -bench '^BenchmarkPassThrough$' ./caddymodule/
func BenchmarkPassThrough(b *testing.B) {
	st, err := badger.Open(badger.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	// Not started: pass-through never reaches the engine's workers.
	eng, err := plugin.New(plugin.Config{
		BaseURL:       "http://localhost:8080",
		Key:           []byte(strings.Repeat("k", 48)),
		Lookup:        plugin.Hook{URL: "http://127.0.0.1:9/internal/users/lookup"},
		Update:        plugin.Hook{URL: "http://127.0.0.1:9/internal/users/password"},
		PerIP:         plugin.Limit{Count: 100_000_000, Window: time.Minute},
		PerIdentifier: plugin.Limit{Count: 3, Window: 15 * time.Minute},
		LocalCounters: true,
	}, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := &Handler{engine: eng}
	calls := 0
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		calls++
		return nil
	})
	w := httptest.NewRecorder()
	for _, path := range []string{"/", "/static/app.js", "/password-resetting"} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		b.Run("path="+path, func(b *testing.B) {
			b.Run("next", func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if err := next.ServeHTTP(w, r); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("password_reset", func(b *testing.B) {
				before := calls
				b.ReportAllocs()
				for range b.N {
					if err := h.ServeHTTP(w, r, next); err != nil {
						b.Fatal(err)
					}
				}
				if calls-before != b.N {
					b.Fatalf("next ran %d times for %d requests", calls-before, b.N)
				}
			})
		})
	}
}
