/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc endpoint: a CPU-less machine that hosts PCI device models for a
 * remote vrc and executes the TLPs it receives against them.
 *
 *   qemu-system-x86_64 -machine vrc-endpoint,ifname=eth1 -nodefaults \
 *       -device e1000e,netdev=n0,romfile= -netdev user,id=n0
 *
 * The hosted device sits at slot 0 of a PCIe root bus.  Its config space and
 * BARs are reached by the CfgRd0/CfgWr0, MRd/MWr and IORd/IOWr TLPs that
 * arrive; the BAR addresses are the ones the guest programmed, so no
 * translation is needed.  Its bus-master address space is an I/O region
 * whose accesses become MRd/MWr TLPs to the VM side (DMA, and MSI/MSI-X,
 * which are memory writes); its INTx pin becomes Assert/Deassert messages.
 *
 * Threads: one.  The link receives in the main loop (rx_in_main_loop),
 * which executes each request as it arrives, with the BQL, as device
 * models require; there is no hand-off between threads.  A device's DMA
 * read waits for its completions by reading the link itself, BQL held, so
 * no other code enters the device model meanwhile (see vrc-link.h).  A
 * nested event loop that a device model runs inside a request (a block
 * drain, on an NVMe controller reset) polls only the AioContext, not the
 * iohandler context the link is watched from: no request can arrive into
 * a device in the middle of another.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#include "hw/boards.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/msi.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-core.h"
#include "hw/sysbus.h"
#include "system/system.h"
#include "exec/address-spaces.h"
#include "encap/split.h"
#include "encap/readahead.h"
#include "encap/err.h"
#include "encap/push.h"
#include "vrc.h"
#include "vrc-link.h"
#include "endpoint-disc.h"
#include "trace.h"

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
/*
 * Requests the vrc may have in flight to us, not yet run: bounds what the
 * endpoint queues while a function waits for its own DMA (its completions
 * are never held back).  256 MWr of 4 KiB is 1 MiB.
 */
#define VRC_EP_REQUEST_CREDIT       256
#define VRC_EP_REQUEST_CREDIT_MAX   65536

static uint16_t ep_bdf(VRCEndpointState *s, int fn)
{
    return s->bdf_base | (fn & 7);
}

static PCIDevice *ep_function(VRCEndpointState *s, uint16_t target)
{
    return pci_find_device(s->bus, 0, PCI_DEVFN(0, target & 7));
}

/* ---- the VM's memory, reached over the link ---- */

/*
 * Read-ahead (encap/readahead.h).  A small DMA read that misses fetches an
 * aligned window around it, with the windows the function went on to read
 * the last time it missed there, in one round trip; the reads that follow are served from it while they go
 * forwards in fetch order.  The VM side reads the windows in the order
 * sent, each in ascending address order (vrc-function.c), so a hit is a
 * value the function could have read itself at an instant of the fetch.
 * The cache is dropped at every event after which the function may expect
 * newer memory than that: a request from the VM (a doorbell may follow the
 * guest's writes to its rings), the function's own DMA writes to memory
 * (the guest may read them and write in answer, a write the function must
 * then see: virtio's event indices), INTx changes, resets, the link going
 * up or down, and each iteration of the main loop (anything else the
 * function may react to: its timers, its backend's file descriptors).
 * An MSI or MSI-X message is not such a write: the guest cannot read it,
 * and it answers it in memory the function has no reason to expect newer
 * until the guest tells it so by a request (ep_msi_trigger()).
 */
#define VRC_EP_RA_WINDOW        256
#define VRC_EP_RA_SMALL         64
#define VRC_EP_RA_WINDOWS       6
/*
 * How long after its doorbell a pushed copy may serve (encap/push.h): the
 * function answers a doorbell at once or in the main loop's next turn
 * (a bottom half); a later read is of something else.
 */
#define VRC_EP_PUSH_TTL_NS      (1 * SCALE_MS)

static void ep_ra_invalidate(VRCEndpointState *s, const char *why)
{
    bool had = s->soon.n;

    encap_soon_drop(&s->soon);
    if (s->ra && (encap_ra_invalidate(s->ra) || had)) {
        trace_vrc_ep_ra_invalidate(why);
    }
}

/*
 * PCIDMAOwnFunc: the function owns (or gives back) bus-master memory that
 * the driver does not write meanwhile (its descriptors between head and
 * tail; what a virtio ring made available, since the read of the index
 * that published it: PCI_DMA_MARK); the read-ahead keeps the copies it
 * fetched of it after that across the drops above.  Main loop, BQL held.
 */
static void ep_dma_own(void *opaque, dma_addr_t addr, dma_addr_t len,
                       PCIDMAOwn what)
{
    VRCEndpointState *s = opaque;

    trace_vrc_ep_dma_own(what, addr, len);
    switch (what) {
    case PCI_DMA_OWN:
        encap_ra_own(s->ra, addr, len);
        break;
    case PCI_DMA_GIVE_BACK:
        encap_ra_give_back(s->ra, addr, len);
        break;
    case PCI_DMA_GIVE_BACK_ALL:
        encap_ra_give_back_all(s->ra);
        break;
    case PCI_DMA_MARK:
        encap_ra_mark(s->ra);
        break;
    case PCI_DMA_OWN_MARKED:
        encap_ra_own_marked(s->ra, addr, len);
        break;
    }
}

/* The VM side may have restarted, or the function was reset: it owns
 * nothing until it says so again, and hints start afresh. */
static void ep_ra_forget(VRCEndpointState *s, const char *why)
{
    ep_ra_invalidate(s, why);
    if (s->ra) {
        encap_ra_give_back_all(s->ra);
    }
    encap_offer_drop(&s->offer);
    encap_hints_clear(&s->told);
    encap_chaser_clear(&s->chaser);
    s->bell_valid = false;
    s->seen.on = false;
}

/*
 * Doorbell pushes (encap/push.h).  The first fetch after a doorbell (an
 * MWr request) is what the VM side could send along with that doorbell
 * next time: tell it (HINT) when it changes.  Its own ranges only, not
 * those taken for owned bytes, which change from fetch to fetch.
 */
