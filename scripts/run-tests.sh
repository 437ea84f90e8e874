#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every vrc test suite, one line per test, and end with "N passed, N failed".
# Exits non-zero if any test failed. Logs go to build/test-logs/.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
B=$top/build
logs=$B/test-logs
rm -rf "$logs"
mkdir -p "$logs"
passed=0
failed=0
failed_names=()

# run NAME COMMAND...: one test; its output goes to the log, a line to stdout.
run() {
    local name=$1 log="$logs/${1//\//_}.log" start rc
    shift
    start=$(date +%s)
    "$@" > "$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        printf 'PASS  %-40s %3ss\n' "$name" $(( $(date +%s) - start ))
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        printf 'FAIL  %-40s %3ss (exit %d, log %s)\n' "$name" \
            $(( $(date +%s) - start )) $rc "${log#$top/}"
        tail -n 25 "$log" | sed 's/^/    | /'
    fi
}

# Unit tests: one entry per test program registered with meson.
unit_tests=$(meson test -C "$B/host" --list --suite unit 2>/dev/null | sed 's/^.* \/ //')
if [ -z "$unit_tests" ]; then
    run "unit/list" false     # nothing registered: that is a failure, not a pass
fi
for t in $unit_tests; do
    run "unit/$t" meson test -C "$B/host" --no-rebuild --suite unit "$t" --print-errorlogs
done

# Wire-format dissector against our encoder.
run "dissector/tshark" bash "$top/tests/dissector/test-dissector.sh" "$B/host/tools/vrc-pcapgen"

# The libpcap transport between two network namespaces joined by veth.
run "net/pcap-veth" bash "$top/tests/net/test-pcap-veth.sh" "$B/host/tools/vrc-pingpong"

# The packet transport (AF_PACKET rings, bursts) between the same two
# namespaces: each ring and way of sending, streams, the MAC filter.
run "net/packet-veth" bash "$top/tests/net/test-packet-veth.sh" "$B/host/tools/vrc-pingpong"

# The udp transport between the same two namespaces, routed over IPv4 and
# IPv6: ping-pong, fragmented jumbo frames, batched streams, a stray sender.
run "net/udp-netns" bash "$top/tests/net/test-udp-netns.sh" "$B/host/tools/vrc-pingpong"

# The same frames through a lossy relay in a third namespace (tools/vrc-relay):
# loss, duplicates, reordering and corruption at known rates.
run "net/relay-lossy" bash "$top/tests/net/test-relay.sh" "$B/host/tools/vrc-pingpong" \
    "$B/host/tools/vrc-relay"

# A stranger on the segment (tools/vrc-stranger) forges frames against a live
# session (tools/vrc-session) across a flooding bridge: blind and sniffing.
run "net/stranger" bash "$top/tests/net/test-stranger.sh" "$B/host/tools/vrc-session" \
    "$B/host/tools/vrc-stranger"

# configd, vrcctl and simulated endpoints (vrc-epsim) between two network
# namespaces: discovery, liveness, assignments, generations, restarts.
run "configd/discovery" bash "$top/tests/configd/test-discovery.sh"
run "configd/assign" bash "$top/tests/configd/test-assign.sh"
run "configd/restart" bash "$top/tests/configd/test-restart.sh"
run "configd/auth" bash "$top/tests/configd/test-auth.sh"

# Fuzzing the receive path (bounded number of runs, seeds from the pcap
# generator) and the link layer's state machine under a hostile channel.
run "fuzz/decode" bash "$top/tests/fuzz/run-fuzz.sh" "$B/fuzz/tests/fuzz/fuzz-decode" \
    "$B/fuzz-corpus" 2000000 "$B/host/tools/vrc-pcapgen"
run "fuzz/link" bash "$top/tests/fuzz/run-fuzz.sh" "$B/fuzz/tests/fuzz/fuzz-link" \
    "$B/fuzz-corpus-link" 20000
run "fuzz/link-keyed" bash "$top/tests/fuzz/run-fuzz.sh" "$B/fuzz/tests/fuzz/fuzz-link-keyed" \
    "$B/fuzz-corpus-link-keyed" 20000
# The transports' receive code over memory the kernel writes: AF_PACKET
# ring blocks and slots, the TX ring, UDP GRO datagrams cut into frames.
run "fuzz/rx" bash "$top/tests/fuzz/run-fuzz.sh" "$B/fuzz/tests/fuzz/fuzz-rx" \
    "$B/fuzz-corpus-rx" 1000000

# The patched QEMU: the device is there, explains itself, refuses bad options.
run "qemu/device-options" bash "$top/tests/qemu/test-device-options.sh" "$B/qemu-system-x86_64"

# qtest: -device vrc against a scripted endpoint (exact TLPs, timeouts, DMA).
run "qtest/vrc-test" env QTEST_QEMU_BINARY="$B/qemu-system-x86_64" \
    "$B/qemu/tests/qtest/vrc-test" --tap

