/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc link runtime, receiving: completions matched to their tags, requests
 * handed to VRCLinkOps.request in order, the receive thread (or the main
 * loop), and a waiter that reads the transport itself.  See vrc-link.h for
 * the threading and locking rules.
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

static void vrc_link_complete_tag(VRCLink *l, VRCTag *tag, int result)
{
    tag->done = true;
    tag->result = result;
    qemu_cond_broadcast(&l->cond);
}

/* A completion: match it to its tag and wake the waiter. */
static void vrc_link_rx_cpl(VRCLink *l, const struct encap_tlp *t)
{
    VRCTag *tag = &l->tags[t->tag % VRC_TAGS];
    int r;

    if (!tag->busy || tag->done || t->requester_id != tag->requester) {
        l->stats.stray_cpls++;
        trace_vrc_cpl_stray(l->desc, t->tag);
        return;
    }
    if (trace_event_get_state_backends(TRACE_VRC_TLP_CPL)) {
        trace_vrc_tlp_cpl(l->desc, t->tag, t->status, t->byte_count,
                          (now_ns() - tag->start_ns) / 1000);
    }
    if (t->status != ENCAP_CPL_SC) {
        l->stats.cpl_errors++;
        vrc_link_complete_tag(l, tag, -EIO);
        return;
    }
    if (tag->type != ENCAP_TLP_MRD) {
        /* Cfg/IO: one completion, one DW for reads. */
        if (tag->buf) {
            if (t->type != ENCAP_TLP_CPLD) {
                l->stats.cpl_errors++;
                vrc_link_complete_tag(l, tag, -EIO);
                return;
            }
            memcpy(tag->buf, t->data, 4);
        }
        vrc_link_complete_tag(l, tag, 0);
        return;
    }
    r = encap_reasm_feed(&tag->reasm, t);
    if (r < 0) {
        l->stats.cpl_errors++;
        qemu_log_mask(LOG_GUEST_ERROR, "vrc %s: completion for tag %u does "
                      "not fit its read (%s)\n", l->desc, t->tag,
                      encap_strerror(r));
        vrc_link_complete_tag(l, tag, -EIO);
    } else if (r == 1) {
        vrc_link_complete_tag(l, tag, 0);
    }
}

/* An entry for VRCLink.pending with room for @dlen bytes.  Lock held. */
static VRCPending *vrc_link_pending_get(VRCLink *l, size_t dlen)
{
    VRCPending *p = QSIMPLEQ_FIRST(&l->spare);
    size_t cap;

    if (p) {
        QSIMPLEQ_REMOVE_HEAD(&l->spare, next);
        l->spare_count--;
        if (p->cap >= dlen) {
            return p;
        }
        g_free(p);              /* of a session with a smaller MPS */
    }
    /* Room for any request of the session, so that the entry serves the
     * next one whatever it is. */
    cap = MAX(dlen, l->lim.mps);
    p = g_malloc(sizeof(*p) + cap);
    p->cap = cap;
    return p;
}

void vrc_link_pending_put(VRCLink *l, VRCPendingQueue *done)
{
    VRCPending *p;

    while ((p = QSIMPLEQ_FIRST(done))) {
        QSIMPLEQ_REMOVE_HEAD(done, next);
        if (l->spare_count < VRC_PENDING_MAX) {
            QSIMPLEQ_INSERT_HEAD(&l->spare, p, next);
            l->spare_count++;
        } else {
            g_free(p);
        }
    }
}

