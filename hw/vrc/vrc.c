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
#include "net/net.h"
#include "encap/frame.h"
#include "encap/link.h"
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
VRCLinkConfig vrc_link_config(const VRCLinkConf *c, const char *name,
                              bool initiator)
{
    return (VRCLinkConfig) {
        .name = name,
        .initiator = initiator,
        .ifname = c->ifname,
        .socket = c->socket,
        .peer = c->peer,
        .rc_id = c->rc_id,
        .mtu = c->mtu,
        .mps = c->mps,
        .mrrs = c->mrrs,
        .timeout_ms = c->timeout_ms,
        .poll_us = c->poll_us,
    };
}

/* Largest power-of-two payload whose MWr or CplD still fits one frame. */
static uint32_t vrc_mps_for_mtu(uint32_t mtu)
{
    return encap_mps_for_frame(mtu + ENCAP_ETH_HLEN);
}

bool vrc_link_conf_check(VRCLinkConf *c, bool initiator, Error **errp)
{
    static const MACAddr zero_mac;

    if (!c->ifname == !c->socket) {
        error_setg(errp, "exactly one of 'ifname' (raw Ethernet) or "
                   "'socket' (unix socket) must be given");
        return false;
    }
    if (initiator && c->ifname &&
        !memcmp(&c->peer, &zero_mac, sizeof(zero_mac))) {
        error_setg(errp, "'peer' (the endpoint's MAC address) is required "
                   "with 'ifname'");
        return false;
    }
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
    if (c->timeout_ms < 1 || c->timeout_ms > 60000) {
        error_setg(errp, "'completion-timeout' must be 1..60000 ms, not %u",
                   c->timeout_ms);
        return false;
    }
    if (!c->mps) {
        /* The endpoint accepts whatever the vrc proposes. */
        c->mps = initiator ? vrc_mps_for_mtu(c->mtu) : 4096;
    }
    if (!is_pow2_in(c->mps, 128, 4096)) {
        error_setg(errp, "'mps' must be a power of two from 128 to 4096, "
                   "not %u", c->mps);
        return false;
    }
    if (initiator && c->mps > vrc_mps_for_mtu(c->mtu)) {
        error_setg(errp, "'mps' %u does not fit in a frame of MTU %u "
                   "(at most %u)", c->mps, c->mtu, vrc_mps_for_mtu(c->mtu));
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
    VRCState *s = opaque;

    vrc_function_request(s->function, t);
}

/* Receive thread. */
static void vrc_link_state_cb(void *opaque, bool up)
{
    VRCState *s = opaque;

    trace_vrc_link_state(DEVICE(s)->id ?: "", up);
    if (!up && s->function) {
        /* Nobody will send the Deassert_INTx now: let go of the pin. */
        vrc_function_link_down(s->function);
    }
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

/* pcie-root-port's exit, which ours extends. Set once in class_init. */
static PCIUnregisterFunc *rp_parent_exit;

static void vrc_exit(PCIDevice *d)
{
    VRCState *s = VRC(d);

    /* The function on our secondary bus is gone by now. */
    s->function = NULL;
    if (s->link) {
        vrc_link_free(s->link);
        s->link = NULL;
    }
    rp_parent_exit(d);
}

static void vrc_realize(DeviceState *dev, Error **errp)
{
    ERRP_GUARD();
    VRCState *s = VRC(dev);
    PCIERootPortClass *rpc = PCIE_ROOT_PORT_GET_CLASS(dev);
    g_autofree char *peer = NULL;
    VRCLinkConfig lc;
    PCIDevice *fn;

    if (!vrc_link_conf_check(&s->conf, true, errp)) {
        error_prepend(errp, "vrc: ");
        return;
    }
    peer = qemu_mac_strdup_printf(s->conf.peer.a);
    trace_vrc_realize(dev->id ?: "", s->conf.ifname ? "pcap" : "unix", peer);

    /* The link first: without an endpoint there is nothing to plug in. */
    lc = vrc_link_config(&s->conf, dev->id ?: "vrc", true);
    s->link = vrc_link_new(&lc, &vrc_link_ops, s, errp);
    if (!s->link) {
        error_prepend(errp, "vrc: ");
        return;
    }
    if (!vrc_link_connect(s->link, vrc_connect_wait_ms(s), errp)) {
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

    fn = pci_new(PCI_DEVFN(0, 0), TYPE_VRC_FUNCTION);
    VRC_FUNCTION(fn)->port = s;
    s->function = VRC_FUNCTION(fn);
    if (!pci_realize_and_unref(fn, pci_bridge_get_sec_bus(PCI_BRIDGE(dev)),
                               errp)) {
        /* As pcie-root-port does when its own late setup fails. */
        s->function = NULL;
        error_prepend(errp, "vrc: ");
        vrc_exit(PCI_DEVICE(dev));
    }
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
    DEFINE_PROP_UINT16("rc-id", VRCState, conf.rc_id, 0),
    DEFINE_PROP_UINT32("completion-timeout", VRCState, conf.timeout_ms,
                       VRC_DEFAULT_TIMEOUT_MS),
    DEFINE_PROP_UINT32("mtu", VRCState, conf.mtu, VRC_DEFAULT_MTU),
    DEFINE_PROP_UINT32("mps", VRCState, conf.mps, 0),
    DEFINE_PROP_UINT32("mrrs", VRCState, conf.mrrs, VRC_DEFAULT_MRRS),
    DEFINE_PROP_UINT32("poll-us", VRCState, conf.poll_us, 0),
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
        "MAC address of the remote PCIe-over-Ethernet endpoint");
    object_class_property_set_description(klass, "ifname",
        "host network interface that reaches the endpoint (raw Ethernet "
        "through libpcap)");
    object_class_property_set_description(klass, "socket",
        "path of a unix socket to the endpoint, instead of ifname");
    object_class_property_set_description(klass, "rc-id",
        "identity of this root complex on the wire (set by configd)");
    object_class_property_set_description(klass, "completion-timeout",
        "milliseconds a read waits for its completion before the guest "
        "gets all-ones");
    object_class_property_set_description(klass, "mtu",
        "MTU of the Ethernet path, 576..9000");
    object_class_property_set_description(klass, "mps",
        "Max Payload Size in bytes, 128..4096 (0: largest that fits the MTU)");
    object_class_property_set_description(klass, "mrrs",
        "Max Read Request Size in bytes, 128..4096");
    object_class_property_set_description(klass, "poll-us",
        "microseconds a vCPU spins for a read's completion (the receive "
        "thread for acks it waits on) before it sleeps, 0..1000 (0: sleep "
        "at once); saves a thread wakeup per read when a CPU is free, "
        "costs CPU");

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
