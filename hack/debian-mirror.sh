#!/usr/bin/env bash
# A local Debian mirror for the tests that run mmdebstrap (a FlashArchive's debian base) and may
# not reach deb.debian.org: bookworm's main for amd64 with just the packages of mmdebstrap's
# minbase variant, the default of a debian base.
#
# It is a part of the real archive, not a repository of its own: Debian's InRelease as the
# mirror signed it, the Packages index it names (uncompressed: its hash is in the InRelease, and
# apt takes the uncompressed file when the compressed ones are not there), and the .debs
# mmdebstrap downloaded, at the pool paths that index gives. apt checks the signature with the
# host's debian-archive-keyring as it does against deb.debian.org, so a test needs no
# [trusted=yes], which a FlashArchive's mirror cannot carry anyway.
#
# Built under DEST (default bin/) as debian-mirror-KEY/, keyed by a hash of this script and
# MIRROR (not by the mirror's state: the directory is a snapshot, rebuilt only when the recipe
# changes or the directory is removed); DEST/debian-mirror always links to the current one.
#
# Usage: hack/debian-mirror.sh [DEST]   prints the mirror's directory on stdout
#   env MIRROR (default http://deb.debian.org/debian), MMDEBSTRAP_MODE (default auto)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mkdir -p "${1:-bin}" && cd "${1:-bin}" && pwd)
suite=bookworm
arch=amd64
mirror=${MIRROR:-http://deb.debian.org/debian}

key=$( { cat "$0"; echo "$mirror"; } | sha256sum | cut -c1-16)
out="$dest/debian-mirror-$key"
if [ ! -s "$out/dists/$suite/InRelease" ]; then
  command -v mmdebstrap >/dev/null || hack/debian-deps.sh
  echo "building the local Debian mirror ($suite minbase, recipe $key) into $out" >&2
  tmp="$out.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/got"
  start=$(date +%s)
  # The base itself is thrown away (format null); what is kept is what apt fetched for it,
  # taken out before mmdebstrap's cleanup removes it.
  mmdebstrap --mode="${MMDEBSTRAP_MODE:-auto}" --variant=minbase --architectures=$arch --format=null \
    --skip=essential/unlink \
    --customize-hook="sync-out /var/cache/apt/archives $tmp/got/debs" \
    --customize-hook="sync-out /var/lib/apt/lists $tmp/got/lists" \
    "$suite" /dev/null "deb $mirror $suite main" >&2
  dists="$tmp/dists/$suite"
  mkdir -p "$dists/main/binary-$arch"
  cp "$tmp"/got/lists/*_dists_${suite}_InRelease "$dists/InRelease"
  cp "$tmp"/got/lists/*_dists_${suite}_main_binary-${arch}_Packages "$dists/main/binary-$arch/Packages"
  # Each .deb goes where the index says (apt names its cache by package, version and
  # architecture, the pool by source and without the epoch).
  awk '/^Package: /{p=$2} /^Version: /{v=$2} /^Architecture: /{a=$2} /^Filename: /{f=$2}
       /^$/{if (p != "") print p " " v " " a " " f; p=""}' "$dists/main/binary-$arch/Packages" >"$tmp/got/where"
  n=0
  for deb in "$tmp"/got/debs/*.deb; do
    id=$(dpkg-deb --show --showformat='${Package} ${Version} ${Architecture}' "$deb")
    path=$(awk -v id="$id" '$1 " " $2 " " $3 == id {print $4; exit}' "$tmp/got/where")
    if [ -z "$path" ]; then
      echo "$deb ($id) is not in the index of $mirror $suite" >&2
      exit 1
    fi
    mkdir -p "$tmp/$(dirname "$path")"
    mv "$deb" "$tmp/$path"
    n=$((n + 1))
  done
  rm -rf "$tmp/got"
  mv "$tmp" "$out"
  trap - EXIT
  echo "built $out: $n packages, $(du -sm "$out" | cut -f1) MB in $(( $(date +%s) - start )) s" >&2
fi
ln -sfn "$(basename "$out")" "$dest/debian-mirror"
echo "$out"
