package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/archiveref"
	"github.com/flarecast/flarecast/internal/render"
)

// plan is what a FlashArchive's spec resolves to now: the inputs of its build, or why it
// cannot be built yet (a waiting reason: phase Pending) or at all (phase Failed).
type plan struct {
	inputs *build.Inputs
	// dockerConfig is the registry credentials of an image source: handed to the build,
	// never part of its inputs (they change what may be read, not what it is).
	dockerConfig []byte
	baseDigest   string
	// captured is the archive a capture's install server packed, with its inputs digest:
	// recorded as it is, never built.
	captured       string
	capturedInputs digest.Digest
	phase          fcv1.ArchivePhase
	reason         string
	message        string
}

func waiting(reason, format string, args ...any) plan {
	return plan{phase: fcv1.ArchivePending, reason: reason, message: fmt.Sprintf(format, args...)}
}

func failed(reason, format string, args ...any) plan {
	return plan{phase: fcv1.ArchiveFailed, reason: reason, message: fmt.Sprintf(format, args...)}
}

// planners resolve each type of archive: one small function per type.
var planners = map[fcv1.ArchiveType]func(context.Context, *FlashArchiveReconciler, *fcv1.FlashArchive) (plan, error){
	fcv1.ArchiveGeneric:    planGeneric,
	fcv1.ArchiveConfigured: planConfigured,
	fcv1.ArchiveDeployable: planDeployable,
}

func planGeneric(ctx context.Context, r *FlashArchiveReconciler, fa *fcv1.FlashArchive) (plan, error) {
	src := fa.Spec.Source
	switch {
	case src == nil:
		return failed(ReasonInvalidSpec, "spec.source: a Generic archive needs a source"), nil
	case src.Rootfs == nil && src.Image == nil && src.Build == nil && src.Capture == nil:
		return failed(ReasonInvalidSpec, "spec.source: no source given"), nil
	case fa.Spec.Arch == "":
		return failed(ReasonInvalidSpec, "spec.arch: a Generic archive needs the architecture of its root file system"), nil
	case src.Capture != nil:
		return planCapture(ctx, r, fa)
	}
	in := &build.Inputs{Type: archive.Generic, Arch: string(fa.Spec.Arch)}
	if os := fa.Spec.OS; os != nil {
		in.Distribution = strings.TrimSpace(os.Name + " " + os.Version)
	}
	if src.Build != nil {
		return planBuild(ctx, r, fa, in)
	}
	var creds []byte
	if src.Image != nil {
		in.Image = &build.Image{Ref: src.Image.Ref}
		if ref := src.Image.PullSecretRef; ref != nil {
			var err error
			creds, err = content(ctx, r.APIReader, fa.Namespace,
				fcv1.ConfigSource{SecretKeyRef: &fcv1.KeyReference{Name: ref.Name, Key: corev1.DockerConfigJsonKey}}, "spec.source.image.pullSecretRef")
			if p, ok := missing(err); ok {
				return p, nil
			}
			if err != nil {
				return plan{}, err
			}
		}
	} else {
		in.Rootfs = &build.Rootfs{URL: src.Rootfs.URL, Digest: digest.Digest(src.Rootfs.Digest)}
	}
	return plan{inputs: in, dockerConfig: creds}, nil
}

func planConfigured(ctx context.Context, r *FlashArchiveReconciler, fa *fcv1.FlashArchive) (plan, error) {
	base, p, err := readyBase(ctx, r.Client, fa.Namespace, fa.Spec.BaseRef.Name)
	if base == nil || err != nil {
		return p, err
	}
	conf, err := configuration(ctx, r.APIReader, fa.Namespace, "spec.configuration", fa.Spec.Configuration)
	if p, ok := missing(err); ok {
		return p, nil
	} else if err != nil {
		return plan{}, err
	}
	in := &build.Inputs{Type: archive.Configured, Base: digest.Digest(base.Status.Digest), Configuration: conf}
	return plan{inputs: in, baseDigest: base.Status.Digest}, nil
}

// missing turns content a spec names but that does not exist into a waiting plan.
func missing(err error) (plan, bool) {
	var m *missingError
	if errors.As(err, &m) {
		return waiting(fcv1.ReasonConfigurationMiss, "%s", m.msg), true
	}
	return plan{}, false
}

