#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# configd with real VMs and real endpoints on one Ethernet segment (a
# bridge): two vrc-endpoint QEMUs hosting an e1000e each, two guests whose
# vrc slots configd fills (-device vrc,configd=...), configd itself.  The
# guests run an agent that configures every NIC that appears and moves a
# file through it again and again, printing each transfer's sha256.
#  - both VMs ask for one endpoint at once: exactly one gets it;
#  - attach, use, kill -9 configd during the transfers and start it again:
#    the assignment is intact and the transfers never broke;
#  - move the NIC from VM 1 to VM 2 without restarting either;
#  - the old owner trying its old endpoint is refused by the endpoint,
#    counted;
#  - two functions in one VM;
#  - an endpoint killed with -9 during the transfers and started again:
#    configd assigns it again and the guest gets its NIC back by itself.
# TAP; needs root (network namespaces): fails, never skips.
. "$(dirname "$0")/lib.sh"
qemu=$top/build/qemu-system-x86_64
qmp="python3 $top/scripts/qmp.py"

. "$top/scripts/segment.sh"
vrc_netns_probe || bail "network namespaces cannot be made here"
for f in "$CONFIGD" "$VRCCTL" "$qemu"; do
    [ -x "$f" ] || bail "$f is not built"
done
tmp=$(mktemp -d /tmp/vrc-configd-test.XXXXXX)
SOCK=$tmp/configd.sock
DB=$tmp/configd.db
trap cd_cleanup EXIT
# One bridge; the VM host has an interface per VM and one for configd, the
# endpoint host one per endpoint.
seg_up "vrcvm$$" "vm1 vm2 cd" "ep1 ep2" || bail "cannot create the namespaces"
EP1=$(seg_mac ep1 "$EP_NS") EP2=$(seg_mac ep2 "$EP_NS")

head -c $((2 * 1024 * 1024)) /dev/urandom > "$tmp/file"
want=$(sha256sum "$tmp/file" | cut -d' ' -f1)
pids+=("$(seg_file_server "$tmp/file")")

# endpoint K: e1000e with MAC ...:0K and its own user network 10.0.K.0/24.
start_ep() {
    seg_endpoint "$1" "$tmp" ,disc-interval=500
    eval "EP${1}_PID=$SEG_PID"
    pids+=("$SEG_PID")
}
start_configd() {
    ip netns exec "$VM_NS" "$CONFIGD" --insecure -i cd --socket "$SOCK" --db "$DB" \
        --solicit-interval 2 >> "$tmp/configd.log" 2>&1 &
    CONFIGD_PID=$!
    pids+=("$CONFIGD_PID")
    wait_for 10 vrcctl status >/dev/null 2>&1 || bail "configd did not start"
}

start_vm() {  # NAME SLOTS: its slots filled by configd
    seg_vm "$1" "$2" "$tmp" "$SOCK"
    pids+=("$SEG_PID")
}
# Lines of VM $1's console matching $2 (carriage returns dropped).
console() { tr -d '\r' < "$tmp/$1.log" | grep -a -- "$2"; }
count() { console "$1" "$2" | wc -l; }
intact() { count "$1" "VRC-XFER $2 $want"; }
broken() { console "$1" "VRC-XFER" | grep -vc " $want\$"; }
# until VM $1 has moved the file intact through endpoint $2 more than $3 times
xfers_above() { [ "$(intact "$1" "$2")" -gt "$3" ]; }

start_configd
start_ep 1
start_ep 2
check "configd discovers both endpoints" wait_for 20 count_is up 2
start_vm vm1 2
start_vm vm2 1
check "both VMs register, with their slots" wait_for 60 bash -c \
    "\"$VRCCTL\" --socket $SOCK vms --json | jq -e '[.vms[] | select(.state == \"connected\")] | length == 2' >/dev/null"
check "both guests are up" wait_for 200 bash -c "tr -d '\r' < $tmp/vm1.log | grep -q VRC-AGENT && tr -d '\r' < $tmp/vm2.log | grep -q VRC-AGENT"
check "...vm1 with 2 slots" [ "$(vrcctl vms --json | jq -r '.vms[] | select(.name == "vm1") | .slots')" = 2 ]

# Both VMs ask for endpoint 1 at once.
vrcctl attach "$EP1" vm1 > "$tmp/a1.out" 2>&1 & p1=$!
vrcctl attach "$EP1" vm2 > "$tmp/a2.out" 2>&1 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "one endpoint asked for by two VMs at once: one wins ($r1, $r2)" \
    [ $((r1 + r2)) -eq 1 -a $((r1 * r2)) -eq 0 ]
if [ $r1 -eq 0 ]; then winner=vm1 loser=$tmp/a2.out; else winner=vm2 loser=$tmp/a1.out; fi
check "...the other is told who has it" grep -q "owned by $winner" "$loser"
check "...and the winner's guest gets the NIC and moves the file" \
    wait_for 200 xfers_above $winner ep1 0
if [ $winner = vm2 ]; then
    quiet vrcctl detach "$EP1"
    wait_for 60 bash -c "[ \$(tr -d '\r' < $tmp/vm2.log | grep -c 'VRC-NIC-GONE ep1') -ge 1 ]"
    quiet vrcctl attach "$EP1" vm1
