/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: virtual PCIe root complex port whose link is an Ethernet path to a
 * PCIe function hosted by a remote endpoint.
 */
#ifndef HW_VRC_VRC_H
#define HW_VRC_VRC_H

#include "hw/pci/pcie_port.h"
#include "net/net.h"
#include "qom/object.h"

#define TYPE_VRC "vrc"
OBJECT_DECLARE_SIMPLE_TYPE(VRCState, VRC)

/* Defaults of the link properties. */
#define VRC_DEFAULT_TIMEOUT_MS  100
#define VRC_DEFAULT_MTU         1500
#define VRC_DEFAULT_MRRS        4096

/* User-set link configuration (properties); read-only after realize. */
typedef struct VRCLinkConf {
    MACAddr peer;           /* endpoint's MAC (raw Ethernet transport) */
    char *ifname;           /* host interface for raw Ethernet */
    char *socket;           /* unix socket path (alternative transport) */
    uint16_t rc_id;         /* our identity on the wire */
    uint32_t timeout_ms;    /* completion timeout */
    uint32_t mtu;           /* link MTU, bytes */
    uint32_t mps;           /* Max Payload Size, 0 = largest the MTU allows */
    uint32_t mrrs;          /* Max Read Request Size */
} VRCLinkConf;

struct VRCState {
    PCIESlot parent_obj;

    VRCLinkConf conf;
};

#endif
