package dhcp

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

var (
	serverAddr = netip.MustParseAddr("198.18.0.1")
	relayAddr  = netip.MustParseAddr("198.18.2.1")
	macA       = mustMAC("52:54:00:00:00:0a")
	macB       = mustMAC("52:54:00:00:00:0b")
	macCabled  = mustMAC("52:54:00:00:00:c1")
	stranger   = mustMAC("52:54:00:99:99:99")
	fromClient = netip.MustParseAddrPort("0.0.0.0:68")
	fromRelay  = netip.AddrPortFrom(relayAddr, 67)
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func testBoot() Boot {
	return Boot{
		BIOS: "undionly.kpxe", UEFI: "ipxe.efi", ARM64: "snp.efi",
		IPXEScript:    "http://198.18.0.1:8080/ipxe/node-a",
		HTTPBootX64:   "http://198.18.0.1:8080/boot/ipxe.efi",
		HTTPBootARM64: "http://198.18.0.1:8080/boot/snp.efi",
	}
}

// testTable: node-a and node-b known by MAC on the server's segment, node-c known only by the
// switch port it is cabled to, behind a relay.
func testTable() *Table {
	return &Table{
		Nodes: []Node{
			{Name: "node-a", MACs: []net.HardwareAddr{macA}, Address: netip.MustParsePrefix("198.18.0.10/24"),
				Hostname: "node-a", Domain: "site.test", Routers: []netip.Addr{serverAddr},
				DNS: []netip.Addr{netip.MustParseAddr("198.18.0.53")}, LeaseTime: 2 * time.Hour, Boot: testBoot()},
			{Name: "node-b", MACs: []net.HardwareAddr{macB}, Address: netip.MustParsePrefix("198.18.0.11/24"), Hostname: "node-b", Boot: testBoot()},
			{Name: "node-c", Address: netip.MustParsePrefix("198.18.2.20/24"), Hostname: "node-c", Routers: []netip.Addr{relayAddr}, Boot: testBoot()},
			{Name: "node-d", Address: netip.MustParsePrefix("198.18.2.21/24"), Hostname: "node-d", Routers: []netip.Addr{relayAddr}, Boot: testBoot()},
		},
		Ports: []Port{
			{CircuitID: "sw1/port7", Node: "node-c"},
			{CircuitID: "sw1/port8", RemoteID: "rack1", Node: "node-d"},
		},
	}
}

type recorder struct {
	mu       sync.Mutex
	bindings []Binding
	leases   []Lease
}

func (r *recorder) Bound(b Binding) { r.mu.Lock(); r.bindings = append(r.bindings, b); r.mu.Unlock() }
func (r *recorder) Leased(l Lease)  { r.mu.Lock(); r.leases = append(r.leases, l); r.mu.Unlock() }

// newTestServer returns the server with its log, so that a test can check a silence was explained.
func newTestServer(t testing.TB, cfg Config, tab *Table) (*Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	cfg.ServerAddr = serverAddr
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, tab)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func packet(t testing.TB, mt dhcpv4.MessageType, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func relayed(circuit, remote string) dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) {
		d.GatewayIPAddr = relayAddr.AsSlice()
		d.HopCount = 1
		sub := []dhcpv4.Option{dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(dhcpv4.AgentCircuitIDSubOption), []byte(circuit))}
		if remote != "" {
			sub = append(sub, dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(dhcpv4.AgentRemoteIDSubOption), []byte(remote)))
		}
		d.UpdateOption(dhcpv4.OptRelayAgentInfo(sub...))
	}
}

// exchange sends one packet to the handler and parses the answer; nil when silent.
func exchange(t testing.TB, s *Server, m *dhcpv4.DHCPv4, from netip.AddrPort, port int) (*dhcpv4.DHCPv4, netip.AddrPort) {
	t.Helper()
	out, to, ok := s.handle(m.ToBytes(), from, port)
	if !ok {
		return nil, to
	}
	resp, err := dhcpv4.FromBytes(out)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if resp.TransactionID != m.TransactionID || !bytes.Equal(resp.ClientHWAddr, m.ClientHWAddr) || resp.OpCode != dhcpv4.OpcodeBootReply {
		t.Fatalf("reply is not for the request: %s", resp.Summary())
	}
	return resp, to
}

