package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// drawer is a drawer of a Machine with its disks parsed.
type drawer struct {
	machine, shelf, name string
	spec                 *v1alpha1.Drawer
	disks                []Disk
	// usable is each mount point's usable size in bytes, a rest slice taking what the
	// sized slices leave of its disk.
	usable map[string]int64
}

// key is the drawer's name across the Machines of a cluster: machine/shelf/drawer.
func (d *drawer) key() string { return d.machine + "/" + d.shelf + "/" + d.name }

// machine indexes a Machine for placing nodes: drawers and switches by "shelf/name", the
// Machine's own names for them.
type machine struct {
	name     string
	spec     *v1alpha1.Machine
	drawers  map[string]*drawer
	switches map[string]int32 // ports per switch
}

func indexMachine(m *v1alpha1.Machine) *machine {
	ix := &machine{name: m.Name, spec: m, drawers: map[string]*drawer{}, switches: map[string]int32{}}
	for si := range m.Spec.Shelves {
		sh := &m.Spec.Shelves[si]
		for _, sw := range sh.Switches {
			ix.switches[sh.Name+"/"+sw.Name] = sw.Ports
		}
		for di := range sh.Drawers {
			d := &drawer{machine: m.Name, shelf: sh.Name, name: sh.Drawers[di].Name, spec: &sh.Drawers[di], usable: map[string]int64{}}
			for _, k := range d.spec.Disks {
				disk, _ := parseDisk(k)
				d.disks = append(d.disks, disk)
				rest := disk.Size
				for _, s := range disk.Slices {
					rest -= s.Size
				}
				for _, s := range disk.Slices {
					if s.MountPoint == "" {
						continue
					}
					size := s.Size
					if size == 0 {
						size = max(rest, 0)
					}
					if _, dup := d.usable[s.MountPoint]; !dup {
						d.usable[s.MountPoint] = size
					}
				}
			}
			ix.drawers[sh.Name+"/"+d.name] = d
		}
	}
	return ix
}

// relayAgent is the relay agent template of a switch of a shelf, or nil.
func (m *machine) relayAgent(shelf, sw string) *v1alpha1.RelayAgent {
	for i := range m.spec.Spec.Shelves {
		sh := &m.spec.Spec.Shelves[i]
		if sh.Name != shelf {
			continue
		}
		for j := range sh.Switches {
			if sh.Switches[j].Name == sw {
				return sh.Switches[j].RelayAgent
			}
		}
	}
	return nil
}

func (m *machine) hasShelf(name string) bool {
	for _, s := range m.spec.Spec.Shelves {
		if s.Name == name {
			return true
		}
	}
	return false
}

func (m *machine) shelves() string {
	var names []string
	for _, s := range m.spec.Spec.Shelves {
		names = append(names, s.Name)
	}
	return listOrNone(names)
}

// parseDisk converts a disk, returning the parse errors of its sizes by field suffix.
func parseDisk(k v1alpha1.Disk) (Disk, map[string]error) {
	errs := map[string]error{}
	size, err := bytesOf(k.Size)
	if err != nil {
		errs["size"] = err
	}
	disk := Disk{Name: k.Name, Device: k.Device, Serial: k.Serial, BusPath: k.BusPath, Size: size}
	for _, s := range k.Slices {
		sl := Slice{Name: s.Name, Index: s.Index}
		if s.Size != nil {
			b, err := bytesOf(*s.Size)
			if err != nil {
				errs[fmt.Sprintf("slices[%s].size", s.Name)] = err
			}
			sl.Size = b
		}
		if s.Filesystem != nil {
			sl.FSType = s.Filesystem.Type
			sl.MountPoint = s.Filesystem.MountPoint
			sl.Label = s.Filesystem.Label
			sl.Options = append([]string(nil), s.Filesystem.Options...)
		}
		disk.Slices = append(disk.Slices, sl)
	}
	return disk, errs
}

func shelfPath(shelf string) string { return fmt.Sprintf("spec.shelves[%s]", shelf) }
func drawerPath(shelf, d string) string {
	return fmt.Sprintf("%s.drawers[%s]", shelfPath(shelf), d)
}
func diskPath(shelf, d, disk string) string {
	return fmt.Sprintf("%s.disks[%s]", drawerPath(shelf, d), disk)
}
func nicPath(shelf, d, board, nic string) string {
	return fmt.Sprintf("%s.boards[%s].nics[%s]", drawerPath(shelf, d), board, nic)
}