# The guest and the remote NIC, end to end. Guests have 2 vCPUs unless
# VRC_SMP says otherwise: one run keeps a single vCPU, several have 4.
run "e2e/e1000e-pcap-netns" bash "$top/tests/e2e/test-remote-nic.sh" pcap e1000e
run "e2e/e1000e-unix-1cpu" env VRC_SMP=1 bash "$top/tests/e2e/test-remote-nic.sh" unix e1000e
# TLP frames in UDP datagrams (transport=udp:HOST:PORT), IPv4; IPv6 keyed.
run "e2e/e1000e-udp" bash "$top/tests/e2e/test-remote-nic.sh" udp e1000e
run "e2e/e1000e-packet" bash "$top/tests/e2e/test-remote-nic.sh" packet e1000e
run "e2e/e1000e-udp6-keyed" env VRC_KEY=1 bash "$top/tests/e2e/test-remote-nic.sh" udp6 e1000e
# A keyed session (-object secret on both sides): authenticated, frames sealed.
run "e2e/e1000e-keyed" env VRC_KEY=1 bash "$top/tests/e2e/test-remote-nic.sh" ifname e1000e
run "e2e/e1000e-4cpu-4streams" env VRC_SMP=4 VRC_STREAMS=4 \
    bash "$top/tests/e2e/test-remote-nic.sh" ifname e1000e
run "e2e/virtio-net-4cpu-2streams" env VRC_SMP=4 VRC_STREAMS=2 \
    bash "$top/tests/e2e/test-remote-nic.sh" ifname virtio-net-pci
run "e2e/nvme-4cpu" env VRC_SMP=4 bash "$top/tests/e2e/test-compat.sh" nvme
# Through a lossy wire (tools/vrc-relay in a third namespace): the link
# layer recovers every frame, the file arrives intact, nothing hangs.
run "e2e/e1000e-lossy-1pct" env VRC_RELAY="--loss=0.01 --seed=1" \
    bash "$top/tests/e2e/test-remote-nic.sh" pcap e1000e
run "e2e/e1000e-lossy-mix" \
    env VRC_RELAY="--loss=0.05 --dup=0.05 --reorder=0.1 --corrupt=0.01 --seed=2" VRC_WANT_LOSSY=1 \
    bash "$top/tests/e2e/test-remote-nic.sh" ifname e1000e
# Four vCPUs drive one remote function at once while it does DMA.
run "e2e/smp-stress-4cpu" bash "$top/tests/e2e/test-smp-stress.sh"
# Slots at run time with a guest: the endpoint killed and restarted (the
# NIC comes back by itself), managed and surprise removal, a driverless
# function hot-added.
run "e2e/hotplug" bash "$top/tests/e2e/test-hotplug.sh"
# VMs killed, quit and started again against one endpoint (packet, udp,
# keyed udp over IPv6): the new one gets the function, a second never
# takes it from a live one.
run "e2e/vm-restart" bash "$top/tests/e2e/test-vm-restart.sh"
# configd with two VMs and two real endpoints on one bridge.
run "configd/vms" bash "$top/tests/configd/test-vms.sh"
# Every other device model that works behind vrc (docs/compatibility.md), each
# its own test: the guest uses it through the remote endpoint (scripts/compat.sh).
# e1000e and virtio-net-pci are the lines above (the same script, remote-nic.sh).
run "e2e/compat-e1000" bash "$top/tests/e2e/test-compat.sh" e1000
run "e2e/compat-igb" bash "$top/tests/e2e/test-compat.sh" igb
run "e2e/compat-rtl8139" bash "$top/tests/e2e/test-compat.sh" rtl8139
run "e2e/compat-vmxnet3" bash "$top/tests/e2e/test-compat.sh" vmxnet3
run "e2e/compat-nvme" bash "$top/tests/e2e/test-compat.sh" nvme
run "e2e/compat-virtio-blk" bash "$top/tests/e2e/test-compat.sh" virtio-blk-pci
run "e2e/compat-lsi53c895a" bash "$top/tests/e2e/test-compat.sh" lsi53c895a
run "e2e/compat-qemu-xhci" bash "$top/tests/e2e/test-compat.sh" qemu-xhci
run "e2e/compat-usb-ehci" bash "$top/tests/e2e/test-compat.sh" usb-ehci
run "e2e/compat-i6300esb" bash "$top/tests/e2e/test-compat.sh" i6300esb
run "e2e/compat-pvpanic" bash "$top/tests/e2e/test-compat.sh" pvpanic-pci
run "e2e/compat-virtio-rng" bash "$top/tests/e2e/test-compat.sh" virtio-rng-pci
run "e2e/compat-edu" bash "$top/tests/e2e/test-compat.sh" edu

echo
if [ $failed -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