func TestDiscoverGetsTheNodesOfferWithItsOptions(t *testing.T) {
	s, _ := newTestServer(t, Config{}, testTable())
	resp, to := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA), fromClient, ServerPort)
	if resp == nil {
		t.Fatal("no offer")
	}
	checks := map[string][2]string{
		"type":      {resp.MessageType().String(), "OFFER"},
		"yiaddr":    {resp.YourIPAddr.String(), "198.18.0.10"},
		"mask":      {net.IP(resp.SubnetMask()).String(), "255.255.255.0"},
		"router":    {ipsString(resp.Router()), "198.18.0.1"},
		"dns":       {ipsString(resp.DNS()), "198.18.0.53"},
		"hostname":  {resp.HostName(), "node-a"},
		"domain":    {resp.DomainName(), "site.test"},
		"lease":     {resp.IPAddressLeaseTime(0).String(), "2h0m0s"},
		"renew":     {resp.IPAddressRenewalTime(0).String(), "1h0m0s"},
		"server id": {resp.ServerIdentifier().String(), "198.18.0.1"},
		"file":      {resp.BootFileName, "undionly.kpxe"},
		"siaddr":    {resp.ServerIPAddr.String(), "198.18.0.1"},
		"to":        {to.String(), "255.255.255.255:68"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if len(s.Leases()) != 0 {
		t.Errorf("an offer must not hold a lease: %v", s.Leases())
	}
}

func ipsString(ips []net.IP) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return strings.Join(s, ",")
}

func TestRequestStates(t *testing.T) {
	wrong := net.ParseIP("198.18.0.99").To4()
	own := net.ParseIP("198.18.0.10").To4()
	cases := []struct {
		name string
		mods []dhcpv4.Modifier
		want string // message type, or "" for silence
		to   string
	}{
		{"selecting our offer", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own))}, "ACK", "255.255.255.255:68"},
		{"selecting another server's offer", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("198.18.0.2"))), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(wrong))}, "", ""},
		{"selecting a wrong address", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(wrong))}, "NAK", "255.255.255.255:68"},
		{"init-reboot with its address", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own))}, "ACK", "255.255.255.255:68"},
		{"init-reboot with an old address", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(wrong))}, "NAK", "255.255.255.255:68"},
		{"renewing", []dhcpv4.Modifier{dhcpv4.WithClientIP(own)}, "ACK", "198.18.0.10:68"},
		{"renewing a wrong address", []dhcpv4.Modifier{dhcpv4.WithClientIP(wrong)}, "NAK", "255.255.255.255:68"},
		{"no address at all", nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obs := &recorder{}
			s, _ := newTestServer(t, Config{Observer: obs}, testTable())
			resp, to := exchange(t, s, packet(t, dhcpv4.MessageTypeRequest, macA, c.mods...), fromClient, ServerPort)
			switch {
			case c.want == "" && resp != nil:
				t.Fatalf("want silence, got %s", resp.Summary())
			case c.want == "":
				return
			case resp == nil:
				t.Fatalf("want %s, got silence", c.want)
			}
			if got := resp.MessageType().String(); got != c.want || to.String() != c.to {
				t.Fatalf("got %s to %s, want %s to %s", got, to, c.want, c.to)
			}
			acked := c.want == "ACK"
			if acked != (len(s.Leases()) == 1 && len(obs.leases) == 1) {
				t.Fatalf("leases %v, observed %v after %s", s.Leases(), obs.leases, c.want)
			}
			if c.want == "NAK" && resp.YourIPAddr != nil && !resp.YourIPAddr.IsUnspecified() {
				t.Fatalf("a NAK carries an address: %s", resp.YourIPAddr)
			}
		})
	}
}

