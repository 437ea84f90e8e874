/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: the hot-plug slot of a vrc port.
 *
 * The slot holds the remote function while its session is up.  A function
 * comes and goes the way a card does in a native PCIe hot-plug slot
 * (pciehp): hot-add sets Presence Detect and Data Link Layer Link Active
 * and signals the guest; a managed removal presses the attention button
 * and waits for the guest to power the slot off; a surprise removal (the
 * session ended: the endpoint died, the cable was pulled) removes the
 * function at once and signals Presence Detect Changed.  Reads of a
 * removed function find nothing and return all-ones.
 *
 *            attach                     session up
 *   empty ------------> connecting ---------------------> present
 *     ^  <-- detach ---   ^    ^                          |  |
 *     |                   |    +-- session ends, auto ----+  | detach
 *     |                   |        (surprise removal)        v
 *     +-- guest powers the slot off; or session ends -- removing
 *         without auto (surprise removal)
 *
 * "auto" (auto_reconnect) is set by a static 'peer', by vrc-attach unless
 * told otherwise, and by configd's assignments: a lost endpoint is then
 * looked for again (HELLO) until it answers, and its function is hot-added
 * into the same slot.  A session that ends and comes back between two
 * looks of ours is still a new session (the endpoint reset its function):
 * the function is removed and added again, never kept.
 *
 * All of this runs in the main loop with the BQL; the receive thread only
 * schedules slot_update() when the session goes up or down.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-events-vrc.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pci_bridge.h"
#include "hw/boards.h"
#include "hw/qdev-core.h"
#include "system/system.h"
#include "system/runstate.h"
#include "vrc.h"
#include "vrc-link.h"
#include "trace.h"

/* How often a connecting slot says HELLO again once a round has failed. */
#define VRC_SLOT_RETRY_MS   1000
/* After a surprise removal: let the guest see the removal first. */
#define VRC_SLOT_READD_MS   200
/*
 * ... and power the empty slot off, for at most this long (Linux takes
 * seconds: it unbinds the driver, powers off, waits 1 s, turns the power
 * indicator off).
 */
#define VRC_SLOT_GUEST_WAIT_MS  30000
#define VRC_SLOT_POLL_MS    100

static const char *slot_id(VRCState *s)
{
    return DEVICE(s)->id ?: "";
}

static int64_t now_ms(void)
{
    return qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
}

static void slot_set(VRCState *s, VrcSlotState st)
{
    g_autofree char *id = NULL;
    g_autofree char *fn = NULL;

    if (s->slot.state == st) {
        return;
    }
    trace_vrc_slot_state(slot_id(s), VrcSlotState_str(s->slot.state),
                         VrcSlotState_str(st));
    s->slot.state = st;
    id = DEVICE(s)->id ? g_strdup(DEVICE(s)->id)
                       : object_get_canonical_path(OBJECT(s));
    if (st == VRC_SLOT_STATE_PRESENT && s->function) {
        PCIDevice *d = PCI_DEVICE(s->function);

        fn = g_strdup_printf("%04x:%04x",
                             pci_get_word(d->config + PCI_VENDOR_ID),
                             pci_get_word(d->config + PCI_DEVICE_ID));
    }
    qapi_event_send_vrc_slot_changed(id, st, fn);
}

/*
 * Our secondary bus is hot-plugged natively, by this port.  On q35 the
 * machine's ACPI hot-plug takes over the secondary bus of every bridge
 * present at startup; take it back before plugging or unplugging.
 */
static PCIBus *slot_bus(VRCState *s)
{
    PCIBus *sec = pci_bridge_get_sec_bus(PCI_BRIDGE(s));

    qbus_set_hotplug_handler(BUS(sec), OBJECT(s));
    return sec;
}

