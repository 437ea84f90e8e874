/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc link runtime: transport + encap link layer + tag table; sending,
 * waiting for completions and window space, setup and teardown.  Receiving
 * is in vrc-link-rx.c.  See vrc-link.h for the threading and locking rules.
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <glib-unix.h>
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/lockable.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qemu/processor.h"
#include "qemu/bswap.h"
#include "encap/frame.h"
#include "encap/link.h"
#include "encap/split.h"
#include "encap/transport.h"
#include "crypto/random.h"
#include "vrc-link-int.h"
#include "trace.h"

static const uint8_t zero_mac[6];
static const uint8_t unix_listener_mac[6] = ENCAP_UNIX_LISTENER_MAC;

/* ---- callbacks from the encap link layer; VRCLink.lock held ---- */

/*
 * The frames one call into the link layer produced, handed to the
 * transport together (one sendmmsg for udp and packet).  Lock held.
 */
static int vrc_link_send_burst(void *opaque, const struct encap_link_frame *f,
                               unsigned n)
{
    VRCLink *l = opaque;
    struct encap_tx_frame tx[ENCAP_LINK_BURST];
    int r;

    for (unsigned i = 0; i < n; i++) {
        tx[i].data = f[i].data;
        tx[i].len = f[i].len;
    }
    r = encap_transport_send_burst(l->tp, tx, n);
    if (r < 0) {
        trace_vrc_link_send_error(l->desc, -r);
    } else {
        l->stats.frames_tx += r;
        trace_vrc_frame_burst_tx(l->desc, r);
    }
    return r;
}

static int vrc_link_send_frame(void *opaque, const uint8_t *frame, size_t len)
{
    VRCLink *l = opaque;
    int r = encap_transport_send(l->tp, frame, len);

    if (r < 0) {
        trace_vrc_link_send_error(l->desc, -r);
    } else {
        l->stats.frames_tx++;
        trace_vrc_frame_tx(l->desc, len);
    }
    return r;
}

static void vrc_link_state_cb(void *opaque, enum encap_link_state state)
{
    VRCLink *l = opaque;
    bool up = state == ENCAP_LINK_UP;

    if (up == l->up) {
        return;
    }
    l->up = up;
    l->state_changed = true;
    /* Requests still queued belong to the session that ended. */
    encap_wlog_reset(&l->mwr_sent);
    l->mwr_done = l->mrd_sent = l->mrd_done = 0;
    l->session++;
    trace_vrc_link_up(l->desc, up);
    if (up) {
        /* The sizes agreed in HELLO/HELLO_ACK. */
        l->lim.mps = encap_link_mps(l->el);
        l->cfg.mrrs = encap_link_mrrs(l->el);
    }
    if (!up) {
        /* Fail every outstanding request now rather than at its timeout. */
        for (unsigned i = 0; i < VRC_TAGS; i++) {
            if (l->tags[i].busy && !l->tags[i].done) {
                l->tags[i].done = true;
                l->tags[i].result = -ENOTCONN;
            }
        }
    }
    qemu_cond_broadcast(&l->cond);
}

/* Randomness for the session's nonces: the host's CSPRNG. */
static int vrc_link_random(void *opaque, uint8_t *buf, size_t len)
{
    return qcrypto_random_bytes(buf, len, NULL) < 0 ? -EIO : 0;
}

/* Lock held (inside encap_link_input). */
static bool vrc_link_hello_allowed(void *opaque, const uint8_t mac[6],
                                   uint16_t rc_id)
{
    VRCLink *l = opaque;

    return !l->ops->hello_allowed ||
           l->ops->hello_allowed(l->opaque, mac, rc_id);
}

/*
 * Lock held (inside encap_link_input), the receiver: frame rx_slot proved
 * its sender the peer (a HELLO that opens a session, a sealed frame of
 * the session).  A listener that learns its peer (udp) answers that
 * sender from now on: a restarted vrc comes back from a new port, a keyed
 * one whose address changed (NAT) keeps its session.
 */
