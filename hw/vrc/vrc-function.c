/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: the remote PCIe function as the guest sees it, behind a vrc port.
 *
 * Config space accesses become CfgRd0/CfgWr0, BAR accesses MRd/MWr/IORd/IOWr;
 * the TLPs the endpoint originates (DMA, MSI/MSI-X writes, INTx messages)
 * are executed here against guest memory through this function's own
 * bus-master address space, so Bus Master Enable and a vIOMMU apply.
 *
 * The local config space mirrors what QEMU's PCI core needs to map BARs and
 * route INTx (header, BARs, command, interrupt pin); everything the guest
 * reads comes from the remote function.
 *
 * Several vCPUs, one device
 * -------------------------
 * A vCPU that waits for a completion lets go of the BQL (vrc-link.h) while
 * it is still inside the memory core's access to a region: a BAR of this
 * function, or the host bridge's config window (ECAM, 0xCF8/0xCFC).  For
 * the length of an access the memory core marks the region's owner "engaged
 * in I/O" and refuses every other access to it (MemReentrancyGuard): the
 * guard against a device that re-enters itself through its own DMA.  While
 * we wait, the access that engaged it is parked and the BQL is free, so
 * another vCPU's access to the same device (to any device, for the host
 * bridge) is no re-entry and must not fail: the guard is lifted for the
 * wait and put back before the memory core looks at it again, both with
 * the BQL held (fn_request).  The re-entry the guard is there for, the
 * endpoint's own DMA reaching this function's BARs or config space, runs on
 * the link's receive thread and is refused there explicitly, every time,
 * not only when a vCPU access happens to be in flight (fn_dma_loop).
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#ifdef __x86_64__
#include "host/cpuinfo.h"
#endif
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/qdev-properties.h"
#include "system/dma.h"
#include "encap/push.h"
#include "encap/split.h"
#include "vrc.h"
#include "vrc-link.h"
#include "trace.h"

static inline VRCLink *fn_link(VRCFunction *f)
{
    return f->port->link;
}

/*
 * The function's BDF, from the port's secondary bus number: the receive
 * thread may hold a function that has left its bus (vrc.h, VRCState).
 */
static inline uint16_t fn_bdf(VRCState *s, uint8_t devfn)
{
    return PCI_BUILD_BDF(PCI_DEVICE(s)->config[PCI_SECONDARY_BUS], devfn);
}

/* Requester ID of what the root complex sends: the port's own BDF. */
static inline uint16_t fn_rc_id(VRCFunction *f)
{
    return pci_get_bdf(PCI_DEVICE(f->port));
}

/*
 * The guard of the device that owns the config window this function's
 * config space is reached through: the host bridge of its root bus.
 */
static MemReentrancyGuard *fn_cfg_guard(VRCFunction *f)
{
    DeviceState *host = BUS(pci_device_root_bus(PCI_DEVICE(f)))->parent;

    return host ? &host->mem_reentrancy_guard : NULL;
}

/*
 * An access to this function from the link's receive thread is the
 * endpoint's DMA looping back to the function itself (peer-to-peer to its
 * own BARs or config space through the root complex).  Answering a read of
 * it would need the endpoint, which waits for that very DMA: refuse it, as
 * QEMU's re-entrancy guard refuses a device's DMA into its own registers.
 */
static bool fn_dma_loop(VRCFunction *f, const char *what, uint64_t addr)
{
    if (!vrc_link_in_receiver(fn_link(f))) {
        return false;
    }
    qatomic_inc(&f->dma_loops);
    qemu_log_mask(LOG_GUEST_ERROR, "vrc: the endpoint's DMA reached its own "
                  "function (%s 0x%" PRIx64 "): refused\n", what, addr);
    trace_vrc_dma_loop(what, addr);
    return true;
}

/*
 * Send @t for a vCPU (or the main loop) inside an access to a region of
 * the device that @guard belongs to, and wait for its completion if it is
 * non-posted: see "Several vCPUs, one device" above.  BQL held; dropped
 * while waiting.  Returns what vrc_link_request() does.
 */
