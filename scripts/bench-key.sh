#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, the cost of a key: the same measurements with the session keyed
# (-object secret on both sides: HELLO proven, every frame sealed with
# AES-128-GCM) and unkeyed, alternated in one run so that both see the same
# machine. For each: 1400 B and 1 MiB DMA reads and writes of vrc-dma-bench at
# MTU 1500 with host CPU per GB (scripts/bench-dma.py), and the guest's view
# through a remote e1000e: register read round trip (vrc-regbench), ping and
# TCP (scripts/remote-nic.sh). Reports key on as a ratio to key off. Never
# fails on a figure, only when a measurement could not be taken.
# Usage: bench-key.sh OUT-PREFIX       (writes OUT-PREFIX-key.json and .md)
# VRC_BENCH_QUICK=1 cuts repetitions.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:?usage: bench-key.sh OUT-PREFIX}
qemu=$top/build/qemu-system-x86_64
work=$(mktemp -d)
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
trap 'vrc_netns_down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
vrc_netns_probe || { echo "bench-key: cannot create network namespaces: run as root" >&2; exit 1; }
rounds=3; dma_runs=10; file_mb=8; pings=30
if [ "${VRC_BENCH_QUICK:-0}" = 1 ]; then rounds=1; dma_runs=2; file_mb=4; pings=5; fi
head -c 32 /dev/urandom | base64 > "$work/key"

: > "$work/key.jsonl"
for round in $(seq "$rounds"); do
    for keyed in 0 1; do
        echo "vrc bench: key $([ $keyed = 1 ] && echo on || echo off), round $round of $rounds" >&2
        key_arg=()
        [ "$keyed" = 1 ] && key_arg=(--key "$work/key")
        VRC_MTU=1500 vrc_netns_up "vrcbk$$"
        python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --runs "$dma_runs" \
            --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" --ep-if "$EP_IF" \
            --ep-mac "$EP_MAC" --sizes 1400,1048576 "${key_arg[@]}" \
            --log "$work/dma.log" > "$work/dma.jsonl" || true
        vrc_netns_down
        VRC_KEY=$keyed VRC_XFERS=1 VRC_FILE_MB=$file_mb VRC_PINGS=$pings \
            VRC_REGBENCH="--bar=0 --offset=0x8" \
            bash "$top/scripts/remote-nic.sh" e1000e > "$work/nic.txt" 2>&1 || true
        python3 - "$keyed" "$round" "$work/dma.jsonl" "$work/nic.txt" >> "$work/key.jsonl" <<'PY'
import json, re, sys
keyed, rnd, dma, nic = sys.argv[1:5]
r = {"keyed": keyed == "1", "round": int(rnd)}
for line in open(dma):
    d = json.loads(line)
    k = f"dma_{d['direction']}_{d['size']}"
    r[k + "_us"] = d["us_median"]
    r[k + "_MBps"] = d["MBps_total"]
    r[k + "_cpu_s_per_GB"] = d["cpu_s_per_GB"]
text = open(nic).read()
m = re.search(r"registers: +(\{.*\})", text)
if m:
    reg = json.loads(m.group(1))
    r["mmio_read_us"] = reg["mmio_read_us"]["median"]
    r["mmio_read_min_us"] = reg["mmio_read_us"]["min"]
    r["cfg_read_us"] = reg["cfg_read_us"]["median"]
m = re.search(r"rtt min/avg/max ([0-9.]+)/([0-9.]+)/", text)
if m:
    r["ping_avg_ms"] = float(m.group(2))
m = re.search(r"TCP: .*\(([0-9.]+) MB/s\)", text)
if m:
    r["tcp_MBps"] = float(m.group(1))
r["sha256_intact"] = "(match)" in text
print(json.dumps(r))
PY
    done
done

python3 - "$work/key.jsonl" "$prefix" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
prefix = sys.argv[2]
keys = sorted({k for r in rows for k in r if isinstance(r[k], float) or
               (isinstance(r[k], int) and k != "round" and not isinstance(r[k], bool))})
def med(keyed, k):
    v = [r[k] for r in rows if r["keyed"] == keyed and r.get(k) is not None]
    return statistics.median(v) if v else None
summary = {k: {"off": med(False, k), "on": med(True, k)} for k in keys}
json.dump({"rounds": rows, "median": summary}, open(prefix + "-key.json", "w"), indent=1)
labels = [
    ("mmio_read_us", "register read in the guest (e1000e STATUS), µs"),
    ("mmio_read_min_us", "register read in the guest, fastest of 2000, µs"),
    ("cfg_read_us", "config read in the guest, µs"),
    ("ping_avg_ms", "guest ping through the e1000e, ms"),
    ("tcp_MBps", "guest TCP through the e1000e, MB/s"),
    ("dma_read_1400_us", "DMA read 1400 B, µs"),
    ("dma_write_1400_us", "DMA write 1400 B, µs"),
    ("dma_read_1048576_MBps", "DMA read 1 MiB, MB/s"),
    ("dma_write_1048576_MBps", "DMA write 1 MiB, MB/s"),
    ("dma_read_1048576_cpu_s_per_GB", "DMA read 1 MiB, host CPU s/GB (both QEMUs)"),
    ("dma_write_1048576_cpu_s_per_GB", "DMA write 1 MiB, host CPU s/GB (both QEMUs)"),
]
with open(prefix + "-key.md", "w") as f:
    f.write("## The cost of a key (sealed sessions against unkeyed, same run)\n\n")
    f.write(f"Medians of {max(r['round'] for r in rows)} alternating rounds, MTU 1500, the default "
            "raw Ethernet transport (ifname=). Targets (issue): register read at most 1.15x, CPU per GB at most "
            "1.3x key off.\n\n")
    f.write("| measure | key off | key on | on / off |\n|---|---|---|---|\n")
    for k, label in labels:
        off, on = summary.get(k, {}).get("off"), summary.get(k, {}).get("on")
        ratio = f"{on / off:.2f}x" if off and on else "n/a"
        f.write(f"| {label} | {off if off is not None else 'n/a'} | "
                f"{on if on is not None else 'n/a'} | {ratio} |\n")
    bad = [r for r in rows if not r.get("sha256_intact")]
    if bad:
        f.write(f"\n{len(bad)} guest run(s) did not move the file intact.\n")
print(open(prefix + "-key.md").read())
missing = [k for k, _ in labels if None in summary.get(k, {"off": None}).values()]
if missing:
    sys.exit("bench-key: no figure for: " + ", ".join(missing))
PY
