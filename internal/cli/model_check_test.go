package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata is the check package's testdata, absolute: a test changes into it so that the
// files in the expected lines have short names.
var testdata, _ = filepath.Abs("../model/check/testdata")

// runModelCheck runs `flarecast model check` in-process, from the check package's testdata.
func runModelCheck(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(testdata)
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"model", "check"}, args...))
	err := root.Execute()
	return ExitCode(err), out.String(), errOut.String()
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestModelCheck(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string // a line stderr must hold
	}{
		{
			name:   "good site, directories read recursively, other kinds noted",
			args:   []string{"-f", "good"},
			stderr: "good/groups.yml: ignoring v1 ConfigMap/motd: not a flarecast.io kind",
		},
		{
			name: "partial model passes and says what it lacks",
			args: []string{"-f", "partial"},
			stdout: []string{
				"partial/lab.yaml: Cluster/lab: spec.networkRef: missing: no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef",
				"partial/lab.yaml: NodesGroup/lab-masters: spec.nodes[l2].drawer: missing: node l2 is not placed on a drawer yet: set drawer to shelf/drawer of Machine lab-site",
			},
			stderr: "checked 3 objects: errors 0, warnings 0, missing 2",
		},
		{
			name: "partial model fails when it must be complete",
			args: []string{"-f", "partial", "--require-complete"},
			code: 1,
			stdout: []string{
				"partial/lab.yaml: Cluster/lab: spec.networkRef: missing: no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef",
				"partial/lab.yaml: NodesGroup/lab-masters: spec.nodes[l2].drawer: missing: node l2 is not placed on a drawer yet: set drawer to shelf/drawer of Machine lab-site",
			},
		},
		{
			name:   "CEL: a Diskless group is never MasterEligible",
			args:   []string{"-f", "bad/diskless-master.yaml"},
			code:   1,
			stdout: []string{"bad/diskless-master.yaml: NodesGroup/workers: spec.role: a Diskless group cannot be MasterEligible, since diskless nodes are never master-eligible: set role: NonMasterEligible, or nodeType: Diskfull if its nodes have a disk"},
		},
		{
			name:   "CEL: a port beyond its switch",
			args:   []string{"-f", "bad/port-beyond-switch.yaml"},
			code:   1,
			stdout: []string{"bad/port-beyond-switch.yaml: Machine/ports: spec.shelves[shelf0].drawers[d1].boards[b0].nics[eth0].link.port: port 30 is beyond the 24 ports of switch shelf0/sw0: use a port from 1 to 24"},
		},
		{
			name: "CEL: slices larger than their disk",
			args: []string{"-f", "bad/slices-larger-than-disk.yaml"},
			code: 1,
			stdout: []string{
				"bad/slices-larger-than-disk.yaml: Machine/slices: spec.shelves[shelf0].drawers[d1].disks[sda].slices: the slices of disk sda add up to 120Gi, more than its 100Gi: shrink a slice or correct the disk's size",
				"bad/slices-larger-than-disk.yaml: Machine/slices: spec.shelves[shelf0].drawers[d1].disks[sda].slices[root].size: slice root (120Gi) is larger than disk sda (100Gi): shrink the slice or correct the disk's size",
			},
		},
		{
			name:   "CEL: an address outside its CIDR",
			args:   []string{"-f", "bad/address-outside-cidr.yaml"},
			code:   1,
			stdout: []string{"bad/address-outside-cidr.yaml: Network/outside: spec.addresses[n1,internal].ip: 198.18.1.10 is outside network internal (198.18.0.0/24): give node n1 an address inside it"},
		},
		{
			name: "model: duplicate MACs and a port cabled twice",
			args: []string{"-f", "bad/duplicate-macs.yaml"},
			code: 1,
			stdout: []string{
				"bad/duplicate-macs.yaml: Machine/macs: spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].link.port: port 1 of switch shelf0/sw0 is already linked to NIC eth0 of drawer shelf0/d1 board b0: a port takes one cable, choose a free port",
				"bad/duplicate-macs.yaml: Machine/macs: spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].mac: MAC 02:00:00:00:03:01 is already the MAC of NIC eth0 of drawer shelf0/d1 board b0: MAC addresses must be unique in the Machine",
			},
		},
		{
			name:   "model: a drawer without a NIC on the provisioning network",
			args:   []string{"-f", "bad/no-nic-on-provisioning.yaml"},
			code:   1,
			stdout: []string{"bad/no-nic-on-provisioning.yaml: NodesGroup/dataless: spec.nodes[n3].drawer: drawer shelf0/d3 has no NIC on network internal, the provisioning network every node boots on: cable a NIC of board b0 to one of its switches (shelf0/sw0)"},
		},
		{
			name:   "model: a domain beyond the network",
			args:   []string{"-f", "bad/domain-outside-network.yaml"},
			code:   1,
			stdout: []string{"bad/domain-outside-network.yaml: Cluster/edge: spec.domain: domain 300 puts the derived addresses of network internal at 198.19.44.0 and beyond, outside 198.18.0.0/16: choose a domain from 0 to 255, widen the network, or lower its nodeIdBits (8)"},
		},
		{
			name:   "model: one master-eligible node under Require",
			args:   []string{"-f", "bad/one-master.yaml"},
			code:   1,
			stdout: []string{"bad/one-master.yaml: Cluster/edge: the cluster has 1 master-eligible node (m1), but needs 2 for a master and a vice-master: add nodes to a MasterEligible Diskfull group, or set spec.masterEligiblePolicy: Warn"},
		},
		{
			name: "model: a drawer used twice across groups, a drawer that does not exist",
			args: []string{"-f", "bad/drawer-twice.yaml"},
			code: 1,
			stdout: []string{
				"bad/drawer-twice.yaml: NodesGroup/workers: spec.nodes[w4].drawer: drawer shelf0/d3 already runs node n3 of NodesGroup dataless: put each node on its own drawer",
				"bad/drawer-twice.yaml: NodesGroup/workers: spec.nodes[w5].drawer: drawer shelf0/d9 is not in Machine site: name a drawer of shelf shelf0",
			},
		},
		{
			name:   "strict: an unknown field",
			args:   []string{"-f", "bad/unknown-field.yaml"},
			code:   1,
			stdout: []string{"bad/unknown-field.yaml: Network/typo: spec.networks[internal].provisionning: unknown field: the server rejects it under strict field validation; remove it or correct its name"},
		},
		{
			name:   "not YAML",
			args:   []string{"-f", "bad/not-yaml.yaml"},
			code:   1,
			stdout: []string{"bad/not-yaml.yaml: document 1: decode: yaml: line 3: did not find expected ',' or '}'"},
		},
		{
			name:   "a path that does not exist",
			args:   []string{"-f", "nowhere"},
			code:   1,
			stdout: []string{"nowhere: stat nowhere: no such file or directory"},
		},
		{
			name:   "usage: no -f",
			code:   2,
			stdout: nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runModelCheck(t, "", c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			got := lines(stdout)
			if strings.Join(got, "\n") != strings.Join(c.stdout, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.stdout, "\n"))
			}
			if c.stderr != "" && !strings.Contains(stderr, c.stderr+"\n") {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr)
			}
		})
	}
}