static bool slot_hot_add(VRCState *s, Error **errp)
{
    PCIBus *sec = slot_bus(s);
    PCIDevice *fn = pci_new(PCI_DEVFN(0, 0), TYPE_VRC_FUNCTION);

    VRC_FUNCTION(fn)->port = s;
    s->slot.session = vrc_link_session(s->link);
    if (!pci_realize_and_unref(fn, sec, errp)) {
        return false;
    }
    /* Requests from the endpoint reach it from now on. */
    qatomic_rcu_set(&s->function, VRC_FUNCTION(fn));
    /*
     * QEMU's hot-add signals Presence Detect Changed and Attention Button
     * Pressed.  A guest that still holds the slot powered on (it has not
     * yet handled the removal that came just before) takes the button for
     * a request to power it off, and does so five seconds later.  Presence
     * alone is what a card's arrival says; the guest has not read the
     * status yet (that needs the BQL, held since the plug).
     */
    pci_word_test_and_clear_mask(PCI_DEVICE(s)->config +
                                 PCI_DEVICE(s)->exp.exp_cap + PCI_EXP_SLTSTA,
                                 PCI_EXP_SLTSTA_ABP);
    /* The link is up: what a guest that takes no presence interrupts
     * (its slot has a button) is told by. */
    pcie_cap_slot_link_changed(PCI_DEVICE(s));
    return true;
}

/* The function goes without asking the guest; the slot becomes @next. */
static void slot_surprise_remove(VRCState *s, VrcSlotState next)
{
    s->slot.surprise_removals++;
    s->slot.lost_ms = s->slot.removed_ms = now_ms();
    /* First: the function's exit must not take this for the guest's. */
    slot_set(s, next);
    /* Requests from the endpoint find no function from now on. */
    qatomic_set(&s->function, NULL);
    slot_bus(s);
    pcie_cap_slot_surprise_remove(PCI_DEVICE(s));
}

/*
 * Has the guest finished with the function that was removed from the slot
 * (it powers an empty slot off)?  Adding the next one before would let the
 * guest's power-off, meant for the old card, unplug the new one: QEMU's
 * slot unplugs whatever is present when the guest turns power and power
 * indicator off.  A guest that does not drive the slot is not waited for
 * beyond VRC_SLOT_GUEST_WAIT_MS.
 */
