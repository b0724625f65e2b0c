package installserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
)

// maxPlanBytes bounds one plan file read from an archive.
const maxPlanBytes = 1 << 20

// Plans answers GET plan: the node's group's deployable FlashArchive (as the controllers
// name it), built and in the repository, with the node's plan from its cluster section and
// the URLs of its sections on this server's blob route.
type Plans struct {
	// Reader reads FlashArchives (the manager's cache).
	Reader client.Reader
	Store  repository.Store
	// DeployableName is the controllers' name of a group's deployable FlashArchive.
	DeployableName func(cluster, group string) string
	// Site is the snapshot in force.
	Site func() *Site
	// ServerURL is the base of the blob URLs (http://198.18.0.1:8080).
	ServerURL string
	// NFSServer and NFSPort are where the NFS roots are served.
	NFSServer netip.Addr
	NFSPort   int
	// Installed is the digest a node last reported it runs ("" when none).
	Installed func(ctx context.Context, namespace, group, node string) string
	// NFS is how the export at a path stands (Exports.State): a Diskless node is told its
	// root once its group's tree is served.
	NFS func(path string) (ExportState, bool)
	// NFSServed says whether a read-write export (a node's own, shared data) is served
	// (Exports.Served).
	NFSServed func(path string) bool

	mu sync.Mutex
	// loaded holds, per manifest digest, the archive and the plans of its cluster section:
	// an archive never changes under its digest, so it is read once.
	loaded map[string]*loadedArchive
}

type loadedArchive struct {
	a     *archive.Archive
	plans map[string][]byte // node -> plan file
}

var _ agentapi.PlanSource = (*Plans)(nil)

