#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench, last step: gather what scripts/bench.sh measured into one JSON
file, a Markdown report and PNG plots (gnuplot).

Usage: bench-report.py WORKDIR OUTBASE TOPDIR
Reads WORKDIR/{floor,stream,dma,dma-transports}.jsonl, stages.json,
transports.md, guest-MODEL-MODE.txt, ping-MODEL-MODE-N.txt, nvme-MODE-N.txt;
writes OUTBASE.json, OUTBASE.md and the plots OUTBASE-throughput.png,
OUTBASE-latency.png, OUTBASE-transports.png, OUTBASE-ping.png.
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
g = {m: {"remote": guest(m, "ifname"), "udp": guest(m, "udp"), "local": guest(m, "local")}
     for m in models}

# Transports side by side: bench-transports.sh's table, and DMA per transport.
transports = ("pcap", "packet", "udp")
tr_rows = {}
tr_md = ""
tr_path = os.path.join(work, "transports.md")
if os.path.exists(tr_path):
    tr_md = open(tr_path).read().strip()
    for line in tr_md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            tr_rows[(int(cells[0]), cells[1])] = dict(zip(transports, cells[2:]))
else:
    missing.append("transports.md")


def first_number(cell):
    m = re.match(r"\s*([\d.]+)", cell or "")
    return float(m.group(1)) if m else None


raw_by_transport = {t: first_number(tr_rows.get((1500, "stream, largest frame, burst 32"),
                                                {}).get(t)) for t in transports}
tcp_1500 = first_number(tr_rows.get((1500, "iperf3 TCP, 5 s, one stream (kernel floor)"),
                                    {}).get("udp"))
dma_tr_all = jsonl("dma-transports.jsonl")
# Runs of 16 MiB or more (back to back); the rest move one transfer (or 1 MiB
# of small ones) a run.
SUSTAINED = 16 << 20
dma_sus = [d for d in dma_tr_all if d.get("run_bytes", 0) >= SUSTAINED]
dma_tr = [d for d in dma_tr_all if d.get("run_bytes", 0) < SUSTAINED]
# The same 1 MiB reads with each QEMU on a CPU of its own (bench-dma.py --pin).
dma_pin = jsonl("dma-pinned.jsonl")
pin_by = {(d.get("transport"), d.get("run_bytes", 0) >= SUSTAINED): d for d in dma_pin}


def read_vs_raw(d, t):
    """A 1 MiB DMA read @d against @t's raw stream: (the ratio, whether it is at least 80%)."""
    mb, rw = d and d["MBps_median"], raw_by_transport.get(t)
    return ratio(mb, rw, "{:.0%}"), (mb / rw >= 0.8 if mb and rw else None)


def ping_pairs(path):
    """A VRC_PING_PAIRS run of remote-nic.sh: (remote, local) median ms."""
    t = open(path).read() if os.path.exists(path) else ""
    m = re.search(r"ping pairs: remote ([\d.]+) ms, local ([\d.]+) ms", t)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


ping_runs = {}
for m in models:
    for i in range(1, 100):
        r = os.path.join(work, f"ping-{m}-{i}.txt")
        if not os.path.exists(r):
            break
        ping_runs.setdefault(m, []).append(ping_pairs(r))


def nvme_run(path):
    t = open(path).read() if os.path.exists(path) else ""
    m = re.search(r"COMPAT .*result=works.* write=([\d.]+) read=([\d.]+)", t)
    return (float(m.group(1)), float(m.group(2))) if m else None


nvme = {mode: [nvme_run(os.path.join(work, f"nvme-{mode}-{i}.txt")) for i in range(1, 100)
               if os.path.exists(os.path.join(work, f"nvme-{mode}-{i}.txt"))]
        for mode in ("remote", "local")}

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
    "transports": {"table": {f"{k[0]} {k[1]}": v for k, v in tr_rows.items()},
                   "dma": dma_tr_all, "dma_pinned": dma_pin},
    "ping_runs": ping_runs,
    "nvme": nvme,
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
       "Remote: hosted by the endpoint, over veth with the default transport (`ifname=`: "
       "AF_PACKET rings). Local: the same device in the "
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
       "Remote: the default transport (`ifname=`, AF_PACKET rings) and udp.", "",
       "| device | figure | remote | remote, udp | local | remote/local | udp/local |",
       "|---|---|---|---|---|---|---|"]


