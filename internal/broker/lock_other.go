//go:build !unix

package broker

import "os"

// lockFile does nothing where flock is unavailable: the data directory is
// then not protected against a second broker.
func lockFile(*os.File) error { return nil }
