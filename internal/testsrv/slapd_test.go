package testsrv

import "testing"

// TestSlapd starts slapd and checks the seeded policy and accounts work
// the directory's own way (ldapwhoami).
func TestSlapd(t *testing.T) {
	s := StartSlapd(t)
	dn := s.AddUser("alice", "alice@example.com", "correct horse 1")
	if err := s.Whoami(dn, "correct horse 1"); err != nil {
		t.Fatalf("alice's own password: %v\n%s", err, s.Log())
	}
	if err := s.Whoami(dn, "wrong"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := s.Whoami(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("service account: %v", err)
	}
	s.Stop()
	s.Start()
	if err := s.Whoami(dn, "correct horse 1"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
