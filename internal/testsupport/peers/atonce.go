package peers

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RunAtOnce runs n copies of a command at once (n clients of a server under test: curl, say)
// and fails the test if any of them fails, or if check (when not nil) refuses its output,
// with what each such copy said: a benchmark of failed transfers measures nothing.
func RunAtOnce(t testing.TB, n int, check func(out []byte) error, name string, args ...string) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for range n {
		wg.Go(func() {
			out, err := exec.Command(name, args...).CombinedOutput()
			if err == nil && check != nil {
				err = check(out)
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%v: %s", err, out))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d runs of %s %s at once failed; the first: %s", len(failed), n, name, strings.Join(args, " "), failed[0])
	}
}