void vrc_link_deliver(void *opaque, const uint8_t *bytes, size_t len)
{
    VRCLink *l = opaque;
    struct encap_tlp t;
    VRCPending *p;
    size_t dlen;
    int r = encap_tlp_decode(bytes, len, &l->lim, &t);

    if (r < 0) {
        l->stats.bad_tlps++;
        trace_vrc_tlp_bad(l->desc, encap_strerror(r));
        if (encap_tlp_is_request(bytes, len)) {
            /* Dropped: done with, as far as the peer's credit goes. */
            encap_link_requests_done(l->el, 1, now_ns());
        }
        return;
    }
    l->stats.tlps_rx[t.type]++;
    dlen = encap_tlp_has_data(t.type) ? t.len_dw * 4u : 0;
    l->stats.bytes_rx += dlen;
    trace_vrc_tlp_rx(l->desc, encap_tlp_type_name(t.type), t.addr, t.len_dw,
                     t.tag);
    if ((t.type == ENCAP_TLP_CPL || t.type == ENCAP_TLP_CPLD) &&
        (l->self_waiting || (QSIMPLEQ_EMPTY(&l->pending) && !l->in_batch))) {
        /*
         * Nothing ahead of it: complete at once, without the BQL.  Or the
         * receiver waits for it, inside a request whose device is blocked
         * until it comes: the requests behind could not run before it
         * anyway.
         */
        vrc_link_rx_cpl(l, &t);
        return;
    }
    /* Behind a request: keep the order, a completion must not pass a
     * posted write that came before it. */
    p = vrc_link_pending_get(l, dlen);
    p->tlp = t;
    memcpy(p->data, t.data, dlen);
    p->tlp.data = dlen ? p->data : NULL;
    p->session = l->session;
    QSIMPLEQ_INSERT_TAIL(&l->pending, p, next);
    if (++l->pending_count > l->stats.requests_queued_max) {
        l->stats.requests_queued_max = l->pending_count;
    }
}

/* ---- receive thread ---- */

/* DISC frames waiting for ops->disc, at most (more are dropped). */
#define VRC_DISC_QUEUE  256

/* The cheap look: Ethernet type, then the vrc header's version and type. */
static bool vrc_frame_is_disc(const uint8_t *f, size_t len)
{
    return len >= ENCAP_ETH_HLEN + 2 &&
           f[12] == (ENCAP_ETHERTYPE >> 8) && f[13] == (ENCAP_ETHERTYPE & 0xff) &&
           f[ENCAP_ETH_HLEN] == ENCAP_VERSION &&
           f[ENCAP_ETH_HLEN + 1] == ENCAP_FRAME_DISC;
}

/* Run the link layer's timers; returns when the next is due (0: none).
 * Lock held. */
static uint64_t vrc_link_run_timers(VRCLink *l)
{
    l->next_timer = encap_link_poll(l->el, now_ns());
    return l->next_timer;
}

/*
 * Take in what the transport holds and run the link layer's timers.
 * Returns when its next timer is due (0: none).  Lock held; the receiver.
 */
static uint64_t vrc_link_rx_locked(VRCLink *l)
{
    uint64_t deadline, now;

    for (;;) {
        int n;

        if (l->pending_count >= VRC_PENDING_MAX && !l->self_waiting) {
            /*
             * The requests run before more is read.  The link acks what
             * it takes in, so a peer that streams (a function's DMA
             * writes) would otherwise be acked faster than its requests
             * run, and the queue would grow without bound (a waiter once
             * took in all 12288 writes of 16 MiB).  A receiver that waits
             * inside a request reads on: its completion may be next.
             */
            break;
        }
        n = encap_transport_recv_burst(l->tp, l->rx, VRC_RX_BURST);

        if (n == -EMSGSIZE) {
            /* Frames larger than any we agree to: dropped (and counted
             * by the transport). */
            trace_vrc_frame_oversize(l->desc);
            continue;
        }
        if (n == -ECONNRESET && !l->cfg.initiator) {
            /* A listener's peer left (a unix socket closed): the session
             * is down now, and the next peer may come. */
            trace_vrc_link_peer_gone(l->desc);
            encap_link_close(l->el, now_ns());
            break;
        }
        if (n < 0) {
            /* The peer is gone for good (the vrc's unix socket closed,
             * the interface went away): the link is down now, not after
             * the retransmissions give up. */
            error_report_once("vrc %s: endpoint connection lost: %s",
                              l->desc, strerror(-n));
            encap_link_close(l->el, now_ns());
            l->dead = true;
            break;
        }
        if (n == 0) {
            break;
        }
        /* A burst's frames were all waiting when it was read. */
        now = now_ns();
        for (int i = 0; i < n; i++) {
            uint8_t *frame = l->rx[i].buf;
            size_t len = l->rx[i].len;

            l->stats.frames_rx++;
            trace_vrc_frame_rx(l->desc, len);
            if (l->ops->disc && vrc_frame_is_disc(frame, len)) {
                /* Handed on once the lock is dropped. */
                if (g_queue_get_length(&l->disc_in) < VRC_DISC_QUEUE) {
                    g_queue_push_tail(&l->disc_in, g_bytes_new(frame, len));
                }
                continue;
            }
            l->rx_slot = i;
            encap_link_input(l->el, frame, len, now);
        }
    }
    deadline = vrc_link_run_timers(l);
    if (l->window_waiters) {
        /* Acks may have opened the window. */
        qemu_cond_broadcast(&l->cond);
    }
    return deadline;
}

