/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vrc-endpoint: discovery and ownership (endpoint-disc.c). Main loop. */
#ifndef HW_VRC_ENDPOINT_DISC_H
#define HW_VRC_ENDPOINT_DISC_H

#include "hw/pci/pci.h"
#include "encap/disc.h"
#include "vrc-link.h"

typedef struct VRCEpDisc VRCEpDisc;

typedef struct VRCEpDiscStats {
    struct encap_disc_stats rx;     /* DISC payloads taken, drops by reason */
    uint64_t solicits;
    uint64_t announces;
    uint64_t assigns;
    uint64_t releases;
    uint64_t repeats;               /* a retry whose ACK was lost */
    uint64_t stale;                 /* ASSIGN/RELEASE of an old generation */
    uint64_t no_function;
    uint64_t sessions_ended;        /* an owner's session ended by a change */
    uint64_t hello_refused;         /* HELLOs from anyone but the owner */
    uint64_t send_errors;
} VRCEpDiscStats;

/*
 * Announce the functions on @bus through @link every @interval_ms and
 * answer configd; with @psk (the session key), sign and check DISC.  @end_session resets the hosted functions when an owner
 * loses them.
 */
VRCEpDisc *vrc_ep_disc_new(VRCLink *link, PCIBus *bus, uint32_t interval_ms,
                           const uint8_t *psk, size_t psk_len,
                           void (*end_session)(void *opaque), void *opaque);
/* A DISC frame the link received. */
void vrc_ep_disc_input(VRCEpDisc *d, const uint8_t *frame, size_t len);
/* May a HELLO from @mac / @rc_id open a session now? */
bool vrc_ep_disc_hello_allowed(VRCEpDisc *d, const uint8_t mac[6],
                               uint16_t rc_id);
void vrc_ep_disc_get_stats(VRCEpDisc *d, VRCEpDiscStats *st);
uint64_t vrc_ep_disc_generation(VRCEpDisc *d, unsigned fn);

#endif
