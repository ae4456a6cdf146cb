package testsrv_test

import (
	"testing"

	"github.com/resetgate/resetgate/internal/testsrv"
)

// Each server starts, answers, stops, and comes back with its data.
func TestServersStartStopStart(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *testsrv.Server{"postgres": testsrv.Postgres, "mariadb": testsrv.MariaDB} {
		t.Run(name, func(t *testing.T) {
			s := start(t)
			s.Exec("CREATE TABLE kept (n INT)", "INSERT INTO kept VALUES (7)")
			s.Stop()
			if err := s.DB().Ping(); err == nil {
				t.Fatal("a stopped server answers")
			}
			s.Start()
			var n int
			if err := s.DB().QueryRow("SELECT n FROM kept").Scan(&n); err != nil || n != 7 {
				t.Fatalf("after restart: n=%d err=%v", n, err)
			}
		})
	}
}
