#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unpack the verified QEMU tarball into SRC and apply qemu-patches/ in series order.
# Usage: prepare-qemu.sh TARBALL SRC
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${1:?usage: prepare-qemu.sh TARBALL SRC}
src=${2:?usage: prepare-qemu.sh TARBALL SRC}

rm -rf "$src.tmp"
mkdir -p "$src.tmp"
tar -xJf "$tarball" -C "$src.tmp" --strip-components=1
while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    echo "applying $p"
    patch -d "$src.tmp" -p1 --forward --quiet < "$top/qemu-patches/$p"
done < "$top/qemu-patches/series"
rm -rf "$src"
mv "$src.tmp" "$src"