static void vrc_link_peer_proven(void *opaque)
{
    VRCLink *l = opaque;

    encap_transport_adopt_peer(l->tp, l->rx_slot);
}

static const struct encap_link_ops vrc_encap_ops = {
    .hello_allowed = vrc_link_hello_allowed,
    .peer_proven = vrc_link_peer_proven,
    .random = vrc_link_random,
    .send_frame = vrc_link_send_frame,
    .send_burst = vrc_link_send_burst,
    .deliver_tlp = vrc_link_deliver,
    .state_changed = vrc_link_state_cb,
};

/* ---- sending ---- */

/*
 * A waiter that holds the BQL lets go of it while it waits (see
 * vrc-link.h), and takes it back after.  Lock order is BQL, then
 * VRCLink.lock: ours is released around each.  Lock held.
 */
static void vrc_link_drop_bql(VRCLink *l)
{
    qemu_mutex_unlock(&l->lock);
    bql_unlock();
    qemu_mutex_lock(&l->lock);
}

static void vrc_link_retake_bql(VRCLink *l)
{
    qemu_mutex_unlock(&l->lock);
    bql_lock();
    qemu_mutex_lock(&l->lock);
}

/* Queue @t and flush, waiting (bounded) for window space. Lock held. */
static int vrc_link_queue(VRCLink *l, const struct encap_tlp *t, bool flush)
{
    /* One clock read for a TLP that goes straight in (a completion's
     * pieces come here by the thousand a megabyte). */
    int64_t now = now_ns();
    int64_t deadline = now + (int64_t)l->cfg.timeout_ms * SCALE_MS;
    bool dropped_bql = false;
    int r;

    for (;;) {
        if (!l->up) {
            l->stats.link_down_fails++;
            r = -ENOTCONN;
            break;
        }
        r = encap_link_queue_tlp(l->el, t, &l->lim, now);
        if (r == -ENCAP_E_CREDIT) {
            /* The peer holds as many of our requests as it takes: wait
             * for it to run some (completions still go, they are never
             * held), as for acks. */
            l->stats.credit_waits++;
        } else if (r != -ENCAP_E_NOSPACE) {
            break;
        } else {
            l->stats.window_waits++;
        }
        if (now >= deadline) {
            /*
             * The window stays full while the link recovers lost frames:
             * wait on, rather than drop what we send (a posted write
             * would be lost).  If the peer is gone, the link goes down.
             */
            trace_vrc_link_window_recovery(l->desc);
            deadline = now + (int64_t)l->cfg.timeout_ms * SCALE_MS;
        }
        if (vrc_link_in_receiver(l)) {
            vrc_link_self_pump(l, 1);
            now = now_ns();
            continue;
        }
        if (bql_locked()) {
            /* The receiver may need the BQL before it reads the acks we
             * wait for (the VM side's takes it for INTx and MSI). */
            vrc_link_drop_bql(l);
            dropped_bql = true;
        }
        l->window_waiters++;
        qemu_cond_timedwait(&l->cond, &l->lock,
                            MAX(1, (deadline - now_ns()) / SCALE_MS));
        l->window_waiters--;
        now = now_ns();
    }
    if (dropped_bql) {
        vrc_link_retake_bql(l);
    }
    if (r == -ENOTCONN || r == -ETIMEDOUT) {
        return r;
    }
    if (r < 0) {
        error_report_once("vrc %s: cannot send %s: %s", l->desc,
                          encap_tlp_type_name(t->type), encap_strerror(r));
        return -EINVAL;
    }
    l->stats.tlps_tx[t->type]++;
    if (t->type == ENCAP_TLP_MWR) {
        encap_wlog_add(&l->mwr_sent, t->addr, t->len_dw * 4u);
    }
    l->mrd_sent += t->type == ENCAP_TLP_MRD;
    l->stats.bytes_tx += encap_tlp_has_data(t->type) ? t->len_dw * 4u : 0;
    trace_vrc_tlp_tx(l->desc, encap_tlp_type_name(t->type), t->addr,
                     t->len_dw, t->tag);
    if (flush) {
        encap_link_flush(l->el, now);
    }
    return 0;
}