static int fn_request(VRCFunction *f, MemReentrancyGuard *guard,
                      struct encap_tlp *t, void *buf, uint32_t len)
{
    bool engaged = false;
    int r = 0;

    if (guard) {
        engaged = guard->engaged_in_io;
        guard->engaged_in_io = false;
    }
    if (t->type == ENCAP_TLP_MWR) {
        vrc_link_post(fn_link(f), t);
    } else {
        r = vrc_link_request(fn_link(f), t, buf, len);
    }
    if (guard) {
        guard->engaged_in_io = engaged;
    }
    return r;
}

/*
 * One config DW of the remote function.  Returns false (and all-ones in
 * *val) if there was no successful completion.
 */
static bool fn_cfg_read(VRCFunction *f, uint32_t reg, uint8_t be,
                        uint32_t *val)
{
    struct encap_tlp t = {
        .type = ENCAP_TLP_CFGRD0,
        .len_dw = 1,
        .requester_id = fn_rc_id(f),
        .target_id = pci_get_bdf(PCI_DEVICE(f)),
        .reg = reg & ~3u,
        .first_be = be,
    };
    uint8_t buf[4];

    if (fn_dma_loop(f, "config read", reg) ||
        fn_request(f, fn_cfg_guard(f), &t, buf, 4) < 0) {
        *val = UINT32_MAX;
        return false;
    }
    *val = ldl_le_p(buf);
    return true;
}

static bool fn_cfg_write(VRCFunction *f, uint32_t reg, uint8_t be,
                         uint32_t val)
{
    uint8_t buf[4];
    struct encap_tlp t = {
        .type = ENCAP_TLP_CFGWR0,
        .len_dw = 1,
        .requester_id = fn_rc_id(f),
        .target_id = pci_get_bdf(PCI_DEVICE(f)),
        .reg = reg & ~3u,
        .first_be = be,
        .data = buf,
    };

    stl_le_p(buf, val);
    return !fn_dma_loop(f, "config write", reg) &&
           fn_request(f, fn_cfg_guard(f), &t, NULL, 0) == 0;
}

/* vCPU or main loop, BQL held (dropped while waiting). */
static uint32_t fn_config_read(PCIDevice *d, uint32_t addr, int len)
{
    VRCFunction *f = VRC_FUNCTION(d);
    unsigned shift = (addr & 3) * 8;
    uint32_t mask = len == 4 ? UINT32_MAX : (1u << (len * 8)) - 1;
    uint32_t val;

    fn_cfg_read(f, addr, ((1u << len) - 1) << (addr & 3), &val);
    trace_vrc_config_read(addr, len, (val >> shift) & mask);
    return (val >> shift) & mask;
}

/* vCPU or main loop, BQL held (dropped while waiting). */
static void fn_config_write(PCIDevice *d, uint32_t addr, uint32_t val,
                            int len)
{
    VRCFunction *f = VRC_FUNCTION(d);

    trace_vrc_config_write(addr, len, val);
    if (fn_dma_loop(f, "config write", addr)) {
        return;
    }
    /*
     * Mirror locally (command, BARs and interrupt line drive QEMU's
     * mappings), then queue the remote write, both before the BQL can be
     * let go: config writes from several vCPUs reach the mirror and the
     * remote function in the same order.
     */
    pci_default_write_config(d, addr, val, len);
    qatomic_set(&f->master, pci_get_word(d->config + PCI_COMMAND) &
                            PCI_COMMAND_MASTER);
    fn_cfg_write(f, addr, ((1u << len) - 1) << (addr & 3),
                 val << ((addr & 3) * 8));
}

/* Build the request for a BAR access of @size bytes at bus address @pa. */
static void fn_bar_tlp(VRCBar *bar, hwaddr addr, unsigned size, bool write,
                       struct encap_tlp *t)
{
    VRCFunction *f = bar->fn;
    uint64_t pa = pci_get_bar_addr(PCI_DEVICE(f), bar->index) + addr;
    struct encap_req_piece p;

