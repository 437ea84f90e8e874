/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: the guest-visible side of the virtual root complex.
 *
 * A vrc is a PCI Express Root Port (QOM glue, properties, validation here).
 * Its link is not a PCIe link but an Ethernet path to an endpoint that hosts
 * the PCIe function; the function appears on the port's secondary bus.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "hw/pci/msi.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_port.h"
#include "hw/pci/pci_bridge.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "crypto/secret.h"
#include "net/net.h"
#include "encap/frame.h"
#include "encap/link.h"
#include "encap/seal.h"
#include "vrc.h"
#include "vrc-link.h"
#include "trace.h"

#define VRC_EXP_OFFSET      0x90
#define VRC_AER_OFFSET      0x100
#define VRC_MSI_OFFSET      0x60
#define VRC_MSI_NR_VECTOR   1

static bool is_pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi && is_power_of_2(v);
}

/* What vrc_link_new() needs from the properties of a vrc or an endpoint. */
bool vrc_link_config(const VRCLinkConf *c, const char *name, bool initiator,
                     VRCLinkConfig *lc, Error **errp)
{
    ERRP_GUARD();
    uint8_t *key = NULL;
    size_t key_len = 0;

    if (c->secret) {
        if (qcrypto_secret_lookup(c->secret, &key, &key_len, errp) < 0) {
            error_prepend(errp, "'secret': ");
            return false;
        }
        if (key_len < ENCAP_PSK_MIN || key_len > ENCAP_PSK_MAX) {
            error_setg(errp, "'secret': the key of '%s' is %zu bytes; a "
                       "session key is %d to %d bytes (32 random bytes, "
                       "format=base64, is a good one)", c->secret, key_len,
                       ENCAP_PSK_MIN, ENCAP_PSK_MAX);
            explicit_bzero(key, key_len);
            g_free(key);
            return false;
        }
    }
    *lc = (VRCLinkConfig) {
        .name = name,
        .initiator = initiator,
        .transport = c->spec,
        .fallback_transport = c->fallback,
        .peer = c->peer,
        .rc_id = c->rc_id,
        .mtu = c->mtu,
        .mps = c->mps,
        .mrrs = c->mrrs,
        .timeout_ms = c->timeout_ms,
        .poll_us = c->poll_us,
        .keepalive_ms = c->keepalive_ms,
        .ack_delay_us = c->ack_delay_us,
        .key = key,
        .key_len = key_len,
    };
    return true;
}

void vrc_link_config_free(VRCLinkConfig *lc)
{
    if (lc->key) {
        explicit_bzero((void *)lc->key, lc->key_len);
        g_free((void *)lc->key);
        lc->key = NULL;
    }
}

/*
 * Largest power-of-two payload whose MWr or CplD still fits one frame
 * (a sealed one is ENCAP_SEAL_OVERHEAD bytes longer).
 */
static uint32_t vrc_mps_for_mtu(uint32_t mtu, bool keyed)
{
    return encap_mps_for_frame(mtu + ENCAP_ETH_HLEN -
                               (keyed ? ENCAP_SEAL_OVERHEAD : 0));
}

