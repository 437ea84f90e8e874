#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Slots at run time, with a running guest (native PCIe hot-plug, pciehp):
#  1. a remote e1000e present at boot (static peer) moves a file;
#  2. its endpoint is killed with -9 during a transfer and started again:
#     the guest sees a surprise removal, the function comes back by itself,
#     and a second transfer is intact (the time from the endpoint's return
#     to the guest's first good ping is printed: "recovery");
#  3. vrc-detach: the guest is asked and releases the NIC; vrc-attach: it
#     comes back and moves the file again;
#  4. a second, empty slot is filled (HMP vrc_attach) with a function the
#     guest has no driver for (vrc-dma-bench): it enumerates, nothing else;
#  5. vrc-detach surprise=true: the NIC goes at once and the guest goes on.
# QMP errors for bad requests are checked on the way.  Needs root: fails,
# never skips.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=$top/build/qemu-system-x86_64
qmp="python3 $top/scripts/qmp.py"
work=$(mktemp -d)
ep_pid= ep2_pid= srv_pid= vm_pid=
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
# shellcheck source=../../scripts/segment.sh
. "$top/scripts/segment.sh"
cleanup() {
    local p
    for p in $ep_pid $ep2_pid $srv_pid $vm_pid; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "test-hotplug: FAILED: $*" >&2
    [ -z "$vm_pid" ] || $qmp "$work/vm.qmp" query-vrc >&2 || true
    tr -d '\r' < "$work/guest.log" | tail -n 40 >&2 || true
    tail -n 5 "$work"/endpoint*.log >&2 || true
    exit 1
}

vrc_netns_probe || { echo "test-hotplug: cannot create network namespaces: run as root" >&2; exit 1; }
vrc_netns_up "vrchp$$"
# A second wire for the second slot.
ip link add vrc-vm2 netns "$VM_NS" type veth peer name vrc-ep2 netns "$EP_NS"
ip -n "$VM_NS" link set vrc-vm2 up
ip -n "$EP_NS" link set vrc-ep2 up
ep2_mac=$(ip netns exec "$EP_NS" cat /sys/class/net/vrc-ep2/address)

head -c $((2 * 1024 * 1024)) /dev/urandom > "$work/file"
want=$(sha256sum "$work/file" | cut -d' ' -f1)
# Serves the file to every connection, until killed.
srv_pid=$(seg_file_server "$work/file")

start_endpoint() {
    ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,ifname="$EP_IF" -nodefaults \
        -display none -monitor none -device e1000e,netdev=n0,romfile= -netdev user,id=n0 \
        >> "$work/endpoint.log" 2>&1 &
    ep_pid=$!
    for _ in $(seq 50); do
        ip netns exec "$EP_NS" ss -0 -p 2>/dev/null | grep -q "pid=$ep_pid" && return 0
        sleep 0.1
    done
    fail "the endpoint did not open its interface"
}
start_endpoint
ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,ifname=vrc-ep2 -nodefaults \
    -display none -monitor none -device vrc-dma-bench > "$work/endpoint2.log" 2>&1 &
ep2_pid=$!

