#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Several vCPUs, one remote function: a guest with VRC_SMP vCPUs (default 4)
# runs vrc-stress (tools/) against a vrc-dma-bench hosted by a vrc-endpoint
# in another network namespace, over veth and libpcap. Every vCPU writes
# and reads back scratch registers of its own and reads the function's
# config space, all at once, while the device's DMA engine fills and reads
# guest pages. Passes when no write was lost, no read was wrong, every DMA
# run checked out, and QEMU refused no access as re-entrant. Needs root:
# fails, never skips.
# Usage: test-smp-stress.sh [ITERATIONS]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=$top/build/qemu-system-x86_64
iterations=${1:-300}
smp=${VRC_SMP:-4}
work=$(mktemp -d)
ep_pid=
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    [ -n "$ep_pid" ] && kill "$ep_pid" 2>/dev/null
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vrc_netns_probe || { echo "test-smp-stress: cannot create network namespaces: run as root" >&2; exit 1; }
vrc_netns_up "vrcst$$"

ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,ifname="$EP_IF" -nodefaults \
    -display none -monitor none -device vrc-dma-bench \
    > "$work/endpoint.log" 2>&1 &
ep_pid=$!
for _ in $(seq 50); do
    ip netns exec "$EP_NS" ss -0 -p 2>/dev/null | grep -q "pid=$ep_pid" && break
    sleep 0.1
done

guest_cmd="
set -e
echo \"VRC-CPUS \$(grep -c ^processor /proc/cpuinfo)\"
vrc-stress --threads=$smp --iterations=$iterations > /tmp/out || rc=\$?
rc=\${rc:-0}
sed 's/^/VRC-STRESS /' /tmp/out
exit \$rc
"
set +e
VRC_SMP=$smp VRC_NETNS=$VM_NS VRC_GUEST_TIMEOUT=${VRC_GUEST_TIMEOUT:-240} \
    bash "$top/scripts/guest-run.sh" "$guest_cmd" \
    -device vrc,id=vrc0,ifname="$VM_IF",peer="$EP_MAC",chassis=1 ${VRC_VM_ARGS:-} \
    > "$work/guest.log" 2>&1
rc=$?
set -e
kill "$ep_pid" 2>/dev/null; wait "$ep_pid" 2>/dev/null || true
ep_pid=

tr -d '\r' < "$work/guest.log" > "$work/guest.txt"
field() { sed -n "s/.*$1 //p" "$work/guest.txt" | tail -1; }
cpus=$(field VRC-CPUS)
result=$(field VRC-STRESS)
echo "guest vCPUs: ${cpus:-?}"
echo "vrc-stress:  ${result:-<none>}"
if [ $rc -ne 0 ] || [ "$cpus" != "$smp" ] || ! grep -q '"errors":0' <<<"$result"; then
    echo "test-smp-stress: FAILED (guest rc $rc); guest console follows" >&2
    grep -a "vrc-stress: " "$work/guest.txt" >&2 || true
    tail -n 40 "$work/guest.txt" >&2
    cat "$work/endpoint.log" >&2
    exit 1
fi
if grep -q "re-entrant" "$work/guest.txt" "$work/endpoint.log"; then
    echo "test-smp-stress: FAILED: QEMU refused an access as re-entrant:" >&2
    grep "re-entrant" "$work/guest.txt" "$work/endpoint.log" >&2
    exit 1
fi
echo "test-smp-stress: OK"
