#!/usr/bin/env bash
# Installs the Debian tools the tests use as real peers (GNU tar, zstd, attr/libcap tools),
# when they are missing and this machine can install them; otherwise says what to install.
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
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing tools; install the Debian packages: ${need[*]}" >&2
  exit 1
fi
