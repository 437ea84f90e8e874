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
 * which are memory writes); its INTx pin becomes Assert/Deassert messages:
 * endpoint-dma.c.  This file: the machine, and the requests it executes.
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
#include "encap/err.h"
#include "endpoint-int.h"
#include "trace.h"


/*
 * Requests the vrc may have in flight to us, not yet run: bounds what the
 * endpoint queues while a function waits for its own DMA (its completions
 * are never held back).  256 MWr of 4 KiB is 1 MiB.
 */
#define VRC_EP_REQUEST_CREDIT       256
#define VRC_EP_REQUEST_CREDIT_MAX   65536

static PCIDevice *ep_function(VRCEndpointState *s, uint16_t target)
{
    return pci_find_device(s->bus, 0, PCI_DEVFN(0, target & 7));
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
    vrc_ep_dma_forget(s, "reset");
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
    if (vrc_ep_dma_request(s, t)) {
        return;
    }
    switch (t->type) {
    case ENCAP_TLP_CFGWR0:
    case ENCAP_TLP_CFGWR1:
        /* Bus mastering, BARs or power may change: promises made before
         * are not relied on. */
        vrc_ep_dma_forget(s, "config write");
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
    vrc_ep_dma_forget(s, "link");
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
    vrc_ep_dma_get_stats(s, st);
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
    vrc_ep_dma_attach(s, d);
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
    memory_region_init_io(&s->dma_mr, OBJECT(s), &vrc_ep_dma_ops, s,
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
    pci_bus_irqs(s->bus, vrc_ep_set_irq, s, PCI_NUM_PINS);
    pci_bus_map_irqs(s->bus, vrc_ep_map_irq);
    pci_setup_iommu(s->bus, &vrc_ep_iommu_ops, s);
    sysbus_realize_and_unref(SYS_BUS_DEVICE(host), &error_fatal);

    if (!vrc_link_config(&s->conf, "vrc-endpoint", false, &s->link_config,
                         &err)) {
        error_reportf_err(err, "vrc-endpoint: ");
        exit(1);
    }
    s->link_config.rx_in_main_loop = true;
    s->link_config.request_credit = s->request_credit;
    vrc_ep_dma_init(s);
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