/*
 * Tell the link of the requests run since last time, so that the peer's
 * credit grows again; not those of a session that has ended (the link
 * counts from zero in each session).  Lock held; the receiver.
 */
static void vrc_link_release_requests(VRCLink *l)
{
    if (l->req_done && l->req_done_session == l->session) {
        encap_link_requests_done(l->el, l->req_done, now_ns());
    }
    l->req_done = 0;
}

/* One request of @session run (or dropped).  The receiver. */
static void vrc_link_request_done(VRCLink *l, unsigned session)
{
    if (l->req_done && l->req_done_session != session) {
        l->req_done = 0;
    }
    l->req_done_session = session;
    l->req_done++;
}

/*
 * poll-us for a receiver that waits for something on its way (its DMA
 * read's completions, acks): spin for the frame instead of sleeping, which
 * saves the wakeup that dominates a round trip, if a CPU is free.  Only
 * where an answer is expected: spinning for traffic that may not come
 * (after every burst) cost more than it saved when measured.  Returns
 * true as soon as @fd is readable, false after poll-us (at once if 0).
 * Lock not held.
 */
static bool vrc_link_spin_rx(VRCLink *l, int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int64_t end;

    if (!l->cfg.poll_us || fd < 0) {
        return false;
    }
    end = now_ns() + l->cfg.poll_us * 1000ll;
    do {
        if (poll(&pfd, 1, 0) > 0) {
            return true;
        }
        cpu_relax();
    } while (now_ns() < end);
    return false;
}

/* The receiver takes in what is waiting, and does not block.  Lock held. */
static void vrc_link_self_rx(VRCLink *l)
{
    /* The requests run before the one that waits may be released. */
    vrc_link_release_requests(l);
    l->self_waiting = true;
    vrc_link_rx_locked(l);
    l->self_waiting = false;
}

/*
 * The receiver waits for something only the link can bring (acks that
 * open the window, completions of a DMA read that a request it executes
 * issued): nobody else reads the transport, so it reads it itself: what
 * is waiting, or else what comes within @ms, delivering completions at
 * once.  Lock held.
 */
void vrc_link_self_pump(VRCLink *l, int ms)
{
    struct pollfd pfd = {
        .fd = l->dead ? -1 : encap_transport_fd(l->tp),
        .events = POLLIN,
    };

    if (pfd.fd >= 0 && encap_transport_mapped_rx(l->tp)) {
        /*
         * A receive ring is read with no system call: in a stream the
         * next frames are often there already, and a poll to learn so
         * would cost more than taking them.
         */
        uint64_t before = l->stats.frames_rx;

        vrc_link_self_rx(l);
        if (l->stats.frames_rx != before) {
            return;
        }
    }
    qemu_mutex_unlock(&l->lock);
    if (!vrc_link_spin_rx(l, pfd.fd)) {
        poll(&pfd, 1, ms);
    }
    qemu_mutex_lock(&l->lock);
    vrc_link_self_rx(l);
}

/*
 * The receiver has nothing in hand and nothing to do but read the
 * transport.  Lock held.
 */
