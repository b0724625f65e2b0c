#!/usr/bin/env bash
# The small bootable Debian base the tests, the agent and the demo use: a minimal bookworm with
# systemd, the distribution kernel (linux-image-amd64, whose dependencies bring initramfs-tools),
# GRUB for BIOS (grub-pc-bin) and UEFI (grub-efi-amd64-bin), so that the agent can install a
# boot loader on a node's disk from the archive itself, and efibootmgr, with which the agent
# writes a UEFI node's NVRAM boot entry at install and the resident agent sets the next boot to
# the network for a reinstall, and ipxe, whose /boot/ipxe.lkrn the agent gives a BIOS node's GRUB
# as a one-shot entry: the resident agent of a BIOS node told to reinstall boots it once (GRUB's
# next_entry), and iPXE asks the install server, with no BMC and the disk first in the boot order.
#
# Built with mmdebstrap into a tar under DEST (default bin/), keyed by a hash of this script: the
# tar is rebuilt only when the recipe changes, and DEST/debian-base.tar always links to the tar of
# the current recipe. SOURCE_DATE_EPOCH is fixed here, so two builds against the same mirror
# state give the same bytes. The mirror is the machine's apt sources unless MIRROR is set.
#
# Usage: hack/debian-base.sh [DEST]   prints the tar's path on stdout
#   env MMDEBSTRAP_MODE (default auto: root when run as root, else unshare), MIRROR
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mkdir -p "${1:-bin}" && cd "${1:-bin}" && pwd)
export SOURCE_DATE_EPOCH=1700000000
suite=bookworm
packages=systemd-sysv,udev,kmod,linux-image-amd64,initramfs-tools,grub-pc-bin,grub-efi-amd64-bin,ifupdown,iproute2,e2fsprogs,efibootmgr,ipxe

# The key covers the recipe and the mirror it names, not the mirror's state: a moved mirror needs
# a new key (or removing the tar) to be picked up.
key=$( { cat "$0"; echo "${MIRROR:-}"; } | sha256sum | cut -c1-16)
out="$dest/debian-base-$key.tar"
if [ ! -s "$out" ]; then
  command -v mmdebstrap >/dev/null || hack/debian-deps.sh
  echo "building the Debian base ($suite, recipe $key) into $out; about 2 minutes on 2 cores" >&2
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  start=$(date +%s)
  # /etc/machine-id is emptied so that each installed node makes its own on first boot (it would
  # otherwise be one more file that differs between builds); the hostname is the node's business.
  mmdebstrap --mode="${MMDEBSTRAP_MODE:-auto}" --variant=minbase --format=tar \
    --include="$packages" \
    --customize-hook='echo -n >"$1/etc/machine-id"; rm -f "$1/etc/hostname"' \
    "$suite" "$tmp" ${MIRROR:+"$MIRROR"} >&2
  mv "$tmp" "$out"
  trap - EXIT
  echo "built $out: $(( $(stat -c %s "$out") / 1000000 )) MB in $(( $(date +%s) - start )) s" >&2
fi
ln -sfn "$(basename "$out")" "$dest/debian-base.tar"
echo "$out"
