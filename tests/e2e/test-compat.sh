#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: one device model hosted by a vrc-endpoint QEMU in one network
# namespace, used by the guest in the other through -device vrc over veth and
# libpcap (scripts/compat.sh MODEL remote: what the guest does with each kind
# of model, and what is checked, is described there). Passes only when the
# result is "works": a broken model, one the endpoint refuses, a sha256 that
# does not match, fail loudly. Needs root for the namespaces: fails, never
# skips.
# Usage: test-compat.sh MODEL
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:?usage: test-compat.sh MODEL}
set +e
out=$(bash "$top/scripts/compat.sh" "$model" remote 2>&1)
rc=$?
set -e
printf '%s\n' "$out"
line=$(grep '^COMPAT ' <<<"$out" | tail -1)
if [ $rc != 0 ] || ! grep -q ' result=works ' <<<"$line "; then
    echo "test-compat: $model FAILED (compat.sh exit $rc): ${line:-no result line}" >&2
    exit 1
fi
echo "test-compat: $model OK"
