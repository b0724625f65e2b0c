package tarball

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
)

// frameSize is how much tar goes into one zstd frame. Frames are compressed independently, so
// every core can work at once; 8 MiB keeps the ratio within 1% of one long zstd stream.
const frameSize = 8 << 20

// frameEncoder compresses one frame's worth of tar into one complete zstd frame. worker (below
// the count given at creation) tells which goroutine calls, so an encoder can keep per-worker
// state. The same input must always give the same frame.
type frameEncoder interface {
	encode(worker int, src, dst []byte) ([]byte, error)
	close()
}

// DefaultLevel is the zstd level used when PackOptions.Level is 0; it matches `zstd -3`.
const DefaultLevel = 3

// sink is the end of the pack pipeline: it hashes and counts the tar, compresses it or not, and
// counts what reaches the caller's writer. It does not hash that output: the caller's writer is
// a repository ingester, which computes the blob's digest anyway.
type sink interface {
	io.Writer
	// Close flushes everything to the underlying writer (which it does not close).
	Close() error
	// sums returns the sha256 and size of the tar, and the size of the bytes written out.
	sums() (tarSum string, tarSize int64, outSize int64)
}

func newSink(w io.Writer, c Compression, level int) (sink, error) {
	switch c {
	case Plain:
		return &plainSink{out: counter{w: w, h: sha256.New()}}, nil
	case Zstd:
		return newFrameSink(w, level)
	}
	return nil, fmt.Errorf("unknown compression %d", c)
}

// counter hashes and counts what passes through it to w.
type counter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// plainSink writes the tar as it is: the tar and the output are the same bytes, hashed once.
type plainSink struct{ out counter }

func (s *plainSink) Write(p []byte) (int, error) { return s.out.Write(p) }

func (s *plainSink) Close() error { return nil }

func (s *plainSink) sums() (string, int64, int64) {
	return digestOf(s.out.h), s.out.n, s.out.n
}

// frame is one slice of tar on its way through compression.
type frame struct {
	src, dst []byte
	ready    chan struct{}
}

// frameSink cuts the tar into frameSize pieces, compresses them on every core with EncodeAll,
// and writes the frames in order. Memory is bounded: at most cap(order)+1 frames exist at once.
type frameSink struct {
	enc     frameEncoder
	out     io.Writer
	outSize int64
	tarHash hash.Hash
	tarSize int64

	cur *frame
	// frames counts the frames made; at most cap(free), all of which come back to free.
	frames int
	work   chan *frame
	order  chan *frame
	free   chan *frame
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	err    error
	closed bool
}

func newFrameSink(w io.Writer, level int) (*frameSink, error) {
	if level == 0 {
		level = DefaultLevel
	}
	workers := runtime.GOMAXPROCS(0)
	enc, err := newFrameEncoder(level, workers)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	s := &frameSink{
		enc:     enc,
		out:     w,
		tarHash: sha256.New(),
		work:    make(chan *frame, workers),
		order:   make(chan *frame, workers+1),
		free:    make(chan *frame, workers+3),
		done:    make(chan struct{}),
	}
	for i := range workers {
		s.wg.Add(1)
		go s.compress(i)
	}
	go s.writeOut()
	return s, nil
}

func (s *frameSink) compress(worker int) {
	defer s.wg.Done()
	for f := range s.work {
		var err error
		f.dst, err = s.enc.encode(worker, f.src, f.dst[:0])
		if err != nil {
			s.fail(fmt.Errorf("compress: %w", err))
		}
		close(f.ready)
	}
}

// writeOut writes frames in tar order. Hashing the tar happens here, off the producer's path.
func (s *frameSink) writeOut() {
	defer close(s.done)
	for f := range s.order {
		<-f.ready
		s.tarHash.Write(f.src)
		if s.failed() == nil {
			n, err := s.out.Write(f.dst)
			s.outSize += int64(n)
			if err != nil {
				s.fail(fmt.Errorf("write compressed tar: %w", err))
			}
		}
		f.src, f.dst = f.src[:0], f.dst[:0]
		select {
		case s.free <- f:
		default:
		}
	}
}

func (s *frameSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *frameSink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *frameSink) Write(p []byte) (int, error) {
	if err := s.failed(); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		if s.cur == nil {
			s.cur = s.frame()
		}
		n := min(len(p), frameSize-len(s.cur.src))
		s.cur.src = append(s.cur.src, p[:n]...)
		p = p[n:]
		written += n
		s.tarSize += int64(n)
		if len(s.cur.src) == frameSize {
			s.flush()
		}
	}
	return written, nil
}

// frame is a free frame: a written one back from writeOut, or a new one while fewer than
// cap(free) exist. Past that it waits for one: a pack that allocated a frame for each MiB
// of tar gave the garbage collector (and the zeroing of each allocation) the tar's size again.
func (s *frameSink) frame() *frame {
	if s.frames < cap(s.free) {
		select {
		case f := <-s.free:
			return f
		default:
			s.frames++
			// Room for a typical compressed frame, so EncodeAll's appends need not grow it.
			return &frame{src: make([]byte, 0, frameSize), dst: make([]byte, 0, frameSize/2)}
		}
	}
	return <-s.free
}

// flush hands the current frame to the workers, and to the writer that keeps their order.
func (s *frameSink) flush() {
	f := s.cur
	s.cur = nil
	f.ready = make(chan struct{})
	s.order <- f
	s.work <- f
}

func (s *frameSink) Close() error {
	if s.closed {
		return s.failed()
	}
	s.closed = true
	if s.cur != nil && len(s.cur.src) > 0 {
		s.flush()
	}
	close(s.order)
	close(s.work)
	<-s.done
	s.wg.Wait()
	s.enc.close()
	return s.failed()
}

func (s *frameSink) sums() (string, int64, int64) {
	return digestOf(s.tarHash), s.tarSize, s.outSize
}
