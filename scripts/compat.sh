#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run one QEMU device model behind vrc and say whether it works.
#
# remote: a vrc-endpoint QEMU in one network namespace hosts the model; the
#         guest in the other reaches it through -device vrc over veth/libpcap.
# local:  the same model plugged into the VM itself behind a pcie-root-port,
#         for comparison.
#
# The guest finds the function by vendor:device under /sys/bus/pci/devices and
# does what the model is for: NICs ping and move a file over TCP both ways
# (scripts/remote-nic.sh); disks are written with 4 MiB (VRC_DISK_MB) of random data, synced,
# the page cache dropped and read back, with the sha256 of what was written,
# what was read and the disk file on the host compared; the rest as the table
# in model_info says.
#
# Usage: compat.sh MODEL remote|local      (compat.sh --list: the models)
# Prints, last, one line:
#   COMPAT model=M mode=remote|local result=works   kind=K FIGURES...
#   COMPAT model=M mode=... result=broken  kind=K why="..."
#   COMPAT model=M mode=... result=refused kind=K why="endpoint's message"
# FIGURES are key=value in MB/s: tcp_in= tcp_out= (NICs), write= read= (disks).
# Exit status: 0 works, 1 broken, 2 refused, 3 usage.
# Environment: VRC_GUEST_TIMEOUT (default 150), VRC_SMP (guest vCPUs),
# VRC_DISK_MB (MiB a disk test writes and reads back, default 4), VRC_OPTS
# and VRC_EP_OPTS (more -device vrc / -machine vrc-endpoint options, starting
# with a comma), VRC_EP_ARGS (more arguments for the endpoint's QEMU, split
# at spaces, e.g. "-trace vrc_ep_* -D /tmp/ep.log"), VRC_QEMU (the QEMU
# binary, default build/qemu-system-x86_64), as for remote-nic.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
qemu=${VRC_QEMU:-$top/build/qemu-system-x86_64}
disk_bytes=$(( ${VRC_DISK_MB:-4} * 1048576 ))

MODELS="e1000e e1000 igb rtl8139 virtio-net-pci vmxnet3
nvme virtio-blk-pci virtio-scsi-pci lsi53c895a ich9-ahci megasas qemu-xhci usb-ehci
i6300esb pvpanic-pci virtio-rng-pci edu"

# model_info MODEL: sets kind, ids (vendor:device as the guest may see them;
# virtio is modern-only on the endpoint, transitional locally), and dev: the
# -device arguments (the disk's -drive is added to them); load=1: the guest
# loads the drivers it does not load at boot (/lib/modules/load-later) first.
model_info() {
    dev=() load=
    case $1 in
    e1000e|e1000|igb|rtl8139|virtio-net-pci|vmxnet3) kind=nic ;;
    nvme)            kind=storage ids="1b36:0010"
                     dev=(-device nvme,serial=vrc-compat,drive=d0) ;;
    virtio-blk-pci)  kind=storage ids="1af4:1042 1af4:1001"
                     dev=(-device virtio-blk-pci,drive=d0) ;;
    virtio-scsi-pci) kind=storage ids="1af4:1048 1af4:1004"
                     dev=(-device virtio-scsi-pci,id=s0 -device scsi-hd,bus=s0.0,drive=d0) ;;
    lsi53c895a)      kind=storage ids="1000:0012"
                     dev=(-device lsi53c895a,id=s0 -device scsi-hd,bus=s0.0,drive=d0) ;;
    ich9-ahci)       kind=storage ids="8086:2922" load=1
                     dev=(-device ich9-ahci,id=a0 -device ide-hd,bus=a0.0,drive=d0) ;;
    megasas)         kind=storage ids="1000:0060"
                     dev=(-device megasas,id=s0 -device scsi-hd,bus=s0.0,drive=d0) ;;
    qemu-xhci)       kind=usb ids="1b36:000d"
                     dev=(-device qemu-xhci,id=u0 -device usb-storage,bus=u0.0,drive=d0) ;;
    usb-ehci)        kind=usb ids="8086:24cd"
                     dev=(-device usb-ehci,id=u0 -device usb-storage,bus=u0.0,drive=d0) ;;
    i6300esb)        kind=watchdog ids="8086:25ab" dev=(-device i6300esb) ;;
    pvpanic-pci)     kind=misc ids="1b36:0011" dev=(-device pvpanic-pci) ;;
    virtio-rng-pci)  kind=rng ids="1af4:1044 1af4:1005" dev=(-device virtio-rng-pci) ;;
    edu)             kind=misc ids="1234:11e8" dev=(-device edu) ;;
    *) return 1 ;;
    esac
}

