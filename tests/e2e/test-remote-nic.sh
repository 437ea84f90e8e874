#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: the guest pings through a remote NIC (e1000e unless another
# device model is given) and moves a file over
# TCP through it with a matching sha256 (scripts/remote-nic.sh), over the
# given transport. Needs root for network namespaces: fails, never skips.
# Usage: test-remote-nic.sh pcap|packet|unix|udp|udp6 [DEVICE-MODEL]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
VRC_TRANSPORT=${1:?transport} exec bash "$top/scripts/remote-nic.sh" "${2:-e1000e}"
