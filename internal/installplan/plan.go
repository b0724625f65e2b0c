// Package installplan is the contract between the install server and the node agent: the
// per-node install plan a deployable archive carries in its cluster section, what the agent
// API adds to it when a node asks (the archive's blob URLs, what to do), the events a node
// reports, and how a node's token is derived.
//
// It depends on the standard library only, because the agent binary that rides in every
// node's initramfs imports it and must stay small (no API machinery, no client-go).
package installplan

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// Version names this plan format; a plan of another version is refused, not guessed at.
const Version = "flarecast.io/install-plan/v1"

// APIPrefix is the agent API's versioned path. The routes below it are
//
//	GET  {APIPrefix}/nodes/{namespace}/{cluster}/{node}/plan    -> PlanResponse
//	POST {APIPrefix}/nodes/{namespace}/{cluster}/{node}/events  <- Event, -> 204
//	PUT  {APIPrefix}/nodes/{namespace}/{cluster}/{node}/capture/{archive}  <- tar, -> CaptureResult
//
// each with "Authorization: Bearer <token>". A missing or unknown token is 401; the token
// of another node is 403; a node not in the model is 404; a capture the node is not asked
// for (no such archive, one of another node, one already made) is 409.
const APIPrefix = "/agent/v1"

// Kernel arguments the install server's boot script puts on the deploy kernel's command line
// and the agent reads: the node's name, its Cluster and namespace (the API path names them),
// its token, and the install server's base URL (http://host:port).
const (
	ArgNode      = "flarecast.node"
	ArgNamespace = "flarecast.namespace"
	ArgCluster   = "flarecast.cluster"
	ArgToken     = "flarecast.token"
	ArgServer    = "flarecast.server"
	// ArgNFSRoot is on a Diskless node's command line when its root is an NFS export of the
	// install server: IP:PORT:PATH (198.18.0.1:2049:/flarecast/<namespace>/<group>), NFSv3
	// over TCP with MOUNT on the same port. The plan response's NFSRoot says the same, and
	// whether the export is served yet.
	ArgNFSRoot = "flarecast.nfsroot"
)

// Plan is what one node needs to install itself, rendered from the resolved model. It is
// stored in the deployable archive's cluster section (so its digests cover it), one file per
// node, under PlanDir.
type Plan struct {
	Version   string `json:"version"`
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	Group     string `json:"group"`
	Node      string `json:"node"`
	// Hostname is the node's host name (its name); Domain the cluster's DNS domain, if any.
	Hostname string `json:"hostname"`
	Domain   string `json:"domain,omitempty"`
	// NodeType is Diskfull, Dataless or Diskless; Role MasterEligible or NonMasterEligible.
	NodeType string `json:"nodeType"`
	Role     string `json:"role"`
	// Firmware is BIOS or UEFI: which boot loader the agent installs.
	Firmware string   `json:"firmware,omitempty"`
	Arch     string   `json:"arch"`
	NICs     []NIC    `json:"nics,omitempty"`
	DNS      []string `json:"dns,omitempty"`
	// Disks are the node's disks as its Machine describes them; empty for a Diskless node.
	Disks []Disk `json:"disks,omitempty"`
	// Scripts are the configuration section's scripts in the order they run.
	Scripts []Script `json:"scripts,omitempty"`
	// DoubleReboot reboots once more after the BeforeServices scripts (Reboots: Twice).
	DoubleReboot bool `json:"doubleReboot,omitempty"`
	// Root says where a Diskless node's root lives: NFS or RAM; empty otherwise.
	Root string `json:"root,omitempty"`
	// Writes says where a Diskless node's writes go: Tmpfs (lost at reboot, the default) or
	// Persistent (its own read-write export on the install server, kept across reboots).
	Writes string `json:"writes,omitempty"`
	// Mounts are the shared data the group declares (a Dataless group's data, or a Diskless
	// one's): the agent writes them into the installed system's mount table.
	Mounts []Mount `json:"mounts,omitempty"`
}

