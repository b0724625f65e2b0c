package controllers_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
)

func podCluster(ns, name, site string) *fcv1.Cluster {
	return &fcv1.Cluster{ObjectMeta: objMeta(ns, name), Spec: fcv1.ClusterSpec{Domain: 3,
		InstallServer: fcv1.InstallServerSpec{Site: site, Mode: fcv1.InstallServerPod, Interface: "eno1"}}}
}

// A site with a Cluster in Pod mode gets its install server: a Deployment on the node
// labelled with the site, on that node's network, with two capabilities, and a service
// account whose Role reads the model and writes node reports and can do nothing else. The
// Cluster says which install server serves it and whether it is ready; back in Local mode,
// the Deployment goes.
func TestAPodModeSiteGetsItsInstallServer(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, []client.Object{podCluster(ns, "east", "dc9"), podCluster(ns, "west", "dc9")})
	name := controllers.InstallServerName("dc9")
	var dep *appsv1.Deployment
	eventually(t, "the site's Deployment", func() error {
		dep = &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, dep); err != nil {
			return err
		}
		if len(dep.OwnerReferences) != 2 {
			return fmt.Errorf("owners %v", dep.OwnerReferences)
		}
		return nil
	})
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	caps := c.SecurityContext.Capabilities
	if !pod.HostNetwork || pod.NodeSelector[controllers.LabelSite] != "dc9" || pod.ServiceAccountName != name ||
		dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType ||
		!reflect.DeepEqual(caps.Add, []corev1.Capability{"NET_BIND_SERVICE", "NET_RAW"}) || !reflect.DeepEqual(caps.Drop, []corev1.Capability{"ALL"}) ||
		*c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem ||
		c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Fatalf("pod spec %+v", pod)
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"installserver --namespace " + ns + " --site dc9 --interface eno1", "--secret flarecast-site-dc9", "--health-probe-bind-address :8091"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	role := get(t, ns, name, &rbacv1.Role{})
	if !reflect.DeepEqual(role.Rules, controllers.InstallServerRules("flarecast-site-dc9")) {
		t.Errorf("role rules %+v", role.Rules)
	}
	if b := get(t, ns, name, &rbacv1.RoleBinding{}); b.RoleRef.Name != name || b.Subjects[0].Name != name {
		t.Errorf("binding %+v", b)
	}
	if s := get(t, ns, "flarecast-site-dc9", &corev1.Secret{}); len(s.Data["secret"]) < 32 {
		t.Errorf("site secret %d bytes", len(s.Data["secret"]))
	}
	eventually(t, "east waits for its install server", func() error {
		cl := get(t, ns, "east", &fcv1.Cluster{})
		if st := cl.Status.InstallServer; st == nil || *st != (fcv1.InstallServerStatus{Mode: fcv1.InstallServerPod, Site: "dc9", Deployment: name}) {
			return fmt.Errorf("installServer %+v", cl.Status.InstallServer)
		}
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionFalse, "DeploymentNotAvailable", "it runs on a node labelled flarecast.io/site=dc9")
	})

	// The Deployment controller reports a pod available (envtest runs none).
	dep = get(t, ns, name, &appsv1.Deployment{})
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1}
	if err := k8s.Status().Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []string{"east", "west"} {
		eventually(t, cl+"'s install server is ready", func() error {
			c := get(t, ns, cl, &fcv1.Cluster{})
			return wantCondition(c, c.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionTrue, "DeploymentAvailable", "serves site dc9")
		})
	}
	// The Cluster reconciler's own status writes leave the condition alone.
	cl := get(t, ns, "east", &fcv1.Cluster{})
	if err := wantCondition(cl, cl.Status.Conditions, fcv1.ConditionModelComplete, metav1.ConditionFalse, "", ""); err != nil {
		t.Fatal(err)
	}

	// What the install server's service account may do, asked of the real API server.
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name}
	sa, err := client.New(as, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allowed := map[string]error{
		"list Clusters":             sa.List(ctx, &fcv1.ClusterList{}, client.InNamespace(ns)),
		"list NodesGroups":          sa.List(ctx, &fcv1.NodesGroupList{}, client.InNamespace(ns)),
		"list Machines":             sa.List(ctx, &fcv1.MachineList{}, client.InNamespace(ns)),
		"list Networks":             sa.List(ctx, &fcv1.NetworkList{}, client.InNamespace(ns)),
		"list FlashArchives":        sa.List(ctx, &fcv1.FlashArchiveList{}, client.InNamespace(ns)),
		"get the site secret":       sa.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flarecast-site-dc9"}, &corev1.Secret{}),
		"apply a NodesGroup status": applyGroupStatus(ctx, sa, ns),
	}
	for what, err := range allowed {
		// The group does not exist: NotFound says the request was let through.
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("%s: %v", what, err)
		}
	}
	other := &corev1.Secret{ObjectMeta: objMeta(ns, "other"), Data: map[string][]byte{"k": []byte("v")}}
	if err := k8s.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	east := get(t, ns, "east", &fcv1.Cluster{})
	east.Spec.Domain = 4
	for what, err := range map[string]error{
		"get another Secret":  sa.Get(ctx, client.ObjectKeyFromObject(other), &corev1.Secret{}),
		"list Secrets":        sa.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)),
		"change a Cluster":    sa.Update(ctx, east),
		"create a Pod":        sa.Create(ctx, &corev1.Pod{ObjectMeta: objMeta(ns, "x"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}),
		"delete a Deployment": sa.Delete(ctx, &appsv1.Deployment{ObjectMeta: objMeta(ns, name)}),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}

	// Both Clusters back in Local mode: the site's install server goes.
	for _, n := range []string{"east", "west"} {
		update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, n)}, func(o client.Object) {
			o.(*fcv1.Cluster).Spec.InstallServer.Mode = fcv1.InstallServerLocal
		})
	}
	eventually(t, "the Deployment goes", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &appsv1.Deployment{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("Deployment: %v", err)
	})
	eventually(t, "east says Local mode", func() error {
		c := get(t, ns, "east", &fcv1.Cluster{})
		return wantCondition(c, c.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionUnknown, "LocalMode", "run `flarecast installserver --namespace "+ns+" --site dc9 --interface eno1")
	})
}

