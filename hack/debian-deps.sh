#!/usr/bin/env bash
# Installs the Debian tools the tests use as real peers (GNU tar, zstd, attr/libcap tools, the
# disk tools, iproute2, the DHCP clients, relay and server, and for the boot files the iPXE
# binaries, tftp-hpa, tftpd-hpa, curl and nginx; for the initramfs and the qemu boots the deploy
# kernel, busybox, GNU cpio, qemu with Debian's iPXE ROMs, SeaBIOS and OVMF, and dnsmasq; and
# mmdebstrap for the Debian base), when they are missing and this machine can install them;
# otherwise says what to install.
set -euo pipefail
need=()
command -v zstd >/dev/null || need+=(zstd)
tar --version 2>/dev/null | grep -q 'GNU tar' || need+=(tar)
command -v setfattr >/dev/null || need+=(attr)
command -v setcap >/dev/null || need+=(libcap2-bin)
# The agent's disk tools, and sgdisk and blkid that read its work back.
command -v sgdisk >/dev/null || need+=(gdisk)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v mkfs.vfat >/dev/null || need+=(dosfstools)
command -v ip >/dev/null || need+=(iproute2)
command -v udhcpc >/dev/null || need+=(udhcpc)
command -v dhclient >/dev/null || need+=(isc-dhcp-client)
command -v dhcrelay >/dev/null || need+=(isc-dhcp-relay)
command -v kea-dhcp4 >/dev/null || need+=(kea-dhcp4-server)
command -v perfdhcp >/dev/null || need+=(kea-admin)
[ -e /usr/lib/ipxe/undionly.kpxe ] || need+=(ipxe)
command -v tftp >/dev/null || need+=(tftp-hpa)
command -v atftp >/dev/null || need+=(atftp)
command -v rdisc6 >/dev/null || need+=(ndisc6)
command -v in.tftpd >/dev/null || need+=(tftpd-hpa)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || need+=(nginx)
# A user-space NFS client (nfs-ls, nfs-cat, nfs-cp) for the NFS root tests.
command -v nfs-cat >/dev/null || need+=(libnfs-utils)
lean=()
# The initramfs (internal/initramfs) and the qemu boots (test/e2e, hack/bench-netboot.sh).
# These come without their recommends (qemu's would bring a desktop's GUI libraries).
# dnsmasq-base is the binary without the service, so nothing starts answering DHCP here.
ls /lib/modules/*/modules.dep >/dev/null 2>&1 && ls /boot/vmlinuz-* >/dev/null 2>&1 || lean+=(linux-image-amd64)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx udhcpc || lean+=(busybox-static)
command -v cpio >/dev/null || lean+=(cpio)
command -v qemu-system-x86_64 >/dev/null || lean+=(qemu-system-x86)
[ -e /usr/lib/ipxe/qemu/efi-virtio.rom ] || lean+=(ipxe-qemu)
[ -e /usr/share/seabios/bios-256k.bin ] || lean+=(seabios)
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || lean+=(ovmf)
command -v dnsmasq >/dev/null || lean+=(dnsmasq-base)
# The Debian base (hack/debian-base.sh) is built with mmdebstrap; as root it needs nothing else.
command -v mmdebstrap >/dev/null || lean+=(mmdebstrap)
[ ${#need[@]} -eq 0 ] && [ ${#lean[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${need[*]} ${lean[*]}" >&2
  apt-get update -qq >/dev/null
  # The DHCP packages start their daemons on install; nothing may answer DHCP on this machine's
  # real interfaces, so the install runs with daemon starts denied (unless a policy exists).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  fi
  rc=0
  [ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || rc=$?
  [ ${#lean[@]} -eq 0 ] || [ $rc -ne 0 ] ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null || rc=$?
  [ -z "$policy" ] || rm -f "$policy"
  exit $rc
else
  echo "missing tools; install the Debian packages: ${need[*]} ${lean[*]}" >&2
  exit 1
fi