// Root and Writes values of a Diskless plan.
const (
	RootNFS          = "NFS"
	RootRAM          = "RAM"
	WritesTmpfs      = "Tmpfs"
	WritesPersistent = "Persistent"
)

// Mount is one shared file system a node mounts over NFSv3. Server empty means the install
// server serves it; the plan response then says where (PlanResponse.Mounts).
type Mount struct {
	Name       string   `json:"name"`
	MountPoint string   `json:"mountPoint"`
	Server     string   `json:"server,omitempty"`
	Path       string   `json:"path,omitempty"`
	ReadOnly   bool     `json:"readOnly,omitempty"`
	Options    []string `json:"options,omitempty"`
}

// PlanDir is where the cluster section holds the plans: PlanDir/<node>.json.
const PlanDir = "etc/flarecast/plans"

// NIC is one interface of the node and its place on the networks.
type NIC struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
	// Network is the network the address is on; Address is CIDR (198.18.2.10/24).
	Network string `json:"network,omitempty"`
	Address string `json:"address,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	VLAN    int32  `json:"vlan,omitempty"`
	// Provisioning marks the NIC the node boots and installs through.
	Provisioning bool `json:"provisioning,omitempty"`
}

// Disk is one disk the agent lays out. It is found by Serial, then BusPath, then Device, as
// given (never by probe order alone), and refused when smaller than Size.
type Disk struct {
	Name    string  `json:"name"`
	Device  string  `json:"device,omitempty"`
	Serial  string  `json:"serial,omitempty"`
	BusPath string  `json:"busPath,omitempty"`
	Size    int64   `json:"size"`
	Slices  []Slice `json:"slices,omitempty"`
}

// Slice is one partition; Size 0 takes the rest of the disk.
type Slice struct {
	Name       string   `json:"name"`
	Index      int32    `json:"index"`
	Size       int64    `json:"size,omitempty"`
	FSType     string   `json:"fsType,omitempty"`
	MountPoint string   `json:"mountPoint,omitempty"`
	Label      string   `json:"label,omitempty"`
	Options    []string `json:"options,omitempty"`
}

// Script names a script of the configuration section and when it runs.
type Script struct {
	Name  string `json:"name"`
	Stage string `json:"stage"`
	Order int32  `json:"order,omitempty"`
}

// Action is what the install server tells a node that asks for its plan.
type Action string

const (
	// ActionInstall installs the archive of the response.
	ActionInstall Action = "Install"
	// ActionBootLocal tells a node that already runs the desired digest to boot its disk.
	ActionBootLocal Action = "BootLocal"
)

// PlanResponse is the body of GET plan: the node's plan and the archive to install.
type PlanResponse struct {
	Action Action `json:"action"`
	// Message says why, when the action is not the obvious one (a node that runs another
	// digest told to boot its disk while it waits for its turn in the rollout).
	Message string  `json:"message,omitempty"`
	Plan    Plan    `json:"plan"`
	Archive Archive `json:"archive"`
	// NFSRoot is where a Diskless node with an NFS root mounts it; nil for other nodes.
	NFSRoot *NFSRoot `json:"nfsRoot,omitempty"`
	// NFSWrites is the node's own read-write export for a Diskless plan whose Writes is
	// Persistent: its overlay's upper directory lives there. Nil otherwise.
	NFSWrites *NFSRoot `json:"nfsWrites,omitempty"`
	// Mounts are the plan's Mounts resolved to a server, port and path the node can mount.
	Mounts []NFSMount `json:"mounts,omitempty"`
	// Capture, when set, asks the node to stream its root file system to the install server
	// (a FlashArchive with source.capture names it).
	Capture *Capture `json:"capture,omitempty"`
}

// NFSMount is a Mount as the node mounts it: vers=3,proto=tcp,port=Port,mountport=Port.
type NFSMount struct {
	Name       string   `json:"name"`
	MountPoint string   `json:"mountPoint"`
	Server     string   `json:"server"`
	Port       int      `json:"port,omitempty"`
	Path       string   `json:"path"`
	ReadOnly   bool     `json:"readOnly,omitempty"`
	Options    []string `json:"options,omitempty"`
}

// Capture asks a node for its root file system, for the Generic archive Archive (the
// FlashArchive's name, in the node's namespace). The node PUTs a tar stream of its root to URL (the route
// {APIPrefix}/nodes/{namespace}/{cluster}/{node}/capture/{archive}), leaving out Exclude
// (paths relative to the root: pseudo file systems, host keys, machine-id, the cluster
// section), which the archive's creation inputs list.
type Capture struct {
	Archive string   `json:"archive"`
	URL     string   `json:"url"`
	Exclude []string `json:"exclude,omitempty"`
}

// NFSRoot is an NFSv3 export holding the deployable's tree, read-only: a node mounts it with
// vers=3,proto=tcp,nolock,port=Port,mountport=Port,mountproto=tcp and lays its own writable
// overlay over it.
type NFSRoot struct {
	Server string `json:"server"`
	Port   int    `json:"port"`
	Path   string `json:"path"`
	// Digest is the manifest digest the tree is the extraction of (Archive.Digest).
	Digest string `json:"digest"`
}

// String is the ArgNFSRoot form, IP:PORT:PATH.
func (r NFSRoot) String() string { return fmt.Sprintf("%s:%d:%s", r.Server, r.Port, r.Path) }

// Archive is the deployable archive a node installs, by digest.
type Archive struct {
	Name string `json:"name"`
	// Digest is the manifest digest the node reports as installedDigest once it counts.
	Digest   string    `json:"digest"`
	Sections []Section `json:"sections"`
}

// Section is one layer of the archive. URL serves it with Range; Digest is of the bytes as
// served (compressed), DiffID of the uncompressed tar.
type Section struct {
	Name      string `json:"name"`
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID,omitempty"`
	Size      int64  `json:"size"`
	URL       string `json:"url"`
}

