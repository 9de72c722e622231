package store

import (
	"os"
	"syscall"
)

// syncData makes f's written data durable. fdatasync skips the inode
// timestamps fsync also flushes; the size and block map an append changes
// are still written, so an appended record survives a crash as with fsync.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
