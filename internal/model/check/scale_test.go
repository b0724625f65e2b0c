package check

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	crd "github.com/flarecast/flarecast/config/crd"
	"github.com/flarecast/flarecast/internal/crdvalidate"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

// manyClusters is n Clusters, each with one NodesGroup of one node: the shape whose cost
// must grow with the objects, not with their square.
func manyClusters(t testing.TB, n int) []manifest.Object {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: c%d}
spec: {domain: 3}
---
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: g%d}
spec:
  clusterRef: {name: c%d}
  role: NonMasterEligible
  nodeType: Diskless
  os: {name: debian}
  arch: amd64
  nodes: [{name: n%d, id: 1}]
---
`, i, i, i, i)
	}
	objs, errs := manifest.Decode("site.yaml", strings.NewReader(b.String()))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return objs
}

func loadValidator(t testing.TB) *crdvalidate.Validator {
	t.Helper()
	v, err := crdvalidate.Load(crd.Bases, "bases")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func BenchmarkCheckManyClusters(b *testing.B) {
	v := loadValidator(b)
	for _, n := range []int{1000, 2000, 4000} {
		objs := manyClusters(b, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Check(context.Background(), objs, v)
			}
		})
	}
}

// cpuTime is the CPU time the process has used, user and system: unlike the wall clock it
// does not grow when other processes share the machine.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// crossObjectCost is the least CPU time of a few runs of the cross-object part of a check of
// objs (each admitted once beforehand: admission is per object by construction).
func crossObjectCost(t testing.TB, objs []manifest.Object, v *crdvalidate.Validator) time.Duration {
	t.Helper()
	c := admitAll(context.Background(), objs, v)
	// The collector's work depends on the whole heap (the test's own objects too) and comes
	// in cycles that may fall in either run; without it, what is timed is the check's own.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	best := time.Duration(math.MaxInt64)
	for range 5 {
		c.report.Findings = nil
		runtime.GC()
		start := cpuTime(t)
		c.resolve()
		best = min(best, cpuTime(t)-start)
	}
	return best
}

// The cross-object work of a check of twice the Clusters (each with its group) costs about
// twice as much, not four times: groups are found through an index, not by a scan of every
// object per Cluster (16,000 Clusters took 51 s when they were).
func TestCrossObjectCostGrowsWithTheObjectsNotTheirSquare(t *testing.T) {
	if testing.Short() {
		t.Skip("measures checks of thousands of objects")
	}
	v := loadValidator(t)
	const n = 1000
	small, large := manyClusters(t, n), manyClusters(t, 2*n)
	crossObjectCost(t, small, v) // warm up
	cs, cl := crossObjectCost(t, small, v), crossObjectCost(t, large, v)
	ratio := float64(cl) / float64(cs)
	t.Logf("cross-object work: %d Clusters %v CPU, %d Clusters %v CPU: ratio %.2f", n, cs, 2*n, cl, ratio)
	if ratio >= 3 {
		t.Fatalf("the cross-object work for %d Clusters cost %.2f times the CPU of %d (%v vs %v): it grows faster than the objects", 2*n, ratio, n, cl, cs)
	}
}
