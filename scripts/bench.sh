#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: what a remote device costs, side by side in one run on one
# machine. Reports figures and ratios; never fails on a timing (only when a
# measurement could not be taken at all).
#   1. the floor: raw frame round trips over the same veth and the same
#      transport code (tools/vrc-pingpong), blocking and busy-polling;
#   2. the guest's view: ping RTT and TCP throughput through a remote e1000e
#      and through the same e1000e plugged in locally, same guest and backend.
# Writes bench/results/<time>.json and bench/results/<time>.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
pingpong=$top/build/host/tools/vrc-pingpong
work=$(mktemp -d)
mkdir -p "$out"
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
trap 'vrc_netns_down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
vrc_netns_probe

# floor SIZE MTU BUSY: one vrc-pingpong run, its JSON line to stdout.
floor() {
    local size=$1 mtu=$2 busy=$3 args=()
    [ "$busy" = 1 ] && args=(--busy-poll)
    VRC_MTU=$mtu vrc_netns_up "vrcbench$$"
    ip netns exec "$EP_NS" "$pingpong" --mode=pong --ifname="$EP_IF" \
        --count 5000 "${args[@]}" > /dev/null 2>&1 &
    ip netns exec "$VM_NS" "$pingpong" --mode=ping --ifname="$VM_IF" \
        --peer="$EP_MAC" --size "$size" --count 5000 "${args[@]}" --json | tail -1
    wait
    vrc_netns_down
}

echo "vrc bench $stamp: floor (raw frames over veth + libpcap)" >&2
: > "$work/floor.jsonl"
for spec in "64 1500 0" "1500 1500 0" "9014 9000 0" "64 1500 1" "1500 1500 1" "9014 9000 1"; do
    # shellcheck disable=SC2086
    floor $spec >> "$work/floor.jsonl"
done

echo "vrc bench: guest ping and TCP, remote vs local e1000e" >&2
for mode in pcap local; do
    VRC_TRANSPORT=$mode VRC_PINGS=20 VRC_FILE_MB=16 \
        bash "$top/scripts/remote-nic.sh" e1000e > "$work/guest-$mode.txt" 2>&1
done

python3 - "$work" "$out/$stamp" "$top" <<'PY'
import json, os, platform, re, subprocess, sys
work, base, top = sys.argv[1:4]

def guest(mode):
    t = open(f"{work}/guest-{mode}.txt").read()
    rtt = re.search(r"rtt min/avg/max ([\d.]+)/([\d.]+)/([\d.]+) ms", t)
    tcp = re.search(r"TCP:\s+(\d+) bytes in ([\d.]+)s", t)
    ok = "remote-nic: OK" in t
    return {
        "ok": ok,
        "ping_rtt_ms": dict(zip(("min", "avg", "max"), map(float, rtt.groups()))) if rtt else None,
        "tcp_MBps": round(int(tcp.group(1)) / float(tcp.group(2)) / 1e6, 2) if tcp else None,
    }

floor = [json.loads(l) for l in open(f"{work}/floor.jsonl") if l.startswith("{")]
res = {
    "machine": {
        "cpus": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), "?"),
        "kernel": platform.release(),
    },
    "git": subprocess.run(["git", "-C", top, "describe", "--always", "--dirty"],
                          capture_output=True, text=True).stdout.strip(),
    "floor": floor,
    "guest": {"remote_e1000e_pcap": guest("pcap"), "local_e1000e": guest("local")},
    "not_measured_yet": ["register RTT", "DMA MB/s by size", "host CPU per GB",
                         "per-stage cost table", "virtio-net-pci", "plots"],
}
json.dump(res, open(base + ".json", "w"), indent=2)

r, l = res["guest"]["remote_e1000e_pcap"], res["guest"]["local_e1000e"]
def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"
lines = ["# vrc bench " + os.path.basename(base), "",
         f"Machine: {res['machine']['cpus']} CPUs, {res['machine']['cpu']}, kernel {res['machine']['kernel']}; git {res['git']}", "",
         "## Floor: raw frame round trip (veth + libpcap, 5000 frames)", "",
         "| frame | mode | median µs | p99 µs |", "|---|---|---|---|"]
for f in floor:
    lines.append(f"| {f['size']} B | {'busy-poll' if f['busy_poll'] else 'blocking'} | "
                 f"{f['rtt_us']['median']:.1f} | {f['rtt_us']['p99']:.1f} |")
lines += ["", "## Guest: the same e1000e, remote vs local (TCG guest, slirp backend)", "",
          "| figure | remote (vrc, pcap) | local | remote/local |", "|---|---|---|---|"]
if r["ping_rtt_ms"] and l["ping_rtt_ms"]:
    for k in ("min", "avg"):
        lines.append(f"| ping RTT {k}, ms (64 B) | {r['ping_rtt_ms'][k]:.3f} | {l['ping_rtt_ms'][k]:.3f} | "
                     f"{ratio(r['ping_rtt_ms'][k], l['ping_rtt_ms'][k])} |")
lines.append(f"| TCP 16 MB, MB/s | {r['tcp_MBps']} | {l['tcp_MBps']} | {ratio(r['tcp_MBps'], l['tcp_MBps'])} |")
lines += ["", "Not measured yet: " + ", ".join(res["not_measured_yet"]) + "."]
open(base + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
if not (r["ok"] and l["ok"] and floor):
    sys.exit("bench: a measurement could not be taken (see above)")
PY
echo "results: bench/results/$stamp.json, bench/results/$stamp.md" >&2