func TestStrangersGetSilenceAndADebugLine(t *testing.T) {
	s, logs := newTestServer(t, Config{}, testTable())
	cases := map[string]*dhcpv4.DHCPv4{
		"unknown MAC":                   packet(t, dhcpv4.MessageTypeDiscover, stranger),
		"unknown MAC via relay":         packet(t, dhcpv4.MessageTypeDiscover, stranger, relayed("sw1/port99", "")),
		"port with the wrong remote-id": packet(t, dhcpv4.MessageTypeDiscover, stranger, relayed("sw1/port8", "rack2")),
	}
	for name, m := range cases {
		if resp, _ := exchange(t, s, m, fromClient, ServerPort); resp != nil {
			t.Errorf("%s: answered %s", name, resp.Summary())
		}
	}
	if n := strings.Count(logs.String(), "no answer: unknown client"); n != len(cases) {
		t.Errorf("want %d debug lines for strangers, got %d:\n%s", len(cases), n, logs)
	}
	// The server still serves the others.
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macB), fromClient, ServerPort); resp == nil {
		t.Fatal("node-b got no offer after the strangers")
	}
}

func TestRelayedRequestIsAnsweredToTheRelay(t *testing.T) {
	s, _ := newTestServer(t, Config{}, testTable())
	m := packet(t, dhcpv4.MessageTypeDiscover, macA, dhcpv4.WithRelay(relayAddr.AsSlice()))
	resp, to := exchange(t, s, m, fromRelay, ServerPort)
	if resp == nil || to != netip.AddrPortFrom(relayAddr, 67) || !resp.GatewayIPAddr.Equal(relayAddr.AsSlice()) {
		t.Fatalf("got %v to %s", resp, to)
	}
}

func TestSwitchPortGivesTheCabledNodesLeaseAndLearnsItsMAC(t *testing.T) {
	obs := &recorder{}
	s, _ := newTestServer(t, Config{Observer: obs, LeaseFile: filepath.Join(t.TempDir(), "leases.json")}, testTable())
	resp, to := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macCabled, relayed("sw1/port7", "any-remote")), fromRelay, ServerPort)
	if resp == nil || resp.YourIPAddr.String() != "198.18.2.20" || to != netip.AddrPortFrom(relayAddr, 67) {
		t.Fatalf("port 7: got %v to %s", resp, to)
	}
	if rai := resp.RelayAgentInfo(); rai == nil || string(rai.Get(dhcpv4.AgentCircuitIDSubOption)) != "sw1/port7" {
		t.Fatalf("option 82 not echoed: %v", resp.Options)
	}
	if len(obs.bindings) != 1 || obs.bindings[0].Node != "node-c" || obs.bindings[0].MAC.String() != macCabled.String() {
		t.Fatalf("observer heard %v", obs.bindings)
	}
	// A second sight of the same MAC on the same port is no news.
	exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macCabled, relayed("sw1/port7", "any-remote")), fromRelay, ServerPort)
	if len(obs.bindings) != 1 {
		t.Fatalf("observer heard a repeat: %v", obs.bindings)
	}
	// The node renews straight to the server, without the relay's option: the learned MAC
	// still names it.
	renew := packet(t, dhcpv4.MessageTypeRequest, macCabled, dhcpv4.WithClientIP(net.ParseIP("198.18.2.20")))
	if resp, to := exchange(t, s, renew, netip.MustParseAddrPort("198.18.2.20:68"), ServerPort); resp == nil || resp.MessageType() != dhcpv4.MessageTypeAck || to.String() != "198.18.2.20:68" {
		t.Fatalf("renew without option 82: got %v to %s", resp, to)
	}
	// The same machine recabled to port 8 (remote-id rack1) gets node-d's lease: the lease
	// follows the port, and the MAC is no longer node-c's.
	resp, _ = exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macCabled, relayed("sw1/port8", "rack1")), fromRelay, ServerPort)
	if resp == nil || resp.YourIPAddr.String() != "198.18.2.21" {
		t.Fatalf("port 8: got %v", resp)
	}
	bs := s.Bindings()
	if len(bs) != 1 || bs[0].Node != "node-d" || bs[0].CircuitID != "sw1/port8" || bs[0].RemoteID != "rack1" {
		t.Fatalf("bindings after the move: %v", bs)
	}
}

