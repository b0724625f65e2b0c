package model

import (
	"sort"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// SiteMember is one cluster of a site with its resolved model.
type SiteMember struct {
	Cluster *v1alpha1.Cluster
	Result  *Result
}

// SiteOf is the site a Cluster names, "" when it has an install server of its own.
func SiteOf(c *v1alpha1.Cluster) string { return c.Spec.InstallServer.Site }

// ResolveSite checks the rules across the clusters of one site, the Clusters that share an
// install server: a MAC, a provisioning address and a node name (the DHCP host name) belong
// to one node of the site, and the clusters ask the install server for the same settings.
// Each conflict is a problem on every Cluster involved, naming the other cluster, its node
// and the value. A conflict inside one cluster is that cluster's own rule (Resolve's), not
// repeated here. Members of another site, or of none, are ignored; the order of members does
// not matter.
func ResolveSite(site string, members []SiteMember) []Problem {
	if site == "" {
		return nil
	}
	var ms []SiteMember
	for _, m := range members {
		if m.Cluster != nil && m.Result != nil && SiteOf(m.Cluster) == site {
			ms = append(ms, m)
		}
	}
	if len(ms) < 2 {
		return nil
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Cluster.Name < ms[j].Cluster.Name })
	s := &siteCheck{site: site}
	macs, addrs, names := map[string]siteOwner{}, map[string]siteOwner{}, map[string]siteOwner{}
	for _, m := range ms {
		res := m.Result
		for i := range res.Nodes {
			n := &res.Nodes[i]
			here := siteOwner{cluster: m.Cluster.Name, node: n.Name, group: n.Group}
			if o, clash := claim(names, n.Name, here); clash {
				const msg = "node name %s of NodesGroup %s is also the name of a node of NodesGroup %s of Cluster/%s in site %s, and the install server gives each node its name as DHCP host name: rename one of them"
				s.add(ReasonSiteNodeNameConflict, here.cluster, siteField, here.node, msg, n.Name, here.group, o.group, o.cluster, site)
				s.add(ReasonSiteNodeNameConflict, o.cluster, siteField, o.node, msg, n.Name, o.group, here.group, here.cluster, site)
			}
			for _, nic := range n.NICs {
				if nic.MAC == "" {
					continue
				}
				if o, clash := claim(macs, strings.ToLower(nic.MAC), here); clash {
					const msg = "MAC %s of node %s is also node %s of Cluster/%s in site %s: give each NIC its own MAC"
					s.add(ReasonSiteMACConflict, here.cluster, siteField, here.node, msg, nic.MAC, here.node, o.node, o.cluster, site)
					s.add(ReasonSiteMACConflict, o.cluster, siteField, o.node, msg, nic.MAC, o.node, here.node, here.cluster, site)
				}
			}
			if ip := n.Addresses[res.ProvisioningNetwork]; ip != "" {
				if o, clash := claim(addrs, ip, here); clash {
					const msg = "provisioning address %s of node %s is also node %s of Cluster/%s in site %s: give the clusters different domains, or the nodes different addresses"
					s.add(ReasonSiteAddressConflict, here.cluster, siteField, here.node, msg, ip, here.node, o.node, o.cluster, site)
					s.add(ReasonSiteAddressConflict, o.cluster, siteField, o.node, msg, ip, o.node, here.node, here.cluster, site)
				}
			}
		}
	}
	s.settings(ms)
	sortProblems(s.list)
	return dedupe(s.list)
}

// siteOwner is the node that first claimed a value.
type siteOwner struct{ cluster, node, group string }

type siteCheck struct {
	site string
	list []Problem
}

// siteField is where a node's conflict across the site is filed on its Cluster: the field
// that puts the cluster in the site.
const siteField = "spec.installServer.site"

func (s *siteCheck) add(reason Reason, cluster, field, node, format string, args ...any) {
	ps := &problems{kind: KindCluster, name: cluster}
	ps.add(reason, field, node, format, args...)
	s.list = append(s.list, ps.list...)
}

// claim records that a node holds a value and returns the node of another cluster that held
// it first, if any; two nodes of one cluster are that cluster's own rule.
func claim(seen map[string]siteOwner, key string, here siteOwner) (siteOwner, bool) {
	o, dup := seen[key]
	if !dup {
		seen[key] = here
		return siteOwner{}, false
	}
	return o, o.cluster != here.cluster
}

// settings checks that the clusters ask the one install server for the same mode, interface
// and repository pull secret. An interface or a secret left empty asks for nothing; a mode
// left empty is the default.
func (s *siteCheck) settings(ms []SiteMember) {
	type setting struct {
		field, what string
		of          func(v1alpha1.InstallServerSpec) string
	}
	for _, st := range []setting{
		{"spec.installServer.mode", "mode", func(is v1alpha1.InstallServerSpec) string {
			if is.Mode == "" {
				return "Local"
			}
			return string(is.Mode)
		}},
		{"spec.installServer.interface", "interface", func(is v1alpha1.InstallServerSpec) string { return is.Interface }},
		{"spec.installServer.repositoryPullSecretRef", "repository pull secret", func(is v1alpha1.InstallServerSpec) string {
			if is.RepositoryPullSecretRef == nil {
				return ""
			}
			return is.RepositoryPullSecretRef.Name
		}},
	} {
		var first *v1alpha1.Cluster
		for _, m := range ms {
			v := st.of(m.Cluster.Spec.InstallServer)
			if v == "" {
				continue
			}
			if first == nil {
				first = m.Cluster
				continue
			}
			if w := st.of(first.Spec.InstallServer); v != w {
				msg := "install server %s %s differs from %s of Cluster/%s in site %s, whose clusters share one install server: set the same %s on every Cluster of the site, or give this one its own site"
				s.add(ReasonSiteInstallServerConflict, m.Cluster.Name, st.field, "", msg, st.what, v, w, first.Name, s.site, st.what)
				s.add(ReasonSiteInstallServerConflict, first.Name, st.field, "", msg, st.what, w, v, m.Cluster.Name, s.site, st.what)
			}
		}
	}
}

// WithSite returns the result with the site's problems on its cluster added: Valid then
// covers the rules across the site too, and a cluster in conflict is not deployable.
func (r *Result) WithSite(cluster string, site []Problem) *Result {
	mine := filter(site, KindCluster, cluster)
	if len(mine) == 0 {
		return r
	}
	out := *r
	out.Problems = append(append([]Problem(nil), r.Problems...), mine...)
	sortProblems(out.Problems)
	out.Problems = dedupe(out.Problems)
	out.Steps.Deployable = false
	return &out
}
