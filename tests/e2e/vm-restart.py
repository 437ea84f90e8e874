#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A VM that restarts finds its endpoint again (tests/e2e/test-vm-restart.sh).

One vrc-endpoint QEMU hosting vrc-dma-bench; VM QEMUs under the qtest
accelerator play the guest's driver (scripts/qtest_client.py).  Over each
transport given:

  1. a VM reads the function's ID register and runs a DMA read of its
     memory (checksum);
  2. a second VM started while the first is alive is refused (it fails to
     start, saying why) and the first keeps its function;
  3. the first VM is killed with SIGKILL and a new one is started at once:
     it gets the function within its start (the endpoint asks the old
     session, which does not answer), reads the ID and runs the DMA read,
     whose requests and completions go to the new VM;
  4. that VM quits cleanly and the next one gets the function;
 4b. keyed udp only: that VM is killed, and a stranger on the VM's host
     sends forged HELLOs from another port while the endpoint finds the
     session dead (keepalive) and after: the next VM gets the function,
     the endpoint having refused the stranger's HELLOs (auth-fails) and
     answered the VM, not the stranger;
  5. the endpoint is killed with SIGKILL and started again: the running
     VM's slot loses its function and, once the driver has done what a
     guest's pciehp does (power the empty slot off, then on), gets a new
     one by itself, which works.  The new endpoint told the VM its old
     session was gone (a BYE; with a key an unsealed one, on which the VM
     asks its session and finds it gone within the probe time).
