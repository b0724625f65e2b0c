package dhcp

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// fuzzServer serves the test table, with a lease file, so the fuzzer also reaches the paths
// that learn bindings and write them.
func fuzzServer(t testing.TB) *Server {
	s, _ := newTestServer(t, Config{LeaseFile: filepath.Join(t.TempDir(), "leases.json")}, testTable())
	return s
}

// checkAnswer holds for any input: the server answers only nodes of its table, with a packet
// that parses, to the relay, the client or the segment's broadcast.
func checkAnswer(t testing.TB, s *Server, pkt []byte, from netip.AddrPort, port int) {
	out, to, ok := s.handle(pkt, from, port)
	if !ok {
		return
	}
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil {
		t.Fatalf("answered a packet that does not parse (%v)", err)
	}
	resp, err := dhcpv4.FromBytes(out)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if resp.OpCode != dhcpv4.OpcodeBootReply || resp.TransactionID != req.TransactionID || !bytes.Equal(resp.ClientHWAddr, req.ClientHWAddr) {
		t.Fatalf("reply is not for the request: %s", resp.Summary())
	}
	if y := ip4(resp.YourIPAddr); y.IsValid() && !y.IsUnspecified() {
		if n := s.table.Load().byAddr[y]; n == nil {
			t.Fatalf("offered %s, which is no node's", y)
		}
	}
	gi := ip4(req.GatewayIPAddr)
	switch {
	case gi.IsValid() && !gi.IsUnspecified():
		if to != netip.AddrPortFrom(gi, ServerPort) {
			t.Fatalf("relayed request answered to %s", to)
		}
	case to == from, to.Addr() == limitedBroadcast, to.Addr() == ip4(req.ClientIPAddr):
	default:
		t.Fatalf("reply sent to %s", to)
	}
}

func FuzzHandlePacket(f *testing.F) {
	for _, p := range seedPackets(f) {
		f.Add(p, false)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, pkt []byte, pxePort bool) {
		port := ServerPort
		if pxePort {
			port = PXEPort
		}
		checkAnswer(t, s, pkt, fromRelay, port)
	})
}

// TestHandleSurvivesMutatedPackets runs the fuzz target's check over a fixed series of
// mutations of the seed packets (bytes flipped, option lengths changed, packets cut), so that
// every `go test` exercises the hostile-input paths for a moment, not only `make fuzz`.
func TestHandleSurvivesMutatedPackets(t *testing.T) {
	seeds := append(seedPackets(t), corpusPackets(t)...)
	s := fuzzServer(t)
	rng := rand.New(rand.NewPCG(7, 82))
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		p := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(4) {
			switch rng.IntN(4) {
			case 0:
				p[rng.IntN(len(p))] = byte(rng.Uint32())
			case 1: // an option length somewhere in the options area
				if len(p) > 241 {
					p[240+rng.IntN(len(p)-240)] = byte(rng.IntN(256))
				}
			case 2:
				p = p[:rng.IntN(len(p))+1]
			case 3:
				p = append(p, byte(rng.Uint32()), byte(rng.Uint32()))
			}
		}
		port := ServerPort
		if rng.IntN(4) == 0 {
			port = PXEPort
		}
		checkAnswer(t, s, p, fromRelay, port)
	}
	t.Logf("%d mutated packets", n)
}

// corpusPackets reads the checked-in corpus (Go's fuzz file format: a header, then one
// quoted []byte and one bool per file).
func corpusPackets(t testing.TB) [][]byte {
	names, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzHandlePacket", "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("the checked-in fuzz corpus is missing (%v)", err)
	}
	var out [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		lit, ok := strings.CutPrefix(lines[1], "[]byte(")
		if len(lines) < 2 || !ok {
			t.Fatalf("%s: not a FuzzHandlePacket corpus file", n)
		}
		p, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(p) > 0 {
			out = append(out, []byte(p))
		}
	}
	return out
}

// seedPackets covers each message type, each client kind, relayed and direct.
func seedPackets(t testing.TB) [][]byte {
	own := serverAddr.AsSlice()
	mk := func(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) []byte {
		return packet(t, mt, macA, mods...).ToBytes()
	}
	return [][]byte{
		mk(dhcpv4.MessageTypeDiscover),
		mk(dhcpv4.MessageTypeDiscover, dhcpv4.WithUserClass("iPXE", false), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016"))),
		mk(dhcpv4.MessageTypeDiscover, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001"))),
		mk(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(own)), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(testTable().Nodes[0].Address.Addr().AsSlice()))),
		mk(dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(testTable().Nodes[0].Address.Addr().AsSlice())),
		mk(dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(testTable().Nodes[0].Address.Addr().AsSlice())),
		mk(dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(testTable().Nodes[0].Address.Addr().AsSlice())),
		packet(t, dhcpv4.MessageTypeDiscover, macCabled, relayed("sw1/port7", "")).ToBytes(),
		packet(t, dhcpv4.MessageTypeRequest, macCabled, relayed("sw1/port8", "rack1"), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(testTable().Nodes[3].Address.Addr().AsSlice()))).ToBytes(),
		packet(t, dhcpv4.MessageTypeDecline, macB, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(testTable().Nodes[1].Address.Addr().AsSlice()))).ToBytes(),
	}
}