// Plan implements agentapi.PlanSource.
func (p *Plans) Plan(ctx context.Context, ref agentapi.NodeRef) (installplan.PlanResponse, error) {
	var none installplan.PlanResponse
	n, ok := p.Site().Node(ref)
	if !ok {
		return none, fmt.Errorf("node %s is not served by this install server (not in the model of a Cluster of its site, or left out of it: see its log): %w", ref, agentapi.ErrUnknownNode)
	}
	name := p.DeployableName(ref.Cluster, n.Group)
	var fa fcv1.FlashArchive
	switch err := p.Reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: name}, &fa); {
	case apierrors.IsNotFound(err):
		return none, fmt.Errorf("NodesGroup %s has no deployable FlashArchive %s yet (it needs spec.archiveRef and a complete, valid model): %w", n.Group, name, agentapi.ErrNotReady)
	case err != nil:
		return none, fmt.Errorf("get FlashArchive %s: %w", name, err)
	}
	if fa.Status.Phase != fcv1.ArchiveReady || !agentapi.IsSHA256Digest(fa.Status.Digest) {
		return none, fmt.Errorf("deployable FlashArchive %s of NodesGroup %s is not built yet (phase %q): %w", name, n.Group, fa.Status.Phase, agentapi.ErrNotReady)
	}
	la, err := p.load(ctx, fa.Status.Digest)
	if err != nil {
		return none, fmt.Errorf("deployable FlashArchive %s (%s): %w", name, fa.Status.Digest, err)
	}
	raw, ok := la.plans[ref.Node]
	if !ok {
		return none, fmt.Errorf("deployable FlashArchive %s (%s) carries no install plan for node %s (%s in its cluster section): it was made without install plans (the flarecast that built it renders none), and no node of the group installs from it: %w",
			name, fa.Status.Digest, ref.Node, path.Join(installplan.PlanDir, ref.Node+".json"), agentapi.ErrNoPlan)
	}
	var plan installplan.Plan
	if err := json.Unmarshal(raw, &plan); err != nil {
		return none, fmt.Errorf("install plan of node %s in %s: %v: %w", ref.Node, fa.Status.Digest, err, agentapi.ErrNoPlan)
	}
	if plan.Version != installplan.Version || plan.Node != ref.Node || plan.Cluster != ref.Cluster || plan.Namespace != ref.Namespace {
		return none, fmt.Errorf("install plan %s of %s is version %q for node %s/%s/%s, not %s for %s: %w",
			path.Join(installplan.PlanDir, ref.Node+".json"), fa.Status.Digest, plan.Version, plan.Namespace, plan.Cluster, plan.Node, installplan.Version, ref, agentapi.ErrNoPlan)
	}
	resp := installplan.PlanResponse{Action: installplan.ActionInstall, Plan: plan, Archive: p.describe(name, la.a)}
	if resp.Mounts, err = p.mounts(n, plan.Mounts); err != nil {
		return none, err
	}
	if n.Diskless {
		// A diskless node has no disk to boot: it always takes its root from the export,
		// or unpacks the archive into memory (a RAM root: no export at all).
		if plan.Root == installplan.RootRAM {
			return resp, nil
		}
		root, err := p.nfsRoot(n, resp.Archive.Digest)
		if err != nil {
			return none, err
		}
		resp.NFSRoot = root
		if plan.Writes == installplan.WritesPersistent {
			at := NodeExportPath(ref.Namespace, n.Group, ref.Node)
			if p.NFSServed == nil || !p.NFSServed(at) {
				return none, fmt.Errorf("the read-write export of node %s (%s) is not served yet: %w", ref.Node, at, agentapi.ErrNotReady)
			}
			resp.NFSWrites = &installplan.NFSRoot{Server: p.NFSServer.String(), Port: p.NFSPort, Path: at, Digest: root.Digest}
		}
		return resp, nil
	}
	installed := ""
	if p.Installed != nil {
		installed = p.Installed(ctx, ref.Namespace, n.Group, ref.Node)
	}
	switch {
	case installed == resp.Archive.Digest:
		resp.Action = installplan.ActionBootLocal
		resp.Message = "the node runs its group's deployable archive"
	case installed != "":
		// A node that runs another archive reinstalls only when the Cluster's rollout tells
		// it to (maxUnavailable, the master and vice-master never down together): one that
		// boots from the network on its own meanwhile goes back to its disk.
		told, why, err := p.told(ctx, ref, n.Group)
		if err != nil {
			return none, err
		}
		if !told {
			resp.Action, resp.Message = installplan.ActionBootLocal, why
		}
	}
	if resp.Action == installplan.ActionBootLocal {
		// A node that keeps running may be asked for its root (capture.go).
		if resp.Capture, err = p.capture(ctx, ref, n, la, plan); err != nil {
			return none, err
		}
	}
	return resp, nil
}

// told reports whether the node is in its Cluster's status.rollout.reinstall, and if not,
// why it waits.
func (p *Plans) told(ctx context.Context, ref agentapi.NodeRef, group string) (bool, string, error) {
	var cl fcv1.Cluster
	if err := p.Reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Cluster}, &cl); err != nil {
		return false, "", fmt.Errorf("get Cluster %s: %w", ref.Cluster, err)
	}
	id := group + "/" + ref.Node
	if r := cl.Status.Rollout; r != nil {
		if slices.Contains(r.Reinstall, id) {
			return true, "", nil
		}
		for _, h := range r.Held {
			if h.Node == id {
				return false, fmt.Sprintf("the node runs another archive and waits for its turn in Cluster %s's rollout (%s): %s", ref.Cluster, h.Reason, h.Message), nil
			}
		}
	}
	return false, fmt.Sprintf("the node runs another archive and Cluster %s's rollout has not told it to reinstall yet", ref.Cluster), nil
}

func (p *Plans) describe(name string, a *archive.Archive) installplan.Archive {
	out := installplan.Archive{Name: name, Digest: a.Descriptor.Digest.String()}
	for _, s := range archive.Sections(a.Manifest) {
		out.Sections = append(out.Sections, installplan.Section{
			Name: s.Name, MediaType: s.Descriptor.MediaType, Digest: s.Descriptor.Digest.String(),
			DiffID: a.Config.DiffIDs[s.Name].String(), Size: s.Descriptor.Size,
			URL: p.ServerURL + "/blobs/" + s.Descriptor.Digest.String(),
		})
	}
	return out
}