    encap_split_request(pa, size, 4096, &p, 1);
    *t = (struct encap_tlp) {
        .requester_id = fn_rc_id(f),
        .addr = p.addr,
        .addr64 = p.addr > UINT32_MAX,
        .len_dw = p.len_dw,
        .first_be = p.first_be,
        .last_be = p.last_be,
    };
    if (bar->io) {
        t->type = write ? ENCAP_TLP_IOWR : ENCAP_TLP_IORD;
        t->addr64 = false;
    } else {
        t->type = write ? ENCAP_TLP_MWR : ENCAP_TLP_MRD;
    }
}

/* vCPU, BQL held (dropped while waiting). */
static MemTxResult fn_bar_read(void *opaque, hwaddr addr, uint64_t *data,
                               unsigned size, MemTxAttrs attrs)
{
    VRCBar *bar = opaque;
    struct encap_tlp t;
    uint8_t buf[8];

    trace_vrc_bar_read_start(bar->index, addr, size);
    fn_bar_tlp(bar, addr, size, false, &t);
    if (fn_dma_loop(bar->fn, "BAR read", t.addr)) {
        /* The DMA read fails: the endpoint gets Unsupported Request. */
        *data = UINT64_MAX;
        return MEMTX_ACCESS_ERROR;
    }
    if (fn_request(bar->fn, &DEVICE(bar->fn)->mem_reentrancy_guard, &t, buf,
                   bar->io ? 4 : size) < 0) {
        /* As a root complex does: the read completes with all-ones. */
        *data = size == 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
        return MEMTX_OK;
    }
    *data = ldn_le_p(bar->io ? buf + (t.first_be ? ctz32(t.first_be) : 0)
                             : buf, size);
    trace_vrc_bar_read(bar->index, addr, size, *data);
    return MEMTX_OK;
}

static MemTxResult fn_read_ordered(PCIDevice *d, dma_addr_t addr,
                                   uint8_t *buf, dma_addr_t len,
                                   bool ram_only);

/*
 * Doorbell pushes (encap/push.h).  The endpoint tells us, in a HINT, which
 * ranges its function read first after a write to a BAR address; at the
 * next write there we copy those ranges (in order, each ascending, after
 * the guest's writes that the doorbell announces) and send them just ahead
 * of it, with the counts of the endpoint's writes applied and reads
 * answered before the copy.
 * The endpoint serves its function's fetches from that copy instead
 * of a round trip, if nothing came between.  Where the HINT has a chase,
 * the copy of what the first read points at (a descriptor's buffer) goes
 * along as one more range.  vCPU, BQL held.
 */
static void fn_push(VRCFunction *f, const struct encap_tlp *bell)
{
    VRCLink *l = fn_link(f);
    struct encap_push p;
    struct encap_push_range chase;
    uint8_t data[ENCAP_PUSH_MAX_DATA];
    uint8_t payload[ENCAP_TLP_MAX_DATA];
    struct encap_tlp t;
    uint32_t cap, used = 0, writes, reads;
    unsigned session, i;
    bool chased = false;
    int len;

    if (!encap_hints_get(&f->hints, bell->addr, &p) || bell->len_dw > 2 ||
        !qatomic_read(&f->master)) {
        return;
    }
    session = vrc_link_peer_done(l, &p.writes, &p.reads);
    p.bell_be = bell->first_be | bell->last_be << 4;
    p.bell_dw = bell->len_dw;
    memcpy(p.bell, bell->data, bell->len_dw * 4u);
    cap = MIN(vrc_link_mps(l), sizeof(payload));
    /* As many ranges as one message holds, copied in order. */
    for (i = 0; i < p.n; i++) {
        if (!encap_push_fits(i + 1, used + p.r[i].len, cap) ||
            fn_read_ordered(PCI_DEVICE(f), p.r[i].addr, data + used,
                            p.r[i].len, true) != MEMTX_OK) {
            break;
        }
        used += p.r[i].len;
    }
    /* The chase, after the copy it reads its pointer from. */
    p.data = data;
    if (i == p.n && bell->len_dw &&
        encap_chase_target(&p, ldl_le_p(bell->data), &chase) &&
        encap_push_fits(i + 1, used + chase.len, cap) &&
        fn_read_ordered(PCI_DEVICE(f), chase.addr, data + used, chase.len,
                        true) == MEMTX_OK) {
        p.r[i++] = chase;
        used += chase.len;
        chased = true;
    }
    p.chase.on = false;
    /*
     * A read answered meanwhile may hold a newer copy than ours, which the
     * endpoint's function may have used before it comes to this one.
     */
    if (vrc_link_peer_done(l, &writes, &reads) != session || reads != p.reads) {
        return;
    }
    p.n = i;
    len = p.n ? encap_push_encode(&p, true, payload, cap) : -1;
    if (len < 0) {
        return;
    }
    encap_tlp_vdm(&t, fn_rc_id(f), ENCAP_MSG_ROUTE_LOCAL, ENCAP_VDM_PUSH,
                  payload, len / 4);
    if (vrc_link_post_in(l, &t, session)) {
        f->pushes++;
        f->chased += chased;
        trace_vrc_push(bell->addr, p.n, used, p.writes);
    }
}

