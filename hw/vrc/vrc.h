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
#include "vrc-link.h"

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
    uint32_t poll_us;       /* spin for a completion this long, then sleep */
} VRCLinkConf;

typedef struct VRCFunction VRCFunction;

struct VRCState {
    PCIESlot parent_obj;

    VRCLinkConf conf;
    VRCLink *link;              /* the session to the endpoint */
    VRCFunction *function;      /* on our secondary bus, devfn 0 */
};

#define TYPE_VRC_FUNCTION "vrc-function"
OBJECT_DECLARE_SIMPLE_TYPE(VRCFunction, VRC_FUNCTION)

/* A BAR of the remote function, forwarded. */
typedef struct VRCBar {
    VRCFunction *fn;
    MemoryRegion mr;
    char *name;
    int index;
    bool io;
    uint64_t size;
} VRCBar;

struct VRCFunction {
    PCIDevice parent_obj;

    VRCState *port;             /* set by the port before realize */
    VRCBar bars[PCI_ROM_SLOT];

    /* Counters, updated with atomics from the receive thread. */
    uint64_t dma_refused;       /* DMA while Bus Master Enable was clear */
    uint64_t dma_errors;        /* DMA to an address nothing answers */
    uint64_t bad_requester;     /* requests with a Requester ID not ours */
    uint64_t unsupported;       /* Cfg/IO requests from the endpoint */
    uint64_t dma_loops;         /* endpoint DMA to this function: refused */
};

struct encap_tlp;
void vrc_function_request(VRCFunction *f, const struct encap_tlp *t);
/* The session with the endpoint ended.  Receive thread. */
void vrc_function_link_down(VRCFunction *f);

/*
 * If this process is a vrc-endpoint machine: its link, with its transport
 * (ifname or socket, in @conf) and the peer it was told to serve (@peer,
 * NULL for the first that says HELLO).  NULL otherwise.  BQL held.
 */
VRCLink *vrc_endpoint_link(const VRCLinkConf **conf, const char **peer);

/*
 * The maps of the VM's memory that the endpoint's hosted functions made,
 * summed over them (all zero in a process that is not an endpoint).
 * BQL held.
 */
typedef struct VRCMapStats {
    uint64_t maps;              /* served through a buffer */
    uint64_t bytes;
    uint64_t limited;           /* got less than asked: limit reached */
    uint64_t in_use;            /* bytes held now */
} VRCMapStats;
void vrc_endpoint_map_stats(VRCMapStats *st);

/*
 * Check the link properties of a vrc (@initiator) or an endpoint; fills in
 * derived defaults (mps).  Main loop.
 */
bool vrc_link_conf_check(VRCLinkConf *c, bool initiator, Error **errp);

/* The VRCLinkConfig of properties @c (strings are borrowed from @c). */
VRCLinkConfig vrc_link_config(const VRCLinkConf *c, const char *name,
                              bool initiator);

#endif
