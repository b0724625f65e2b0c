package check

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/crdvalidate"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

// Report is the outcome of a check.
type Report struct {
	Findings []Finding
	// Checked counts the flarecast objects; Ignored lists the objects of other groups.
	Checked int
	Ignored []manifest.Object
}

// Count returns the number of findings of a severity.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Failed says whether the check fails: on any error, and on any missing part when the model
// must be complete.
func (r *Report) Failed(requireComplete bool) bool {
	return r.Count(SeverityError) > 0 || requireComplete && r.Count(SeverityMissing) > 0
}

// key names an object in a set of manifests.
type key struct{ namespace, kind, name string }

// entry is one flarecast object of the input.
type entry struct {
	src      manifest.Object
	rejected bool // the server would refuse it
	typed    runtime.Object
}

// Check admits every flarecast object, resolves the model of each Cluster, and checks each
// FlashArchive against what derives from it and the groups that run it.
func Check(ctx context.Context, objs []manifest.Object, v *crdvalidate.Validator) *Report {
	c := admitAll(ctx, objs, v)
	c.resolve()
	c.checkArchives()
	c.report.Findings = sortFindings(c.report.Findings)
	return c.report
}

// admitAll runs the single-object checks: what the API server would do with each object.
func admitAll(ctx context.Context, objs []manifest.Object, v *crdvalidate.Validator) *checker {
	c := &checker{report: &Report{}, entries: map[key]*entry{}}
	for _, o := range objs {
		if o.GVK().Group != v1alpha1.GroupVersion.Group {
			c.report.Ignored = append(c.report.Ignored, o)
			continue
		}
		c.report.Checked++
		c.admit(ctx, o, v)
	}
	return c
}

type checker struct {
	report  *Report
	entries map[key]*entry
	order   []key
}

func (c *checker) add(file string, k key, reason model.Reason, field, node, msg string, sev Severity) {
	c.report.Findings = append(c.report.Findings, Finding{File: file, Kind: k.kind, Name: k.name, Field: field, Node: node, Reason: reason, Message: msg, Severity: sev})
}

func (c *checker) admit(ctx context.Context, o manifest.Object, v *crdvalidate.Validator) {
	gvk := o.GVK()
	k := key{o.Namespace(), gvk.Kind, o.Name()}
	if prev, dup := c.entries[k]; dup {
		c.add(o.File, k, ReasonDuplicateObject, "metadata.name", "", fmt.Sprintf("%s/%s is given twice (first in %s, document %d): the second would replace the first; rename one", k.kind, k.name, prev.src.File, prev.src.Doc), SeverityError)
		return
	}
	e := &entry{src: o}
	c.entries[k] = e
	c.order = append(c.order, k)
	if !v.Handles(gvk) {
		e.rejected = true
		c.add(o.File, k, ReasonUnknownKind, "apiVersion", "", fmt.Sprintf("%s is not a kind of %s: the server serves Cluster, NodesGroup, Machine, Network and FlashArchive", gvk.Kind, gvk.GroupVersion()), SeverityError)
		return
	}
	for _, err := range v.Admit(ctx, o.Object) {
		e.rejected = true
		path, msg := v.Explain(o.Object, err)
		c.add(o.File, k, ReasonRejected, path, "", msg, SeverityError)
	}
	var typed runtime.Object
	switch gvk.Kind {
	case "Cluster":
		typed = &v1alpha1.Cluster{}
	case "NodesGroup":
		typed = &v1alpha1.NodesGroup{}
	case "Machine":
		typed = &v1alpha1.Machine{}
	case "Network":
		typed = &v1alpha1.Network{}
	case "FlashArchive":
		typed = &v1alpha1.FlashArchive{}
	default:
		return // admitted, and in no model rule
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
		if !e.rejected {
			c.add(o.File, k, ReasonUnreadable, "", "", fmt.Sprintf("cannot be read as a %s: %v", gvk.Kind, err), SeverityError)
		}
		e.rejected = true
		return
	}
	e.typed = typed
}

