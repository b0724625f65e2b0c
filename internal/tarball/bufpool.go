package tarball

import (
	"math/bits"
	"sync"
)

// poolKeep bounds the bytes a bufPool holds for reuse.
const poolKeep = 16 << 20

// bufPool recycles read-ahead buffers by power-of-two size class: fresh memory for every file
// would cost page faults and zeroing for each byte of the tree, and garbage collections that
// a sync.Pool would not survive. It lives as long as one pack.
type bufPool struct {
	mu   sync.Mutex
	free [22][][]byte // by class: 1 B … 2 MiB
	kept int
}

func class(n int) int { return bits.Len(uint(n - 1)) }

// get returns a buffer of length n.
func (p *bufPool) get(n int) []byte {
	c := class(n)
	if c >= len(p.free) {
		return make([]byte, n)
	}
	p.mu.Lock()
	if l := len(p.free[c]); l > 0 {
		b := p.free[c][l-1]
		p.free[c] = p.free[c][:l-1]
		p.kept -= cap(b)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, 1<<c)
}

func (p *bufPool) put(b []byte) {
	c := class(cap(b))
	if c >= len(p.free) || cap(b) != 1<<c {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kept+cap(b) <= poolKeep {
		p.free[c] = append(p.free[c], b)
		p.kept += cap(b)
	}
}
