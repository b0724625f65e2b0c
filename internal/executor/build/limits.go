package build

import (
	"errors"
	"fmt"
	"time"

	"github.com/flarecast/flarecast/internal/bytesize"
)

// Limits bound a build: what it may read (file:// only under the directories an operator
// allows, http(s) only from the hosts allowed, when any are listed), how long each step of a
// download and the whole build may take, and how large a source may be. A zero field takes
// its default (DefaultLimits), so a request made by hand is bounded too.
type Limits struct {
	// ConnectTimeout bounds a TCP (and TLS) connection to the source's server.
	ConnectTimeout time.Duration `json:"connectTimeout,omitempty"`
	// FirstByteTimeout bounds the wait for the response's headers once the request is sent.
	FirstByteTimeout time.Duration `json:"firstByteTimeout,omitempty"`
	// IdleTimeout bounds a pause between two reads of the body.
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`
	// DownloadTimeout bounds a whole download.
	DownloadTimeout time.Duration `json:"downloadTimeout,omitempty"`
	// BuildTimeout bounds the whole build, download and packing included.
	BuildTimeout time.Duration `json:"buildTimeout,omitempty"`
	// MaxSize bounds, in bytes, the source as fetched (declared and read) and the
	// uncompressed tar it holds, counted as it streams.
	MaxSize int64 `json:"maxSize,omitempty"`
	// AllowFileSources are the directories file:// sources may be read from; none: file://
	// is refused.
	AllowFileSources []string `json:"allowFileSources,omitempty"`
	// AllowHosts, when any, are the only hosts (host or host:port) http(s) sources may be
	// fetched from, redirects included.
	AllowHosts []string `json:"allowHosts,omitempty"`
	// AllowBuildSources lets a build source run: apt installs its packages as root in a
	// chroot of the build's host, and a chroot is no sandbox, so whoever may name the
	// packages, the repositories or the base runs code as root there. Off: refused.
	AllowBuildSources bool `json:"allowBuildSources,omitempty"`
}

// DefaultLimits are the bounds a build has when neither the manager nor the archive says.
var DefaultLimits = Limits{
	ConnectTimeout:   30 * time.Second,
	FirstByteTimeout: time.Minute,
	IdleTimeout:      time.Minute,
	DownloadTimeout:  time.Hour,
	BuildTimeout:     2 * time.Hour,
	MaxSize:          32 << 30,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	l.ConnectTimeout = orDefault(l.ConnectTimeout, d.ConnectTimeout)
	l.FirstByteTimeout = orDefault(l.FirstByteTimeout, d.FirstByteTimeout)
	l.IdleTimeout = orDefault(l.IdleTimeout, d.IdleTimeout)
	l.DownloadTimeout = orDefault(l.DownloadTimeout, d.DownloadTimeout)
	l.BuildTimeout = orDefault(l.BuildTimeout, d.BuildTimeout)
	l.MaxSize = orDefault(l.MaxSize, d.MaxSize)
	return l
}

func orDefault[T int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Reasons of a Failure: a FlashArchive's Ready condition carries them.
const (
	ReasonSourceNotAllowed = "SourceNotAllowed"
	ReasonDigestMismatch   = "DigestMismatch"
	ReasonSourceTooLarge   = "SourceTooLarge"
	ReasonConnectTimeout   = "ConnectTimeout"
	ReasonFirstByteTimeout = "FirstByteTimeout"
	ReasonIdleTimeout      = "IdleTimeout"
	ReasonDownloadTimeout  = "DownloadTimeout"
	ReasonBuildTimeout     = "BuildTimeout"
)

// Failure is a build that a bound or a check stopped: a reason a program can act on, a
// message a person can, and how many bytes of the source it had read.
type Failure struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Bytes   int64  `json:"bytes,omitempty"`
}

func (f *Failure) Error() string { return f.Message }

func failure(reason string, bytes int64, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Bytes: bytes, Message: fmt.Sprintf(format, args...)}
}

// AsFailure returns the Failure in err's chain, if any.
func AsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}

// sizeOf says a byte count the way a person reads it, and exactly.
func sizeOf(n int64) string {
	if n < 1024 {
		return bytesize.Format(n)
	}
	return fmt.Sprintf("%s (%d bytes)", bytesize.Format(n), n)
}
