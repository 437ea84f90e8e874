#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fetch the pinned QEMU source tarball through apt and verify it.
# Usage: fetch-qemu.sh DOWNLOAD_DIR   (prints the tarball path)
set -euo pipefail

QEMU_DEB_VERSION='1:10.0.2+ds-2+deb13u1~bpo12+1'
QEMU_TARBALL='qemu_10.0.2+ds.orig.tar.xz'
QEMU_SHA256='0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1'

dir=${1:?usage: fetch-qemu.sh DOWNLOAD_DIR}
mkdir -p "$dir"
tarball="$dir/$QEMU_TARBALL"

verify() { echo "$QEMU_SHA256  $1" | sha256sum --check --status; }

if [ -f "$tarball" ] && verify "$tarball"; then
    echo "$tarball"
    exit 0
fi
rm -f "$tarball"
# apt exits non-zero here because the .dsc of this version is not served;
# the orig tarball is what we need, so judge by the file, not by apt.
(cd "$dir" && apt-get source --download-only "qemu=$QEMU_DEB_VERSION" >&2) || true
if [ ! -f "$tarball" ]; then
    echo "fetch-qemu: $QEMU_TARBALL was not downloaded (is deb-src for bookworm-backports configured? run scripts/install-deps.sh)" >&2
    exit 1
fi
if ! verify "$tarball"; then
    echo "fetch-qemu: sha256 mismatch for $tarball; expected $QEMU_SHA256" >&2
    rm -f "$tarball"
    exit 1
fi
echo "$tarball"