func applyGroupStatus(ctx context.Context, c client.Client, ns string) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fcv1.GroupVersion.String(), "kind": "NodesGroup",
		"metadata": map[string]any{"namespace": ns, "name": "nobody"},
		"status":   map[string]any{"nodes": []any{map[string]any{"name": "n1", "phase": "Booting"}}},
	}}
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flarecast-installserver"))
}

// Pod mode names the site and the interface it serves on; without them the API server says so.
func TestPodModeNeedsASiteAndAnInterface(t *testing.T) {
	ns := newNamespace(t)
	cl := podCluster(ns, "lonely", "")
	err := k8s.Create(context.Background(), cl)
	if err == nil || !strings.Contains(err.Error(), "mode: Pod runs the install server of a site on the interface of the node attached to its provisioning network: set site and interface") {
		t.Fatalf("create: %v", err)
	}
}

// A Pod-mode site whose repository is on a registry gets its credentials from the Secret the
// Cluster names: not there, or not a docker config, the Cluster says so and no Deployment
// names it; once it is one, the pod reads it as its DOCKER_CONFIG. Only Pod mode takes one.
func TestAPodModeSiteIsGivenTheRepositoryPullSecret(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cl := podCluster(ns, "reg", "dc7")
	cl.Spec.InstallServer.RepositoryPullSecretRef = &fcv1.LocalObjectReference{Name: "regcred"}
	createAll(t, ns, []client.Object{cl})
	name := controllers.InstallServerName("dc7")
	eventually(t, "the missing Secret is named", func() error {
		c := get(t, ns, "reg", &fcv1.Cluster{})
		return wantCondition(c, c.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionFalse, "RepositoryPullSecretNotFound",
			"Secret "+ns+"/regcred is not there: create it with `kubectl create secret docker-registry regcred -n "+ns)
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a Deployment without its pull secret: %v", err)
	}
	wrong := &corev1.Secret{ObjectMeta: objMeta(ns, "regcred"), Data: map[string][]byte{"password": []byte("x")}}
	if err := k8s.Create(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Secret of the wrong type is refused", func() error {
		c := get(t, ns, "reg", &fcv1.Cluster{})
		return wantCondition(c, c.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionFalse, "RepositoryPullSecretInvalid",
			`Secret `+ns+`/regcred is of type "Opaque" with keys [password]: the install server needs a kubernetes.io/dockerconfigjson Secret`)
	})
	if err := k8s.Delete(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	good := &corev1.Secret{ObjectMeta: objMeta(ns, "regcred"), Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"198.18.0.9:5000":{"auth":"dTpw"}}}`)}}
	if err := k8s.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	eventually(t, "the Deployment with the pull secret", func() error {
		dep = &appsv1.Deployment{}
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep)
	})
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Secret != nil && pod.Volumes[i].Secret.SecretName == "regcred" {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || !reflect.DeepEqual(vol.Secret.Items, []corev1.KeyToPath{{Key: ".dockerconfigjson", Path: "config.json"}}) {
		t.Fatalf("volumes %+v", pod.Volumes)
	}
	var mounted, env bool
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.Name == vol.Name && m.ReadOnly && m.MountPath == "/var/run/flarecast/registry"
	}
	for _, e := range c.Env {
		env = env || e == corev1.EnvVar{Name: "DOCKER_CONFIG", Value: "/var/run/flarecast/registry"}
	}
	if !mounted || !env {
		t.Fatalf("mounts %+v env %+v", c.VolumeMounts, c.Env)
	}
	eventually(t, "the condition moves on", func() error {
		c := get(t, ns, "reg", &fcv1.Cluster{})
		return wantCondition(c, c.Status.Conditions, fcv1.ConditionInstallServerReady, metav1.ConditionFalse, "DeploymentNotAvailable", "")
	})

	local := podCluster(ns, "local", "dc8")
	local.Spec.InstallServer.Mode = fcv1.InstallServerLocal
	local.Spec.InstallServer.RepositoryPullSecretRef = &fcv1.LocalObjectReference{Name: "regcred"}
	if err := k8s.Create(ctx, local); err == nil || !strings.Contains(err.Error(), "repositoryPullSecretRef: only a Pod-mode install server is given registry credentials by the manager") {
		t.Fatalf("create a Local-mode cluster with a pull secret: %v", err)
	}
}
