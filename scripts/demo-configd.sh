#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vrc demo, part 2: configd and vrcctl.  One Ethernet segment (a bridge in a
# network namespace of our own) joins configd, an endpoint hosting an e1000e,
# and two running guests whose vrc slots start empty.  The story: the
# endpoint shows up in `vrcctl list`; it is attached to VM 1, whose guest
# sees a NIC arrive (native PCIe hot-plug) and moves a file through it; it is
# detached (the guest sees it go); it is attached to VM 2, which uses it.
# Everything is keyed with one pre-shared key: configd's DISC frames are
# signed with it and every session frame is sealed.  Fails (non-zero) if
# any step does not happen; leaves no namespace or process behind.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
vrcctl_bin=$top/build/host/configd/vrcctl
work=$(mktemp -d)
pids=()
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
# shellcheck source=segment.sh
. "$top/scripts/segment.sh"
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
vrcctl() { "$vrcctl_bin" --socket "$work/configd.sock" "$@"; }
say() { printf '\n== %s\n' "$*"; }
console() { tr -d '\r' < "$work/$1.log" | grep -a -- "$2" || true; }
# wait_for SECONDS DESCRIPTION CMD...
wait_for() {
    local t=$1 what=$2
    shift 2
    for _ in $(seq $((t * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "demo: FAILED: $what (within ${t}s)" >&2
    for f in "$work"/*.log; do echo "--- $f" >&2; tr -d '\r' < "$f" | tail -n 8 >&2; done
    exit 1
}
has() { [ -n "$(console "$1" "$2")" ]; }

vrc_netns_probe || { echo "demo: cannot create network namespaces: run as root" >&2; exit 1; }
seg_up "vrcdemo$$" "vm1 vm2 cd" "ep1"
head -c 32 /dev/urandom | base64 > "$work/key"
head -c $((4 * 1024 * 1024)) /dev/urandom > "$work/file"
want=$(sha256sum "$work/file" | cut -d' ' -f1)
pids+=("$(seg_file_server "$work/file")")
secret=(-object secret,id=k0,file="$work/key",format=base64)

say "configd on the segment, keyed: DISC frames signed with the pre-shared key"
ip netns exec "$VM_NS" "$top/build/host/configd/configd" --key-file "$work/key" -i cd \
    --socket "$work/configd.sock" --db "$work/configd.db" > "$work/configd.log" 2>&1 &
pids+=($!)
wait_for 10 "configd starts" vrcctl status
seg_endpoint 1 "$work" ",secret=k0" "${secret[@]}"
pids+=("$SEG_PID")
ep=$(seg_mac ep1 "$EP_NS")
wait_for 20 "the endpoint is discovered" bash -c "\"$vrcctl_bin\" --socket $work/configd.sock list --json | grep -q '\"state\" *: *\"up\"'"
vrcctl list

say "two VMs start, each with one empty vrc slot managed by configd"
SEG_VRC_OPTS=,secret=k0
for vm in vm1 vm2; do
    seg_vm $vm 1 "$work" "$work/configd.sock" "${secret[@]}"
    pids+=("$SEG_PID")
done
wait_for 200 "both guests boot" bash -c "tr -d '\r' < $work/vm1.log | grep -q VRC-AGENT && tr -d '\r' < $work/vm2.log | grep -q VRC-AGENT"
vrcctl vms

say "vrcctl attach $ep vm1: the guest of VM 1 gets a NIC, hot-plugged"
vrcctl attach "$ep" vm1
wait_for 120 "VM 1's guest sees the NIC" has vm1 "VRC-NIC-UP ep1"
wait_for 200 "VM 1 moves the file" has vm1 "VRC-XFER ep1 $want"
echo "  VM 1's guest: $(console vm1 'VRC-NIC-UP' | head -1); file moved, sha256 $(console vm1 "VRC-XFER ep1 $want" | head -1 | cut -d' ' -f3 | cut -c1-16)... matches"
vrcctl list

say "vrcctl detach $ep: the endpoint is released, and VM 1's guest sees its NIC go (surprise removal)"
vrcctl detach "$ep"
wait_for 60 "VM 1's guest sees the NIC go" has vm1 "VRC-NIC-GONE ep1"
echo "  VM 1's guest: $(console vm1 'VRC-NIC-GONE' | head -1)"

say "vrcctl attach $ep vm2: now VM 2 uses it, neither VM restarted"
vrcctl attach "$ep" vm2
wait_for 120 "VM 2's guest sees the NIC" has vm2 "VRC-NIC-UP ep1"
wait_for 200 "VM 2 moves the file" has vm2 "VRC-XFER ep1 $want"
echo "  VM 2's guest: $(console vm2 'VRC-NIC-UP' | head -1); file moved, sha256 matches"
vrcctl list
bad=$(console vm1 "VRC-XFER"; console vm2 "VRC-XFER")
if grep -qv " $want\$" <<<"$bad"; then
    echo "demo: FAILED: a transfer was corrupted" >&2
    exit 1
fi
python3 "$top/scripts/qmp.py" "$work/ep1.qmp" human-monitor-command \
    '{"command-line": "info vrc"}' | python3 -c 'import json,sys; print(json.load(sys.stdin))' |
    sed -n 's/^/  endpoint: /p' | head -4
echo
echo "demo: configd story OK ($(console vm1 "VRC-XFER ep1 $want" | wc -l) transfers in VM 1, $(console vm2 "VRC-XFER ep1 $want" | wc -l) in VM 2, all intact)"