bool vrc_link_conf_check(VRCLinkConf *c, bool initiator, Error **errp)
{
    if (!!c->ifname + !!c->socket + !!c->transport != 1) {
        error_setg(errp, "exactly one of 'ifname' (raw Ethernet), 'socket' "
                   "(unix socket) or 'transport' (pcap:IFNAME, unix:PATH or "
                   "udp:HOST:PORT) must be given");
        return false;
    }
    /*
     * ifname: the fastest raw Ethernet transport that opens here, AF_PACKET
     * rings, else libpcap (measured in docs/performance.md).
     */
    g_free(c->spec);
    g_free(c->fallback);
    c->spec = c->ifname ? g_strdup_printf("packet:%s", c->ifname) :
              c->socket ? g_strdup_printf("unix:%s", c->socket) :
              g_strdup(c->transport);
    c->fallback = c->ifname ? g_strdup_printf("pcap:%s", c->ifname) : NULL;
    if (c->peer.a[0] & 1) {
        error_setg(errp, "'peer' must be a unicast MAC address");
        return false;
    }
    if (c->mtu < 576 || c->mtu > 9000) {
        error_setg(errp, "'mtu' must be between 576 and 9000, not %u", c->mtu);
        return false;
    }
    if (c->poll_us > 1000) {
        error_setg(errp, "'poll-us' must be 0..1000, not %u", c->poll_us);
        return false;
    }
    if (c->keepalive_ms && (c->keepalive_ms < 10 || c->keepalive_ms > 60000)) {
        error_setg(errp, "'keepalive' must be 0 (off) or 10..60000 ms, not %u",
                   c->keepalive_ms);
        return false;
    }
    if (c->ack_delay_us < 10 || c->ack_delay_us > 10000) {
        error_setg(errp, "'ack-delay' must be 10..10000 us, not %u",
                   c->ack_delay_us);
        return false;
    }
    if (c->timeout_ms < 1 || c->timeout_ms > 60000) {
        error_setg(errp, "'completion-timeout' must be 1..60000 ms, not %u",
                   c->timeout_ms);
        return false;
    }
    if (!c->mps) {
        /* The endpoint accepts whatever the vrc proposes. */
        c->mps = initiator ? vrc_mps_for_mtu(c->mtu, c->secret) : 4096;
    }
    if (c->mps < 128 || c->mps > 4096 || c->mps % 64) {
        /* Any multiple of the Read Completion Boundary: completions of a
         * read split on it (docs/protocol.md). */
        error_setg(errp, "'mps' must be a multiple of 64 from 128 to 4096, "
                   "not %u", c->mps);
        return false;
    }
    if (initiator && c->mps > vrc_mps_for_mtu(c->mtu, c->secret)) {
        error_setg(errp, "'mps' %u does not fit in a%s frame of MTU %u "
                   "(at most %u)", c->mps, c->secret ? " sealed" : "", c->mtu,
                   vrc_mps_for_mtu(c->mtu, c->secret));
        return false;
    }
    if (!is_pow2_in(c->mrrs, 128, 4096)) {
        error_setg(errp, "'mrrs' must be a power of two from 128 to 4096, "
                   "not %u", c->mrrs);
        return false;
    }
    return true;
}

/* Receive thread. */
static void vrc_link_request_cb(void *opaque, const struct encap_tlp *t)
{
    vrc_function_request(opaque, t);
}

/* Receive thread. */
static void vrc_link_state_cb(void *opaque, bool up)
{
    VRCState *s = opaque;

    trace_vrc_link_state(DEVICE(s)->id ?: "", up);
    if (!up) {
        /* Nobody will send the Deassert_INTx now: let go of the pin. */
        vrc_function_link_down(s);
    }
    vrc_slot_link_changed(s);
}

static const VRCLinkOps vrc_link_ops = {
    .request = vrc_link_request_cb,
    .link_state = vrc_link_state_cb,
};

/* How long realize waits for the endpoint to answer HELLO. */
static uint32_t vrc_connect_wait_ms(VRCState *s)
{
    return MAX(2000, s->conf.timeout_ms * 10);
}

/*
 * An access below the port that no function decodes (the slot is empty,
 * or a BAR moved away) ends in Unsupported Request: a read gives all-ones,
 * as on a real PCIe link, and a driver of a function that was just pulled
 * sees a gone device at once instead of reading zeros (QEMU's default for
 * unassigned memory) and waiting for bits that never come.
 */
static uint64_t vrc_ur_read(void *opaque, hwaddr addr, unsigned size)
{
    return ~0ULL;
}

static void vrc_ur_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
}

