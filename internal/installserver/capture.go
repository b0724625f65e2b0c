package installserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// A capture is asked of a running node through its plan (Plans.capture) and taken through PUT
// capture (Captures): the upload is packed as it streams, with the deterministic packer, into
// the Generic archive the FlashArchive names, and the install server records what it stored in
// the archive's status.capture under its own field manager. The FlashArchive controller, which
// never writes that field, checks it against the repository and makes the archive Ready: the
// two never write the same field.

// Inputs a captured archive's config records (with build.InputInputsDigest over them).
const (
	InputCaptureNode    = "flarecast.io/capture-node"
	InputCaptureExclude = "flarecast.io/capture-exclude"
	InputCaptureArch    = "flarecast.io/capture-arch"
)

// CaptureEpoch is the modification time of every entry of a captured archive (and its
// config's creation date), as a build's default SOURCE_DATE_EPOCH: the same tree captured
// twice gives the same digest.
const CaptureEpoch = 1700000000

// asksCapture reports whether fa asks node of group for its root now: a Generic archive with
// source.capture naming it, that the controller has checked (AwaitingCapture at its
// generation) and that has no packed upload yet.
func asksCapture(fa *fcv1.FlashArchive, group, node string) bool {
	src := fa.Spec.Source
	if fa.Spec.Type != fcv1.ArchiveGeneric || src == nil || src.Capture == nil || !fa.DeletionTimestamp.IsZero() {
		return false
	}
	if src.Capture.NodesGroupRef.Name != group || src.Capture.Node != node {
		return false
	}
	return fa.Status.Phase == fcv1.ArchiveAwaitingCapture && fa.Status.ObservedGeneration == fa.Generation &&
		(fa.Status.Capture == nil || fa.Status.Capture.Digest == "")
}

