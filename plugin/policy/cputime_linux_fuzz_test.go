//go:build linux

package policy

import (
	"runtime"
	"syscall"
	"time"
)

// fzCPUTime runs f on one locked OS thread and returns the CPU time that
// thread spent, so that a loaded machine (other tests, the other fuzzing
// worker) does not count against the input.
func fzCPUTime(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rusageThread = 1 // RUSAGE_THREAD
	var before, after syscall.Rusage
	if syscall.Getrusage(rusageThread, &before) != nil {
		return fzWallTime(f)
	}
	f()
	if syscall.Getrusage(rusageThread, &after) != nil {
		return fzWallTime(f)
	}
	cpu := func(r *syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return cpu(&after) - cpu(&before)
}
