#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packet transport (AF_PACKET rings) on a real link: two network
# namespaces of our own, joined by a veth pair (MTU 9000), exchange vrc
# frames with tools/vrc-pingpong over packet:IFNAME: ping-pong from 64-byte
# to jumbo frames with each receive ring (V2 and V3) and each way of sending
# (sendmmsg and the send ring), busy polling, and batched streams; every
# frame's content and the count are checked on both sides.  Also: a frame
# sent to another station is not returned, and the open errors are clear.
# Prints round-trip times and stream rates as TAP comments.  Needs root: if
# network namespaces cannot be made here, it fails (Bail out!), it never
# skips.
#
# usage: test-packet-veth.sh [path/to/vrc-pingpong]
#   VRC_PP_COUNT  timed PINGs per case (default 2000)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tool=${1:-$top/build/host/tools/vrc-pingpong}
count=${VRC_PP_COUNT:-2000}
# shellcheck source=lib.sh
. "$top/tests/net/lib.sh"
net_require "$tool"

echo "1..13"

VRC_MTU=9000 vrc_netns_up "vrcbpk$$-$RANDOM" 2> "$tmp/setup.err" ||
    { diag "$tmp/setup.err"; bail "cannot set up the veth pair between namespaces"; }
if [ "$(ip -n "$VM_NS" -o link show "$VM_IF" | grep -o 'mtu [0-9]*')" = "mtu 9000" ]; then
    ok "veth pair $VM_IF ($VM_NS) <-> $EP_IF ($EP_NS), MTU 9000"
else
    not_ok "veth pair $VM_IF ($VM_NS) <-> $EP_IF ($EP_NS), MTU 9000"
fi

# pingpong OPTS SIZE [FLAGS...]: one ping-pong run over packet:IF$OPTS.
pingpong() {
    local opts=$1 size=$2 pong_pid ping_rc pong_rc name
    shift 2
    name="packet:IF$opts, $size-byte frames${*:+, $*}"
    ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong --transport="packet:$EP_IF$opts" \
        --size="$size" --count="$count" --json "$@" \
        > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --transport="packet:$VM_IF$opts" \
        --size="$size" --count="$count" --json "$@" \
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
    if [ "$(json "$tmp/ping.json" 'j["transport"] == "packet" and j["answered"] == '"$count"' and j["lost"] == 0 and j["bad"] == 0')" = True ] &&
       [ "$(json "$tmp/pong.json" 'j["answered"] == j["expected"] and j["bad"] == 0 and j["bye"]')" = True ]; then
        ok "$name: $count round trips, content and count checked on both sides"
        echo "# $name: RTT us $(json "$tmp/ping.json" \
            '"min %(min).1f median %(median).1f p99 %(p99).1f max %(max).1f" % j["rtt_us"]')"
    else
        not_ok "$name: results do not add up"
        diag "$tmp/ping.json"; diag "$tmp/pong.json"
    fi
}

pingpong "" 64
pingpong "" 1500
pingpong "" 9014
pingpong ",tx=ring" 9014
pingpong "" 64 --busy-poll
# V3 hands a block over when it fills or after block-ms: fewer PINGs.
count=$((count / 4)) pingpong ",rx=v3" 64
count=$((count / 4)) pingpong ",rx=v3,tx=ring" 9014

# stream OPTS: jumbo PINGs pipelined in bursts of 32, small PONGs.
stream() {
    local opts=$1 spid ping_rc pong_rc
    ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong --transport="packet:$EP_IF$opts" \
        --stream --burst=32 --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
    spid=$!
    ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --transport="packet:$VM_IF$opts" \
        --stream --burst=32 --window=256 --size=9014 --count=$((count * 10)) --json \
        > "$tmp/ping.json" 2> "$tmp/ping.err"
    ping_rc=$?
    wait "$spid"
    pong_rc=$?
    if [ $ping_rc -eq 0 ] && [ $pong_rc -eq 0 ] &&
       [ "$(json "$tmp/ping.json" 'j["mode"] == "stream" and j["bad"] == 0 and j["lost"] == 0 and j["MBps"] > 0')" = True ] &&
       [ "$(json "$tmp/pong.json" 'j["bye"] and j["bad"] == 0')" = True ]; then
        ok "stream packet:IF$opts, $((count * 10)) 9014-byte frames, bursts of 32: $(json "$tmp/ping.json" '"%(MBps).1f MB/s, %(lost)d lost" % j')"
    else
        not_ok "stream packet:IF$opts: ping exit $ping_rc, pong exit $pong_rc"
        diag "$tmp/ping.err"; diag "$tmp/ping.json"; diag "$tmp/pong.err"; diag "$tmp/pong.json"
    fi
}
stream ""
stream ",rx=v3,tx=ring"

# A frame to another station must not be returned: a ping to another MAC
# gets no answer from a live pong, which then answers a ping to its own.
ip netns exec "$EP_NS" timeout 30 "$tool" --mode=pong --transport="packet:$EP_IF" \
    --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
spid=$!
ip netns exec "$VM_NS" timeout 30 "$tool" --mode=ping --transport="packet:$VM_IF" \
    --peer=02:00:00:00:99:99 --count=3 --timeout-ms=300 > /dev/null 2> "$tmp/other.err"
other_rc=$?
ip netns exec "$VM_NS" timeout 30 "$tool" --mode=ping --transport="packet:$VM_IF" \
    --peer="$EP_MAC" --count=3 --warmup=0 > /dev/null 2> "$tmp/own.err"
own_rc=$?
wait "$spid"
pong_rc=$?
if [ $other_rc -ne 0 ] && grep -q "no answer from pong" "$tmp/other.err" &&
   [ $own_rc -eq 0 ] && [ $pong_rc -eq 0 ] &&
   [ "$(json "$tmp/pong.json" 'j["answered"] == 3 and j["bye"]')" = True ]; then
    ok "a ping to another station's MAC is not taken; one to $EP_MAC is"
else
    not_ok "frames for another station are not taken: other exit $other_rc, own exit $own_rc, pong exit $pong_rc"
    diag "$tmp/other.err"; diag "$tmp/own.err"; diag "$tmp/pong.err"; diag "$tmp/pong.json"
fi

# An interface that does not exist, and an unknown option: clear errors.
if ip netns exec "$VM_NS" "$tool" --mode=pong --transport=packet:vrc-nosuch0 \
        > /dev/null 2> "$tmp/nosuch.err"; then
    not_ok "opening a missing interface fails"
elif grep -q "vrc-nosuch0: no such interface" "$tmp/nosuch.err"; then
    ok "opening a missing interface fails: $(cat "$tmp/nosuch.err")"
else
    not_ok "opening a missing interface fails with a reason"
    diag "$tmp/nosuch.err"
fi
if ip netns exec "$VM_NS" "$tool" --mode=pong --transport="packet:$VM_IF,rx=v9" \
        > /dev/null 2> "$tmp/opt.err"; then
    not_ok "an unknown option is refused"
elif grep -q "unknown option 'rx=v9'" "$tmp/opt.err"; then
    ok "an unknown option is refused: $(cat "$tmp/opt.err")"
else
    not_ok "an unknown option is refused with a reason"
    diag "$tmp/opt.err"
fi

[ $failed -eq 0 ]
