#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-stage cost of a remote register read and of remote DMA.

Both QEMUs run with vrc's trace events on and timestamps in the log
(-msg timestamp=on: "PID@SECONDS.MICROSECONDS:event ..."); both hosts share
one clock, so the two logs merge into one timeline.  The VM side is driven
through qtest (no guest; the trap of a real vCPU is measured in the guest by
vrc-regbench), the endpoint hosts vrc-dma-bench.

One register read (BAR0 ID register of vrc-dma-bench), in order:
  TLP build + encapsulate   vrc_bar_read_start -> vrc_tlp_tx MRd        (VM)
  transport send            -> vrc_frame_tx                             (VM)
  wire + receive wakeup     -> vrc_frame_rx                             (EP)
  endpoint decode           -> vrc_tlp_rx MRd                           (EP)
  to the main loop          -> vrc_ep_exec                              (EP)
  device work + completion  -> vrc_tlp_tx CplD                          (EP)
  completion send           -> vrc_frame_tx                             (EP)
  wire + receive wakeup     -> vrc_frame_rx                             (VM)
  delivery (decode, match, wake the waiter, return)  -> vrc_bar_read    (VM)

A DMA by the endpoint (read: the function reads guest memory), traced at
frame level only (a separate run: fewer events on a path of many frames):
  request out               vrc_ep_dma -> first vrc_frame_tx            (EP)
  wire to the VM            -> first vrc_frame_rx                       (VM)
  VM: guest memory + CplD   -> first vrc_frame_tx                       (VM)
  first data back           -> first vrc_frame_rx after it              (EP)
  rest of the data          -> last vrc_frame_rx                        (EP)
  delivery to the device    -> vrc_ep_dma_done                          (EP)
and for a write (posted, then the flushing read of vrc-dma-bench):
  MWr build + send          vrc_ep_dma write -> vrc_ep_dma_done         (EP)
  flush read round trip     -> the flush read's vrc_ep_dma_done         (EP)