// ValidateMachine checks the rules inside one Machine: sizes parse, slices fit their disk,
// one mount point per drawer, every NIC cabled to a port that exists and that no other NIC
// uses, and MAC addresses unique in the whole Machine.
func ValidateMachine(m *v1alpha1.Machine) []Problem {
	if m == nil {
		return nil
	}
	ps := &problems{kind: KindMachine, name: m.Name}
	type owner struct{ nic, drawer, board string }
	ports := map[string]owner{}
	macs := map[string]owner{}
	for _, sh := range m.Spec.Shelves {
		switches := map[string]int32{}
		var names []string
		for _, sw := range sh.Switches {
			switches[sw.Name] = sw.Ports
			names = append(names, sw.Name)
		}
		for _, d := range sh.Drawers {
			validateDisks(ps, sh.Name, d)
			for _, b := range d.Boards {
				for _, n := range b.NICs {
					here := owner{nic: n.Name, drawer: sh.Name + "/" + d.Name, board: b.Name}
					path := nicPath(sh.Name, d.Name, b.Name, n.Name)
					mac := strings.ToLower(n.MAC)
					if o, dup := macs[mac]; dup {
						ps.add(ReasonDuplicateMAC, path+".mac", "", "MAC %s is already the MAC of NIC %s of drawer %s board %s: MAC addresses must be unique in the Machine", n.MAC, o.nic, o.drawer, o.board)
					} else {
						macs[mac] = here
					}
					if n.Link == nil {
						continue
					}
					nports, ok := switches[n.Link.Switch]
					switch {
					case !ok:
						ps.add(ReasonUnknownSwitch, path+".link.switch", "", "switch %s is not a switch of shelf %s: cable the NIC to one of its switches (%s)", n.Link.Switch, sh.Name, listOrNone(names))
						continue
					case n.Link.Port < 1 || n.Link.Port > nports:
						ps.add(ReasonPortOutOfRange, path+".link.port", "", "port %d is beyond the %d ports of switch %s/%s: use a port from 1 to %d", n.Link.Port, nports, sh.Name, n.Link.Switch, nports)
						continue
					}
					key := fmt.Sprintf("%s/%s/%d", sh.Name, n.Link.Switch, n.Link.Port)
					if o, dup := ports[key]; dup {
						ps.add(ReasonSwitchPortInUse, path+".link.port", "", "port %d of switch %s/%s is already linked to NIC %s of drawer %s board %s: a port takes one cable, choose a free port", n.Link.Port, sh.Name, n.Link.Switch, o.nic, o.drawer, o.board)
					} else {
						ports[key] = here
					}
				}
			}
		}
	}
	sortProblems(ps.list)
	return ps.list
}

func validateDisks(ps *problems, shelf string, d v1alpha1.Drawer) {
	mounts := map[string]string{}
	for _, k := range d.Disks {
		path := diskPath(shelf, d.Name, k.Name)
		disk, errs := parseDisk(k)
		var suffixes []string
		for s := range errs {
			suffixes = append(suffixes, s)
		}
		sort.Strings(suffixes)
		for _, s := range suffixes {
			ps.add(ReasonInvalidSize, path+"."+s, "", "%v: write a size as a quantity such as 480Gi", errs[s])
		}
		if _, bad := errs["size"]; bad {
			continue
		}
		var sum int64
		var rest []string
		index := map[int32]string{}
		for _, s := range disk.Slices {
			if o, dup := index[s.Index]; dup {
				ps.add(ReasonSliceIndexInUse, fmt.Sprintf("%s.slices[%s].index", path, s.Name), "", "partition index %d is already used by slice %s of disk %s: give each slice its own index", s.Index, o, k.Name)
			} else {
				index[s.Index] = s.Name
			}
			if s.Size == 0 {
				rest = append(rest, s.Name)
			}
			sum += s.Size
			if s.MountPoint != "" {
				if o, dup := mounts[s.MountPoint]; dup {
					ps.add(ReasonMountPointInUse, fmt.Sprintf("%s.slices[%s].filesystem.mountPoint", path, s.Name), "", "mount point %s is already the mount point of slice %s on drawer %s/%s: mount each file system once", s.MountPoint, o, shelf, d.Name)
				} else {
					mounts[s.MountPoint] = k.Name + "/" + s.Name
				}
			}
		}
		switch {
		case sum > disk.Size:
			ps.add(ReasonSlicesExceedDisk, path+".slices", "", "the slices of disk %s add up to %s, more than its %s: shrink a slice or correct the disk's size", k.Name, human(sum), human(disk.Size))
		case len(rest) > 1:
			ps.add(ReasonMultipleRestSlices, path+".slices", "", "slices %s of disk %s have no size, but only one slice may take the rest of the disk: give all but one a size", strings.Join(rest, ", "), k.Name)
		case len(rest) == 1 && sum == disk.Size:
			ps.add(ReasonRestSliceEmpty, fmt.Sprintf("%s.slices[%s].size", path, rest[0]), "", "slice %s takes the rest of disk %s, but the other slices already use all of its %s: shrink them or give this slice a size", rest[0], k.Name, human(disk.Size))
		}
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