static bool vrc_link_rx_idle(VRCLink *l)
{
    return QSIMPLEQ_EMPTY(&l->pending) && g_queue_is_empty(&l->disc_in) &&
           !l->state_changed && !l->rx_busy;
}

/*
 * Let the receive thread's epoll report the transport (@events EPOLLIN), or
 * not (0): a thread that is not woken costs nothing.  Lock held.
 */
static void vrc_link_rx_arm(VRCLink *l, uint32_t events)
{
    struct epoll_event ev = { .events = events,
                              .data.u32 = VRC_RX_EV_TRANSPORT };

    if (l->rx_fd >= 0 &&
        epoll_ctl(l->rx_epfd, EPOLL_CTL_MOD, l->rx_fd, &ev) < 0) {
        error_report_once("vrc %s: epoll: %s", l->desc, strerror(errno));
    }
}

/*
 * A waiter that is not the receiver (a vCPU's register read, a DMA read
 * of the device model) reads the transport itself for one poll, if nobody
 * else does and the receive thread has nothing in hand.  The frame that
 * completes its request then wakes the thread that waits for it, instead
 * of the receive thread, which would have to wake it in turn: on an idle
 * host, each wakeup is a large share of a round trip.
 *
 * The receive thread is not woken by the transport meanwhile (its epoll
 * stops reporting it; re-arming reports what is there).  What the waiter
 * takes in beyond completions is the receive thread's work (requests from
 * the peer, discovery frames, a link state change): it is kicked for that.
 * A link timer due before the thread means to wake is set on its timerfd,
 * which wakes it then and not now.  Returns false if the waiter must sleep
 * on the condition instead.  Lock held.
 */
bool vrc_link_waiter_pump(VRCLink *l, int64_t left_ns)
{
    struct pollfd pfd = { .fd = l->rx_fd, .events = POLLIN };
    struct timespec ts = vrc_timespec(MIN(left_ns, VRC_TICK_NS));
    uint64_t rx_before;

    if (l->cfg.rx_in_main_loop || l->dead || l->rx_fd < 0 || l->waiter_rx ||
        !vrc_link_rx_idle(l)) {
        return false;
    }
    l->waiter_rx = true;
    vrc_link_rx_arm(l, 0);
    qemu_mutex_unlock(&l->lock);
    ppoll(&pfd, 1, &ts, NULL);
    qemu_mutex_lock(&l->lock);
    rx_before = l->stats.frames_rx;
    vrc_link_rx_locked(l);
    l->stats.waiter_frames_rx += l->stats.frames_rx - rx_before;
    trace_vrc_link_waiter_rx(l->desc, l->stats.frames_rx - rx_before);
    l->waiter_rx = false;
    vrc_link_rx_arm(l, EPOLLIN);
    if (!vrc_link_rx_idle(l)) {
        vrc_link_kick(l);
    } else if (l->next_timer && l->next_timer < l->rx_sleep_until) {
        struct itimerspec its = { .it_value = vrc_timespec(l->next_timer) };

        /* Both clocks are CLOCK_MONOTONIC (now_ns()). */
        timerfd_settime(l->rx_timer, TFD_TIMER_ABSTIME, &its, NULL);
        l->rx_sleep_until = l->next_timer;
    }
    return true;
}

/*
 * One round of receiving: take in what the transport holds, run the link
 * layer's timers, report a link state change, then hand the requests that
 * arrived to VRCLinkOps.request in order (and the completions that queued
 * behind them).  Returns when the link layer's next timer is due (0: none).
 * The receiver: the receive thread, or the main loop (rx_in_main_loop).
 */
