package badger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

// journalChildEnv names the directory a child process of
// TestJournalSurvivesKill writes to.
const journalChildEnv = "RESETGATE_JOURNAL_CHILD"

// journalChildPuts is how many Puts the child makes once every round of
// applying fails.
const journalChildPuts = 200

// TestJournalSurvivesKill: writes answered from the journal and never
// applied to Badger are there after a kill -9 and a new Open, and a batch
// that was applied before the kill is not applied a second time (a key it
// wrote and a later Delete removed stays removed).
//
// The child process (this test binary again) opens the store, writes
// "gone" and deletes it once applied, makes every round of applying fail
// (as a Badger that refuses would), makes
// journalChildPuts Puts (every tenth with an owner), a Write that removes
// "applied" (written and applied before the stop) and AwaitCommit calls,
// prints "ready" and waits for the kill.
func TestJournalSurvivesKill(t *testing.T) {
	if dir := os.Getenv(journalChildEnv); dir != "" {
		journalChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalSurvivesKill$")
	cmd.Env = append(os.Environ(), journalChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %q, %v; want ready", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	for name, least := range map[string]int64{journalOld: 4 << 10, journalFile: 1} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() < least {
			t.Fatalf("%s after the kill: %v; want at least %d bytes of unapplied batches in it", name, err, least)
		}
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range journalChildPuts {
		v, err := s.Get(ctx, fmt.Sprintf("put-%d", i))
		if err != nil || string(v) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("put-%d after the kill: %q, %v", i, v, err)
		}
	}
	for _, key := range []string{"applied", "gone"} {
		if v, err := s.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after the kill: %q, %v; want it removed", key, v, err)
		}
	}
	if v, err := s.Get(ctx, "written"); err != nil || string(v) != "w" {
		t.Errorf("the Write's record after the kill: %q, %v", v, err)
	}
	if n, err := s.DeleteOwner(ctx, "owner"); err != nil || n != journalChildPuts/10 {
		t.Errorf("DeleteOwner after the kill: %d, %v; want %d", n, err, journalChildPuts/10)
	}
	if fi, err := os.Stat(filepath.Join(dir, journalFile)); err != nil || fi.Size() != 0 {
		t.Errorf("the journal after Open: %v, %v; want it emptied", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, journalOld)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the previous journal after Open: %v; want it removed", err)
	}
	// What comes after the replay is journaled and replayed as well.
	if err := s.Put(ctx, "after", []byte("a"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := s2.Get(ctx, "after"); err != nil || string(v) != "a" {
		t.Errorf("a Put after the replay, after a Close and an Open: %q, %v", v, err)
	}
}

// journalChild is the child process of TestJournalSurvivesKill.
func journalChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "journal child:", err)
		os.Exit(2)
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	for _, key := range []string{"gone", "applied"} {
		if err := s.Put(ctx, key, []byte("v"), time.Hour, ""); err != nil {
			fail(err)
		}
		if _, err := s.Get(ctx, key); err != nil { // waits for the applier
			fail(err)
		}
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		fail(err)
	}
	s.j.fileMu.Lock()
	s.j.beforeApply = func() error { return errors.New("held by the test") }
	s.j.rotateAt = 4 << 10 // a file set aside, a new one, and that one grows
	s.j.fileMu.Unlock()
	for i := range journalChildPuts {
		owner := ""
		if i%10 == 0 {
			owner = "owner"
		}
		if err := s.Put(ctx, fmt.Sprintf("put-%d", i), []byte(fmt.Sprintf("value-%d", i)), time.Hour, owner); err != nil {
			fail(err)
		}
		if i%50 == 0 {
			if err := s.AwaitCommit(ctx); err != nil {
				fail(err)
			}
		}
	}
	if err := s.Write(ctx, []store.Record{{Key: "written", Value: []byte("w"), TTL: time.Hour}}, []string{"applied"}); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	select {}
}

// holdJournal makes every round of applying s's journal fail, as a Badger
// that refuses would, until release is closed.
func holdJournal(s *Store) (release chan struct{}) {
	release = make(chan struct{})
	s.j.mu.Lock()
	s.j.beforeApply = func() error {
		select {
		case <-release:
			return nil
		default:
			return errors.New("held by the test")
		}
	}
	s.j.mu.Unlock()
	return release
}