func TestBootFileFollowsTheClient(t *testing.T) {
	arch := func(a iana.Arch) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptClientArch(a)) }
	vendor := func(v string) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptClassIdentifier(v)) }
	b := testBoot()
	cases := []struct {
		name       string
		mods       []dhcpv4.Modifier
		file, echo string
	}{
		{"plain DHCP client", nil, b.BIOS, ""},
		{"BIOS PXE", []dhcpv4.Modifier{arch(iana.INTEL_X86PC), vendor("PXEClient:Arch:00000:UNDI:002001")}, b.BIOS, "PXEClient"},
		{"UEFI x86_64 PXE", []dhcpv4.Modifier{arch(iana.EFI_X86_64), vendor("PXEClient:Arch:00007:UNDI:003016")}, b.UEFI, "PXEClient"},
		{"UEFI BC PXE", []dhcpv4.Modifier{arch(iana.EFI_BC), vendor("PXEClient:Arch:00009:UNDI:003016")}, b.UEFI, "PXEClient"},
		{"arm64 UEFI PXE", []dhcpv4.Modifier{arch(iana.EFI_ARM64), vendor("PXEClient:Arch:00011:UNDI:003000")}, b.ARM64, "PXEClient"},
		{"iPXE (bare user class)", []dhcpv4.Modifier{arch(iana.EFI_X86_64), vendor("PXEClient:Arch:00007:UNDI:003016"), dhcpv4.WithUserClass("iPXE", false)}, b.IPXEScript, "PXEClient"},
		{"iPXE (RFC 3004 user class)", []dhcpv4.Modifier{dhcpv4.WithUserClass("iPXE", true)}, b.IPXEScript, ""},
		{"UEFI HTTP boot x86_64", []dhcpv4.Modifier{arch(iana.EFI_X86_64_HTTP), vendor("HTTPClient:Arch:00016:UNDI:003001")}, b.HTTPBootX64, "HTTPClient"},
		{"UEFI HTTP boot arm64", []dhcpv4.Modifier{arch(iana.EFI_ARM64_HTTP), vendor("HTTPClient:Arch:00019:UNDI:003001")}, b.HTTPBootARM64, "HTTPClient"},
		{"architecture without a build", []dhcpv4.Modifier{arch(iana.EFI_RISCV64), vendor("PXEClient:Arch:00027:UNDI:003000")}, "", "PXEClient"},
	}
	s, _ := newTestServer(t, Config{}, testTable())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA, c.mods...), fromClient, ServerPort)
			if resp == nil {
				t.Fatal("no offer")
			}
			if resp.BootFileName != c.file || resp.ClassIdentifier() != c.echo {
				t.Fatalf("file %q vendor class %q, want %q %q", resp.BootFileName, resp.ClassIdentifier(), c.file, c.echo)
			}
			if resp.YourIPAddr.String() != "198.18.0.10" {
				t.Fatalf("address %s", resp.YourIPAddr)
			}
		})
	}
}

func TestLongBootURLGoesInOption67(t *testing.T) {
	tab := testTable()
	tab.Nodes[0].Boot.IPXEScript = "http://198.18.0.1:8080/" + strings.Repeat("x", 200)
	s, _ := newTestServer(t, Config{}, tab)
	resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA, dhcpv4.WithUserClass("iPXE", false)), fromClient, ServerPort)
	if resp == nil || resp.BootFileNameOption() != tab.Nodes[0].Boot.IPXEScript {
		t.Fatalf("got %v", resp)
	}
}

