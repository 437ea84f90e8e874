#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: a guest uses a NIC hosted by a vrc-endpoint QEMU on another
# "host" (network namespace), over a veth pair and libpcap. The endpoint's NIC
# has a user-mode network on the endpoint's side; the guest pings through it,
# fetches a file over TCP from a server on the endpoint host's loopback and
# checks its sha256, then sends a file of its own to a server there that
# records the sha256 of what arrived. Prints a summary; exit status 0 only if
# all passed, 2 if the endpoint refused the device model at startup.
#
# Usage: remote-nic.sh [DEVICE-MODEL]      (default e1000e; virtio-net-pci, ...)
# Environment: VRC_FILE_MB (default 4), VRC_XFERS (transfers of the file,
# default 1; the median is reported), VRC_STREAMS (TCP connections each
# transfer makes at once, each bringing the whole file; default 1),
# VRC_SMP (guest vCPUs, default 2), VRC_GUEST_TIMEOUT,
# VRC_TRANSPORT=ifname|pcap|packet|unix|udp|udp6|local (ifname, the default:
# raw Ethernet as a user gets it with ifname=, AF_PACKET rings else libpcap;
# pcap and packet: that transport by name; local: the same device model
# plugged into the VM itself, for comparison;
# udp and udp6: TLP frames in UDP datagrams between addresses given to the
# two namespaces, IPv4 or IPv6, MTU 1458 / 1438 so nothing is fragmented),
# VRC_PINGS (default 10), VRC_REGBENCH (options for vrc-regbench, run in the
# guest against the NIC before the network test, e.g. "--bar=0 --offset=8";
# its JSON line is printed after "VRC-REGBENCH"), VRC_OPTS (more -device vrc
# options, starting with a comma, e.g. ",poll-us=200"), VRC_EP_OPTS (the same
# for -machine vrc-endpoint), VRC_RELAY (impairments for tools/vrc-relay, e.g.
# "--loss=0.01 --seed=1": the two hosts are then joined through a third
# namespace where the relay damages vrc frames; its counters are printed),
# VRC_EP_ARGS and VRC_VM_ARGS (more arguments for the endpoint's and the
# guest's QEMU, split at spaces, e.g. "-trace vrc_ep_* -D /tmp/ep.log"),
# VRC_QEMU (the QEMU binary, default build/qemu-system-x86_64), VRC_KEY=1
# (both sides get the same random session key, -object secret:
# the session is authenticated and every frame sealed), VRC_PING_PAIRS=N
# (remote only: the guest also gets a local NIC of the same model, on a
# user-mode network of its own, 10.0.3.0/24, and after the first pings
# pings through the remote NIC and the local one by turns, N rounds of
# VRC_PINGS each: the two side by side in one guest, at the same time).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
model=${1:-e1000e}
qemu=${VRC_QEMU:-$top/build/qemu-system-x86_64}
mb=${VRC_FILE_MB:-4}
xfers=${VRC_XFERS:-1}
streams=${VRC_STREAMS:-1}
port=5555
transport=${VRC_TRANSPORT:-ifname}
work=$(mktemp -d)
ep_pid=
srv_pid=
relay_pid=
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"

cleanup() {
    local p
    for p in $ep_pid $srv_pid $relay_pid; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p"
        fi
    done
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vrc_netns_probe || { echo "remote-nic: cannot create network namespaces: run as root" >&2; exit 1; }
if [ -n "${VRC_RELAY:-}" ]; then
    case $transport in
        ifname|pcap|packet) ;;
        *) echo "remote-nic: VRC_RELAY needs raw Ethernet (ifname, pcap or packet)" >&2; exit 1 ;;
    esac
    vrc_netns_up_relay "vrc$$"
    # shellcheck disable=SC2086
    ip netns exec "$MID_NS" "$top/build/host/tools/vrc-relay" --ethertype=0x88b5 \
        $VRC_RELAY "$MID_VM_IF" "$MID_EP_IF" > "$work/relay.json" 2> "$work/relay.log" &
    relay_pid=$!
