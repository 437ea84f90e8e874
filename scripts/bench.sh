#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: what a remote device costs, side by side in one run on one
# machine. Reports figures and ratios; never fails on a timing (only when a
# measurement could not be taken at all).
#   1. the floor: raw frame round trips and raw frame throughput over the
#      same veth and the same transport code (tools/vrc-pingpong);
#   2. DMA: vrc-dma-bench reading and writing guest memory, hosted by the
#      endpoint (MTU 1500 and 9000) and plugged in locally
#      (scripts/bench-dma.py), with host CPU per GB;
#   3. per-stage cost of one register read and of DMA, from trace
#      timestamps on both sides (scripts/bench-stages.py);
#   4. the guest's view: register read round trip (tools/vrc-regbench in
#      the guest), ping RTT and TCP throughput through a remote and a local
#      e1000e, then virtio-net-pci, same guest, kernel and backend; and the
#      remote e1000e once more with poll-us=200 (the vCPU spins for completions);
#   5. on a lossy wire: TCP and 1 MiB DMA through tools/vrc-relay at 0.1%, 1%
#      and 5% loss and a mix with duplicates, reordering and corruption, as
#      ratios to the clean relay (scripts/bench-loss.sh);
#   6. the cost of a key: DMA with CPU per GB, and the guest's register read,
#      ping and TCP, keyed against unkeyed (scripts/bench-key.sh);
#   7. each transport side by side (pcap, packet, udp): raw round trips and
#      streams beside the kernel's TCP over the same veth (iperf3, the second
#      floor; scripts/bench-transports.sh), and register read, DMA by size
#      and CPU per GB through each (bench-dma.py --transport), and 1 MiB
#      reads with each QEMU on a CPU of its own (--pin, as on two hosts);
#   8. ping, five separate guest runs, each with a remote and a local NIC
#      of the same model pinged by turns (e1000e, virtio-net-pci); an NVMe disk, sequential write and read in the
#      guest, remote and local (scripts/compat.sh nvme, three runs each).
# The guest's remote runs use the default transport (ifname=: AF_PACKET rings).
# Writes bench/results/<time>.json, .md and .png plots (scripts/bench-report.py).
# VRC_BENCH_QUICK=1 cuts repetitions (for trying the script, not for figures).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
qemu=$top/build/qemu-system-x86_64
pingpong=$top/build/host/tools/vrc-pingpong
work=$(mktemp -d)
quick=${VRC_BENCH_QUICK:-0}
mkdir -p "$out"
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
trap 'vrc_netns_down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
vrc_netns_probe || { echo "bench: cannot create network namespaces: run as root" >&2; exit 1; }
for f in "$qemu" "$pingpong" "$top/build/guest/initramfs.gz"; do
    [ -e "$f" ] || { echo "bench: $f is missing: run make first" >&2; exit 1; }
done
rtts=5000; streams=20000; dma_runs=20; pings=50; file_mb=16; xfers=3
if [ "$quick" = 1 ]; then rtts=500; streams=2000; dma_runs=3; pings=5; file_mb=4; xfers=1; fi
step() { echo "vrc bench: $*" >&2; }

# floor SIZE MTU BUSY: one round-trip run, its JSON line to stdout.
floor() {
    local size=$1 mtu=$2 busy=$3 args=()
    [ "$busy" = 1 ] && args=(--busy-poll)
    VRC_MTU=$mtu vrc_netns_up "vrcbench$$"
    ip netns exec "$EP_NS" "$pingpong" --mode=pong --ifname="$EP_IF" \
        --count "$rtts" "${args[@]}" > /dev/null 2>&1 &
    ip netns exec "$VM_NS" "$pingpong" --mode=ping --ifname="$VM_IF" \
        --peer="$EP_MAC" --size "$size" --count "$rtts" "${args[@]}" --json | tail -1
    wait
    vrc_netns_down
}

