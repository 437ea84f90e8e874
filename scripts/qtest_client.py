# SPDX-License-Identifier: GPL-2.0-or-later
"""A QEMU under the qtest accelerator, driven over its qtest socket.

Used by the benchmarks to play a driver without booting a guest: config
space through CF8/CFC, MMIO through readl/writel, guest memory through
memset/read.  The layout is the tests' one: a root port at 00:02.0 (the
vrc, or a pcie-root-port for the local case) and the function at 01:00.0.
Also what the benchmarks share about vrc-dma-bench (hw/vrc/dma-bench.c):
its registers, and an endpoint QEMU that hosts it.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

RP_DEVFN = 2 << 3
BAR0 = 0xFE000000               # where setup_function() puts the function's BAR0
BUF = 0x1000000                 # a DMA buffer, 16 MiB into guest RAM

# vrc-dma-bench's BAR0 registers and ID.
DB_REG = dict(ID=0x00, STATUS=0x04, ADDR=0x08, ADDR_HI=0x0C, SIZE=0x10,
              COUNT=0x14, CMD=0x18, SUM=0x1C, NS=0x20, NS_HI=0x24, FILL=0x28)
DB_ID = 0x76726364
DB_CMD_READ, DB_CMD_WRITE = 1, 2


def on_cpu(cpu):
    """A preexec_fn that keeps the child (all its threads) on CPU @cpu; None: no."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


def start_endpoint(qemu, netns, ifname, log, machine_opts="", extra=(), link=None,
                   cpu=None):
    """A vrc-endpoint QEMU hosting vrc-dma-bench on @ifname in @netns.

    @link replaces ifname=@ifname, e.g. "transport=udp::5551"; @cpu: the
    one CPU it runs on (default: any)."""
    link = link or f"ifname={ifname}"
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, qemu,
         "-machine", f"vrc-endpoint,{link}{machine_opts}",
         "-nodefaults", "-display", "none", "-monitor", "none",
         "-device", "vrc-dma-bench"] + list(extra), stdout=log, stderr=log,
        preexec_fn=on_cpu(cpu))


def vrc_device(ifname, peer, opts="", link=None):
    """-device arguments for the VM's vrc port at 00:02.0 (BAR0's bus).

    @link replaces "ifname=@ifname,peer=@peer", e.g. "transport=udp:10.0.0.2:5551"."""
    link = link or f"ifname={ifname},peer={peer}"
    return ["-device", f"vrc,id=vrc0,{link},chassis=1,"
            f"addr=02.0,completion-timeout=5000{opts}"]


class QTest:
    """A QEMU under the qtest accelerator, driven over its qtest socket."""

    def __init__(self, qemu, args, netns, log, cpu=None):
        self.dir = tempfile.mkdtemp(prefix="vrc-bench-")
        path = os.path.join(self.dir, "qtest.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        cmd = ([qemu, "-machine", "q35", "-accel", "qtest", "-nodefaults",
                "-display", "none", "-monitor", "none",
                "-qtest", "unix:" + path] + args)
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=on_cpu(cpu))
        srv.settimeout(30)
        try:
            self.sock, _ = srv.accept()
        except socket.timeout:
            self.proc.kill()
            sys.exit("qtest: the VM QEMU did not start (see its log)")
        finally:
            srv.close()
        self.rfile = self.sock.makefile("rb")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while True:
            reply = self.rfile.readline().decode().split()
            if not reply:
                sys.exit(f"qtest: QEMU went away during '{line}'")
            if reply[0] == "OK":
                return reply[1:]
            if reply[0] == "FAIL":
                sys.exit(f"qtest: qtest '{line}' failed: {reply}")
            # IRQ notifications and the like: not ours

    def readl(self, addr):
        return int(self.cmd(f"readl {addr:#x}")[0], 16)

    def writel(self, addr, val):
        self.cmd(f"writel {addr:#x} {val:#x}")

    def cfg_write(self, bus, devfn, reg, size, val):
        self.cmd(f"outl 0xcf8 {0x80000000 | bus << 16 | devfn << 8 | (reg & ~3):#x}")
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self.cmd(f"{op} {0xcfc + (reg & 3):#x} {val:#x}")

    def setup_function(self, bar0):
        """Do what firmware would: bus numbers, a memory window, BAR0."""
        self.cfg_write(0, RP_DEVFN, 0x18, 4, 0x00010100)
        self.cfg_write(0, RP_DEVFN, 0x20, 4, (bar0 >> 16) | (bar0 >> 16) << 16)
        self.cfg_write(0, RP_DEVFN, 0x04, 2, 0x7)
        self.cfg_write(1, 0, 0x10, 4, bar0)
        self.cfg_write(1, 0, 0x04, 2, 0x6)                # memory, bus master

    def quit(self):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
