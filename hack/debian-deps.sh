#!/usr/bin/env bash
# Installs the Debian tools the tests use as real peers (GNU tar, zstd, attr/libcap tools, and
# for the install server's boot files: iproute2, the iPXE binaries, tftp-hpa, tftpd-hpa, curl, nginx),
# when they are missing and this machine can install them; otherwise says what to install.
set -euo pipefail
need=()
command -v zstd >/dev/null || need+=(zstd)
tar --version 2>/dev/null | grep -q 'GNU tar' || need+=(tar)
command -v setfattr >/dev/null || need+=(attr)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v ip >/dev/null || need+=(iproute2)
[ -e /usr/lib/ipxe/undionly.kpxe ] || need+=(ipxe)
command -v tftp >/dev/null || need+=(tftp-hpa)
command -v in.tftpd >/dev/null || need+=(tftpd-hpa)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || need+=(nginx)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing tools; install the Debian packages: ${need[*]}" >&2
  exit 1
fi
