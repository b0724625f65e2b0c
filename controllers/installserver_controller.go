package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// Reasons of the InstallServerReady condition.
const (
	ReasonLocalMode            = "LocalMode"
	ReasonInstallServerReady   = "DeploymentAvailable"
	ReasonInstallServerWaiting = "DeploymentNotAvailable"
	ReasonInstallServerRefused = "InstallServerRefused"
	// ReasonRepositoryPullSecretNotFound: spec.installServer.repositoryPullSecretRef names a
	// Secret that is not there; ReasonRepositoryPullSecretInvalid: one of another type or
	// without its .dockerconfigjson key. The Deployment is not changed until it is fixed.
	ReasonRepositoryPullSecretNotFound = "RepositoryPullSecretNotFound"
	ReasonRepositoryPullSecretInvalid  = "RepositoryPullSecretInvalid"
)

// LabelSite marks what the manager makes for a site's install server, and the node (or
// nodes) on the site's provisioning network its pod runs on.
const LabelSite = "flarecast.io/site"

// installServerFieldOwner writes the install server's condition and status.installServer.
const installServerFieldOwner = "flarecast-installservers"

// InstallServerOptions say how the manager runs install servers in Pod mode.
type InstallServerOptions struct {
	// Image holds the flarecast binary, at /flarecast.
	Image string
	// Repository is the manager's repository (a directory or oci://…); RepositoryClaim, for a
	// directory, is the PersistentVolumeClaim holding it, mounted read-only at that path.
	Repository, RepositoryClaim string
	// Kernel and Initramfs are paths in the image of the deploy kernel and initramfs.
	Kernel, Initramfs string
	// HTTPPort, ProbePort and MetricsPort are the pod's ports on its node's network.
	HTTPPort, ProbePort, MetricsPort int32
	// StateDir is the node directory under which each site keeps its leases (a hostPath:
	// a node keeps its address across a restart of the pod).
	StateDir string
}

func (o *InstallServerOptions) defaults() {
	if o.Image == "" {
		o.Image = "ghcr.io/flarecast/flarecast:latest"
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = 8080
	}
	if o.ProbePort == 0 {
		o.ProbePort = 8091
	}
	if o.MetricsPort == 0 {
		o.MetricsPort = 8092
	}
	if o.StateDir == "" {
		o.StateDir = "/var/lib/flarecast/installserver"
	}
}

// InstallServerReconciler runs, for every site with a Cluster in Pod mode, the site's
// install server: a Deployment on the node labelled flarecast.io/site=<site>, with a service
// account whose Role reads the model and writes node reports and nothing else. Each Cluster
// says which install server serves it and whether it is ready (InstallServerReady).
type InstallServerReconciler struct {
	client.Client
	// APIReader reads the site Secret past the cache.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Options   InstallServerOptions
}

// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete

// InstallServerName is the name of what the manager makes for a site's install server.
func InstallServerName(site string) string { return boundedName("flarecast-installserver-"+site, 63) }