// resolve runs the model per Cluster, and the single-object rules on what no Cluster uses.
func (c *checker) resolve() {
	usedMachines, usedNetworks, usedGroups := map[key]bool{}, map[key]bool{}, map[key]bool{}
	// sites holds the resolved clusters of each site, by namespace and site name, for the
	// rules across the clusters that share an install server.
	sites := map[key][]model.SiteMember{}
	groups := c.groupsByCluster()
	for _, k := range c.order {
		e := c.entries[k]
		cl, ok := e.typed.(*v1alpha1.Cluster)
		if !ok {
			continue
		}
		in := model.Input{Cluster: cl}
		for _, ref := range cl.Spec.MachineRefs {
			mk := key{k.namespace, "Machine", ref.Name}
			usedMachines[mk] = true
			if m, ok := c.typed(mk).(*v1alpha1.Machine); ok {
				in.Machines = append(in.Machines, m)
			}
		}
		if ref := cl.Spec.NetworkRef; ref != nil {
			nk := key{k.namespace, "Network", ref.Name}
			usedNetworks[nk] = true
			if n, ok := c.typed(nk).(*v1alpha1.Network); ok {
				in.Network = n
			}
		}
		for _, gk := range groups[k] {
			usedGroups[gk] = true
			in.Groups = append(in.Groups, *c.entries[gk].typed.(*v1alpha1.NodesGroup))
		}
		res := model.Resolve(in)
		if site := model.SiteOf(cl); site != "" {
			sk := key{namespace: k.namespace, name: site}
			sites[sk] = append(sites[sk], model.SiteMember{Cluster: cl, Result: res})
		}
		c.record(k.namespace, res.Problems, SeverityError)
		c.record(k.namespace, res.Warnings, SeverityWarning)
		c.record(k.namespace, res.Missing, SeverityMissing)
	}
	for sk, members := range sites {
		c.record(sk.namespace, model.ResolveSite(sk.name, members), SeverityError)
	}
	for _, k := range c.order {
		switch t := c.entries[k].typed.(type) {
		case *v1alpha1.Machine:
			if !usedMachines[k] {
				c.record(k.namespace, model.ValidateMachine(t), SeverityError)
			}
		case *v1alpha1.Network:
			if !usedNetworks[k] {
				c.record(k.namespace, model.ValidateNetwork(t), SeverityError)
			}
		case *v1alpha1.NodesGroup:
			if !usedGroups[k] {
				c.record(k.namespace, model.ValidateGroup(t), SeverityError)
				c.add(c.entries[k].src.File, k, ReasonClusterNotChecked, "spec.clusterRef", "", fmt.Sprintf("Cluster %s is not in the checked manifests, so the rules across the cluster's groups, Machine and Network were not checked: check it with its Cluster", t.Spec.ClusterRef.Name), SeverityMissing)
			}
		}
	}
}

// groupsByCluster indexes the readable NodesGroups by the Cluster they name, in input order:
// one pass, so that the work grows with the objects and not with clusters × groups.
func (c *checker) groupsByCluster() map[key][]key {
	out := map[key][]key{}
	for _, gk := range c.order {
		if g, ok := c.entries[gk].typed.(*v1alpha1.NodesGroup); ok {
			ck := key{gk.namespace, "Cluster", g.Spec.ClusterRef.Name}
			out[ck] = append(out[ck], gk)
		}
	}
	return out
}

func (c *checker) typed(k key) runtime.Object {
	if e, ok := c.entries[k]; ok {
		return e.typed
	}
	return nil
}

// record files the model's findings against the objects they name. An object the server
// would reject already has its errors: the model's findings on it would repeat them, and a
// reference to it is not "not found" but rejected.
func (c *checker) record(namespace string, ps []model.Problem, sev Severity) {
	for _, p := range ps {
		k := key{namespace, p.Kind, p.Name}
		e, ok := c.entries[k]
		if !ok {
			continue
		}
		if e.rejected {
			continue
		}
		if sev == SeverityMissing && c.refersToRejected(namespace, p) {
			continue
		}
		c.add(e.src.File, k, p.Reason, p.Field, p.Node, p.Message, sev)
	}
}

func (c *checker) refersToRejected(namespace string, p model.Problem) bool {
	if p.Reason != model.ReasonMachineNotFound && p.Reason != model.ReasonNetworkNotFound {
		return false
	}
	cl, _ := c.entries[key{namespace, p.Kind, p.Name}].typed.(*v1alpha1.Cluster)
	if cl == nil {
		return false
	}
	switch {
	case strings.HasPrefix(p.Field, "spec.machineRefs["):
		name := strings.TrimSuffix(strings.TrimPrefix(p.Field, "spec.machineRefs["), "]")
		_, present := c.entries[key{namespace, "Machine", name}]
		return present
	case p.Field == "spec.networkRef" && cl.Spec.NetworkRef != nil:
		_, present := c.entries[key{namespace, "Network", cl.Spec.NetworkRef.Name}]
		return present
	}
	return false
}