static void ep_hint(VRCEndpointState *s, const struct encap_ra_range *r,
                    unsigned n)
{
    struct encap_push p = { .key = s->bell }, told;
    uint8_t payload[ENCAP_PUSH_HDR + ENCAP_PUSH_MAX_RANGES *
                    ENCAP_PUSH_RANGE_LEN];
    struct encap_tlp t;
    int len;

    s->bell_valid = false;
    /*
     * Whole windows, even where the fetch was lean (a descriptor alone):
     * the next doorbell's reads are near the last one's, not at it.
     */
    for (unsigned i = 0; i < n && !r[i].fill; i++) {
        uint64_t win = r[i].addr & ~(uint64_t)(s->ra_window - 1);

        if (r[i].addr + r[i].len > win + s->ra_window) {
            break;
        }
        if (!p.n || p.r[p.n - 1].addr != win) {
            p.r[p.n++] = (struct encap_push_range) { win, s->ra_window };
        }
    }
    if (!p.n) {
        return;
    }
    encap_chaser_get(&s->chaser, p.key, &p.chase);
    if (p.chase.on) {
        p.chase.align = ctz32(s->ra_window);
        p.chase.small = MIN(VRC_EP_RA_SMALL, s->ra_window);
    }
    /*
     * A doorbell that moves a ring's tail reads further along it each
     * time: the window after the first comes along too, so that the read
     * that crosses into it is served as well (a queue of NVMe commands,
     * four to a window; e1000e's descriptors, sixteen).
     */
    if (p.n < ENCAP_PUSH_MAX_RANGES &&
        (p.n == 1 || p.r[1].addr != p.r[0].addr + s->ra_window)) {
        memmove(&p.r[2], &p.r[1], (p.n - 1) * sizeof(p.r[0]));
        p.r[1] = (struct encap_push_range) {
            p.r[0].addr + s->ra_window, s->ra_window,
        };
        p.n++;
    }
    if (encap_hints_get(&s->told, p.key, &told) &&
        encap_push_same(&p, &told)) {
        return;
    }
    len = encap_push_encode(&p, false, payload, sizeof(payload));
    if (len < 0) {
        return;
    }
    encap_hints_put(&s->told, &p);
    encap_tlp_vdm(&t, ep_bdf(s, 0), ENCAP_MSG_ROUTE_LOCAL, ENCAP_VDM_HINT,
                  payload, len / 4);
    vrc_link_post(s->link, &t);
    s->hints_sent++;
    trace_vrc_ep_hint(p.key, p.n, p.n ? p.r[0].addr : 0, p.chase.on);
}

/*
 * A read after a doorbell: if its address came from one the function
 * read since that doorbell (a descriptor, then its buffer), that says
 * where a chase finds it; otherwise keep the first bytes of the read, to
 * look in when the next one comes.
 */
static void ep_chase_see(VRCEndpointState *s, hwaddr addr, const void *buf,
                         hwaddr size)
{
    uint64_t at;
    int len_at;

    if (size > UINT32_MAX) {
        s->seen.on = false;
        return;
    }
    for (unsigned i = 0; i < s->seen.n; i++) {
        if (encap_chase_find(s->seen.r[i].d, s->seen.r[i].len,
                             s->seen.r[i].addr, addr, size, &at, &len_at)) {
            s->seen.on = false;
            trace_vrc_ep_chase_seen(s->bell, s->seen.v, at, size, len_at);
            if (encap_chaser_see(&s->chaser, s->bell, s->seen.v, at, size,
                                 len_at)) {
                s->chases++;
            }
            return;
        }
    }
    if (s->seen.n == ARRAY_SIZE(s->seen.r)) {
        s->seen.on = false;
        return;
    }
    s->seen.r[s->seen.n].addr = addr;
    s->seen.r[s->seen.n].len = MIN(size, sizeof(s->seen.r[0].d));
    memcpy(s->seen.r[s->seen.n].d, buf, s->seen.r[s->seen.n].len);
    s->seen.n++;
}

/* A PUSH from the VM side: armed for the doorbell that follows it. */
static void ep_push(VRCEndpointState *s, const struct encap_tlp *t)
{
    struct encap_push p;
    int r = encap_push_decode(t->data, t->len_dw * 4u, true, &p);

    if (r < 0) {
        qemu_log_mask(LOG_GUEST_ERROR, "vrc-endpoint: malformed PUSH: %s\n",
                      encap_strerror(r));
        encap_offer_drop(&s->offer);
        return;
    }
    vrc_link_offer_push(s->link, &s->offer, &p);
    trace_vrc_ep_push(p.key, p.n, s->offer.state == ENCAP_OFFER_ARMED);
}

/* The main loop is about to poll, or has polled: what it dispatches next
 * may be something the function reacts to. */
static void ep_ra_poll(Notifier *n, void *data)
{
    VRCEndpointState *s = container_of(n, VRCEndpointState, ra_poll);

    ep_ra_invalidate(s, "main loop");
}

/*
 * The main loop is about to wait: the DMA writes of this turn go now
 * (VRCLinkConfig.defer_writes; a read or a completion took them earlier).
 */
static void ep_flush_poll(Notifier *n, void *data)
{
    VRCEndpointState *s = container_of(n, VRCEndpointState, flush_poll);
    MainLoopPoll *mlp = data;

    if (mlp->state == MAIN_LOOP_POLL_FILL && s->link) {
        vrc_link_flush(s->link);
    }
}

/*
 * encap_ra_fetch_fn over the link: one round trip, all ranges in flight in
 * order (the read-ahead's misses, reads announced ahead).
 */
static int ep_link_fetch(void *opaque, const struct encap_ra_range *r,
                         unsigned n)
{
    VRCEndpointState *s = opaque;
    VRCLinkRange few[ENCAP_RA_MAX_WINDOWS];
    g_autofree VRCLinkRange *many = NULL;
    VRCLinkRange *lr = few;

    if (n > ARRAY_SIZE(few)) {
        lr = many = g_new(VRCLinkRange, n);
    }
    s->dma_round_trips++;
    for (unsigned i = 0; i < n; i++) {
        lr[i] = (VRCLinkRange) {
            .addr = r[i].addr, .len = r[i].len, .buf = r[i].buf,
        };
    }
    return vrc_link_mem_readv(s->link, ep_bdf(s, 0), lr, n);
}

/*
 * encap_ra_fetch_fn of the read-ahead: hint the doorbell's ranges, serve
 * from a pushed copy if it holds them, else ep_link_fetch().
 */