static uint64_t vrc_link_rx_round(VRCLink *l)
{
    VRCPendingQueue batch = QSIMPLEQ_HEAD_INITIALIZER(batch);
    VRCPendingQueue done = QSIMPLEQ_HEAD_INITIALIZER(done);
    VRCPending *p;
    uint64_t deadline;
    bool changed, up;
    GQueue disc;
    GBytes *frame;

    qemu_mutex_lock(&l->lock);
    if (l->waiter_rx) {
        /* A waiter reads the transport now (it kicks us if it leaves work
         * behind); the link layer's timers are still ours. */
        deadline = vrc_link_run_timers(l);
        qemu_mutex_unlock(&l->lock);
        return deadline;
    }
    l->rx_busy = true;
    deadline = vrc_link_rx_locked(l);
    QSIMPLEQ_CONCAT(&batch, &l->pending);
    l->pending_count = 0;
    l->in_batch = !QSIMPLEQ_EMPTY(&batch);
    changed = l->state_changed;
    l->state_changed = false;
    up = l->up;
    disc = l->disc_in;
    g_queue_init(&l->disc_in);
    qemu_mutex_unlock(&l->lock);

    while ((frame = g_queue_pop_head(&disc))) {
        gsize len;
        const uint8_t *bytes = g_bytes_get_data(frame, &len);

        l->ops->disc(l->opaque, bytes, len);
        g_bytes_unref(frame);
    }

    if (changed && l->ops->link_state) {
        l->ops->link_state(l->opaque, up);
    }
    while ((p = QSIMPLEQ_FIRST(&batch))) {
        QSIMPLEQ_REMOVE_HEAD(&batch, next);
        if (p->session != qatomic_read(&l->session)) {
            /* Queued in a session that has ended since: not executed. */
            WITH_QEMU_LOCK_GUARD(&l->lock) {
                l->stats.stale_requests++;
            }
            trace_vrc_tlp_stale(l->desc, encap_tlp_type_name(p->tlp.type));
        } else if (p->tlp.type == ENCAP_TLP_CPL ||
                   p->tlp.type == ENCAP_TLP_CPLD) {
            WITH_QEMU_LOCK_GUARD(&l->lock) {
                vrc_link_rx_cpl(l, &p->tlp);
            }
        } else {
            VRCPending *next = QSIMPLEQ_FIRST(&batch);

            /*
             * Completions of a run of memory reads leave together, at
             * the end of the run: a requester that sent several reads at
             * once (vrc_link_mem_readv) gets them in as few frames as fit.
             */
            l->hold_cpl = next && next->tlp.type == ENCAP_TLP_MRD &&
                          p->tlp.type == ENCAP_TLP_MRD;
            l->ops->request(l->opaque, &p->tlp);
            l->hold_cpl = false;
            if (p->tlp.type == ENCAP_TLP_MWR || p->tlp.type == ENCAP_TLP_MRD) {
                /* A write applied: a copy of memory made from now on holds
                 * it.  A read answered: such a copy is newer. */
                WITH_QEMU_LOCK_GUARD(&l->lock) {
                    if (p->session == l->session) {
                        l->mwr_done += p->tlp.type == ENCAP_TLP_MWR;
                        l->mrd_done += p->tlp.type == ENCAP_TLP_MRD;
                    }
                }
            }
            vrc_link_request_done(l, p->session);
        }
        QSIMPLEQ_INSERT_TAIL(&done, p, next);
        if (QSIMPLEQ_EMPTY(&batch)) {
            /* What arrived while a request waited (it read the link
             * itself) comes next, in order. */
            WITH_QEMU_LOCK_GUARD(&l->lock) {
                vrc_link_pending_put(l, &done);
                vrc_link_release_requests(l);
                QSIMPLEQ_CONCAT(&batch, &l->pending);
                l->pending_count = 0;
            }
        }
    }
    WITH_QEMU_LOCK_GUARD(&l->lock) {
        if (l->in_batch) {
            l->in_batch = false;
            /* Anything held back for a run that ended early. */
            encap_link_flush(l->el, now_ns());
        }
        l->rx_busy = false;
        /*
         * What the requests sent moved the link's timers (a completion
         * carries the ack that was due): return the next as it is now, not
         * as it was before they ran, or the receiver wakes for nothing.
         */
        deadline = vrc_link_run_timers(l);
    }
    return deadline;
}

