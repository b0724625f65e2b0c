package modelsource

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// resolutions counts the model resolutions actually run, by what was resolved: a graph of
// it against the reconciles shows the cache at work (one resolution per change, however
// many reconcilers ask).
var resolutions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "flarecast_model_resolutions_total",
	Help: "Resolutions of a model run (not served from the cache): scope is cluster (model.Resolve) or site (model.ResolveSite).",
}, []string{"scope"})

func init() {
	metrics.Registry.MustRegister(resolutions)
}

// Resolution is a cluster's own model, resolved, with what it was made from. Result is
// shared by every caller that asks while the key holds; Input is what this caller's Load
// read (the same model, and the objects' status as of now). Read both, never change them.
type Resolution struct {
	// Key names the input: a stamp of the Cluster and of each object read.
	Key    string
	Input  model.Input
	Result *model.Result
}

// Source loads and resolves models once per change.
type Source struct {
	reader client.Reader

	mu       sync.Mutex
	clusters map[types.NamespacedName]*flight[*model.Result]
	// sites is keyed by namespace and site name.
	sites map[types.NamespacedName]*flight[[]model.Problem]

	clusterRuns, siteRuns atomic.Int64
}

// flight is one resolution for one key: the first caller runs it, every caller with the
// same key waits for it and shares its value, and it stays until a caller brings a new key.
type flight[T any] struct {
	key  string
	done chan struct{}
	val  T
	ok   bool
	// members are the clusters a site resolution was made from, so a cluster that goes
	// takes its sites' entries with it.
	members []string
}

// New returns a Source reading through r, a cache with the fields IndexFields registers.
func New(r client.Reader) *Source {
	return &Source{
		reader:   r,
		clusters: map[types.NamespacedName]*flight[*model.Result]{},
		sites:    map[types.NamespacedName]*flight[[]model.Problem]{},
	}
}

// Reader is the reader the Source loads through.
func (s *Source) Reader() client.Reader { return s.reader }

// Resolve returns the resolution of a cluster's own model (without the rules across its
// site): resolved now if any of its inputs changed since the last one, else the last one.
// cl is the Cluster as the caller read it; it becomes part of the shared input.
func (s *Source) Resolve(ctx context.Context, cl *fcv1.Cluster) (*Resolution, error) {
	in, key, err := Load(ctx, s.reader, cl)
	if err != nil {
		return nil, err
	}
	id := client.ObjectKeyFromObject(cl)
	res, err := await(ctx, s, s.clusters, id, key, nil, func() *model.Result {
		s.clusterRuns.Add(1)
		resolutions.WithLabelValues("cluster").Inc()
		return model.Resolve(in)
	})
	if err != nil {
		return nil, err
	}
	return &Resolution{Key: key, Input: in, Result: res}, nil
}

// Site returns what the rules across the site of cl find, on every cluster of the site
// (model.ResolveSite), given cl's own resolution; nil for a cluster without a site. The
// other clusters' models come from the Source too, and the site is checked again only
// when one of its clusters' inputs changed.
func (s *Source) Site(ctx context.Context, cl *fcv1.Cluster, own *Resolution) ([]model.Problem, error) {
	site := model.SiteOf(cl)
	if site == "" {
		return nil, nil
	}
	mates, err := ClustersOfSite(ctx, s.reader, cl.Namespace, site)
	if err != nil {
		return nil, err
	}
	members := []model.SiteMember{{Cluster: cl, Result: own.Result}}
	names := []string{cl.Name}
	keys := []string{cl.Name + "{" + own.Key + "}"}
	for i := range mates {
		o := &mates[i]
		if o.Name == cl.Name || !o.DeletionTimestamp.IsZero() {
			continue
		}
		res, err := s.Resolve(ctx, o)
		if err != nil {
			return nil, err
		}
		members = append(members, model.SiteMember{Cluster: o, Result: res.Result})
		names = append(names, o.Name)
		keys = append(keys, o.Name+"{"+res.Key+"}")
	}
	slices.Sort(keys)
	id := types.NamespacedName{Namespace: cl.Namespace, Name: site}
	return await(ctx, s, s.sites, id, strings.Join(keys, " "), names, func() []model.Problem {
		s.siteRuns.Add(1)
		resolutions.WithLabelValues("site").Inc()
		return model.ResolveSite(site, members)
	})
}

// Forget drops what the Source holds for a cluster that is gone: its resolution and those
// of the sites it was part of.
func (s *Source) Forget(namespace, cluster string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clusters, types.NamespacedName{Namespace: namespace, Name: cluster})
	for id, f := range s.sites {
		if id.Namespace == namespace && slices.Contains(f.members, cluster) {
			delete(s.sites, id)
		}
	}
}

// Runs are how many cluster and site resolutions the Source has run, for tests and
// benchmarks.
func (s *Source) Runs() (clusters, sites int64) { return s.clusterRuns.Load(), s.siteRuns.Load() }

// Held is how many cluster resolutions the Source holds.
func (s *Source) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clusters)
}

var errResolveFailed = errors.New("model resolution failed (see the log of the caller that ran it)")

// await returns the value for id at key: the one held or being computed, or run's, which
// this caller then computes while any other caller with the same key waits.
func await[T any](ctx context.Context, s *Source, m map[types.NamespacedName]*flight[T], id types.NamespacedName, key string, members []string, run func() T) (T, error) {
	s.mu.Lock()
	f, ok := m[id]
	mine := !ok || f.key != key
	if mine {
		f = &flight[T]{key: key, done: make(chan struct{}), members: members}
		m[id] = f
	}
	s.mu.Unlock()
	if mine {
		func() {
			// A panic in the model leaves no caller waiting forever and no entry behind
			// that would answer the next caller with nothing.
			defer func() {
				if !f.ok {
					s.mu.Lock()
					if m[id] == f {
						delete(m, id)
					}
					s.mu.Unlock()
				}
				close(f.done)
			}()
			f.val = run()
			f.ok = true
		}()
	}
	var zero T
	select {
	case <-f.done:
		if !f.ok {
			return zero, errResolveFailed
		}
		return f.val, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
