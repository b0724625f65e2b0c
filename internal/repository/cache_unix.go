package repository

import (
	"fmt"
	"os"
	"syscall"

	"github.com/opencontainers/go-digest"
)

func fileKey(f *os.File, d digest.Digest) (verifiedKey, error) {
	fi, err := f.Stat()
	if err != nil {
		return verifiedKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return verifiedKey{}, fmt.Errorf("stat %s: no inode", f.Name())
	}
	return verifiedKey{digest: d, ino: st.Ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}