void vrc_link_post(VRCLink *l, const struct encap_tlp *t)
{
    QEMU_LOCK_GUARD(&l->lock);
    vrc_link_queue(l, t, true);
}

bool vrc_link_post_in(VRCLink *l, const struct encap_tlp *t,
                      unsigned session)
{
    QEMU_LOCK_GUARD(&l->lock);
    return l->session == session && vrc_link_queue(l, t, false) == 0;
}

unsigned vrc_link_peer_done(VRCLink *l, uint32_t *writes, uint32_t *reads)
{
    QEMU_LOCK_GUARD(&l->lock);
    *writes = l->mwr_done;
    *reads = l->mrd_done;
    return l->session;
}

void vrc_link_offer_push(VRCLink *l, struct encap_offer *o,
                         const struct encap_push *p)
{
    QEMU_LOCK_GUARD(&l->lock);
    encap_offer_push(o, p, &l->mwr_sent, l->mrd_sent);
}

uint32_t vrc_link_mps(VRCLink *l)
{
    QEMU_LOCK_GUARD(&l->lock);
    return l->lim.mps;
}

/* Allocate a tag for a request of @type at @now. Lock held. -1 if none
 * is free. */
static int vrc_link_tag_alloc(VRCLink *l, enum encap_tlp_type type,
                              uint16_t requester, uint64_t now)
{
    for (unsigned i = 0; i < VRC_TAGS; i++) {
        unsigned n = (l->next_tag + i) % VRC_TAGS;
        VRCTag *tag = &l->tags[n];

        if (!tag->busy && tag->quarantine_until <= now) {
            *tag = (VRCTag) {
                .busy = true, .type = type, .start_ns = now,
                .requester = requester,
            };
            l->next_tag = n + 1;
            l->tags_busy++;
            return n;
        }
    }
    return -1;
}

static void vrc_link_tag_free(VRCLink *l, unsigned n)
{
    l->tags[n].busy = false;
    l->tags_busy--;
}

/*
 * Wait until every tag in @tags is done or the deadline passes.  Lock held
 * on entry and exit; the BQL is dropped meanwhile (see vrc-link.h).
 * Returns the first error, or 0.
 */
static int vrc_link_wait(VRCLink *l, const int *tags, unsigned n)
{
    int64_t deadline = now_ns() + (int64_t)l->cfg.timeout_ms * SCALE_MS;
    bool self = vrc_link_in_receiver(l);
    /* The main loop as receiver keeps the BQL: it pumps the link itself,
     * and no other thread may enter the device model meanwhile. */
    bool had_bql = bql_locked() && !(self && l->cfg.rx_in_main_loop);
    int result = 0;

    if (had_bql) {
        vrc_link_drop_bql(l);
    }
    if (l->cfg.poll_us && !self && n == 1) {
        /*
         * A register read: spin a little before sleeping, so that the
         * receive thread need not wake us (a wakeup is a large share of
         * a round trip).  tag->done is read without the lock as a hint.
         */
        VRCTag *tag = &l->tags[tags[0]];
        int64_t spin_end = now_ns() + l->cfg.poll_us * 1000ll;

        qemu_mutex_unlock(&l->lock);
        while (!qatomic_read(&tag->done) && now_ns() < spin_end) {
            cpu_relax();
        }
        qemu_mutex_lock(&l->lock);
    }
    for (unsigned i = 0; i < n; i++) {
        VRCTag *tag = &l->tags[tags[i]];

        while (!tag->done) {
            int64_t now = now_ns();
            int64_t left = deadline - now;
            int64_t period = (int64_t)l->cfg.timeout_ms * SCALE_MS;

            if (left <= 0 && l->up &&
                (!encap_link_delivered(l->el, tag->mark) ||
                 encap_link_rx_gap(l->el))) {
                /*
                 * The link is up and still recovers a frame: ours, or
                 * one from the peer that may hold the completion.  The
                 * completion timeout is for a peer that does not answer,
                 * not for a lossy wire; if the peer is gone, the link goes
                 * down and the request fails then.
                 */
                trace_vrc_tlp_wait_recovery(l->desc, tags[i]);
                deadline = now + period;
                continue;
            }
            if (left <= 0 && l->up &&
                now - (int64_t)encap_link_data_ns(l->el) < period) {
                /*
                 * The peer has our request and keeps sending TLPs of its
                 * own (its functions' DMA, say): it is busy, not gone,
                 * and runs requests in order; ours comes.  A peer that
                 * only acks and answers PINGs gets no such grace.
                 */
                trace_vrc_tlp_wait_busy(l->desc, tags[i]);
                deadline = now + period;
                continue;
            }
            if (left <= 0) {
                break;
            }
            if (self) {
                vrc_link_self_pump(l, 1);
                continue;
            }
            if (vrc_link_waiter_pump(l, left)) {
                continue;
            }
            qemu_cond_timedwait(&l->cond, &l->lock,
                                MAX(1, (left + SCALE_MS - 1) / SCALE_MS));
        }
        if (!tag->done) {
            l->stats.timeouts++;
            trace_vrc_tlp_timeout(l->desc, tags[i]);
            tag->quarantine_until = now_ns() + VRC_TAG_QUARANTINE_NS;
            result = result ?: -ETIMEDOUT;
        } else if (tag->result) {
            if (tag->result == -ENOTCONN) {
                l->stats.link_down_fails++;
            }
            result = result ?: tag->result;
        }
        vrc_link_tag_free(l, tags[i]);
    }
    if (had_bql) {
        vrc_link_retake_bql(l);
    }
    return result;
}

