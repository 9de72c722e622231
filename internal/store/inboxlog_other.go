//go:build !linux

package store

import "os"

// syncData makes f's written data durable; without fdatasync it is fsync.
func syncData(f *os.File) error { return f.Sync() }