// load reads an archive and its plans once per digest.
func (p *Plans) load(ctx context.Context, dgst string) (*loadedArchive, error) {
	p.mu.Lock()
	la, ok := p.loaded[dgst]
	p.mu.Unlock()
	if ok {
		return la, nil
	}
	desc, err := p.Store.Resolve(ctx, dgst)
	if err != nil {
		return nil, fmt.Errorf("not in the repository: %w", err)
	}
	a, err := archive.LoadDescriptor(ctx, p.Store, desc)
	if err != nil {
		return nil, err
	}
	if a.Config.Type != archive.Deployable {
		return nil, fmt.Errorf("is a %s archive, not a Deployable one", a.Config.Type)
	}
	plans := map[string][]byte{}
	files, err := archive.ReadSectionFiles(ctx, p.Store, a, archive.SectionCluster, func(name string) bool {
		return path.Dir(name) == installplan.PlanDir && path.Ext(name) == ".json"
	}, maxPlanBytes)
	if err != nil {
		return nil, err
	}
	for name, b := range files {
		plans[path.Base(name[:len(name)-len(".json")])] = b
	}
	la = &loadedArchive{a: a, plans: plans}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded == nil || len(p.loaded) >= 256 {
		// Deployables change with the model; older ones are read again if asked for.
		p.loaded = map[string]*loadedArchive{}
	}
	p.loaded[dgst] = la
	return la, nil
}

// nfsRoot is a Diskless node's root, once its group's export serves the digest the plan is of.
func (p *Plans) nfsRoot(n *NodeInfo, dgst string) (*installplan.NFSRoot, error) {
	at := ExportPath(n.Ref.Namespace, n.Group)
	if p.NFS == nil {
		return nil, fmt.Errorf("node %s is Diskless and this install server serves no NFS roots: %w", n.Ref.Node, agentapi.ErrNotReady)
	}
	st, ok := p.NFS(at)
	switch {
	case !ok || st.Digest != dgst:
		return nil, fmt.Errorf("the NFS root of NodesGroup %s (%s, of %s) is not made yet: %w", n.Group, at, dgst, agentapi.ErrNotReady)
	case st.Err != nil:
		return nil, fmt.Errorf("the NFS root of NodesGroup %s (%s) could not be made from %s: %v: %w", n.Group, at, dgst, st.Err, agentapi.ErrNotReady)
	case !st.Served:
		return nil, fmt.Errorf("the NFS root of NodesGroup %s (%s) is not served yet: %w", n.Group, at, agentapi.ErrNotReady)
	}
	return &installplan.NFSRoot{Server: p.NFSServer.String(), Port: p.NFSPort, Path: at, Digest: dgst}, nil
}

// mounts resolves the plan's shared data: another server's export as the plan gives it, the
// install server's own at its address and port, once served.
func (p *Plans) mounts(n *NodeInfo, in []installplan.Mount) ([]installplan.NFSMount, error) {
	var out []installplan.NFSMount
	for _, m := range in {
		nm := installplan.NFSMount{Name: m.Name, MountPoint: m.MountPoint, Server: m.Server, Path: m.Path,
			ReadOnly: m.ReadOnly, Options: slices.Clone(m.Options)}
		if m.Server == "" {
			at := DataExportPath(n.Ref.Namespace, n.Group, m.Name)
			if p.NFSServed == nil || !p.NFSServed(at) {
				return nil, fmt.Errorf("the shared data %s of NodesGroup %s (%s) is not served yet: %w", m.Name, n.Group, at, agentapi.ErrNotReady)
			}
			nm.Server, nm.Port, nm.Path = p.NFSServer.String(), p.NFSPort, at
		}
		out = append(out, nm)
	}
	return out, nil
}
