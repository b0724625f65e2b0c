package nfsroot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// writableIndex maps the inodes of a merged export's handles to paths: the lower tree's
// (fixed, made when the export is opened), the upper entries copied up from it (by their
// lower inode, which stays their handle), and the upper entries a node made (by their own
// inode). Renames move the paths; a restart indexes the upper directory again.
type writableIndex struct {
	lower map[uint64][]string

	mu      sync.Mutex
	origins map[uint64]string
	upper   map[uint64]string
}

func newWritableIndex(lower map[uint64][]string, upper string) (*writableIndex, error) {
	ix := &writableIndex{lower: lower, origins: map[uint64]string{}, upper: map[uint64]string{}}
	if ix.lower == nil {
		ix.lower = map[uint64][]string{}
	}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		if strings.HasPrefix(d.Name(), whiteoutPrefix) {
			return nil
		}
		rel, _ := filepath.Rel(upper, p)
		rel = filepath.ToSlash(rel)
		if o, ok := readOrigin(p); ok {
			ix.origins[o] = rel
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		ix.upper[info.Sys().(*syscall.Stat_t).Ino] = rel
		return nil
	})
	return ix, err
}

func (ix *writableIndex) movedUp(ino uint64, p string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.origins[ino] = p
}

func (ix *writableIndex) saw(l layer, ino uint64, p string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	switch l {
	case layerUpper:
		ix.upper[ino] = p
	case layerLower:
		if _, moved := ix.origins[ino]; moved {
			ix.origins[ino] = p
		}
	}
}

// renamed moves every path at or below from to the same place below to.
func (ix *writableIndex) renamed(from, to string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, m := range []map[uint64]string{ix.origins, ix.upper} {
		for k, p := range m {
			switch {
			case p == from:
				m[k] = to
			case strings.HasPrefix(p, from+"/"):
				m[k] = to + p[len(from):]
			}
		}
	}
}

func (ix *writableIndex) path(l layer, ino uint64) (string, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if l == layerUpper {
		p, ok := ix.upper[ino]
		return p, ok
	}
	if p, ok := ix.origins[ino]; ok {
		return p, true
	}
	c, ok := ix.lower[ino]
	if !ok {
		return "", false
	}
	return strings.Join(c, "/"), true
}

// A merged export's handle is its export id, the layer, the inode and a MAC over them
// under the server's handle key: a client that may not mount the export cannot make one up
// (the MOUNT call is where the client's address is checked; later calls carry only the
// handle).
//
// The size is a multiple of four: go-nfs v0.0.4 read an opaque's XDR padding as the next
// field (third_party/go-nfs reads it since its patch 6).
const (
	mergedHandleSize = 8 + 1 + 8 + macSize
	macSize          = 15
)

func (s *Server) mergedHandle(x *export, l layer, ino uint64) []byte {
	fh := make([]byte, mergedHandleSize)
	binary.BigEndian.PutUint64(fh, x.id)
	fh[8] = byte(l)
	binary.BigEndian.PutUint64(fh[9:], ino)
	copy(fh[17:], s.mac(fh[:17]))
	return fh
}

func (s *Server) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.handleKey)
	m.Write([]byte("flarecast nfs handle v1\x00"))
	m.Write(b)
	return m.Sum(nil)[:macSize]
}

func (s *Server) parseMerged(fh []byte) (*export, layer, uint64, bool) {
	if len(fh) != mergedHandleSize || !hmac.Equal(fh[17:], s.mac(fh[:17])) {
		return nil, 0, 0, false
	}
	x, ok := s.byID[binary.BigEndian.Uint64(fh)]
	if !ok || x.merged == nil {
		return nil, 0, 0, false
	}
	return x, layer(fh[8]), binary.BigEndian.Uint64(fh[9:]), true
}

// allowed reports whether the peer of conn may mount x.
func (x *export) allowed(conn net.Conn) bool {
	if len(x.Clients) == 0 {
		return true
	}
	if conn == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return false
	}
	for _, c := range x.Clients {
		if c == ap.Addr().Unmap() {
			return true
		}
	}
	return false
}

// prepareUpper makes the upper and work directories of a merged export, and empties work
// of what a crash left there (copies not renamed into place, removed directories).
func prepareUpper(upper, work string) error {
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	left, err := os.ReadDir(work)
	if err != nil {
		return err
	}
	for _, l := range left {
		if err := os.RemoveAll(filepath.Join(work, l.Name())); err != nil {
			return err
		}
	}
	return nil
}
