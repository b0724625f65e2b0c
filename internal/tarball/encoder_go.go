//go:build !libzstd

package tarball

import (
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// EncoderName names the zstd implementation this build compresses with. The compressed bytes
// (not the tar, nor its diff_id) depend on it: builds with the libzstd tag give other, equally
// valid, frames.
const EncoderName = "klauspost/compress/zstd v1.20.4"

// goEncoder is the pure-Go encoder every build can use, including the static release binary.
type goEncoder struct{ enc *zstd.Encoder }

// goEncoders keeps one encoder per level for the life of the process: an encoder's history
// buffers take tens of MiB to allocate, and EncodeAll is safe for concurrent use, so packs
// (and the many small WriteEntries calls) share them.
var goEncoders struct {
	sync.Mutex
	byLevel map[int]*zstd.Encoder
}

func newFrameEncoder(level, _ int) (frameEncoder, error) {
	goEncoders.Lock()
	defer goEncoders.Unlock()
	if enc, ok := goEncoders.byLevel[level]; ok {
		return goEncoder{enc}, nil
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		// The layer's sha256 already guards the bytes; a frame checksum would cost CPU twice.
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	if goEncoders.byLevel == nil {
		goEncoders.byLevel = make(map[int]*zstd.Encoder)
	}
	goEncoders.byLevel[level] = enc
	return goEncoder{enc}, nil
}

func (e goEncoder) encode(_ int, src, dst []byte) ([]byte, error) {
	return e.enc.EncodeAll(src, dst), nil
}

// close keeps the shared encoder for the next pack.
func (e goEncoder) close() {}
