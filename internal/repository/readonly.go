package repository

import (
	"errors"
	"fmt"
)

// ErrReadOnly is what every write to a store opened with Options.ReadOnly wraps.
var ErrReadOnly = errors.New("store opened read-only")

// A read-only store is a promise to the user of a command that only reads (ls, info, verify,
// extract, export, gc --dry-run): the repository is byte for byte the same afterwards. So
// opening one creates nothing (no layout, no lock file), removes nothing (a crashed writer's
// temp files are counted, and left for GC), and every write is refused before it starts.

func refuseWrite(op, location string) error {
	return fmt.Errorf("%s %s: %w; open it for writing to change it", op, location, ErrReadOnly)
}
