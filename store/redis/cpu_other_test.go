//go:build !unix

package redis

import "time"

// processCPU is not measured outside Unix.
func processCPU() time.Duration { return 0 }