/* Receive thread: the endpoint's HINT for a doorbell. */
static void fn_hint(VRCFunction *f, const struct encap_tlp *t)
{
    struct encap_push p;
    int r = encap_push_decode(t->data, t->len_dw * 4u, false, &p);

    if (r < 0) {
        qatomic_inc(&f->unsupported);
        trace_vrc_unsupported("malformed HINT");
        return;
    }
    bql_lock();
    if (qatomic_read(&f->port->function) == f) {
        encap_hints_put(&f->hints, &p);
        f->hints_rx++;
        trace_vrc_hint(p.key, p.n, p.n ? p.r[0].addr : 0);
    }
    bql_unlock();
}

/* vCPU, BQL held (dropped while waiting for an IOWr completion or for
 * window space). */
static MemTxResult fn_bar_write(void *opaque, hwaddr addr, uint64_t data,
                                unsigned size, MemTxAttrs attrs)
{
    VRCBar *bar = opaque;
    struct encap_tlp t;
    uint8_t buf[12] = { 0 };

    trace_vrc_bar_write(bar->index, addr, size, data);
    fn_bar_tlp(bar, addr, size, true, &t);
    /* Payload DWs start at the DW address; bytes before the first enabled
     * byte are don't-care. */
    stn_le_p(buf + (t.first_be ? ctz32(t.first_be) : 0), size, data);
    t.data = buf;
    if (fn_dma_loop(bar->fn, "BAR write", t.addr)) {
        return MEMTX_ACCESS_ERROR;
    }
    if (!bar->io) {
        fn_push(bar->fn, &t);
    }
    fn_request(bar->fn, &DEVICE(bar->fn)->mem_reentrancy_guard, &t, NULL, 0);
    return MEMTX_OK;
}

