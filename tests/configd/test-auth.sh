#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Signed DISC (docs/protocol.md 5.4): configd and endpoints with the same key
# discover and assign; endpoints with another key or none are never listed
# and their frames are counted as auth drops; ASSIGNs without the key or
# with another one are refused by a keyed endpoint and counted; configd
# without a key and without --insecure refuses to start.
. "$(dirname "$0")/lib.sh"
cd_setup vrccd-auth

K1=$tmp/k1.key
K2=$tmp/k2.key
head -c 32 /dev/urandom | base64 > "$K1"
head -c 32 /dev/urandom | base64 > "$K2"

# The daemon's refusals, before anything runs.
out=$("$CONFIGD" -i lo --socket "$tmp/x.sock" --db "$tmp/x.db" 2>&1); rc=$?
check "configd with neither --key-file nor --insecure exits 2" [ $rc -eq 2 ]
check "...and says to give --key-file (or --insecure)" \
    grep -q "no key: give --key-file FILE" <<<"$out"
printf 'not base64!\n' > "$tmp/bad.key"
out=$("$CONFIGD" -i lo --key-file "$tmp/bad.key" --socket "$tmp/x.sock" \
      --db "$tmp/x.db" 2>&1); rc=$?
check "a key file that is not base64 is refused (exit 2), naming the format" \
    [ $rc -eq 2 ] && grep -q "not a base64 key" <<<"$out"
head -c 15 /dev/urandom | base64 > "$tmp/short.key"
out=$("$CONFIGD" -i lo --key-file "$tmp/short.key" --socket "$tmp/x.sock" \
      --db "$tmp/x.db" 2>&1); rc=$?
check "a 15-byte key is refused (exit 2)" \
    [ $rc -eq 2 ] && grep -q "16 to 256 bytes" <<<"$out"

# epsim_stat PID TAG FIELD: the field of a fresh SIGUSR1 stats line.
epsim_stat() {
    local log=$tmp/epsim-$2.log n
    n=$(grep -c '^epsim: stats' "$log")
    kill -USR1 "$1"
    wait_for 5 bash -c "[ \$(grep -c '^epsim: stats' '$log') -gt $n ]" || return 1
    grep '^epsim: stats' "$log" | tail -n 1 | grep -o " $3=[0-9]*" | cut -d= -f2
}
status_field() { vrcctl status | jq -r "$1"; }
drops_above() { [ "$(status_field "$1 // 0")" -gt "$2" ]; }

cd_configd --key-file "$K1"
check "vrcctl status shows keyed: true" [ "$(status_field .keyed)" = true ]
cd_epsim good -n 2 --interval 200 --key-file "$K1"
GOOD=$EPSIM_PID
cd_epsim other -n 1 --base 100 --interval 200 --key-file "$K2"
OTHER=$EPSIM_PID
cd_epsim none -n 1 --base 200 --interval 200
NONE=$EPSIM_PID

check "the two endpoints with configd's key are discovered" wait_for 10 count_is up 2
check "frames under another key are counted (auth)" \
    wait_for 5 drops_above '.disc_drops.auth' 5
check "unsigned frames are counted (key-mismatch)" \
    wait_for 5 drops_above '.disc_drops["key-mismatch"]' 5
check "...both in disc_auth_drops" drops_above .disc_auth_drops 10
check "endpoints with another key or none are never listed" \
    [ "$(vrcctl list --json | jq '.endpoints | length')" = 2 ]
# stat_at_least PID TAG FIELD N: for wait_for.
stat_at_least() { [ "$(epsim_stat "$1" "$2" "$3")" -ge "$4" ]; }
kill -HUP "$CONFIGD_PID"        # a signed SOLICIT now that they all listen
check "the endpoint with another key drops configd's SOLICIT (auth)" \
    wait_for 5 stat_at_least $OTHER other auth_drops 1
check "...and so does the one without a key (key-mismatch)" \
    wait_for 5 stat_at_least $NONE none auth_drops 1
check "...while the endpoints with the key took it" \
    wait_for 5 stat_at_least $GOOD good solicit 1
check "...and neither ever took an ASSIGN" \
    [ "$(epsim_stat $OTHER other assign)$(epsim_stat $NONE none assign)" = 00 ]
kill "$OTHER" "$NONE"
wait "$OTHER" "$NONE" 2>/dev/null

# Assignments, signed both ways.
cd_vm vm1 1 52:54:00:00:00:01 4
EP=02:76:72:00:00:01
out=$(vrcctl attach $EP vm1 --json); rc=$?
check "attach over signed DISC exits 0, active at generation 1" \
    [ $rc -eq 0 ] && [ "$(jq -r '"\(.state) \(.generation)"' <<<"$out")" = "active 1" ]
check "the endpoint serves vm1 at generation 1" \
    [ "$(ep_field $EP '"\(.owner.rc_id) \(.generation)"')" = "1 1" ]

# Forged ASSIGNs: without the key, with another key.  The endpoint drops
# them (no ACK: vrc-disc exits 3) and counts each one.
base=$(epsim_stat $GOOD good auth_drops)
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" --wait 500 assign --to $EP \
      --gen 99 --rc 9 --owner 52:54:00:00:00:09 --bdf 0x0100 2>&1); rc=$?
check "an unsigned ASSIGN gets no ACK (exit 3)" [ $rc -eq 3 ]
check "...and is counted by the keyed endpoint" \
    [ "$(epsim_stat $GOOD good auth_drops)" = $((base + 1)) ]
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" --wait 500 --key-file "$K2" \
      assign --to $EP --gen 99 --rc 9 --owner 52:54:00:00:00:09 --bdf 0x0100 2>&1); rc=$?
check "an ASSIGN under another key gets no ACK (exit 3)" [ $rc -eq 3 ]
check "...and is counted" [ "$(epsim_stat $GOOD good auth_drops)" = $((base + 2)) ]
check "...and the owner did not change" \
    [ "$(ep_field $EP '"\(.owner.rc_id) \(.generation)"')" = "1 1" ]
check "the endpoint took exactly one ASSIGN" [ "$(epsim_stat $GOOD good assign)" = 1 ]
out=$(ip netns exec "$VM_NS" "$VRCDISC" -i "$VM_IF" --key-file "$K1" assign \
      --to $EP --gen 1 --rc 9 --owner 52:54:00:00:00:09 --bdf 0x0100); rc=$?
check "with the key, vrc-disc is answered (a stale generation: exit 1)" \
    [ $rc -eq 1 ] && grep -q "status stale generation 1 rc 1" <<<"$out"
check "detach over signed DISC exits 0" quiet vrcctl detach $EP
check "the endpoint is free at generation 2" \
    [ "$(ep_field $EP '"\(.owner) \(.generation)"')" = "null 2" ]
check "configd's own frames were never dropped by the endpoint" \
    [ "$(epsim_stat $GOOD good auth_drops)" = $((base + 2)) ]

cd_done