func (r *InstallServerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cl fcv1.Cluster
	if err := r.Get(ctx, req.NamespacedName, &cl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	site := model.SiteOf(&cl)
	var cond metav1.Condition
	st := &fcv1.InstallServerStatus{Mode: cl.Spec.InstallServer.Mode, Site: site}
	if st.Mode == "" {
		st.Mode = fcv1.InstallServerLocal
	}
	if site != "" {
		// The site's objects follow its Pod-mode Clusters, whichever of them changed.
		dep, err := r.reconcileSite(ctx, cl.Namespace, site)
		var pse *pullSecretError
		if errors.As(err, &pse) {
			// The Secret's watch wakes the site when it is made or mended: no retry loop.
			cond = condition(&cl, fcv1.ConditionInstallServerReady, false, pse.reason, pse.msg)
			return ctrl.Result{}, r.applyStatus(ctx, &cl, cond, st)
		}
		if err != nil {
			cond = condition(&cl, fcv1.ConditionInstallServerReady, false, ReasonInstallServerRefused,
				fmt.Sprintf("the install server of site %s could not be made: %v", site, err))
			if aerr := r.applyStatus(ctx, &cl, cond, st); aerr != nil {
				return ctrl.Result{}, aerr
			}
			return ctrl.Result{}, err
		}
		if st.Mode == fcv1.InstallServerPod && dep != nil {
			st.Deployment = dep.Name
		}
		if st.Mode == fcv1.InstallServerPod {
			cond = deploymentCondition(&cl, site, dep)
		}
	}
	if st.Mode != fcv1.InstallServerPod {
		cond = localCondition(&cl, site)
	}
	return ctrl.Result{}, r.applyStatus(ctx, &cl, cond, st)
}

func localCondition(cl *fcv1.Cluster, site string) metav1.Condition {
	c := condition(cl, fcv1.ConditionInstallServerReady, false, ReasonLocalMode, "")
	c.Status = metav1.ConditionUnknown
	if site == "" {
		c.Message = "no install server serves this cluster: set spec.installServer.site (and mode: Pod to have the manager run it)"
		return c
	}
	iface := cl.Spec.InstallServer.Interface
	if iface == "" {
		iface = "IFACE"
	}
	c.Message = fmt.Sprintf("Local mode: the manager does not run the install server; run `flarecast installserver --namespace %s --site %s --interface %s --repo REPO` on the provisioning host", cl.Namespace, site, iface)
	return c
}

func deploymentCondition(cl *fcv1.Cluster, site string, dep *appsv1.Deployment) metav1.Condition {
	name := InstallServerName(site)
	if dep != nil && dep.Status.ObservedGeneration >= dep.Generation && dep.Status.AvailableReplicas > 0 {
		return condition(cl, fcv1.ConditionInstallServerReady, true, ReasonInstallServerReady,
			fmt.Sprintf("Deployment %s serves site %s", name, site))
	}
	msg := fmt.Sprintf("Deployment %s of site %s has no available pod yet", name, site)
	if dep != nil {
		for _, c := range dep.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				msg += ": " + c.Message
				break
			}
		}
	}
	return condition(cl, fcv1.ConditionInstallServerReady, false, ReasonInstallServerWaiting,
		msg+fmt.Sprintf(" (it runs on a node labelled %s=%s, on that node's interface %s)", LabelSite, site, cl.Spec.InstallServer.Interface))
}

// reconcileSite makes or updates the site's install server when a Cluster of the site is in
// Pod mode, owned by all of them, and removes it when none is. It returns the Deployment.
func (r *InstallServerReconciler) reconcileSite(ctx context.Context, namespace, site string) (*appsv1.Deployment, error) {
	clusters, err := modelsource.ClustersOfSite(ctx, r.Client, namespace, site)
	if err != nil {
		return nil, err
	}
	var pods []fcv1.Cluster
	for _, c := range clusters {
		if c.Spec.InstallServer.Mode == fcv1.InstallServerPod && c.DeletionTimestamp.IsZero() {
			pods = append(pods, c)
		}
	}
	name := InstallServerName(site)
	if len(pods) == 0 {
		for _, o := range []client.Object{&appsv1.Deployment{}, &rbacv1.RoleBinding{}, &rbacv1.Role{}, &corev1.ServiceAccount{}} {
			// Asked of the cache first: a site in Local mode costs no API call.
			if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, o); apierrors.IsNotFound(err) {
				continue
			}
			if err := r.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
				return nil, fmt.Errorf("remove the install server of site %s: %w", site, err)
			}
		}
		return nil, nil
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var owners []metav1.OwnerReference
	for _, c := range pods {
		owners = append(owners, metav1.OwnerReference{APIVersion: fcv1.GroupVersion.String(), Kind: "Cluster", Name: c.Name, UID: c.UID})
	}
	// The site's settings agree across its Clusters (model.ResolveSite says so when they do
	// not): the first one's are the site's.
	iface := pods[0].Spec.InstallServer.Interface
	// The manager makes the site secret, so the pod needs no right to create Secrets.
	secret := installserver.DefaultSecretName(site)
	if _, err := installserver.SiteSecret(ctx, r.Client, r.APIReader, types.NamespacedName{Namespace: namespace, Name: secret}); err != nil {
		return nil, err
	}
	pull := ""
	if ref := pods[0].Spec.InstallServer.RepositoryPullSecretRef; ref != nil {
		if err := r.checkPullSecret(ctx, namespace, ref.Name); err != nil {
			return nil, err
		}
		pull = ref.Name
	}
	for _, o := range r.siteObjects(namespace, site, name, iface, secret, pull, owners) {
		if err := r.apply(ctx, o); err != nil {
			return nil, fmt.Errorf("apply %T %s: %w", o, name, err)
		}
	}
	var dep appsv1.Deployment
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &dep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil // the cache has not seen it yet; its creation wakes the Clusters
		}
		return nil, err
	}
	return &dep, nil
}

