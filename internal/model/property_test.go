package model

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"sort"
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// mutate changes one random thing of the site: the kind of edits a person makes by hand.
func mutate(rng *rand.Rand, in *Input) {
	g := &in.Groups[rng.IntN(len(in.Groups))]
	d := &in.Machines[0].Spec.Shelves[0].Drawers[rng.IntN(4)]
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	switch rng.IntN(14) {
	case 0:
		if len(g.Spec.Nodes) > 0 {
			g.Spec.Nodes[rng.IntN(len(g.Spec.Nodes))].ID = int32(rng.IntN(300))
		}
	case 1:
		if len(g.Spec.Nodes) > 0 {
			g.Spec.Nodes[rng.IntN(len(g.Spec.Nodes))].Drawer = pick("", "shelf0/d1", "shelf0/d2", "shelf0/d3", "shelf0/d4", "shelf0/d9", "shelf9/d1")
		}
	case 2:
		g.Spec.Role = v1alpha1.Role(pick("MasterEligible", "NonMasterEligible"))
	case 3:
		g.Spec.NodeType = v1alpha1.NodeType(pick("Diskfull", "Dataless", "Diskless"))
	case 4:
		g.Spec.Nodes = append(g.Spec.Nodes, v1alpha1.Node{Name: pick("m1", "x1", "x2"), ID: int32(rng.IntN(10)), Drawer: pick("", "shelf0/d2")})
	case 5:
		if len(d.Boards) > 0 && len(d.Boards[0].NICs) > 0 {
			nic := &d.Boards[0].NICs[0]
			if rng.IntN(3) == 0 {
				nic.Link = nil
			} else {
				nic.Link = &v1alpha1.PortLink{Switch: pick("sw0", "sw1"), Port: int32(rng.IntN(30))}
			}
		}
	case 6:
		if len(d.Disks) > 0 {
			d.Disks[0].Size = pick("1Gi", "48Gi", "100Gi", "1.5Ti", "x")
		}
	case 7:
		d.Boards = nil
	case 8:
		in.Cluster.Spec.Domain = int32(rng.IntN(70000))
	case 9:
		n := &in.Network.Spec.Networks[0]
		n.CIDR = pick("198.18.0.0/16", "198.18.0.0/24", "198.18.0.0/30", "198.18.0.0/31", "10.0.0.0/8", "198.18.0.1/16", "garbage")
		n.NodeIDBits = int32(rng.IntN(20))
	case 10:
		in.Network.Spec.Addresses = append(in.Network.Spec.Addresses, v1alpha1.Address{
			Node: pick("m1", "m2", "n3", "w4", "zz"), Network: pick("internal", "other"),
			IP: pick("198.18.3.4", "198.18.0.1", "198.19.0.1", "198.18.255.255", "nope"),
		})
	case 11:
		in.Network.Spec.Networks[0].Addressing = v1alpha1.Addressing(pick("Derived", "Static", ""))
	case 12:
		in.Network.Spec.Networks = append(in.Network.Spec.Networks, v1alpha1.IPNetwork{
			Name: "extra", CIDR: pick("198.19.0.0/16", "198.18.4.0/24"), Switches: []string{pick("shelf0/sw0", "shelf0/sw9")},
			Provisioning: rng.IntN(2) == 0, Interface: pick("", "eth0", "eth1"),
		})
	case 13:
		switch rng.IntN(3) {
		case 0:
			in.Machines = nil
		case 1:
			in.Network = nil
		default:
			in.Groups = in.Groups[:rng.IntN(len(in.Groups))]
		}
	}
}

// Whatever the edits, Resolve holds its invariants: counts agree with the nodes, the verdicts
// agree with the lists, the lists are sorted and name objects of the input, and the addresses
// of a valid model are distinct hosts of their networks.
func TestResolveInvariantsUnderRandomEdits(t *testing.T) {
	for seed := uint64(0); seed < 3000; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		in := site()
		for range 1 + rng.IntN(4) {
			if len(in.Machines) == 0 || in.Network == nil || len(in.Groups) == 0 {
				break
			}
			mutate(rng, &in)
		}
		res := Resolve(in)
		if err := invariants(in, res); err != nil {
			t.Fatalf("seed %d: %v\nproblems:\n%smissing:\n%s", seed, err, render(res.Problems), render(res.Missing))
		}
		if again := Resolve(in); !reflect.DeepEqual(res, again) {
			t.Fatalf("seed %d: two resolutions differ", seed)
		}
	}
}

func invariants(in Input, res *Result) error {
	c := res.Counts
	if int(c.Total) != len(res.Nodes) || c.Placed > c.Total || c.Addressed > c.Placed || c.MasterEligible > c.Total {
		return fmt.Errorf("counts %+v for %d nodes", c, len(res.Nodes))
	}
	if res.Steps.Deployable != (res.Complete() && res.Valid()) {
		return fmt.Errorf("deployable %v, complete %v, valid %v", res.Steps.Deployable, res.Complete(), res.Valid())
	}
	names := map[string]bool{KindCluster + "/" + in.Cluster.Name: true}
	for _, m := range in.Machines {
		names[KindMachine+"/"+m.Name] = true
	}
	if in.Network != nil {
		names[KindNetwork+"/"+in.Network.Name] = true
	}
	for _, g := range in.Groups {
		names[KindNodesGroup+"/"+g.Name] = true
	}
	for _, list := range [][]Problem{res.Problems, res.Warnings, res.Missing} {
		if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i].less(list[j]) }) {
			return fmt.Errorf("unsorted list")
		}
		for _, p := range list {
			if !names[p.Kind+"/"+p.Name] || p.Message == "" {
				return fmt.Errorf("problem names no object of the input: %s", p)
			}
		}
	}
	if !res.Valid() || in.Network == nil {
		return nil
	}
	for _, net := range res.Networks {
		prefix, err := netip.ParsePrefix(net.CIDR)
		if err != nil {
			return fmt.Errorf("valid model with CIDR %q", net.CIDR)
		}
		seen := map[string]string{}
		for _, n := range res.Nodes {
			ip, ok := n.Addresses[net.Name]
			if !ok {
				continue
			}
			addr := netip.MustParseAddr(ip)
			if !prefix.Contains(addr) || special(prefix, addr) != "" {
				return fmt.Errorf("valid model gives node %s %s on %s", n.Name, ip, net.CIDR)
			}
			if o, dup := seen[ip]; dup {
				return fmt.Errorf("valid model gives %s to %s and %s", ip, o, n.Name)
			}
			seen[ip] = n.Name
		}
	}
	return nil
}