if [ "${1:-}" = --list ]; then
    echo $MODELS
    exit 0
fi
model=${1:-}
mode=${2:-}
if ! model_info "$model" 2>/dev/null || { [ "$mode" != remote ] && [ "$mode" != local ]; }; then
    echo "usage: compat.sh MODEL remote|local; models: $(echo $MODELS)" >&2
    exit 3
fi

# No binary (it is being rebuilt): no result at all, rather than a wrong one.
if [ ! -x "$qemu" ]; then
    echo "compat: no QEMU binary at $qemu" >&2
    exit 3
fi

# result works|broken|refused TEXT: the line, and the exit status.
result() {
    local r=$1
    shift
    echo "COMPAT model=$model mode=$mode result=$r kind=$kind${*:+ $*}"
    case $r in works) exit 0 ;; refused) exit 2 ;; *) exit 1 ;; esac
}
# One line of text fit for why="...".
oneline() {
    sed -E 's/\x1b(\[[0-9;?]*[a-zA-Z]|c)//g' | tr '\n"' ' \047' | tr -s ' ' |
        cut -c1-"${1:-240}" | sed 's/^ *//; s/ *$//'
}

# NICs: scripts/remote-nic.sh does it all.
if [ $kind = nic ]; then
    transport=ifname
    [ $mode = local ] && transport=local
    set +e
    out=$(VRC_TRANSPORT=$transport bash "$top/scripts/remote-nic.sh" "$model" 2>&1)
    rc=$?
    set -e
    printf '%s\n' "$out"
    if [ $rc = 2 ]; then
        result refused "why=\"$(sed -n 's/.*REFUSED: the endpoint did not start: //p' <<<"$out" | oneline)\""
    fi
    if [ $rc != 0 ]; then
        # The guest's own complaint if it made one, then what did not pass.
        why=$(sed -n '/guest console follows/,$p' <<<"$out" |
              grep -aiE 'error|fail|timed out|unable' | grep -v 'remote-nic: FAILED' |
              sed 's/^\[ *[0-9.]*\] //' | head -2 | oneline 160)
        [ -n "$why" ] || why="$(grep -E '^  (ping|sha256|sha256 out):' <<<"$out" |
              sed 's/^  //; s/ *(only.*MISMATCH.*//; s/ (MISMATCH, want.*//' | oneline 200)"
        result broken "why=\"$why\""
    fi
    tin=$(sed -n 's/^  TCP: .*(\([0-9.]*\) MB\/s)/\1/p' <<<"$out")
    tout=$(sed -n 's/^  TCP out: .*(\([0-9.]*\) MB\/s)/\1/p' <<<"$out")
    result works "tcp_in=${tin:-?} tcp_out=${tout:-?}"
fi

work=$(mktemp -d)
ep_pid=
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
cleanup() {
    if [ -n "$ep_pid" ] && kill -0 "$ep_pid" 2>/dev/null; then kill "$ep_pid"; fi
    wait 2>/dev/null
    vrc_netns_down
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The disk: a file on the host that runs the model.
drive=()
case $kind in storage|usb)
    truncate -s 64M "$work/disk.img"
    drive=(-drive if=none,id=d0,file="$work/disk.img",format=raw)
esac
# The watchdog must not fire: make it say so instead of resetting.
action=()
[ $kind = watchdog ] && action=(-action watchdog=debug)

vrc_netns_probe || result broken 'why="cannot create network namespaces: run as root"'
vrc_netns_up "vrccp$$"
if [ $mode = remote ]; then
    ip netns exec "$EP_NS" "$qemu" -machine vrc-endpoint,ifname="$EP_IF"${VRC_EP_OPTS:-} -nodefaults \
        -display none -monitor none -qmp unix:"$work/ep-qmp.sock",server=on,wait=off \
        "${action[@]}" "${dev[@]}" "${drive[@]}" ${VRC_EP_ARGS:-} \
        > "$work/endpoint.log" 2>&1 &
    ep_pid=$!
    for _ in $(seq 50); do
        ip netns exec "$EP_NS" ss -0 -p 2>/dev/null | grep -q "pid=$ep_pid" && break
        kill -0 "$ep_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$ep_pid" 2>/dev/null; then
        ep_pid=
        result refused "why=\"$(oneline 800 < "$work/endpoint.log")\""
    fi
    vm_dev=(-device vrc,id=vrc0,ifname="$VM_IF",peer="$EP_MAC",chassis=1${VRC_OPTS:-})