int vrc_link_request(VRCLink *l, struct encap_tlp *req, void *buf,
                     uint32_t len)
{
    QEMU_LOCK_GUARD(&l->lock);
    int n, r;

    if (!l->up) {
        l->stats.link_down_fails++;
        return -ENOTCONN;
    }
    n = vrc_link_tag_alloc(l, req->type, req->requester_id, now_ns());
    if (n < 0) {
        l->stats.window_waits++;
        return -EBUSY;
    }
    req->tag = n;
    if (req->type == ENCAP_TLP_MRD) {
        uint64_t first;
        uint32_t span;

        encap_read_req_span(req, &first, &span);
        encap_reasm_init(&l->tags[n].reasm, first, MIN(span, len), buf);
    } else {
        l->tags[n].buf = buf;
    }
    r = vrc_link_queue(l, req, true);
    if (r < 0) {
        vrc_link_tag_free(l, n);
        return r;
    }
    l->tags[n].mark = encap_link_mark(l->el);
    return vrc_link_wait(l, &n, 1);
}

/* The memory request for one piece of a split range. */
static struct encap_tlp piece_tlp(enum encap_tlp_type type, uint16_t requester,
                                  const struct encap_req_piece *p)
{
    return (struct encap_tlp) {
        .type = type,
        .requester_id = requester,
        .addr = p->addr,
        .addr64 = p->addr > UINT32_MAX,
        .len_dw = p->len_dw,
        .first_be = p->first_be,
        .last_be = p->last_be,
    };
}

int vrc_link_mem_readv(VRCLink *l, uint16_t requester,
                       const VRCLinkRange *r, unsigned nr)
{
    uint32_t mrrs = l->cfg.mrrs;
    unsigned max = 0;
    g_autofree struct encap_req_piece *pc = NULL;
    g_autofree int *tags = NULL;
    int queued = 0, ret = 0;
    uint64_t now;

    for (unsigned i = 0; i < nr; i++) {
        max += r[i].len / mrrs + 2;
    }
    pc = g_new(struct encap_req_piece, max);
    tags = g_new(int, max);

    QEMU_LOCK_GUARD(&l->lock);
    if (!l->up) {
        l->stats.link_down_fails++;
        return -ENOTCONN;
    }
    now = now_ns();
    for (unsigned k = 0; k < nr && !ret; k++) {
        int n = encap_split_request(r[k].addr, r[k].len, mrrs, pc, max);

        for (int i = 0; i < n; i++) {
            struct encap_tlp t = piece_tlp(ENCAP_TLP_MRD, requester, &pc[i]);
            int tag = vrc_link_tag_alloc(l, ENCAP_TLP_MRD, requester, now);

            if (tag < 0) {
                ret = -EBUSY;
                break;
            }
            t.tag = tag;
            encap_reasm_init(&l->tags[tag].reasm, r[k].addr + pc[i].offset,
                             pc[i].bytes, (uint8_t *)r[k].buf + pc[i].offset);
            ret = vrc_link_queue(l, &t, false);
            if (ret < 0) {
                vrc_link_tag_free(l, tag);
                break;
            }
            tags[queued++] = tag;
        }
    }
    encap_link_flush(l->el, now_ns());
    for (int i = 0; i < queued; i++) {
        l->tags[tags[i]].mark = encap_link_mark(l->el);
    }
    if (queued) {
        int w = vrc_link_wait(l, tags, queued);
        ret = ret ?: w;
    }
    return ret;
}

