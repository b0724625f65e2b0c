// Package v1alpha1 holds the flarecast.io/v1alpha1 API: the cluster, machine and network models
// (Cluster, NodesGroup, Machine, Network) and FlashArchive. Types, markers and generated deepcopy
// only; the rules that span objects live in internal/model.
// +kubebuilder:object:generate=true
// +groupName=flarecast.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every flarecast object.
	GroupVersion = schema.GroupVersion{Group: "flarecast.io", Version: "v1alpha1"}

	// SchemeBuilder registers the flarecast types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the flarecast types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