else
    vm_dev=(-device pcie-root-port,id=rp0,chassis=1 "${action[@]}")
    # The model's PCI function goes on the root port.
    for a in "${dev[@]}"; do
        case $a in "$model"|"$model",*) a="$a,bus=rp0" ;; esac
        vm_dev+=("$a")
    done
    vm_dev+=("${drive[@]}")
fi

# The guest's snippet: find the function, then the model's action. VRC-FAIL
# says what went wrong; VRC-* lines carry the results.
drv_wait=100
[ "$model" = edu ] && drv_wait=1     # edu has no driver
guest_cmd="
ids='$ids'
[ -z '$load' ] || while read -r m; do insmod /lib/modules/\$m; done < /lib/modules/load-later
drv_wait=$drv_wait
"'
d=
for i in $(seq 100); do
    for f in /sys/bus/pci/devices/*; do
        for id in $ids; do
            [ "$(cat $f/vendor):$(cat $f/device)" = "0x${id%:*}:0x${id#*:}" ] && d=$f
        done
    done
    [ -n "$d" ] && break
    sleep 0.1
done
[ -n "$d" ] || { echo "VRC-FAIL no PCI function $ids in the guest"; exit 1; }
b=$(basename $d)
echo "VRC-LSPCI $b vendor $(cat $d/vendor) device $(cat $d/device) class $(cat $d/class)"
# The driver binds, or we say so.
drv=
for i in $(seq $drv_wait); do
    [ -e $d/driver ] && { drv=$(basename $(readlink $d/driver)); break; }
    sleep 0.1
done
echo "VRC-DRIVER ${drv:-none}"
up() { cut -d" " -f1 /proc/uptime; }
'
case $kind in
storage|usb) guest_cmd+='
[ -n "$drv" ] || { echo "VRC-FAIL no driver bound to $b"; exit 1; }
# The disk behind this function (USB and SCSI scan in the background).
blk=
for i in $(seq 300); do
    for s in /sys/block/*; do
        [ -e "$s" ] || continue
        case "$(readlink -f "$s")" in */$b/*) blk=${s##*/} ;; esac
    done
    [ -n "$blk" ] && [ "$(cat /sys/block/$blk/size)" != 0 ] && break
    sleep 0.1
done
[ -n "$blk" ] || { echo "VRC-FAIL driver $drv bound but no disk appeared behind $b"; exit 1; }
# NVMe multipath: the path device (nvme0c0n1) is hidden; use its head (nvme0n1).
case $blk in nvme*c*n*) blk=$(echo $blk | sed "s/c[0-9]*n/n/") ;; esac
[ -b /dev/$blk ] || { echo "VRC-FAIL /dev/$blk is not a block device"; exit 1; }
echo "VRC-DISK $blk"
head -c '"$disk_bytes"' /dev/urandom > /tmp/a
echo "VRC-WROTE $(sha256sum /tmp/a | cut -d" " -f1)"
t0=$(up)
dd if=/tmp/a of=/dev/$blk bs=65536 conv=fsync 2>/dev/null || { echo "VRC-FAIL writing /dev/$blk failed"; exit 1; }
sync
t1=$(up)
echo 3 > /proc/sys/vm/drop_caches
t2=$(up)
dd if=/dev/$blk of=/tmp/b bs=65536 count='"$((disk_bytes / 65536))"' 2>/dev/null || { echo "VRC-FAIL reading /dev/$blk failed"; exit 1; }
t3=$(up)
echo "VRC-READ $(sha256sum /tmp/b | cut -d" " -f1)"
echo "VRC-TIMES $t0 $t1 $t2 $t3"
' ;;
watchdog) guest_cmd+='
[ "$drv" = i6300ESB ] || { echo "VRC-FAIL driver not bound (${drv:-none})"; exit 1; }
# A short heartbeat, so that a watchdog that is not petted, or not stopped,
# fires within the run.
rmmod i6300esb && insmod /lib/modules/i6300esb.ko heartbeat=2 ||
    { echo "VRC-FAIL reloading i6300esb with heartbeat=2"; exit 1; }
