package dhcp

import (
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// boot is what one client is told to load.
type boot struct {
	file string
	// vendorClass is echoed to PXE and HTTP boot clients, which look for it in the answer.
	vendorClass string
}

const (
	vendorPXE  = "PXEClient"
	vendorHTTP = "HTTPClient"
)

// archAbsent stands for a request without option 93: a legacy BIOS PXE ROM, or a plain DHCP
// client (udhcpc, dhclient) that is handed the BIOS file like any BIOS machine.
const archAbsent = iana.Arch(0xffff)

// chooseBoot picks the boot file by what the client says it is: iPXE first (its script, at
// once, so iPXE in a NIC ROM or chained from TFTP does not loop), then UEFI HTTP boot (a URL),
// then the PXE file for its architecture (RFC 4578 option 93, IANA processor architecture).
func chooseBoot(m *dhcpv4.DHCPv4, b *Boot) boot {
	arch := archAbsent
	if a := m.ClientArch(); len(a) > 0 {
		arch = a[0]
	}
	vc := m.ClassIdentifier()
	echo := ""
	if strings.HasPrefix(vc, vendorPXE) {
		echo = vendorPXE
	}
	if isIPXE(m) && b.IPXEScript != "" {
		return boot{file: b.IPXEScript, vendorClass: echo}
	}
	if strings.HasPrefix(vc, vendorHTTP) {
		switch arch {
		case iana.EFI_X86_64_HTTP:
			return boot{file: b.HTTPBootX64, vendorClass: vendorHTTP}
		case iana.EFI_ARM64_HTTP:
			return boot{file: b.HTTPBootARM64, vendorClass: vendorHTTP}
		}
		return boot{vendorClass: vendorHTTP}
	}
	switch arch {
	case archAbsent, iana.INTEL_X86PC:
		return boot{file: b.BIOS, vendorClass: echo}
	case iana.EFI_X86_64, iana.EFI_BC:
		return boot{file: b.UEFI, vendorClass: echo}
	case iana.EFI_ARM64:
		return boot{file: b.ARM64, vendorClass: echo}
	}
	return boot{vendorClass: echo}
}

// proxy is the proxyDHCP server (PXE specification 2.1, section 2.2.2): beside the site's own
// DHCP server, it answers a PXE client's DISCOVER on port 67 and its REQUEST on port 4011 with
// boot options only, never an address.
func (s *Server) proxy(r *request) *dhcpv4.DHCPv4 {
	vc := r.msg.ClassIdentifier()
	if !strings.HasPrefix(vc, vendorPXE) && !strings.HasPrefix(vc, vendorHTTP) {
		s.ignore("proxyDHCP answers PXE and HTTP boot clients only", "mac", macValue(r.mac), "vendorClass", vc)
		return nil
	}
	var mt dhcpv4.MessageType
	switch got := r.msg.MessageType(); {
	case r.port == ServerPort && got == dhcpv4.MessageTypeDiscover:
		mt = dhcpv4.MessageTypeOffer
	case r.port == PXEPort && (got == dhcpv4.MessageTypeRequest || got == dhcpv4.MessageTypeInform):
		mt = dhcpv4.MessageTypeAck
	default:
		s.ignore("proxyDHCP answers DISCOVER on 67 and REQUEST on 4011 only", "mac", macValue(r.mac), "type", got, "port", r.port)
		return nil
	}
	b := chooseBoot(r.msg, &r.node.Boot)
	if b.file == "" {
		s.ignore("no boot file for this client", "node", r.node.Name, "mac", macValue(r.mac), "arch", r.msg.ClientArch())
		return nil
	}
	s.learn(r)
	resp := s.reply(r, mt)
	resp.ClientIPAddr = nil
	if b.vendorClass == "" {
		b.vendorClass = vendorPXE
	}
	resp.UpdateOption(dhcpv4.OptClassIdentifier(b.vendorClass))
	// The PXE client's UUID must come back for it to take the answer as meant for it.
	if v := r.msg.Options.Get(dhcpv4.OptionClientMachineIdentifier); v != nil {
		resp.Options[dhcpv4.OptionClientMachineIdentifier.Code()] = v
	}
	// PXE_DISCOVERY_CONTROL bit 3: the boot file is in this answer, load it without a boot
	// server discovery or a menu.
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	resp.ServerIPAddr = s.nextServer(r.node)
	setBootFile(resp, b.file)
	// Debug, like the server's ACK: a boot that goes wrong beside another DHCP server is
	// told apart by which of the two answered what.
	s.log.Debug("dhcp: proxy "+mt.String(), "node", r.node.Name, "mac", macValue(r.mac), "port", r.port, "file", b.file)
	return resp
}
