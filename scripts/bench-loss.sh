#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, on a lossy wire: the two hosts joined through a third namespace
# where tools/vrc-relay damages vrc frames at the rates given. For each mix:
# TCP through a remote e1000e (the guest's view, scripts/remote-nic.sh) and
# 1 MiB DMA reads and writes of vrc-dma-bench (scripts/bench-dma.py), each as
# a ratio to the clean relay in the same run. Never fails on a figure, only
# when a measurement could not be taken.
# Usage: bench-loss.sh OUT-PREFIX      (writes OUT-PREFIX-loss.json and .md)
# VRC_BENCH_QUICK=1 cuts repetitions.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:?usage: bench-loss.sh OUT-PREFIX}
qemu=$top/build/qemu-system-x86_64
relay=$top/build/host/tools/vrc-relay
work=$(mktemp -d)
relay_pid=
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    [ -z "$relay_pid" ] || kill "$relay_pid" 2>/dev/null || true
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
vrc_netns_probe || { echo "bench-loss: cannot create network namespaces: run as root" >&2; exit 1; }
xfers=3; file_mb=8; dma_runs=10
if [ "${VRC_BENCH_QUICK:-0}" = 1 ]; then xfers=1; file_mb=4; dma_runs=2; fi

mixes=(
    "clean|--loss=0"
    "0.1% loss|--loss=0.001"
    "1% loss|--loss=0.01"
    "5% loss|--loss=0.05"
    "5% loss, 5% dup, 10% reorder, 1% corrupt|--loss=0.05 --dup=0.05 --reorder=0.1 --corrupt=0.01"
)

: > "$work/loss.jsonl"
for m in "${mixes[@]}"; do
    name=${m%%|*}
    spec="${m#*|} --seed=7"
    echo "vrc bench: lossy wire: $name" >&2
    # TCP through the remote e1000e: the median of $xfers transfers.
    VRC_RELAY=$spec VRC_XFERS=$xfers VRC_FILE_MB=$file_mb VRC_PINGS=5 \
        bash "$top/scripts/remote-nic.sh" e1000e > "$work/nic.txt" 2>&1 || true
    tcp=$(sed -n 's/.*TCP: .*(\([0-9.]*\) MB\/s).*/\1/p' "$work/nic.txt" | tail -1)
    retx=$(sed -n 's/.*; \([0-9]*\) retransmits, \([0-9]*\) timeouts.*/\1 \2/p' "$work/nic.txt" | tail -1)
    lossy=$(sed -n 's/.*\[lossy-ons=\([0-9]*\)\]\[needless=\([0-9]*\)\].*/\1 \2/p' "$work/nic.txt" | tail -1)
    intact=$(grep -q '(match)' "$work/nic.txt" && echo true || echo false)
    # 1 MiB DMA through the same kind of wire.
    vrc_netns_up_relay "vrcbl$$"
    # shellcheck disable=SC2086
    ip netns exec "$MID_NS" "$relay" --ethertype=0x88b5 $spec "$MID_VM_IF" "$MID_EP_IF" \
        > "$work/relay.json" 2> "$work/relay.log" &
    relay_pid=$!
    python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --runs "$dma_runs" \
        --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" --ep-if "$EP_IF" \
        --ep-mac "$EP_MAC" --sizes 1048576 --log "$work/dma.log" > "$work/dma.jsonl" || true
    kill -INT "$relay_pid"; wait "$relay_pid" 2>/dev/null || true
    relay_pid=
    vrc_netns_down
    python3 - "$name" "$spec" "${tcp:-}" "${retx:-}" "$intact" "$work/dma.jsonl" \
        "$work/relay.json" "${lossy:-}" >> "$work/loss.jsonl" <<'PY'
import json, sys
name, spec, tcp, retx, intact, dma, relay, lossy = sys.argv[1:9]
r = {"mix": name, "relay": spec, "tcp_MBps": float(tcp) if tcp else None,
     "sha256_intact": intact == "true"}
if retx:
    r["retransmits"], r["timeouts"] = map(int, retx.split())
if lossy:
    r["lossy_mode_ons"], r["resends_needless"] = map(int, lossy.split())
for line in open(dma):
    d = json.loads(line)
    r[f"dma_{d['direction']}_MBps"] = d["MBps_total"]
try:
    rl = json.load(open(relay))
    r["relay_lost"] = sum(rl[d]["dropped"] for d in ("a2b", "b2a"))
    r["relay_in"] = sum(rl[d]["in"] for d in ("a2b", "b2a"))
except (OSError, ValueError, KeyError):
    pass
print(json.dumps(r))
PY
done

python3 - "$work/loss.jsonl" "$prefix" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clean = rows[0]
def ratio(r, k):
    if r.get(k) is None or not clean.get(k):
        return "n/a"
    return f"{r[k] / clean[k]:.2f}x"
def val(v, unit=""):
    return "n/a" if v is None else f"{v}{unit}"
json.dump(rows, open(sys.argv[2] + "-loss.json", "w"), indent=1)
with open(sys.argv[2] + "-loss.md", "w") as f:
    f.write("## On a lossy wire (tools/vrc-relay between the hosts)\n\n")
    f.write("Ratios are to the clean relay in the same run. TCP: the median of the guest's "
            "transfers through a remote e1000e; DMA: 1 MiB reads and writes of "
            "vrc-dma-bench.\n\n")
    f.write("Retransmits, needless (the peer reported it held the frame already) and lossy "
            "mode: the endpoint's link, over the TCP run.\n\n")
    f.write("| mix | TCP MB/s | TCP vs clean | DMA read MB/s | vs clean | DMA write MB/s "
            "| vs clean | retransmits | of them needless | lossy mode on | "
            "completion timeouts | data intact |\n")
    f.write("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        f.write(f"| {r['mix']} | {val(r.get('tcp_MBps'))} | {ratio(r, 'tcp_MBps')} | "
                f"{val(r.get('dma_read_MBps'))} | {ratio(r, 'dma_read_MBps')} | "
                f"{val(r.get('dma_write_MBps'))} | {ratio(r, 'dma_write_MBps')} | "
                f"{val(r.get('retransmits'))} | {val(r.get('resends_needless'))} | "
                f"{val(r.get('lossy_mode_ons'))} | {val(r.get('timeouts'))} | "
                f"{'yes' if r['sha256_intact'] else 'NO'} |\n")
print(open(sys.argv[2] + "-loss.md").read())
missing = [r["mix"] for r in rows if r.get("tcp_MBps") is None or r.get("dma_read_MBps") is None]
if missing:
    sys.exit("bench-loss: no figure for: " + ", ".join(missing))
PY