int vrc_link_mem_read(VRCLink *l, uint16_t requester, uint64_t addr,
                      void *buf, uint32_t len)
{
    VRCLinkRange r = { .addr = addr, .len = len, .buf = buf };

    return vrc_link_mem_readv(l, requester, &r, 1);
}

void vrc_link_mem_write(VRCLink *l, uint16_t requester, uint64_t addr,
                        const void *buf, uint32_t len)
{
    /* Pieces end at MPS or at a 4 KiB boundary, whichever comes first. */
    unsigned max = len / l->lim.mps + len / 4096 + 3;
    g_autofree struct encap_req_piece *pc = g_new(struct encap_req_piece, max);
    int n = encap_split_request(addr, len, l->lim.mps, pc, max);
    uint8_t dw[ENCAP_TLP_MAX_DATA];

    QEMU_LOCK_GUARD(&l->lock);
    for (int i = 0; i < n; i++) {
        struct encap_tlp t = piece_tlp(ENCAP_TLP_MWR, requester, &pc[i]);
        unsigned lead = (addr + pc[i].offset) - pc[i].addr;

        /* Payload DWs from the DW address; bytes outside the byte enables
         * are don't-care. */
        t.data = dw;
        memcpy(dw + lead, (const uint8_t *)buf + pc[i].offset, pc[i].bytes);
        if (vrc_link_queue(l, &t, false) < 0) {
            break;
        }
    }
    if (!l->cfg.defer_writes) {
        encap_link_flush(l->el, now_ns());
    }
}

void vrc_link_flush(VRCLink *l)
{
    QEMU_LOCK_GUARD(&l->lock);
    if (l->up) {
        encap_link_flush(l->el, now_ns());
    }
}

void vrc_link_complete(VRCLink *l, const struct encap_tlp *req,
                       uint16_t completer, uint8_t status,
                       const void *data, uint32_t len)
{
    struct encap_tlp c = {
        .type = ENCAP_TLP_CPL,
        .requester_id = req->requester_id,
        .tag = req->tag,
        .target_id = completer,
        .status = status,
        .tc = req->tc,
        .attr = req->attr & (ENCAP_ATTR_RO | ENCAP_ATTR_IDO),
        .byte_count = 4,
    };
    uint64_t first;
    uint32_t span;

    QEMU_LOCK_GUARD(&l->lock);
    if (req->type != ENCAP_TLP_MRD) {
        /* Cfg/IO: Byte Count 4 and Lower Address 0, whole DW of data. */
        c.attr = 0;
        c.tc = 0;
        if (status == ENCAP_CPL_SC && data) {
            c.type = ENCAP_TLP_CPLD;
            c.len_dw = 1;
            c.data = data;
        }
        vrc_link_queue(l, &c, true);
        return;
    }
    encap_read_req_span(req, &first, &span);
    if (status != ENCAP_CPL_SC || !data) {
        c.byte_count = span;
        c.lower_addr = first & 0x7f;
        vrc_link_queue(l, &c, true);
        return;
    }
    {
        struct encap_cpl_piece pc[ENCAP_TLP_MAX_DATA / VRC_RCB + 2];
        uint8_t pad[ENCAP_TLP_MAX_DATA + 8];
        const uint8_t *dw = data;
        unsigned lead = first & 3;
        int n = encap_split_completion(first, span, VRC_RCB, l->lim.mps, pc,
                                       ARRAY_SIZE(pc));

        /* dw[] holds the data DW-aligned: byte i of the request's DW at
         * dw[i].  A read of whole DWs (the usual kind) is that already. */
        if (lead || span % 4 || len < span) {
            memcpy(pad + lead, data, MIN(len, span));
            dw = pad;
        }
        for (int i = 0; i < n; i++) {
            c.type = ENCAP_TLP_CPLD;
            c.len_dw = pc[i].len_dw;
            c.byte_count = pc[i].byte_count;
            c.lower_addr = pc[i].lower_addr;
            c.data = dw + ((lead + pc[i].offset) & ~3u);
            if (vrc_link_queue(l, &c, false) < 0) {
                break;
            }
        }
        if (!(vrc_link_in_receiver(l) && l->hold_cpl)) {
            encap_link_flush(l->el, now_ns());
        }
    }
}

