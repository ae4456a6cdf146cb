//go:build linux

package badger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
)

// smallDisk mounts a tmpfs of size on a fresh directory for the test (the
// test runs as root, as CI does) and unmounts it at the end.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s (needs root): %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file of zeros in dir until the disk is full, and returns
// its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return path
		}
	}
}

// Badger on a 32 MiB disk that fills up: writes fail with
// store.ErrUnavailable (callers answer 503) rather than crash the process,
// every value written before is still read back intact, and once space is
// freed writes succeed again, also after a reopen.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "32m")
	dir := filepath.Join(disk, "db")
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := t.Context()
	value := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), 32) }
	const before = 2000
	for i := 0; i < before; i++ {
		if err := s.Put(ctx, fmt.Sprintf("k%d", i), value(i), time.Hour, "owner"); err != nil {
			t.Fatalf("put %d before the disk is full: %v", i, err)
		}
	}
	filler := fill(t, disk)

	// Writes until one fails: the memtable and the value log have some
	// room left in files already allocated.
	var failure error
	written := before
	for i := before; i < before+200000 && failure == nil; i++ {
		if err := s.Put(ctx, fmt.Sprintf("k%d", i), value(i), time.Hour, "owner"); err != nil {
			failure = err
		} else {
			written = i + 1
		}
	}
	if failure == nil {
		t.Fatal("200000 puts on a full disk all succeeded")
	}
	if !errors.Is(failure, store.ErrUnavailable) {
		t.Fatalf("put on a full disk: %v, want ErrUnavailable", failure)
	}
	t.Logf("the disk filled after %d puts: %v", written, failure)
	// Reads still work, and nothing written is damaged.
	for i := 0; i < written; i += 97 {
		if v, err := s.Get(ctx, fmt.Sprintf("k%d", i)); err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("get k%d on a full disk: %q %v", i, v, err)
		}
	}
	// Space comes back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Put(ctx, "after", []byte("v"), time.Hour, "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put 10s after space was freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Logf("close after the disk was full: %v", err)
	}
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after the disk was full: %v", err)
	}
	for i := 0; i < written; i += 97 {
		if v, err := s.Get(ctx, fmt.Sprintf("k%d", i)); err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("get k%d after the reopen: %q %v", i, v, err)
		}
	}
	if v, err := s.Get(ctx, "after"); err != nil || string(v) != "v" {
		t.Fatalf("the put after space came back: %q %v", v, err)
	}
}