// readyBase returns the named archive when it is Ready to derive from; otherwise the plan
// says what it waits for.
func readyBase(ctx context.Context, c client.Reader, namespace, name string) (*fcv1.FlashArchive, plan, error) {
	base, err := archiveLookup(ctx, c, namespace)(name)
	if err != nil {
		return nil, plan{}, fmt.Errorf("get base %w", err)
	}
	// The rules model check applies offline too (package archiveref).
	if p := archiveref.CheckBase(name, base); p != nil {
		if p.Reason == archiveref.ReasonBaseNotFound {
			return nil, waiting(string(p.Reason), "spec.baseRef: %s", p.Message), nil
		}
		return nil, failed(string(p.Reason), "spec.baseRef: %s", p.Message), nil
	}
	if !archiveReady(base) {
		return nil, waiting(ReasonBaseNotReady, "waiting for base FlashArchive %s to be Ready (it is %s)", name, phaseOf(base)), nil
	}
	return base, plan{}, nil
}

// archiveLookup finds the FlashArchives of a namespace for package archiveref.
func archiveLookup(ctx context.Context, c client.Reader, namespace string) archiveref.Lookup {
	return func(name string) (*fcv1.FlashArchive, error) {
		var fa fcv1.FlashArchive
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &fa); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("FlashArchive %s: %w", name, err)
		}
		return &fa, nil
	}
}

func archiveReady(fa *fcv1.FlashArchive) bool {
	return fa.Status.Phase == fcv1.ArchiveReady && fa.Status.Digest != "" && fa.DeletionTimestamp.IsZero()
}

func phaseOf(fa *fcv1.FlashArchive) string {
	if fa.Status.Phase == "" {
		return "not reconciled yet"
	}
	if c := findCondition(fa.Status.Conditions, fcv1.ConditionReady); c != nil && c.Status != metav1.ConditionTrue {
		return fmt.Sprintf("%s: %s", fa.Status.Phase, c.Reason)
	}
	return string(fa.Status.Phase)
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func planDeployable(ctx context.Context, r *FlashArchiveReconciler, fa *fcv1.FlashArchive) (plan, error) {
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: fa.Namespace, Name: fa.Spec.ClusterRef.Name}, &cl); err != nil {
		if apierrors.IsNotFound(err) {
			return waiting(fcv1.ReasonClusterNotFound, "spec.clusterRef: Cluster %s is not found", fa.Spec.ClusterRef.Name), nil
		}
		return plan{}, fmt.Errorf("get Cluster %s: %w", fa.Spec.ClusterRef.Name, err)
	}
	rs, err := r.Models.Resolve(ctx, &cl)
	if err != nil {
		return plan{}, err
	}
	in, res := rs.Input, rs.Result
	group := groupNamed(in.Groups, fa.Spec.NodesGroupRef.Name)
	if group == nil {
		return waiting(ReasonNodesGroupNotFound, "spec.nodesGroupRef: no NodesGroup %s of Cluster %s", fa.Spec.NodesGroupRef.Name, cl.Name), nil
	}
	if !res.Complete() {
		return waiting(ReasonModelNotReady, "waiting for the model of Cluster %s to be complete: %s", cl.Name, summarize(res.Missing, messageLimit)), nil
	}
	if !res.Valid() {
		return waiting(ReasonModelNotReady, "waiting for the model of Cluster %s to be valid: %s", cl.Name, summarize(res.Problems, messageLimit)), nil
	}
	base, p, err := readyBase(ctx, r.Client, fa.Namespace, fa.Spec.BaseRef.Name)
	if base == nil || err != nil {
		return p, err
	}
	arch, err := archiveref.Arch(base, archiveLookup(ctx, r.Client, fa.Namespace))
	if err != nil {
		return plan{}, err
	}
	if p := archiveref.CheckArch(base, arch, group); p != nil {
		return failed(string(p.Reason), "spec.baseRef: %s", p.Message), nil
	}
	load, p, err := softwareLoad(ctx, r.Client, &cl, in.Groups, map[string]string{group.Name: base.Status.Digest})
	if load == nil || err != nil {
		return p, err
	}
	files, err := clusterFiles(ctx, r.APIReader, &cl, group, res)
	if p, ok := missing(err); ok {
		return p, nil
	} else if err != nil {
		return failed(ReasonTemplateFailed, "%v", err), nil
	}
	plans, err := planFiles(&cl, in.Groups, group.Name, res)
	if err != nil {
		return plan{}, err
	}
	files = append(files, plans...)
	conf, err := configuration(ctx, r.APIReader, fa.Namespace, "NodesGroup "+group.Name+" spec.configuration", group.Spec.Configuration)
	if p, ok := missing(err); ok {
		return p, nil
	} else if err != nil {
		return plan{}, err
	}
	inputs := &build.Inputs{Type: archive.Deployable, Base: digest.Digest(base.Status.Digest), Configuration: conf,
		Cluster: &build.Cluster{Files: files, Nodes: render.NodeTable(res)}, SoftwareLoad: load, NodesGroup: group.Name}
	return plan{inputs: inputs, baseDigest: base.Status.Digest}, nil
}

