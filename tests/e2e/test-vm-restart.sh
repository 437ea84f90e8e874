#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A VM that restarts finds its endpoint again, over packet, udp (IPv4) and
# keyed udp (IPv6): the killed VM's session is asked and found gone, a new
# VM gets the function during its own start, and a second VM never takes
# the function from a live one; a keyed VM behind a NAT that moves it to
# another port keeps its session (tests/e2e/vm-restart.py says what each
# step checks).  VMs run under the qtest accelerator: no guest boots.  TAP.
# Needs root for network namespaces: fails, never skips.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=$top/build/qemu-system-x86_64
logs=$(mktemp -d)
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    local rc=$?
    vrc_netns_down
    if [ $rc -ne 0 ]; then
        for f in "$logs"/*.log; do
            echo "# --- $(basename "$f")"
            sed 's/^/# /' "$f" | tail -20
        done
    fi
    rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vrc_netns_probe || { echo "Bail out! cannot create network namespaces: run as root"; exit 1; }
[ -x "$qemu" ] || { echo "Bail out! $qemu is not built"; exit 1; }
vrc_netns_up "vrcvr$$"
# Addresses inside the two namespaces only.
ip -n "$VM_NS" addr add 10.83.0.1/24 dev "$VM_IF"
ip -n "$EP_NS" addr add 10.83.0.2/24 dev "$EP_IF"
ip -n "$VM_NS" addr add fd83::1/64 dev "$VM_IF" nodad
ip -n "$EP_NS" addr add fd83::2/64 dev "$EP_IF" nodad

python3 "$top/tests/e2e/vm-restart.py" --qemu "$qemu" \
    --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" --ep-if "$EP_IF" \
    --ep-mac "$EP_MAC" --ep-v4 10.83.0.2 --ep-v6 fd83::2 --vm-v6 fd83::1 \
    --logdir "$logs"