static int ep_ra_fetch(void *opaque, const struct encap_ra_range *r,
                       unsigned n)
{
    VRCEndpointState *s = opaque;
    unsigned k;
    int ret;

    s->ra_fetched = true;
    if (s->bell_valid) {
        ep_hint(s, r, n);
    }
    if (s->offer.state != ENCAP_OFFER_NONE) {
        k = encap_offer_serve(&s->offer, r, n,
                              qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
        if (k) {
            trace_vrc_ep_ra_pushed(r[0].addr, k, n);
            return k;
        }
    }
    ret = ep_link_fetch(s, r, n);
    trace_vrc_ep_ra_fetch(r[0].addr, r[0].len, n, ret);
    return ret;
}

/*
 * AddressSpace.read_soon (qemu-patches/0027): the function is about to map
 * @nsg ranges of a transfer one after the other (dma_blk_io()), each map a
 * read of its own here.  Fetch them all at once instead, and serve those
 * reads from the copy, in order (encap_soon).  The fetch is newer than
 * what the read-ahead cache or a pushed copy holds: both are dropped.  A
 * list of one range is left alone: its map is one fetch anyway.  Main
 * loop, BQL held (dropped while waiting).
 */
static void ep_read_soon(void *opaque, const struct ScatterGatherEntry *sg,
                         int nsg, uint64_t skip)
{
    VRCEndpointState *s = opaque;
    struct encap_ra_range want[ENCAP_SOON_MAX_RANGES];
    unsigned n = 0, k;

    if (!s->ra || !s->link) {
        return;
    }
    for (int i = 0; i < nsg && n < ARRAY_SIZE(want); i++) {
        uint64_t off = i ? 0 : skip;

        if (sg[i].len <= off || sg[i].len - off > UINT32_MAX) {
            break;
        }
        want[n++] = (struct encap_ra_range) {
            .addr = sg[i].base + off, .len = sg[i].len - off,
        };
    }
    if (n < 2) {
        return;
    }
    ep_ra_invalidate(s, "read soon");
    encap_offer_drop(&s->offer);
    k = encap_soon_fetch(&s->soon, want, n, ep_link_fetch, s);
    trace_vrc_ep_read_soon(n, want[0].addr, k);
}

/* Main loop (device code), BQL held; dropped while waiting. */
static MemTxResult ep_dma_read_buf(void *opaque, hwaddr addr, void *buf,
                                   hwaddr size, MemTxAttrs attrs)
{
    VRCEndpointState *s = opaque;
    int r;

    trace_vrc_ep_dma("read", addr, size);
    s->dma_reads++;
    if (s->soon.n && size <= UINT32_MAX &&
        encap_soon_read(&s->soon, addr, buf, size)) {
        trace_vrc_ep_read_soon_hit(addr, size);
        trace_vrc_ep_dma_done("read", addr, size, 0);
        return MEMTX_OK;
    }
    if (s->ra && size <= UINT32_MAX) {
        s->ra_fetched = false;
        r = encap_ra_read(s->ra, addr, buf, size);
        if (!s->ra_fetched) {
            trace_vrc_ep_ra_hit(addr, size);
        }
        if (s->seen.on && r == 0) {
            ep_chase_see(s, addr, buf, size);
        }
    } else {
        s->dma_round_trips++;
        r = vrc_link_mem_read(s->link, ep_bdf(s, 0), addr, buf, size);
    }
    trace_vrc_ep_dma_done("read", addr, size, r);
    return r < 0 ? MEMTX_ERROR : MEMTX_OK;
}

static MemTxResult ep_dma_write_buf(void *opaque, hwaddr addr,
                                    const void *buf, hwaddr size,
                                    MemTxAttrs attrs)
{
    VRCEndpointState *s = opaque;

    trace_vrc_ep_dma("write", addr, size);
    if (!s->msi_sending) {
        ep_ra_invalidate(s, "DMA write");
        encap_offer_drop(&s->offer);
        s->bell_valid = false;
        s->seen.on = false;
    }
    if (s->ra) {
        /* What the function writes it no longer owns, if it did. */
        encap_ra_give_back(s->ra, addr, size);
    }
    vrc_link_mem_write(s->link, ep_bdf(s, 0), addr, buf, size);
    trace_vrc_ep_dma_done("write", addr, size, 0);
    return MEMTX_OK;
}

static MemTxResult ep_dma_read(void *opaque, hwaddr addr, uint64_t *data,
                               unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];
    MemTxResult r = ep_dma_read_buf(opaque, addr, buf, size, attrs);

    *data = r == MEMTX_OK ? ldn_le_p(buf, size) : UINT64_MAX;
    return r;
}

static MemTxResult ep_dma_write(void *opaque, hwaddr addr, uint64_t data,
                                unsigned size, MemTxAttrs attrs)
{
    uint8_t buf[8];

    stn_le_p(buf, size, data);
    return ep_dma_write_buf(opaque, addr, buf, size, attrs);
}

static const MemoryRegionOps ep_dma_ops = {
    .read_with_attrs = ep_dma_read,
    .write_with_attrs = ep_dma_write,
    .read_buf = ep_dma_read_buf,
    .write_buf = ep_dma_write_buf,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
    .impl = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
};

static AddressSpace *ep_dma_as(PCIBus *bus, void *opaque, int devfn)
{
    VRCEndpointState *s = opaque;

    return &s->dma_as;
}

static const PCIIOMMUOps ep_iommu_ops = {
    .get_address_space = ep_dma_as,
};

/*
 * INTx of the hosted function: Assert/Deassert messages, on a change only
 * (a bus reset deasserts every pin, asserted or not).  BQL held.
 */
static void ep_set_irq(void *opaque, int pin, int level)
{
    VRCEndpointState *s = opaque;
    struct encap_tlp t = {
        .type = ENCAP_TLP_MSG,
        .requester_id = ep_bdf(s, 0),
        .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
        .msg_code = (level ? ENCAP_MSG_ASSERT_INTA : ENCAP_MSG_DEASSERT_INTA) +
                    (pin & 3),
    };

    if (!!(s->intx_asserted & (1u << pin)) == !!level) {
        return;
    }
    s->intx_asserted ^= 1u << pin;
    trace_vrc_ep_intx(pin, level);
    ep_ra_invalidate(s, "INTx");
    encap_offer_drop(&s->offer);
    vrc_link_post(s->link, &t);
}

static int ep_map_irq(PCIDevice *d, int pin)
{
    return pin;
}

/* ---- executing what arrives ---- */

/*
 * Call @fn for each run of enabled bytes of @t, as (offset, length) with
 * lengths 1, 2 or 4 on natural alignment, so device models see the access
 * sizes a real bus would give them.
 */
static bool ep_for_each_run(const struct encap_tlp *t,
                            bool (*fn)(void *, uint32_t, unsigned),
                            void *opaque)
{
    for (uint32_t dw = 0; dw < t->len_dw; dw++) {
        unsigned be = dw == 0 ? t->first_be :
                      dw == t->len_dw - 1u ? t->last_be : 0xf;
        if (be == 0xf) {
            if (!fn(opaque, dw * 4, 4)) {
                return false;
            }
            continue;
        }
        for (unsigned b = 0; b < 4; b++) {
            if (!(be & (1u << b))) {
                continue;
            }
            if (!(b & 1) && (be & (2u << b))) {
                if (!fn(opaque, dw * 4 + b, 2)) {
                    return false;
                }
                b++;
            } else if (!fn(opaque, dw * 4 + b, 1)) {
                return false;
            }
        }
    }
    return true;
}