// InstallServerRules is what the install server may do: read the model and the site secret,
// write its node reports and its captures' status.capture, record events. Nothing else.
func InstallServerRules(secret string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{fcv1.GroupVersion.Group}, Resources: []string{"clusters", "nodesgroups", "machines", "networks", "flasharchives"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{fcv1.GroupVersion.Group}, Resources: []string{"nodesgroups/status", "flasharchives/status"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secret}, Verbs: []string{"get"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}

// pullSecretError is a repository pull secret the site's pod cannot be given.
type pullSecretError struct{ reason, msg string }

func (e *pullSecretError) Error() string { return e.msg }

// checkPullSecret reads the Secret past the cache (the manager caches no Secret's data) and
// refuses one the pod could not use, before the Deployment names it.
func (r *InstallServerReconciler) checkPullSecret(ctx context.Context, namespace, name string) error {
	var sec corev1.Secret
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &sec)
	if apierrors.IsNotFound(err) {
		return &pullSecretError{ReasonRepositoryPullSecretNotFound, fmt.Sprintf(
			"spec.installServer.repositoryPullSecretRef: Secret %s/%s is not there: create it with `kubectl create secret docker-registry %s -n %s --docker-server=REGISTRY ...`, or remove repositoryPullSecretRef to read the registry anonymously",
			namespace, name, name, namespace)}
	}
	if err != nil {
		return fmt.Errorf("read the repository pull secret %s/%s: %w", namespace, name, err)
	}
	if sec.Type != corev1.SecretTypeDockerConfigJson || len(sec.Data[corev1.DockerConfigJsonKey]) == 0 {
		return &pullSecretError{ReasonRepositoryPullSecretInvalid, fmt.Sprintf(
			"spec.installServer.repositoryPullSecretRef: Secret %s/%s is of type %q with keys %v: the install server needs a %s Secret with its %s key (what `kubectl create secret docker-registry` makes)",
			namespace, name, sec.Type, secretKeys(&sec), corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey)}
	}
	return nil
}

func secretKeys(s *corev1.Secret) []string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// registryDir is where the pod finds its docker config (DOCKER_CONFIG), from the pull secret.
const registryDir = "/var/run/flarecast/registry"

func (r *InstallServerReconciler) siteObjects(namespace, site, name, iface, secret, pull string, owners []metav1.OwnerReference) []client.Object {
	o := r.Options
	o.defaults()
	labels := map[string]string{"app.kubernetes.io/managed-by": "flarecast", "app.kubernetes.io/name": "flarecast", "app.kubernetes.io/component": "installserver", LabelSite: site}
	om := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels, OwnerReferences: owners}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: om()}
	role := &rbacv1.Role{ObjectMeta: om(), Rules: InstallServerRules(secret)}
	binding := &rbacv1.RoleBinding{ObjectMeta: om(),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}}}

	state := "/var/lib/flarecast/installserver"
	args := []string{"installserver", "--namespace", namespace, "--site", site, "--interface", iface,
		"--repo", o.Repository, "--state-dir", state, "--secret", secret,
		"--http-port", fmt.Sprint(o.HTTPPort),
		"--health-probe-bind-address", fmt.Sprintf(":%d", o.ProbePort),
		"--metrics-bind-address", fmt.Sprintf(":%d", o.MetricsPort)}
	if o.Kernel != "" {
		args = append(args, "--kernel", o.Kernel)
	}
	if o.Initramfs != "" {
		args = append(args, "--initramfs", o.Initramfs)
	}
	no, yes := false, true
	root := int64(0)
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	mounts := []corev1.VolumeMount{{Name: "state", MountPath: state}, {Name: "tmp", MountPath: "/tmp"}}
	volumes := []corev1.Volume{
		{Name: "state", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: strings.TrimSuffix(o.StateDir, "/") + "/" + namespace + "/" + site, Type: &dirOrCreate}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if o.RepositoryClaim != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: "repository", MountPath: o.Repository, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "repository", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.RepositoryClaim, ReadOnly: true}}})
	}
	var env []corev1.EnvVar
	if pull != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: "registry", MountPath: registryDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: pull, Items: []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}}}}})
		env = append(env, corev1.EnvVar{Name: "DOCKER_CONFIG", Value: registryDir})
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(o.ProbePort)}}}
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: om(), Spec: appsv1.DeploymentSpec{
		Replicas: &one,
		// The ports are the node's: the old pod goes before the new one binds them.
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "installserver", LabelSite: site}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{
				ServiceAccountName: name,
				// DHCP and TFTP answer on the provisioning interface of the node itself.
				HostNetwork:  true,
				DNSPolicy:    corev1.DNSClusterFirstWithHostNet,
				NodeSelector: map[string]string{LabelSite: site},
				SecurityContext: &corev1.PodSecurityContext{
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{
					Name: "installserver", Image: o.Image, Command: []string{"/flarecast"}, Args: args, Env: env,
					Ports: []corev1.ContainerPort{
						{Name: "dhcp", ContainerPort: 67, Protocol: corev1.ProtocolUDP},
						{Name: "tftp", ContainerPort: 69, Protocol: corev1.ProtocolUDP},
						{Name: "nfs", ContainerPort: 2049, Protocol: corev1.ProtocolTCP},
						{Name: "http", ContainerPort: o.HTTPPort, Protocol: corev1.ProtocolTCP},
						{Name: "probes", ContainerPort: o.ProbePort, Protocol: corev1.ProtocolTCP},
						{Name: "metrics", ContainerPort: o.MetricsPort, Protocol: corev1.ProtocolTCP},
					},
					LivenessProbe: probe, ReadinessProbe: probe,
					VolumeMounts: mounts,
					// Root for the two capabilities a non-root process would not hold: ports
					// 67 and 69 (NET_BIND_SERVICE) and DHCP's raw replies to clients without an
					// address yet (NET_RAW). Nothing else.
					SecurityContext: &corev1.SecurityContext{
						RunAsUser: &root, RunAsNonRoot: &no, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE", "NET_RAW"}},
					},
				}},
				Volumes: volumes,
			},
		},
	}}
	return []client.Object{sa, role, binding, dep}
}

