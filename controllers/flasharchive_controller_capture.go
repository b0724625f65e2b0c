package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/model"
)

// planCapture checks the cross-object rules of a capture (the group, the node, Running, an
// install server for its site) and, once the install server has recorded an upload in
// status.capture, what it names. The upload itself never goes through here.
func planCapture(ctx context.Context, r *FlashArchiveReconciler, fa *fcv1.FlashArchive) (plan, error) {
	src := fa.Spec.Source.Capture
	field := "spec.source.capture"
	var g fcv1.NodesGroup
	if err := r.Get(ctx, client.ObjectKey{Namespace: fa.Namespace, Name: src.NodesGroupRef.Name}, &g); err != nil {
		if apierrors.IsNotFound(err) {
			return waiting(ReasonNodesGroupNotFound, "%s.nodesGroupRef: no NodesGroup %s", field, src.NodesGroupRef.Name), nil
		}
		return plan{}, fmt.Errorf("get NodesGroup %s: %w", src.NodesGroupRef.Name, err)
	}
	if g.Spec.NodeType == fcv1.NodeTypeDiskless {
		return failed(ReasonCaptureNotSupported, "%s: NodesGroup %s is Diskless: its nodes' root is the group's NFS export (or RAM), not a system of their own; capture a node of a Diskfull or Dataless group", field, g.Name), nil
	}
	var names []string
	known := false
	for _, n := range g.Spec.Nodes {
		known = known || n.Name == src.Node
		if len(names) < 16 {
			names = append(names, n.Name)
		}
	}
	if !known {
		return waiting(ReasonCaptureNodeNotFound, "%s.node: NodesGroup %s has no node %s (it has %d: %s)", field, g.Name, src.Node, len(g.Spec.Nodes), strings.Join(names, ", ")), nil
	}
	node := &fcv1.NodeStatus{}
	for i := range g.Status.Nodes {
		if g.Status.Nodes[i].Name == src.Node {
			node = &g.Status.Nodes[i]
		}
	}
	if node.Phase != fcv1.NodeRunning {
		return waiting(ReasonCaptureNodeNotRunning, "%s.node: node %s of NodesGroup %s is %s, not Running: a capture is taken from a node that runs its group's deployable and reports Running",
			field, src.Node, g.Name, phaseOrNone(node.Phase)), nil
	}
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: fa.Namespace, Name: g.Spec.ClusterRef.Name}, &cl); err != nil {
		if apierrors.IsNotFound(err) {
			return waiting(fcv1.ReasonClusterNotFound, "%s: NodesGroup %s names Cluster %s, which is not found", field, g.Name, g.Spec.ClusterRef.Name), nil
		}
		return plan{}, fmt.Errorf("get Cluster %s: %w", g.Spec.ClusterRef.Name, err)
	}
	site := model.SiteOf(&cl)
	if site == "" {
		return waiting(ReasonNoInstallServer, "%s: no install server serves Cluster %s (it has no spec.installServer.site), so none can take node %s's root: set the site", field, cl.Name, src.Node), nil
	}
	ref := fa.Namespace + "/" + cl.Name + "/" + src.Node
	if c := fa.Status.Capture; c != nil && c.Digest != "" {
		return checkCaptured(ctx, r, c, ref)
	}
	msg := fmt.Sprintf("waiting for node %s of NodesGroup %s to stream its root file system to the install server of site %s, which asks it at its next heartbeat", src.Node, g.Name, site)
	if c := fa.Status.Capture; c != nil && c.Message != "" {
		msg += "; last: " + c.Message
	}
	return plan{phase: fcv1.ArchiveAwaitingCapture, reason: ReasonAwaitingCapture, message: msg}, nil
}

// checkCaptured holds what the install server recorded to the repository: a Generic archive
// whose inputs name this node and the inputs digest recorded.
func checkCaptured(ctx context.Context, r *FlashArchiveReconciler, c *fcv1.CaptureStatus, ref string) (plan, error) {
	a, err := archive.Load(ctx, r.Store, c.Digest)
	if err != nil {
		return failed(ReasonCaptureInvalid, "status.capture names %s, which %s does not hold: %v", c.Digest, r.Repository, err), nil
	}
	node := a.Config.Inputs[installserver.InputCaptureNode]
	if a.Config.Type != archive.Generic || !strings.HasPrefix(node, ref+" ") {
		return failed(ReasonCaptureInvalid, "status.capture names %s, a %s archive captured from %q, not a Generic capture of node %s", c.Digest, a.Config.Type, node, ref), nil
	}
	return plan{captured: c.Digest, capturedInputs: digest.Digest(c.InputsDigest), message: c.Message}, nil
}

func phaseOrNone(p fcv1.NodePhase) string {
	if p == "" {
		return "not reported yet"
	}
	return string(p)
}

// capturesOfCluster maps a Cluster (its install server's site counts) to the archives
// capturing a node of one of its groups.
func (r *FlashArchiveReconciler) capturesOfCluster(ctx context.Context, o client.Object) []reconcile.Request {
	groups, err := groupsOf(ctx, r.Client, o.GetNamespace(), o.GetName())
	if err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range groups {
		reqs = append(reqs, r.capturesOfGroup(ctx, &groups[i])...)
	}
	return reqs
}

// capturesOfGroup maps a NodesGroup (its nodes' phases count) to the archives capturing one
// of its nodes.
func (r *FlashArchiveReconciler) capturesOfGroup(ctx context.Context, o client.Object) []reconcile.Request {
	var list fcv1.FlashArchiveList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, fa := range list.Items {
		if src := fa.Spec.Source; src != nil && src.Capture != nil && src.Capture.NodesGroupRef.Name == o.GetName() {
			reqs = append(reqs, requestFor(fa.Namespace, fa.Name))
		}
	}
	return reqs
}
