package badger

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// A full disk. Badger writes its memtables' write-ahead logs (the .mem
// files) through mmap into files it sized with ftruncate, which leaves them
// sparse: a page first written when the disk has no block left raises
// SIGBUS and kills the whole process (Caddy), where a write(2) would have
// returned ENOSPC. Two guards keep that from happening:
//
//   - writes are refused (store.ErrUnavailable, so callers answer 503)
//     while the disk has less than diskReserve free: room for the rest of
//     the current memtable file and a whole next one;
//   - the .mem files are allocated for real (fallocate) as soon as they
//     appear, so the pages Badger will write through mmap are on disk
//     already.
//
// Reads go on while the disk is full, and writes resume by themselves
// once space is freed.

// diskReserve is the free space below which writes are refused.
const diskReserve = 2*(2*memTableSize) + 1<<20

// diskCheckEvery bounds how often the free space is measured.
const diskCheckEvery = 50 * time.Millisecond

// errDiskFull is the cause of a write refused for lack of space.
var errDiskFull = errors.New("the disk is (nearly) full")

// diskGuard measures the free space of the database's file system.
type diskGuard struct {
	dir     string
	checked atomic.Int64 // unix nanoseconds of the last measure
	free    atomic.Int64 // bytes free at the last measure
}

// room reports whether a write may go ahead: nil, or errDiskFull with the
// free space.
func (g *diskGuard) room() error {
	if g == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if last := g.checked.Load(); now-last > int64(diskCheckEvery) && g.checked.CompareAndSwap(last, now) {
		g.measure()
		g.allocateMemFiles()
	}
	if free := g.free.Load(); free < diskReserve {
		return fmt.Errorf("%w: %d KiB free, writes need %d KiB", errDiskFull, free>>10, int64(diskReserve)>>10)
	}
	return nil
}

// newDiskGuard measures dir's free space once, so that the first writes
// see a real figure, and allocates the .mem files Badger opened: the
// first writes go to the memtable opened with the database, and a disk
// that fills up before the next measure must not find its pages sparse
// (TestDiskFull: 2000 writes in less than diskCheckEvery, then the disk
// full, crashed the process with SIGBUS).
func newDiskGuard(dir string) *diskGuard {
	g := &diskGuard{dir: dir}
	g.measure()
	g.allocateMemFiles()
	g.checked.Store(time.Now().UnixNano())
	return g
}

// measure records the free space; when it cannot be measured, writes go
// ahead.
func (g *diskGuard) measure() {
	free, err := freeBytes(g.dir)
	if err != nil {
		free = diskReserve // unknown: do not refuse
	}
	g.free.Store(free)
}

// allocateMemFiles allocates every .mem file's blocks (a no-op for blocks
// that already are).
func (g *diskGuard) allocateMemFiles() {
	files, _ := filepath.Glob(filepath.Join(g.dir, "*.mem"))
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil {
			_ = allocate(f, fi.Size())
		}
		f.Close()
	}
}
