package archive

import (
	"bytes"
	"fmt"
	"io/fs"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/tarball"
)

// packFiles writes a small section as a deterministic tar+zstd with the binary section's
// normalization (owner root, times at the epoch). Parent directories are not listed: on
// extraction over a root file system the existing ones keep their modes and the missing ones
// are created 0755.
// packedSection is a small section packed: its compressed bytes, and the diffID and size of
// the tar inside, which the config records.
type packedSection struct {
	blob     []byte
	diffID   digest.Digest
	tarBytes int64
}

func packFiles(files []sectionFile, created *time.Time) (packedSection, error) {
	entries := make([]tarball.Entry, 0, len(files))
	for _, f := range files {
		entries = append(entries, tarball.Entry{Path: f.name, Mode: unixMode(f.mode), Content: f.data})
	}
	var opts tarball.PackOptions
	if created != nil {
		opts.SourceDateEpoch = created.Unix()
	}
	var buf bytes.Buffer
	st, err := tarball.WriteEntries(&buf, entries, opts)
	if err != nil {
		return packedSection{}, err
	}
	return packedSection{blob: buf.Bytes(), diffID: digest.Digest(st.DiffID), tarBytes: st.TarBytes}, nil
}

// unixMode turns tar permission bits (with setuid, setgid, sticky) into an fs.FileMode.
func unixMode(m int64) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func renderConfiguration(c *Configuration, created *time.Time) (packedSection, error) {
	files, err := configurationFiles(c)
	if err != nil {
		return packedSection{}, err
	}
	ps, err := packFiles(files, created)
	if err != nil {
		return packedSection{}, fmt.Errorf("pack the %s section: %w", SectionConfiguration, err)
	}
	return ps, nil
}

func renderCluster(c *ClusterSection, load *SoftwareLoadDescriptor, created *time.Time) (packedSection, error) {
	files, err := clusterFiles(c, load)
	if err != nil {
		return packedSection{}, err
	}
	ps, err := packFiles(files, created)
	if err != nil {
		return packedSection{}, fmt.Errorf("pack the %s section: %w", SectionCluster, err)
	}
	return ps, nil
}