// A torn record at the end of the journal (a write cut short) ends the
// replay: the records before it are applied, it is dropped, and the file
// is emptied, so that later records do not follow it.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	release := holdJournal(s)
	if err := s.Put(ctx, "kept", []byte("k"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	journal, err := os.ReadFile(filepath.Join(dir, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The file as a kill would have left it, with half a record after.
	torn := append(append([]byte{}, journal...), journal[:len(journal)/2]...)
	if err := os.WriteFile(filepath.Join(dir, journalFile), torn, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open with a torn record at the end of the journal: %v", err)
	}
	defer s2.Close()
	if v, err := s2.Get(ctx, "kept"); err != nil || string(v) != "k" {
		t.Errorf("the record before the torn one: %q, %v", v, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, journalFile)); err != nil || fi.Size() != 0 {
		t.Errorf("the journal after Open: %v, %v; want it emptied", fi, err)
	}
}

// A read of a key whose journaled write is not applied yet waits for it,
// within its context, and a read of another key does not wait.
func TestJournalReadsWaitForTheirKey(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if err := s.Put(ctx, "other", []byte("o"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	release := holdJournal(s)
	if err := s.Put(ctx, "k", []byte("v"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if v, err := s.Get(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get of a key whose write the applier holds: %q, %v; want the context's deadline", v, err)
	}
	if _, err := s.Consume(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Consume of a key whose write the applier holds: %v; want the context's deadline", err)
	}
	if v, err := s.Get(ctx, "other"); err != nil || string(v) != "o" {
		t.Fatalf("Get of an applied key while the applier holds another: %q, %v", v, err)
	}
	got := make(chan error, 1)
	go func() {
		v, err := s.Consume(ctx, "k")
		if err == nil && string(v) != "v" {
			err = fmt.Errorf("value %q", v)
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Consume returned (%v) before the applier applied the key", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-got; err != nil {
		t.Fatalf("Consume once the key is applied: %v", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Consume: %v; want not found", err)
	}
}

// DeleteOwner of an owner the filter rules out answers at once, without
// waiting for the journal; of an owner with a pending write, it waits for
// it and removes it.
func TestJournalDeleteOwnerWaitsOnlyForItsOwner(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	release := holdJournal(s)
	if err := s.Put(ctx, "k", []byte("v"), time.Hour, "u"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if n, err := s.DeleteOwner(short, "nobody"); err != nil || n != 0 {
		t.Fatalf("DeleteOwner of an owner without keys while the applier holds another's: %d, %v; want 0 at once", n, err)
	}
	if _, err := s.DeleteOwner(short, "u"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DeleteOwner of an owner whose write the applier holds: %v; want the context's deadline", err)
	}
	close(release)
	if n, err := s.DeleteOwner(ctx, "u"); err != nil || n != 1 {
		t.Fatalf("DeleteOwner once the write is applied: %d, %v; want 1", n, err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after DeleteOwner: %v; want not found", err)
	}
}

// An increment's batch goes to Badger directly, after the journaled write
// of its key: a Put of a counter's key, then Incr, counts from the Put.
func TestJournalIncrementAfterPut(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	release := holdJournal(s)
	if err := s.Put(ctx, "n", []byte("41"), time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	if n, err := s.Incr(ctx, "n", time.Hour); err != nil || n != 42 {
		t.Fatalf("Incr after a journaled Put of 41: %d, %v; want 42", n, err)
	}
}

// Under a steady load the journal stays small: a file past its size is set
// aside for a new one and removed once applied, and emptied when
// everything in it is applied. 8 writers of 1,000 Puts each against a
// rotation size and a backlog of 16 KiB: every Put is readable after, the
// files were emptied or set aside several times, and they never held more
// than the two bounds allow.
func TestJournalStaysSmall(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	ctx := context.Background()
	s.j.fileMu.Lock()
	s.j.mu.Lock()
	s.j.rotateAt, s.j.backlog = 16<<10, 16<<10
	s.j.mu.Unlock()
	s.j.fileMu.Unlock()
	var biggest atomic.Int64
	watch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			var n int64
			for _, name := range []string{journalFile, journalOld} {
				if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
					n += fi.Size()
				}
			}
			if n > biggest.Load() {
				biggest.Store(n)
			}
			select {
			case <-watch:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	const writers, each = 8, 1000
	runCallers(t, writers, each, func(c, i int) error {
		return s.Put(ctx, fmt.Sprintf("k-%d-%d", c, i), []byte("value"), time.Hour, "")
	})
	close(watch)
	<-watched
	for c := range writers {
		for i := range each {
			if _, err := s.Get(ctx, fmt.Sprintf("k-%d-%d", c, i)); err != nil {
				t.Fatalf("k-%d-%d: %v", c, i, err)
			}
		}
	}
	if err := s.j.settleAll(ctx); err != nil {
		t.Fatal(err)
	}
	s.j.fileMu.Lock()
	s.j.mu.Lock()
	size, old, appended, rotations := s.j.size, s.j.old, s.j.appended, s.j.rotations
	s.j.mu.Unlock()
	s.j.fileMu.Unlock()
	t.Logf("%d Puts, %d bytes appended, %d rotations: the journal files held at most %d bytes; now %d bytes, a file set aside: %v", writers*each, appended, rotations, biggest.Load(), size, old)
	// A file set aside holds up to 16 KiB and a batch; the next one grows
	// while the applier works through the first, by at most the 16 KiB
	// backlog and a batch.
	if rotations < 4 || biggest.Load() > 40<<10 {
		t.Errorf("%d bytes appended, %d rotations, at most %d bytes in the files at one time: want 4 rotations at least and never more than 40 KiB", appended, rotations, biggest.Load())
	}
	if old {
		t.Errorf("a file is still set aside with everything applied")
	}
	if _, err := os.Stat(filepath.Join(dir, journalOld)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the previous journal with everything applied: %v; want it removed", err)
	}
}