def guest_row(m, label, key, r, u, l):
    """One row of section 5: figure @key (a function of a run) of each mode."""
    a, b, c = (key(x) if x else None for x in (r, u, l))
    f = lambda v: f"{v:.3f}" if isinstance(v, float) else ("n/a" if v is None else str(v))
    md.append(f"| {m} | {label} | {f(a)} | {f(b)} | {f(c)} | {ratio(a, c)} | {ratio(b, c)} |")


for m in models:
    r, u, l = g[m]["remote"], g[m]["udp"], g[m]["local"]
    for k in ("median", "p99"):
        guest_row(m, f"ping RTT {k}, ms", lambda x, k=k: x["ping_ms"] and x["ping_ms"][k], r, u, l)
    guest_row(m, "TCP, MB/s, median", lambda x: x["tcp_MBps"], r, u, l)
    guest_row(m, f"TCP, MB/s, worst of {len(r['tcp_runs_MBps'])}",
              lambda x: x["tcp_MBps_worst"], r, u, l)
    guest_row(m, "endpoint QEMU CPU per GB through the NIC, s",
              lambda x: x.get("endpoint_cpu_s_per_GB"), r, u, None)
l = g["e1000e"]["local"]
guest_row("e1000e, poll-us=200 both sides", "ping RTT median, ms",
          lambda x: x["ping_ms"] and x["ping_ms"]["median"], gp, None, l)
guest_row("e1000e, poll-us=200 both sides", "TCP, MB/s, median",
          lambda x: x["tcp_MBps"], gp, None, l)

# ---- 6. ping, five runs ----
md += ["", "## 6. Ping, separate guest runs: remote (default transport) against local", "",
       "Each run boots one guest with two NICs of the model: the remote one and a local "
       "one on a user-mode network of its own, and pings through them by turns (4 rounds); "
       "medians of all its pings through each. Target: at most 1.5x local in every run.", "",
       "| device | run | remote ms | local ms | remote/local |", "|---|---|---|---|---|"]
ping_met = {}
for m in models:
    runs = ping_runs.get(m, [])
    for i, (r, l) in enumerate(runs, 1):
        md.append(f"| {m} | {i} | {'%.3f' % r if r is not None else 'n/a'} | "
                  f"{'%.3f' % l if l is not None else 'n/a'} | {ratio(r, l)} |")
    ok = [r / l <= 1.5 for r, l in runs if r and l]
    ping_met[m] = (sum(ok), len(runs))
    md.append(f"| {m} | at most 1.5x local | | | {sum(ok)} of {len(runs)} |")

# ---- 7. NVMe ----
md += ["", "## 7. NVMe: the guest writes its disk and reads it back (scripts/compat.sh nvme)", "",
       "Sequential, 64 KiB dd, the page cache dropped before the read; sha256 checked. "
       "Remote: the nvme hosted by the endpoint (default transport); local: in the VM.", "",
       "| figure | remote, runs | local, runs | remote/local (medians) |", "|---|---|---|---|"]
for k, label in ((0, "write, MB/s"), (1, "read, MB/s")):
    rv = [x[k] for x in nvme["remote"] if x]
    lv = [x[k] for x in nvme["local"] if x]
    md.append(f"| {label} | {', '.join(map(str, rv)) or 'n/a'} | {', '.join(map(str, lv)) or 'n/a'} | "
              f"{ratio(rv and statistics.median(rv), lv and statistics.median(lv))} |")
if not any(nvme["remote"]) or not any(nvme["local"]):
    missing.append("nvme")

