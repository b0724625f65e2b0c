package dhcp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Ports the server listens on: DHCP's, and PXE's boot server port that a proxyDHCP server
// also answers.
const (
	ServerPort = dhcpv4.ServerPort
	ClientPort = dhcpv4.ClientPort
	PXEPort    = 4011
)

// request is one parsed packet and what the server found out about its sender.
type request struct {
	msg  *dhcpv4.DHCPv4
	mac  net.HardwareAddr
	from netip.AddrPort
	port int // the local port it came in on
	node *Node
	// circuit and remote are the option 82 sub-options, when the node was found by its port.
	circuit, remote string
	byPort          bool
}

// handle answers one packet as it came in on local port port from from. It returns the reply
// and where it goes, or ok=false when the server stays silent; it never blocks on the network.
// Every silence is logged at debug with its reason.
func (s *Server) handle(pkt []byte, from netip.AddrPort, port int) (reply []byte, to netip.AddrPort, ok bool) {
	msg, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		s.ignore("malformed packet", "from", from, "error", err)
		return nil, to, false
	}
	if msg.OpCode != dhcpv4.OpcodeBootRequest || msg.HWType != iana.HWTypeEthernet || len(msg.ClientHWAddr) != 6 {
		s.ignore("not an Ethernet BOOTREQUEST", "from", from, "op", msg.OpCode, "htype", msg.HWType)
		return nil, to, false
	}
	r := &request{msg: msg, mac: msg.ClientHWAddr, from: from, port: port}
	if !s.identify(r) {
		return nil, to, false
	}
	var resp *dhcpv4.DHCPv4
	if s.cfg.Mode == ModeProxy {
		resp = s.proxy(r)
	} else {
		resp = s.serve(r)
	}
	if resp == nil {
		return nil, to, false
	}
	to = s.destination(r, resp) // first: it may set the broadcast flag
	return resp.ToBytes(), to, true
}

// ignore logs why a packet gets no answer. Strangers are expected on a shared segment, so this
// is debug: a log line per stranger's packet at info would drown the site's real events.
func (s *Server) ignore(reason string, args ...any) {
	// Checked first: a flood of strangers should cost no message building when debug is off.
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.Debug("dhcp: no answer: "+reason, args...)
}

// identify finds the node a request is for: by the switch port its relay names in option 82,
// else by its MAC in the table, else by a MAC learned on a port before.
func (s *Server) identify(r *request) bool {
	ix := s.table.Load()
	if raw := r.msg.Options.Get(dhcpv4.OptionRelayAgentInformation); raw != nil {
		rai := r.msg.RelayAgentInfo()
		if rai == nil {
			s.ignore("relay agent information does not parse", "mac", macValue(r.mac), "from", r.from)
			return false
		}
		circuit := string(rai.Get(dhcpv4.AgentCircuitIDSubOption))
		remote := string(rai.Get(dhcpv4.AgentRemoteIDSubOption))
		n := ix.byPort[portKey(circuit, remote)]
		if n == nil {
			n = ix.byCircuit[circuit]
		}
		if n != nil {
			r.node, r.circuit, r.remote, r.byPort = n, circuit, remote, true
			return true
		}
		// A relay that tags every port still serves nodes known by MAC on untagged ports.
	}
	if n := ix.byMAC[string(r.mac)]; n != nil {
		r.node = n
		return true
	}
	if name, ok := s.st.boundNode(r.mac); ok {
		if n := ix.byName[name]; n != nil {
			r.node = n
			return true
		}
	}
	s.ignore("unknown client", "mac", macValue(r.mac), "from", r.from, "relay", r.msg.GatewayIPAddr, "type", r.msg.MessageType())
	return false
}

// serve is the authoritative server: addresses and boot options.
func (s *Server) serve(r *request) *dhcpv4.DHCPv4 {
	if r.port != ServerPort {
		s.ignore("not the DHCP port", "mac", macValue(r.mac), "port", r.port)
		return nil
	}
	switch mt := r.msg.MessageType(); mt {
	case dhcpv4.MessageTypeDiscover:
		if !s.addressFree(r) {
			return nil
		}
		s.learn(r)
		return s.lease(r, dhcpv4.MessageTypeOffer)
	case dhcpv4.MessageTypeRequest:
		return s.request(r)
	case dhcpv4.MessageTypeRelease:
		s.release(r)
		return nil
	case dhcpv4.MessageTypeDecline:
		s.decline(r)
		return nil
	case dhcpv4.MessageTypeInform:
		s.learn(r)
		resp := s.reply(r, dhcpv4.MessageTypeAck)
		s.configure(resp, r)
		return resp
	default:
		s.ignore("message type a server does not answer", "mac", macValue(r.mac), "type", mt)
		return nil
	}
}

