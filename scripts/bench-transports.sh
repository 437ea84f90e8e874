#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcap, packet (AF_PACKET rings) and udp between two network namespaces
# joined by veth, in one run, at MTU 1500 and 9000: vrc-pingpong round
# trips (median, p99) and stream throughput, and iperf3 TCP between the same
# namespaces as the kernel's floor.  Prints a markdown table.  Needs root,
# python3, iperf3.
#
# The link's own throughput (tools/vrc-session: encap_link over the
# transport, MWr TLPs one way, acks the other) is measured with the link
# handing the transport one frame per call (burst 1) and up to 32 (burst
# 32); BENCH_SESSION_BEFORE names another vrc-session (e.g. built from an
# older commit) to run in the same table, with its own options.
#
# usage: bench-transports.sh [path/to/vrc-pingpong]
#   BENCH_COUNT   timed round trips per case (default 5000)
#   BENCH_STREAM  frames per stream (default 50000)
#   BENCH_MTUS    MTUs to try (default "1500 9000")
#   BENCH_PACKET_OPTS  options of the packet transport (e.g. ",rx=v3,tx=ring";
#                 default none: the transport's defaults)
#   BENCH_TLPS    MWr TLPs per link stream (default 300000)
#   BENCH_SESSION_BEFORE  a second vrc-session for a "before" row
#   BENCH_NS      name of the namespaces (default vrcbench<pid>)
#   BENCH_NET     their /24, as three octets (default 10.78.0)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:-$top/build/host/tools/vrc-pingpong}
session=$(dirname "$tool")/vrc-session
before=${BENCH_SESSION_BEFORE:-}
tlps=${BENCH_TLPS:-300000}
net=${BENCH_NET:-10.78.0}
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
vrc_netns_probe "${BENCH_NS:+$BENCH_NS-probe}" || die "cannot create network namespaces here"
vrc_netns_up "${BENCH_NS:-vrcbench$$}" || die "cannot set up the namespaces"
ip -n "$VM_NS" addr add "$net.1/24" dev "$VM_IF" &&
ip -n "$EP_NS" addr add "$net.2/24" dev "$EP_IF" || die "cannot address the veth pair"

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

# Also leaves the MB/s in $tmp/stream-<transport>, for the ratios to TCP.
stream() {
    local name=${1%%:*}
    if pp "$@" --stream --count="$frames" --window=256; then
        json "$tmp/ping.json" 'j["MBps"]' > "$tmp/stream-$name"
        json "$tmp/ping.json" '"%.0f MB/s (%.0f kfps)" % (j["MBps"], j["frames_per_s"] / 1000)'
    else
        echo 0 > "$tmp/stream-$name"
        echo "failed"
    fi
}

# ratio NAME: the burst-32 stream of transport NAME against $tcp_MBps.
ratio() {
    python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print("%.2fx" % (a / b) if a and b else "n/a")' \
        "$(cat "$tmp/b32-$1" 2>/dev/null || echo 0)" "$tcp_MBps"
}

# ls TOOL TRANSPORT-OF-RESPONDER TRANSPORT-OF-INITIATOR ARGS...: one
# vrc-session stream; prints the TLP data and the frames in MB/s (a
# vrc-session that does not report its frames: TLP data only, its TLPs
# being 1 to 16 DW by turns).
ls_run() {
    local t=$1 ep_spec=$2 vm_spec=$3 pid rc peer=$EP_MAC
    shift 3
    case $ep_spec in udp:*) peer=02:00:00:00:00:01 ;; esac   # the listener's
    ip netns exec "$EP_NS" timeout 120 "$t" --responder --transport="$ep_spec" \
        --count="$tlps" "$@" > "$tmp/resp.json" 2> "$tmp/resp.err" &
    pid=$!
    ip netns exec "$VM_NS" timeout 120 "$t" --initiator --transport="$vm_spec" \
        --peer="$peer" --count="$tlps" --timeout-ms=60000 "$@" \
        > "$tmp/init.json" 2> "$tmp/init.err"
    rc=$?
    wait "$pid" || rc=1
    if [ $rc = 0 ]; then
        json "$tmp/init.json" '"%.0f MB/s (frames %.0f)" % (j["tlp_MBps"], j["MBps"]) if "MBps" in j else "%.0f MB/s" % (sum(4 * (1 + i % 16) for i in range(j["tlps_sent"])) / j["seconds"] / 1e6)'
    else
        echo "failed"
    fi
}

