#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# configd at scale (part of make bench; not a test: it never fails on a
# figure, only when a measurement cannot be taken).  configd in one network
# namespace, vrc-epsim with N simulated endpoint functions (default 1000,
# distinct MACs, heartbeat 1 s) in another, joined by veth:
#   1. discovery: configd started cold next to N heartbeating functions,
#      time until `status` counts all N up (its SOLICIT answered within
#      0..100 ms, plus the store writes of N new endpoints);
#   2. attach and detach latency, median and p99 over M cycles, on one
#      control connection (request to reply: store CAS, ASSIGN/RELEASE,
#      ACK, store update), and once through vrcctl (process start included);
#   3. configd's RSS and CPU while idle with N functions heartbeating.
# Writes bench/results/<time>-configd.txt.  VRC_BENCH_QUICK=1: N=200, M=50.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
B=$top/build/host
out=$top/bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
n=${VRC_BENCH_FUNCTIONS:-1000}
cycles=200
idle_s=10
if [ "${VRC_BENCH_QUICK:-0}" = 1 ]; then n=200; cycles=50; idle_s=3; fi
work=$(mktemp -d)
sock=$work/configd.sock
pids=()
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
vrc_netns_probe || { echo "bench-configd: cannot create network namespaces: run as root" >&2; exit 1; }
for f in "$B/configd/configd" "$B/configd/vrcctl" "$B/tools/vrc-epsim"; do
    [ -x "$f" ] || { echo "bench-configd: $f is missing: build first" >&2; exit 1; }
done
mkdir -p "$out"
vrc_netns_up vrcbench >/dev/null
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
ctl() { "$B/configd/vrcctl" --socket "$sock" "$@"; }

echo "bench-configd: $n functions" >&2
ip netns exec "$EP_NS" "$B/tools/vrc-epsim" -i "$EP_IF" -n "$n" --interval 1000 \
    --quiet 2> "$work/epsim.log" &
pids+=($!)
epsim=$!
until grep -qs '^epsim:' "$work/epsim.log"; do sleep 0.05; done
sleep 1.5     # every function has sent a heartbeat into the void by now

t0=$(now_ms)
ip netns exec "$VM_NS" "$B/configd/configd" --insecure -i "$VM_IF" --socket "$sock" \
    --db "$work/configd.db" 2> "$work/configd.log" &
pids+=($!)
configd=$!
up=0
deadline=$(( t0 + 60000 ))
while [ "$up" != "$n" ]; do
    up=$(ctl status 2>/dev/null | jq .endpoints_up 2>/dev/null || echo 0)
    [ "$(now_ms)" -lt $deadline ] || { echo "bench-configd: only $up of $n discovered in 60 s" >&2; exit 1; }
    [ "$up" = "$n" ] || sleep 0.02
done
discovery_ms=$(( $(now_ms) - t0 ))

# Attach/detach cycles on one connection, timed in the client.
lat=$(python3 - "$sock" "$cycles" "$n" <<'PY'
import json, socket, statistics, sys, time
path, cycles, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("rw")
def call(req):
    f.write(json.dumps(req) + "\n"); f.flush()
    r = json.loads(f.readline())
    if not r["ok"]:
        raise SystemExit("bench-configd: %s: %s" % (req["cmd"], r["error"]["message"]))
    return r
vm = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
vm.connect(path)
vm.sendall(json.dumps({"cmd": "vm-register", "name": "benchvm", "mac": "52:54:00:be:0c:01",
                       "rc_id": 1, "slots": 64}).encode() + b"\n")
vm.recv(65536)
att, det = [], []
for i in range(cycles):
    ep = "02:76:72:%02x:%02x:%02x.0" % (((i % n) + 1) >> 16, (((i % n) + 1) >> 8) & 255, ((i % n) + 1) & 255)
    t = time.perf_counter(); call({"cmd": "attach", "endpoint": ep, "vm": "benchvm"}); att.append(time.perf_counter() - t)
    t = time.perf_counter(); call({"cmd": "detach", "endpoint": ep}); det.append(time.perf_counter() - t)
def p(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000
print("%.2f %.2f %.2f %.2f" % (statistics.median(att) * 1000, p(att, 0.99),
                               statistics.median(det) * 1000, p(det, 0.99)))
vm.close()
PY
)
read -r att_med att_p99 det_med det_p99 <<<"$lat"

# The same through vrcctl: what an operator waits for.
ctl_cycles=20
[ "${VRC_BENCH_QUICK:-0}" = 1 ] && ctl_cycles=5
ip netns exec "$VM_NS" true
python3 - "$sock" > "$work/vm.out" <<'PY' &
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(json.dumps({"cmd": "vm-register", "name": "ctlvm", "mac": "52:54:00:be:0c:02",
                      "rc_id": 2, "slots": 64}).encode() + b"\n")
time.sleep(3600)
PY
pids+=($!)
until ctl vms --json 2>/dev/null | jq -e '.vms[] | select(.name == "ctlvm" and .state == "connected")' >/dev/null; do sleep 0.05; done
samples=()
for i in $(seq 1 $ctl_cycles); do
    ep=$(printf '02:76:72:00:%02x:%02x' $(( (i + 500 % n) >> 8 & 255 )) $(( (i + 500 % n) & 255 )))
    t=$(date +%s%N); ctl attach "$ep" ctlvm >/dev/null; samples+=($(( ($(date +%s%N) - t) / 1000 )))
    ctl detach "$ep" >/dev/null
done
ctl_med=$(printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}')

# Idle: N functions heartbeating (N ANNOUNCEs per second), nothing else.
clk=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
c0=$(cpu $configd); e0=$(cpu $epsim); t0=$(now_ms)
sleep "$idle_s"
c1=$(cpu $configd); e1=$(cpu $epsim); t1=$(now_ms)
cpu_pct=$(awk -v d=$((c1 - c0)) -v hz=$clk -v ms=$((t1 - t0)) 'BEGIN {printf "%.2f", 100 * d / hz / (ms / 1000)}')
epsim_pct=$(awk -v d=$((e1 - e0)) -v hz=$clk -v ms=$((t1 - t0)) 'BEGIN {printf "%.2f", 100 * d / hz / (ms / 1000)}')
rss=$(awk '/VmRSS/ {print $2}' "/proc/$configd/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$configd/status")
anon=$(awk '/RssAnon/ {print $2}' "/proc/$configd/status")
# Most of the RSS is libpcap's receive ring (mapped from the packet socket).
ring=$(awk '/^[0-9a-f]+-/ {name=$6} /^Rss:/ && name ~ /^socket:/ {s += $2} END {print s + 0}' \
       "/proc/$configd/smaps")
drops=$(ctl status | jq -c .disc_drops)

report="configd at scale ($stamp, $(git -C "$top" rev-parse --short HEAD), $(nproc) CPUs)
functions simulated          $n (distinct MACs, heartbeat 1000 ms)
discovery, cold start        $discovery_ms ms until all $n are up
attach latency               median $att_med ms, p99 $att_p99 ms ($cycles cycles, one connection)
detach latency               median $det_med ms, p99 $det_p99 ms
attach through vrcctl        median $ctl_med ms ($ctl_cycles runs, process start included)
configd RSS idle             $rss KiB (peak $hwm KiB): heap and stacks $anon KiB, libpcap ring $ring KiB
configd CPU idle             $cpu_pct % of one CPU over ${idle_s} s ($n ANNOUNCE/s)
vrc-epsim CPU                $epsim_pct % (for reference)
DISC drops at configd        $drops"
echo "$report"
echo "$report" > "$out/$stamp-configd.txt"
