#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""DMA throughput of a function that moves guest memory (vrc-dma-bench).

The VM side is a QEMU without a guest (qtest accelerator): this script plays
the driver through the qtest protocol, programs the function's BAR and
starts runs; the function times each run itself on the host clock, so the
qtest round trips are not in the figures.

  --mode local    vrc-dma-bench plugged into the VM's own root port
  --mode remote   vrc-dma-bench hosted by a vrc-endpoint QEMU, reached
                  through -device vrc over --vm-if/--ep-if (two network
                  namespaces and a veth pair set up by the caller)
  --pin           remote, and each QEMU on a CPU of its own, as on two hosts
                  (on one machine the kernel may stack a frame's sender and
                  its receiver on one CPU: docs/performance.md)

For each direction (read: the function reads guest memory; write: it writes
it) and each transfer size, prints one JSON line: per-transfer time (median,
p99), MB/s, and host CPU seconds per GB moved (all threads of both QEMU
processes, from /proc/PID/task/*/schedstat, so user + system).  Data are checked: the sum of what a read run got, the bytes a
write run left in guest memory.  Exits non-zero if a run fails.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest_client import (BAR0, BUF, DB_CMD_READ, DB_CMD_WRITE, DB_ID,  # noqa: E402
                          DB_REG as REG, QTest, start_endpoint, vrc_device)


def cpu_seconds(pids):
    """CPU time of all threads of @pids so far (ns resolution, schedstat)."""
    total = 0
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                pass                    # a thread that just ended
    return total / 1e9


def quantile(sorted_vals, q):
    i = max(0, min(len(sorted_vals) - 1, int(q * len(sorted_vals) + 0.999999) - 1))
    return sorted_vals[i]


def run(q, pids, direction, size, runs, batch):
    """One size in one direction: @runs runs of @batch transfers."""
    fill = 0xA5 if direction == "read" else 0x3C
    reg = lambda r: BAR0 + REG[r]
    if direction == "read":
        q.cmd(f"memset {BUF:#x} {size} {fill:#x}")
    else:
        q.cmd(f"memset {BUF:#x} {size} 0")
    q.writel(reg("ADDR"), BUF)
    q.writel(reg("ADDR_HI"), 0)
    q.writel(reg("SIZE"), size)
    q.writel(reg("COUNT"), batch)
    q.writel(reg("FILL"), fill)
    per_transfer = []
    total_ns = 0
    cpu0 = cpu_seconds(pids)
    for _ in range(runs):
        q.writel(reg("CMD"), DB_CMD_READ if direction == "read" else DB_CMD_WRITE)
        deadline = time.monotonic() + 60
        while (status := q.readl(reg("STATUS"))) & 1:
            if time.monotonic() > deadline:
                sys.exit(f"bench-dma: {direction} of {size} B did not finish")
            time.sleep(0.0002)
        if status & 2 or status == 0xFFFFFFFF:
            sys.exit(f"bench-dma: {direction} of {size} B failed (status {status:#x})")
        ns = q.readl(reg("NS")) | q.readl(reg("NS_HI")) << 32
        total_ns += ns
        per_transfer.append(ns / batch)
        if direction == "read":
            want = size * fill & 0xFFFFFFFF
            got = q.readl(reg("SUM"))
            if got != want:
                sys.exit(f"bench-dma: read of {size} B got sum {got:#x}, want {want:#x}")
    cpu = cpu_seconds(pids) - cpu0
    if direction == "write":
        for off in (0, size // 2, size - 1):
            got = int(q.cmd(f"read {BUF + off:#x} 1")[0], 16)
            if got != fill:
                sys.exit(f"bench-dma: write of {size} B left {got:#x} at +{off}")
    per_transfer.sort()
    moved = size * batch * runs
    med = quantile(per_transfer, 0.5)
    return {
        "direction": direction, "size": size, "transfers": batch * runs,
        "run_bytes": size * batch,
        "us_median": round(med / 1000, 2),
        "us_p99": round(quantile(per_transfer, 0.99) / 1000, 2),
        "MBps_median": round(size / med * 1000, 2),
        "MBps_p99": round(size / quantile(per_transfer, 0.99) * 1000, 2),
        "MBps_total": round(moved / total_ns * 1000, 2),
        "cpu_s_per_GB": round(cpu / (moved / 1e9), 2),
    }


def regreads(q, n):
    """@n reads of the ID register, each timed around its qtest round trip."""
    t = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ident = q.readl(BAR0 + REG["ID"])
        t.append(time.perf_counter_ns() - t0)
        if ident != DB_ID:
            sys.exit(f"bench-dma: register read gave {ident:#x}")
    t.sort()
    return {"direction": "regread", "reads": n,
            "us_median": round(quantile(t, 0.5) / 1000, 2),
            "us_p99": round(quantile(t, 0.99) / 1000, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--mode", choices=("local", "remote"), required=True)
    ap.add_argument("--vm-ns")
    ap.add_argument("--ep-ns")
    ap.add_argument("--vm-if")
    ap.add_argument("--ep-if")
    ap.add_argument("--ep-mac")
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--sizes", default="1400,14000,140000,1048576")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batch-bytes", type=int, default=1024 * 1024,
                    help="a run moves at least this much (small sizes batch)")
    ap.add_argument("--ep-opts", default="",
                    help="more -machine vrc-endpoint options, e.g. ,poll-us=200")
    ap.add_argument("--key", metavar="FILE",
                    help="a base64 pre-shared key: both sides get it (-object secret, "
                         "secret=), so the session is keyed and every frame sealed")
    ap.add_argument("--transport", choices=("ifname", "pcap", "packet", "udp"),
                    default="ifname",
                    help="the link: ifname= (the default raw Ethernet transport), "
                         "pcap:/packet: by name, or udp over IPv4 addresses this "
                         "script gives the two interfaces")
    ap.add_argument("--regreads", type=int, default=0, metavar="N",
                    help="first time N reads of the function's ID register through "
                         "qtest (one JSON line; local mode gives qtest's own cost)")
    ap.add_argument("--directions", default="read,write",
                    help="which to run, in this order (to profile one of them)")
    ap.add_argument("--pin", action="store_true",
                    help="remote: each QEMU on a CPU of its own (the VM's on the first "
                         "CPU this may use, the endpoint's on the second), as two hosts "
                         "are; without it the kernel places their threads")
    ap.add_argument("--log", default=os.devnull)
    a = ap.parse_args()

    log = open(a.log, "ab")
    ep = None
    vm_cpu = ep_cpu = None
    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if a.mode != "remote" or len(cpus) < 2:
            sys.exit(f"bench-dma: --pin needs --mode remote and two CPUs (have {len(cpus)})")
        vm_cpu, ep_cpu = cpus[0], cpus[1]
    if a.mode == "local":
        vm_args = ["-device", "pcie-root-port,id=rp0,chassis=1,addr=02.0",
                   "-device", "vrc-dma-bench,bus=rp0"]
        pids = []
    else:
        if not (a.vm_ns and a.ep_ns and a.vm_if and a.ep_if and a.ep_mac):
            sys.exit("bench-dma: --mode remote needs --vm-ns --ep-ns --vm-if --ep-if --ep-mac")
        key_obj, key_opt = [], ""
        if a.key:
            key_obj = ["-object", f"secret,id=k0,file={a.key},format=base64"]
            key_opt = ",secret=k0"
        mtu, ep_link, vm_link = a.mtu, None, None
        if a.transport in ("pcap", "packet"):
            ep_link = f"transport={a.transport}:{a.ep_if}"
            vm_link = f"transport={a.transport}:{a.vm_if},peer={a.ep_mac}"
        elif a.transport == "udp":
            # Addresses inside the caller's two namespaces only.
            for ns, dev, addr in ((a.vm_ns, a.vm_if, "10.79.0.1/24"),
                                  (a.ep_ns, a.ep_if, "10.79.0.2/24")):
                subprocess.run(["ip", "-n", ns, "addr", "replace", addr, "dev", dev],
                               check=True)
            mtu = a.mtu - 42            # IPv4 + UDP + the frame's Ethernet header
            ep_link = "transport=udp::5551"
            vm_link = "transport=udp:10.79.0.2:5551"
        ep = start_endpoint(a.qemu, a.ep_ns, a.ep_if, log,
                            f",mtu={mtu}{key_opt}{a.ep_opts}", key_obj, link=ep_link,
                            cpu=ep_cpu)
        vm_args = key_obj + vrc_device(a.vm_if, a.ep_mac, f",mtu={mtu}{key_opt}",
                                       link=vm_link)
        pids = [ep.pid]
    q = QTest(a.qemu, vm_args, a.vm_ns if a.mode == "remote" else None, log, cpu=vm_cpu)
    pids.append(q.proc.pid)
    try:
        q.setup_function(BAR0)
        ident = q.readl(BAR0 + REG["ID"])
        if ident != DB_ID:
            sys.exit(f"bench-dma: no vrc-dma-bench at 01:00.0 (read {ident:#x})")
        info = dict(mode=a.mode, mtu=a.mtu if a.mode == "remote" else None,
                    ep_opts=a.ep_opts or None, keyed=bool(a.key),
                    transport=a.transport if a.mode == "remote" else None,
                    pinned=a.pin)
        if a.regreads:
            r = regreads(q, a.regreads)
            r.update(info)
            print(json.dumps(r), flush=True)
        for size in (int(x) for x in a.sizes.split(",") if x):
            batch = max(1, a.batch_bytes // size)
            for direction in a.directions.split(","):
                r = run(q, pids, direction, size, a.runs, batch)
                r.update(info)
                print(json.dumps(r), flush=True)
    finally:
        q.quit()
        if ep:
            ep.terminate()
            ep.wait()


if __name__ == "__main__":
    main()
