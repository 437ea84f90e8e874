#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The udp transport on a routed path: two network namespaces of our own,
# joined by a veth pair (MTU 1500) with IPv4 and IPv6 addresses, exchange
# vrc frames in UDP datagrams with tools/vrc-pingpong: ping-pong from
# 64-byte frames to jumbo frames (fragmented by IP on this path), busy
# polling, and pipelined streams with and without batching (sendmmsg,
# recvmmsg); every frame's content and the count are checked on both sides.
# The listener (pong) binds every address (udp::PORT) and learns its peer.
# Prints the round-trip times as TAP comments.  Needs root: if network
# namespaces cannot be made here, it fails (Bail out!), it never skips.
#
# usage: test-udp-netns.sh [path/to/vrc-pingpong]
#   VRC_PP_COUNT  timed PINGs per case (default 2000)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tool=${1:-$top/build/host/tools/vrc-pingpong}
count=${VRC_PP_COUNT:-2000}
port=5551
# shellcheck source=lib.sh
. "$top/tests/net/lib.sh"
net_require "$tool"

echo "1..17"

VRC_MTU=1500 vrc_netns_up "vrcudp$$-$RANDOM" 2> "$tmp/setup.err" ||
    { diag "$tmp/setup.err"; bail "cannot set up the veth pair between namespaces"; }
VM_V4=10.77.0.1 EP_V4=10.77.0.2 VM_V6=fd77::1 EP_V6=fd77::2
{
    ip -n "$VM_NS" addr add "$VM_V4/24" dev "$VM_IF" &&
    ip -n "$EP_NS" addr add "$EP_V4/24" dev "$EP_IF" &&
    ip -n "$VM_NS" addr add "$VM_V6/64" dev "$VM_IF" nodad &&
    ip -n "$EP_NS" addr add "$EP_V6/64" dev "$EP_IF" nodad
} 2> "$tmp/setup.err" || { diag "$tmp/setup.err"; bail "cannot address the veth pair"; }
# No ping(8) here: the addresses must be there and usable (not tentative);
# the cases below prove the path.
vm_addrs=$(ip -n "$VM_NS" -o addr show dev "$VM_IF")
ep_addrs=$(ip -n "$EP_NS" -o addr show dev "$EP_IF")
if [[ $vm_addrs == *"inet $VM_V4/"* && $ep_addrs == *"inet $EP_V4/"* &&
      $vm_addrs == *"inet6 $VM_V6/64 scope global nodad"* &&
      $ep_addrs == *"inet6 $EP_V6/64 scope global nodad"* ]]; then
    ok "veth pair $VM_IF ($VM_NS, $VM_V4, $VM_V6) <-> $EP_IF ($EP_NS, $EP_V4, $EP_V6)"
else
    ip -n "$VM_NS" addr > "$tmp/addr"; ip -n "$EP_NS" addr >> "$tmp/addr"; diag "$tmp/addr"
    bail "the veth pair did not take its addresses"
fi

# run NAME PING-SPEC PING-FLAGS... -- PONG-FLAGS...: pong listens on every
# address, ping sends to PING-SPEC; both exit 0 or the case fails.
run() {
    local name=$1 spec=$2 pong_pid ping_rc pong_rc ping=() pong=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do ping+=("$1"); shift; done
    shift
    pong=("$@")
    ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong \
        --transport="udp::$port" --json "${pong[@]}" \
        > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --transport="$spec" \
        --json "${ping[@]}" > "$tmp/ping.json" 2> "$tmp/ping.err"
    ping_rc=$?
    wait "$pong_pid"
    pong_rc=$?
    if [ $ping_rc -ne 0 ] || [ $pong_rc -ne 0 ]; then
        not_ok "$name: ping exit $ping_rc, pong exit $pong_rc"
        diag "$tmp/ping.err"; diag "$tmp/ping.json"
        diag "$tmp/pong.err"; diag "$tmp/pong.json"
        return 1
    fi
    return 0
}

# pingpong AF SIZE [--busy-poll]
pingpong() {
    local af=$1 size=$2 spec name
    shift 2
    if [ "$af" = 4 ]; then spec="udp:$EP_V4:$port"; else spec="udp:[$EP_V6]:$port"; fi
    name="IPv$af, $size-byte frames${1:+, busy polling}"
    run "$name" "$spec" --size="$size" --count="$count" "$@" -- \
        --size="$size" --count="$count" "$@" || return
    if [ "$(json "$tmp/ping.json" 'j["transport"] == "udp" and j["answered"] == '"$count"' and j["lost"] == 0 and j["bad"] == 0')" = True ] &&
       [ "$(json "$tmp/pong.json" 'j["answered"] == j["expected"] and j["bad"] == 0 and j["bye"]')" = True ]; then
        ok "$name: $count round trips, content and count checked on both sides"
        echo "# $name: RTT us $(json "$tmp/ping.json" \
            '"min %(min).1f median %(median).1f p99 %(p99).1f max %(max).1f" % j["rtt_us"]')"
    else
        not_ok "$name: results do not add up"
        diag "$tmp/ping.json"; diag "$tmp/pong.json"
    fi
}