func TestProxyDHCPGivesBootOptionsOnly(t *testing.T) {
	s, logs := newTestServer(t, Config{Mode: ModeProxy}, testTable())
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, bytes.Repeat([]byte{7}, 16)...)),
	}
	offer, to := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA, pxe...), fromClient, ServerPort)
	if offer == nil {
		t.Fatal("no proxy offer")
	}
	if !offer.YourIPAddr.IsUnspecified() || offer.BootFileName != "ipxe.efi" || offer.ClassIdentifier() != "PXEClient" ||
		offer.Options.Get(dhcpv4.OptionClientMachineIdentifier) == nil || offer.IPAddressLeaseTime(0) != 0 || to.Port() != ClientPort {
		t.Fatalf("proxy offer: %s to %s", offer.Summary(), to)
	}
	// The PXE client then asks the proxy on 4011 from the address the site's server gave it.
	req := packet(t, dhcpv4.MessageTypeRequest, macA, append(pxe, dhcpv4.WithClientIP(net.ParseIP("198.18.0.77")))...)
	from := netip.MustParseAddrPort("198.18.0.77:4011")
	ack, to := exchange(t, s, req, from, PXEPort)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "ipxe.efi" || !ack.YourIPAddr.IsUnspecified() || to != from {
		t.Fatalf("proxy ack: %v to %s", ack, to)
	}
	// Not a PXE client, or a plain REQUEST on 67: the site's own server answers those.
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA), fromClient, ServerPort); resp != nil {
		t.Fatalf("proxy answered a plain client: %s", resp.Summary())
	}
	if resp, _ := exchange(t, s, req, fromClient, ServerPort); resp != nil {
		t.Fatalf("proxy answered a REQUEST on 67: %s", resp.Summary())
	}
	if !strings.Contains(logs.String(), "proxyDHCP answers PXE and HTTP boot clients only") {
		t.Fatalf("silence not explained:\n%s", logs)
	}
}

func TestLeasesAndBindingsSurviveARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "leases.json")
	s, _ := newTestServer(t, Config{LeaseFile: file}, testTable())
	own := net.ParseIP("198.18.2.20")
	req := packet(t, dhcpv4.MessageTypeRequest, macCabled, relayed("sw1/port7", ""), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own)))
	if resp, _ := exchange(t, s, req, fromRelay, ServerPort); resp == nil || resp.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("got %v", resp)
	}
	if err := s.st.flush(); err != nil { // what Serve does when it stops
		t.Fatal(err)
	}

	again, _ := newTestServer(t, Config{LeaseFile: file}, testTable())
	if l := again.Leases(); len(l) != 1 || l[0].Node != "node-c" || l[0].MAC.String() != macCabled.String() {
		t.Fatalf("leases after restart: %v", l)
	}
	// The node renews straight to the server; only the saved binding says who it is.
	renew := packet(t, dhcpv4.MessageTypeRequest, macCabled, dhcpv4.WithClientIP(own))
	resp, _ := exchange(t, again, renew, netip.MustParseAddrPort("198.18.2.20:68"), ServerPort)
	if resp == nil || resp.MessageType() != dhcpv4.MessageTypeAck || !resp.YourIPAddr.Equal(own) {
		t.Fatalf("renew after restart: %v", resp)
	}
}

func TestCorruptLeaseFileIsRefusedAndKept(t *testing.T) {
	file := filepath.Join(t.TempDir(), "leases.json")
	if err := os.WriteFile(file, []byte(`{"version":1,"leases":[{"node":"a","mac":"zz"`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{ServerAddr: serverAddr, LeaseFile: file}, testTable())
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err = %v", err)
	}
	if data, _ := os.ReadFile(file); !strings.HasPrefix(string(data), `{"version":1`) {
		t.Fatal("the corrupt file was replaced")
	}
}