// request answers a DHCPREQUEST in each of the client states RFC 2131 4.3.2 tells apart.
func (s *Server) request(r *request) *dhcpv4.DHCPv4 {
	want := r.node.Address.Addr()
	sid := r.msg.ServerIdentifier()
	asked := r.msg.RequestedIPAddress()
	ciaddr := ip4(r.msg.ClientIPAddr)
	var got netip.Addr
	switch {
	case sid != nil: // SELECTING: the client answers one server's offer.
		if ip4(sid) != s.cfg.ServerAddr {
			s.ignore("client took another server's offer", "mac", macValue(r.mac), "server", sid)
			return nil
		}
		got = ip4(asked)
	case asked != nil: // INIT-REBOOT: the client checks the address it remembers.
		got = ip4(asked)
	case ciaddr.IsValid() && !ciaddr.IsUnspecified(): // RENEWING or REBINDING.
		got = ciaddr
	default:
		s.ignore("request names no address", "mac", macValue(r.mac))
		return nil
	}
	if got != want {
		s.log.Info("dhcp: NAK, the client asks for an address that is not its own", "node", r.node.Name, "mac", macValue(r.mac), "asked", got, "address", want)
		resp := s.reply(r, dhcpv4.MessageTypeNak)
		resp.UpdateOption(dhcpv4.OptMessage("address " + got.String() + " is not this client's"))
		return resp
	}
	if !s.addressFree(r) {
		return nil
	}
	s.learn(r)
	resp := s.lease(r, dhcpv4.MessageTypeAck)
	l := Lease{Node: r.node.Name, MAC: r.mac, Address: want, Expires: s.now().Add(r.node.LeaseTime)}
	s.st.grant(l)
	s.log.Debug("dhcp: ACK", "node", r.node.Name, "mac", macValue(r.mac), "address", want, "relay", r.msg.GatewayIPAddr)
	if s.cfg.Observer != nil {
		s.cfg.Observer.Leased(l)
	}
	return resp
}

func (s *Server) release(r *request) {
	if sid := r.msg.ServerIdentifier(); sid != nil && ip4(sid) != s.cfg.ServerAddr {
		s.ignore("release for another server", "mac", macValue(r.mac))
		return
	}
	if a := ip4(r.msg.ClientIPAddr); s.st.release(a, r.mac) {
		s.log.Info("dhcp: lease released", "node", r.node.Name, "mac", macValue(r.mac), "address", a)
	}
}

// decline takes a node's address out of service for DeclineHold: the client found it in use
// (an ARP answer from someone else), and offering it again at once would only loop.
func (s *Server) decline(r *request) {
	a := ip4(r.msg.RequestedIPAddress())
	if a != r.node.Address.Addr() {
		s.ignore("decline of an address that is not the client's", "mac", macValue(r.mac), "address", a)
		return
	}
	until := s.now().Add(s.cfg.DeclineHold)
	s.st.decline(a, until)
	s.log.Warn("dhcp: client declined its address, another host seems to use it", "node", r.node.Name, "mac", macValue(r.mac), "address", a, "heldUntil", until)
}

// addressFree says whether the node's address may be handed out now: not declined, and not
// still leased to another node (the model moved an address while its old holder's lease runs).
func (s *Server) addressFree(r *request) bool {
	a, now := r.node.Address.Addr(), s.now()
	if until, ok := s.st.declinedUntil(a, now); ok {
		s.log.Warn("dhcp: no answer: the node's address was declined", "node", r.node.Name, "mac", macValue(r.mac), "address", a, "heldUntil", until)
		return false
	}
	if l, ok := s.st.holder(a, r.node.Name, now); ok {
		s.log.Warn("dhcp: no answer: the node's address is still leased to another node", "node", r.node.Name, "address", a, "holder", l.Node, "expires", l.Expires)
		return false
	}
	return true
}

// learn records the MAC a relay saw on a node's switch port, durably before the reply goes out,
// and tells the observer.
func (s *Server) learn(r *request) {
	if !r.byPort {
		return
	}
	b, news := s.st.bind(r.node.Name, r.mac, r.circuit, r.remote, s.now())
	if !news {
		return
	}
	if err := s.st.flush(); err != nil {
		s.log.Error("dhcp: the MAC seen on a switch port is not saved", "node", r.node.Name, "mac", macValue(r.mac), "error", err)
	}
	s.log.Info("dhcp: MAC seen on the node's switch port", "node", r.node.Name, "mac", macValue(r.mac), "circuitID", r.circuit, "remoteID", r.remote)
	if s.cfg.Observer != nil {
		s.cfg.Observer.Bound(b)
	}
}

