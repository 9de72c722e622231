// Package configfile reads the files an operator edits while wabridge runs
// (rules, templates, the catalogue, mappings) defensively: only regular
// files, only up to a size, and never blocking on what is not a file.
package configfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxBytes is the largest file Read accepts. A thousand rules take about
// 200 KiB; anything near this is a mistake, such as a log or a device.
const MaxBytes = 4 << 20

// ErrNotRegular means the path (after symlinks) is not a regular file: a
// directory, a device such as /dev/zero, a FIFO or a socket.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge means the file holds more than MaxBytes.
var ErrTooLarge = errors.New("file too large")

// Read returns the contents of the regular file at path (symlinks are
// followed, as a Kubernetes ConfigMap needs). A FIFO is refused without
// waiting for a writer, a device without reading from it, and a file over
// MaxBytes without reading it whole. Errors wrap *fs.PathError, so they
// name the path, and ErrNotRegular or ErrTooLarge where those apply.
func Read(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, st); err != nil {
		return nil, err
	}
	// O_NONBLOCK: if the path was swapped for a FIFO since the Stat, the
	// open returns at once instead of waiting for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := check(path, st); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(b) > MaxBytes {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxBytes)}
	}
	return b, nil
}

func check(path string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (it is %s)", ErrNotRegular, kind(st.Mode()))}
	}
	if st.Size() > MaxBytes {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, st.Size(), MaxBytes)}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a file"
}
