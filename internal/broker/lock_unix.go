//go:build unix

package broker

import (
	"os"
	"syscall"
)

// lockFile takes a non-blocking exclusive flock on f; the kernel drops it
// when f is closed or the process dies, so a crash never leaves a stale lock.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