static bool slot_guest_ready(VRCState *s)
{
    PCIDevice *d = PCI_DEVICE(s);
    uint8_t *exp_cap = d->config + d->exp.exp_cap;
    uint32_t sltcap = pci_get_long(exp_cap + PCI_EXP_SLTCAP);
    uint16_t sltctl = pci_get_word(exp_cap + PCI_EXP_SLTCTL);

    /* Off as QEMU's slot counts it: power and its indicator both off. */
    if (!(sltcap & PCI_EXP_SLTCAP_PCP) ||
        ((sltctl & PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_OFF &&
         (sltctl & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF)) {
        return true;
    }
    return now_ms() - s->slot.removed_ms >= VRC_SLOT_GUEST_WAIT_MS;
}

static void slot_try_add(VRCState *s)
{
    Error *err = NULL;

    if (!slot_guest_ready(s)) {
        timer_mod(s->slot.retry, now_ms() + VRC_SLOT_POLL_MS);
        return;
    }

    if (!slot_hot_add(s, &err)) {
        trace_vrc_slot_hot_add_failed(slot_id(s), error_get_pretty(err));
        warn_reportf_err(err, "vrc %s: the endpoint's function could not "
                         "be hot-added; trying again: ", slot_id(s));
        vrc_link_disconnect(s->link);
        timer_mod(s->slot.retry, now_ms() + VRC_SLOT_RETRY_MS);
        return;
    }
    s->slot.hot_adds++;
    if (s->slot.lost_ms >= 0) {
        s->slot.last_recovery_ms = now_ms() - s->slot.lost_ms;
        s->slot.lost_ms = -1;
    }
    slot_set(s, VRC_SLOT_STATE_PRESENT);
}

/* Main loop: the session went up or down (or a retry is due). */
static void slot_update(void *opaque)
{
    VRCState *s = opaque;
    bool up = vrc_link_is_up(s->link);
    bool same = vrc_link_session(s->link) == s->slot.session;

    switch (s->slot.state) {
    case VRC_SLOT_STATE_PRESENT:
    case VRC_SLOT_STATE_REMOVING:
        if (up && same) {
            break;
        }
        if (s->slot.state == VRC_SLOT_STATE_PRESENT && s->slot.auto_reconnect) {
            slot_surprise_remove(s, VRC_SLOT_STATE_CONNECTING);
            timer_mod(s->slot.retry, now_ms() + VRC_SLOT_READD_MS);
        } else {
            slot_surprise_remove(s, VRC_SLOT_STATE_EMPTY);
            vrc_link_disconnect(s->link);
        }
        break;
    case VRC_SLOT_STATE_CONNECTING:
        if (up) {
            slot_try_add(s);
        }
        break;
    default:
        break;
    }
}

/* Main loop: a connecting slot looks for its endpoint again. */
static void slot_retry(void *opaque)
{
    VRCState *s = opaque;

    if (s->slot.state != VRC_SLOT_STATE_CONNECTING) {
        return;
    }
    if (vrc_link_is_up(s->link)) {
        slot_try_add(s);
        return;
    }
    vrc_link_start_connect(s->link);
    timer_mod(s->slot.retry, now_ms() + VRC_SLOT_RETRY_MS);
}

/* Any thread. */
void vrc_slot_link_changed(VRCState *s)
{
    if (s->slot.bh) {
        qemu_bh_schedule(s->slot.bh);
    }
}

void vrc_slot_function_gone(VRCState *s)
{
    VrcSlotState st = s->slot.state;

    qatomic_set(&s->function, NULL);
    if (st != VRC_SLOT_STATE_PRESENT && st != VRC_SLOT_STATE_REMOVING) {
        return;                 /* a surprise removal of ours */
    }
    if (runstate_check(RUN_STATE_SHUTDOWN) || !DEVICE(s)->realized) {
        return;
    }
    /* The guest powered the slot off: a managed removal is complete. */
    s->slot.hot_removes++;
    s->slot.auto_reconnect = false;
    vrc_link_disconnect(s->link);
    slot_set(s, VRC_SLOT_STATE_EMPTY);
}

static bool slot_has_peer(VRCState *s)
{
    static const MACAddr zero;

    return !vrc_spec_is_ethernet(s->conf.spec) ||
           memcmp(&s->conf.peer, &zero, sizeof(zero));
}

bool vrc_slot_attach(VRCState *s, const MACAddr *peer, bool auto_reconnect,
                     Error **errp)
{
    if (s->slot.state != VRC_SLOT_STATE_EMPTY) {
        error_setg(errp, "vrc %s: the slot is not empty (%s); detach first",
                   slot_id(s), VrcSlotState_str(s->slot.state));
        return false;
    }
    if (peer) {
        if (peer->a[0] & 1) {
            error_setg(errp, "vrc %s: 'peer' must be a unicast MAC address",
                       slot_id(s));
            return false;
        }
        if (!vrc_link_set_peer(s->link, peer)) {
            error_setg(errp, "vrc %s: the session is still up", slot_id(s));
            return false;
        }
        s->conf.peer = *peer;
    } else if (!slot_has_peer(s)) {
        error_setg(errp, "vrc %s: which endpoint?  Give 'peer' (its MAC "
                   "address)", slot_id(s));
        return false;
    }
    s->slot.auto_reconnect = auto_reconnect;
    s->slot.lost_ms = -1;
    slot_set(s, VRC_SLOT_STATE_CONNECTING);
    vrc_link_start_connect(s->link);
    timer_mod(s->slot.retry, now_ms() + VRC_SLOT_RETRY_MS);
    return true;
}

bool vrc_slot_detach(VRCState *s, bool surprise, Error **errp)
{
    Error *err = NULL;

    switch (s->slot.state) {
    case VRC_SLOT_STATE_EMPTY:
        error_setg(errp, "vrc %s: the slot is empty", slot_id(s));
        return false;
    case VRC_SLOT_STATE_CONNECTING:
        timer_del(s->slot.retry);
        s->slot.auto_reconnect = false;
        vrc_link_disconnect(s->link);
        slot_set(s, VRC_SLOT_STATE_EMPTY);
        return true;
    case VRC_SLOT_STATE_REMOVING:
        if (!surprise) {
            error_setg(errp, "vrc %s: the guest was asked to release the "
                       "function already", slot_id(s));
            error_append_hint(errp, "A guest without PCIe native hot-plug "
                              "never answers; 'surprise' removes the "
                              "function at once.\n");
            return false;
        }
        /* fall through */
    default:
        break;
    }
    s->slot.auto_reconnect = false;
    if (surprise || !s->function) {
        slot_surprise_remove(s, VRC_SLOT_STATE_EMPTY);
        s->slot.lost_ms = -1;
        vrc_link_disconnect(s->link);
        return true;
    }
    slot_bus(s);
    slot_set(s, VRC_SLOT_STATE_REMOVING);
    qdev_unplug(DEVICE(s->function), &err);
    if (err) {
        slot_set(s, VRC_SLOT_STATE_PRESENT);
        error_propagate_prepend(errp, err, "vrc %s: ", slot_id(s));
        return false;
    }
    return true;
}

VrcSlotInfo *vrc_slot_info(VRCState *s)
{
    VrcSlotInfo *i = g_new0(VrcSlotInfo, 1);

    i->state = s->slot.state;
    i->auto_reconnect = s->slot.auto_reconnect;
    i->hot_adds = s->slot.hot_adds;
    i->hot_removes = s->slot.hot_removes;
    i->surprise_removals = s->slot.surprise_removals;
    if (s->slot.last_recovery_ms >= 0) {
        i->has_last_recovery_ms = true;
        i->last_recovery_ms = s->slot.last_recovery_ms;
    }
    if (s->configd) {
        i->has_configd = true;
        i->configd = s->configd_slot;
    }
    return i;
}

bool vrc_parse_mac(const char *str, bool with_function, MACAddr *mac)
{
    unsigned b[6];
    int end = 0;

    if (!str || sscanf(str, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2],
                       &b[3], &b[4], &b[5], &end) < 6 || end != 17 ||
        (str[end] && !(with_function && str[end] == '.'))) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac->a[i] = b[i];
    }
    return true;
}

