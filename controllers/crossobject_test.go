package controllers_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/model"
)

// TestCrossObjectRulesSetValidFalseAndRecover breaks, one at a time, a rule that spans
// objects (which admission cannot see), checks that the Valid condition of the object the
// rule is about turns False with a message naming what is wrong, then undoes the change and
// checks that it recovers.
func TestCrossObjectRulesSetValidFalseAndRecover(t *testing.T) {
	type edit struct {
		kind, name string
		change     func(client.Object)
	}
	cases := []struct {
		name string
		edit edit
		// where the problem must show: the Cluster edge, or another object's Valid condition.
		onKind, onName string
		// the condition's reason: the rule's, or MultipleProblems when the edit breaks several.
		reason   string
		contains string
	}{
		{"NodeIDsUniqueAcrossGroups", edit{"NodesGroup", "dataless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Nodes[0].ID = 1
		}}, "Cluster", "edge", string(model.ReasonDuplicateNodeID), "id 1"},
		{"DrawerUsedByOneNodeOnly", edit{"NodesGroup", "dataless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Nodes[0].Drawer = "edge-rack1/shelf0/d1"
		}}, "Cluster", "edge", string(model.ReasonDrawerInUse), "drawer edge-rack1/shelf0/d1 already runs node dl3 of NodesGroup dataless"},
		{"DrawerNamesItsMachineInAClusterOfSeveral", edit{"NodesGroup", "diskless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Nodes[0].Drawer = "shelf0/d3"
		}}, "NodesGroup", "diskless", string(model.ReasonDrawerNeedsMachine), "drawer shelf0/d3 names no Machine, but Cluster edge runs on 2 Machines (edge-rack1, edge-rack2)"},
		{"DrawerMustExist", edit{"NodesGroup", "diskless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Nodes[0].Drawer = "edge-rack1/shelf0/d9"
		}}, "NodesGroup", "diskless", string(model.ReasonDrawerNotFound), "drawer edge-rack1/shelf0/d9 is not in Machine edge-rack1"},
		{"TwoMasterEligibleNodesRequired", edit{"NodesGroup", "masters", func(o client.Object) {
			g := o.(*fcv1.NodesGroup)
			g.Spec.Nodes = g.Spec.Nodes[:1]
		}}, "Cluster", "edge", controllers.ReasonMultipleProblems, "master-eligible"},
		{"MasterEligibleNodeNeedsARootFilesystem", edit{"NodesGroup", "masters", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Nodes[1].Drawer = "edge-rack2/shelf0/d3"
		}}, "NodesGroup", "masters", controllers.ReasonMultipleProblems, "m2"}, // and DrawerInUse, FilesystemMissing
		{"RequiredFilesystemFitsTheDisk", edit{"NodesGroup", "masters", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.RequiredFilesystems[0].MinSize = "100Gi"
		}}, "NodesGroup", "masters", string(model.ReasonFilesystemTooSmall), "spec.requiredFilesystems"},
		{"SharedDataDoesNotHideALocalFilesystem", edit{"NodesGroup", "dataless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.SharedData[0].MountPoint = "/data"
		}}, "NodesGroup", "dataless", string(model.ReasonSharedDataHidesLocalFilesystem), "node dl3: shared data shared mounted at /data would hide the local file system at /data of drawer edge-rack1/shelf0/d2 (Machine edge-rack1)"},
		{"SharedDataAboveALocalFilesystem", edit{"NodesGroup", "dataless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.SharedData[0].MountPoint = "/boot"
		}}, "NodesGroup", "dataless", string(model.ReasonSharedDataHidesLocalFilesystem), "would hide the local file system at /boot/efi"},
		{"GroupArchMatchesItsBoards", edit{"NodesGroup", "diskless", func(o client.Object) {
			o.(*fcv1.NodesGroup).Spec.Arch = "arm64"
		}}, "NodesGroup", "diskless", string(model.ReasonArchMismatch), "arm64"},
		{"ServicesAreFoundationServicesOfTheCluster", edit{"NodesGroup", "diskless", func(o client.Object) {
			g := o.(*fcv1.NodesGroup)
			g.Spec.Services = append(g.Spec.Services, "snmp")
		}}, "NodesGroup", "diskless", string(model.ReasonUnknownService), "service snmp is not a foundation service of Cluster edge"},
		{"DerivedAddressInsideItsNetwork", edit{"Cluster", "edge", func(o client.Object) {
			o.(*fcv1.Cluster).Spec.Domain = 300
		}}, "Cluster", "edge", string(model.ReasonDomainOutsideNetwork), "domain 300"},
		{"ExplicitAddressNamesANode", edit{"Network", "edge-net", func(o client.Object) {
			n := o.(*fcv1.Network)
			n.Spec.Addresses[1].Node = "m9"
		}}, "Cluster", "edge", string(model.ReasonUnknownNode), "m9"},
		// The same rule shows on the Network, the object to fix, and follows the objects it
		// depends on there too: the groups (a node leaves) and the Machine (a shelf goes).
		{"ExplicitAddressNamesANodeShowsOnTheNetwork", edit{"Network", "edge-net", func(o client.Object) {
			n := o.(*fcv1.Network)
			n.Spec.Addresses[1].Node = "m9"
		}}, "Network", "edge-net", string(model.ReasonUnknownNode), "m9"},
		{"NodeLeavingItsGroupShowsOnTheNetwork", edit{"NodesGroup", "masters", func(o client.Object) {
			g := o.(*fcv1.NodesGroup)
			g.Spec.Nodes = g.Spec.Nodes[:1]
		}}, "Network", "edge-net", string(model.ReasonUnknownNode), "node m2 is in no NodesGroup"},
		{"NetworkSwitchesExistInTheMachine", edit{"Machine", "edge-rack2", func(o client.Object) {
			m := o.(*fcv1.Machine)
			m.Spec.Shelves[0].Name = "shelf1"
		}}, "Network", "edge-net", string(model.ReasonSwitchNotInMachine), "switch edge-rack2/shelf0/sw0 is not in Machine edge-rack2"},
		{"SwitchPortLinkedOnce", edit{"Machine", "edge-rack1", func(o client.Object) {
			m := o.(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[1].Boards[0].NICs[0].Link.Port = 1
		}}, "Machine", "edge-rack1", string(model.ReasonSwitchPortInUse), "port"},
		// Each Machine alone holds together; the cluster that runs on both sees the MAC twice.
		{"MACUniqueAcrossTheMachinesOfTheCluster", edit{"Machine", "edge-rack2", func(o client.Object) {
			m := o.(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:fc:00:10" // edge-rack1's d1 eth0
		}}, "Cluster", "edge", string(model.ReasonDuplicateMAC), "MAC 52:54:00:fc:00:10 is already the MAC of NIC eth0 of drawer shelf0/d1 board cpu0 of Machine edge-rack1, which Cluster edge also runs on"},
		// ... and on the Machine the problem is filed on, which a change to the other Machine
		// of the cluster re-checks.
		{"MACUniqueAcrossTheMachinesShowsOnTheMachine", edit{"Machine", "edge-rack1", func(o client.Object) {
			m := o.(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:fc:01:10" // edge-rack2's d1 eth0
		}}, "Machine", "edge-rack2", string(model.ReasonDuplicateMAC), "MAC 52:54:00:fc:01:10 is already the MAC of NIC eth0 of drawer shelf0/d1 board cpu0 of Machine edge-rack1"},
		{"NetworksDoNotOverlap", edit{"Network", "edge-net", func(o client.Object) {
			n := o.(*fcv1.Network)
			n.Spec.Networks[1].CIDR = "198.18.128.0/17"
			n.Spec.Routers[0].Address = "198.18.128.1"
			n.Spec.Addresses = nil
		}}, "Network", "edge-net", string(model.ReasonNetworksOverlap), "overlap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			createAll(t, ns, readManifests(t, sampleSite...))
			validOn := func(status metav1.ConditionStatus, reason, contains string) func() error {
				return func() error {
					obj := newOfKind(tc.onKind)
					if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tc.onName}, obj); err != nil {
						return err
					}
					return wantCondition(obj, conditionsOf(obj), fcv1.ConditionValid, status, reason, contains)
				}
			}
			eventually(t, "valid before the edit", validOn(metav1.ConditionTrue, fcv1.ReasonValid, ""))

			target := newOfKind(tc.edit.kind)
			target.SetNamespace(ns)
			target.SetName(tc.edit.name)
			var original client.Object
			update(t, target, func(o client.Object) {
				original = o.DeepCopyObject().(client.Object)
				tc.edit.change(o)
			})
			eventually(t, "invalid after the edit", validOn(metav1.ConditionFalse, tc.reason, tc.contains))

			update(t, target, func(o client.Object) { restoreSpec(o, original) })
			eventually(t, "valid again once fixed", validOn(metav1.ConditionTrue, fcv1.ReasonValid, ""))
		})
	}
}