func groupNamed(groups []fcv1.NodesGroup, name string) *fcv1.NodesGroup {
	for i := range groups {
		if groups[i].Name == name {
			return &groups[i]
		}
	}
	return nil
}

// softwareLoad is the descriptor of a cluster's software load: every group that names an
// archive, with that archive's digest. override gives the archive of a group whose
// deployable derives from another base than its archiveRef (a hand-made deployable). It
// waits while an archive is not Ready.
func softwareLoad(ctx context.Context, c client.Reader, cl *fcv1.Cluster, groups []fcv1.NodesGroup, override map[string]string) (*archive.SoftwareLoadDescriptor, plan, error) {
	bases := map[string]digest.Digest{}
	var loaded []fcv1.NodesGroup
	for _, g := range groups {
		if d, ok := override[g.Name]; ok {
			bases[g.Name] = digest.Digest(d)
		} else if g.Spec.ArchiveRef != nil {
			base, p, err := readyBase(ctx, c, cl.Namespace, g.Spec.ArchiveRef.Name)
			if base == nil || err != nil {
				p.message = fmt.Sprintf("the software load of Cluster %s: NodesGroup %s: %s", cl.Name, g.Name, p.message)
				if p.reason == ReasonBaseNotFound {
					p.reason = ReasonBaseNotReady
				}
				return nil, p, err
			}
			bases[g.Name] = digest.Digest(base.Status.Digest)
		} else {
			continue
		}
		loaded = append(loaded, g)
	}
	load, err := render.SoftwareLoad(cl, loaded, bases)
	if err != nil {
		return nil, failed(ReasonInvalidSpec, "%v", err), nil
	}
	return load, plan{}, nil
}

// planFiles are the install plans of the group's nodes, for its deployable's cluster section:
// the install server hands each node the plan its group's deployable carries, covered by that
// archive's digests. Other groups' plans stay out, so that a change to one group's scripts
// reinstalls only that group.
func planFiles(cl *fcv1.Cluster, groups []fcv1.NodesGroup, group string, res *model.Result) ([]build.File, error) {
	var mine []installplan.Plan
	for _, p := range render.InstallPlans(cl, groups, res) {
		if p.Group == group {
			mine = append(mine, p)
		}
	}
	files, err := render.PlanFiles(mine)
	if err != nil {
		return nil, err
	}
	out := make([]build.File, 0, len(files))
	for _, f := range files {
		out = append(out, build.File{Path: f.Path, Mode: f.Mode, Data: f.Data})
	}
	return out, nil
}

// clusterFiles renders the foundation-service templates of the services the group runs.
func clusterFiles(ctx context.Context, c client.Reader, cl *fcv1.Cluster, g *fcv1.NodesGroup, res *model.Result) ([]build.File, error) {
	runs := map[string]bool{}
	for _, s := range g.Spec.Services {
		runs[s] = true
	}
	var templates []render.Template
	// A file rendered from a template kept in a Secret may hold the Secret's bytes.
	secret := map[string]bool{}
	for _, s := range cl.Spec.FoundationServices {
		if !runs[s.Name] {
			continue
		}
		for _, t := range s.Templates {
			text, err := content(ctx, c, cl.Namespace, t.Source, fmt.Sprintf("Cluster %s spec.foundationServices[%s].templates[%s]", cl.Name, s.Name, t.Path))
			if err != nil {
				return nil, err
			}
			templates = append(templates, render.Template{Service: s.Name, Path: t.Path, Mode: uint32(t.Mode), Text: string(text)})
			if t.Source.SecretKeyRef != nil {
				secret[t.Path] = true
			}
		}
	}
	files, err := render.Files(templates, render.DataFrom(cl, res))
	if err != nil {
		return nil, err
	}
	out := make([]build.File, 0, len(files))
	for _, f := range files {
		out = append(out, build.File{Path: f.Path, Mode: f.Mode, Data: f.Data, FromSecret: secret[f.Path]})
	}
	return out, nil
}