static const MemoryRegionOps fn_bar_ops = {
    .read_with_attrs = fn_bar_read,
    .write_with_attrs = fn_bar_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/*
 * Size the remote BARs the way firmware does and register local regions
 * that forward to them.  Realize, main loop.
 */
static bool fn_probe_bars(VRCFunction *f, Error **errp)
{
    PCIDevice *d = PCI_DEVICE(f);

    for (int i = 0; i < PCI_ROM_SLOT; i++) {
        uint32_t reg = PCI_BASE_ADDRESS_0 + i * 4;
        uint32_t orig, probe, orig_hi = 0, probe_hi = 0;
        uint64_t size;
        uint8_t type;
        VRCBar *bar = &f->bars[i];

        if (!fn_cfg_read(f, reg, 0xf, &orig) ||
            !fn_cfg_write(f, reg, 0xf, UINT32_MAX) ||
            !fn_cfg_read(f, reg, 0xf, &probe) ||
            !fn_cfg_write(f, reg, 0xf, orig)) {
            error_setg(errp, "no answer while sizing BAR %d", i);
            return false;
        }
        if (!probe) {
            continue;
        }
        if (orig & PCI_BASE_ADDRESS_SPACE_IO) {
            type = PCI_BASE_ADDRESS_SPACE_IO;
            size = (uint32_t)~(probe & PCI_BASE_ADDRESS_IO_MASK) + 1;
            size &= 0xffff;
        } else {
            type = orig & (PCI_BASE_ADDRESS_MEM_TYPE_MASK |
                           PCI_BASE_ADDRESS_MEM_PREFETCH);
            if (type & PCI_BASE_ADDRESS_MEM_TYPE_64) {
                if (i == PCI_ROM_SLOT - 1 ||
                    !fn_cfg_read(f, reg + 4, 0xf, &orig_hi) ||
                    !fn_cfg_write(f, reg + 4, 0xf, UINT32_MAX) ||
                    !fn_cfg_read(f, reg + 4, 0xf, &probe_hi) ||
                    !fn_cfg_write(f, reg + 4, 0xf, orig_hi)) {
                    error_setg(errp, "bad 64-bit BAR %d", i);
                    return false;
                }
            }
            size = ~(((uint64_t)probe_hi << 32) |
                     (probe & PCI_BASE_ADDRESS_MEM_MASK)) + 1;
            if (!(type & PCI_BASE_ADDRESS_MEM_TYPE_64)) {
                size &= UINT32_MAX;
            }
        }
        if (!size || !is_power_of_2(size)) {
            error_setg(errp, "remote BAR %d has a bad size (0x%" PRIx64 ")",
                       i, size);
            return false;
        }
        bar->fn = f;
        bar->index = i;
        bar->io = type == PCI_BASE_ADDRESS_SPACE_IO;
        bar->size = size;
        bar->name = g_strdup_printf("vrc-bar%d", i);
        memory_region_init_io(&bar->mr, OBJECT(f), &fn_bar_ops, bar,
                              bar->name, size);
        pci_register_bar(d, i, type, &bar->mr);
        trace_vrc_bar(i, bar->io ? "io" : "mem", size);
        if (type & PCI_BASE_ADDRESS_MEM_TYPE_64) {
            i++;
        }
    }
    return true;
}

/* True if the byte enables of @t select one contiguous run of bytes. */
static bool be_contiguous(const struct encap_tlp *t)
{
    unsigned run;

    if (t->len_dw == 1) {
        run = t->first_be >> ctz32(t->first_be | 0x10);
        return !(run & (run + 1));
    }
    return (t->first_be == 0xf || t->first_be == 0xe || t->first_be == 0xc ||
            t->first_be == 0x8) &&
           (t->last_be == 0xf || t->last_be == 0x7 || t->last_be == 0x3 ||
            t->last_be == 0x1);
}

/* Receive thread: a DMA write from the endpoint into guest memory. */
static void fn_dma_write(VRCFunction *f, const struct encap_tlp *t)
{
    PCIDevice *d = PCI_DEVICE(f);
    uint64_t first;
    uint32_t len;
    MemTxResult r = MEMTX_OK;

    if (encap_read_req_span(t, &first, &len) < 0 || !t->first_be) {
        return;     /* zero-length write: nothing to do */
    }
    if (be_contiguous(t)) {
        r = pci_dma_write(d, first, t->data + (first - t->addr), len);
    } else {
        /* Sparse byte enables: only the enabled bytes are written. */
        for (uint32_t i = 0; i < t->len_dw * 4u; i++) {
            unsigned be = i < 4 ? t->first_be :
                          i >= (t->len_dw - 1) * 4u ? t->last_be : 0xf;
            if (be & (1u << (i & 3))) {
                r |= pci_dma_write(d, t->addr + i, t->data + i, 1);
            }
        }
    }
    if (r != MEMTX_OK) {
        qatomic_inc(&f->dma_errors);
        trace_vrc_dma_error("write", first, len);
    }
}

/*
 * Copy @len bytes from @src in ascending address order, each aligned word
 * loaded once and in order (acquire): a read that covers fields the guest
 * writes one after the other (a ring's entries, then its index, with a
 * write barrier between) never returns a lower field older than a higher
 * one it returns.  The endpoint's read-ahead builds on this (endpoint.c);
 * memcpy promises no order.
 */
static void fn_copy_ascending(uint8_t *dst, const uint8_t *src, size_t len)
{
    while (len && ((uintptr_t)src & 7)) {
        *dst++ = qatomic_load_acquire(src);
        src++;
        len--;
    }
#ifdef __x86_64__
    /*
     * Where an aligned 16-byte load is atomic (AVX on Intel and AMD, which
     * QEMU's own 128-bit atomics rely on), copy 16 bytes a load, four to a
     * statement: x86 does not reorder loads with loads, and the compiler
     * does not reorder asm volatile, so the order above holds.  A 4 KiB
     * read copies about four times faster than word by word.
     */
    if (len >= 64 && (cpuinfo & CPUINFO_ATOMIC_VMOVDQA)) {
        if ((uintptr_t)src & 8) {
            uint64_t w = qatomic_load_acquire((const uint64_t *)src);

            memcpy(dst, &w, 8);
            src += 8;
            dst += 8;
            len -= 8;
        }
        for (; len >= 64; src += 64, dst += 64, len -= 64) {
            asm volatile("vmovdqa   (%1), %%xmm0\n\t"
                         "vmovdqa 16(%1), %%xmm1\n\t"
                         "vmovdqa 32(%1), %%xmm2\n\t"
                         "vmovdqa 48(%1), %%xmm3\n\t"
                         "vmovdqu %%xmm0,   (%0)\n\t"
                         "vmovdqu %%xmm1, 16(%0)\n\t"
                         "vmovdqu %%xmm2, 32(%0)\n\t"
                         "vmovdqu %%xmm3, 48(%0)"
                         : : "r"(dst), "r"(src)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "memory");
        }
    }
#endif
    for (; len >= 8; src += 8, dst += 8, len -= 8) {
        uint64_t w = qatomic_load_acquire((const uint64_t *)src);

        memcpy(dst, &w, 8);
    }
    while (len--) {
        *dst++ = qatomic_load_acquire(src);
        src++;
    }
}

/*
 * Read guest memory for the endpoint, in ascending address order where it
 * is RAM.  Anything else (MMIO, nothing) is read as before, with its side
 * effects and errors, and never twice; or, if @ram_only (a copy nobody
 * asked for yet), not at all: MEMTX_ERROR.  Receive thread, or a vCPU.
 */
static MemTxResult fn_read_ordered(PCIDevice *d, dma_addr_t addr,
                                   uint8_t *buf, dma_addr_t len,
                                   bool ram_only)
{
    AddressSpace *as = pci_get_address_space(d);

    smp_mb();   /* as dma_memory_rw(): after the device's earlier accesses */
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, plen = len;
        MemoryRegion *mr = address_space_translate(as, addr, &xlat, &plen,
                                                   false,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!memory_access_is_direct(mr, false, MEMTXATTRS_UNSPECIFIED)) {
            return ram_only ? MEMTX_ERROR : pci_dma_read(d, addr, buf, len);
        }
        fn_copy_ascending(buf, (uint8_t *)memory_region_get_ram_ptr(mr) + xlat,
                          plen);
        addr += plen;
        buf += plen;
        len -= plen;
    }
    return MEMTX_OK;
}

