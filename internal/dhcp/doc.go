// Package dhcp is the install server's DHCPv4 service: static leases for the nodes of one site,
// from a table the install server builds out of the resolved model (Table), answered directly,
// through relays (giaddr) and by switch port (option 82), or as a proxyDHCP server beside a
// site's own DHCP server (boot options only, on ports 67 and 4011). The client's architecture
// (option 93), an iPXE user class and a UEFI HTTP boot vendor class choose the boot file or URL.
//
// It owns the DHCP sockets, the lease file (leases and the MACs learned on switch ports, kept
// across restarts) and the decision, per packet, to answer or to stay silent: a packet from a
// MAC or a switch port the table does not name, and any packet it cannot parse, gets no answer
// and a debug log line. It never allocates an address from a pool, never reads the Kubernetes
// API and never writes status: what it learns (a MAC seen on a switch port, a lease granted) it
// reports to an Observer, and the install server decides what to record.
package dhcp