# ---- 8. transports ----
md += ["", "## 8. Transports side by side", "",
       "Raw frames (vrc-pingpong), the link alone (vrc-session) and the kernel's TCP over "
       "the same veth (iperf3), from scripts/bench-transports.sh:", "", tr_md, "",
       "Through the whole path, MTU 1500 (vrc-dma-bench under qtest; the register read is "
       "qtest's `readl` of the function's ID register, timed around its round trip, so "
       "the local row is qtest's own cost):", "",
       "| figure | local | pcap | packet | udp |", "|---|---|---|---|---|"]
tr_by = {(d.get("transport"), d["direction"], d.get("size")): d for d in dma_tr}
rr = lambda t: tr_by.get((t, "regread", None))
md.append("| register read, µs median (p99) | " + " | ".join(
    f"{rr(t)['us_median']} ({rr(t)['us_p99']})" if rr(t) else "n/a"
    for t in (None,) + transports) + " |")
for size in sorted({d["size"] for d in dma_tr if d["direction"] != "regread"}):
    for direction in ("read", "write"):
        cells = []
        for t in transports:
            d = tr_by.get((t, direction, size))
            cells.append(f"{d['MBps_median']:.0f} MB/s, {d['cpu_s_per_GB']} s/GB" if d else "n/a")
        md.append(f"| DMA {direction} {size} B | | " + " | ".join(cells) + " |")
sus_by = {(d.get("transport"), d["direction"]): d for d in dma_sus}
for direction in ("read", "write"):
    cells = []
    for t in transports:
        d = sus_by.get((t, direction))
        cells.append(f"{d['MBps_total']:.0f} MB/s, {d['cpu_s_per_GB']} s/GB" if d else "n/a")
    md.append(f"| DMA {direction} 1 MiB back to back, 16 MiB a run | | " + " | ".join(cells) + " |")
cpu_run, cpu_tr = {}, {}
for t in transports:
    v = [d["cpu_s_per_GB"] for d in dma_tr if d.get("transport") == t and
         d["direction"] != "regread" and d["size"] >= 140000]
    cpu_run[t] = statistics.median(v) if v else None
    v = [d["cpu_s_per_GB"] for d in dma_sus if d.get("transport") == t]
    cpu_tr[t] = statistics.median(v) if v else None
md.append("| CPU per GB, DMA ≥ 140 KB, a run at a time (with qtest's round trips), median, s | | " +
          " | ".join(f"{cpu_run[t]:.1f}" if cpu_run[t] else "n/a" for t in transports) + " |")
md.append("| CPU per GB, DMA back to back (16 MiB a run), median of read and write, s | | " +
          " | ".join(f"{cpu_tr[t]:.1f}" if cpu_tr[t] else "n/a" for t in transports) + " |")
md.append("| 1 MiB DMA read / raw stream (burst 32) | | " + " | ".join(
    read_vs_raw(tr_by.get((t, "read", 1048576)), t)[0] for t in transports) + " |")
for sus, label in ((False, "one at a time"), (True, "back to back, 16 MiB a run")):
    cells = []
    for t in transports:
        d = pin_by.get((t, sus))
        cells.append(f"{d['MBps_median']:.0f} MB/s, {d['cpu_s_per_GB']} s/GB" if d else "n/a")
    md.append(f"| DMA read 1 MiB, {label}, each QEMU on a CPU of its own | | " +
              " | ".join(cells) + " |")
md.append("| 1 MiB DMA read / raw stream, each QEMU on a CPU of its own | | " + " | ".join(
    read_vs_raw(pin_by.get((t, False)), t)[0] for t in transports) + " |")

# ---- 9. targets ----
md += ["", "## 9. Targets of this run", "", "| target | figure | met |", "|---|---|---|"]


def target(name, value, ok):
    md.append(f"| {name} | {value} | {'yes' if ok else 'no' if ok is not None else 'n/a'} |")