/* Receive thread: the endpoint reads guest memory; answer with CplD. */
static void fn_dma_read(VRCFunction *f, const struct encap_tlp *t,
                        uint16_t bdf)
{
    PCIDevice *d = PCI_DEVICE(f);
    uint64_t first;
    uint32_t len;
    g_autofree uint8_t *buf = NULL;

    if (encap_read_req_span(t, &first, &len) < 0) {
        return;
    }
    buf = g_malloc(len);
    if (fn_read_ordered(d, first, buf, len, false) != MEMTX_OK) {
        qatomic_inc(&f->dma_errors);
        trace_vrc_dma_error("read", first, len);
        vrc_link_complete(fn_link(f), t, bdf, ENCAP_CPL_UR, NULL, 0);
        return;
    }
    vrc_link_complete(fn_link(f), t, bdf, ENCAP_CPL_SC, buf, len);
}

/*
 * Drive the function's pin, if the function is still in its slot: with
 * the BQL held, that means it is realized and its config space is there.
 * Receive thread, in an RCU read section.
 */
static void fn_set_pin(VRCFunction *f, int level)
{
    bql_lock();
    if (qatomic_read(&f->port->function) == f) {
        trace_vrc_intx(f->pin - 1, level);
        pci_set_irq(PCI_DEVICE(f), level);
    }
    bql_unlock();
}

