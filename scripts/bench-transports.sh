#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcap, packet (AF_PACKET rings) and udp between two network namespaces
# joined by veth, in one run, at MTU 1500 and 9000: vrc-pingpong round
# trips (median, p99) and stream throughput, and iperf3 TCP between the same
# namespaces as the kernel's floor.  Prints a markdown table.  Needs root,
# python3, iperf3.
#
# usage: bench-transports.sh [path/to/vrc-pingpong]
#   BENCH_COUNT   timed round trips per case (default 5000)
#   BENCH_STREAM  frames per stream (default 50000)
#   BENCH_MTUS    MTUs to try (default "1500 9000")
#   BENCH_PACKET_OPTS  options of the packet transport (e.g. ",rx=v3,tx=ring";
#                 default none: the transport's defaults)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:-$top/build/host/tools/vrc-pingpong}
count=${BENCH_COUNT:-5000}
frames=${BENCH_STREAM:-50000}
tmp=$(mktemp -d)
port=5551
popts=${BENCH_PACKET_OPTS:-}

# shellcheck source=scripts/netns.sh
. "$top/scripts/netns.sh"

cleanup() {
    local pid
    for pid in $(jobs -p); do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "bench-transports: $*" >&2
    exit 1
}

json() {
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

[ -x "$tool" ] || die "no vrc-pingpong at $tool"
command -v iperf3 > /dev/null || die "iperf3 is needed"
vrc_netns_probe || die "cannot create network namespaces here"
vrc_netns_up "vrcbench$$" || die "cannot set up the namespaces"
ip -n "$VM_NS" addr add 10.78.0.1/24 dev "$VM_IF" &&
ip -n "$EP_NS" addr add 10.78.0.2/24 dev "$EP_IF" || die "cannot address the veth pair"

# pp TRANSPORT-OF-PONG TRANSPORT-OF-PING ARGS...: one vrc-pingpong run;
# ping's JSON in $tmp/ping.json.  Returns non-zero if either side failed.
pp() {
    local pong_spec=$1 ping_spec=$2 pong_pid rc
    shift 2
    local pong_args=()
    for a in "$@"; do
        case $a in --stream|--burst=*|--busy-poll) pong_args+=("$a") ;; esac
    done
    ip netns exec "$EP_NS" timeout 120 "$tool" --mode=pong --transport="$pong_spec" \
        --json "${pong_args[@]}" > "$tmp/pong.json" 2> "$tmp/pong.err" &
    pong_pid=$!
    ip netns exec "$VM_NS" timeout 120 "$tool" --mode=ping --transport="$ping_spec" \
        --json "$@" > "$tmp/ping.json" 2> "$tmp/ping.err"
    rc=$?
    wait "$pong_pid" || rc=1
    return $rc
}

rtt() {
    if pp "$@" --count="$count"; then
        json "$tmp/ping.json" '"%(median).1f / %(p99).1f" % j["rtt_us"]'
    else
        echo "failed"
    fi
}

stream() {
    if pp "$@" --stream --count="$frames" --window=256; then
        json "$tmp/ping.json" '"%.0f MB/s (%.0f kfps)" % (j["MBps"], j["frames_per_s"] / 1000)'
    else
        echo "failed"
    fi
}

echo "| MTU | measure | pcap | packet$popts | udp |"
echo "|---|---|---|---|---|"
for mtu in ${BENCH_MTUS:-1500 9000}; do
    ip -n "$VM_NS" link set "$VM_IF" mtu "$mtu"
    ip -n "$EP_NS" link set "$EP_IF" mtu "$mtu"
    pcap_vm="pcap:$VM_IF" pcap_ep="pcap:$EP_IF"
    pk_vm="packet:$VM_IF$popts" pk_ep="packet:$EP_IF$popts"
    udp_vm="udp:10.78.0.2:$port" udp_ep="udp::$port"
    big_pcap=$((mtu + 14)) big_udp=$((mtu - 28))   # IPv4 + UDP headers
    echo "| $mtu | RTT us median / p99, 64 B | $(rtt "$pcap_ep" "$pcap_vm" --size=64) | $(rtt "$pk_ep" "$pk_vm" --size=64) | $(rtt "$udp_ep" "$udp_vm" --size=64) |"
    echo "| $mtu | RTT us, largest frame (raw $big_pcap B, udp $big_udp B) | $(rtt "$pcap_ep" "$pcap_vm" --size=$big_pcap) | $(rtt "$pk_ep" "$pk_vm" --size=$big_pcap) | $(rtt "$udp_ep" "$udp_vm" --size=$big_udp) |"
    echo "| $mtu | RTT us, busy polling, 64 B | $(rtt "$pcap_ep" "$pcap_vm" --size=64 --busy-poll) | $(rtt "$pk_ep" "$pk_vm" --size=64 --busy-poll) | $(rtt "$udp_ep" "$udp_vm" --size=64 --busy-poll) |"
    echo "| $mtu | stream, largest frame, burst 1 | $(stream "$pcap_ep" "$pcap_vm" --size=$big_pcap) | $(stream "$pk_ep" "$pk_vm" --size=$big_pcap) | $(stream "$udp_ep" "$udp_vm" --size=$big_udp) |"
    echo "| $mtu | stream, largest frame, burst 32 | $(stream "$pcap_ep" "$pcap_vm" --size=$big_pcap --burst=32) | $(stream "$pk_ep" "$pk_vm" --size=$big_pcap --burst=32) | $(stream "$udp_ep" "$udp_vm" --size=$big_udp --burst=32) |"
    if [ "$mtu" -lt 9000 ]; then
        echo "| $mtu | stream, 9014 B frames (udp: IP fragments), burst 32 | n/a | n/a | $(stream "$udp_ep" "$udp_vm" --size=9014 --burst=32) |"
    fi
    ip netns exec "$EP_NS" timeout 30 iperf3 -s -1 > /dev/null 2>&1 &
    sleep 0.3
    if ip netns exec "$VM_NS" timeout 30 iperf3 -c 10.78.0.2 -t 5 -J > "$tmp/iperf.json" 2> /dev/null; then
        tcp=$(json "$tmp/iperf.json" '"%.0f MB/s" % (j["end"]["sum_received"]["bits_per_second"] / 8e6)')
    else
        tcp=failed
    fi
    wait
    echo "| $mtu | iperf3 TCP, 5 s, one stream (kernel floor) | $tcp | $tcp | $tcp |"
done
