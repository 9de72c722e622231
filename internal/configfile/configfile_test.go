package configfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(regular, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A ConfigMap's files are symlinks to regular files: accepted.
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{regular, link} {
		if b, err := Read(p); err != nil || string(b) != "rules: []\n" {
			t.Errorf("Read(%s) = %q, %v", p, b, err)
		}
	}

	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		is   error
		want string
	}{
		{zero, ErrNotRegular, "a character device"},
		{fifo, ErrNotRegular, "a FIFO"},
		{dir, ErrNotRegular, "a directory"},
		{big, ErrTooLarge, "more than 4194304"},
	} {
		_, err := Read(tt.path)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("Read(%s) = %v, want %v mentioning %q and the path", tt.path, err, tt.is, tt.want)
		}
	}
}