Tracing costs a few microseconds per event, so totals here exceed the
untraced ones of bench-dma.py; the shares are the point.  Prints JSON.
"""
import argparse
import bisect
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qtest_client import (BAR0, BUF, DB_CMD_READ, DB_CMD_WRITE, DB_ID,  # noqa: E402
                          DB_REG, QTest, start_endpoint, vrc_device)

LINE = re.compile(r"^(\d+)@(\d+)\.(\d+):(\w+) ?(.*)$")
READ_STAGES = [
    ("TLP build + encapsulate", "vm", "vrc_tlp_tx", "MRd"),
    ("transport send", "vm", "vrc_frame_tx", None),
    ("wire + receive wakeup", "ep", "vrc_frame_rx", None),
    ("endpoint decode", "ep", "vrc_tlp_rx", "MRd"),
    ("hand-off to the main loop", "ep", "vrc_ep_exec", None),
    ("device work + completion build", "ep", "vrc_tlp_tx", "CplD"),
    ("completion send", "ep", "vrc_frame_tx", None),
    ("wire + receive wakeup (back)", "vm", "vrc_frame_rx", None),
    ("delivery: decode, match, wake, return", "vm", "vrc_bar_read", None),
]


def load(path, side):
    events = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                t = int(m.group(2)) * 1_000_000 + int(m.group(3))
                # A transport that takes bursts says so once per burst.
                ev = "vrc_frame_tx" if m.group(4) == "vrc_frame_burst_tx" else m.group(4)
                events.append((t, side, ev, m.group(5)))
    return events


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else None


def read_stages(events):
    """Split the merged timeline at each vrc_bar_read_start on the VM."""
    cut = next((i for i, e in enumerate(events) if e[2] == "vrc_ep_dma"), len(events))
    starts = [i for i, e in enumerate(events[:cut])
              if e[1] == "vm" and e[2] == "vrc_bar_read_start"]
    per_stage = {name: [] for name, *_ in READ_STAGES}
    times = [e[0] for e in events]
    totals = []
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else cut
        t_prev = events[i][0]
        pos = i
        got = []
        for name, side, ev, arg in READ_STAGES:
            # The two logs have microsecond stamps: an event of the other
            # side may sort just before the one it follows, at the same time.
            nxt = bisect.bisect_left(times, t_prev, i, end)
            while nxt < end and not (nxt != pos and events[nxt][1] == side and
                                     events[nxt][2] == ev and
                                     (arg is None or f" send {arg} " in events[nxt][3] or
                                      f" recv {arg} " in events[nxt][3])):
                nxt += 1
            if nxt == end:
                break
            pos = nxt
            got.append((name, events[pos][0] - t_prev))
            t_prev = events[pos][0]
        if len(got) == len(READ_STAGES):
            for name, dt in got:
                per_stage[name].append(dt)
            totals.append(t_prev - events[i][0])
    return {"count": len(totals), "total_us": median(totals),
            "stages_us": [{"stage": n, "median_us": median(per_stage[n])}
                          for n, *_ in READ_STAGES]}


def first(events, start, end, side, ev, arg=None):
    for j in range(start, end):
        e = events[j]
        if e[1] == side and e[2] == ev and (arg is None or arg in e[3]):
            return j
    return None


def dma_stages(events, size):
    """Medians over every vrc_ep_dma of @size bytes, by direction."""
    out = {}
    for direction in ("read", "write"):
        rows = []
        idx = [i for i, e in enumerate(events)
               if e[1] == "ep" and e[2] == "vrc_ep_dma" and f"DMA {direction} " in e[3] and
               e[3].endswith(f" len {size}")]
        for i in idx:
            done = first(events, i + 1, len(events), "ep", "vrc_ep_dma_done", direction)
            if done is None:
                continue
            t0 = events[i][0]
            if direction == "read":
                ftx = first(events, i, done, "ep", "vrc_frame_tx")
                frx = first(events, ftx or i, done, "vm", "vrc_frame_rx")
                ctx = first(events, frx or i, done, "vm", "vrc_frame_tx")
                crx = first(events, ctx or i, done, "ep", "vrc_frame_rx")
                last = max((j for j in range(i, done) if events[j][1] == "ep" and
                            events[j][2] == "vrc_frame_rx"), default=None)
                if None in (ftx, frx, ctx, crx, last):
                    continue
                marks = [("request out", ftx), ("wire to the VM", frx),
                         ("VM: guest memory + CplD build", ctx),
                         ("first data back", crx), ("rest of the data", last),
                         ("delivery to the device", done)]
            else:
                flush = first(events, done + 1, len(events), "ep", "vrc_ep_dma", "read")
                fdone = first(events, (flush or done) + 1, len(events), "ep", "vrc_ep_dma_done", "read")
                if flush is None or fdone is None:
                    continue
                marks = [("MWr build + send (posted)", done),
                         ("flush read round trip (all delivered)", fdone)]
            row, t_prev = [], t0
            for name, j in marks:
                row.append((name, events[j][0] - t_prev))
                t_prev = events[j][0]
            rows.append((row, t_prev - t0))
        if rows:
            names = [n for n, _ in rows[0][0]]
            out[direction] = {
                "count": len(rows), "total_us": median([r[1] for r in rows]),
                "stages_us": [{"stage": n, "median_us": median([r[0][k][1] for r in rows])}
                              for k, n in enumerate(names)]}
    return out


def run_phase(a, name, trace, body):
    """Start both QEMUs with @trace on, run @body(q), return the merged timeline."""
    ep_log, vm_log = (os.path.join(a.work, f"{name}-{n}.log") for n in ("ep", "vm"))
    args = ["-msg", "timestamp=on"] + [x for ev in trace for x in ("-trace", ev)]
    with open(ep_log, "wb") as log:
        ep = start_endpoint(a.qemu, a.ep_ns, a.ep_if, log, extra=args)
    with open(vm_log, "wb") as log:
        q = QTest(a.qemu, vrc_device(a.vm_if, a.ep_mac) + args, a.vm_ns, log)
    try:
        q.setup_function(BAR0)
        body(q)
    finally:
        q.quit()
        ep.terminate()
        ep.wait()
    return sorted(load(vm_log, "vm") + load(ep_log, "ep"), key=lambda e: e[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for o in ("qemu", "vm-ns", "ep-ns", "vm-if", "ep-if", "ep-mac", "work"):
        ap.add_argument("--" + o, required=True)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--sizes", default="1400,14000,140000,1048576")
    ap.add_argument("--dmas", type=int, default=10)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    sizes = [int(x) for x in a.sizes.split(",")]

    def reads(q):
        for _ in range(a.reads):
            if q.readl(BAR0 + DB_REG["ID"]) != DB_ID:
                sys.exit("bench-stages: the register read did not return the ID")

    def dmas(q):
        q.cmd(f"memset {BUF:#x} {max(sizes)} 0x5a")
        q.writel(BAR0 + DB_REG["ADDR"], BUF)
        q.writel(BAR0 + DB_REG["ADDR_HI"], 0)
        q.writel(BAR0 + DB_REG["COUNT"], 1)
        for size in sizes:
            q.writel(BAR0 + DB_REG["SIZE"], size)
            for cmd in (DB_CMD_READ, DB_CMD_WRITE):
                for _ in range(a.dmas):
                    q.writel(BAR0 + DB_REG["CMD"], cmd)
                    while (st := q.readl(BAR0 + DB_REG["STATUS"])) & 1:
                        pass
                    if st:
                        sys.exit(f"bench-stages: DMA {cmd} of {size} B failed ({st:#x})")

    # Every TLP event for the register read; for DMA, frames only (fewer
    # events, less distortion of a transfer of hundreds of frames).
    ev_reads = run_phase(a, "reads", ["vrc_bar_read*", "vrc_tlp_*", "vrc_frame_*",
                                      "vrc_ep_exec"], reads)
    ev_dma = run_phase(a, "dma", ["vrc_frame_*", "vrc_ep_dma*"], dmas)
    res = {"register_read": read_stages(ev_reads),
           "dma": {str(s): dma_stages(ev_dma, s) for s in sizes},
           "note": "with trace events on (a few µs each): compare shares, not totals"}
    if not res["register_read"]["count"]:
        sys.exit("bench-stages: no complete register read in the traces")
    json.dump(res, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