typedef struct EpAccess {
    VRCEndpointState *s;
    const struct encap_tlp *t;
    AddressSpace *as;
    PCIDevice *pdev;
    uint8_t *buf;               /* IORd: the DW read */
} EpAccess;

/* Read one run of enabled bytes of an IORd into a->buf (the whole DW). */
static bool ep_read_run(void *opaque, uint32_t off, unsigned len)
{
    EpAccess *a = opaque;

    return address_space_read(a->as, a->t->addr + off, MEMTXATTRS_UNSPECIFIED,
                              a->buf + off, len) == MEMTX_OK;
}

static bool ep_write_run(void *opaque, uint32_t off, unsigned len)
{
    EpAccess *a = opaque;

    if (a->pdev) {
        pci_host_config_write_common(a->pdev, a->t->reg + off,
                                     pci_config_size(a->pdev),
                                     ldn_le_p(a->t->data + off, len), len);
        return true;
    }
    return address_space_write(a->as, a->t->addr + off,
                               MEMTXATTRS_UNSPECIFIED, a->t->data + off,
                               len) == MEMTX_OK;
}

static void ep_exec_cfg(VRCEndpointState *s, const struct encap_tlp *t)
{
    PCIDevice *pdev = ep_function(s, t->target_id);
    uint16_t cid = ep_bdf(s, t->target_id);
    uint8_t buf[4];

    if (t->type == ENCAP_TLP_CFGRD1 || t->type == ENCAP_TLP_CFGWR1 ||
        !pdev) {
        /* Nothing below us, and no function by that number. */
        vrc_link_complete(s->link, t, cid, ENCAP_CPL_UR, NULL, 0);
        return;
    }
    if (t->type == ENCAP_TLP_CFGWR0) {
        EpAccess a = { .s = s, .t = t, .pdev = pdev };

        /* Like a real function: our Bus and Device Number are those of the
         * Type 0 configuration writes we receive. */
        s->bdf_base = t->target_id & ~7u;
        ep_for_each_run(t, ep_write_run, &a);
        vrc_link_complete(s->link, t, ep_bdf(s, t->target_id), ENCAP_CPL_SC,
                          NULL, 0);
        return;
    }
    stl_le_p(buf, pci_host_config_read_common(pdev, t->reg,
                                              pci_config_size(pdev), 4));
    vrc_link_complete(s->link, t, cid, ENCAP_CPL_SC, buf, 4);
}

static void ep_exec_mem_io(VRCEndpointState *s, const struct encap_tlp *t)
{
    bool io = t->type == ENCAP_TLP_IORD || t->type == ENCAP_TLP_IOWR;
    EpAccess a = { .s = s, .t = t, .as = io ? &s->io_as : &s->mem_as };
    uint16_t cid = ep_bdf(s, 0);

    switch (t->type) {
    case ENCAP_TLP_MWR:
        if (!ep_for_each_run(t, ep_write_run, &a)) {
            qemu_log_mask(LOG_GUEST_ERROR, "vrc-endpoint: MWr to 0x%" PRIx64
                          " claimed by nothing\n", t->addr);
        }
        break;
    case ENCAP_TLP_IOWR:
        vrc_link_complete(s->link, t, cid,
                          ep_for_each_run(t, ep_write_run, &a) ?
                          ENCAP_CPL_SC : ENCAP_CPL_UR, NULL, 0);
        break;
    case ENCAP_TLP_IORD: {
        /*
         * An I/O completion returns the whole DW, but only the enabled
         * bytes are read: reading a register can have side effects (a
         * status byte that clears when read), and its neighbours in the
         * DW must not be touched.
         */
        uint8_t dw[4] = { 0 };

        a.buf = dw;
        vrc_link_complete(s->link, t, cid,
                          ep_for_each_run(t, ep_read_run, &a) ?
                          ENCAP_CPL_SC : ENCAP_CPL_UR, dw, 4);
        break;
    }
    case ENCAP_TLP_MRD: {
        uint64_t first;
        uint32_t len;
        g_autofree uint8_t *buf = NULL;

        encap_read_req_span(t, &first, &len);
        buf = g_malloc0(len);
        if (t->first_be && address_space_read(a.as, first,
                                              MEMTXATTRS_UNSPECIFIED,
                                              buf, len) != MEMTX_OK) {
            vrc_link_complete(s->link, t, cid, ENCAP_CPL_UR, NULL, 0);
            break;
        }
        vrc_link_complete(s->link, t, cid, ENCAP_CPL_SC, buf, len);
        break;
    }
    default:
        break;
    }
}

/*
 * Reset the hosted function as a link hot reset would, including the Bus
 * and Device Number it captured: on a new session (a new root complex) and
 * on the vrc's hot reset message (a Secondary Bus Reset, or the VM's own
 * reset).  BQL held.
 */
static void ep_reset(VRCEndpointState *s)
{
    ep_ra_forget(s, "reset");
    s->bdf_base = 0;
    bus_cold_reset(BUS(s->bus));
}

/*
 * Execute one request TLP against the hosted function, as it arrives: the
 * link receives in the main loop, so the BQL is held.
 */