VRCState *vrc_find(const char *id, Error **errp)
{
    bool ambiguous = false;
    Object *obj = object_resolve_path_type(id, TYPE_VRC, &ambiguous);

    if (!obj) {
        error_setg(errp, ambiguous ? "'%s' names more than one vrc device"
                                   : "no vrc device '%s'", id);
        return NULL;
    }
    return VRC(obj);
}

/*
 * Once the machine is built: say so if the guest will not drive our slot
 * (q35's ACPI PCI hot-plug makes the firmware withhold native hot-plug
 * from the OS), and take the secondary bus back.
 */
static void slot_machine_done(Notifier *n, void *opaque)
{
    VRCState *s = container_of(n, VRCState, slot.machine_done);
    static bool warned;
    Object *lpc = object_resolve_path_type("", "ICH9-LPC", NULL);

    slot_bus(s);
    if (!warned && lpc &&
        object_property_get_bool(lpc, "acpi-pci-hotplug-with-bridge-support",
                                 NULL)) {
        warned = true;
        warn_report("vrc %s: the guest is not given native PCIe hot-plug, so "
                    "it will not see a remote function come or go while it "
                    "runs; add -global ICH9-LPC.acpi-pci-hotplug-with-bridge-"
                    "support=off", slot_id(s));
    }
}

void vrc_slot_init(VRCState *s, bool present, bool auto_reconnect)
{
    /* Our link goes down and up on its own: say so (Link State Changed). */
    pcie_cap_slot_enable_dllsc(PCI_DEVICE(s));
    s->slot.state = present ? VRC_SLOT_STATE_PRESENT : VRC_SLOT_STATE_EMPTY;
    s->slot.auto_reconnect = auto_reconnect;
    s->slot.lost_ms = -1;
    s->slot.last_recovery_ms = -1;
    s->slot.session = vrc_link_session(s->link);
    s->slot.bh = qemu_bh_new(slot_update, s);
    s->slot.retry = timer_new_ms(QEMU_CLOCK_REALTIME, slot_retry, s);
    s->slot.machine_done.notify = slot_machine_done;
    qemu_add_machine_init_done_notifier(&s->slot.machine_done);
}

void vrc_slot_fini(VRCState *s)
{
    if (s->slot.bh) {
        qemu_bh_delete(s->slot.bh);
        s->slot.bh = NULL;
    }
    if (s->slot.retry) {
        timer_free(s->slot.retry);
        s->slot.retry = NULL;
    }
    if (s->slot.machine_done.notify) {
        qemu_remove_machine_init_done_notifier(&s->slot.machine_done);
        s->slot.machine_done.notify = NULL;
    }
}
