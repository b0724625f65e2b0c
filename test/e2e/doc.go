// Package e2e runs the README's commands as a newcomer would and checks what they show (the
// demo, in make test), and boots qemu guests (TCG, Debian's iPXE ROMs, SeaBIOS and OVMF) over
// a bridge in a network namespace the tests create, against dnsmasq with a static HTTP server
// and against flarecast's own services, with benchmark P7 comparing the two, and boots a diskless
// guest whose root is the install server's NFS export (TestDisklessNFSRoot). The qemu tests run
// only with FLARECAST_E2E=1 (make test-e2e), since each boot takes tens of seconds of CPU under
// TCG; make test compiles them and skips them.
package e2e
