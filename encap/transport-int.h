/* SPDX-License-Identifier: MIT */
/* encap (private): what the raw Ethernet transports (pcap, packet) share. */
#ifndef ENCAP_TRANSPORT_INT_H
#define ENCAP_TRANSPORT_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * MAC address and MTU of @ifname, asked through any socket @fd.  The MTU
 * is capped at ENCAP_TRANSPORT_MAX_MTU.  0, or -errno with a reason in
 * @err ("IFNAME: ...").  Ethernet and loopback interfaces only
 * (-EPROTONOSUPPORT for others).
 */
int encap_if_info(int fd, const char *ifname, uint8_t mac[6], unsigned *mtu,
                  char *err, size_t errlen);

#endif
