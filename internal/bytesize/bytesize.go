// Package bytesize writes a byte count the way a person reads it, in powers of 1024
// ("1.5 GiB"), for messages and command output. It only formats; it parses nothing.
package bytesize

import "fmt"

// Format is n in bytes below 1 KiB ("512 B"), else in the largest binary unit it reaches,
// with one decimal ("30.0 GiB").
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