/* ---- setup ---- */

VRCLink *vrc_link_new(const VRCLinkConfig *cfg, const VRCLinkOps *ops,
                      void *opaque, Error **errp)
{
    ERRP_GUARD();
    VRCLink *l = g_new0(VRCLink, 1);
    struct encap_link_config lc = { 0 };
    char err[256] = "";
    int r;

    l->cfg = *cfg;
    l->cfg.name = g_strdup(cfg->name);
    l->cfg.transport = g_strdup(cfg->transport);
    l->cfg.fallback_transport = NULL;   /* not kept: used below only */
    l->ops = ops;
    l->opaque = opaque;
    l->lim.mps = cfg->mps;
    l->rx_epfd = l->rx_event = l->rx_timer = l->rx_fd = -1;
    qemu_mutex_init(&l->lock);
    qemu_cond_init(&l->cond);
    QSIMPLEQ_INIT(&l->pending);
    QSIMPLEQ_INIT(&l->spare);
    g_queue_init(&l->disc_in);
    for (int i = 0; i < VRC_RX_BURST; i++) {
        l->rx[i].buf = l->rxbuf[i];
        l->rx[i].cap = sizeof(l->rxbuf[i]);
    }

    r = encap_transport_open(cfg->transport, !cfg->initiator, &l->tp, err,
                             sizeof(err));
    if (r < 0 && cfg->fallback_transport) {
        char err2[256] = "";

        if (encap_transport_open(cfg->fallback_transport, !cfg->initiator,
                                 &l->tp, err2, sizeof(err2)) >= 0) {
            warn_report("%s: %s did not open (%s): using %s", cfg->name,
                        cfg->transport, *err ? err : strerror(-r),
                        cfg->fallback_transport);
            g_free((char *)l->cfg.transport);
            l->cfg.transport = g_strdup(cfg->fallback_transport);
            r = 0;
        }
    }
    l->desc = g_strdup_printf("%s(%s)", cfg->name, l->cfg.transport);
    if (r < 0) {
        /* The transport's message, when it gives one, names the errno. */
        if (*err) {
            error_setg(errp, "cannot open %s: %s", l->desc, err);
        } else {
            error_setg_errno(errp, -r, "cannot open %s", l->desc);
        }
        goto fail;
    }

    lc.initiator = cfg->initiator;
    encap_transport_mac(l->tp, lc.own_mac);
    memcpy(lc.peer_mac, cfg->peer.a, 6);
    if (!g_str_has_prefix(cfg->transport, "pcap:") &&
        !g_str_has_prefix(cfg->transport, "packet:") && cfg->initiator &&
        !memcmp(lc.peer_mac, zero_mac, 6)) {
        /* A unix socket or UDP has one peer: the listener's address. */
        memcpy(lc.peer_mac, unix_listener_mac, 6);
    }
    lc.rc_id = cfg->rc_id;
    lc.session = (uint16_t)g_random_int();
    lc.epoch = g_random_int();
    lc.max_frame = cfg->mtu + ENCAP_ETH_HLEN;
    lc.mps = cfg->mps;
    lc.mrrs = cfg->mrrs;
    /* HELLO every 250 ms, 8 times: covers the 2 s realize waits at least. */
    lc.hello_ns = 250 * SCALE_MS;
    lc.rto_min_ns = VRC_RTO_MIN_NS;
    lc.keepalive_ns = (uint64_t)cfg->keepalive_ms * SCALE_MS;
    lc.ack_delay_ns = (uint64_t)cfg->ack_delay_us * SCALE_US;
    lc.keepalive_misses = VRC_LINK_KEEPALIVE_MISSES;
    lc.rx_request_credit = cfg->request_credit;
    lc.key = cfg->key;
    lc.key_len = cfg->key_len;
    l->el = encap_link_new(&lc, &vrc_encap_ops, l);
    l->cfg.key = NULL;          /* the link layer has its copy */
    l->cfg.key_len = 0;
    if (!l->el) {
        error_setg(errp, "%s: bad link parameters", l->desc);
        goto fail;
    }
    if (cfg->rx_in_main_loop) {
        l->main_fd = -1;
        l->main_timer = timer_new_ns(QEMU_CLOCK_REALTIME, vrc_link_main_rx, l);
        vrc_link_main_watch(l);
        timer_mod(l->main_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + VRC_TICK_NS);
        return l;
    }
    l->rx_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->rx_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    l->rx_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->rx_event < 0 || l->rx_timer < 0 || l->rx_epfd < 0 ||
        epoll_ctl(l->rx_epfd, EPOLL_CTL_ADD, l->rx_event,
                  &(struct epoll_event){ .events = EPOLLIN,
                                         .data.u32 = VRC_RX_EV_KICK }) < 0 ||
        epoll_ctl(l->rx_epfd, EPOLL_CTL_ADD, l->rx_timer,
                  &(struct epoll_event){ .events = EPOLLIN,
                                         .data.u32 = VRC_RX_EV_TIMER }) < 0) {
        error_setg_errno(errp, errno, "%s: cannot set up receiving",
                         l->desc);
        goto fail;
    }
    qemu_thread_create(&l->thread, "vrc-rx", vrc_link_thread, l,
                       QEMU_THREAD_JOINABLE);
    return l;