fi
check "vm1 holds endpoint 1 and moves the file through it" wait_for 200 xfers_above vm1 ep1 0

# configd killed with -9 in the middle of the transfers.
before=$(intact vm1 ep1)
kill -9 "$CONFIGD_PID"; wait "$CONFIGD_PID" 2>/dev/null
sleep 2
start_configd
check "after configd's kill -9, the assignment is intact" wait_for 20 field_is "$EP1" \
    '"\(.assignment.vm) \(.assignment.state)"' "vm1 active"
check "...vm1 registers again by itself" wait_for 30 vm_state_is vm1 connected
check "...and the transfers went on intact" wait_for 120 xfers_above vm1 ep1 $((before + 1))

# Move the NIC to vm2, neither restarted.
quiet vrcctl detach "$EP1"
check "detached: vm1's guest sees the NIC go" \
    wait_for 60 bash -c "tr -d '\r' < $tmp/vm1.log | grep -q 'VRC-NIC-GONE ep1'"
before2=$(intact vm2 ep1)
check "attach to vm2 exits 0" quiet vrcctl attach "$EP1" vm2
check "...vm2's guest moves the file through it" wait_for 200 xfers_above vm2 ep1 "$before2"

# vm1, the old owner, tries its old endpoint by hand while vm2 holds it.
drops0=$($qmp "$tmp/ep1.qmp" query-vrc | jq '.[0].drops')
$qmp "$tmp/vm1.qmp" vrc-attach "{\"id\": \"s0\", \"peer\": \"$EP1\"}" >/dev/null
sleep 3
check "the old owner cannot take the endpoint back: its slot never fills" \
    [ "$($qmp "$tmp/vm1.qmp" query-vrc | jq -r '.[] | select(.id == "s0") | .slot.state')" = connecting ]
check "...its HELLOs are dropped there, counted" \
    [ "$($qmp "$tmp/ep1.qmp" query-vrc | jq '.[0].drops')" -gt "$drops0" ]
check "...and vm2 kept the NIC" wait_for 120 xfers_above vm2 ep1 $(($(intact vm2 ep1)))
$qmp "$tmp/vm1.qmp" vrc-detach '{"id": "s0"}' >/dev/null

# Two functions in one VM.
quiet vrcctl detach "$EP1"
wait_for 60 bash -c "[ \$(tr -d '\r' < $tmp/vm2.log | grep -c 'VRC-NIC-GONE ep1') -ge 1 ]"
# Released, endpoint 1 is free, and serves nobody until configd says whom:
# the old owner's HELLOs are refused by the ownership rule, counted.
$qmp "$tmp/vm1.qmp" vrc-attach "{\"id\": \"s0\", \"peer\": \"$EP1\"}" >/dev/null
sleep 3
refusals=$($qmp "$tmp/ep1.qmp" query-vrc | jq '.[0]["owner-refusals"]')
check "a released endpoint refuses its old owner's HELLOs, counted ($refusals)" \
    [ "${refusals:-0}" -gt 0 ]
check "...the old owner's slot never fills" [ "$($qmp "$tmp/vm1.qmp" query-vrc |
    jq -r '.[] | select(.id == "s0") | .slot.state')" = connecting ]
$qmp "$tmp/vm1.qmp" vrc-detach '{"id": "s0"}' >/dev/null
b1=$(intact vm1 ep1)
check "attach endpoint 1 to vm1" quiet vrcctl attach "$EP1" vm1
check "attach endpoint 2 to vm1 as well" quiet vrcctl attach "$EP2" vm1
check "vm1 moves the file through both" wait_for 200 bash -c \
    "[ \$(tr -d '\r' < $tmp/vm1.log | grep -c 'VRC-XFER ep1 $want') -gt $b1 ] &&
     [ \$(tr -d '\r' < $tmp/vm1.log | grep -c 'VRC-XFER ep2 $want') -gt 0 ]"

# Endpoint 2 killed with -9 during the transfers, started again.
kill -9 "$EP2_PID"; wait "$EP2_PID" 2>/dev/null
gone_before=$(count vm1 "VRC-NIC-GONE ep2")
check "endpoint 2 killed: vm1's guest sees the NIC go (surprise removal)" \
    wait_for 60 bash -c "[ \$(tr -d '\r' < $tmp/vm1.log | grep -c 'VRC-NIC-GONE ep2') -gt $gone_before ]"
b2=$(intact vm1 ep2)
t0=$(date +%s.%N)
start_ep 2
check "endpoint 2 back: configd assigns it again and vm1 uses it" \
    wait_for 200 xfers_above vm1 ep2 "$b2"
t1=$(date +%s.%N)
echo "# recovery with configd: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s from the endpoint's restart to an intact transfer"

check "no transfer was ever corrupted (vm1: $(broken vm1), vm2: $(broken vm2) broken)" \
    [ "$(broken vm1)" = 0 -a "$(broken vm2)" = 0 ]
check "no guest kernel complained" bash -c \
    "! grep -qi 'call trace\|kernel panic\|soft lockup\|rcu.*stall' $tmp/vm1.log $tmp/vm2.log"
for p in vm1 vm2; do
    echo "# $p: $(intact $p ep1) transfers through endpoint 1, $(intact $p ep2) through endpoint 2, all intact"
done
cd_done
