/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc link runtime, private to vrc-link.c (sending, waiting, setup) and
 * vrc-link-rx.c (receiving: the receive thread, the main loop, a waiter).
 * See vrc-link.h for the threading and locking rules.
 */
#ifndef HW_VRC_VRC_LINK_INT_H
#define HW_VRC_VRC_LINK_INT_H

#include "qemu/thread.h"
#include "qemu/timer.h"
#include "qemu/queue.h"
#include "encap/link.h"
#include "encap/split.h"
#include "encap/transport.h"
#include "encap/push.h"
#include "vrc-link.h"

#define VRC_TAGS        1024            /* 10-bit tags */
#define VRC_RCB         64              /* Read Completion Boundary */
#define VRC_MAX_FRAME   (9000 + 14)
/* Frames the receiver takes from the transport per call. */
#define VRC_RX_BURST    32
/*
 * The receive thread wakes at least this often to run the link layer's
 * timers (retransmission, delayed acks), so senders never need to wake it.
 */
#define VRC_TICK_MS     5
#define VRC_TICK_NS     (VRC_TICK_MS * SCALE_MS)
/*
 * The floor of the retransmission timeout.  The link takes it from the
 * measured round trip (tens to hundreds of us here); timers have ns
 * resolution on both sides (ppoll, QEMU_CLOCK_REALTIME in ns), so a lost
 * frame costs a fraction of a millisecond, not the 1-5 ms of a ms tick.
 */
#define VRC_RTO_MIN_NS  (200 * SCALE_US)
/* Keepalive intervals of silence after which the peer is gone. */
#define VRC_LINK_KEEPALIVE_MISSES   6

typedef struct VRCTag {
    bool busy;
    bool done;
    int result;                 /* 0, -EIO */
    enum encap_tlp_type type;   /* of the request */
    uint8_t *buf;               /* Cfg/IO reads: the DW */
    struct encap_reasm reasm;   /* MRd */
    uint64_t start_ns;
    uint32_t mark;              /* encap_link_mark() once sent */
    uint16_t requester;         /* of the request */
    /*
     * A tag whose request timed out is not handed out again before this
     * time (ns): its completion may still be on its way, and must not
     * complete a newer request.
     */
    uint64_t quarantine_until;
} VRCTag;

/* How long a timed out tag rests: longer than the link's recovery. */
#define VRC_TAG_QUARANTINE_NS   (10 * NANOSECONDS_PER_SECOND)

/* A request TLP received, waiting to be handed to VRCLinkOps.request. */
typedef struct VRCPending {
    struct encap_tlp tlp;
    unsigned session;           /* VRCLink.session when it arrived */
    size_t cap;                 /* bytes data[] holds */
    QSIMPLEQ_ENTRY(VRCPending) next;
    uint8_t data[];
} VRCPending;

typedef QSIMPLEQ_HEAD(, VRCPending) VRCPendingQueue;

struct VRCLink {
    VRCLinkConfig cfg;
    char *desc;
    const VRCLinkOps *ops;
    void *opaque;

    struct encap_transport *tp;
    struct encap_link *el;
    struct encap_tlp_limits lim;