// reply starts an answer to r: the BOOTP header copied as RFC 2131 table 3 says, the server
// identifier, and the options a server must echo (relay agent information, client identifier).
func (s *Server) reply(r *request, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	q := r.msg
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        q.HWType,
		TransactionID: q.TransactionID,
		Flags:         q.Flags,
		GatewayIPAddr: q.GatewayIPAddr,
		ClientHWAddr:  q.ClientHWAddr,
		Options:       dhcpv4.Options{},
	}
	resp.UpdateOption(dhcpv4.OptMessageType(mt))
	resp.UpdateOption(dhcpv4.OptServerIdentifier(s.serverIP))
	for _, c := range []dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := q.Options.Get(c); v != nil {
			resp.Options[c.Code()] = v
		}
	}
	if mt == dhcpv4.MessageTypeInform || mt == dhcpv4.MessageTypeAck {
		resp.ClientIPAddr = q.ClientIPAddr
	}
	return resp
}

// lease is an OFFER or ACK of the node's address with all its options.
func (s *Server) lease(r *request, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	resp := s.reply(r, mt)
	n := r.node
	resp.YourIPAddr = n.Address.Addr().AsSlice()
	resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(n.LeaseTime.Truncate(time.Second)))
	resp.UpdateOption(dhcpv4.OptRenewTimeValue((n.LeaseTime / 2).Truncate(time.Second)))
	resp.UpdateOption(dhcpv4.OptRebindingTimeValue((n.LeaseTime * 7 / 8).Truncate(time.Second)))
	s.configure(resp, r)
	return resp
}

// configure adds the node's network and boot options.
func (s *Server) configure(resp *dhcpv4.DHCPv4, r *request) {
	n := r.node
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(n.Address.Bits(), 32)))
	if len(n.Routers) > 0 {
		resp.UpdateOption(dhcpv4.OptRouter(ips(n.Routers)...))
	}
	if len(n.DNS) > 0 {
		resp.UpdateOption(dhcpv4.OptDNS(ips(n.DNS)...))
	}
	if n.Hostname != "" {
		resp.UpdateOption(dhcpv4.OptHostName(n.Hostname))
	}
	if n.Domain != "" {
		resp.UpdateOption(dhcpv4.OptDomainName(n.Domain))
	}
	b := chooseBoot(r.msg, &n.Boot)
	if b.vendorClass != "" {
		resp.UpdateOption(dhcpv4.OptClassIdentifier(b.vendorClass))
	}
	if b.file == "" {
		return
	}
	resp.ServerIPAddr = s.nextServer(n)
	setBootFile(resp, b.file)
}

func (s *Server) nextServer(n *Node) net.IP {
	if n.Boot.NextServer.IsValid() {
		return n.Boot.NextServer.AsSlice()
	}
	return s.serverIP
}

// setBootFile puts the boot file in the BOOTP file field, or in option 67 when it does not fit
// (a long URL), which iPXE and UEFI read as well.
func setBootFile(resp *dhcpv4.DHCPv4, file string) {
	if len(file) < 128 {
		resp.BootFileName = file
		return
	}
	resp.UpdateOption(dhcpv4.OptBootFileName(file))
}

// destination is where RFC 2131 4.1 sends a reply: to the relay, to the client's own address
// when it has one, else broadcast on the segment. A client without an address that did not ask
// for broadcast would get a unicast to its MAC from a server with raw sockets; every client
// here (iPXE, EFI, udhcpc, dhclient) takes the broadcast as well.
func (s *Server) destination(r *request, resp *dhcpv4.DHCPv4) netip.AddrPort {
	nak := resp.MessageType() == dhcpv4.MessageTypeNak
	if gi := ip4(r.msg.GatewayIPAddr); gi.IsValid() && !gi.IsUnspecified() {
		if nak {
			resp.SetBroadcast()
		}
		return netip.AddrPortFrom(gi, ServerPort)
	}
	if r.port == PXEPort {
		return r.from
	}
	if ci := ip4(r.msg.ClientIPAddr); !nak && ci.IsValid() && !ci.IsUnspecified() {
		return netip.AddrPortFrom(ci, ClientPort)
	}
	return netip.AddrPortFrom(limitedBroadcast, ClientPort)
}

// macValue logs a MAC as text, formatted only when the line is written.
type macValue net.HardwareAddr

func (m macValue) LogValue() slog.Value { return slog.StringValue(net.HardwareAddr(m).String()) }

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func ip4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok {
		return netip.Addr{}
	}
	return a
}

func ips(as []netip.Addr) []net.IP {
	out := make([]net.IP, len(as))
	for i, a := range as {
		out[i] = a.AsSlice()
	}
	return out
}

// isIPXE says whether the client is iPXE: it sends user class "iPXE", as a bare string (what
// iPXE does) or as an RFC 3004 list.
func isIPXE(m *dhcpv4.DHCPv4) bool {
	raw := m.Options.Get(dhcpv4.OptionUserClassInformation)
	if raw == nil {
		return false
	}
	return bytes.Equal(raw, []byte("iPXE")) || slices.Contains(m.UserClass(), "iPXE")
}
