/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc-endpoint: discovery and ownership (DISC, docs/protocol.md section 5).
 *
 * The endpoint announces each hosted function (vendor, device, class, BAR
 * sizes, owner, generation) to the segment's broadcast address every
 * heartbeat interval and to whoever sends a SOLICIT, and applies configd's
 * ASSIGN and RELEASE with the generation rule of section 5.2
 * (encap_disc_apply()).  Ownership is enforced, not only recorded: once a
 * function has a generation, only the owner of that generation may open a
 * session (encap_disc_hello_allowed(), asked by the link for every HELLO
 * that would open one), and when the owner changes the old owner's session
 * ends at once (BYE) and the function is reset, before the ACK goes out.
 *
 * With a session key ('secret'), every DISC frame is signed with a key
 * derived from it and only signed ones are taken (docs/protocol.md 5.4),
 * so configd must have the same key (--key-file).
 *
 * Main loop, BQL held (the endpoint's link receives in the main loop).
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "encap/disc.h"
#include "vrc-link.h"
#include "endpoint-disc.h"
#include "trace.h"

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct VRCEpDisc {
    VRCLink *link;
    PCIBus *bus;
    uint32_t interval_ms;
    QEMUTimer *heartbeat;
    void (*end_session)(void *opaque);
    void *opaque;
    struct encap_disc_owner own[8];     /* by function number */
    bool keyed;                         /* DISC frames signed and checked */
    struct encap_disc_key key;
    VRCEpDiscStats stats;
};

static PCIDevice *disc_function(VRCEpDisc *d, unsigned fn)
{
    return fn < 8 ? pci_find_device(d->bus, 0, PCI_DEVFN(0, fn)) : NULL;
}

static unsigned disc_functions(VRCEpDisc *d)
{
    unsigned n = 0;

    while (n < 8 && disc_function(d, n)) {
        n++;
    }
    return n;
}

static void disc_send(VRCEpDisc *d, const uint8_t dst[6],
                      const struct encap_disc *m)
{
    uint8_t buf[ENCAP_DISC_FRAME_MAX];
    uint8_t src[6];
    int n;

    vrc_link_own_mac(d->link, src);
    n = encap_disc_frame_signed(dst, src, true, m, d->keyed ? &d->key : NULL,
                                g_get_real_time(), buf, sizeof(buf));
    if (n < 0 || !vrc_link_send_raw(d->link, buf, n)) {
        d->stats.send_errors++;
    }
}

static void disc_fill_owner(const struct encap_disc_owner *o,
                            struct encap_disc *m)
{
    m->generation = o->generation;
    m->state = o->assigned ? ENCAP_DISC_ASSIGNED : ENCAP_DISC_FREE;
    if (o->assigned) {
        m->rc_id = o->rc_id;
        memcpy(m->owner_mac, o->mac, 6);
        m->bdf = o->bdf;
    }
}

static void disc_announce(VRCEpDisc *d, unsigned fn, const uint8_t dst[6],
                          uint32_t xid)
{
    PCIDevice *p = disc_function(d, fn);
    struct encap_disc m = {
        .op = ENCAP_DISC_ANNOUNCE, .function = fn,
        .functions = disc_functions(d), .xid = xid,
        .interval_ms = d->interval_ms,
    };

    if (!p) {
        return;
    }
    m.vendor_id = pci_get_word(p->config + PCI_VENDOR_ID);
    m.device_id = pci_get_word(p->config + PCI_DEVICE_ID);
    m.class_rev = pci_get_long(p->config + PCI_CLASS_REVISION);
    m.subsys_vendor = pci_get_word(p->config + PCI_SUBSYSTEM_VENDOR_ID);
    m.subsys_id = pci_get_word(p->config + PCI_SUBSYSTEM_ID);
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        PCIIORegion *r = &p->io_regions[i];

        if (!r->size) {
            continue;
        }
        m.bars[i].log2_size = MAX(4, ctz64(pow2ceil(r->size)));
        m.bars[i].flags =
            (r->type & PCI_BASE_ADDRESS_SPACE_IO ? ENCAP_DISC_BAR_IO : 0) |
            (r->type & PCI_BASE_ADDRESS_MEM_TYPE_64 ? ENCAP_DISC_BAR_64 : 0) |
            (r->type & PCI_BASE_ADDRESS_MEM_PREFETCH ?
             ENCAP_DISC_BAR_PREFETCH : 0);
    }
    disc_fill_owner(&d->own[fn], &m);
    disc_send(d, dst, &m);
    d->stats.announces++;
}