/* Receive thread, in an RCU read section. */
static void fn_upstream_request(VRCFunction *f, const struct encap_tlp *t)
{
    PCIDevice *d = PCI_DEVICE(f);
    uint16_t bdf = fn_bdf(f->port, d->devfn);
    bool master = qatomic_read(&f->master);

    if (t->requester_id != bdf) {
        qatomic_inc(&f->bad_requester);
        qemu_log_mask(LOG_GUEST_ERROR, "vrc: request from %04x, function "
                      "is %04x: dropped\n", t->requester_id, bdf);
        trace_vrc_bad_requester(t->requester_id, bdf);
        if (t->type == ENCAP_TLP_MRD) {
            vrc_link_complete(fn_link(f), t, bdf, ENCAP_CPL_UR, NULL, 0);
        }
        return;
    }
    switch (t->type) {
    case ENCAP_TLP_MWR:
        if (!master) {
            qatomic_inc(&f->dma_refused);
            trace_vrc_dma_refused("write", t->addr);
            return;
        }
        fn_dma_write(f, t);
        break;
    case ENCAP_TLP_MRD:
        if (!master) {
            qatomic_inc(&f->dma_refused);
            trace_vrc_dma_refused("read", t->addr);
            vrc_link_complete(fn_link(f), t, bdf, ENCAP_CPL_UR, NULL, 0);
            return;
        }
        fn_dma_read(f, t, bdf);
        break;
    case ENCAP_TLP_MSG:
    case ENCAP_TLP_MSGD:
        if (t->msg_code >= ENCAP_MSG_ASSERT_INTA &&
            t->msg_code <= ENCAP_MSG_DEASSERT_INTD) {
            bool level = t->msg_code <= ENCAP_MSG_ASSERT_INTD;

            if (!f->pin || (t->msg_code & 3) != f->pin - 1) {
                /* Only the function's own pin: it may have none. */
                qatomic_inc(&f->unsupported);
                qemu_log_mask(LOG_GUEST_ERROR, "vrc: INTx message for pin "
                              "%c, the function's is %d: dropped\n",
                              'A' + (t->msg_code & 3), f->pin);
                trace_vrc_unsupported("INTx message for another pin");
                break;
            }
            fn_set_pin(f, level);
        } else if (t->type == ENCAP_TLP_MSGD &&
                   encap_tlp_vdm_code(t) == ENCAP_VDM_HINT) {
            fn_hint(f, t);
        }
        break;
    default:
        /* Config and I/O requests only travel downstream. */
        qatomic_inc(&f->unsupported);
        trace_vrc_unsupported(encap_tlp_type_name(t->type));
        vrc_link_complete(fn_link(f), t, bdf, ENCAP_CPL_UR, NULL, 0);
        break;
    }
}

/* Receive thread (VRCLinkOps.request, dispatched by the port). */
void vrc_function_request(VRCState *s, const struct encap_tlp *t)
{
    VRCFunction *f;

    RCU_READ_LOCK_GUARD();
    f = qatomic_rcu_read(&s->function);
    if (f) {
        fn_upstream_request(f, t);
        return;
    }
    /*
     * The slot is empty, or its function is being added or has just been
     * removed: nothing to do the request to.
     */
    qatomic_inc(&s->no_function);
    trace_vrc_no_function(encap_tlp_type_name(t->type));
    if (t->type == ENCAP_TLP_MRD) {
        vrc_link_complete(s->link, t, fn_bdf(s, PCI_DEVFN(0, 0)),
                          ENCAP_CPL_UR, NULL, 0);
    }
}