    QemuMutex lock;             /* everything below */
    QemuCond cond;              /* completions, window space, link state */
    VRCTag tags[VRC_TAGS];
    unsigned next_tag;
    unsigned tags_busy;
    bool up;
    bool state_changed;
    unsigned session;           /* counts link state changes */
    /*
     * The session's MWr TLPs: queued to the peer, and the peer's run
     * (VRCLinkOps.request returned: written); and its MRd TLPs, likewise
     * (read and answered).  A pushed copy names how many of the peer's it
     * follows (encap/push.h).
     */
    struct encap_wlog mwr_sent; /* with where each went */
    uint32_t mwr_done;
    uint32_t mrd_sent;          /* ... and the MRd TLPs, likewise */
    uint32_t mrd_done;
    unsigned window_waiters;    /* senders waiting for acks */
    bool dead;                  /* the transport failed for good */
    VRCLinkStats stats;
    VRCPendingQueue pending;    /* filled during input */
    unsigned pending_count;
    /*
     * Entries of pending done with, kept for the next requests: a burst of
     * posted writes would otherwise allocate and free a window's worth of
     * payloads each round, and the allocator hands the memory back to the
     * kernel and faults it in again (5x slower sustained DMA writes).
     */
    VRCPendingQueue spare;
    unsigned spare_count;
    bool in_batch;              /* the receiver works through requests */
    bool hold_cpl;              /* ... and the next is a memory read too:
                                   completions wait for the run's last
                                   (the receiver's own, read by it only) */
    bool self_waiting;          /* ... and reads the transport while it waits */
    /*
     * A waiter that is not the receiver reads the transport for its
     * completion (vrc_link_waiter_pump); the receive thread leaves the
     * transport alone meanwhile.
     */
    bool waiter_rx;
    bool rx_busy;               /* the receiver is in vrc_link_rx_round */
    uint64_t next_timer;        /* the link layer's next timer (ns, 0: none) */
    uint64_t rx_sleep_until;    /* the receive thread sleeps until then */
    int rx_fd;                  /* the transport fd in rx_epfd, or -1 */
    /*
     * Requests of session req_done_session that VRCLinkOps.request has run
     * and the link has not been told of yet (request credit).  Receiver.
     */
    unsigned req_done;
    unsigned req_done_session;
    GQueue disc_in;             /* DISC frames (GBytes) for ops->disc */

    QemuThread thread;
    bool stopping;
    int rx_epfd;                /* the receive thread's: transport, rx_event,
                                   rx_timer */
    int rx_event;               /* eventfd: stop, or work handed back */
    int rx_timer;               /* timerfd: a link timer a waiter left due */
    struct encap_rx_frame rx[VRC_RX_BURST];     /* into rxbuf */
    unsigned rx_slot;           /* of the frame in encap_link_input() */
    int main_fd;                /* rx_in_main_loop: the fd watched, or -1 */
    QEMUTimer *main_timer;      /* rx_in_main_loop: link layer timers */
    uint8_t rxbuf[VRC_RX_BURST][VRC_MAX_FRAME + 64];
};

static inline uint64_t now_ns(void)
{
    return get_clock();
}

/* @ns as a timespec: a timeout, or a time of now_ns()'s clock. */
static inline struct timespec vrc_timespec(uint64_t ns)
{
    return (struct timespec) {
        .tv_sec = ns / NANOSECONDS_PER_SECOND,
        .tv_nsec = ns % NANOSECONDS_PER_SECOND,
    };
}

/* What woke the receive thread: epoll_event.data.u32 in rx_epfd. */
enum {
    VRC_RX_EV_TRANSPORT,
    VRC_RX_EV_KICK,             /* rx_event */
    VRC_RX_EV_TIMER,            /* rx_timer */
};

/*
 * Requests the receiver takes in before it runs them, at most (it stops
 * reading the transport there), and entries kept on VRCLink.spare.
 */
#define VRC_PENDING_MAX     256

/* vrc-link-rx.c */

/* encap_link_ops.deliver_tlp: a TLP from the peer.  Lock held. */
void vrc_link_deliver(void *opaque, const uint8_t *bytes, size_t len);
/* The receiver reads the transport itself: what is waiting, or else what
 * comes within @ms.  Lock held. */
void vrc_link_self_pump(VRCLink *l, int ms);
/* A waiter that is not the receiver reads the transport for one poll;
 * false if it may not now.  Lock held. */
bool vrc_link_waiter_pump(VRCLink *l, int64_t left_ns);
void *vrc_link_thread(void *opaque);
/* Wake the receive thread. */
void vrc_link_kick(VRCLink *l);
/* rx_in_main_loop: watch the transport's fd / a round of receiving. */
void vrc_link_main_watch(VRCLink *l);
void vrc_link_main_rx(void *opaque);
/* Keep the entries of @done for the next requests (emptied).  Lock held. */
void vrc_link_pending_put(VRCLink *l, VRCPendingQueue *done);

#endif