# link LABEL TOOL ARGS...: a link stream row (TLP data, frames), packet and udp, with frames
# of the MTU (udp: the largest datagram that is not fragmented).
link() {
    local label=$1 t=$2
    shift 2
    echo "| $mtu | $label | n/a | $(ls_run "$t" "$pk_ep" "$pk_vm" --max-frame=$((mtu + 14)) "$@") | $(ls_run "$t" "$udp_ep" "$udp_vm" --max-frame=$((mtu - 28)) "$@") |"
}

echo "| MTU | measure | pcap | packet$popts | udp |"
echo "|---|---|---|---|---|"
for mtu in ${BENCH_MTUS:-1500 9000}; do
    ip -n "$VM_NS" link set "$VM_IF" mtu "$mtu"
    ip -n "$EP_NS" link set "$EP_IF" mtu "$mtu"
    pcap_vm="pcap:$VM_IF" pcap_ep="pcap:$EP_IF"
    pk_vm="packet:$VM_IF$popts" pk_ep="packet:$EP_IF$popts"
    udp_vm="udp:$net.2:$port" udp_ep="udp::$port"
    big_pcap=$((mtu + 14)) big_udp=$((mtu - 28))   # IPv4 + UDP headers
    echo "| $mtu | RTT us median / p99, 64 B | $(rtt "$pcap_ep" "$pcap_vm" --size=64) | $(rtt "$pk_ep" "$pk_vm" --size=64) | $(rtt "$udp_ep" "$udp_vm" --size=64) |"
    echo "| $mtu | RTT us, largest frame (raw $big_pcap B, udp $big_udp B) | $(rtt "$pcap_ep" "$pcap_vm" --size=$big_pcap) | $(rtt "$pk_ep" "$pk_vm" --size=$big_pcap) | $(rtt "$udp_ep" "$udp_vm" --size=$big_udp) |"
    echo "| $mtu | RTT us, busy polling, 64 B | $(rtt "$pcap_ep" "$pcap_vm" --size=64 --busy-poll) | $(rtt "$pk_ep" "$pk_vm" --size=64 --busy-poll) | $(rtt "$udp_ep" "$udp_vm" --size=64 --busy-poll) |"
    echo "| $mtu | stream, largest frame, burst 1 | $(stream "$pcap_ep" "$pcap_vm" --size=$big_pcap) | $(stream "$pk_ep" "$pk_vm" --size=$big_pcap) | $(stream "$udp_ep" "$udp_vm" --size=$big_udp) |"
    echo "| $mtu | stream, largest frame, burst 32 | $(stream "$pcap_ep" "$pcap_vm" --size=$big_pcap --burst=32) | $(stream "$pk_ep" "$pk_vm" --size=$big_pcap --burst=32) | $(stream "$udp_ep" "$udp_vm" --size=$big_udp --burst=32) |"
    for n in pcap packet udp; do
        cp "$tmp/stream-$n" "$tmp/b32-$n"
    done
    if [ "$mtu" -lt 9000 ]; then
        echo "| $mtu | stream, 9014 B frames (udp: IP fragments), burst 32 | n/a | n/a | $(stream "$udp_ep" "$udp_vm" --size=9014 --burst=32) |"
    fi
    if [ -x "$session" ]; then
        if [ -n "$before" ] && [ "$mtu" = 1500 ]; then
            # Its frames are 1514 bytes, too large for udp at this MTU.
            echo "| $mtu | link stream, MWr 1-16 DW, before: $before | n/a | $(ls_run "$before" "$pk_ep" "$pk_vm") | n/a |"
        fi
        link "link stream, MWr 1-16 DW, burst 1" "$session" --burst=1
        link "link stream, MWr 1-16 DW, burst 32" "$session" --burst=32
        link "link stream, MWr 64 DW, burst 1" "$session" --burst=1 --tlp-dw=64
        link "link stream, MWr 64 DW, burst 32" "$session" --burst=32 --tlp-dw=64
    fi
    ip netns exec "$EP_NS" timeout 30 iperf3 -s -1 > /dev/null 2>&1 &
    sleep 0.3
    if ip netns exec "$VM_NS" timeout 30 iperf3 -c "$net.2" -t 5 -J > "$tmp/iperf.json" 2> /dev/null; then
        tcp_MBps=$(json "$tmp/iperf.json" 'j["end"]["sum_received"]["bits_per_second"] / 8e6')
        tcp=$(printf "%.0f MB/s" "$tcp_MBps")
    else
        tcp=failed tcp_MBps=0
    fi
    wait
    echo "| $mtu | iperf3 TCP, 5 s, one stream (kernel floor) | $tcp | $tcp | $tcp |"
    echo "| $mtu | raw stream, burst 32, against TCP | $(ratio pcap) | $(ratio packet) | $(ratio udp) |"
done
