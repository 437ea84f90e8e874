#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The '+ds' QEMU source ships no firmware blobs; Debian's seabios and
# qemu-system-data packages do. Link them into the build tree's qemu-bundle
# (where a QEMU run from its build directory looks first) so that
# build/qemu-system-x86_64 works without -L.
# Usage: link-firmware.sh QEMU_BUILD_DIR
set -euo pipefail

bundle=${1:?usage: link-firmware.sh QEMU_BUILD_DIR}/qemu-bundle/usr/share
mkdir -p "$bundle/qemu" "$bundle/seabios"
for f in /usr/share/seabios/*; do
    ln -sfn "$f" "$bundle/seabios/$(basename "$f")"
done
for f in /usr/share/qemu/*.bin /usr/share/qemu/*.rom /usr/share/qemu/*.img; do
    [ -e "$f" ] || continue
    t="$bundle/qemu/$(basename "$f")"
    [ -e "$t" ] && [ ! -L "$t" ] && continue
    ln -sfn "$f" "$t"
done