static void disc_heartbeat(void *opaque)
{
    VRCEpDisc *d = opaque;
    unsigned n = disc_functions(d);

    for (unsigned fn = 0; fn < n; fn++) {
        disc_announce(d, fn, broadcast, 0);
    }
    timer_mod(d->heartbeat,
              qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + d->interval_ms);
}

static void disc_assign_release(VRCEpDisc *d, const uint8_t from[6],
                                const struct encap_disc *r)
{
    struct encap_disc ack = {
        .op = ENCAP_DISC_ACK, .acked_op = r->op, .function = r->function,
        .xid = r->xid, .status = ENCAP_DISC_NO_FUNCTION,
    };
    bool end_session = false;

    if (!disc_function(d, r->function)) {
        d->stats.no_function++;
        disc_send(d, from, &ack);
        return;
    }
    switch (encap_disc_apply(&d->own[r->function], r, &ack, &end_session)) {
    case ENCAP_DISC_APPLIED:
        trace_vrc_ep_disc_apply(encap_disc_op_name(r->op), r->function,
                                r->generation, r->rc_id);
        if (r->op == ENCAP_DISC_ASSIGN) {
            d->stats.assigns++;
        } else {
            d->stats.releases++;
        }
        if (end_session) {
            /* The old owner's session ends before the new owner hears. */
            d->stats.sessions_ended++;
            vrc_link_disconnect(d->link);
            d->end_session(d->opaque);
        }
        break;
    case ENCAP_DISC_REPEATED:
        d->stats.repeats++;
        break;
    case ENCAP_DISC_REFUSED_STALE:
        d->stats.stale++;
        trace_vrc_ep_disc_stale(encap_disc_op_name(r->op), r->function,
                                r->generation,
                                d->own[r->function].generation);
        break;
    }
    disc_send(d, from, &ack);
}

void vrc_ep_disc_input(VRCEpDisc *d, const uint8_t *frame, size_t len)
{
    struct encap_disc m;
    uint8_t src[6];
    int rc = encap_disc_parse_frame_keyed(frame, len,
                                          d->keyed ? &d->key : NULL,
                                          g_get_real_time(), src, &m);

    if (rc == 1) {
        return;
    }
    encap_disc_count(&d->stats.rx, rc);
    if (rc < 0) {
        return;
    }
    switch (m.op) {
    case ENCAP_DISC_SOLICIT:
        d->stats.solicits++;
        for (unsigned fn = 0, n = disc_functions(d); fn < n; fn++) {
            disc_announce(d, fn, src, m.xid);
        }
        break;
    case ENCAP_DISC_ASSIGN:
    case ENCAP_DISC_RELEASE:
        disc_assign_release(d, src, &m);
        break;
    default:
        break;                  /* other endpoints' ANNOUNCEs and ACKs */
    }
}

bool vrc_ep_disc_hello_allowed(VRCEpDisc *d, const uint8_t mac[6],
                               uint16_t rc_id)
{
    for (unsigned fn = 0; fn < 8; fn++) {
        if (!encap_disc_hello_allowed(&d->own[fn], mac, rc_id)) {
            d->stats.hello_refused++;
            trace_vrc_ep_disc_hello_refused(rc_id);
            return false;
        }
    }
    return true;
}

uint64_t vrc_ep_disc_generation(VRCEpDisc *d, unsigned fn)
{
    return fn < 8 ? d->own[fn].generation : 0;
}

void vrc_ep_disc_get_stats(VRCEpDisc *d, VRCEpDiscStats *st)
{
    *st = d->stats;
}

VRCEpDisc *vrc_ep_disc_new(VRCLink *link, PCIBus *bus, uint32_t interval_ms,
                           const uint8_t *psk, size_t psk_len,
                           void (*end_session)(void *opaque), void *opaque)
{
    VRCEpDisc *d = g_new0(VRCEpDisc, 1);

    /* The session's pre-shared key also signs DISC (its own derived key). */
    d->keyed = psk && encap_disc_key_init(&d->key, psk, psk_len) == 0;

    d->link = link;
    d->bus = bus;
    d->interval_ms = interval_ms;
    d->end_session = end_session;
    d->opaque = opaque;
    d->heartbeat = timer_new_ms(QEMU_CLOCK_REALTIME, disc_heartbeat, d);
    /* The first heartbeat at once: configd learns of a restart soon. */
    timer_mod(d->heartbeat, qemu_clock_get_ms(QEMU_CLOCK_REALTIME));
    return d;
}