fail:
    if (l->rx_epfd >= 0) {
        close(l->rx_epfd);
    }
    if (l->rx_event >= 0) {
        close(l->rx_event);
    }
    if (l->rx_timer >= 0) {
        close(l->rx_timer);
    }
    if (l->el) {
        encap_link_free(l->el);
    }
    if (l->tp) {
        encap_transport_close(l->tp);
    }
    g_free(l->desc);
    g_free((char *)l->cfg.name);
    g_free((char *)l->cfg.transport);
    g_free(l);
    return NULL;
}

bool vrc_link_connect(VRCLink *l, uint32_t wait_ms, Error **errp)
{
    ERRP_GUARD();
    int64_t deadline = now_ns() + (int64_t)wait_ms * SCALE_MS;

    QEMU_LOCK_GUARD(&l->lock);
    encap_link_connect(l->el, now_ns());
    while (!l->up) {
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            error_setg(errp, "no answer from the endpoint on %s within %u ms",
                       l->desc, wait_ms);
            error_append_hint(errp, "Is it running, and free?  An endpoint "
                              "serves one vrc at a time.\n");
            return false;
        }
        qemu_cond_timedwait(&l->cond, &l->lock,
                            MAX(1, (left + SCALE_MS - 1) / SCALE_MS));
    }
    return true;
}

bool vrc_link_send_raw(VRCLink *l, const uint8_t *frame, size_t len)
{
    QEMU_LOCK_GUARD(&l->lock);
    return encap_transport_send(l->tp, frame, len) >= 0;
}

void vrc_link_own_mac(VRCLink *l, uint8_t mac[6])
{
    encap_transport_mac(l->tp, mac);
}

unsigned vrc_link_session(VRCLink *l)
{
    return qatomic_read(&l->session);
}

