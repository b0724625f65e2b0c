//go:build libzstd

package tarball

/*
#cgo LDFLAGS: -lzstd
#include <zstd.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// EncoderName names the zstd implementation this build compresses with (see encoder_go.go).
var EncoderName = "libzstd " + C.GoString(C.ZSTD_versionString())

// cEncoder compresses with the system's libzstd, one compression context per worker. Built only
// with -tags libzstd (and cgo): it is about a third cheaper in CPU than the pure-Go encoder, but
// its frames depend on the libzstd version, so digests would differ from the release binary's.
type cEncoder struct{ ctxs []*C.ZSTD_CCtx }

func newFrameEncoder(level, workers int) (frameEncoder, error) {
	e := cEncoder{}
	for range workers {
		ctx := C.ZSTD_createCCtx()
		if ctx == nil {
			e.close()
			return nil, errors.New("ZSTD_createCCtx failed")
		}
		e.ctxs = append(e.ctxs, ctx)
		for _, p := range [][2]C.int{
			{C.ZSTD_c_compressionLevel, C.int(level)},
			{C.ZSTD_c_checksumFlag, 0},
			{C.ZSTD_c_contentSizeFlag, 1},
		} {
			if r := C.ZSTD_CCtx_setParameter(ctx, C.ZSTD_cParameter(p[0]), p[1]); C.ZSTD_isError(r) != 0 {
				e.close()
				return nil, fmt.Errorf("libzstd parameter %d: %s", p[0], C.GoString(C.ZSTD_getErrorName(r)))
			}
		}
	}
	return e, nil
}

func (e cEncoder) encode(worker int, src, dst []byte) ([]byte, error) {
	bound := int(C.ZSTD_compressBound(C.size_t(len(src))))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:bound]
	var in unsafe.Pointer
	if len(src) > 0 {
		in = unsafe.Pointer(&src[0])
	}
	n := C.ZSTD_compress2(e.ctxs[worker], unsafe.Pointer(&dst[0]), C.size_t(bound), in, C.size_t(len(src)))
	if C.ZSTD_isError(n) != 0 {
		return nil, errors.New(C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:n], nil
}

func (e cEncoder) close() {
	for _, ctx := range e.ctxs {
		C.ZSTD_freeCCtx(ctx)
	}
}