// Phase mirrors the NodesGroup's node phases.
type Phase string

const (
	PhasePending     Phase = "Pending"
	PhaseBooting     Phase = "Booting"
	PhaseInstalling  Phase = "Installing"
	PhaseConfiguring Phase = "Configuring"
	PhaseRebooting   Phase = "Rebooting"
	PhaseRunning     Phase = "Running"
	PhaseFailed      Phase = "Failed"
)

// Event is one report of a node, the body of POST events.
type Event struct {
	Phase Phase `json:"phase"`
	// Step names what the agent does (plan, disks, section rootfs, script 10-net.sh, ...).
	Step string `json:"step,omitempty"`
	// Stage is the script stage, for script steps.
	Stage string `json:"stage,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
	Total int64  `json:"total,omitempty"`
	// Percent is 0..100 while installing.
	Percent int32  `json:"percent,omitempty"`
	Message string `json:"message,omitempty"`
	// ExitCode and Output (its tail) report a script's end.
	ExitCode *int32 `json:"exitCode,omitempty"`
	Output   string `json:"output,omitempty"`
	// InstalledDigest is set once the archive's every digest matched.
	InstalledDigest string `json:"installedDigest,omitempty"`
}

// MaxEventBytes bounds an event body; the server refuses a longer one.
const MaxEventBytes = 64 << 10

// Token derives a node's token from the site secret: an HMAC, so that the server keeps no
// token table and a token names exactly one node. The secret never leaves the install server
// and the manager; only tokens reach nodes (on their kernel command line).
func Token(siteSecret []byte, namespace, cluster, node string) string {
	m := hmac.New(sha256.New, siteSecret)
	fmt.Fprintf(m, "flarecast agent token v1\x00%s\x00%s\x00%s", namespace, cluster, node)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TokenMatches compares in constant time.
func TokenMatches(siteSecret []byte, namespace, cluster, node, token string) bool {
	want := Token(siteSecret, namespace, cluster, node)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(token)))
}
