#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: the guest pings through a remote NIC (e1000e unless another
# device model is given) and moves a file over
# TCP through it with a matching sha256 (scripts/remote-nic.sh), over the
# given transport. For raw Ethernet it also checks the transport the
# endpoint reports in query-vrc: ifname= opens AF_PACKET rings (packet:) on
# this kernel, not the libpcap fallback. With VRC_WANT_LOSSY=1 (a lossy
# relay between the hosts), it checks that the endpoint's link turned lossy
# mode on (query-vrc lossy-mode-ons); without a relay (a clean veth, which
# drops nothing) that it did not: its resends there are late acks, which
# the VM side reports as needless. For a model that owns its rings
# (e1000e, igb, e1000, virtio-net), that the endpoint served reads of them
# from the windows it keeps (owned hits), and from the copies the vrc pushed
# with its doorbells (served fetches); for e1000e, also the read of a
# transmit buffer after its descriptor's (a chase). Needs root for network namespaces:
# fails, never skips.
# Usage: test-remote-nic.sh ifname|pcap|packet|unix|udp|udp6 [DEVICE-MODEL]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
transport=${1:?transport}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
VRC_TRANSPORT=$transport bash "$top/scripts/remote-nic.sh" "${2:-e1000e}" | tee "$out"
case $transport in
    ifname|packet) want=packet: ;;
    pcap) want=pcap: ;;
    *) want= ;;
esac
if [ -n "$want" ] && ! grep -q "\[transport=$want" "$out"; then
    echo "test-remote-nic: the endpoint does not report transport $want" \
         "($(grep -o '\[transport=[^]]*\]' "$out" || echo 'no transport line'))" >&2
    exit 1
fi
# Models that say which of their rings they own (pci_dma_own()): the
# endpoint's read-ahead served some of it from the windows it keeps.
case ${2:-e1000e} in
    e1000e|igb|e1000|virtio-net-pci)
        if ! grep -Eq '\(owned [1-9][0-9]*\)' "$out"; then
            echo "test-remote-nic: the endpoint served nothing from the rings ${2:-e1000e}" \
                 "owns ($(grep -o 'hits [0-9]* (owned [0-9]*)' "$out" || echo 'no read-ahead counters'))" >&2
            exit 1
        fi
        # ... and the copies the vrc pushed with its doorbells served some
        # of the reads that follow them (encap/push.h).
        if ! grep -Eq 'served [1-9][0-9]* fetches' "$out"; then
            echo "test-remote-nic: no doorbell push served a read of the ${2:-e1000e}" \
                 "($(grep -o 'doorbell pushes [^;]*' "$out" || echo 'no push counters'))" >&2
            exit 1
        fi
        ;;
esac
# e1000e: the endpoint learnt where a transmit descriptor's buffer pointer
# sits (a chase), and the buffer pushed along served the read after the
# descriptor's.
if [ "${2:-e1000e}" = e1000e ] &&
   ! grep -Eq 'fetches \([0-9]+ in part, [1-9][0-9]* after the first' "$out"; then
    echo "test-remote-nic: no pushed buffer served the e1000e's read after its descriptor" \
         "($(grep -o 'doorbell pushes [^;]*' "$out" || echo 'no push counters'))" >&2
    exit 1
fi
if [ "${VRC_WANT_LOSSY:-0}" = 1 ] && ! grep -q "\[lossy-ons=[1-9]" "$out"; then
    echo "test-remote-nic: the endpoint's link never turned lossy mode on" \
         "($(grep -o '\[lossy-ons=[^]]*\]' "$out" || echo 'no lossy-ons in its counters'))" >&2
    exit 1
fi
if [ -z "${VRC_RELAY:-}" ] && ! grep -q "\[lossy-ons=0\]" "$out"; then
    echo "test-remote-nic: the endpoint's link turned lossy mode on over a clean wire" \
         "($(grep -o '\[lossy-ons=[^]]*\]\[needless=[^]]*\]' "$out" || echo 'no lossy-ons in its counters'))" >&2
    exit 1
fi
