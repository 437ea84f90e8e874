/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc endpoint: what the hosted functions send towards the VM.  Their
 * bus-master address space is an I/O region whose accesses become MRd/MWr
 * TLPs over the link (DMA, and MSI/MSI-X, which are memory writes); their
 * INTx pins become Assert/Deassert messages.  The reads are what costs:
 * each one a round trip.  The read-ahead, doorbell pushes, chases and
 * reads announced ahead below take most of them off the link, each
 * coherent by construction (encap/readahead.h, encap/push.h).
 *
 * Main loop, BQL held, for everything here (endpoint.c, "Threads").
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#include "hw/pci/msi.h"
#include "system/dma.h"
#include "encap/err.h"
#include "endpoint-int.h"
#include "trace.h"

/*
 * Read-ahead (encap/readahead.h).  A small DMA read that misses fetches an
 * aligned window around it, with the windows the function went on to read
 * the last time it missed there, in one round trip; the reads that follow
 * are served from it while they go forwards in fetch order (window sizes:
 * VRC_EP_RA_*, endpoint-int.h).  The VM side reads the windows in the order
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

/*
 * How long after its doorbell a pushed copy may serve (encap/push.h): the
 * function answers a doorbell at once or in the main loop's next turn
 * (a bottom half); a later read is of something else.
 */
#define VRC_EP_PUSH_TTL_NS      (1 * SCALE_MS)

void vrc_ep_dma_invalidate(VRCEndpointState *s, const char *why)
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
void vrc_ep_dma_forget(VRCEndpointState *s, const char *why)
{
    vrc_ep_dma_invalidate(s, why);
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

    vrc_ep_dma_invalidate(s, "main loop");
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
    vrc_ep_dma_invalidate(s, "read soon");
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
        vrc_ep_dma_invalidate(s, "DMA write");
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

const MemoryRegionOps vrc_ep_dma_ops = {
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

const PCIIOMMUOps vrc_ep_iommu_ops = {
    .get_address_space = ep_dma_as,
};

/*
 * INTx of the hosted function: Assert/Deassert messages, on a change only
 * (a bus reset deasserts every pin, asserted or not).  BQL held.
 */
void vrc_ep_set_irq(void *opaque, int pin, int level)
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
    vrc_ep_dma_invalidate(s, "INTx");
    encap_offer_drop(&s->offer);
    vrc_link_post(s->link, &t);
}

int vrc_ep_map_irq(PCIDevice *d, int pin)
{
    return pin;
}

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

/*
 * What a request from the vrc means for the read-ahead and the pushes,
 * before it runs: the guest may have written its memory before it (a
 * doorbell); a PUSH arms a copy for the doorbell that follows; an MWr may
 * be that doorbell.  True if @t was a PUSH: nothing more to do with it.
 */
bool vrc_ep_dma_request(VRCEndpointState *s, const struct encap_tlp *t)
{
    vrc_ep_dma_invalidate(s, "request");
    if (!s->push) {
        return false;
    }
    if (t->type == ENCAP_TLP_MSGD && encap_tlp_vdm_code(t) == ENCAP_VDM_PUSH) {
        ep_push(s, t);
        return true;
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
    return false;
}

void vrc_ep_dma_attach(VRCEndpointState *s, PCIDevice *d)
{
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
}

void vrc_ep_dma_init(VRCEndpointState *s)
{
    s->link_config.defer_writes = s->defer_writes;
    if (s->defer_writes) {
        s->flush_poll.notify = ep_flush_poll;
        main_loop_poll_add_notifier(&s->flush_poll);
    }
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
}

void vrc_ep_dma_get_stats(VRCEndpointState *s, VRCEpDmaStats *st)
{
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
}