static void ep_request(void *opaque, const struct encap_tlp *t)
{
    VRCEndpointState *s = opaque;

    trace_vrc_ep_exec(encap_tlp_type_name(t->type), t->addr, t->len_dw,
                      t->first_be, t->data ? ldl_le_p(t->data) : 0);
    /* The guest may have written its memory before this (a doorbell). */
    ep_ra_invalidate(s, "request");
    if (s->push) {
        if (t->type == ENCAP_TLP_MSGD &&
            encap_tlp_vdm_code(t) == ENCAP_VDM_PUSH) {
            ep_push(s, t);
            return;
        }
        if (s->offer.state != ENCAP_OFFER_NONE) {
            encap_offer_request(&s->offer, t,
                                qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
        }
        s->bell_valid = t->type == ENCAP_TLP_MWR;
        s->bell = t->addr;
        s->seen.on = s->chase && s->bell_valid && t->len_dw;
        if (s->seen.on) {
            s->seen.v = ldl_le_p(t->data);
            s->seen.n = 0;
        }
    }
    switch (t->type) {
    case ENCAP_TLP_CFGWR0:
    case ENCAP_TLP_CFGWR1:
        /* Bus mastering, BARs or power may change: promises made before
         * are not relied on. */
        ep_ra_forget(s, "config write");
        /* fall through */
    case ENCAP_TLP_CFGRD0:
    case ENCAP_TLP_CFGRD1:
        ep_exec_cfg(s, t);
        break;
    case ENCAP_TLP_MSG:
    case ENCAP_TLP_MSGD:
        /* Only a hot reset concerns the function; others are dropped. */
        if (encap_tlp_is_hot_reset(t)) {
            trace_vrc_ep_hot_reset();
            ep_reset(s);
        }
        break;
    default:
        ep_exec_mem_io(s, t);
        break;
    }
}

/* Main loop, BQL held. */
static void ep_link_state(void *opaque, bool up)
{
    VRCEndpointState *s = opaque;

    trace_vrc_ep_link(up);
    ep_ra_forget(s, "link");
    if (up && s->link_was_up) {
        /* Before any request of the new session runs. */
        ep_reset(s);
    }
    s->link_was_up |= up;
}

static void ep_disc_frame(void *opaque, const uint8_t *frame, size_t len)
{
    VRCEndpointState *s = opaque;

    if (s->disc) {
        vrc_ep_disc_input(s->disc, frame, len);
    }
}

static bool ep_hello_allowed(void *opaque, const uint8_t mac[6],
                             uint16_t rc_id)
{
    VRCEndpointState *s = opaque;

    return !s->disc || vrc_ep_disc_hello_allowed(s->disc, mac, rc_id);
}

/* The owner changed under a live session: the function starts afresh. */
static void ep_owner_changed(void *opaque)
{
    ep_reset(opaque);
}

static const VRCLinkOps ep_link_ops = {
    .request = ep_request,
    .link_state = ep_link_state,
    .disc = ep_disc_frame,
    .hello_allowed = ep_hello_allowed,
};

bool vrc_endpoint_owner_stats(VRCOwnerStats *st)
{
    VRCEndpointState *s = (VRCEndpointState *)
        object_dynamic_cast(OBJECT(current_machine),
                            TYPE_VRC_ENDPOINT_MACHINE);
    VRCEpDiscStats ds;

    if (!s || !s->disc) {
        return false;
    }
    vrc_ep_disc_get_stats(s->disc, &ds);
    *st = (VRCOwnerStats) {
        .generation = vrc_ep_disc_generation(s->disc, 0),
        .assigns = ds.assigns,
        .releases = ds.releases,
        .stale = ds.stale,
        .hello_refused = ds.hello_refused,
        .sessions_ended = ds.sessions_ended,
    };
    return true;
}

bool vrc_endpoint_dma_stats(VRCEpDmaStats *st)
{
    VRCEndpointState *s = (VRCEndpointState *)
        object_dynamic_cast(OBJECT(current_machine),
                            TYPE_VRC_ENDPOINT_MACHINE);

    if (!s) {
        return false;
    }
    *st = (VRCEpDmaStats) {
        .reads = s->dma_reads,
        .round_trips = s->dma_round_trips,
        .read_ahead = s->ra != NULL,
        .push = s->push,
        .offer = s->offer.st,
        .hints_sent = s->hints_sent,
        .chases = s->chases,
        .read_soon = s->ra && s->read_soon,
        .soon = s->soon.st,
    };
    if (s->ra) {
        encap_ra_get_stats(s->ra, &st->ra);
    }
    return true;
}

/* ---- the machine ---- */

VRCLink *vrc_endpoint_link(const VRCLinkConf **conf, const char **peer)
{
    VRCEndpointState *s = (VRCEndpointState *)
        object_dynamic_cast(OBJECT(current_machine),
                            TYPE_VRC_ENDPOINT_MACHINE);

    if (!s || !s->link) {
        return NULL;
    }
    *conf = &s->conf;
    *peer = s->peer_str;
    return s->link;
}

static bool ep_parse_mac(const char *str, uint8_t mac[6])
{
    char end;

    return sscanf(str, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c", &mac[0],
                  &mac[1], &mac[2], &mac[3], &mac[4], &mac[5], &end) == 6 &&
           !(mac[0] & 1);
}

/*
 * Virtio devices use the PCI bus-master address space (and so the link)
 * only when they offer VIRTIO_F_ACCESS_PLATFORM; without it they would
 * DMA to this machine's system memory, where there is nothing.  Linux
 * drivers accept the feature and need no IOMMU for it.  Legacy virtio
 * cannot offer it, and the guest sees the function behind a root port,
 * where QEMU would not give it a legacy interface either: modern only.
 */
/*
 * Maps.  Many device models do not copy DMA data with pci_dma_read/write
 * but map the VM's memory (virtio's descriptors, scatter-gather lists, USB
 * packets) and use the pointer.  Here the bus-master address space is an
 * I/O region, so a map gets a bounce buffer: read from the VM in one burst
 * of MRd when mapped (read_buf), written back as MWr when unmapped
 * (write_buf), in order with the device's other writes.  QEMU limits the
 * buffers a function may hold at once to x-max-bounce-buffer-size, 4 KiB by
 * default, and a map beyond the limit fails (virtio then stops with "bogus
 * descriptor or out of resources").  Here every hosted function gets
 * VRC_EP_MAP_LIMIT instead: room for a virtqueue of 256 requests of Linux's
 * largest default size (1280 KiB), taken only while maps are held.  A
 * function's own x-max-bounce-buffer-size still wins.
 */
#define VRC_EP_MAP_LIMIT "536870912"

/*
 * virtio-net completes a tx burst at once and notifies received packets
 * once per main loop turn (qemu-patches/0020): each used ring update and
 * event index read is a round trip here.  Off by default elsewhere: with
 * local memory, an interrupt per received packet lets the guest start
 * sooner (TCP in 20% faster).
 */
#define VRC_EP_VIRTIO_NET_BATCH { "virtio-net-device", "x-batch-completions", "on" }

static GlobalProperty ep_globals[] = {
    { "virtio-device", "iommu_platform", "on" },
    { "virtio-pci", "disable-legacy", "on" },
    { TYPE_PCI_DEVICE, "x-max-bounce-buffer-size", VRC_EP_MAP_LIMIT },
    VRC_EP_VIRTIO_NET_BATCH,
};

/*
 * Device models that keep a map across requests and read or write the VM's
 * memory through it as if it were local, expecting it to stay coherent with
 * the guest.  A bounce buffer is a copy taken at map time and written back
 * at unmap: such a model would half work (stale commands, lost status), so
 * it is refused at startup.
 */
static const struct {
    const char *type;
    const char *why;
} ep_refused_models[] = {
    { "ich9-ahci", "it keeps each port's command list and received-FIS area "
      "mapped while the port runs, reading commands from and writing FISes "
      "into that memory through the pointer" },
    { "megasas-base", "it writes each command's status into the frame it "
      "holds mapped, and unmaps the frame without writing it back" },
    { "virtio-gpu-pci-base", "it keeps the guest's resource backing pages "
      "mapped for the life of each resource" },
    { "virtio-scsi-pci-base", "it keeps each request's buffers mapped while the "
      "disk's data reaches the same memory by DMA, and the write-back of "
      "the maps at completion would overwrite that data" },
};

/*
 * MSITriggerFunc: the message goes as pci_msi_trigger() sends it, through
 * the bus-master address space, but leaves the read-ahead as it is (see
 * above).  Main loop, BQL held.
 */
static void ep_msi_trigger(PCIDevice *dev, MSIMessage msg)
{
    VRCEndpointState *s = VRC_ENDPOINT_MACHINE(current_machine);
    MemTxAttrs attrs = { .requester_id = pci_requester_id(dev) };

    s->msi_sending = true;
    address_space_stl_le(&dev->bus_master_as, msg.address, msg.data, attrs,
                         NULL);
    s->msi_sending = false;
}

/* A hosted function whose DMA would not reach the VM is a user error. */
static void ep_check_function(PCIBus *bus, PCIDevice *d, void *opaque)
{
    VRCEndpointState *s = opaque;
    Object *obj = OBJECT(d);

    for (size_t i = 0; i < G_N_ELEMENTS(ep_refused_models); i++) {
        if (object_dynamic_cast(obj, ep_refused_models[i].type)) {
            trace_vrc_ep_refused(object_get_typename(obj));
            error_report("vrc-endpoint: %s cannot be hosted: %s; across vrc "
                         "the VM's memory is remote, and a map held across "
                         "requests cannot stay coherent with it",
                         object_get_typename(obj), ep_refused_models[i].why);
            exit(1);
        }
    }
    if (s->ra && s->dma_own) {
        pci_dma_set_own_func(d, ep_dma_own, s);
    }
    if (s->ra) {
        d->msi_trigger = ep_msi_trigger;
    }
    if (s->ra && s->read_soon) {
        AddressSpace *as = pci_get_address_space(d);

        as->read_soon = ep_read_soon;
        as->read_soon_opaque = s;
    }
    if (object_property_find(obj, "iommu_platform") &&
        !object_property_get_bool(obj, "iommu_platform", NULL)) {
        error_report("vrc-endpoint: %s: iommu_platform=off would send its DMA "
                     "nowhere: leave it on (the default here)",
                     object_get_typename(obj));
        exit(1);
    }
}

static void ep_add_map_stats(PCIBus *bus, PCIDevice *d, void *opaque)
{
    VRCMapStats *st = opaque;
    AddressSpace *as = &d->bus_master_as;

    st->maps += qatomic_read(&as->bounce_maps);
    st->bytes += qatomic_read(&as->bounce_bytes);
    st->limited += qatomic_read(&as->bounce_limited);
    st->in_use += qatomic_read(&as->bounce_buffer_size);
}

void vrc_endpoint_map_stats(VRCMapStats *st)
{
    VRCEndpointState *s = (VRCEndpointState *)
        object_dynamic_cast(OBJECT(current_machine),
                            TYPE_VRC_ENDPOINT_MACHINE);

    *st = (VRCMapStats) { 0 };
    if (s && s->bus) {
        pci_for_each_device(s->bus, 0, ep_add_map_stats, st);
    }
}

static void ep_machine_done(Notifier *n, void *unused)
{
    VRCEndpointState *s = container_of(n, VRCEndpointState, machine_done);
    Error *err = NULL;

    pci_for_each_device(s->bus, 0, ep_check_function, s);
    /* Open the link once the functions exist: the vrc may talk at once. */
    s->link = vrc_link_new(&s->link_config, &ep_link_ops, s, &err);
    if (!s->link) {
        vrc_link_config_free(&s->link_config);
        error_reportf_err(err, "vrc-endpoint: ");
        exit(1);
    }
    if (s->disc_interval_ms && vrc_spec_is_ethernet(s->conf.spec)) {
        s->disc = vrc_ep_disc_new(s->link, s->bus, s->disc_interval_ms,
                                  s->link_config.key, s->link_config.key_len,
                                  ep_owner_changed, s);
    }
    vrc_link_config_free(&s->link_config);
}

static void ep_init(MachineState *ms)
{
    VRCEndpointState *s = VRC_ENDPOINT_MACHINE(ms);
    DeviceState *host;
    Error *err = NULL;

    if (s->peer_str && !ep_parse_mac(s->peer_str, s->conf.peer.a)) {
        error_report("vrc-endpoint: 'peer' is not a MAC address: %s",
                     s->peer_str);
        exit(1);
    }
    if (!vrc_link_conf_check(&s->conf, false, &err)) {
        error_reportf_err(err, "vrc-endpoint: ");
        exit(1);
    }
    if (s->disc_interval_ms &&
        (s->disc_interval_ms < ENCAP_DISC_INTERVAL_MIN ||
         s->disc_interval_ms > ENCAP_DISC_INTERVAL_MAX)) {
        error_report("vrc-endpoint: 'disc-interval' must be 0 (no discovery) "
                     "or %d..%d ms, not %u", ENCAP_DISC_INTERVAL_MIN,
                     ENCAP_DISC_INTERVAL_MAX, s->disc_interval_ms);
        exit(1);
    }
    if (s->request_credit > VRC_EP_REQUEST_CREDIT_MAX) {
        error_report("vrc-endpoint: 'request-credit' must be 0 (no limit) or "
                     "1..%d requests, not %u", VRC_EP_REQUEST_CREDIT_MAX,
                     s->request_credit);
        exit(1);
    }

    /*
     * MSI and MSI-X are memory writes that travel to the VM's interrupt
     * controller like any DMA: they work here although this machine has no
     * interrupt controller of its own (device models check this flag before
     * offering the capabilities).
     */
    msi_nonbroken = true;

    memory_region_init(&s->pci_mem, OBJECT(s), "vrc-ep-pci-mem", UINT64_MAX);
    memory_region_init(&s->pci_io, OBJECT(s), "vrc-ep-pci-io", 0x10000);
    memory_region_init_io(&s->dma_mr, OBJECT(s), &ep_dma_ops, s,
                          "vrc-ep-dma", UINT64_MAX);
    /*
     * What a hosted function's DMA sees: the VM's memory over the link,
     * except where a hosted function's BAR is mapped.  An access there is
     * peer to peer inside this endpoint and stays here, as in a real
     * device: LSI SCSI controllers fetch their SCRIPTS from their own
     * on-chip RAM (BAR 2) through DMA, which would otherwise loop through
     * the VM back to the function that is busy fetching.  The alias of the
     * BAR space claims only the windows mapped in it; the rest falls
     * through to the link.
     */
    memory_region_init(&s->dma_root, OBJECT(s), "vrc-ep-bus-master",
                       UINT64_MAX);
    memory_region_add_subregion_overlap(&s->dma_root, 0, &s->dma_mr, 0);
    memory_region_init_alias(&s->p2p, OBJECT(s), "vrc-ep-p2p", &s->pci_mem,
                             0, UINT64_MAX);
    memory_region_add_subregion_overlap(&s->dma_root, 0, &s->p2p, 1);
    address_space_init(&s->mem_as, &s->pci_mem, "vrc-ep-pci-mem");
    address_space_init(&s->io_as, &s->pci_io, "vrc-ep-pci-io");
    address_space_init(&s->dma_as, &s->dma_root, "vrc-ep-dma");

    /*
     * The bus before realizing its host: realizing the host realizes the
     * bus, which is what sets up the devices' bus-master address spaces.
     */
    host = qdev_new(TYPE_VRC_EP_HOST);
    object_property_add_child(OBJECT(ms), "host", OBJECT(host));
    s->bus = pci_root_bus_new(host, "pcie.0", &s->pci_mem, &s->pci_io, 0,
                              TYPE_PCIE_BUS);
    PCI_HOST_BRIDGE(host)->bus = s->bus;
    pci_bus_irqs(s->bus, ep_set_irq, s, PCI_NUM_PINS);
    pci_bus_map_irqs(s->bus, ep_map_irq);
    pci_setup_iommu(s->bus, &ep_iommu_ops, s);
    sysbus_realize_and_unref(SYS_BUS_DEVICE(host), &error_fatal);

    if (!vrc_link_config(&s->conf, "vrc-endpoint", false, &s->link_config,
                         &err)) {
        error_reportf_err(err, "vrc-endpoint: ");
        exit(1);
    }
    s->link_config.rx_in_main_loop = true;
    s->link_config.defer_writes = s->defer_writes;
    if (s->defer_writes) {
        s->flush_poll.notify = ep_flush_poll;
        main_loop_poll_add_notifier(&s->flush_poll);
    }
    s->link_config.request_credit = s->request_credit;
    if (s->read_ahead) {
        struct encap_ra_config ra_cfg = {
            .window = s->ra_window,
            .max_small = MIN(VRC_EP_RA_SMALL, s->ra_window),
            .max_windows = s->ra_windows,
        };

        s->ra = encap_ra_new(&ra_cfg, ep_ra_fetch, s);
        if (!s->ra) {
            error_report("vrc-endpoint: 'x-read-ahead-window' must be a power "
                         "of two, 64..%d, and 'x-read-ahead-windows' 1..%d",
                         ENCAP_RA_MAX_WINDOW, ENCAP_RA_MAX_WINDOWS);
            exit(1);
        }
        s->ra_poll.notify = ep_ra_poll;
        main_loop_poll_add_notifier(&s->ra_poll);
    }
    /* A push serves only the read-ahead's fetches. */
    s->push &= s->read_ahead;
    s->chase &= s->push;
    encap_offer_init(&s->offer, VRC_EP_PUSH_TTL_NS);
    s->machine_done.notify = ep_machine_done;
    qemu_add_machine_init_done_notifier(&s->machine_done);
}

/* Properties: string and uint32 fields of the machine state, by offset. */
static void ep_get_u32(Object *obj, Visitor *v, const char *name,
                       void *opaque, Error **errp)
{
    uint32_t *p = (void *)((char *)obj + (uintptr_t)opaque);

    visit_type_uint32(v, name, p, errp);
}

static void ep_set_u32(Object *obj, Visitor *v, const char *name,
                       void *opaque, Error **errp)
{
    uint32_t *p = (void *)((char *)obj + (uintptr_t)opaque);

    visit_type_uint32(v, name, p, errp);
}

static void ep_get_str(Object *obj, Visitor *v, const char *name,
                       void *opaque, Error **errp)
{
    char **p = (void *)((char *)obj + (uintptr_t)opaque);
    char *value = g_strdup(*p ?: "");

    visit_type_str(v, name, &value, errp);
    g_free(value);
}

static void ep_set_str(Object *obj, Visitor *v, const char *name,
                       void *opaque, Error **errp)
{
    char **p = (void *)((char *)obj + (uintptr_t)opaque);
    char *value;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    g_free(*p);
    *p = value;
}

static void ep_add_str(ObjectClass *oc, const char *name, size_t offset,
                       const char *desc)
{
    object_class_property_add(oc, name, "str", ep_get_str, ep_set_str,
                              NULL, (void *)(uintptr_t)offset);
    object_class_property_set_description(oc, name, desc);
}

static void ep_add_u32(ObjectClass *oc, const char *name, size_t offset,
                       const char *desc)
{
    object_class_property_add(oc, name, "uint32", ep_get_u32, ep_set_u32,
                              NULL, (void *)(uintptr_t)offset);
    object_class_property_set_description(oc, name, desc);
}

static void ep_instance_init(Object *obj)
{
    VRCEndpointState *s = VRC_ENDPOINT_MACHINE(obj);

    s->conf.mtu = VRC_DEFAULT_MTU;
    s->conf.mrrs = VRC_DEFAULT_MRRS;
    s->conf.timeout_ms = VRC_DEFAULT_TIMEOUT_MS;
    s->conf.keepalive_ms = VRC_DEFAULT_KEEPALIVE_MS;
    s->conf.ack_delay_us = VRC_DEFAULT_ACK_DELAY_US;
    s->disc_interval_ms = VRC_DEFAULT_DISC_INTERVAL_MS;
    s->request_credit = VRC_EP_REQUEST_CREDIT;
    s->read_ahead = true;
    s->defer_writes = true;
    s->dma_own = true;
    s->push = true;
    s->chase = true;
    s->read_soon = true;
    encap_soon_init(&s->soon);
    s->ra_window = VRC_EP_RA_WINDOW;
    s->ra_windows = VRC_EP_RA_WINDOWS;
}

static bool ep_get_read_ahead(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->read_ahead;
}

static void ep_set_read_ahead(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->read_ahead = value;
}

static bool ep_get_defer_writes(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->defer_writes;
}

static void ep_set_defer_writes(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->defer_writes = value;
}

static bool ep_get_push(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->push;
}

static void ep_set_push(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->push = value;
}

static bool ep_get_chase(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->chase;
}

static void ep_set_chase(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->chase = value;
}

static bool ep_get_read_soon(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->read_soon;
}

static void ep_set_read_soon(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->read_soon = value;
}

static bool ep_get_dma_own(Object *obj, Error **errp)
{
    return VRC_ENDPOINT_MACHINE(obj)->dma_own;
}

static void ep_set_dma_own(Object *obj, bool value, Error **errp)
{
    VRC_ENDPOINT_MACHINE(obj)->dma_own = value;
}

static void ep_class_init(ObjectClass *oc, void *data)
{
    MachineClass *mc = MACHINE_CLASS(oc);

    mc->desc = "vrc endpoint: hosts PCIe functions for a remote vrc (no CPU)";
    mc->init = ep_init;
    mc->max_cpus = 1;
    mc->default_ram_size = 0;
    mc->default_ram_id = "ram";
    mc->no_serial = 1;
    mc->no_parallel = 1;
    mc->no_floppy = 1;
    mc->no_cdrom = 1;
    compat_props_add(mc->compat_props, ep_globals, G_N_ELEMENTS(ep_globals));

    ep_add_str(oc, "ifname", offsetof(VRCEndpointState, conf.ifname),
               "host network interface the vrc is reached on (raw Ethernet: "
               "AF_PACKET rings, or libpcap where those do not open)");
    ep_add_str(oc, "socket", offsetof(VRCEndpointState, conf.socket),
               "unix socket path to listen on for the vrc, instead of ifname");
    ep_add_str(oc, "transport", offsetof(VRCEndpointState, conf.transport),
               "how frames travel, instead of ifname or socket: "
               "packet:IFNAME, pcap:IFNAME, unix:PATH, or udp:HOST:PORT to "
               "listen on "
               "(udp::PORT: every address)");
    ep_add_str(oc, "peer", offsetof(VRCEndpointState, peer_str),
               "MAC address of the vrc to serve (default: the first that "
               "says HELLO)");
    ep_add_u32(oc, "mtu", offsetof(VRCEndpointState, conf.mtu),
               "MTU of the Ethernet path");
    ep_add_u32(oc, "mps", offsetof(VRCEndpointState, conf.mps),
               "largest Max Payload Size accepted (0: 4096)");
    ep_add_u32(oc, "mrrs", offsetof(VRCEndpointState, conf.mrrs),
               "Max Read Request Size for DMA reads");
    ep_add_u32(oc, "completion-timeout",
               offsetof(VRCEndpointState, conf.timeout_ms),
               "milliseconds a DMA read waits for its completions");
    ep_add_str(oc, "secret", offsetof(VRCEndpointState, conf.secret),
               "id of a secret object holding the session key shared with "
               "the vrc (16..256 bytes): sessions authenticated, frames "
               "encrypted");
    ep_add_u32(oc, "keepalive", offsetof(VRCEndpointState, conf.keepalive_ms),
               "milliseconds of silence after which the vrc is asked whether "
               "it is still there (PING); after 6 such intervals unanswered "
               "the session ends and another vrc may say HELLO (0: never)");
    ep_add_u32(oc, "ack-delay", offsetof(VRCEndpointState, conf.ack_delay_us),
               "microseconds a received frame may wait for its acknowledgement "
               "to ride on something sent, 10..10000; longer saves the "
               "receivers wakeups, and makes the peer probe a lone lost frame "
               "that much later (docs/performance.md)");
    ep_add_u32(oc, "disc-interval",
               offsetof(VRCEndpointState, disc_interval_ms),
               "raw Ethernet: milliseconds between the ANNOUNCEs that tell "
               "configd about the hosted functions, 100..60000 (0: no "
               "discovery, and no ownership from configd)");
    ep_add_u32(oc, "request-credit",
               offsetof(VRCEndpointState, request_credit),
               "the most requests (MMIO, I/O, config) the vrc may have sent "
               "that the hosted functions have not yet run; it waits for "
               "more (flow control, as PCIe credits). 0: no limit");
    ep_add_u32(oc, "poll-us", offsetof(VRCEndpointState, conf.poll_us),
               "microseconds a DMA read spins for its completions before "
               "it sleeps, 0..1000 (0: sleep at once); saves a wakeup per "
               "read when a CPU is free, costs CPU");
    object_class_property_add_bool(oc, "read-ahead", ep_get_read_ahead,
                                   ep_set_read_ahead);
    object_class_property_set_description(oc, "read-ahead",
        "serve the hosted function's small DMA reads (rings, descriptors) "
        "from windows fetched ahead, several per round trip, dropped at "
        "every event that may make them stale (default on)");
    object_class_property_add_bool(oc, "x-defer-writes", ep_get_defer_writes,
                                   ep_set_defer_writes);
    object_class_property_set_description(oc, "x-defer-writes",
        "send the hosted function's DMA writes with its next read or "
        "completion, or when the main loop is about to wait, rather than "
        "one send each (default on)");
    object_class_property_add_bool(oc, "x-dma-own", ep_get_dma_own,
                                   ep_set_dma_own);
    object_class_property_set_description(oc, "x-dma-own",
        "read-ahead: keep what was fetched of memory the function says it "
        "owns (descriptors between its head and tail, a virtio ring's "
        "available entries) until it gives it back (default on)");
    object_class_property_add_bool(oc, "x-push", ep_get_push, ep_set_push);
    object_class_property_set_description(oc, "x-push",
        "read-ahead: tell the vrc what the function reads first after each "
        "doorbell, and serve that read from the copy the vrc then sends "
        "along with the doorbell, where nothing came between (default on)");
    object_class_property_add_bool(oc, "x-chase", ep_get_chase, ep_set_chase);
    object_class_property_set_description(oc, "x-chase",
        "push: learn where the pointer sits that the function follows after "
        "a doorbell's first read (a descriptor's buffer), so that the vrc "
        "pushes what it points at too (default on)");
    object_class_property_add_bool(oc, "x-read-soon", ep_get_read_soon,
                                   ep_set_read_soon);
    object_class_property_set_description(oc, "x-read-soon",
        "read-ahead: when the function is about to map a transfer's "
        "scatter-gather list to read it (a disk write), fetch all of it "
        "in one round trip instead of one per entry (default on)");
    ep_add_u32(oc, "x-read-ahead-window",
               offsetof(VRCEndpointState, ra_window),
               "read-ahead: bytes a window, a power of two");
    ep_add_u32(oc, "x-read-ahead-windows",
               offsetof(VRCEndpointState, ra_windows),
               "read-ahead: windows a fetch at most");
}

static const char *ep_host_root_bus_path(PCIHostState *h, PCIBus *b)
{
    return "0000:00";
}

static void ep_host_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIHostBridgeClass *hc = PCI_HOST_BRIDGE_CLASS(oc);

    hc->root_bus_path = ep_host_root_bus_path;
    dc->user_creatable = false;
    dc->desc = "vrc endpoint PCIe host";
}

static const TypeInfo ep_types[] = {
    {
        .name = TYPE_VRC_ENDPOINT_MACHINE,
        .parent = TYPE_MACHINE,
        .instance_size = sizeof(VRCEndpointState),
        .instance_init = ep_instance_init,
        .class_init = ep_class_init,
    }, {
        .name = TYPE_VRC_EP_HOST,
        .parent = TYPE_PCI_HOST_BRIDGE,
        .instance_size = sizeof(PCIHostState),
        .class_init = ep_host_class_init,
    },
};

DEFINE_TYPES(ep_types)