# stream SIZE MTU: raw frame throughput, one direction, its JSON line.
stream() {
    VRC_MTU=$2 vrc_netns_up "vrcbench$$"
    ip netns exec "$EP_NS" "$pingpong" --mode=pong --ifname="$EP_IF" --stream \
        > /dev/null 2>&1 &
    ip netns exec "$VM_NS" "$pingpong" --mode=ping --ifname="$VM_IF" \
        --peer="$EP_MAC" --stream --size "$1" --count "$streams" --json | tail -1
    wait
    vrc_netns_down
}

step "$stamp: floor (raw frames over veth + libpcap)"
: > "$work/floor.jsonl"
for spec in "64 1500 0" "1500 1500 0" "9014 9000 0" "64 1500 1" "1500 1500 1" "9014 9000 1"; do
    # shellcheck disable=SC2086
    floor $spec >> "$work/floor.jsonl"
done
: > "$work/stream.jsonl"
for spec in "1514 1500" "9014 9000"; do
    for _ in 1 2 3; do
        # shellcheck disable=SC2086
        stream $spec >> "$work/stream.jsonl"
    done
done

step "DMA: vrc-dma-bench, local and remote (MTU 1500, 9000)"
python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode local --runs "$dma_runs" \
    --log "$work/dma-local.log" > "$work/dma.jsonl"
for mtu in 1500 9000; do
    VRC_MTU=$mtu vrc_netns_up "vrcbench$$"
    python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --mtu "$mtu" \
        --runs "$dma_runs" --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" \
        --ep-if "$EP_IF" --ep-mac "$EP_MAC" --log "$work/dma-remote-$mtu.log" >> "$work/dma.jsonl"
    if [ "$mtu" = 1500 ]; then
        # The same with the endpoint spinning for its DMA reads' completions.
        python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --mtu "$mtu" \
            --runs "$dma_runs" --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" \
            --ep-if "$EP_IF" --ep-mac "$EP_MAC" --ep-opts ",poll-us=200" \
            --sizes 1400,14000,140000 --log "$work/dma-remote-poll.log" >> "$work/dma.jsonl"
    fi
    vrc_netns_down
done

step "DMA and register reads through each transport (MTU 1500)"
for t in pcap packet udp; do
    vrc_netns_up "vrcbench$$"
    python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --transport "$t" \
        --runs "$dma_runs" --regreads $((dma_runs * 100)) --vm-ns "$VM_NS" --ep-ns "$EP_NS" \
        --vm-if "$VM_IF" --ep-if "$EP_IF" --ep-mac "$EP_MAC" \
        --log "$work/dma-transport-$t.log" >> "$work/dma-transports.jsonl"
    # Back to back, 16 MiB a run: qtest's few round trips a run (the doorbell,
    # the status poll, the time and sum reads) are then not in CPU per GB.
    python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --transport "$t" \
        --runs "$dma_runs" --sizes 1048576 --batch-bytes $((16 << 20)) \
        --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" --ep-if "$EP_IF" \
        --ep-mac "$EP_MAC" --log "$work/dma-transport-$t.log" >> "$work/dma-transports.jsonl"
    vrc_netns_down
done
python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode local --sizes "" \
    --regreads $((dma_runs * 100)) --log "$work/dma-local.log" >> "$work/dma-transports.jsonl"

step "1 MiB DMA reads through each transport, each QEMU on a CPU of its own"
# As on two hosts: on one machine the kernel may queue a frame's receiver on
# its sender's CPU while the other idles (docs/performance.md). One transfer
# a run, then back to back; side by side with the unpinned rows above.
for t in pcap packet udp; do
    vrc_netns_up "vrcbench$$"
    for batch in 1048576 $((16 << 20)); do
        python3 "$top/scripts/bench-dma.py" --qemu "$qemu" --mode remote --transport "$t" \
            --pin --runs "$dma_runs" --sizes 1048576 --batch-bytes "$batch" --directions read \
            --vm-ns "$VM_NS" --ep-ns "$EP_NS" --vm-if "$VM_IF" --ep-if "$EP_IF" \
            --ep-mac "$EP_MAC" --log "$work/dma-pinned-$t.log" >> "$work/dma-pinned.jsonl"
    done
    vrc_netns_down
