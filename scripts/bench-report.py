#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench, last step: gather what scripts/bench.sh measured into one JSON
file, a Markdown report and PNG plots (gnuplot).

Usage: bench-report.py WORKDIR OUTBASE TOPDIR
Reads WORKDIR/{floor,stream,dma}.jsonl, stages.json, guest-MODEL-MODE.txt;
writes OUTBASE.json, OUTBASE.md, OUTBASE-throughput.png, OUTBASE-latency.png.
Exits non-zero only if a measurement is missing altogether.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

work, base, top = sys.argv[1:4]
missing = []


def jsonl(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        missing.append(name)
        return []
    return [json.loads(line) for line in open(path) if line.startswith("{")]


def quantile(v, q):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(q * len(v) + 0.999999) - 1))] if v else None


def guest(model, mode):
    path = os.path.join(work, f"guest-{model}-{mode}.txt")
    t = open(path).read() if os.path.exists(path) else ""
    times = re.search(r"ping times: ([\d. ]+)", t)
    times = [float(x) for x in times.group(1).split()] if times else []
    # The first ping also resolves ARP: leave it out of the figures.
    times = times[1:] if len(times) > 2 else times
    tcp = re.search(r"TCP:\s+(\d+) bytes in ([\d.]+)s", t)
    runs = re.search(r"TCP runs:\s+([\d. ]+) MB/s", t)
    runs = [float(x) for x in runs.group(1).split()] if runs else []
    regs = re.search(r"registers:\s+(\{.*\})", t)
    cpu = re.search(r"endpoint CPU: ([\d.]+) s", t)
    ok = "remote-nic: OK" in t
    if not ok:
        missing.append(f"guest {model} {mode}")
    r = {
        "ok": ok,
        "ping_ms": {"median": statistics.median(times), "p99": quantile(times, 0.99),
                    "min": min(times), "count": len(times)} if times else None,
        "tcp_bytes": int(tcp.group(1)) if tcp else None,
        "tcp_MBps": round(int(tcp.group(1)) / float(tcp.group(2)) / 1e6, 2) if tcp else None,
        "tcp_runs_MBps": runs,
        "tcp_MBps_worst": min(runs) if runs else None,
        "registers": json.loads(regs.group(1)) if regs else None,
        "endpoint_cpu_s": float(cpu.group(1)) if cpu else None,
    }
    if r["endpoint_cpu_s"] is not None and r["tcp_bytes"]:
        moved = r["tcp_bytes"] * max(len(runs), 1)      # every transfer
        r["endpoint_cpu_s_per_GB"] = round(r["endpoint_cpu_s"] / (moved / 1e9), 1)
    return r


def ratio(a, b, fmt="{:.2f}x"):
    return fmt.format(a / b) if a and b else "n/a"


floor = jsonl("floor.jsonl")
streams = jsonl("stream.jsonl")
dma_all = jsonl("dma.jsonl")
# Runs with the endpoint spinning (poll-us) are compared on their own.
dma = [d for d in dma_all if not d.get("ep_opts")]
dma_poll = [d for d in dma_all if d.get("ep_opts")]
stages = {}
if os.path.exists(os.path.join(work, "stages.json")):
    stages = json.load(open(os.path.join(work, "stages.json")))
else:
    missing.append("stages.json")

stream_by_mtu = {}
for s in streams:
    mtu = 9000 if s["size"] > 1514 else 1500
    stream_by_mtu.setdefault(mtu, []).append(s["MBps"])
raw_MBps = {m: statistics.median(v) for m, v in stream_by_mtu.items()}
floor_rtt = {(f["size"], f["busy_poll"]): f["rtt_us"] for f in floor}
floor64 = floor_rtt.get((64, False), {}).get("median")

models = ("e1000e", "virtio-net-pci")
g = {m: {"remote": guest(m, "pcap"), "local": guest(m, "local")} for m in models}

res = {
    "machine": {
        "cpus": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), "?"),
        "kernel": platform.release(),
    },
    "git": subprocess.run(["git", "-C", top, "describe", "--always", "--dirty"],
                          capture_output=True, text=True).stdout.strip(),
    "floor_rtt": floor,
    "floor_stream": streams,
    "floor_stream_MBps_median": raw_MBps,
    "dma": dma_all,
    "stages": stages,
    "guest": g,
    "missing": missing,
}

