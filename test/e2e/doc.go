// Package e2e holds the end-to-end tests that boot qemu guests (TCG, Debian's iPXE ROMs,
// SeaBIOS and OVMF) over a bridge in a network namespace the tests create, against dnsmasq
// with a static HTTP server and against flarecast's own services, and the P7 benchmark that
// compares the two. They run only with FLARECAST_E2E=1 (`make test-e2e`), since each boot
// takes tens of seconds of CPU under TCG; `make test` compiles them and skips.
package e2e