else
    vrc_netns_up "vrc$$"
fi

# A file to move, and TCP servers on the endpoint host: one sends the file
# (port), one takes the guest's file (port + 1) and records its sha256.
head -c $((mb * 1024 * 1024)) /dev/urandom > "$work/file"
want=$(sha256sum "$work/file" | cut -d' ' -f1)
# The file servers live on the host that owns the NIC's network.
srv_ns=$EP_NS
[ "$transport" = local ] && srv_ns=$VM_NS
ip netns exec "$srv_ns" python3 -c '
import hashlib, socket, sys, threading
data = open(sys.argv[1], "rb").read()
port, n_send, n_take = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def listen(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(16); s.settimeout(300)
    return s
def serve(c):
    c.sendall(data); c.close()
def send(s):
    threads = []
    for _ in range(n_send):
        c, _ = s.accept()
        threads.append(threading.Thread(target=serve, args=(c,)))
        threads[-1].start()
    for t in threads:
        t.join()
def take(s):
    # The guest sends as many bytes as the file has; the server closes then,
    # which ends the guest nc (busybox nc does not half-close on EOF).
    for _ in range(n_take):
        c, _ = s.accept(); c.settimeout(300); h = hashlib.sha256(); got = 0
        while got < len(data):
            b = c.recv(65536)
            if not b:
                break
            h.update(b); got += len(b)
        c.close()
        with open(sys.argv[5], "a") as f:
            print(h.hexdigest() if got == len(data) else "short-%d" % got, file=f)
ts = [threading.Thread(target=send, args=(listen(port),)),
      threading.Thread(target=take, args=(listen(port + 1),))]
for t in ts: t.start()
for t in ts: t.join()
' "$work/file" "$port" $((xfers * streams)) "$xfers" "$work/up.sums" &
srv_pid=$!

key_ep=()
key_opt=
if [ "${VRC_KEY:-0}" = 1 ]; then
    head -c 32 /dev/urandom | base64 > "$work/key"
    key_ep=(-object secret,id=k0,file="$work/key",format=base64)
    key_opt=,secret=k0
fi
if [ "$transport" = unix ]; then
    link_ep=(socket="$work/ep.sock")
    vm_nic=("${key_ep[@]}" -device vrc,id=vrc0,socket="$work/ep.sock",chassis=1$key_opt${VRC_OPTS:-})
elif [ "$transport" = udp ] || [ "$transport" = udp6 ]; then
    # Addresses inside the two namespaces only.
    if [ "$transport" = udp ]; then
        ip -n "$VM_NS" addr add 10.77.0.1/24 dev "$VM_IF"
        ip -n "$EP_NS" addr add 10.77.0.2/24 dev "$EP_IF"
        ep_addr=10.77.0.2 udp_mtu=1458
    else
        ip -n "$VM_NS" addr add fd77::1/64 dev "$VM_IF" nodad
        ip -n "$EP_NS" addr add fd77::2/64 dev "$EP_IF" nodad
        ep_addr=[fd77::2] udp_mtu=1438
    fi
    link_ep=(transport=udp::5551,mtu=$udp_mtu)
    vm_nic=("${key_ep[@]}" -device vrc,id=vrc0,transport=udp:$ep_addr:5551,mtu=$udp_mtu,chassis=1$key_opt${VRC_OPTS:-})
elif [ "$transport" = packet ] || [ "$transport" = pcap ]; then
    # One raw Ethernet transport by name: AF_PACKET rings or libpcap.
    link_ep=(transport=$transport:"$EP_IF")
    vm_nic=("${key_ep[@]}" -device vrc,id=vrc0,transport=$transport:"$VM_IF",peer="$EP_MAC",chassis=1$key_opt${VRC_OPTS:-})
else
    # ifname: the default raw Ethernet transport (packet, else pcap).
    link_ep=(ifname="$EP_IF")
    vm_nic=("${key_ep[@]}" -device vrc,id=vrc0,ifname="$VM_IF",peer="$EP_MAC",chassis=1$key_opt${VRC_OPTS:-})
fi
pairs=${VRC_PING_PAIRS:-0}
if [ "$transport" = local ]; then
    vm_nic=(-device pcie-root-port,id=rp0,chassis=1
            -device "$model",bus=rp0,netdev=n0,romfile= -netdev user,id=n0)
    pairs=0
else
    if [ "$pairs" != 0 ]; then
        vm_nic+=(-device pcie-root-port,id=rpl,chassis=2,addr=03.0
                 -device "$model",bus=rpl,netdev=nl,mac=52:54:00:12:34:57,romfile=
                 -netdev user,id=nl,net=10.0.3.0/24)
    fi
    ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,"${link_ep[0]}$key_opt${VRC_EP_OPTS:-}" -nodefaults \
        "${key_ep[@]}" \
        -display none -device "$model",netdev=n0,romfile= -netdev user,id=n0 \
        -monitor none -qmp unix:"$work/ep-qmp.sock",server=on,wait=off \
        ${VRC_EP_ARGS:-} > "$work/endpoint.log" 2>&1 &
    ep_pid=$!
    # Ready when its transport is: the socket exists, or its packet socket is open.
    for _ in $(seq 50); do
        if [ "$transport" = unix ]; then [ -S "$work/ep.sock" ] && break
        elif [ "${transport#udp}" != "$transport" ]; then
            ip netns exec "$EP_NS" ss -uan 2>/dev/null | grep -q ':5551 ' && break
        else ip netns exec "$EP_NS" ss -0 -p 2>/dev/null | grep -q "pid=$ep_pid" && break; fi
        sleep 0.1
    done
    # An endpoint that exits at once refused the device model: say why.
    if ! kill -0 "$ep_pid" 2>/dev/null; then
        echo "remote-nic: REFUSED: the endpoint did not start: $(tr '\n' ' ' < "$work/endpoint.log" | cut -c1-300)" >&2
        ep_pid=
        exit 2
    fi
fi

# Register reads, with the driver unbound: the kernel does not let a BAR
# that a driver claimed be mapped, and an idle device times cleanly.
regbench_cmd=
if [ -n "${VRC_REGBENCH:-}" ]; then
    regbench_cmd="
drv=/sys/bus/pci/drivers/\$(basename \$(readlink \$d/driver)); b=\$(basename \$d)
echo \$b > \$drv/unbind
vrc-regbench --bdf=\$b --label=$transport $VRC_REGBENCH | sed 's/^/VRC-REGBENCH /'
echo \$b > \$drv/bind"
fi
guest_cmd="
set -e
# The NIC under test has QEMU's default MAC (a local one for comparison,
# VRC_PING_PAIRS, has another).
for n in /sys/class/net/*; do
    [ \"\$(cat \$n/address)\" = 52:54:00:12:34:56 ] && eth=\${n##*/}
    [ \"\$(cat \$n/address)\" = 52:54:00:12:34:57 ] && lnic=\${n##*/}
done
# Its PCI function (virtio-net: the parent of the virtio device).
d=\$(readlink -f /sys/class/net/\$eth/device)
[ -e \$d/class ] || d=\$(dirname \$d)
echo \"VRC-LSPCI \$(basename \$d) vendor \$(cat \$d/vendor) device \$(cat \$d/device) class \$(cat \$d/class)\"
$regbench_cmd
ip link set \$eth up
ip addr add 10.0.2.15/24 dev \$eth
i=0; while [ \"\$(cat /sys/class/net/\$eth/carrier)\" != 1 ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i+1)); done
ping -c ${VRC_PINGS:-10} -i 0.2 10.0.2.2 > /tmp/ping || true
tail -2 /tmp/ping
pingtimes() { sed -n 's/.*time=\\([0-9.]*\\).*/\\1/p' \$1 | tr '\\n' ' '; }
echo \"VRC-PINGTIMES \$(pingtimes /tmp/ping)\"
if [ $pairs != 0 ]; then
    ip link set \$lnic up
    ip addr add 10.0.3.15/24 dev \$lnic
    i=0; while [ \"\$(cat /sys/class/net/\$lnic/carrier)\" != 1 ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i+1)); done
    ping -c 2 -i 0.2 10.0.3.2 > /dev/null || true
    for k in \$(seq $pairs); do
        ping -c ${VRC_PINGS:-10} -i 0.2 10.0.2.2 > /tmp/pr || true
        ping -c ${VRC_PINGS:-10} -i 0.2 10.0.3.2 > /tmp/pl || true
        echo \"VRC-PINGPAIR \$k remote \$(pingtimes /tmp/pr) local \$(pingtimes /tmp/pl)\"
    done
fi
for x in \$(seq $xfers); do
    t0=\$(cut -d' ' -f1 /proc/uptime)
    for s in \$(seq $streams); do nc 10.0.2.2 $port > /tmp/f\$s & done
    wait
    t1=\$(cut -d' ' -f1 /proc/uptime)
    echo \"VRC-XFER bytes \$(cat /tmp/f* | wc -c) seconds \$t0 \$t1\"
    for s in \$(seq $streams); do
        echo \"VRC-SHA256 \$(sha256sum /tmp/f\$s | cut -d' ' -f1)\"
    done
    rm -f /tmp/f*
done
for x in \$(seq $xfers); do
    head -c $((mb * 1024 * 1024)) /dev/urandom > /tmp/u
    echo \"VRC-UPSHA256 \$(sha256sum /tmp/u | cut -d' ' -f1)\"
    t0=\$(cut -d' ' -f1 /proc/uptime)
    nc 10.0.2.2 $((port + 1)) < /tmp/u > /dev/null
    t1=\$(cut -d' ' -f1 /proc/uptime)
    echo \"VRC-UPXFER bytes \$(wc -c < /tmp/u) seconds \$t0 \$t1\"
done
"
set +e
# shellcheck disable=SC2086
VRC_NETNS=$VM_NS bash "$top/scripts/guest-run.sh" "$guest_cmd" "${vm_nic[@]}" ${VRC_VM_ARGS:-} \
    > "$work/guest.log" 2>&1
rc=$?
set -e
# Host CPU the endpoint QEMU used (all its threads, the whole run).
ep_cpu=
if [ -n "$ep_pid" ] && [ -d "/proc/$ep_pid/task" ]; then
    ep_cpu=$(cat /proc/"$ep_pid"/task/*/schedstat 2>/dev/null |
             awk '{ ns += $1 } END { printf "%.2f", ns / 1e9 }')
fi
# The endpoint's TLP counters (query-vrc on its QMP socket).
tlps=
if [ -S "$work/ep-qmp.sock" ]; then
    tlps=$(python3 - "$work/ep-qmp.sock" <<'PY' 2>/dev/null || true
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(cmd):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r.get("return")
f.readline()                                        # greeting
call("qmp_capabilities")
i = call("query-vrc")[0]
rx, tx = i["tlps-rx"], i["tlps-tx"]
print(f"endpoint got {rx['cfgrd']} CfgRd, {rx['cfgwr']} CfgWr, {rx['mrd']} MRd, "
      f"{rx['mwr']} MWr from the vrc; sent {tx['mrd']} MRd (DMA reads), {tx['mwr']} MWr "
      f"(DMA writes, MSI), {tx['cpld']} CplD, {tx['msg']} Msg in {i['frames-tx']} frames "
      f"({i['frames-rx']} received); "
      f"{i['retransmits']} retransmits, {i['timeouts']} timeouts, srtt {i['srtt-us']} us, "
      f"lossy mode on {i['lossy-mode-ons']} time(s) ({i['tail-copies']} extra copies), "
      f"{i['resends-needless']} resends needless "
      f"{'keyed session, ' + str(i['auth-fails']) + ' auth failures ' if i['keyed'] else ''}"
      f"[dma-ok={int(tx['mrd'] > 0 and tx['mwr'] > 0 and rx['cfgrd'] > 0)}]"
      f"[keyed={int(i['keyed'])}][transport={i['transport']}]"
      f"[lossy-ons={i['lossy-mode-ons']}][needless={i['resends-needless']}]")
f.write(json.dumps({"execute": "human-monitor-command",
                    "arguments": {"command-line": "info vrc"}}) + "\n")
f.flush()
while True:
    r = json.loads(f.readline())
    if "return" in r or "error" in r:
        break
for line in (r.get("return") or "").splitlines():
    if "DMA reads" in line:
        print("  DMA reads:  " + line.strip())
PY
)
fi
tr -d '\r' < "$work/guest.log" > "$work/guest.txt"
mv "$work/guest.txt" "$work/guest.log"

# Pull the guest's report lines (sed: no failure when a line is missing).
field() { sed -n "s/.*$1 //p" "$work/guest.log" | tail -1; }
lspci=$(field VRC-LSPCI)
rtt=$(sed -n 's/.*round-trip.* = //p' "$work/guest.log" | tail -1)
loss=$(sed -n '/packet loss/p' "$work/guest.log" | tail -1)
got=$(field VRC-SHA256)
# Every transfer must have brought the file intact.
bad_sums=$(sed -n 's/.*VRC-SHA256 //p' "$work/guest.log" | grep -cvx "$want" || true)
n_sums=$(grep -c 'VRC-SHA256 ' "$work/guest.log" || true)
[ "$n_sums" = $((xfers * streams)) ] && [ "$bad_sums" = 0 ] ||
    got="$got (only $((n_sums - bad_sums)) of $((xfers * streams)) transfers intact)"
# The other way: what the server on the endpoint host received, against
# what the guest sent.
up_sent=$(sed -n 's/.*VRC-UPSHA256 //p' "$work/guest.log")
up_got=$(cat "$work/up.sums" 2>/dev/null || true)
up_ok=0
[ -n "$up_sent" ] && [ "$up_sent" = "$up_got" ] &&
    [ "$(wc -l <<<"$up_sent")" = "$xfers" ] && up_ok=1
# MB/s of each transfer; the one reported is the median.
rates_of() {
    sed -n "s/.*$1 bytes \\([0-9]*\\) seconds \\([0-9.]*\\) \\([0-9.]*\\).*/\\1 \\2 \\3/p" "$work/guest.log" |
        awk '$3 > $2 { printf "%.2f %d %.2f\n", $1 / ($3 - $2) / 1e6, $1, $3 - $2 }' | sort -n
}
median() { awk -v n="$(wc -l <<<"$1")" 'NR == int((n + 1) / 2)' <<<"$1"; }
rates=$(rates_of VRC-XFER)
xfer=$(median "$rates")
bytes=$(awk '{print $2}' <<<"$xfer")
secs=$(awk '{print $3}' <<<"$xfer")
up_xfer=$(median "$(rates_of VRC-UPXFER)")

if [ "$transport" = local ]; then
    echo "== vrc: guest using a local $model (for comparison) =="
else
    echo "== vrc: guest using a remote $model over $transport =="
fi
echo "  lspci:      ${lspci:-<none>}"
echo "  ping:       ${loss:-<none>}; rtt min/avg/max ${rtt:-?}"
if [ -n "$bytes" ] && [ -n "$secs" ] && [ "$secs" != "0.00" ]; then
    echo "  TCP:        $bytes bytes in ${secs}s$([ "$streams" = 1 ] || echo " over $streams connections at once") ($(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.1f", b/s/1e6}') MB/s)"
    [ "$xfers" = 1 ] || echo "  TCP runs:   $(awk '{printf "%s ", $1}' <<<"$rates")MB/s"
fi
if [ -n "$up_xfer" ]; then
    echo "  TCP out:    $(awk '{printf "%d bytes in %.2fs (%.1f MB/s)", $2, $3, $2 / $3 / 1e6}' <<<"$up_xfer")"
fi
echo "  ping times: $(field VRC-PINGTIMES)"
if [ "$pairs" != 0 ]; then
    # Medians of each round, remote and local, and their ratio.
    grep -a "^VRC-PINGPAIR" "$work/guest.log" | tr -d '\r' | python3 -c '
import statistics, sys
all_r, all_l = [], []
for line in sys.stdin:
    k, rest = line.split()[1], line.split(None, 3)[3]
    r, l = rest.split(" local ")
    r, l = [float(x) for x in r.split()], [float(x) for x in l.split()]
    all_r += r
    all_l += l
    if r and l:
        mr, ml = statistics.median(r), statistics.median(l)
        print(f"  ping pair {k}: remote {mr:.3f} ms, local {ml:.3f} ms, {mr / ml:.2f}x")
    else:
        print(f"  ping pair {k}: lost (remote {len(r)}, local {len(l)} answers)")
if all_r and all_l:
    mr, ml = statistics.median(all_r), statistics.median(all_l)
    print(f"  ping pairs: remote {mr:.3f} ms, local {ml:.3f} ms, {mr / ml:.2f}x "
          f"(medians of {len(all_r)} and {len(all_l)} pings)")
'
fi
[ "$transport" = local ] || echo "  TLPs:       ${tlps:-<endpoint counters unavailable>}"
[ -z "$ep_cpu" ] || echo "  endpoint CPU: ${ep_cpu} s (all threads, whole run)"
regbench=$(field VRC-REGBENCH)
[ -z "${VRC_REGBENCH:-}" ] || echo "  registers:  ${regbench:-<none>}"
echo "  sha256:     ${got:-<none>} ($( [ "$got" = "$want" ] && echo match || echo "MISMATCH, want $want"))"
echo "  sha256 out: $(tail -1 <<<"${up_sent:-<none>}") sent, $(tail -1 <<<"${up_got:-<none>}") received ($( [ $up_ok = 1 ] && echo match || echo MISMATCH))"
if [ -s "$work/endpoint.log" ]; then
    echo "  endpoint said: $(tr '\n' ' ' < "$work/endpoint.log" | cut -c1-200)"
fi
# Remote: the NIC's config, DMA and interrupts did cross the link.
if [ -n "$relay_pid" ]; then
    kill -INT "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null || true
    relay_pid=
    echo "  relay:      $VRC_RELAY: $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("; ".join("%s %d frames in, %d lost, %d duplicated, %d held back, %d corrupted"
                % (d, r[d]["in"], r[d]["dropped"], r[d]["duplicated"], r[d]["held"],
                   r[d]["corrupted"]) for d in ("a2b", "b2a")))
' "$work/relay.json" 2>/dev/null || cat "$work/relay.json" "$work/relay.log")"
fi
tlps_ok=1
[ "$transport" = local ] || grep -q 'dma-ok=1' <<<"$tlps" || tlps_ok=0
# With a key, the endpoint's side of the session says it is keyed.
[ "${VRC_KEY:-0}" != 1 ] || grep -q 'keyed=1' <<<"$tlps" || tlps_ok=0
if [ $rc -ne 0 ] || [ "$got" != "$want" ] || [ $up_ok = 0 ] ||
   ! grep -q ' 0% packet loss' <<<"$loss" || [ $tlps_ok = 0 ]; then
    echo "remote-nic: FAILED (guest rc $rc); guest console follows" >&2
    tail -n 40 "$work/guest.log" >&2
    exit 1
fi
echo "remote-nic: OK"
