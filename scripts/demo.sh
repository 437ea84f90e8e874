#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vrc demo: two "hosts" (network namespaces) joined by a veth pair. The
# endpoint host runs a vrc-endpoint QEMU hosting an e1000e with a user-mode
# network behind it; the VM host boots a Linux guest with -device vrc. The
# guest loads the stock e1000e driver, pings through the remote NIC, fetches
# a file over TCP through it and checks its sha256. Both sides share a random
# session key (-object secret): the session is authenticated and every frame
# encrypted (VRC_KEY=0 runs without). Then scripts/demo-configd.sh tells the
# configd story: vrcctl list, attach to a running VM, detach, attach to a
# second one. Ctrl-C or any failure leaves no namespace and no process behind.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
echo "vrc demo: $("$top/build/qemu-system-x86_64" --version | head -1), guest under TCG"
echo "  VM host and endpoint host are network namespaces joined by veth; frames are EtherType 0x88B5,"
echo "  sealed with a session key both sides were given (AES-128-GCM, docs/security.md)"
echo
VRC_KEY=${VRC_KEY:-1} VRC_FILE_MB=${VRC_FILE_MB:-8} bash "$top/scripts/remote-nic.sh" e1000e
echo
echo "vrc demo, part 2: configd finds the endpoint, vrcctl gives it to one running VM, then another"
exec bash "$top/scripts/demo-configd.sh"