# ---- Markdown ----
md = [f"# vrc bench {os.path.basename(base)}", "",
      f"Machine: {res['machine']['cpus']} CPUs, {res['machine']['cpu']}, kernel "
      f"{res['machine']['kernel']}; git {res['git']}. Guests under TCG.", ""]

md += ["## 1. The floor: raw frames over veth + libpcap (vrc-pingpong)", "",
       "| frame | mode | RTT median µs | p99 µs |", "|---|---|---|---|"]
for f in floor:
    md.append(f"| {f['size']} B | {'busy-poll' if f['busy_poll'] else 'blocking'} | "
              f"{f['rtt_us']['median']:.1f} | {f['rtt_us']['p99']:.1f} |")
md += ["", "| raw throughput, one way | runs | MB/s median | frames/s |", "|---|---|---|---|"]
for mtu in sorted(stream_by_mtu):
    runs = [s for s in streams if (9000 if s["size"] > 1514 else 1500) == mtu]
    md.append(f"| {runs[0]['size']} B frames (MTU {mtu}), window {runs[0]['window']} | "
              f"{len(runs)} | {raw_MBps[mtu]:.1f} | "
              f"{statistics.median(r['frames_per_s'] for r in runs):.0f} |")

md += ["", "## 2. Register read round trip, in the guest (vrc-regbench, 2000 reads)", "",
       "| device | access | remote median µs | p99 | local median µs | p99 | remote/local | "
       "remote / floor RTT (64 B) |", "|---|---|---|---|---|---|---|---|"]
def register_rows(name, r, l):
    """Rows of the register table: remote @r against local @l (regbench)."""
    for key, label in (("mmio_read_us", "MMIO read"), ("cfg_read_us", "config read")):
        if r and l:
            md.append(f"| {name} | {label} | {r[key]['median']:.1f} | {r[key]['p99']:.1f} | "
                      f"{l[key]['median']:.2f} | {l[key]['p99']:.2f} | "
                      f"{ratio(r[key]['median'], l[key]['median'], '{:.0f}x')} | "
                      f"{ratio(r[key]['median'], floor64)} |")
        else:
            md.append(f"| {name} | {label} | n/a | | n/a | | | |")


for m in models:
    register_rows(m, g[m]["remote"]["registers"], g[m]["local"]["registers"])
gp = guest("e1000e", "poll")
res["guest"]["e1000e"]["remote_poll_us_200"] = gp
register_rows("e1000e, poll-us=200 both sides", gp["registers"],
              g["e1000e"]["local"]["registers"])

md += ["", "## 3. DMA: vrc-dma-bench moving guest memory (per transfer)", "",
       "Remote: hosted by the endpoint, over veth + libpcap. Local: the same device in the "
       "VM's root port. CPU: both QEMU processes, all threads, per GB moved.", "",
       "| size | dir | local MB/s | remote 1500 MB/s (p99 µs) | remote 9000 MB/s (p99 µs) | "
       "remote/local | remote / raw, MTU 1500 | MTU 9000 | CPU s/GB local, remote 1500, 9000 |",
       "|---|---|---|---|---|---|---|---|---|"]
by = {(d["mode"], d["mtu"], d["direction"], d["size"]): d for d in dma}
for size in sorted({d["size"] for d in dma}):
    for direction in ("read", "write"):
        lo = by.get(("local", None, direction, size))
        r1 = by.get(("remote", 1500, direction, size))
        r9 = by.get(("remote", 9000, direction, size))
        cell = lambda d: f"{d['MBps_median']:.1f} ({d['us_p99']:.0f})" if d else "n/a"
        md.append(
            f"| {size} | {direction} | {lo['MBps_median'] if lo else 'n/a'} | {cell(r1)} | "
            f"{cell(r9)} | {ratio(r1 and r1['MBps_median'], lo and lo['MBps_median'])} | "
            f"{ratio(r1 and r1['MBps_median'], raw_MBps.get(1500), '{:.0%}')} | "
            f"{ratio(r9 and r9['MBps_median'], raw_MBps.get(9000), '{:.0%}')} | "
            f"{lo and lo['cpu_s_per_GB']}, {r1 and r1['cpu_s_per_GB']}, "
            f"{r9 and r9['cpu_s_per_GB']} |")
