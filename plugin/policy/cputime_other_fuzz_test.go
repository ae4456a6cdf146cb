//go:build !linux

package policy

import "time"

// fzCPUTime is the wall time of f where the thread's CPU time is not at
// hand.
func fzCPUTime(f func()) time.Duration { return fzWallTime(f) }