func TestModelCheckEveryBadCaseFails(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(testdata, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		code, stdout, _ := runModelCheck(t, "", "-f", "bad/"+e.Name())
		if code != 1 || stdout == "" {
			t.Errorf("%s: exit %d, output %q", e.Name(), code, stdout)
		}
	}
}

func TestModelCheckReadsStdin(t *testing.T) {
	manifest, err := os.ReadFile(filepath.Join(testdata, "bad", "address-outside-cidr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runModelCheck(t, string(manifest), "-f", "-")
	want := "-: Network/outside: spec.addresses[n1,internal].ip: 198.18.1.10 is outside network internal (198.18.0.0/24): give node n1 an address inside it\n"
	if code != 1 || stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q", code, stdout, want)
	}
}

func TestModelCheckJSON(t *testing.T) {
	code, stdout, _ := runModelCheck(t, "", "-f", "good", "-f", "bad/no-nic-on-provisioning.yaml", "-f", "partial", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	want := []map[string]string{
		{"file": "bad/no-nic-on-provisioning.yaml", "kind": "NodesGroup", "name": "dataless", "field": "spec.nodes[n3].drawer", "node": "n3", "severity": "error",
			"message": "drawer shelf0/d3 has no NIC on network internal, the provisioning network every node boots on: cable a NIC of board b0 to one of its switches (shelf0/sw0)"},
		{"file": "partial/lab.yaml", "kind": "Cluster", "name": "lab", "field": "spec.networkRef", "severity": "missing",
			"message": "no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef"},
		{"file": "partial/lab.yaml", "kind": "NodesGroup", "name": "lab-masters", "field": "spec.nodes[l2].drawer", "node": "l2", "severity": "missing",
			"message": "node l2 is not placed on a drawer yet: set drawer to shelf/drawer of Machine lab-site"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(want), stdout)
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("finding %d: %s = %q, want %q", i, k, got[i][k], v)
			}
		}
	}
	code, stdout, _ = runModelCheck(t, "", "-f", "good", "-o", "json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("good site: exit %d, %s", code, stdout)
	}
}

// The shipped samples (a complete edge site, and a partial lab model) pass.
func TestModelCheckSamples(t *testing.T) {
	if _, err := os.Stat(filepath.Join(testdata, "../../../../config/samples/cluster.yaml")); err != nil {
		t.Skipf("no samples in config/samples: %v", err)
	}
	code, stdout, stderr := runModelCheck(t, "", "-f", "../../../../config/samples")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runModelCheck(t, "", "-f", "../../../../config/samples", "--require-complete")
	if code != 0 {
		t.Fatalf("samples with partial-completion are complete; exit %d\n%s%s", code, stdout, stderr)
	}
}