# stream AF SIZE BURST
stream() {
    local af=$1 size=$2 burst=$3 spec name
    if [ "$af" = 4 ]; then spec="udp:$EP_V4:$port"; else spec="udp:[$EP_V6]:$port"; fi
    name="IPv$af stream of $((count * 10)) $size-byte frames, burst $burst"
    run "$name" "$spec" --stream --size="$size" --count=$((count * 10)) \
        --window=256 --burst="$burst" -- --stream --burst="$burst" || return
    if [ "$(json "$tmp/ping.json" 'j["mode"] == "stream" and j["bad"] == 0 and j["lost"] <= '"$count"' // 10 and j["MBps"] > 0')" = True ] &&
       [ "$(json "$tmp/pong.json" 'j["bye"] and j["bad"] == 0 and j["answered"] > 0')" = True ]; then
        ok "$name: $(json "$tmp/ping.json" '"%(MBps).1f MB/s, %(frames_per_s)d frames/s, %(lost)d lost" % j')"
    else
        not_ok "$name: results do not add up"
        diag "$tmp/ping.json"; diag "$tmp/pong.json"
    fi
}

# 1472 and 1452: the largest frames that fit a 1500-byte IPv4 / IPv6 packet.
pingpong 4 64
pingpong 4 1472
pingpong 4 9014
pingpong 4 1472 --busy-poll
pingpong 6 64
pingpong 6 1452
pingpong 6 9014
pingpong 6 1452 --busy-poll
stream 4 1472 1
stream 4 1472 32
stream 6 1452 32
stream 4 9014 32

# The listener learnt its peer: a second sender gets no answer.  (Its
# HELLOs reach pong, as they reach an endpoint's link layer, which asks its
# session whether it is still there; pong answers its own peer.  What the
# transport drops and counts is checked by /transport/udp/release-peer.)
ip netns exec "$EP_NS" timeout 60 "$tool" --mode=pong --transport="udp:$EP_V4:$port" \
    --json > "$tmp/pong.json" 2> "$tmp/pong.err" &
pong_pid=$!
ip netns exec "$VM_NS" timeout 60 "$tool" --mode=ping --transport="udp:$EP_V4:$port" \
    --count=50000 --warmup=0 --json > "$tmp/ping.json" 2> "$tmp/ping.err" &
ping_pid=$!
# A stranger on another port, while the first one is at it.
sleep 0.3
ip netns exec "$VM_NS" timeout 10 "$tool" --mode=ping --transport="udp:$EP_V4:$port" \
    --count=5 --timeout-ms=300 > "$tmp/other.out" 2> "$tmp/other.err"
other_rc=$?
wait "$ping_pid"; ping_rc=$?
wait "$pong_pid"; pong_rc=$?
if [ $other_rc -ne 0 ] && [ $ping_rc -eq 0 ] && [ $pong_rc -eq 0 ] &&
   grep -q "no answer from pong" "$tmp/other.err" &&
   [ "$(json "$tmp/pong.json" 'j["bad"] == 0 and j["answered"] == '50000)" = True ] &&
   [ "$(json "$tmp/ping.json" 'j["bad"] == 0 and j["answered"] == '50000)" = True ]; then
    ok "a second sender gets no answer while the peer is active, whose 50000 round trips go on"
else
    not_ok "a second sender gets no answer (other exit $other_rc, ping $ping_rc, pong $pong_rc)"
    diag "$tmp/other.err"; diag "$tmp/ping.json"; diag "$tmp/pong.json"
fi

# Without a pong, ping must fail (and say so), not hang or pass.
if ip netns exec "$VM_NS" timeout 30 "$tool" --mode=ping --transport="udp:$EP_V4:$port" \
        --count=10 --timeout-ms=300 > "$tmp/alone.out" 2> "$tmp/alone.err"; then
    not_ok "ping without a pong fails"
elif grep -q "no answer from pong" "$tmp/alone.err"; then
    ok "ping without a pong fails: $(cat "$tmp/alone.err")"
else
    not_ok "ping without a pong fails with a reason"
    diag "$tmp/alone.err"
fi

# Bad spec strings: a clear error, before anything is sent.
if ip netns exec "$VM_NS" "$tool" --mode=ping --transport="udp:$EP_V6:$port" \
        > /dev/null 2> "$tmp/bad.err"; then
    not_ok "an IPv6 address without brackets is refused"
elif grep -q "brackets" "$tmp/bad.err"; then
    ok "an IPv6 address without brackets is refused: $(cat "$tmp/bad.err")"
else
    not_ok "an IPv6 address without brackets is refused with a reason"
    diag "$tmp/bad.err"
fi
if ip netns exec "$EP_NS" "$tool" --mode=pong --transport="udp:$VM_V4:$port" \
        > /dev/null 2> "$tmp/bind.err"; then
    not_ok "listening on an address of another host fails"
elif grep -q "cannot bind" "$tmp/bind.err"; then
    ok "listening on an address of another host fails: $(cat "$tmp/bind.err")"
else
    not_ok "listening on an address of another host fails with a reason"
    diag "$tmp/bind.err"
fi

[ $failed -eq 0 ]