static const MemoryRegionOps vrc_ur_ops = {
    .read = vrc_ur_read,
    .write = vrc_ur_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static void vrc_ur_init(VRCState *s)
{
    PCIBridge *br = PCI_BRIDGE(s);

    memory_region_init_io(&s->ur_mem, OBJECT(s), &vrc_ur_ops, s,
                          "vrc-unsupported-request", UINT64_MAX);
    memory_region_add_subregion_overlap(&br->address_space_mem, 0,
                                        &s->ur_mem, -1);
    memory_region_init_io(&s->ur_io, OBJECT(s), &vrc_ur_ops, s,
                          "vrc-unsupported-request-io", 0x10000);
    memory_region_add_subregion_overlap(&br->address_space_io, 0,
                                        &s->ur_io, -1);
}

static void vrc_ur_fini(VRCState *s)
{
    PCIBridge *br = PCI_BRIDGE(s);

    if (memory_region_size(&s->ur_io)) {
        memory_region_del_subregion(&br->address_space_mem, &s->ur_mem);
        memory_region_del_subregion(&br->address_space_io, &s->ur_io);
        object_unparent(OBJECT(&s->ur_mem));
        object_unparent(OBJECT(&s->ur_io));
    }
}

/* pcie-root-port's exit, which ours extends. Set once in class_init. */
static PCIUnregisterFunc *rp_parent_exit;

static void vrc_exit(PCIDevice *d)
{
    VRCState *s = VRC(d);

    /* The function on our secondary bus is gone by now. */
    qatomic_set(&s->function, NULL);
    if (s->link) {
        vrc_link_free(s->link);
        s->link = NULL;
    }
    vrc_slot_fini(s);
    vrc_configd_remove(s);
    vrc_ur_fini(s);
    g_free(s->conf.spec);
    s->conf.spec = NULL;
    g_free(s->conf.fallback);
    s->conf.fallback = NULL;
    rp_parent_exit(d);
}

/*
 * The slot starts empty when there is no endpoint to ask yet (raw Ethernet
 * without 'peer') or when configd decides (vrc-attach or configd fill
 * it); otherwise the endpoint must answer now and its function is present
 * at boot, as a card in a slot is.
 */
static bool vrc_starts_empty(VRCState *s)
{
    static const MACAddr zero;

    return s->configd || (vrc_spec_is_ethernet(s->conf.spec) &&
                          !memcmp(&s->conf.peer, &zero, sizeof(zero)));
}

static void vrc_realize(DeviceState *dev, Error **errp)
{
    ERRP_GUARD();
    VRCState *s = VRC(dev);
    PCIERootPortClass *rpc = PCIE_ROOT_PORT_GET_CLASS(dev);
    g_autofree char *peer = NULL;
    VRCLinkConfig lc;
    PCIDevice *fn;
    bool empty;

    if (!vrc_link_conf_check(&s->conf, true, errp)) {
        error_prepend(errp, "vrc: ");
        return;
    }
    if (s->configd_slot < -1 || s->configd_slot > 63) {
        error_setg(errp, "vrc: 'configd-slot' must be 0..63, not %d", s->configd_slot);
        return;
    }
    if (s->configd && !vrc_spec_is_ethernet(s->conf.spec)) {
        error_setg(errp, "vrc: configd assigns endpoints by MAC address: "
                   "'configd' needs a raw Ethernet transport ('ifname' or "
                   "'transport=pcap:')");
        return;
    }
    if (s->configd && !s->conf.rc_id) {
        /* The VM's identity at configd and on the wire. */
        s->conf.rc_id = getpid() % 0xffff + 1;
    }
    empty = vrc_starts_empty(s);
    peer = qemu_mac_strdup_printf(s->conf.peer.a);
    trace_vrc_realize(dev->id ?: "", s->conf.spec, empty ? "none" : peer);

    /* The link first: without an endpoint there is nothing to plug in. */
    if (!vrc_link_config(&s->conf, dev->id ?: "vrc", true, &lc, errp)) {
        error_prepend(errp, "vrc: ");
        return;
    }
    s->link = vrc_link_new(&lc, &vrc_link_ops, s, errp);
    vrc_link_config_free(&lc);
    if (!s->link) {
        error_prepend(errp, "vrc: ");
        return;
    }
    if (!empty && !vrc_link_connect(s->link, vrc_connect_wait_ms(s), errp)) {
        error_prepend(errp, "vrc: ");
        vrc_link_free(s->link);
        s->link = NULL;
        return;
    }

    rpc->parent_realize(dev, errp);
    if (*errp) {
        vrc_link_free(s->link);
        s->link = NULL;
        return;
    }
    vrc_ur_init(s);
    /* A static peer is looked for again whenever its session ends. */
    vrc_slot_init(s, !empty, !empty);
    if (empty) {
        if (s->configd && !vrc_configd_add(s, errp)) {
            error_prepend(errp, "vrc: ");
            vrc_exit(PCI_DEVICE(dev));
        }
        return;
    }

    fn = pci_new(PCI_DEVFN(0, 0), TYPE_VRC_FUNCTION);
    VRC_FUNCTION(fn)->port = s;
    if (!pci_realize_and_unref(fn, pci_bridge_get_sec_bus(PCI_BRIDGE(dev)),
                               errp)) {
        /* As pcie-root-port does when its own late setup fails. */
        error_prepend(errp, "vrc: ");
        vrc_exit(PCI_DEVICE(dev));
        return;
    }
    qatomic_rcu_set(&s->function, VRC_FUNCTION(fn));
}

static uint8_t vrc_aer_vector(const PCIDevice *d)
{
    return 0;
}

static int vrc_interrupts_init(PCIDevice *d, Error **errp)
{
    int rc = msi_init(d, VRC_MSI_OFFSET, VRC_MSI_NR_VECTOR, true, false, errp);

    assert(rc >= 0 || rc == -ENOTSUP);
    return rc;
}

static void vrc_interrupts_uninit(PCIDevice *d)
{
    msi_uninit(d);
}

static const VMStateDescription vmstate_vrc = {
    .name = "vrc",
    .unmigratable = 1,
};

static const Property vrc_props[] = {
    DEFINE_PROP_MACADDR("peer", VRCState, conf.peer),
    DEFINE_PROP_STRING("ifname", VRCState, conf.ifname),
    DEFINE_PROP_STRING("socket", VRCState, conf.socket),
    DEFINE_PROP_STRING("transport", VRCState, conf.transport),
    DEFINE_PROP_UINT16("rc-id", VRCState, conf.rc_id, 0),
    DEFINE_PROP_UINT32("completion-timeout", VRCState, conf.timeout_ms,
                       VRC_DEFAULT_TIMEOUT_MS),
    DEFINE_PROP_UINT32("mtu", VRCState, conf.mtu, VRC_DEFAULT_MTU),
    DEFINE_PROP_UINT32("mps", VRCState, conf.mps, 0),
    DEFINE_PROP_UINT32("mrrs", VRCState, conf.mrrs, VRC_DEFAULT_MRRS),
    DEFINE_PROP_UINT32("poll-us", VRCState, conf.poll_us, 0),
    DEFINE_PROP_STRING("secret", VRCState, conf.secret),
    DEFINE_PROP_UINT32("keepalive", VRCState, conf.keepalive_ms,
                       VRC_DEFAULT_KEEPALIVE_MS),
    DEFINE_PROP_UINT32("ack-delay", VRCState, conf.ack_delay_us,
                       VRC_DEFAULT_ACK_DELAY_US),
    DEFINE_PROP_STRING("configd", VRCState, configd),
    DEFINE_PROP_INT32("configd-slot", VRCState, configd_slot, -1),
};

static void vrc_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    PCIERootPortClass *rpc = PCIE_ROOT_PORT_CLASS(klass);

    k->vendor_id = PCI_VENDOR_ID_REDHAT;
    k->device_id = PCI_DEVICE_ID_REDHAT_PCIE_RP;
    dc->desc = "Virtual root complex port to a PCIe function over Ethernet";
    dc->vmsd = &vmstate_vrc;
    device_class_set_props(dc, vrc_props);
    device_class_set_parent_realize(dc, vrc_realize, &rpc->parent_realize);
    rp_parent_exit = k->exit;
    k->exit = vrc_exit;

    object_class_property_set_description(klass, "peer",
        "MAC address of the remote PCIe-over-Ethernet endpoint; without it "
        "(raw Ethernet) the slot starts empty: vrc-attach or configd fill it");
    object_class_property_set_description(klass, "ifname",
        "host network interface that reaches the endpoint (raw Ethernet: "
        "AF_PACKET rings as transport=packet:IFNAME, or libpcap as "
        "transport=pcap:IFNAME where those do not open)");
    object_class_property_set_description(klass, "socket",
        "path of a unix socket to the endpoint, instead of ifname");
    object_class_property_set_description(klass, "transport",
        "how frames travel, instead of ifname or socket: packet:IFNAME "
        "(AF_PACKET rings), pcap:IFNAME (libpcap), unix:PATH, or "
        "udp:HOST:PORT (IPv4, [IPv6] or a name; routable)");
    object_class_property_set_description(klass, "rc-id",
        "identity of this root complex on the wire, 1..65535 with configd "
        "(0: one derived from the process id)");
    object_class_property_set_description(klass, "keepalive",
        "milliseconds of silence after which the endpoint is asked whether "
        "it is still there (PING); after 6 such intervals unanswered the "
        "session ends and the function is surprise-removed (0: never)");
    object_class_property_set_description(klass, "ack-delay",
        "microseconds a received frame may wait for its acknowledgement to "
        "ride on something sent, 10..10000; longer saves the receivers "
        "wakeups, and makes the peer probe a lone lost frame that much later "
        "(docs/performance.md)");
    object_class_property_set_description(klass, "configd",
        "path of configd's control socket: the VM registers there and the "
        "slot is filled with the endpoint configd assigns (docs/configd.md)");
    object_class_property_set_description(klass, "configd-slot",
        "this port's slot index at configd, 0..63 (default: the order of "
        "the vrc devices with the same 'configd')");
    object_class_property_set_description(klass, "completion-timeout",
        "milliseconds a read waits for its completion before the guest "
        "gets all-ones");
    object_class_property_set_description(klass, "mtu",
        "MTU of the Ethernet path, 576..9000");
    object_class_property_set_description(klass, "mps",
        "largest TLP payload in bytes (Max Payload Size), a multiple of 64 "
        "from 128 to 4096 (0: the largest that fits a frame of the MTU, "
        "1408 at MTU 1500)");
    object_class_property_set_description(klass, "mrrs",
        "Max Read Request Size in bytes, 128..4096");
    object_class_property_set_description(klass, "poll-us",
        "microseconds a vCPU spins for a read's completion (the receive "
        "thread for acks it waits on) before it sleeps, 0..1000 (0: sleep "
        "at once); saves a thread wakeup per read when a CPU is free, "
        "costs CPU");
    object_class_property_set_description(klass, "secret",
        "id of a secret object (-object secret,id=...,file=...) holding the "
        "session key, 16..256 bytes, shared with the endpoint: the session "
        "is authenticated and every frame encrypted (docs/security.md)");

    rpc->aer_vector = vrc_aer_vector;
    rpc->interrupts_init = vrc_interrupts_init;
    rpc->interrupts_uninit = vrc_interrupts_uninit;
    rpc->exp_offset = VRC_EXP_OFFSET;
    rpc->aer_offset = VRC_AER_OFFSET;
}

static const TypeInfo vrc_info = {
    .name          = TYPE_VRC,
    .parent        = TYPE_PCIE_ROOT_PORT,
    .instance_size = sizeof(VRCState),
    .class_init    = vrc_class_init,
};

static void vrc_register_types(void)
{
    type_register_static(&vrc_info);
}

type_init(vrc_register_types)
