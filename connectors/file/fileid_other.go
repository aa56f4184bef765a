//go:build !unix

package fileconn

import "os"

// fileID is empty where the platform has no inodes: files are then known by
// their path only, and a rotation by rename cannot be followed.
type fileID struct{}

func (id fileID) valid() bool    { return false }
func (id fileID) String() string { return "" }

func idOf(fi os.FileInfo) fileID { return fileID{} }
