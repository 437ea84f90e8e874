/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vrc: QMP query-vrc and HMP info vrc. Main loop, BQL held. */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vrc.h"
#include "qapi/qapi-types-vrc.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qobject/qdict.h"
#include "qemu/atomic.h"
#include "qom/object.h"
#include "net/net.h"
#include "encap/tlp.h"
#include "vrc.h"
#include "vrc-link.h"

static VrcTlpCounters *vrc_counters(const uint64_t *by_type)
{
    VrcTlpCounters *c = g_new0(VrcTlpCounters, 1);

    c->mrd = by_type[ENCAP_TLP_MRD];
    c->mwr = by_type[ENCAP_TLP_MWR];
    c->iord = by_type[ENCAP_TLP_IORD];
    c->iowr = by_type[ENCAP_TLP_IOWR];
    c->cfgrd = by_type[ENCAP_TLP_CFGRD0] + by_type[ENCAP_TLP_CFGRD1];
    c->cfgwr = by_type[ENCAP_TLP_CFGWR0] + by_type[ENCAP_TLP_CFGWR1];
    c->cpl = by_type[ENCAP_TLP_CPL];
    c->cpld = by_type[ENCAP_TLP_CPLD];
    c->msg = by_type[ENCAP_TLP_MSG] + by_type[ENCAP_TLP_MSGD];
    return c;
}

/* The part of VrcInfo a link gives: state and counters. */
static VrcInfo *vrc_link_info(char *id, char *peer, const VRCLinkConf *conf,
                              VRCLink *link)
{
    VrcInfo *info = g_new0(VrcInfo, 1);
    VRCLinkStats st = { 0 };

    info->id = id;
    info->peer = peer;
    info->transport = g_strdup(link ? vrc_link_transport(link) : conf->spec);
    if (link) {
        char addr[128];

        info->link_up = vrc_link_is_up(link);
        vrc_link_get_stats(link, &st);
        if (vrc_link_peer_address(link, addr, sizeof(addr))) {
            info->peer_address = g_strdup(addr);
        }
    }
    info->tlps_tx = vrc_counters(st.tlps_tx);
    info->tlps_rx = vrc_counters(st.tlps_rx);
    info->bytes_tx = st.bytes_tx;
    info->bytes_rx = st.bytes_rx;
    info->frames_tx = st.frames_tx;
    info->frames_rx = st.frames_rx;
    info->frames_rx_by_waiter = st.waiter_frames_rx;
    info->timeouts = st.timeouts;
    info->cpl_errors = st.cpl_errors;
    info->link_down_fails = st.link_down_fails;
    info->bad_tlps = st.bad_tlps;
    info->stray_cpls = st.stray_cpls;
    info->retransmits = st.retransmits;
    info->fast_retransmits = st.fast_retransmits;
    info->srtt_us = st.srtt_ns / 1000;
    info->oversize = st.oversize;
    info->stale_requests = st.stale_requests;
    info->keyed = conf->secret != NULL;
    info->auth_fails = st.auth_fails;
    info->replays = st.replays;
    info->key_mismatches = st.key_mismatches;
    info->drops = st.drops;
    info->tail_probes = st.tail_probes;
    info->lossy_mode_ons = st.lossy_ons;
    info->tail_copies = st.tail_copies;
    info->probes_needless = st.probes_needless;
    info->resends_needless = st.resends_needless;
    info->retransmit_timeouts = st.rtos;
    info->retransmit_timeouts_early = st.rtos_early;
    info->keepalive_downs = st.keepalive_downs;
    info->hello_challenges = st.hello_challenges;
    info->hello_refused_live = st.hello_refused_live;
    info->byes_stranger = st.byes_stranger;
    info->byes_unsealed = st.byes_unsealed;
    info->requests_queued_max = st.requests_queued_max;
    info->credit_waits = st.credit_waits;
    info->request_credit = st.request_credit;
    info->request_backlog = st.request_backlog;
    info->request_backlog_max = st.request_backlog_max;
    return info;
}

