// Package cputime reads the CPU time of the process, which benchmarks
// print next to wall time: on a machine shared with other work it varies
// much less than wall time does.
package cputime

import "time"

// Process is the CPU time (user and system, every thread) this process has
// used so far; 0 where the platform does not report it.
func Process() time.Duration { return process() }
