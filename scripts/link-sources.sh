#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Make our sources visible inside the QEMU tree as links (never copies, so an
# edit in the project is an edit QEMU's ninja sees). Cheap; run on every build.
# Usage: link-sources.sh SRC
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: link-sources.sh SRC}

ln -sfn "$top/hw/vrc" "$src/hw/vrc"
ln -sfn "$top/encap" "$src/encap"
for f in "$top"/tests/qtest/*.[ch]; do
    [ -e "$f" ] || continue
    ln -sfn "$f" "$src/tests/qtest/$(basename "$f")"
done
