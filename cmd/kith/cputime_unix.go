//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime is the CPU this process has used so far, user and system: a
// steadier measure than rows/s on a machine shared with others.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