static VrcInfo *vrc_info(VRCState *s)
{
    DeviceState *dev = DEVICE(s);
    VrcInfo *info = vrc_link_info(dev->id ? g_strdup(dev->id)
                                          : object_get_canonical_path(OBJECT(s)),
                                  qemu_mac_strdup_printf(s->conf.peer.a),
                                  &s->conf, s->link);

    info->no_function = qatomic_read(&s->no_function);
    if (s->function) {
        PCIDevice *d = PCI_DEVICE(s->function);
        info->function = g_strdup_printf("%04x:%04x",
                                         pci_get_word(d->config + PCI_VENDOR_ID),
                                         pci_get_word(d->config + PCI_DEVICE_ID));
        info->dma_refused = qatomic_read(&s->function->dma_refused);
        info->dma_errors = qatomic_read(&s->function->dma_errors);
        info->bad_requester = qatomic_read(&s->function->bad_requester);
        info->unsupported = qatomic_read(&s->function->unsupported);
        info->dma_loops = qatomic_read(&s->function->dma_loops);
        /* Doorbell pushes: BQL, as the vCPU and the receive thread. */
        info->has_pushes = info->has_pushes_chased = info->has_hints = true;
        info->pushes = s->function->pushes;
        info->pushes_chased = s->function->chased;
        info->hints = s->function->hints_rx;
    }
    info->slot = vrc_slot_info(s);
    return info;
}

static int vrc_collect(Object *obj, void *opaque)
{
    VrcInfoList ***tail = opaque;

    if (object_dynamic_cast(obj, TYPE_VRC) && DEVICE(obj)->realized) {
        QAPI_LIST_APPEND(*tail, vrc_info(VRC(obj)));
    }
    return 0;
}

