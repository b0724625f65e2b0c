// Package logbuf holds what a server under test logs, so that a test can assert what an
// operator would read (a refusal explained, a token never written) while the server's
// goroutines are still writing: one buffer serves slog handlers and child processes (as an
// io.Writer) and logr code (through Logger).
//
// Tests only: WaitFor calls testing.TB.
package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Buffer is a log, one entry a line, safe to write and read at once. The zero value is empty
// and ready.
type Buffer struct {
	// Verbosity is the highest V level Logger passes on (0: Info and Error only).
	Verbosity int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p (an slog handler writes one record a call, ending in a newline).
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is the whole log.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger writes each entry as a line of funcr's key-value text (`"msg"="…" "key"=value`),
// after the logger's name when it has one.
func (b *Buffer) Logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		if prefix != "" {
			args = prefix + " " + args
		}
		b.Write([]byte(args + "\n"))
	}, funcr.Options{Verbosity: b.Verbosity})
}

// Count is how many lines hold every part.
func (b *Buffer) Count(parts ...string) int {
	n := 0
	for _, l := range lines(b.String()) {
		if holdsAll(l, parts) {
			n++
		}
	}
	return n
}

// WaitFor returns the first line holding every part, waiting up to 5 seconds for it (a
// server may log what it did after the client has seen it done), and fails the test with
// the log if none comes.
func (b *Buffer) WaitFor(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := b.String()
		for _, l := range lines(all) {
			if holdsAll(l, parts) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", parts, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lines(log string) []string {
	if log == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(log, "\n"), "\n")
}

func holdsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}