/*
 * The receive thread: sleeps in its epoll (the transport, rx_event,
 * rx_timer) until frames come, it is kicked, or the link layer's next
 * timer or the tick is due.
 */
void *vrc_link_thread(void *opaque)
{
    VRCLink *l = opaque;

    rcu_register_thread();
    while (!qatomic_read(&l->stopping)) {
        struct epoll_event ev[3];
        struct timespec ts;
        int64_t wait;
        uint64_t now, deadline, v;
        int n;

        WITH_QEMU_LOCK_GUARD(&l->lock) {
            int fd = l->dead ? -1 : encap_transport_fd(l->tp);

            if (fd != l->rx_fd) {
                struct epoll_event add = { .events = EPOLLIN };

                if (l->rx_fd >= 0) {
                    epoll_ctl(l->rx_epfd, EPOLL_CTL_DEL, l->rx_fd, NULL);
                }
                l->rx_fd = -1;
                if (fd >= 0 &&
                    epoll_ctl(l->rx_epfd, EPOLL_CTL_ADD, fd, &add) == 0) {
                    l->rx_fd = fd;
                } else if (fd >= 0) {
                    error_report("vrc %s: epoll: %s", l->desc,
                                 strerror(errno));
                }
            }
            now = now_ns();
            deadline = l->next_timer;
            wait = deadline ? MIN(VRC_TICK_NS, (int64_t)(deadline - now))
                            : VRC_TICK_NS;
            wait = MAX(0, wait);
            l->rx_sleep_until = now + wait;
        }
        ts = vrc_timespec(wait);
        n = epoll_pwait2(l->rx_epfd, ev, ARRAY_SIZE(ev), &ts, NULL);
        if (n < 0 && errno != EINTR) {
            error_report("vrc %s: poll: %s", l->desc, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            /* Reset the eventfd or timerfd. */
            if (ev[i].data.u32 != VRC_RX_EV_TRANSPORT &&
                read(ev[i].data.u32 == VRC_RX_EV_KICK ? l->rx_event
                                                      : l->rx_timer,
                     &v, sizeof(v)) < 0) {
                /* Nothing to reset. */
            }
        }
        if (qatomic_read(&l->stopping)) {
            break;
        }
        vrc_link_rx_round(l);
    }
    rcu_unregister_thread();
    return NULL;
}

/* Wake the receive thread (it has work, or a timer due sooner). */
void vrc_link_kick(VRCLink *l)
{
    uint64_t one = 1;

    trace_vrc_link_kick(l->desc);
    if (write(l->rx_event, &one, sizeof(one)) != sizeof(one)) {
        /* The counter is full: the thread has a wakeup pending anyway. */
    }
}

/* ---- receiving in the main loop ---- */

/* Watch the transport's fd (it changes when a unix peer connects). */
void vrc_link_main_watch(VRCLink *l)
{
    int fd = l->dead ? -1 : encap_transport_fd(l->tp);

    if (fd != l->main_fd) {
        if (l->main_fd >= 0) {
            qemu_set_fd_handler(l->main_fd, NULL, NULL, NULL);
        }
        if (fd >= 0) {
            qemu_set_fd_handler(fd, vrc_link_main_rx, NULL, l);
        }
        l->main_fd = fd;
    }
}

/* Main loop, BQL held: frames arrived, or a link timer is due. */
void vrc_link_main_rx(void *opaque)
{
    VRCLink *l = opaque;
    uint64_t deadline = vrc_link_rx_round(l);
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t next = now + VRC_TICK_NS;

    if (deadline) {
        /* now_ns() and the realtime clock are both the host's monotonic
         * clock in ns; keep the arithmetic on one of them. */
        int64_t in_ns = (int64_t)deadline - (int64_t)now_ns();

        next = now + MAX(0, MIN(in_ns, VRC_TICK_NS));
    }
    timer_mod(l->main_timer, next);
    vrc_link_main_watch(l);
}

bool vrc_link_in_receiver(VRCLink *l)
{
    return l->cfg.rx_in_main_loop ? bql_locked() :
           qemu_thread_is_self(&l->thread);
}
