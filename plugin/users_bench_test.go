package plugin

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/resetgate/resetgate/internal/testsrv"
	"github.com/resetgate/resetgate/plugin/directory"
	"github.com/resetgate/resetgate/plugin/webhook"
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// BenchmarkCompleteUsers measures `complete` (policy, SAME_AS_OLD through
// verify, the update, token consumption) with hash none, against the
// webhook hooks and against users sql on each real database. Run it
// briefly:
//
//	go test -run '^$' -bench CompleteUsers -benchtime 300x ./plugin/
func BenchmarkCompleteUsers(b *testing.B) {
	for _, backend := range []string{"webhook", "sqlite", "postgres", "mysql"} {
		b.Run(backend, func(b *testing.B) {
			st, err := badgerstore.Open(badgerstore.Options{InMemory: true})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			cfg := Config{BaseURL: "https://app.example.test", Key: []byte(strings.Repeat("k", 32))}
			userID := "u1"
			if backend == "webhook" {
				srv := httptest.NewServer(&upstream{})
				defer srv.Close()
				cfg.Lookup = Hook{URL: srv.URL + "/lookup", Client: &webhook.Client{}}
				cfg.Update = Hook{URL: srv.URL + "/update", Client: &webhook.Client{}}
				cfg.Verify = Hook{URL: srv.URL + "/verify", Client: &webhook.Client{}}
			} else {
				a := testsrv.NewAppDB(b, backend, map[string]string{testsrv.AliceEmail: "bench start password", testsrv.BobEmail: "x", "twin1@example.test": "x", "twin2@example.test": "x"})
				d, err := directory.OpenSQL(context.Background(), directory.SQLConfig{
					Driver: backend, DSN: a.DSN, Hash: "none",
					Lookup: "SELECT id, email, name FROM users WHERE email = {identifier} OR " + a.CastID + " = {identifier}",
					Verify: "SELECT pass FROM users WHERE id = {user_id}",
					Update: []directory.SQLUpdate{{SQL: "UPDATE users SET pass = {password}, token = {random} WHERE id = {user_id}"}},
				}, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				cfg.Users = d
				userID = a.ID(b, testsrv.AliceEmail)
			}
			e := startBenchEngine(b, cfg, st)
			defer e.Stop()
			ctx := context.Background()
			user, found, err := e.lookup(ctx, userID)
			if err != nil || !found {
				b.Fatalf("lookup %s: %v %v", userID, found, err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				token := issueBenchToken(b, e, user)
				b.StartTimer()
				if apiErr := e.complete(ctx, "127.0.0.1", token, fmt.Sprintf("bench password number %d", i), "", false); apiErr != nil {
					b.Fatal(apiErr)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "completes/s")
		})
	}
}