VrcInfoList *qmp_query_vrc(Error **errp)
{
    VrcInfoList *head = NULL, **tail = &head;
    const VRCLinkConf *conf;
    const char *peer;
    VRCLink *ep = vrc_endpoint_link(&conf, &peer);

    object_child_foreach_recursive(object_get_root(), vrc_collect, &tail);
    if (ep) {
        /* The endpoint machine's side of the link: tx is its DMA, MSI,
         * INTx and completions; rx is what the vrc sent it. */
        VrcInfo *info = vrc_link_info(g_strdup("vrc-endpoint"),
                                      g_strdup(peer ?: "any"), conf, ep);
        VRCMapStats ms;
        VRCOwnerStats os;

        vrc_endpoint_map_stats(&ms);
        info->has_request_credit = true;
        info->has_maps = info->has_map_bytes = true;
        info->has_map_limited = info->has_map_in_use = true;
        info->maps = ms.maps;
        info->map_bytes = ms.bytes;
        info->map_limited = ms.limited;
        info->map_in_use = ms.in_use;
        if (vrc_endpoint_owner_stats(&os)) {
            info->has_generation = info->has_owner_refusals = true;
            info->has_stale_assignments = info->has_sessions_ended = true;
            info->generation = os.generation;
            info->owner_refusals = os.hello_refused;
            info->stale_assignments = os.stale;
            info->sessions_ended = os.sessions_ended;
        }
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}

void qmp_vrc_attach(const char *id, const char *peer, bool has_auto_reconnect,
                    bool auto_reconnect, Error **errp)
{
    VRCState *s = vrc_find(id, errp);
    MACAddr mac;

    if (!s) {
        return;
    }
    if (peer && !vrc_parse_mac(peer, false, &mac)) {
        error_setg(errp, "'peer': '%s' is not a MAC address", peer);
        return;
    }
    vrc_slot_attach(s, peer ? &mac : NULL,
                    has_auto_reconnect ? auto_reconnect : true, errp);
}

void qmp_vrc_detach(const char *id, bool has_surprise, bool surprise,
                    Error **errp)
{
    VRCState *s = vrc_find(id, errp);

    if (s) {
        vrc_slot_detach(s, has_surprise && surprise, errp);
    }
}

void hmp_vrc_attach(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_vrc_attach(qdict_get_str(qdict, "id"),
                   qdict_get_try_str(qdict, "peer"), false, false, &err);
    hmp_handle_error(mon, err);
}

void hmp_vrc_detach(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_vrc_detach(qdict_get_str(qdict, "id"), true,
                   qdict_get_try_bool(qdict, "surprise", false), &err);
    hmp_handle_error(mon, err);
}

static void hmp_counters(Monitor *mon, const char *dir, VrcTlpCounters *c)
{
    monitor_printf(mon, "    %s: MRd %" PRIu64 " MWr %" PRIu64 " IORd %" PRIu64
                   " IOWr %" PRIu64 " CfgRd %" PRIu64 " CfgWr %" PRIu64
                   " Cpl %" PRIu64 " CplD %" PRIu64 " Msg %" PRIu64 "\n",
                   dir, c->mrd, c->mwr, c->iord, c->iowr, c->cfgrd, c->cfgwr,
                   c->cpl, c->cpld, c->msg);
}

void hmp_info_vrc(Monitor *mon, const QDict *qdict)
{
    g_autoptr(VrcInfoList) list = qmp_query_vrc(NULL);

    if (!list) {
        monitor_printf(mon, "No vrc devices\n");
        return;
    }
    for (VrcInfoList *l = list; l; l = l->next) {
        VrcInfo *i = l->value;
        VRCEpDmaStats ds;

        monitor_printf(mon, "vrc %s: peer %s via %s%s%s, link %s%s, "
                       "function %s\n",
                       i->id, i->peer, i->transport,
                       i->peer_address ? " to " : "",
                       i->peer_address ?: "",
                       i->link_up ? "up" : "down",
                       i->keyed ? " (keyed)" : "", i->function ?: "none");
        if (i->slot) {
            monitor_printf(mon, "    slot %s%s%s, hot-adds %" PRIu64
                           ", hot-removes %" PRIu64 ", surprise removals %"
                           PRIu64, VrcSlotState_str(i->slot->state),
                           i->slot->auto_reconnect ? " (reconnects)" : "",
                           i->slot->has_configd ? " (configd)" : "",
                           i->slot->hot_adds, i->slot->hot_removes,
                           i->slot->surprise_removals);
            if (i->slot->has_last_recovery_ms) {
                monitor_printf(mon, ", last recovery %" PRIu64 " ms",
                               i->slot->last_recovery_ms);
            }
            monitor_printf(mon, "\n");
        }
        if (i->keyed || i->key_mismatches) {
            monitor_printf(mon, "    authentication failures %" PRIu64
                           ", replays %" PRIu64 ", key mismatches %" PRIu64
                           "\n", i->auth_fails, i->replays,
                           i->key_mismatches);
        }
        hmp_counters(mon, "tx", i->tlps_tx);
        hmp_counters(mon, "rx", i->tlps_rx);
        monitor_printf(mon, "    bytes tx %" PRIu64 " rx %" PRIu64
                       ", frames tx %" PRIu64 " rx %" PRIu64
                       " (%" PRIu64 " by a waiting thread)\n",
                       i->bytes_tx, i->bytes_rx, i->frames_tx, i->frames_rx,
                       i->frames_rx_by_waiter);
        monitor_printf(mon, "    timeouts %" PRIu64 ", completion errors %"
                       PRIu64 ", link-down fails %" PRIu64 ", bad TLPs %"
                       PRIu64 ", stray completions %" PRIu64 "\n",
                       i->timeouts, i->cpl_errors, i->link_down_fails,
                       i->bad_tlps, i->stray_cpls);
        monitor_printf(mon, "    round trip %" PRIu64 " us, fast "
                       "retransmits %" PRIu64 ", oversize frames %" PRIu64
                       ", stale requests %" PRIu64 "\n", i->srtt_us,
                       i->fast_retransmits, i->oversize, i->stale_requests);
        monitor_printf(mon, "    retransmits %" PRIu64 ", frame drops %"
                       PRIu64 ", DMA refused %" PRIu64 ", DMA errors %"
                       PRIu64 ", bad requester %" PRIu64 ", unsupported %"
                       PRIu64 ", DMA loops %" PRIu64 ", no function %" PRIu64
                       "\n",
                       i->retransmits, i->drops, i->dma_refused,
                       i->dma_errors, i->bad_requester, i->unsupported,
                       i->dma_loops, i->no_function);
        if (i->has_pushes) {
            monitor_printf(mon, "    doorbells pushed %" PRIu64 " (%" PRIu64
                           " with a chase), hints taken %" PRIu64 "\n",
                           i->pushes, i->pushes_chased, i->hints);
        }
        monitor_printf(mon, "    lossy mode on %" PRIu64 " time(s), its extra "
                       "copies %" PRIu64 ", needless tail-loss probes %"
                       PRIu64 ", resends the peer had %" PRIu64 "\n",
                       i->lossy_mode_ons, i->tail_copies, i->probes_needless,
                       i->resends_needless);
        monitor_printf(mon, "    retransmission timeouts %" PRIu64 " (%" PRIu64
                       " early: late acks), requests queued to run at most %"
                       PRIu64 "\n", i->retransmit_timeouts,
                       i->retransmit_timeouts_early, i->requests_queued_max);
        monitor_printf(mon, "    sessions ended for silence %" PRIu64
                       ", HELLOs of another session held back %" PRIu64
                       " (%" PRIu64 " refused: the session answered), BYEs "
                       "for a session not ours %" PRIu64 ", unsealed BYEs "
                       "%" PRIu64 "\n",
                       i->keepalive_downs, i->hello_challenges,
                       i->hello_refused_live, i->byes_stranger,
                       i->byes_unsealed);
        monitor_printf(mon, "    tail-loss probes %" PRIu64 ", requests that "
                       "waited for credit %" PRIu64 ", requests not yet run %"
                       PRIu64 " (at most %" PRIu64 ")", i->tail_probes,
                       i->credit_waits, i->request_backlog,
                       i->request_backlog_max);
        if (i->has_request_credit) {
            monitor_printf(mon, ", request credit %" PRIu32, i->request_credit);
        }
        monitor_printf(mon, "\n");
        if (i->has_generation) {
            monitor_printf(mon, "    ownership generation %" PRIu64 ", HELLOs "
                           "refused %" PRIu64 ", stale assignments %" PRIu64
                           ", sessions ended %" PRIu64 "\n", i->generation,
                           i->owner_refusals, i->stale_assignments,
                           i->sessions_ended);
        }
        if (i->has_maps) {
            monitor_printf(mon, "    maps %" PRIu64 " (%" PRIu64 " bytes), "
                           "limited %" PRIu64 ", in use %" PRIu64 " bytes\n",
                           i->maps, i->map_bytes, i->map_limited,
                           i->map_in_use);
        }
        if (i->has_maps && vrc_endpoint_dma_stats(&ds)) {
            monitor_printf(mon, "    DMA reads %" PRIu64 " in %" PRIu64
                           " round trips", ds.reads, ds.round_trips);
            if (ds.read_ahead) {
                monitor_printf(mon, "; read-ahead hits %" PRIu64
                               " (owned %" PRIu64 "), misses %"
                               PRIu64 " (%" PRIu64 " windows, %" PRIu64
                               " for owned bytes, %" PRIu64
                               " bytes), lean %" PRIu64 ", uncached %" PRIu64
                               ", out of order %" PRIu64 ", dropped %" PRIu64
                               ", errors %" PRIu64,
                               ds.ra.hits + ds.ra.owned_hits,
                               ds.ra.owned_hits, ds.ra.misses, ds.ra.windows,
                               ds.ra.owned_windows, ds.ra.bytes, ds.ra.lean,
                               ds.ra.uncached, ds.ra.out_of_order,
                               ds.ra.invalidations, ds.ra.errors);
            }
            if (ds.push) {
                monitor_printf(mon, "; doorbell pushes %" PRIu64 " (stale %"
                               PRIu64 ", overtaken %" PRIu64 ") served %"
                               PRIu64 " fetches (%" PRIu64 " in part, %"
                               PRIu64 " after the first, %" PRIu64
                               " ranges), unused %" PRIu64 ", hints sent %"
                               PRIu64 ", chases %" PRIu64,
                               ds.offer.pushes, ds.offer.stale,
                               ds.offer.overtaken, ds.offer.served,
                               ds.offer.partial, ds.offer.later,
                               ds.offer.ranges, ds.offer.missed,
                               ds.hints_sent, ds.chases);
            }
            if (ds.read_soon) {
                monitor_printf(mon, "; transfers read at once %" PRIu64
                               " (%" PRIu64 " ranges, %" PRIu64 " bytes), "
                               "served %" PRIu64 ", unused %" PRIu64
                               ", failed %" PRIu64, ds.soon.fetches,
                               ds.soon.ranges, ds.soon.bytes, ds.soon.served,
                               ds.soon.unused, ds.soon.errors);
            }
            monitor_printf(mon, "\n");
        }
    }
}
