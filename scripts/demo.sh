#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vrc demo: two "hosts" (network namespaces) joined by a veth pair. The
# endpoint host runs a vrc-endpoint QEMU hosting an e1000e with a user-mode
# network behind it; the VM host boots a Linux guest with -device vrc. The
# guest loads the stock e1000e driver, pings through the remote NIC, fetches
# a file over TCP through it and checks its sha256. Ctrl-C or any failure
# leaves no namespace and no process behind.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
echo "vrc demo: $("$top/build/qemu-system-x86_64" --version | head -1), guest under TCG"
echo "  VM host and endpoint host are network namespaces joined by veth; frames are EtherType 0x88B5"
echo
VRC_TRANSPORT=pcap VRC_FILE_MB=${VRC_FILE_MB:-8} exec bash "$top/scripts/remote-nic.sh" e1000e