func TestSetTableSwapsWholeTablesAndRefusesBadOnes(t *testing.T) {
	s, _ := newTestServer(t, Config{}, testTable())
	bad := testTable()
	bad.Nodes[1].MACs = []net.HardwareAddr{macA}                   // a MAC twice
	bad.Nodes[1].Address = netip.MustParsePrefix("198.18.0.10/24") // an address twice
	bad.Ports = append(bad.Ports, Port{CircuitID: "x", Node: "nobody"})
	err := s.SetTable(bad)
	for _, want := range []string{"MAC 52:54:00:00:00:0a is also node \"node-a\"'s", "address 198.18.0.10 is also", "node \"nobody\" is not in the table"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macB), fromClient, ServerPort); resp == nil || resp.YourIPAddr.String() != "198.18.0.11" {
		t.Fatalf("the old table is not in force after a refused one: %v", resp)
	}
	moved := testTable()
	moved.Nodes[1].Address = netip.MustParsePrefix("198.18.0.111/24")
	if err := s.SetTable(moved); err != nil {
		t.Fatal(err)
	}
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macB), fromClient, ServerPort); resp == nil || resp.YourIPAddr.String() != "198.18.0.111" {
		t.Fatalf("the new table is not in force: %v", resp)
	}
}

func TestAddressLeasedToAnotherNodeIsNotOfferedUntilReleased(t *testing.T) {
	s, logs := newTestServer(t, Config{}, testTable())
	ack, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeRequest, macA, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("198.18.0.10")))), fromClient, ServerPort)
	if ack == nil {
		t.Fatal("no ack")
	}
	// The model gives node-a's address to node-b while node-a's lease runs.
	swapped := testTable()
	swapped.Nodes[0].Address, swapped.Nodes[1].Address = swapped.Nodes[1].Address, swapped.Nodes[0].Address
	if err := s.SetTable(swapped); err != nil {
		t.Fatal(err)
	}
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macB), fromClient, ServerPort); resp != nil {
		t.Fatalf("offered an address another node holds: %s", resp.Summary())
	}
	if !strings.Contains(logs.String(), "still leased to another node") {
		t.Fatalf("no warning:\n%s", logs)
	}
	rel := packet(t, dhcpv4.MessageTypeRelease, macA, dhcpv4.WithClientIP(net.ParseIP("198.18.0.10")), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())))
	if resp, _ := exchange(t, s, rel, netip.MustParseAddrPort("198.18.0.10:68"), ServerPort); resp != nil {
		t.Fatal("a RELEASE got an answer")
	}
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macB), fromClient, ServerPort); resp == nil || resp.YourIPAddr.String() != "198.18.0.10" {
		t.Fatalf("after the release: %v", resp)
	}
}

func TestDeclinedAddressIsHeld(t *testing.T) {
	s, _ := newTestServer(t, Config{DeclineHold: time.Minute}, testTable())
	now := time.Now()
	s.now = func() time.Time { return now }
	dec := packet(t, dhcpv4.MessageTypeDecline, macA, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("198.18.0.10"))), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())))
	if resp, _ := exchange(t, s, dec, fromClient, ServerPort); resp != nil {
		t.Fatal("a DECLINE got an answer")
	}
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA), fromClient, ServerPort); resp != nil {
		t.Fatal("offered a declined address")
	}
	now = now.Add(2 * time.Minute)
	if resp, _ := exchange(t, s, packet(t, dhcpv4.MessageTypeDiscover, macA), fromClient, ServerPort); resp == nil {
		t.Fatal("the address stays held after DeclineHold")
	}
}

func TestInformGetsOptionsWithoutALease(t *testing.T) {
	s, _ := newTestServer(t, Config{}, testTable())
	m := packet(t, dhcpv4.MessageTypeInform, macA, dhcpv4.WithClientIP(net.ParseIP("198.18.0.10")))
	resp, to := exchange(t, s, m, netip.MustParseAddrPort("198.18.0.10:68"), ServerPort)
	if resp == nil || resp.MessageType() != dhcpv4.MessageTypeAck || !resp.YourIPAddr.IsUnspecified() || resp.IPAddressLeaseTime(0) != 0 ||
		resp.HostName() != "node-a" || to.String() != "198.18.0.10:68" {
		t.Fatalf("got %v to %s", resp, to)
	}
	if len(s.Leases()) != 0 {
		t.Fatal("an INFORM made a lease")
	}
}