// apply writes o with server-side apply under the manager's field owner.
func (r *InstallServerReconciler) apply(ctx context.Context, o client.Object) error {
	gvk, err := apiutil.GVKForObject(o, r.Scheme())
	if err != nil {
		return err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return err
	}
	delete(content, "status")
	if m, ok := content["metadata"].(map[string]any); ok {
		delete(m, "creationTimestamp")
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(installServerFieldOwner), client.ForceOwnership)
}

// applyStatus writes the cluster's InstallServerReady condition and status.installServer,
// and only when they changed.
func (r *InstallServerReconciler) applyStatus(ctx context.Context, cl *fcv1.Cluster, cond metav1.Condition, st *fcv1.InstallServerStatus) error {
	cur := meta.FindStatusCondition(cl.Status.Conditions, cond.Type)
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason && cur.Message == cond.Message &&
		cur.ObservedGeneration == cond.ObservedGeneration && cl.Status.InstallServer != nil && *cl.Status.InstallServer == *st {
		return nil
	}
	merged := setConditions(r.Recorder, cl, cl.Status.Conditions, cond)
	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(meta.FindStatusCondition(merged, cond.Type))
	if err != nil {
		return err
	}
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return err
	}
	status := map[string]any{"conditions": []any{c}, "installServer": s}
	if err := applyStatusFields(ctx, r.Client, cl, installServerFieldOwner, status); err != nil {
		return fmt.Errorf("patch the install server status of Cluster %s: %w", cl.Name, err)
	}
	return nil
}

// SetupWithManager watches Clusters and the install servers' Deployments: a Deployment that
// becomes available, or is changed by hand, wakes the Clusters of its site.
func (r *InstallServerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Only spec changes: the Cluster reconciler's status writes are none of this one's business.
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.Cluster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.clustersOfDeployment)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.clustersPullingWith), builder.OnlyMetadata).
		Named("installserver").
		Complete(r)
}

// clustersPullingWith maps a Secret to the Clusters whose install server is given it.
func (r *InstallServerReconciler) clustersPullingWith(ctx context.Context, o client.Object) []reconcile.Request {
	var list fcv1.ClusterList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, c := range list.Items {
		if ref := c.Spec.InstallServer.RepositoryPullSecretRef; ref != nil && ref.Name == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
	}
	return out
}

func (r *InstallServerReconciler) clustersOfDeployment(ctx context.Context, o client.Object) []reconcile.Request {
	site, ok := o.GetLabels()[LabelSite]
	if !ok || o.GetLabels()["app.kubernetes.io/component"] != "installserver" {
		return nil
	}
	clusters, err := modelsource.ClustersOfSite(ctx, r.Client, o.GetNamespace(), site)
	if err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, c := range clusters {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
	}
	return out
}