for i in $(seq 50); do [ -c /dev/watchdog ] && break; sleep 0.1; done
[ -c /dev/watchdog ] || { echo "VRC-FAIL no /dev/watchdog"; exit 1; }
exec 3> /dev/watchdog || { echo "VRC-FAIL cannot open /dev/watchdog"; exit 1; }
for i in 1 2 3 4 5 6; do printf p >&3; sleep 1; done
printf V >&3
exec 3>&-
echo "VRC-WDT petted for 6 s with a 2 s heartbeat and closed with V"
sleep 6
echo "VRC-WDT still alive 6 s after close"
' ;;
misc) if [ "$model" = edu ]; then guest_cmd+='
# No driver: enable the function and read its registers through BAR0.
echo 1 > $d/enable
bar=$(head -1 $d/resource | cut -d" " -f1)
[ $((bar)) != 0 ] || { echo "VRC-FAIL BAR0 not assigned"; exit 1; }
id=$(devmem $((bar)) 32)
echo "VRC-EDU id $id"
[ $((id & 0xffff)) = $((0xed)) ] || { echo "VRC-FAIL ID register reads $id"; exit 1; }
devmem $((bar + 4)) 32 0x12345678
live=$(devmem $((bar + 4)) 32)
echo "VRC-EDU liveness $live"
[ $((live)) = $((0xedcba987)) ] || { echo "VRC-FAIL liveness register reads $live after writing 0x12345678"; exit 1; }
'
    else guest_cmd+='
[ "$drv" = pvpanic-pci ] || { echo "VRC-FAIL driver not bound (${drv:-none})"; exit 1; }
'
    fi ;;
rng) guest_cmd+='
[ -n "$drv" ] || { echo "VRC-FAIL no driver bound to $b"; exit 1; }
for i in $(seq 50); do grep -q virtio_rng /sys/class/misc/hw_random/rng_current 2>/dev/null && break; sleep 0.1; done
echo "VRC-RNG current $(cat /sys/class/misc/hw_random/rng_current)"
grep -q virtio_rng /sys/class/misc/hw_random/rng_current || { echo "VRC-FAIL virtio_rng is not the current hwrng"; exit 1; }
t0=$(up)
dd if=/dev/hwrng of=/tmp/r1 bs=64 count=16 2>/dev/null || { echo "VRC-FAIL reading /dev/hwrng"; exit 1; }
dd if=/dev/hwrng of=/tmp/r2 bs=64 count=16 2>/dev/null || { echo "VRC-FAIL reading /dev/hwrng"; exit 1; }
t1=$(up)
n1=$(wc -c < /tmp/r1); n2=$(wc -c < /tmp/r2)
echo "VRC-RNG read $n1 and $n2 bytes"
[ "$n1" = 1024 ] && [ "$n2" = 1024 ] || { echo "VRC-FAIL short reads from /dev/hwrng"; exit 1; }
head -c 1024 /dev/zero > /tmp/z
! cmp -s /tmp/r1 /tmp/z || { echo "VRC-FAIL /dev/hwrng gave zeros"; exit 1; }
! cmp -s /tmp/r1 /tmp/r2 || { echo "VRC-FAIL two reads of /dev/hwrng are the same"; exit 1; }
echo "VRC-RNG ok"
' ;;
esac
guest_cmd+='
echo VRC-ACTION-OK
'

set +e
VRC_NETNS=$VM_NS VRC_GUEST_TIMEOUT=${VRC_GUEST_TIMEOUT:-150} \
    bash "$top/scripts/guest-run.sh" "$guest_cmd" "${vm_dev[@]}" > "$work/guest.log" 2>&1
rc=$?
set -e
# The endpoint's counters: its maps of guest memory (bounce buffers).
ep_maps=
if [ -n "$ep_pid" ]; then
    ep_maps=$(python3 "$top/scripts/qmp.py" "$work/ep-qmp.sock" query-vrc 2>/dev/null |
              python3 -c 'import json,sys; i=json.load(sys.stdin)[-1]; print(i["maps"], i["map-bytes"], i["map-limited"], i["map-in-use"])' 2>/dev/null || true)
    # ... and what its function's DMA reads took (info vrc).
    ep_dma=$(python3 "$top/scripts/qmp.py" "$work/ep-qmp.sock" human-monitor-command \
                 '{"command-line": "info vrc"}' 2>/dev/null |
             python3 -c 'import json,sys; print("".join(l.strip() for l in json.load(sys.stdin).splitlines() if "DMA reads" in l))' \
             2>/dev/null || true)
fi
if [ -n "$ep_pid" ]; then
    kill "$ep_pid" 2>/dev/null; wait "$ep_pid" 2>/dev/null || true
    ep_pid=
