//go:build !libzstd

package tarball

import "github.com/klauspost/compress/zstd"

// EncoderName names the zstd implementation this build compresses with. The compressed bytes
// (not the tar, nor its diff_id) depend on it: builds with the libzstd tag give other, equally
// valid, frames.
const EncoderName = "klauspost/compress/zstd v1.20.4"

// goEncoder is the pure-Go encoder every build can use, including the static release binary.
type goEncoder struct{ enc *zstd.Encoder }

func newFrameEncoder(level, workers int) (frameEncoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(workers),
		// The layer's sha256 already guards the bytes; a frame checksum would cost CPU twice.
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return goEncoder{enc}, nil
}

func (e goEncoder) encode(_ int, src, dst []byte) ([]byte, error) {
	return e.enc.EncodeAll(src, dst), nil
}

func (e goEncoder) close() { e.enc.Close() }