Then, keyed udp only, a VM behind a NAT: a relay on the VM's host
forwards its datagrams to the endpoint from a port of its own, and
mid-session moves to another (a NAT rebinding):

  6. the VM reads the function and runs the DMA read through the relay;
  7. after the rebinding it does so again in the same session: the
     endpoint's sealed frames from the new port proved the VM and it
     answers there (its peer is the relay's new port), no session ended
     on either side, and the VM's slot kept its function.

The endpoint's query-vrc must show the mechanism at each step: the
challenge the live VM answered (2), the dead VM's session ended for
silence (3).

Over udp the new VM sends from a new port: the endpoint's transport takes
the sender of the HELLO that opens a session as its peer
(encap_transport_adopt_peer), and nobody else.  TAP on stdout.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../scripts"))
from qtest_client import (BAR0, BUF, DB_CMD_READ, DB_ID, DB_REG,  # noqa: E402
                          RP_DEVFN, QTest, start_endpoint)

QMP = os.path.join(os.path.dirname(__file__), "../../scripts/qmp.py")
DMA_SIZE = 65536
STEPS = 5                       # TAP lines per transport, and 4b
FILL = 0x5A

count = 0
failed = 0


def tap(ok, what):
    global count, failed
    count += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {count} - {what}", flush=True)


def reg(name):
    return BAR0 + DB_REG[name]


def use_function(q):
    """The ID register, then a DMA read of guest memory: what went wrong, or None."""
    q.setup_function(BAR0)
    ident = q.readl(reg("ID"))
    if ident != DB_ID:
        return f"ID register reads {ident:#x}, not {DB_ID:#x}"
    q.cmd(f"memset {BUF:#x} {DMA_SIZE} {FILL:#x}")
    q.writel(reg("ADDR"), BUF)
    q.writel(reg("ADDR_HI"), 0)
    q.writel(reg("SIZE"), DMA_SIZE)
    q.writel(reg("COUNT"), 1)
    q.writel(reg("FILL"), FILL)
    q.writel(reg("CMD"), DB_CMD_READ)
    deadline = time.monotonic() + 30
    while (status := q.readl(reg("STATUS"))) & 1:
        if time.monotonic() > deadline:
            return "the DMA read did not finish in 30 s"
        time.sleep(0.001)
    if status & 2:
        return f"the DMA read failed (status {status:#x})"
    got, want = q.readl(reg("SUM")), DMA_SIZE * FILL & 0xFFFFFFFF
    if got != want:
        return f"the DMA read's sum is {got:#x}, not {want:#x}"
    return None


def cfg_read(q, bus, devfn, reg, size):
    q.cmd(f"outl 0xcf8 {0x80000000 | bus << 16 | devfn << 8 | (reg & ~3):#x}")
    op = {1: "inb", 2: "inw", 4: "inl"}[size]
    return int(q.cmd(f"{op} {0xcfc + (reg & 3):#x}")[0], 16)


def slot_regs(q):
    """Offsets of the vrc port's Slot Control and Slot Status registers."""
    cap = cfg_read(q, 0, RP_DEVFN, 0x34, 1)
    while cap:
        if cfg_read(q, 0, RP_DEVFN, cap, 1) == 0x10:     # PCI Express
            return cap + 0x18, cap + 0x1A
        cap = cfg_read(q, 0, RP_DEVFN, cap + 1, 1)
    sys.exit("the vrc port has no PCI Express capability")


def wait_for(what, cond, secs):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            return f"{what} not within {secs} s"
        time.sleep(0.1)
    return None


def replug(q):
    """What a guest's pciehp does after its endpoint restarted: see the card
    go, power the empty slot off, see the next card, power it on."""
    sltctl, sltsta = slot_regs(q)
    present = lambda: cfg_read(q, 0, RP_DEVFN, sltsta, 2) & 0x0040    # PDS
    why = wait_for("the surprise removal", lambda: not present(), 15)
    if why:
        return why
    ctl = cfg_read(q, 0, RP_DEVFN, sltctl, 2) & ~0x0700
    q.cfg_write(0, RP_DEVFN, sltctl, 2, ctl | 0x0400 | 0x0300)         # power, indicator off
    why = wait_for("the new function", present, 15)
    if why:
        return why
    q.cfg_write(0, RP_DEVFN, sltctl, 2, ctl | 0x0100)                  # power, indicator on
    return use_function(q)


def try_use(q):
    try:
        return use_function(q)
    except SystemExit as e:     # qtest_client's way of failing
        return str(e)
    except OSError as e:        # the VM QEMU went away
        return f"the VM went away: {e}"


def ep_stats(sock):
    """The first query-vrc entry of the QEMU at QMP @sock (the endpoint's
    link, a VM's vrc0), or {} if it cannot be asked."""
    r = subprocess.run([sys.executable, QMP, sock, "query-vrc"],
                       capture_output=True, text=True)
    return json.loads(r.stdout)[0] if r.returncode == 0 else {}


# A stranger's forged keyed HELLO (version 2, a made-up MAC), as a udp
# datagram: Ethernet and vrc headers, the CTRL payload, its CRC-32C
# (docs/protocol.md, sections 1, 2 and 7.3), sent every 10 ms until killed.
STRANGER = r"""
import os, socket, struct, sys, time
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
    return c ^ 0xFFFFFFFF
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                  socket.SOCK_DGRAM)
epoch = 1
while True:
    payload = bytes([1]) + bytes(15) + os.urandom(48)   # HELLO, nonce, MAC
    hdr = struct.pack(">BBHHHIIIHBB", 2, 2, 0, 0, 0x5151, epoch, 0, 0,
                      len(payload), 0, 0)
    f = (bytes.fromhex("020000000001020000000002") + b"\x88\xb5" + hdr
         + payload)
    s.sendto(f + struct.pack(">I", crc32c(f)), (host, port))
    epoch += 1
    time.sleep(0.01)
"""


def key_object(logdir, name):
    """-object arguments of a fresh random key, secret k0."""
    key = os.path.join(logdir, f"{name}.key")
    with open(key, "w") as f:
        f.write(subprocess.check_output(["base64"], input=os.urandom(32)).decode())
    return ["-object", f"secret,id=k0,file={key},format=base64"]


def start_stranger(a, target):
    """Forged HELLOs to udp HOST:PORT @target from the VM's namespace."""
    host, port = target.rsplit(":", 1)
    return subprocess.Popen(["ip", "netns", "exec", a.vm_ns, sys.executable,
                             "-c", STRANGER, host.strip("[]"), port])


# A NAT on the VM's host: datagrams to LHOST:LPORT go on to RHOST:RPORT
# from a socket of the relay's own, answers come back to whoever sent
# last; SIGUSR1 moves the outer socket to a new port (a rebinding).
NAT = r"""
import select, signal, socket, sys
lhost, lport, rhost, rport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fam = socket.AF_INET6 if ":" in rhost else socket.AF_INET
def outer_socket():
    o = socket.socket(fam, socket.SOCK_DGRAM)
    o.connect((rhost, rport))
    print(o.getsockname()[1], flush=True)
    return o
inner = socket.socket(fam, socket.SOCK_DGRAM)
inner.bind((lhost, lport))
outer = outer_socket()
client, rebind = None, False
def on_usr1(*_):
    global rebind
    rebind = True
signal.signal(signal.SIGUSR1, on_usr1)
while True:
    if rebind:
        rebind = False
        outer.close()
        outer = outer_socket()
    for s in select.select([inner, outer], [], [], 0.05)[0]:
        try:
            data, src = s.recvfrom(65536)
            if s is inner:
                client = src
                outer.send(data)
            elif client:
                inner.sendto(data, client)
        except OSError:
            pass
"""


def port_of(spec):
    """The port of a transport spec string such as "udp:[fd83::1]:4242"."""
    return int(spec.rsplit(":", 1)[1]) if spec else None


def nat_case(a, logdir):
    name = "udp6-keyed-nat"
    key_obj = key_object(logdir, name)
    eplog = open(os.path.join(logdir, f"{name}-ep.log"), "w")
    qmp = os.path.join(logdir, f"{name}-ep.qmp")
    vmqmp = os.path.join(logdir, f"{name}-vm.qmp")
    ep = start_endpoint(a.qemu, a.ep_ns, None, eplog, ",secret=k0",
                        key_obj + ["-qmp", f"unix:{qmp},server=on,wait=off"],
                        link="transport=udp::5553,mtu=1438")
    nat = subprocess.Popen(["ip", "netns", "exec", a.vm_ns, sys.executable, "-c", NAT,
                            a.vm_v6, "5554", a.ep_v6, "5553"],
                           stdout=subprocess.PIPE, text=True)
    vm = None
    try:
        nat_port = int(nat.stdout.readline())
        why = wait_for("the endpoint's QMP", lambda: ep_stats(qmp), 10)
        if why:
            print(f"# {name}: {why}", flush=True)
        vm_args = key_obj + [
            "-qmp", f"unix:{vmqmp},server=on,wait=off",
            "-device", f"vrc,id=vrc0,transport=udp:[{a.vm_v6}]:5554,mtu=1438,"
            "chassis=1,addr=02.0,secret=k0"]
        vm = start_vm(a, vm_args, open(os.path.join(logdir, f"{name}-vm.log"), "w"))
        why = try_use(vm) if vm else "the VM did not start"
        st = ep_stats(qmp)
        if why is None and port_of(st.get("peer-address")) != nat_port:
            why = f"the endpoint answers {st.get('peer-address')}, not the NAT's port {nat_port}"
        tap(why is None, f"{name}: a VM behind a NAT reads the function and its DMA reads its memory"
            + ("" if why is None else f" ({why})"))
        if not vm:
            tap(False, f"{name}: not reached")
            return
        slot0 = ep_stats(vmqmp).get("slot")
        nat.send_signal(signal.SIGUSR1)
        new_port = int(nat.stdout.readline())
        why = try_use(vm)
        st, vst = ep_stats(qmp), ep_stats(vmqmp)
        if why is None and port_of(st.get("peer-address")) != new_port:
            why = f"the endpoint answers {st.get('peer-address')}, not the NAT's new port {new_port}"
        if why is None and (st.get("keepalive-downs") or vst.get("keepalive-downs")):
            why = f"a session ended (endpoint {st}; VM {vst})"
        if why is None and (not slot0 or vst.get("slot") != slot0):
            why = f"the VM's slot changed: {slot0} before, {vst.get('slot')} after"
        tap(why is None, f"{name}: after the NAT moved it to another port ({nat_port} to "
            f"{new_port}), the VM keeps its session and its function"
            + ("" if why is None else f" ({why})"))
    finally:
        if vm:
            vm.proc.kill()
            vm.proc.wait()
        nat.kill()
        nat.wait()
        ep.terminate()
        ep.wait()


def stranger_step(keyed, vm_link):
    """Whether the case has step 4b."""
    return keyed and "udp:" in vm_link


def start_vm(a, vm_args, log):
    try:
        return QTest(a.qemu, vm_args, a.vm_ns, log)
    except SystemExit as e:
        print(f"# {e}", flush=True)
        return None


def vm_uses(a, vm_args, log, what):
    """Start a VM and use the function: the VM (None if it did not start)
    and what went wrong (None if nothing did), reported as @what."""
    vm = start_vm(a, vm_args, log)
    why = try_use(vm) if vm else "the VM did not start"
    tap(why is None, what + (f" ({why})" if why else ""))
    return vm, why


def case(a, name, ep_link, vm_link, keyed, logdir):
    stranger = None
    key_obj, key_opt = (key_object(logdir, name), ",secret=k0") if keyed else ([], "")
    # The default completion timeout, so the default wait for the endpoint
    # at start (2 s): a restarted VM must get its function within it.
    # One QMP socket for the VMs: the latest started owns it.
    vmqmp = os.path.join(logdir, f"{name}-vm.qmp")
    vm_args = key_obj + ["-qmp", f"unix:{vmqmp},server=on,wait=off",
                         "-device", f"vrc,id=vrc0,{vm_link},chassis=1,addr=02.0{key_opt}"]
    eplog = open(os.path.join(logdir, f"{name}-ep.log"), "w")
    qmp = os.path.join(logdir, f"{name}-ep.qmp")
    ep_extra = key_obj + ["-qmp", f"unix:{qmp},server=on,wait=off"]
    ep = start_endpoint(a.qemu, a.ep_ns, None, eplog, key_opt, ep_extra,
                        link=ep_link)
    # Its QMP answers once the machine is up, its transport open.
    why = wait_for("the endpoint's QMP", lambda: ep_stats(qmp), 10)
    if why:
        print(f"# {name}: {why}", flush=True)
    vms = []
    try:
        vm1, _ = vm_uses(a, vm_args, open(os.path.join(logdir, f"{name}-vm1.log"), "w"),
                         f"{name}: a VM reads the function and its DMA reads the VM's memory")
        if not vm1:
            return
        vms.append(vm1)

        # A second VM while the first is alive: refused, the first unharmed.
        log2 = os.path.join(logdir, f"{name}-vm2.log")
        with open(log2, "w") as f2:
            vm2 = subprocess.Popen(
                ["ip", "netns", "exec", a.vm_ns, a.qemu, "-machine", "q35", "-nodefaults",
                 "-display", "none", "-monitor", "none", "-S"] + vm_args,
                stdout=f2, stderr=f2)
            try:
                rc = vm2.wait(timeout=30)
            except subprocess.TimeoutExpired:
                vm2.kill()
                rc = None
        said = open(log2).read()
        why = try_use(vm1)
        st = ep_stats(qmp)
        if why is None and not st.get("hello-refused-live"):
            why = f"the endpoint counts no challenge the live session answered ({st})"
        ok = rc not in (None, 0) and "no answer from the endpoint" in said and why is None
        tap(ok, f"{name}: a second VM is refused while the first is alive, which keeps its function"
            + ("" if ok else f" (exit {rc}; {said.strip()[-200:]!r}; first VM: {why})"))

        # The first VM killed, a new one started at once.
        vm1.proc.kill()
        vm1.proc.wait()
        vms.remove(vm1)
        t0 = time.monotonic()
        log3 = open(os.path.join(logdir, f"{name}-vm3.log"), "w")
        vm3 = start_vm(a, vm_args, log3)
        why = try_use(vm3) if vm3 else "the VM did not start"
        took = time.monotonic() - t0
        st = ep_stats(qmp)
        if why is None and not st.get("keepalive-downs"):
            why = f"the endpoint counts no session ended for silence ({st})"
        tap(why is None, f"{name}: a VM started right after the first was killed gets the function"
            + (f" in {took:.1f} s" if why is None else f" ({why})"))
        if not vm3:
            return
        vms.append(vm3)

        # It quits cleanly; the next one gets the function.
        vm3.quit()
        vms.remove(vm3)
        vm4, _ = vm_uses(a, vm_args, open(os.path.join(logdir, f"{name}-vm4.log"), "w"),
                         f"{name}: after a VM quits, the next one gets the function")
        if not vm4:
            return
        vms.append(vm4)

        if stranger_step(keyed, vm_link):
            # Killed; a stranger's forged HELLOs from before the endpoint
            # finds the session dead until the next VM has the function.
            downs = ep_stats(qmp).get("keepalive-downs", 0)
            vm4.proc.kill()
            vm4.proc.wait()
            vms.remove(vm4)
            fails0 = ep_stats(qmp).get("auth-fails", 0)
            stranger = start_stranger(a, vm_link.split("udp:", 1)[1].split(",")[0])
            why = wait_for("the endpoint to end the killed VM's session",
                           lambda: ep_stats(qmp).get("keepalive-downs", 0) > downs, 10)
            # ... and to refuse the stranger's HELLOs after it.
            fails1 = ep_stats(qmp).get("auth-fails", 0)
            why = why or wait_for("a forged HELLO after the session ended",
                                  lambda: ep_stats(qmp).get("auth-fails", 0) > fails1, 10)
            vm4 = None
            if why is None:
                vm4 = start_vm(a, vm_args, open(os.path.join(logdir, f"{name}-vm5.log"), "w"))
                why = try_use(vm4) if vm4 else "the VM did not start"
            st = ep_stats(qmp)
            stranger.kill()
            stranger.wait()
            stranger = None
            if why is None and st.get("auth-fails", 0) - fails0 < 10:
                why = f"the endpoint refused too few of the stranger's HELLOs ({st})"
            tap(why is None, f"{name}: with a stranger sending forged HELLOs, the next VM gets the function"
                + ("" if why is None else f" ({why})"))
            if not vm4:
                return
            vms.append(vm4)

        # The endpoint killed and started again: the slot loses its function
        # and gets a new one by itself, which works once set up again.
        ep.kill()
        ep.wait()
        ep = start_endpoint(a.qemu, a.ep_ns, None, eplog, key_opt, ep_extra,
                            link=ep_link)
        t0 = time.monotonic()
        try:
            why = replug(vm4)
        except (SystemExit, OSError) as e:
            why = f"the VM failed: {e}"
        byes = ep_stats(qmp).get("byes-stranger")
        if why is None and not byes:
            why = f"the restarted endpoint sent no BYE for the old session ({byes})"
        vst = ep_stats(vmqmp)
        if why is None and keyed and not vst.get("byes-unsealed"):
            why = f"the VM counts no unsealed BYE ({vst})"
        tap(why is None, f"{name}: the endpoint killed and started again, the VM's slot gets the function back"
            + (f" in {time.monotonic() - t0:.1f} s" if why is None else f" ({why})"))
    finally:
        if stranger:
            stranger.kill()
            stranger.wait()
        for q in vms:
            q.proc.kill()
            q.proc.wait()
        ep.terminate()
        ep.wait()
        if ep.returncode not in (0, -15):
            global failed
            failed += 1
            print(f"# {name}: the endpoint ended with status {ep.returncode}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--vm-ns", required=True)
    ap.add_argument("--ep-ns", required=True)
    ap.add_argument("--vm-if", required=True)
    ap.add_argument("--ep-if", required=True)
    ap.add_argument("--ep-mac", required=True)
    ap.add_argument("--ep-v4", required=True)
    ap.add_argument("--ep-v6", required=True)
    ap.add_argument("--vm-v6", required=True)
    ap.add_argument("--logdir", required=True)
    a = ap.parse_args()
    cases = [
        ("packet", f"ifname={a.ep_if}", f"ifname={a.vm_if},peer={a.ep_mac}", False),
        ("udp", "transport=udp::5551,mtu=1458",
         f"transport=udp:{a.ep_v4}:5551,mtu=1458", False),
        ("udp6-keyed", "transport=udp::5552,mtu=1438",
         f"transport=udp:[{a.ep_v6}]:5552,mtu=1438", True),
    ]
    only = os.environ.get("VRC_RESTART_CASES")
    if only:
        cases = [c for c in cases if c[0] in only.split(",")]
    nat = not only or "udp6-keyed-nat" in only.split(",")
    steps = sum(STEPS + stranger_step(c[3], c[2]) for c in cases) + 2 * nat
    print(f"1..{steps}", flush=True)
    for c in cases:
        case(a, *c, a.logdir)
    if nat:
        nat_case(a, a.logdir)
    while count < steps:
        tap(False, "not reached")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