r1m = [d for d in dma if d["mode"] == "remote" and d["mtu"] == 1500 and d["size"] >= 140000]
if r1m:
    cpu = statistics.median(d["cpu_s_per_GB"] for d in r1m)
    md += ["", f"Host CPU through the remote path (DMA ≥ 140 KB, MTU 1500, both processes): "
           f"{cpu:.1f} s per GB, i.e. {cpu * 0.125:.2f} CPU-seconds per second per Gbit/s."]

if dma_poll:
    md += ["", f"Remote, MTU 1500, the endpoint spinning for its DMA reads' completions "
           f"(`-machine vrc-endpoint{dma_poll[0]['ep_opts']}`) against the plain remote "
           "rows above. The VM side here is qtest, so a core is free to spin on.", "",
           "| size | dir | remote µs median | with poll-us µs | poll/plain time | "
           "CPU s/GB plain, poll |", "|---|---|---|---|---|---|"]
    for d in sorted(dma_poll, key=lambda d: (d["size"], d["direction"])):
        r1 = by.get(("remote", 1500, d["direction"], d["size"]))
        md.append(f"| {d['size']} | {d['direction']} | {r1['us_median'] if r1 else 'n/a'} | "
                  f"{d['us_median']} | {ratio(d['us_median'], r1 and r1['us_median'])} | "
                  f"{r1 and r1['cpu_s_per_GB']}, {d['cpu_s_per_GB']} |")

md += ["", "## 4. Per-stage cost (trace timestamps on both sides, MTU 1500)", ""]
rr = stages.get("register_read")
if rr:
    trap = g["e1000e"]["local"]["registers"]
    remote = g["e1000e"]["remote"]["registers"]
    traced = rr["total_us"]
    md += [f"One register read, {rr['count']} reads traced; traced total {traced} µs. "
           "The trap is the local read of the same register in the guest; the other "
           "stages are shares of the traced path, scaled to the guest's untraced remote "
           "read (e1000e MMIO, section 2) minus the trap.", "",
           "| stage | traced µs | share | scaled µs |", "|---|---|---|---|"]
    rest = (remote["mmio_read_us"]["median"] - trap["mmio_read_us"]["median"]) \
        if remote and trap else None
    if trap:
        md.append(f"| trap (vCPU exit to the device model, local read) | | | "
                  f"{trap['mmio_read_us']['median']:.2f} |")
    tot = sum(s["median_us"] or 0 for s in rr["stages_us"]) or 1
    top_stage = max(rr["stages_us"], key=lambda s: s["median_us"] or 0)
    for s in rr["stages_us"]:
        share = (s["median_us"] or 0) / tot
        md.append(f"| {s['stage']} | {s['median_us']} | {share:.0%} | "
                  f"{f'{share * rest:.1f}' if rest else 'n/a'} |")
    md += ["", f"Dominant stage of a register read: **{top_stage['stage']}**."]
for size, dirs in stages.get("dma", {}).items():
    for direction, d in dirs.items():
        un = by.get(("remote", 1500, direction, int(size)))
        tot = sum(s["median_us"] or 0 for s in d["stages_us"]) or 1
        md += ["", f"DMA {direction} of {size} B: traced total {d['total_us']} µs over "
               f"{d['count']} transfers; untraced {un['us_median'] if un else 'n/a'} µs.", "",
               "| stage | traced µs | share |", "|---|---|---|"]
        for s in d["stages_us"]:
            md.append(f"| {s['stage']} | {s['median_us']} | {(s['median_us'] or 0) / tot:.0%} |")

n_xfers = max(len(g["e1000e"]["remote"]["tcp_runs_MBps"]), 1)
md += ["", "## 5. The guest's view: remote vs local NIC, same guest, kernel and slirp backend", "",
       "Ping: 64-byte payload, median and p99 of the pings after the first (ARP). TCP: one "
       f"file fetched with nc from a server on the NIC's host, {n_xfers} time(s), each sha256 "
       "checked (iperf3 is not in the busybox guest; this is its equivalent).", "",
       "| device | figure | remote | local | remote/local |", "|---|---|---|---|---|"]
