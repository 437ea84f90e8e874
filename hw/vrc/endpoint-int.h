/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc-endpoint's state, shared by the machine (endpoint.c: what arrives
 * from the vrc, executed against the hosted functions) and what the
 * hosted functions send towards the VM (endpoint-dma.c: their DMA, MSI
 * and INTx, with the read-ahead that serves their small reads).  Main
 * loop, BQL held, for everything here.
 */
#ifndef HW_VRC_ENDPOINT_INT_H
#define HW_VRC_ENDPOINT_INT_H

#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "encap/readahead.h"
#include "encap/push.h"
#include "encap/tlp.h"
#include "vrc.h"
#include "vrc-link.h"
#include "endpoint-disc.h"

#define TYPE_VRC_ENDPOINT_MACHINE MACHINE_TYPE_NAME("vrc-endpoint")
OBJECT_DECLARE_SIMPLE_TYPE(VRCEndpointState, VRC_ENDPOINT_MACHINE)

#define TYPE_VRC_EP_HOST "vrc-endpoint-host"

struct VRCEndpointState {
    MachineState parent_obj;

    VRCLinkConf conf;
    char *peer_str;

    MemoryRegion pci_mem;       /* where the hosted BARs are mapped */
    MemoryRegion pci_io;
    MemoryRegion dma_mr;        /* the VM's memory, over the link */
    MemoryRegion dma_root;      /* the bus-master view: dma_mr, and ... */
    MemoryRegion p2p;           /* ... over it the hosted functions' BARs */
    AddressSpace mem_as;
    AddressSpace io_as;
    AddressSpace dma_as;
    PCIBus *bus;
    VRCLink *link;

    /* Bus/Device Number captured from Type 0 config writes. */
    uint16_t bdf_base;
    bool link_was_up;
    uint8_t intx_asserted;      /* pins whose Assert_INTx was sent last */

    /*
     * Read-ahead of the hosted function's small DMA reads (NULL: off).
     * Main loop, BQL held: every user of it runs there.
     */
    bool read_ahead;
    bool dma_own;               /* heed the function's pci_dma_own() */
    uint32_t ra_window, ra_windows;
    struct encap_ra *ra;
    bool ra_fetched;            /* the read in progress went to the link */
    bool msi_sending;           /* the write in progress is an MSI */
    Notifier ra_poll;           /* main loop iterations */
    uint64_t dma_reads;         /* the function's DMA reads */
    uint64_t dma_round_trips;   /* ... made over the link */
    /* Doorbell pushes (encap/push.h), with the read-ahead. */
    bool push;
    struct encap_offer offer;
    struct encap_hints told;    /* the HINTs the VM side has */
    bool bell_valid;            /* an MWr ran, no fetch since: its address */
    uint64_t bell;
    uint64_t hints_sent;
    /*
     * Chases (encap/push.h): where the pointer to what the function reads
     * after a doorbell's first reads sits, learnt from those reads.
     */
    bool chase;
    struct encap_chaser chaser;
    struct {
        bool on;                /* the MWr to @bell ran, no write or
                                   request since */
        uint32_t v;             /* its first DW */
        unsigned n;
        struct {
            uint64_t addr;
            uint32_t len;
            uint8_t d[64];
        } r[4];
    } seen;
    uint64_t chases;            /* chases learnt or moved */
    /*
     * Reads announced ahead (encap_soon): a transfer's scatter-gather list,
     * fetched at once when the function's DMA is about to map it.
     */
    bool read_soon;
    struct encap_soon soon;

    Notifier flush_poll;        /* main loop: send deferred DMA writes */
    bool defer_writes;
    Notifier machine_done;
    VRCLinkConfig link_config;
    uint32_t disc_interval_ms;  /* heartbeat ANNOUNCE; 0: no DISC */
    uint32_t request_credit;    /* the vrc's requests not yet run; 0: any */
    VRCEpDisc *disc;
};

/* The hosted function's Requester/Completer ID. */
static inline uint16_t ep_bdf(VRCEndpointState *s, int fn)
{
    return s->bdf_base | (fn & 7);
}

/* The read-ahead's defaults (endpoint-dma.c says what it does). */
#define VRC_EP_RA_WINDOW        256
#define VRC_EP_RA_SMALL         64
#define VRC_EP_RA_WINDOWS       6

/* ---- endpoint-dma.c: the hosted functions' DMA and interrupts ---- */

/* The VM's memory over the link, and the bus that reaches it. */
extern const MemoryRegionOps vrc_ep_dma_ops;
extern const PCIIOMMUOps vrc_ep_iommu_ops;
/* INTx: Assert/Deassert messages (pci_bus_irqs()). */
void vrc_ep_set_irq(void *opaque, int pin, int level);
int vrc_ep_map_irq(PCIDevice *d, int pin);

/*
 * The read-ahead, doorbell pushes and deferred writes as the properties
 * ask; exits with a message on values out of range.  From the machine's
 * init, once the link's configuration is parsed.
 */
void vrc_ep_dma_init(VRCEndpointState *s);
/* A hosted function joins: hook what it tells us about its DMA. */
void vrc_ep_dma_attach(VRCEndpointState *s, PCIDevice *d);
/* The function may expect newer memory from here on (@why: for tracing). */
void vrc_ep_dma_invalidate(VRCEndpointState *s, const char *why);
/* ... and every promise it made is void (a reset, a config write). */
void vrc_ep_dma_forget(VRCEndpointState *s, const char *why);
/*
 * A request from the vrc is about to run: true if it was for us (a PUSH)
 * and there is nothing more to do with it.
 */
bool vrc_ep_dma_request(VRCEndpointState *s, const struct encap_tlp *t);
void vrc_ep_dma_get_stats(VRCEndpointState *s, VRCEpDmaStats *st);

#endif
