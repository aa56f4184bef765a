//go:build unix

package fileconn

import (
	"os"
	"strconv"
	"syscall"
)

// fileID identifies a file independently of its name: device and inode, so
// that a renamed (rotated) file keeps its identity and offsets.
type fileID struct {
	dev, ino uint64
}

func (id fileID) valid() bool { return id.ino != 0 }

// String is the form stored in source partitions: "device:inode".
func (id fileID) String() string {
	if !id.valid() {
		return ""
	}
	return strconv.FormatUint(id.dev, 10) + ":" + strconv.FormatUint(id.ino, 10)
}

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}
	}
	return fileID{}
}
