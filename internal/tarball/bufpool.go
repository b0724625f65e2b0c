package tarball

import (
	"math/bits"
	"sync"
)

// bufPool recycles read-ahead buffers by power-of-two size class: fresh memory for every file
// would cost page faults and zeroing for each byte of the tree.
type bufPool struct {
	classes [22]sync.Pool // 1 B … 2 MiB
}

func class(n int) int { return bits.Len(uint(n - 1)) }

// get returns a buffer of length n.
func (p *bufPool) get(n int) []byte {
	c := class(n)
	if c >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

func (p *bufPool) put(b []byte) {
	c := class(cap(b))
	if c < len(p.classes) && cap(b) == 1<<c {
		p.classes[c].Put(&b)
	}
}