// capture is the Capture of a running node's plan response, when an archive asks for one:
// the first by name, one at a time.
func (p *Plans) capture(ctx context.Context, ref agentapi.NodeRef, n *NodeInfo, la *loadedArchive, plan installplan.Plan) (*installplan.Capture, error) {
	var list fcv1.FlashArchiveList
	if err := p.Reader.List(ctx, &list, client.InNamespace(ref.Namespace)); err != nil {
		return nil, fmt.Errorf("list FlashArchives: %w", err)
	}
	var names []string
	for i := range list.Items {
		if asksCapture(&list.Items[i], n.Group, ref.Node) {
			names = append(names, list.Items[i].Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	exclude, err := p.captureExclude(ctx, la, plan)
	if err != nil {
		return nil, err
	}
	return &installplan.Capture{Archive: names[0], URL: p.ServerURL + installplan.APIPrefix + "/nodes/" + ref.Namespace + "/" + ref.Cluster + "/" + ref.Node + "/capture/" + names[0],
		Exclude: exclude}, nil
}

// captureExclude is what a capture of a node installed from la leaves out: the pseudo file
// systems and the node's identity (installplan.CaptureExclude), what the agent wrote for the
// node (agent.OwnFiles), every file of the deployable's cluster section (per-node files and
// plans), and the contents of the plan's other file systems: its slices mounted elsewhere
// than / and its shared data.
func (p *Plans) captureExclude(ctx context.Context, la *loadedArchive, plan installplan.Plan) ([]string, error) {
	var section []string
	if _, err := archive.ReadSectionFiles(ctx, p.Store, la.a, archive.SectionCluster, func(name string) bool {
		section = append(section, name)
		return false
	}, maxPlanBytes); err != nil {
		return nil, fmt.Errorf("list the cluster section of %s: %w", la.a.Descriptor.Digest, err)
	}
	var mounts []string
	for _, d := range plan.Disks {
		for _, s := range d.Slices {
			if mp := strings.Trim(path.Clean("/"+s.MountPoint), "/"); s.MountPoint != "" && mp != "" && s.FSType != "swap" {
				mounts = append(mounts, mp+"/*")
			}
		}
	}
	for _, m := range plan.Mounts {
		mounts = append(mounts, strings.Trim(path.Clean("/"+m.MountPoint), "/")+"/*")
	}
	return installplan.MergeExclude(installplan.CaptureExclude, agent.OwnFiles, section, mounts), nil
}

// Captures takes the uploads of PUT capture.
type Captures struct {
	// APIReader reads the archive fresh at the start of an upload; Client applies its status.
	APIReader client.Reader
	Client    client.Client
	Store     repository.Store
	Site      func() *Site
	Plans     *Plans
	// ArchiveTag is the controllers' name of an archive in the repository.
	ArchiveTag func(namespace, name string) string
	// MaxBytes, when positive, bounds an upload's tar; an archive's spec.limits.maxSize, when
	// set, bounds it instead.
	MaxBytes int64
	Now      func() time.Time

	mu   sync.Mutex
	busy map[types.NamespacedName]bool
}

var _ agentapi.CaptureSink = (*Captures)(nil)

// Capture implements agentapi.CaptureSink: it packs the node's tar as it streams (a tar out of
// canonical order is refused, never spooled) into the archive's name in the repository, and
// records the result, or why there is none, in the archive's status.capture. A cut or refused
// upload stores nothing (the ingest is dropped); the node is asked again.
func (c *Captures) Capture(ctx context.Context, ref agentapi.NodeRef, name string, body io.Reader, mounts []string) (installplan.CaptureResult, error) {
	var none installplan.CaptureResult
	n, ok := c.Site().Node(ref)
	if !ok {
		return none, fmt.Errorf("node %s is not served by this install server: %w", ref, agentapi.ErrUnknownNode)
	}
	key := types.NamespacedName{Namespace: ref.Namespace, Name: name}
	var fa fcv1.FlashArchive
	switch err := c.APIReader.Get(ctx, key, &fa); {
	case apierrors.IsNotFound(err):
		return none, fmt.Errorf("no FlashArchive %s in namespace %s: %w", name, ref.Namespace, agentapi.ErrNotAsked)
	case err != nil:
		return none, fmt.Errorf("get FlashArchive %s: %w", name, err)
	}
	if !asksCapture(&fa, n.Group, ref.Node) {
		return none, fmt.Errorf("FlashArchive %s does not ask node %s of NodesGroup %s for its root now (phase %q): %w", name, ref.Node, n.Group, fa.Status.Phase, agentapi.ErrNotAsked)
	}
	// The exclusions are the ones the node was offered: its plan asks for this very archive.
	resp, err := c.Plans.Plan(ctx, ref)
	if err != nil {
		return none, err
	}
	if resp.Capture == nil || resp.Capture.Archive != name {
		return none, fmt.Errorf("the plan of node %s does not ask for FlashArchive %s now: %w", ref, name, agentapi.ErrNotAsked)
	}
	if !c.begin(key) {
		return none, fmt.Errorf("an upload of FlashArchive %s is under way: %w", name, agentapi.ErrNotAsked)
	}
	defer c.end(key)

	excluded := resp.Capture.Exclude
	for _, m := range mounts {
		excluded = append(excluded, m+"/*")
	}
	excluded = installplan.MergeExclude(excluded)
	st := fcv1.CaptureStatus{Node: ref.String(), Excluded: excluded, Message: fmt.Sprintf("upload from node %s under way", ref)}
	if prev := fa.Status.Capture; prev != nil {
		st.Attempts = prev.Attempts
	}
	st.Attempts++
	if err := c.apply(ctx, &fa, st); err != nil {
		return none, err
	}
	inputs := map[string]string{
		InputCaptureNode:    ref.String() + " (NodesGroup " + n.Group + ")",
		InputCaptureExclude: strings.Join(excluded, "\n"),
		InputCaptureArch:    string(fa.Spec.Arch),
	}
	inputsDigest := digestOfInputs(inputs)
	inputs[build.InputInputsDigest] = inputsDigest
	created := time.Unix(CaptureEpoch, 0).UTC()
	limit := c.MaxBytes
	if l := fa.Spec.Limits; l != nil && l.MaxSize != "" {
		// The API server admitted it by its pattern; the controller reports one it cannot use.
		if q, err := resource.ParseQuantity(l.MaxSize); err == nil && q.Value() > 0 {
			limit = q.Value()
		}
	}
	in := &countingReader{r: body}
	desc, stats, err := archive.Create(ctx, c.Store, tarball.TarSource(in), archive.CreateOptions{
		Name: "capture of " + ref.String(), Tag: c.ArchiveTag(ref.Namespace, name), Architecture: string(fa.Spec.Arch), OS: "linux",
		Inputs: inputs, Created: &created, Stream: true, MaxBytes: limit,
	})
	// The result is recorded even when the node has gone (its request's context ended).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	now := metav1.NewTime(c.now().Truncate(time.Second))
	st.LastUploadTime = &now
	if err != nil {
		why := err.Error()
		if errors.Is(err, tarball.ErrNotCanonical) {
			why += " (the agent sends its root in canonical order; an older agent may not)"
		}
		st.Message = truncate(fmt.Sprintf("upload %d from node %s failed after %d bytes, nothing was stored, and the node is asked again at its next heartbeat: %s",
			st.Attempts, ref, in.n, why), maxMessage)
		if aerr := c.apply(rctx, &fa, st); aerr != nil {
			err = fmt.Errorf("%w (and its status: %v)", err, aerr)
		}
		return none, fmt.Errorf("pack the capture of node %s into FlashArchive %s: %w", ref, name, err)
	}
	st.Digest, st.InputsDigest = desc.Digest.String(), inputsDigest
	st.Message = truncate(fmt.Sprintf("upload %d from node %s packed into %s: %d entries, %d bytes of tar, %d stored", st.Attempts, ref, desc.Digest, stats.Entries(), stats.TarBytes, stats.OutputBytes), maxMessage)
	if err := c.apply(rctx, &fa, st); err != nil {
		return none, err
	}
	return installplan.CaptureResult{Archive: name, Digest: desc.Digest.String(), Size: stats.OutputBytes, TarBytes: stats.TarBytes, Entries: stats.Entries()}, nil
}

func (c *Captures) begin(key types.NamespacedName) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[key] {
		return false
	}
	if c.busy == nil {
		c.busy = map[types.NamespacedName]bool{}
	}
	c.busy[key] = true
	return true
}

func (c *Captures) end(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, key)
}

func (c *Captures) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// apply writes status.capture, and only it, under FieldOwner.
func (c *Captures) apply(ctx context.Context, fa *fcv1.FlashArchive, st fcv1.CaptureStatus) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fcv1.GroupVersion.WithKind("FlashArchive"))
	u.SetNamespace(fa.Namespace)
	u.SetName(fa.Name)
	u.SetUID(fa.UID) // an archive deleted and made again is another capture
	u.Object["status"] = map[string]any{"capture": content}
	if err := c.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("record the capture in FlashArchive %s/%s: %w", fa.Namespace, fa.Name, err)
	}
	return nil
}

// digestOfInputs is the sha256 of the inputs as sorted JSON (encoding/json sorts map keys).
func digestOfInputs(in map[string]string) string {
	b, _ := json.Marshal(in) // strings only: cannot fail
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// countingReader counts what an upload delivered, for the failure message.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func newCaptures(s *Server, deps Deps) *Captures {
	tag := deps.ArchiveTag
	if tag == nil {
		tag = func(namespace, name string) string { return namespace + "." + name }
	}
	return &Captures{APIReader: deps.APIReader, Client: deps.Client, Store: deps.Store, Site: s.Site, Plans: s.Plans, ArchiveTag: tag}
}
