#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Assignments: attach/detach through configd and the simulated endpoints,
# two concurrent attaches (exactly one wins, the other is told the owner),
# a stale-generation ASSIGN refused and counted by the endpoint, a VM whose
# connection drops shown gone.
. "$(dirname "$0")/lib.sh"
cd_setup vrccd-asg

cd_configd
cd_epsim eps -n 4 --interval 200
EPS=$EPSIM_PID
wait_for 10 count_is up 4 || bail "the endpoints were not discovered"
cd_vm vm1 1 52:54:00:00:00:01 4
VM1=$VM_PID
cd_vm vm2 2 52:54:00:00:00:02 2
EP=02:76:72:00:00:01

out=$(vrcctl attach $EP vm1 --json); rc=$?
check "attach exits 0" [ $rc -eq 0 ]
check "...to the first free slot, with its BDF and generation 1" \
    [ "$(jq -r '"\(.vm) \(.slot) \(.bdf) \(.generation) \(.state)"' <<<"$out")" = "vm1 0 01:00.0 1 active" ]
check "the endpoint serves vm1's rc id and MAC at generation 1" \
    [ "$(ep_field $EP '"\(.owner.rc_id) \(.owner.mac) \(.generation)"')" = "1 52:54:00:00:00:01 1" ]
check "vm1 was told (event on its connection)" \
    wait_for 5 grep -q '"event":"attached".*"endpoint":"02:76:72:00:00:01.0"' "$tmp/vm-vm1.log"
check "attaching it again to vm1 is a no-op that succeeds" quiet vrcctl attach $EP vm1
out=$(vrcctl attach $EP vm2 2>&1); rc=$?
check "attaching it to vm2 exits 1" [ $rc -eq 1 ]
check "...saying who owns it and what to do" \
    grep -q "endpoint 02:76:72:00:00:01.0 is owned by vm1; detach it there first" <<<"$out"
check "detach exits 0" quiet vrcctl detach $EP
check "the endpoint is free at generation 2" \
    [ "$(ep_field $EP '"\(.owner) \(.generation) \(.assignment)"')" = "null 2 null" ]
out=$(vrcctl detach $EP 2>&1); rc=$?
check "detaching it again exits 1 (not attached)" \
    [ $rc -eq 1 ] && grep -q "not attached" <<<"$out"
check "a slot out of range exits 1" \
    bash -c "\"$VRCCTL\" --socket $SOCK attach $EP vm2 7 2>/dev/null; [ \$? -eq 1 ]"
check "a bad slot is a usage error (exit 2)" \
    bash -c "\"$VRCCTL\" --socket $SOCK attach $EP vm2 x 2>/dev/null; [ \$? -eq 2 ]"

# Two attaches of one endpoint at the same time: exactly one wins.
EP2=02:76:72:00:00:02
vrcctl attach $EP2 vm1 > "$tmp/a1.out" 2>&1 &
p1=$!
vrcctl attach $EP2 vm2 > "$tmp/a2.out" 2>&1 &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check "concurrent attaches: one exits 0, the other 1 ($r1, $r2)" \
    [ $((r1 + r2)) -eq 1 -a $((r1 * r2)) -eq 0 ]
if [ $r1 -eq 0 ]; then winner=vm1 loser_out=$tmp/a2.out; else winner=vm2 loser_out=$tmp/a1.out; fi
check "...the loser is told the winner ($winner) owns it" \
    grep -q "is owned by $winner; detach it there first" "$loser_out"
check "...and the store and the endpoint agree on the winner" \
    [ "$(ep_field $EP2 '"\(.assignment.vm) \(.owner.rc_id) \(.generation)"')" = \
      "$winner ${winner#vm} 1" ]

# Generation 3 on endpoint 1 (attach, detach, attach), then a stale ASSIGN
# (generation 2, another owner) sent by hand: refused and counted.
vrcctl attach $EP vm1 >/dev/null || not_ok "re-attach"
check "endpoint 1 holds generation 3" [ "$(ep_field $EP .generation)" = 3 ]
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" assign --to $EP --gen 2 \
      --rc 9 --owner 52:54:00:00:00:09 --bdf 0x0100); rc=$?
check "a stale-generation ASSIGN is refused (ACK status stale)" \
    [ $rc -eq 1 ] && grep -q "status stale generation 3 rc 1" <<<"$out"
check "...counted by the endpoint" \
    wait_for 5 bash -c "kill -USR1 $EPS; grep -q 'stale=1 ' '$tmp/epsim-eps.log'"
check "...and the owner did not change" \
    [ "$(ep_field $EP '"\(.owner.rc_id) \(.generation)"')" = "1 3" ]
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" assign --to $EP --gen 3 \
      --rc 1 --owner 52:54:00:00:00:01 --bdf "$(ep_field $EP .owner.bdf)")
check "a repeat of the current ASSIGN is acknowledged ok (lost ACK)" \
    grep -q "status ok generation 3" <<<"$out"
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" assign --to $EP --fn 5 --gen 9 \
      --rc 1 --owner 52:54:00:00:00:01)
check "an ASSIGN of a function the endpoint lacks is refused" \
    grep -q "status no-function" <<<"$out"

# Events: a follower sees what happens.
vrcctl events --follow --json > "$tmp/events.log" 2>&1 &
pids+=($!)
wait_for 5 grep -q '"ok":true' "$tmp/events.log" || not_ok "events --follow started"
vrcctl detach $EP >/dev/null
check "a follower sees the detach" \
    wait_for 5 grep -q '"event":"detached"' "$tmp/events.log"

# A VM whose connection drops is gone; its assignments stay.
kill "$VM1"
check "a VM whose connection dropped is shown gone" \
    wait_for 5 vm_state_is vm1 gone
check "...and a follower saw vm-gone" grep -q '"event":"vm-gone"' "$tmp/events.log"
check "vrcctl vms names its assignments" \
    [ "$(vrcctl vms --json | jq -r '[.vms[].assignments[].endpoint] | length')" = 1 ]
# An endpoint whose ownership changed behind configd's back (an ASSIGN of
# generation 50 by hand; its next heartbeat is seconds away): configd's
# ASSIGN is refused as stale, nothing is recorded, and a retry goes above.
cd_epsim slow -n 1 --base 100 --interval 5000
SLOW=02:76:72:00:00:65
check "a slow-heartbeat endpoint is discovered" wait_for 5 field_is $SLOW .state up
check "an ASSIGN of generation 50 by hand is taken" \
    quiet ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" assign --to $SLOW --gen 50 \
    --rc 9 --owner 52:54:00:00:00:09 --bdf 01:00.0
out=$(vrcctl attach $SLOW vm2 2>&1); rc=$?
check "configd's overtaken ASSIGN is refused (exit 1)" [ $rc -eq 1 ]
check "...naming the generation the endpoint holds" \
    grep -q "it holds generation 50 (rc id 9)" <<<"$out"
check "...and nothing is recorded" field_is $SLOW .assignment null
check "a retry is assigned above generation 50" \
    bash -c "\"$VRCCTL\" --socket $SOCK attach $SLOW vm2 --json | jq -e '.generation > 50' >/dev/null"
cd_done
