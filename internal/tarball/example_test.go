package tarball_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"

	"github.com/flarecast/flarecast/internal/tarball"
)

// A configuration section: a few files written as a deterministic tar, whatever order they
// are listed in.
func ExampleWriteEntries() {
	var buf bytes.Buffer
	st, err := tarball.WriteEntries(&buf, []tarball.Entry{
		{Path: "etc/flarecast/stages/10-network.sh", Mode: 0o755, Content: []byte("#!/bin/sh\n")},
		{Path: "etc/hostname", Mode: 0o644, Content: []byte("node1\n")},
		{Path: "etc/flarecast", Mode: fs.ModeDir | 0o755},
		{Path: "etc", Mode: fs.ModeDir | 0o755},
	}, tarball.PackOptions{SourceDateEpoch: 1700000000, Compression: tarball.Plain})
	if err != nil {
		panic(err)
	}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		fmt.Printf("%s %04o %s\n", hdr.ModTime.UTC().Format("2006-01-02"), hdr.Mode, hdr.Name)
	}
	fmt.Println(st.Files, "files,", st.Dirs, "directories")
	// Output:
	// 2023-11-14 0755 etc/
	// 2023-11-14 0755 etc/flarecast/
	// 2023-11-14 0755 etc/flarecast/stages/10-network.sh
	// 2023-11-14 0644 etc/hostname
	// 2 files, 2 directories
}