void vrc_function_link_down(VRCState *s)
{
    VRCFunction *f;

    RCU_READ_LOCK_GUARD();
    f = qatomic_rcu_read(&s->function);
    if (f && f->pin) {
        fn_set_pin(f, 0);
    }
}

static void fn_realize(PCIDevice *d, Error **errp)
{
    ERRP_GUARD();
    VRCFunction *f = VRC_FUNCTION(d);
    uint32_t id, class, pin;

    if (!f->port || !f->port->link) {
        error_setg(errp, "a vrc-function is created by its vrc port");
        return;
    }
    if (!fn_cfg_read(f, PCI_VENDOR_ID, 0xf, &id) || (id & 0xffff) == 0xffff) {
        error_setg(errp, "no function answers at the endpoint");
        return;
    }
    fn_cfg_read(f, PCI_CLASS_REVISION, 0xf, &class);
    fn_cfg_read(f, PCI_INTERRUPT_LINE, 0xf, &pin);
    /* Local copies for QEMU's own introspection and INTx routing. */
    pci_set_long(d->config + PCI_VENDOR_ID, id);
    pci_set_long(d->config + PCI_CLASS_REVISION, class);
    f->pin = (pin >> 8) & 0xff;
    if (f->pin > 4) {
        qemu_log_mask(LOG_GUEST_ERROR, "vrc: the remote function's Interrupt "
                      "Pin is %u, not 0-4: taken for none\n", f->pin);
        f->pin = 0;
    }
    d->config[PCI_INTERRUPT_PIN] = f->pin;
    if (!fn_probe_bars(f, errp)) {
        error_prepend(errp, "remote function %04x:%04x: ", id & 0xffff,
                      id >> 16);
        return;
    }
    trace_vrc_function_realize(id & 0xffff, id >> 16, class >> 8);
}

static ResettablePhases fn_parent_phases;

/*
 * The function is reset on our side (the VM's reset, or a Secondary Bus
 * Reset on the port): the remote one must be too, or it would go on with
 * its old BARs, and its DMA, under a guest that starts afresh.  A posted
 * message, so it is ordered before whatever the guest sends next.
 */
static void fn_reset_hold(Object *obj, ResetType type)
{
    VRCFunction *f = VRC_FUNCTION(obj);
    struct encap_tlp t;

    if (fn_parent_phases.hold) {
        fn_parent_phases.hold(obj, type);
    }
    qatomic_set(&f->master, false);
    encap_hints_clear(&f->hints);
    if (!f->port || !f->port->link || !vrc_link_is_up(fn_link(f))) {
        return;
    }
    trace_vrc_function_reset(DEVICE(f->port)->id ?: "");
    encap_tlp_hot_reset(&t, fn_rc_id(f));
    vrc_link_post(fn_link(f), &t);
}

static void fn_exit(PCIDevice *d)
{
    VRCFunction *f = VRC_FUNCTION(d);

    if (f->port && f->port->function == f) {
        vrc_slot_function_gone(f->port);
    }

    for (int i = 0; i < PCI_ROM_SLOT; i++) {
        g_free(f->bars[i].name);
    }
}

static void fn_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    resettable_class_set_parent_phases(rc, NULL, fn_reset_hold, NULL,
                                       &fn_parent_phases);
    k->realize = fn_realize;
    k->exit = fn_exit;
    k->config_read = fn_config_read;
    k->config_write = fn_config_write;
    /* Placeholder IDs; realize copies the remote function's. */
    k->vendor_id = PCI_VENDOR_ID_REDHAT;
    k->device_id = 0xffff;
    k->class_id = PCI_CLASS_OTHERS;
    dc->desc = "Remote PCIe function behind a vrc port";
    dc->user_creatable = false;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo fn_info = {
    .name          = TYPE_VRC_FUNCTION,
    .parent        = TYPE_PCI_DEVICE,
    .instance_size = sizeof(VRCFunction),
    .class_init    = fn_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { }
    },
};

static void fn_register_types(void)
{
    type_register_static(&fn_info);
}

type_init(fn_register_types)