for m in models:
    r, l = g[m]["remote"], g[m]["local"]
    if r["ping_ms"] and l["ping_ms"]:
        for k in ("median", "p99"):
            md.append(f"| {m} | ping RTT {k}, ms | {r['ping_ms'][k]:.3f} | "
                      f"{l['ping_ms'][k]:.3f} | {ratio(r['ping_ms'][k], l['ping_ms'][k])} |")
    md.append(f"| {m} | TCP, MB/s, median | {r['tcp_MBps']} | {l['tcp_MBps']} | "
              f"{ratio(r['tcp_MBps'], l['tcp_MBps'])} |")
    if r["tcp_MBps_worst"] and l["tcp_MBps_worst"]:
        md.append(f"| {m} | TCP, MB/s, worst of {len(r['tcp_runs_MBps'])} | "
                  f"{r['tcp_MBps_worst']} | {l['tcp_MBps_worst']} | "
                  f"{ratio(r['tcp_MBps_worst'], l['tcp_MBps_worst'])} |")
    if r.get("endpoint_cpu_s_per_GB"):
        md.append(f"| {m} | endpoint QEMU CPU per GB through the NIC, s | "
                  f"{r['endpoint_cpu_s_per_GB']} | | |")
l = g["e1000e"]["local"]
if gp["ping_ms"] and l["ping_ms"]:
    md.append(f"| e1000e, poll-us=200 both sides | ping RTT median, ms | "
              f"{gp['ping_ms']['median']:.3f} | {l['ping_ms']['median']:.3f} | "
              f"{ratio(gp['ping_ms']['median'], l['ping_ms']['median'])} |")
md.append(f"| e1000e, poll-us=200 both sides | TCP, MB/s, median | {gp['tcp_MBps']} | "
          f"{l['tcp_MBps']} | {ratio(gp['tcp_MBps'], l['tcp_MBps'])} |")
json.dump(res, open(base + ".json", "w"), indent=1)
if missing:
    md += ["", "Could not be measured: " + ", ".join(missing) + "."]
open(base + ".md", "w").write("\n".join(md) + "\n")
print("\n".join(md))

# ---- plots ----
dat = base + "-plot.dat"
with open(dat, "w") as f:
    for key, title in ((("local", None), "local"), (("remote", 1500), "remote MTU 1500"),
                       (("remote", 9000), "remote MTU 9000")):
        for direction in ("read", "write"):
            f.write(f'"{title}, {direction}"\n')
            for d in sorted((d for d in dma if (d["mode"], d["mtu"]) == key and
                             d["direction"] == direction), key=lambda d: d["size"]):
                f.write(f"{d['size']} {d['MBps_median']} {d['us_median']}\n")
            f.write("\n\n")
n_series = 6
plot_tp = ", ".join(f"'{dat}' index {i} using 1:2 with linespoints title columnheader(1)"
                    for i in range(n_series))
plot_lat = ", ".join(f"'{dat}' index {i} using 1:3 with linespoints title columnheader(1)"
                     for i in range(n_series))
raw = []
for mtu in (1500, 9000):
    if mtu in raw_MBps:
        raw.append(f"{raw_MBps[mtu]} with lines dashtype 2 title 'raw frames, MTU {mtu}'")
floor_pts = [f"{size} {f['median']}" for (size, busy), f in sorted(floor_rtt.items()) if not busy]
script = f"""
set terminal pngcairo size 900,560 noenhanced
set logscale x
set xlabel 'transfer size, bytes'
set key left top
set grid
set output '{base}-throughput.png'
set ylabel 'MB/s (median)'
set logscale y
set title 'DMA throughput by transfer size: local vs remote vs the raw link'
plot {plot_tp}{', ' + ', '.join(raw) if raw else ''}
set output '{base}-latency.png'
set ylabel 'µs per transfer (median)'
set title 'DMA latency by transfer size; raw frame round trip for reference'
plot {plot_lat}, '-' using 1:2 with points pointtype 7 title 'raw frame RTT (blocking)'
{chr(10).join(floor_pts)}
e
"""
p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
if p.returncode != 0:
    print("bench-report: gnuplot failed: " + p.stderr, file=sys.stderr)
    missing.append("plots")
os.remove(dat) if p.returncode == 0 else None
if missing:
    sys.exit("bench: could not measure: " + ", ".join(missing))