guest_cmd='
nic() { for d in /sys/bus/pci/devices/*; do [ -d $d/net ] && ls $d/net && return 0; done; return 1; }
idx() { n=$(nic) && cat /sys/class/net/$n/ifindex; }
why() { echo "VRC-DEBUG $1: $(ls /sys/class/net | tr "\n" " ")"; dmesg | tail -15; sleep 20; return 1; }
up() { i=0; while ! n=$(nic); do sleep 0.2; i=$((i+1)); [ $i -lt 400 ] || why nic; done
 ip link set $n up; ip addr add 10.0.2.15/24 dev $n 2>/dev/null; was=$(idx)
 i=0; until ping -c1 -W1 10.0.2.2 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 90 ] || why ping; done; }
gone() { i=0; while [ "$(idx)" = "$was" ]; do sleep 0.1; i=$((i+1)); [ $i -lt 900 ] || return 1; done; }
fetch() { nc 10.0.2.2 5555 > /tmp/f; echo "VRC-SHA256 $1 $(sha256sum /tmp/f | cut -d" " -f1)"; }
step() { echo "VRC-STEP $1"; }
set -e
up; step up; fetch 1
nc 10.0.2.2 5555 > /tmp/g & step kill
gone; step gone; dmesg | tail -12; up; step back; fetch 2
step detach; gone; step detached
up; step attached; fetch 3
step nodriver; i=0
until grep -qx 0x11f0 /sys/bus/pci/devices/*/device 2>/dev/null; do sleep 0.2; i=$((i+1)); [ $i -lt 300 ]; done
for d in /sys/bus/pci/devices/*; do grep -qx 0x11f0 $d/device && echo "VRC-NODRIVER $(basename $d) driver=$(basename $(readlink $d/driver) 2>/dev/null)"; done
step surprise; gone; step done
'
VRC_NETNS=$VM_NS VRC_GUEST_TIMEOUT=${VRC_GUEST_TIMEOUT:-400} \
    bash "$top/scripts/guest-run.sh" "$guest_cmd" \
    -qmp unix:"$work/vm.qmp",server=on,wait=off \
    -device vrc,id=vrc0,ifname="$VM_IF",peer="$EP_MAC",chassis=1 \
    -device vrc,id=vrc1,ifname=vrc-vm2,chassis=2 ${VRC_VM_ARGS:-} \
    > "$work/guest.log" 2>&1 &
vm_pid=$!

# Wait for a step marker on the guest's console (bounded).
wait_step() {
    for _ in $(seq 3000); do
        tr -d '\r' < "$work/guest.log" | grep -q "VRC-STEP $1\$" && return 0
        tr -d '\r' < "$work/guest.log" | grep -q "VRC-DEBUG" && fail "the guest gave up before step '$1'"
        kill -0 "$vm_pid" 2>/dev/null || fail "the guest ended before step '$1'"
        sleep 0.1
    done
    fail "no step '$1' within 300 s"
}
slot() {
    $qmp "$work/vm.qmp" query-vrc |
        python3 -c 'import json,sys; i=[x for x in json.load(sys.stdin) if x["id"]==sys.argv[1]][0]; print(json.dumps(i["slot"]))' "$1"
}
slot_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }
expect_error() {
    if out=$($qmp "$work/vm.qmp" "$@" 2>&1); then
        fail "QMP $* was accepted: $out"
    fi
    echo "  refused as it should be: $1 ${2:-}: ${out#qmp: }"
}

wait_step up
s=$(slot vrc0); [ "$(slot_field "$s" state)" = present ] || fail "vrc0 not present at boot: $s"
s=$(slot vrc1); [ "$(slot_field "$s" state)" = empty ] || fail "vrc1 not empty at boot: $s"
expect_error vrc-detach '{"id": "vrc1"}'
expect_error vrc-attach '{"id": "vrc0"}'
expect_error vrc-attach '{"id": "vrc1", "peer": "01:00:00:00:00:01"}'
expect_error vrc-attach '{"id": "nosuch"}'
expect_error vrc-attach '{"id": "vrc1"}'

wait_step kill
sleep 0.5
kill -9 "$ep_pid"; wait "$ep_pid" 2>/dev/null || true
sleep 1
t0=$(date +%s.%N)
start_endpoint
wait_step back
t1=$(date +%s.%N)
recovery=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
s=$(slot vrc0)
echo "  after the endpoint's restart: $s"
[ "$(slot_field "$s" state)" = present ] || fail "vrc0 not present again: $s"
[ "$(slot_field "$s" surprise-removals)" -ge 1 ] || fail "no surprise removal counted: $s"

wait_step detach
$qmp "$work/vm.qmp" vrc-detach '{"id": "vrc0"}' > /dev/null
wait_step detached
sleep 0.5
s=$(slot vrc0)
[ "$(slot_field "$s" state)" = empty ] || fail "vrc0 not empty after the guest released it: $s"
[ "$(slot_field "$s" hot-removes)" = 1 ] || fail "the managed removal was not counted: $s"
$qmp "$work/vm.qmp" vrc-attach '{"id": "vrc0"}' > /dev/null
wait_step attached

wait_step nodriver
$qmp "$work/vm.qmp" human-monitor-command "{\"command-line\": \"vrc_attach vrc1 $ep2_mac\"}" > /dev/null

wait_step surprise
$qmp "$work/vm.qmp" vrc-detach '{"id": "vrc0", "surprise": true}' > /dev/null
wait_step done
wait "$vm_pid" && rc=0 || rc=$?
vm_pid=

tr -d '\r' < "$work/guest.log" > "$work/guest.txt"
sums=$(sed -n 's/.*VRC-SHA256 [0-9] //p' "$work/guest.txt")
nodriver=$(sed -n 's/.*VRC-NODRIVER //p' "$work/guest.txt")
echo "  recovery: ${recovery}s from the endpoint's restart to the guest's first good ping"
echo "  transfers: $(wc -l <<<"$sums") ($(grep -cx "$want" <<<"$sums" || true) intact)"
echo "  driverless function: ${nodriver:-<none>}"
[ $rc = 0 ] || fail "guest exit status $rc"
[ "$(grep -cx "$want" <<<"$sums" || true)" = 3 ] || fail "not every transfer was intact"
grep -q "driver=\$" <<<"$nodriver" || fail "the driverless function did not enumerate as such"
if grep -qi "call trace\|kernel panic\|soft lockup\|hung task" "$work/guest.txt"; then
    fail "the guest's kernel complained"
fi
echo "test-hotplug: OK"