func TestMalformedPacketsGetSilence(t *testing.T) {
	s, logs := newTestServer(t, Config{}, testTable())
	good := packet(t, dhcpv4.MessageTypeDiscover, macA, relayed("sw1/port7", "")).ToBytes()
	opts := 240 // options start after the magic cookie
	cut := func(n int) []byte { return append([]byte(nil), good[:n]...) }
	lie := func(code byte, length byte) []byte {
		b := cut(len(good))
		for i := opts; i < len(b)-1; {
			if b[i] == code {
				b[i+1] = length
				return b
			}
			if b[i] == 0 || b[i] == 255 {
				i++
				continue
			}
			i += 2 + int(b[i+1])
		}
		t.Fatalf("option %d not in the packet", code)
		return nil
	}
	rai := func() []byte { // option 82 whose circuit-id claims more than the option holds
		b := cut(len(good))
		i := bytes.Index(b, []byte{82, byte(2 + len("sw1/port7")), 1, byte(len("sw1/port7"))})
		if i < 0 {
			t.Fatal("option 82 not found")
		}
		b[i+3] = 200
		return b
	}
	reply := func() []byte { b := cut(len(good)); b[0] = 2; return b }
	longHW := func() []byte { b := cut(len(good)); b[2] = 16; return b }
	cases := map[string][]byte{
		"empty":                      nil,
		"header only":                cut(100),
		"no magic cookie":            cut(236),
		"option length past end":     lie(53, 250),
		"option 82 lying sub-option": rai(),
		"a BOOTREPLY":                reply(),
		"hardware length 16":         longHW(),
		"no end option":              cut(len(good) - 1)[:opts+3],
	}
	for name, pkt := range cases {
		if out, _, ok := s.handle(pkt, fromRelay, ServerPort); ok {
			t.Errorf("%s: answered %d bytes", name, len(out))
		}
	}
	if strings.Count(logs.String(), "level=DEBUG") < len(cases) {
		t.Errorf("not every silence was logged:\n%s", logs)
	}
	if _, _, ok := s.handle(good, fromRelay, ServerPort); !ok {
		t.Fatal("the good packet got no answer")
	}
}

// BenchmarkHandleDORA is the CPU cost of one DISCOVER and one REQUEST (the handler only: no
// sockets), the server side of one perfdhcp 4-way exchange.
func BenchmarkHandleDORA(b *testing.B) {
	s, _ := newTestServer(b, Config{}, testTable())
	s.log = slog.New(slog.DiscardHandler)
	disc := packet(b, dhcpv4.MessageTypeDiscover, macA, dhcpv4.WithRelay(relayAddr.AsSlice())).ToBytes()
	req := packet(b, dhcpv4.MessageTypeRequest, macA, dhcpv4.WithRelay(relayAddr.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("198.18.0.10")))).ToBytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.handle(disc, fromRelay, ServerPort); !ok {
			b.Fatal("no offer")
		}
		if _, _, ok := s.handle(req, fromRelay, ServerPort); !ok {
			b.Fatal("no ack")
		}
	}
}

func TestNAKThroughARelayAsksForBroadcast(t *testing.T) {
	s, _ := newTestServer(t, Config{}, testTable())
	m := packet(t, dhcpv4.MessageTypeRequest, macA, dhcpv4.WithRelay(relayAddr.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("198.18.0.99"))))
	resp, to := exchange(t, s, m, fromRelay, ServerPort)
	// RFC 2131 4.3.2: the relay must broadcast a NAK, the client may have no usable address.
	if resp == nil || resp.MessageType() != dhcpv4.MessageTypeNak || !resp.IsBroadcast() || to != fromRelay {
		t.Fatalf("got %v to %s", resp, to)
	}
}