void vrc_link_start_connect(VRCLink *l)
{
    QEMU_LOCK_GUARD(&l->lock);
    if (!l->up && encap_link_state(l->el) == ENCAP_LINK_DOWN) {
        trace_vrc_link_reconnect(l->desc);
        encap_link_connect(l->el, now_ns());
    }
}

void vrc_link_disconnect(VRCLink *l)
{
    QEMU_LOCK_GUARD(&l->lock);
    encap_link_close(l->el, now_ns());
}

bool vrc_link_set_peer(VRCLink *l, const MACAddr *peer)
{
    QEMU_LOCK_GUARD(&l->lock);
    if (l->up || encap_link_set_peer(l->el, peer->a) < 0) {
        return false;
    }
    l->cfg.peer = *peer;
    return true;
}

bool vrc_link_is_up(VRCLink *l)
{
    QEMU_LOCK_GUARD(&l->lock);
    return l->up;
}

const char *vrc_link_transport(VRCLink *l)
{
    return l->cfg.transport;
}

bool vrc_link_peer_address(VRCLink *l, char *buf, size_t len)
{
    return g_str_has_prefix(l->cfg.transport, "udp:") &&
           encap_transport_address(l->tp, true, buf, len) == 0;
}

void vrc_link_get_stats(VRCLink *l, VRCLinkStats *s)
{
    struct encap_link_stats es;
    struct encap_transport_stats ts;

    QEMU_LOCK_GUARD(&l->lock);
    *s = l->stats;
    encap_link_get_stats(l->el, &es);
    s->retransmits = es.retransmits;
    s->fast_retransmits = es.fast_retransmits;
    s->auth_fails = es.auth_fail;
    s->replays = es.replay;
    s->key_mismatches = es.key_mismatch;
    s->srtt_ns = es.srtt_ns;
    s->drops = es.drops;
    s->tail_probes = es.tail_probes;
    s->lossy_ons = es.lossy_ons;
    s->tail_copies = es.tail_copies;
    s->probes_needless = es.probes_needless;
    s->resends_needless = es.resends_needless;
    s->rtos = es.timeouts;
    s->rtos_early = es.timeouts_early;
    s->keepalive_downs = es.keepalive_downs;
    s->hello_challenges = es.hello_probes;
    s->hello_refused_live = es.hello_refused_live;
    s->byes_stranger = es.byes_stranger;
    s->byes_unsealed = es.byes_unsealed;
    s->request_backlog = es.credit_backlog;
    s->request_backlog_max = es.credit_backlog_max;
    s->request_credit = l->cfg.request_credit;
    encap_transport_get_stats(l->tp, &ts);
    s->oversize = ts.rx_oversize;
}

void vrc_link_free(VRCLink *l)
{
    VRCPending *p;

    qemu_mutex_lock(&l->lock);
    encap_link_close(l->el, now_ns());
    qemu_mutex_unlock(&l->lock);
    if (l->cfg.rx_in_main_loop) {
        timer_free(l->main_timer);
        if (l->main_fd >= 0) {
            qemu_set_fd_handler(l->main_fd, NULL, NULL, NULL);
        }
    } else {
        qatomic_set(&l->stopping, true);
        vrc_link_kick(l);
        qemu_thread_join(&l->thread);
        close(l->rx_epfd);
        close(l->rx_event);
        close(l->rx_timer);
    }
    QSIMPLEQ_CONCAT(&l->spare, &l->pending);
    while ((p = QSIMPLEQ_FIRST(&l->spare))) {
        QSIMPLEQ_REMOVE_HEAD(&l->spare, next);
        g_free(p);
    }
    g_queue_clear_full(&l->disc_in, (GDestroyNotify)g_bytes_unref);
    encap_link_free(l->el);
    encap_transport_close(l->tp);
    qemu_cond_destroy(&l->cond);
    qemu_mutex_destroy(&l->lock);
    g_free(l->desc);
    g_free((char *)l->cfg.name);
    g_free((char *)l->cfg.transport);
    g_free(l);
}