func TestMasterEligibleWarnPolicyKeepsValidWithAWarning(t *testing.T) {
	ns := newNamespace(t)
	objs := readManifests(t, sampleSite...)
	for _, o := range objs {
		switch x := o.(type) {
		case *fcv1.Cluster:
			x.Spec.MasterEligiblePolicy = fcv1.MasterEligibleWarn
		case *fcv1.NodesGroup:
			if x.Name == "masters" {
				x.Spec.Nodes = x.Spec.Nodes[:1]
			}
		case *fcv1.Network:
			x.Spec.Addresses = x.Spec.Addresses[:1] // m2's address goes with m2
		}
	}
	createAll(t, ns, objs)
	eventually(t, "valid, with the warning in the message", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, "master-eligible"))
}

func newOfKind(kind string) client.Object {
	o, err := cli.Scheme().New(fcv1.GroupVersion.WithKind(kind))
	if err != nil {
		panic(err)
	}
	return o.(client.Object)
}

func conditionsOf(o client.Object) []metav1.Condition {
	switch x := o.(type) {
	case *fcv1.Cluster:
		return x.Status.Conditions
	case *fcv1.NodesGroup:
		return x.Status.Conditions
	case *fcv1.Machine:
		return x.Status.Conditions
	case *fcv1.Network:
		return x.Status.Conditions
	}
	return nil
}

func restoreSpec(dst, src client.Object) {
	switch x := dst.(type) {
	case *fcv1.Cluster:
		x.Spec = src.(*fcv1.Cluster).Spec
	case *fcv1.NodesGroup:
		x.Spec = src.(*fcv1.NodesGroup).Spec
	case *fcv1.Machine:
		x.Spec = src.(*fcv1.Machine).Spec
	case *fcv1.Network:
		x.Spec = src.(*fcv1.Network).Spec
	}
}