fi
tr -d '\r' < "$work/guest.log" > "$work/guest.txt"
field() { sed -n "s/.*$1 //p" "$work/guest.txt" | tail -1; }
echo "== $model ($kind), $mode =="
echo "  lspci:   $(field VRC-LSPCI)"
echo "  driver:  $(field VRC-DRIVER)"
{ grep -E 'VRC-(DISK|WROTE|READ|TIMES|WDT|EDU|RNG) ' "$work/guest.txt" || true; } | sed 's/^.*VRC-/  /'

fail() {
    echo "compat: $model $mode FAILED (guest rc $rc); guest console follows" >&2
    tail -n 30 "$work/guest.txt" >&2
    if [ -s "$work/endpoint.log" ]; then
        echo "compat: endpoint log:" >&2
        tail -n 20 "$work/endpoint.log" >&2
    fi
    result broken "why=\"$(oneline <<<"$1")\""
}
# A device model entered twice, or a watchdog that fired, is broken whatever
# the guest saw.
if grep -q re-entrant "$work/endpoint.log" 2>/dev/null; then
    fail "the endpoint entered the device model twice: $(grep -m1 re-entrant "$work/endpoint.log")"
fi
if grep -qE 'watchdog: timer fired|i6300esb_timer_expired' "$work/guest.txt" "$work/endpoint.log" 2>/dev/null; then
    fail "the watchdog fired: $(grep -hm1 -E 'watchdog: timer fired|i6300esb_timer_expired' "$work/guest.txt" "$work/endpoint.log" 2>/dev/null)"
fi
if [ $rc != 0 ] || ! grep -q VRC-ACTION-OK "$work/guest.txt"; then
    why=$(field VRC-FAIL)
    if [ -z "$why" ] && [ $rc = 124 ]; then
        why="the guest did not finish (${VRC_GUEST_TIMEOUT:-150} s at most); its console ends: $(
            grep -av -e '^\s*$' -e '^qemu-system' -e '^guest-run:' "$work/guest.txt" | tail -2)"
    fi
    [ -n "$why" ] || why="guest rc $rc: $(grep -v '^\s*$' "$work/guest.txt" | tail -3)"
    fail "$why"
fi

case $kind in
storage|usb)
    wrote=$(field VRC-WROTE)
    read_back=$(field VRC-READ)
    on_disk=$(head -c "$disk_bytes" "$work/disk.img" | sha256sum | cut -d' ' -f1)
    [ $mode = local ] || echo "  maps:    ${ep_maps:-<no query-vrc answer>} (maps, bytes, limited, in use: the endpoint's)"
    [ $mode = local ] || echo "  DMA:     ${ep_dma:-<no info vrc answer>}"
    echo "  on disk: $on_disk (the disk file on the $( [ $mode = remote ] && echo "endpoint's" || echo "VM's") host)"
    [ -n "$wrote" ] && [ "$wrote" = "$read_back" ] ||
        fail "read back $read_back, wrote $wrote"
    [ "$wrote" = "$on_disk" ] || fail "the disk file has $on_disk, the guest wrote $wrote"
    # Every map of guest memory the endpoint served must have been served
    # whole: a limited one is a request the model saw fail.
    if [ $mode = remote ]; then
        read -r _ _ n_limited _ <<<"${ep_maps:-? ? ? ?}"
        [ "$n_limited" = 0 ] || fail "the endpoint could not serve every map of guest memory whole (maps, bytes, limited, in use: ${ep_maps:-no query-vrc answer})"
        # An NVMe write maps its scatter-gather list entry by entry
        # (dma_blk_io): the endpoint fetches each list at once and serves
        # the maps from that copy, unless told not to (x-read-soon=off).
        if [ "$model" = nvme ] && [[ "${VRC_EP_OPTS:-}" != *x-read-soon=off* ]]; then
            served=$(sed -n 's/.*transfers read at once [0-9]* ([0-9]* ranges, [0-9]* bytes), served \([0-9]*\).*/\1/p' <<<"$ep_dma")
            [ "${served:-0}" -gt 0 ] ||
                fail "no map of a disk write was served from a list read at once (${ep_dma:-no info vrc answer})"
        fi
    fi
    # MB/s from the guest's clock; 10 ms resolution, good enough for 4 MiB.
    figs=$(field VRC-TIMES | awk -v b="$disk_bytes" '{ w = $2 - $1; r = $4 - $3; if (w <= 0) w = 0.01; if (r <= 0) r = 0.01
        printf "write=%.1f read=%.1f", b / w / 1e6, b / r / 1e6 }')
    result works "$figs" ;;
*)  result works ;;
esac