done

step "transports side by side: raw frames and the kernel's TCP (iperf3)"
if [ "$quick" = 1 ]; then
    export BENCH_COUNT=1000 BENCH_STREAM=20000 BENCH_TLPS=50000
fi
BENCH_NS="vrcbt$$" bash "$top/scripts/bench-transports.sh" > "$work/transports.md" ||
    echo "bench: bench-transports.sh failed" >&2

step "per-stage cost (trace timestamps on both sides)"
vrc_netns_up "vrcbench$$"
python3 "$top/scripts/bench-stages.py" --qemu "$qemu" --vm-ns "$VM_NS" --ep-ns "$EP_NS" \
    --vm-if "$VM_IF" --ep-if "$EP_IF" --ep-mac "$EP_MAC" --work "$work/stages" \
    > "$work/stages.json"
vrc_netns_down

step "guest: register reads, ping and TCP, remote vs local (e1000e, virtio-net-pci)"
for model in e1000e virtio-net-pci; do
    # The register: e1000e STATUS in BAR0; virtio's common configuration in BAR4.
    regs="--bar=0 --offset=0x8"
    [ "$model" = virtio-net-pci ] && regs="--bar=4 --offset=0x0"
    for mode in ifname udp local; do
        VRC_TRANSPORT=$mode VRC_PINGS=$pings VRC_FILE_MB=$file_mb VRC_XFERS=$xfers VRC_REGBENCH="$regs" \
            bash "$top/scripts/remote-nic.sh" "$model" > "$work/guest-$model-$mode.txt" 2>&1 || true
    done
done

# The same remote e1000e with its vCPU and the endpoint spinning for
# completions (poll-us on both sides).
VRC_PINGS=$pings VRC_FILE_MB=$file_mb VRC_XFERS=$xfers VRC_REGBENCH="--bar=0 --offset=0x8" \
    VRC_OPTS=",poll-us=200" VRC_EP_OPTS=",poll-us=200" bash "$top/scripts/remote-nic.sh" e1000e \
    > "$work/guest-e1000e-poll.txt" 2>&1 || true

step "ping, five guest runs, remote and local NIC side by side in each (e1000e, virtio-net-pci)"
ping_runs=5
[ "$quick" = 1 ] && ping_runs=2
for i in $(seq "$ping_runs"); do
    for model in e1000e virtio-net-pci; do
        VRC_PING_PAIRS=4 VRC_PINGS=$((pings / 5 + 1)) VRC_FILE_MB=1 \
            bash "$top/scripts/remote-nic.sh" "$model" > "$work/ping-$model-$i.txt" 2>&1 || true
    done
done

step "NVMe: sequential write and read of the disk in the guest, remote and local"
for i in $(seq "$xfers"); do
    for mode in remote local; do
        VRC_DISK_MB=$((file_mb * 2)) bash "$top/scripts/compat.sh" nvme "$mode" \
            > "$work/nvme-$mode-$i.txt" 2>&1 || true
    done
done

# A figure that could not be measured fails the run, after the rest is done.
rc=0
python3 "$top/scripts/bench-report.py" "$work" "$out/$stamp" "$top" || rc=1

step "a lossy wire: TCP and 1 MiB DMA at several loss mixes (tools/vrc-relay)"
bash "$top/scripts/bench-loss.sh" "$out/$stamp" > /dev/null
cat "$out/$stamp-loss.md" >> "$out/$stamp.md"
step "the cost of a key: keyed against unkeyed sessions"
bash "$top/scripts/bench-key.sh" "$out/$stamp" > /dev/null
cat "$out/$stamp-key.md" >> "$out/$stamp.md"
step "results: bench/results/$stamp.{json,md} and plots $stamp-*.png"
exit $rc