best_raw = max(((v or 0), t) for t, v in raw_by_transport.items())
target("raw link at MTU 1500 ≥ 0.6x the kernel's TCP",
       f"best {best_raw[1]} {ratio(best_raw[0], tcp_1500)} ({best_raw[0]:.0f} vs "
       f"{tcp_1500 or 0:.0f} MB/s); " + ", ".join(f"{t} {ratio(raw_by_transport[t], tcp_1500)}"
                                                for t in transports),
       bool(best_raw[0] and tcp_1500) and best_raw[0] / tcp_1500 >= 0.6)
for name, by in (("1 MB DMA read ≥ 80% of the raw throughput",
                  lambda t: tr_by.get((t, "read", 1048576))),
                 ("the same, each QEMU on a CPU of its own (as two hosts)",
                  lambda t: pin_by.get((t, False)))):
    for t in transports:
        target(f"{name}, {t}", *read_vs_raw(by(t), t))
for t in transports:
    target(f"host CPU ≤ 2 s per GB at MTU 1500, {t} (DMA back to back)",
           f"{cpu_tr[t]:.1f} s" if cpu_tr[t] else "n/a",
           cpu_tr[t] <= 2 if cpu_tr[t] else None)
for m, want in (("virtio-net-pci", 0.6), ("e1000e", 0.8)):
    r, l = g[m]["remote"]["tcp_MBps"], g[m]["local"]["tcp_MBps"]
    target(f"{m} TCP ≥ {want}x local", ratio(r, l), r / l >= want if r and l else None)
for m in models:
    k, n = ping_met.get(m, (0, 0))
    target(f"{m} ping ≤ 1.5x local, every run", f"{k} of {n}", k == n if n else None)
reg = g["e1000e"]["remote"]["registers"]
target("register read ≤ 1.14x the blocking floor (64 B)",
       ratio(reg and reg["mmio_read_us"]["median"], floor64),
       reg["mmio_read_us"]["median"] / floor64 <= 1.14 if reg and floor64 else None)
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
# DMA read and write by size through each transport; ping ratio per run.
dat_tr = base + "-transports.dat"
with open(dat_tr, "w") as f:
    for t in transports:
        for direction in ("read", "write"):
            f.write(f'"{t}, {direction}"\n')
            for d in sorted((d for d in dma_tr if d.get("transport") == t and
                             d["direction"] == direction), key=lambda d: d["size"]):
                f.write(f"{d['size']} {d['MBps_median']}\n")
            f.write("\n\n")
    for m in models:
        f.write(f'"{m}"\n')
        for i, (r, l) in enumerate(ping_runs.get(m, []), 1):
            if r and l:
                f.write(f"{i} {r / l:.3f}\n")
        f.write("\n\n")
n_tr = 2 * len(transports)
plot_tr = ", ".join(f"'{dat_tr}' index {i} using 1:2 with linespoints title columnheader(1)"
                    for i in range(n_tr))
plot_ping = ", ".join(f"'{dat_tr}' index {n_tr + i} using 1:2 with linespoints "
                      f"title columnheader(1)" for i in range(len(models)))
tcp_line = f", {tcp_1500} with lines dashtype 2 title 'kernel TCP over the veth'" \
    if tcp_1500 else ""
script += f"""
set output '{base}-transports.png'
set ylabel 'MB/s (median)'
set title 'DMA through each transport, MTU 1500'
plot {plot_tr}{tcp_line}
unset logscale
set output '{base}-ping.png'
set xlabel 'run'
set xtics 1
set ylabel 'ping RTT, remote / local'
set title 'Ping, remote against local, separate guest runs'
set yrange [0:*]
plot {plot_ping}, 1.5 with lines dashtype 2 title 'target 1.5x'
"""
p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
if p.returncode == 0:
    os.remove(dat_tr)
if p.returncode != 0:
    print("bench-report: gnuplot failed: " + p.stderr, file=sys.stderr)
    missing.append("plots")
os.remove(dat) if p.returncode == 0 else None
if missing:
    sys.exit("bench: could not measure: " + ", ".join(missing))
