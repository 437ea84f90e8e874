#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Boot the test guest under TCG, run a shell snippet in it, print its console
# and exit with the snippet's exit status. Never hangs: the whole boot is
# bounded by VRC_GUEST_TIMEOUT seconds (default 180). The guest has VRC_SMP
# vCPUs (default 2: the shape users run; 1 is tested too).  The machine
# gives the guest native PCIe hot-plug (not ACPI's), as vrc slots need.
# Usage: guest-run.sh 'SHELL SNIPPET' [extra QEMU arguments...]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: guest-run.sh 'SHELL SNIPPET' [QEMU args...]}
shift
qemu=${VRC_QEMU:-$top/build/qemu-system-x86_64}
# VRC_NETNS: run QEMU inside that network namespace (the VM's "host").
netns=()
[ -n "${VRC_NETNS:-}" ] && netns=(ip netns exec "$VRC_NETNS")
guest=$top/build/guest
log=$(mktemp)
pidfile=$(mktemp)
trap 'rm -f "$log" "$pidfile"' EXIT
# Stopped (a test's cleanup kills this script): QEMU stops too, rather than
# running on until the timeout.  Bash runs a trap only between commands, so
# the guest runs in the background and this shell waits for it.
stop_guest() {
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
    wait || true
    exit 143
}
trap stop_guest TERM INT HUP

# gzip first: the kernel keeps only 2048 bytes of command line.
b64=$(printf '%s\n' "$cmd" | gzip -9n | base64 -w0)
if [ ${#b64} -gt 1900 ]; then
    echo "guest-run: the snippet is too long for the kernel command line (${#b64} bytes of base64, 1900 at most)" >&2
    exit 2
fi
timeout --kill-after=5 "${VRC_GUEST_TIMEOUT:-180}" \
    "${netns[@]}" "$qemu" -machine q35 -accel tcg -smp "${VRC_SMP:-2}" -m 512 -nodefaults -nographic -no-reboot \
    -serial stdio -monitor none \
    -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.gz" \
    -pidfile "$pidfile" \
    -append "console=ttyS0 quiet panic=-1 vrc.cmd=$b64" "$@" </dev/null | tee "$log" &
wait $! || true
rc=$(sed -n 's/.*VRC-GUEST-DONE rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
if [ -z "$rc" ]; then
    echo "guest-run: the guest did not finish (no VRC-GUEST-DONE marker)" >&2
    exit 124
fi
exit "$rc"
