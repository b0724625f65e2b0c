package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// maxNameLen bounds a request name; a boot file name is short, and the bound keeps a hostile
// request from costing more than a lookup.
const maxNameLen = 255

// ErrRefused marks a request name that this server never serves, whatever the directory holds.
var ErrRefused = errors.New("refused")

// checkName refuses a request name that is not a plain relative path inside the boot
// directory. It is lexical only; symlinks are handled by opening through an os.Root.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty file name: %w", ErrRefused)
	case len(name) > maxNameLen:
		return fmt.Errorf("file name longer than %d bytes: %w", maxNameLen, ErrRefused)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("absolute path %q: names are relative to the boot directory: %w", name, ErrRefused)
	case strings.ContainsAny(name, "\\\x00"):
		// A backslash is a separator to some firmware and a file-name byte to Linux; serving
		// either reading would be a guess.
		return fmt.Errorf("file name %q holds a backslash or NUL byte: %w", name, ErrRefused)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("path %q leaves the boot directory: %w", name, ErrRefused)
		}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("file name %q holds a control character: %w", name, ErrRefused)
		}
	}
	return nil
}

// open returns the regular file that name names inside root. A symlink is followed only while
// it stays inside root (os.Root refuses the rest).
func open(root *os.Root, name string) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		// os.Root says "path escapes from parent" for a symlink leading outside.
		return nil, fmt.Errorf("%s: %v: %w", name, err, ErrRefused)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file: %w", name, ErrRefused)
	}
	return f, nil
}
