package tarball

import (
	"bytes"
	"errors"
	"io"
	"os"
)

const (
	// holeBlock is the unit of hole detection: a file system block on common file systems.
	holeBlock = 4 << 10
	// sparseMin is the smallest file in which runs of zeros become holes; below it the
	// savings are not worth the extra system calls.
	sparseMin = 64 << 10
)

var zeroBlock [holeBlock]byte

// writeContent copies size bytes from r into f. In files of at least sparseMin bytes,
// 4 KiB-aligned blocks of zeros are skipped rather than written, so they become holes; the final
// truncate gives the file its size even when it ends in a hole. It returns io.ErrUnexpectedEOF
// if r ends early.
func writeContent(f *os.File, r io.Reader, size int64, buf []byte, progress func(int64)) error {
	sparse := size >= sparseMin
	var off int64
	for off < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			if werr := writeChunk(f, buf[:n], off, sparse); werr != nil {
				return werr
			}
			off += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			if off < size {
				return err
			}
		}
	}
	if sparse {
		return f.Truncate(size)
	}
	return nil
}

// writeChunk writes data at off, leaving out the all-zero blocks when sparse. off is a multiple
// of holeBlock whenever sparse, because buf's size is.
func writeChunk(f *os.File, data []byte, off int64, sparse bool) error {
	if !sparse {
		_, err := f.WriteAt(data, off)
		return err
	}
	start := -1 // start of the current run of blocks to write
	for i := 0; i < len(data); i += holeBlock {
		end := min(i+holeBlock, len(data))
		zero := end-i == holeBlock && bytes.Equal(data[i:end], zeroBlock[:])
		switch {
		case !zero && start < 0:
			start = i
		case zero && start >= 0:
			if _, err := f.WriteAt(data[start:i], off+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		_, err := f.WriteAt(data[start:], off+int64(start))
		return err
	}
	return nil
}
