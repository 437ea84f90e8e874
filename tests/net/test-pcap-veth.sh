#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The pcap transport on a real link: two network namespaces of our own,
# joined by a veth pair (MTU 9000), exchange vrc frames ping-pong with
# tools/vrc-pingpong, blocking and busy polling, from 64-byte to jumbo
# frames, and a pipelined stream; every frame's content and the count are
# checked on both sides.
# Prints the round-trip times as TAP comments.  Needs root: if network
# namespaces cannot be made here, it fails (Bail out!), it never skips.
#
# usage: test-pcap-veth.sh [path/to/vrc-pingpong]
#   VRC_PP_COUNT  timed PINGs per case (default 2000)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tool=${1:-$top/build/host/tools/vrc-pingpong}
count=${VRC_PP_COUNT:-2000}
# shellcheck source=lib.sh
. "$top/tests/net/lib.sh"
net_require "$tool"

echo "1..11"

# Unique names: several runs (or other tests) may be going on at once.
VRC_MTU=9000 vrc_netns_up "vrcpp$$-$RANDOM" 2> "$tmp/setup.err" ||
    { diag "$tmp/setup.err"; bail "cannot set up the veth pair between namespaces"; }
if [ "$(ip -n "$VM_NS" -o link show "$VM_IF" | grep -o 'mtu [0-9]*')" = "mtu 9000" ] &&
   [ "$(ip -n "$EP_NS" -o link show "$EP_IF" | grep -o 'state [A-Z]*')" != "state DOWN" ]; then
    ok "veth pair $VM_IF ($VM_NS) <-> $EP_IF ($EP_NS), MTU 9000"
else
    not_ok "veth pair $VM_IF ($VM_NS) <-> $EP_IF ($EP_NS), MTU 9000"
fi

# pingpong SIZE MODE: one ping-pong run; MODE is "blocking" or "busy-poll".
pingpong() {
    local size=$1 mode=$2 flags=() pong_pid ping_rc pong_rc name
    name="$size-byte frames, $mode"
    [ "$mode" = busy-poll ] && flags=(--busy-poll)
    ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong --ifname="$EP_IF" \
        --size="$size" --count="$count" --json "${flags[@]}" \
        > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --ifname="$VM_IF" \
        --size="$size" --count="$count" --json "${flags[@]}" \
        > "$tmp/ping.json" 2> "$tmp/ping.err"
    ping_rc=$?
    wait "$pong_pid"
    pong_rc=$?
    if [ $ping_rc -ne 0 ] || [ $pong_rc -ne 0 ]; then
        not_ok "$name: ping exit $ping_rc, pong exit $pong_rc"
        diag "$tmp/ping.err"; diag "$tmp/ping.json"
        diag "$tmp/pong.err"; diag "$tmp/pong.json"
        return
    fi
    if [ "$(json "$tmp/ping.json" 'j["answered"] == '"$count"' and j["lost"] == 0 and j["bad"] == 0')" = True ] &&
       [ "$(json "$tmp/pong.json" 'j["answered"] == j["expected"] and j["bad"] == 0 and j["bye"]')" = True ]; then
        ok "$name: $count round trips, content and count checked on both sides"
        echo "# $name: RTT us $(json "$tmp/ping.json" \
            '"min %(min).1f median %(median).1f p99 %(p99).1f max %(max).1f" % j["rtt_us"]'), kernel drops $(json "$tmp/pong.json" 'j["kernel_drops"]')"
    else
        not_ok "$name: results do not add up"
        diag "$tmp/ping.json"; diag "$tmp/pong.json"
    fi
}

pingpong 64 blocking
pingpong 1500 blocking
pingpong 9014 blocking
pingpong 64 busy-poll
pingpong 1500 busy-poll
pingpong 9014 busy-poll

# Throughput mode: jumbo PINGs pipelined, small PONGs; every frame accounted for.
ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong --ifname="$EP_IF" --stream \
    --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
spid=$!
ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --ifname="$VM_IF" --stream \
    --size=9014 --count="$count" --json > "$tmp/ping.json" 2> "$tmp/ping.err"
ping_rc=$?
wait "$spid"
pong_rc=$?
if [ $ping_rc -eq 0 ] && [ $pong_rc -eq 0 ] &&
   [ "$(json "$tmp/ping.json" 'j["mode"] == "stream" and j["bad"] == 0 and j["lost"] <= '"$count"' // 100 and j["MBps"] > 0')" = True ] &&
   [ "$(json "$tmp/pong.json" 'j["bye"] and j["bad"] == 0 and j["answered"] + j["expected"] > 0')" = True ]; then
    ok "stream of $count 9014-byte frames, window $(json "$tmp/ping.json" 'j["window"]'): $(json "$tmp/ping.json" '"%(MBps).1f MB/s, %(lost)d lost" % j')"
else
    not_ok "stream of 9014-byte frames: ping exit $ping_rc, pong exit $pong_rc"
    diag "$tmp/ping.err"; diag "$tmp/ping.json"; diag "$tmp/pong.err"; diag "$tmp/pong.json"
fi

# Without a pong, ping must fail (and say so), not hang or pass.
if ip netns exec "$VM_NS" timeout 30 "$tool" --mode=ping --ifname="$VM_IF" \
        --count=10 --timeout-ms=300 > "$tmp/alone.out" 2> "$tmp/alone.err"; then
    not_ok "ping without a pong fails"
elif grep -q "no answer from pong" "$tmp/alone.err"; then
    ok "ping without a pong fails: $(cat "$tmp/alone.err")"
else
    not_ok "ping without a pong fails with a reason"
    diag "$tmp/alone.err"
fi

# A frame larger than the MTU allows is refused before anything is sent.
if ip netns exec "$VM_NS" "$tool" --mode=ping --ifname="$VM_IF" --size=9015 \
        --count=1 > /dev/null 2> "$tmp/big.err"; then
    not_ok "a 9015-byte frame on MTU 9000 is refused"
else
    ok "a 9015-byte frame on MTU 9000 is refused: $(cat "$tmp/big.err")"
fi

# An interface that does not exist: a clear error.
if ip netns exec "$VM_NS" "$tool" --mode=pong --ifname=vrc-nosuch0 \
        > /dev/null 2> "$tmp/nosuch.err"; then
    not_ok "opening a missing interface fails"
elif grep -q "vrc-nosuch0" "$tmp/nosuch.err"; then
    ok "opening a missing interface fails: $(cat "$tmp/nosuch.err")"
else
    not_ok "opening a missing interface fails with a reason"
    diag "$tmp/nosuch.err"
fi

[ $failed -eq 0 ]
