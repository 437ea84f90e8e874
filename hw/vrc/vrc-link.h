/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc link runtime: one Ethernet session to a peer, shared by the VM side
 * (the vrc port) and the endpoint machine.
 *
 * Threads and locks
 * -----------------
 * Each link has a receive thread (or receives in the main loop, see
 * rx_in_main_loop).  It reads frames from the transport, runs
 * the encap link layer (sequencing, acks, retransmission) and then:
 *  - completions (Cpl/CplD) are matched to their tag and wake the waiter;
 *    this never needs the BQL, so a completion can always pass a thread that
 *    holds the BQL (the PCIe rule that completions pass blocked requests);
 *  - every other TLP is handed to VRCLinkOps.request, in arrival order,
 *    on the receive thread, with no VRCLink lock held;
 *  - a completion that arrives behind such a request waits for it: a
 *    completion never passes a posted write received before it.
 * Sending may happen from any thread (vCPU, main loop, receive thread).
 * VRCLink.lock protects the encap link, the transport's send side, the tag
 * table and the counters; it is never held while waiting, nor while calling
 * out to VRCLinkOps.
 *
 * A thread that waits for a completion (vrc_link_request, vrc_link_mem_read)
 * or for window space (any send) drops the BQL while it waits if it holds
 * it, as hw/remote/mpqemu-link.c does, and takes it again before
 * returning.  Callers must therefore not keep pointers into state another
 * BQL holder may change across the call.
 *
 * While the receive thread has nothing in hand, a thread that waits for a
 * completion reads the transport itself (one waiter at a time), and the
 * receive thread is not woken by the transport meanwhile: the completion
 * then wakes the thread that needs it, one wakeup instead of two.  The
 * receive thread keeps the link layer's timers, and is kicked for anything
 * else the waiter takes in (requests from the peer, a link state change).
 *
 * The receiver (the receive thread, or the main loop with rx_in_main_loop)
 * may itself send and wait inside VRCLinkOps.request: the VM side answers
 * DMA reads there, the endpoint executes requests there and its device may
 * DMA.  While the receiver waits (for window space or for completions), it
 * reads the transport itself; completions are delivered at once, requests
 * queue behind the one it executes.
 */
#ifndef HW_VRC_VRC_LINK_H
#define HW_VRC_VRC_LINK_H

#include "net/net.h"
#include "encap/push.h"
#include "encap/tlp.h"

typedef struct VRCLink VRCLink;

typedef struct VRCLinkConfig {
    const char *name;           /* for messages and traces */
    bool initiator;             /* VM side: opens the session */
    /* packet:IFNAME, pcap:IFNAME, unix:PATH or udp:HOST:PORT
     * (encap_transport_open()) */
    const char *transport;
    /* Opened instead, with a warning, if transport does not open; or NULL */
    const char *fallback_transport;
    MACAddr peer;               /* zero: learn from the first HELLO */
    uint16_t rc_id;
    uint32_t mtu;
    uint32_t mps;
    uint32_t mrrs;
    uint32_t timeout_ms;        /* completion timeout */
    uint32_t poll_us;           /* waiters spin this long before sleeping */
    uint32_t keepalive_ms;      /* PING a silent peer; 0: never */
    uint32_t ack_delay_us;      /* acknowledge a frame at most this late */
    /*
     * Request credit (docs/protocol.md 4.1): the most requests the peer
     * may have sent us that VRCLinkOps.request has not yet run; the peer
     * waits for more.  0: no limit.  Completions are never limited.
     */
    uint32_t request_credit;
    const uint8_t *key;         /* pre-shared session key, or NULL */
    size_t key_len;
    /*
     * Receive in the main loop (with the BQL) instead of a thread of our
     * own: for a process where the main loop is the only thread that runs
     * device code (the endpoint).  Requests then run at once, with no
     * hand-off, and a wait inside one keeps the BQL while it reads the
     * link itself, so no other thread enters the device model meanwhile.
     */
    bool rx_in_main_loop;
    /*
     * DMA writes (vrc_link_mem_write) are not sent at once: they go with
     * the next TLP that is (a read, a completion, vrc_link_post), when
     * their frame is full, or at vrc_link_flush().  For a sender whose
     * writes come in runs and who flushes before it waits (the endpoint's
     * main loop: a received packet's buffer, its descriptor, the MSI and
     * the next descriptor read leave in one send).
     */
    bool defer_writes;
} VRCLinkConfig;

typedef struct VRCLinkOps {
    /*
     * A request TLP from the peer (MRd, MWr, IORd/IOWr, Cfg*, Msg*),
     * decoded and validated.  Receive thread; @t->data is valid only during
     * the call.  Non-posted requests must be answered with
     * vrc_link_complete(), from any thread.
     */
    void (*request)(void *opaque, const struct encap_tlp *t);
    /* The session went up or down.  Receive thread. */
    void (*link_state)(void *opaque, bool up);
    /*
     * Optional: a DISC frame (configd's discovery and assignment, not the
     * session's), whole, valid only during the call.  Receive thread, no
     * VRCLink lock held.  Without it DISC frames are dropped.
     */
    void (*disc)(void *opaque, const uint8_t *frame, size_t len);
    /*
     * Optional, responder: may a HELLO from @mac with @rc_id open a new
     * session?  Called by the receiver with the VRCLink lock held: it must
     * not call back into the link.
     */
    bool (*hello_allowed)(void *opaque, const uint8_t mac[6], uint16_t rc_id);
} VRCLinkOps;

/* Counters, all monotonic.  Direction from this side's point of view. */
typedef struct VRCLinkStats {
    uint64_t tlps_tx[ENCAP_TLP__COUNT];
    uint64_t tlps_rx[ENCAP_TLP__COUNT];
    uint64_t bytes_tx;          /* TLP payload bytes */
    uint64_t bytes_rx;
    uint64_t frames_tx;
    uint64_t frames_rx;
    uint64_t waiter_frames_rx;  /* of those, read by a waiting thread */
    uint64_t timeouts;          /* completion timeouts */
    uint64_t cpl_errors;        /* UR/CA/CRS completions received */
    uint64_t link_down_fails;   /* requests failed at once: link down */
    uint64_t bad_tlps;          /* TLPs that failed to decode */
    uint64_t stray_cpls;        /* completions for no outstanding tag */
    uint64_t retransmits;
    uint64_t fast_retransmits;  /* on selective-ack evidence */
    uint64_t srtt_ns;           /* smoothed round trip, 0: not measured */
    uint64_t auth_fails;        /* keyed: frames whose tag did not verify */
    uint64_t replays;           /* keyed: frames seen before */
    uint64_t key_mismatches;    /* the peer has a key and we none, or ... */
    uint64_t drops;             /* frames dropped by the link layer */
    uint64_t window_waits;      /* senders that waited for the window */
    uint64_t oversize;          /* frames too large for any session: dropped */
    uint64_t stale_requests;    /* queued in a session that ended: dropped */
    uint64_t tail_probes;       /* frames sent again as tail-loss probes */
    uint64_t lossy_ons;         /* times lossy mode came on */
    uint64_t tail_copies;       /* lossy mode's extra copies */
    uint64_t probes_needless;   /* tail probes of frames that had arrived */
    uint64_t resends_needless;  /* resends the peer reported it had */
    uint64_t rtos;              /* retransmission timeouts */
    uint64_t rtos_early;        /* of them, before late acks, not a loss */
    uint64_t keepalive_downs;   /* sessions ended for silence */
    uint64_t hello_challenges;  /* HELLOs held back while the session was asked */
    uint64_t hello_refused_live;        /* ... that the live session answered */
    uint64_t byes_stranger;     /* BYEs for frames of a session not ours */
    uint64_t byes_unsealed;     /* keyed: the endpoint's unsealed BYEs */
    uint64_t requests_queued_max;       /* the most requests waiting to run */
    uint64_t credit_waits;      /* our requests the peer's credit held back */
    uint64_t request_backlog;   /* the peer's requests received, not yet run */
    uint64_t request_backlog_max;       /* the most there were */
    uint32_t request_credit;    /* VRCLinkConfig.request_credit */
} VRCLinkStats;

/* Main loop. Opens the transport and starts the receive thread. */
VRCLink *vrc_link_new(const VRCLinkConfig *cfg, const VRCLinkOps *ops,
                      void *opaque, Error **errp);
/* Main loop. Says BYE, stops the receive thread, closes the transport. */
void vrc_link_free(VRCLink *l);

/* Initiator, main loop: open the session and wait (bounded) until it is up. */
bool vrc_link_connect(VRCLink *l, uint32_t wait_ms, Error **errp);
bool vrc_link_is_up(VRCLink *l);
/* This side's MAC address on the transport. */
void vrc_link_own_mac(VRCLink *l, uint8_t mac[6]);
/* Counts the session's ups and downs: a new value is a new session. */
unsigned vrc_link_session(VRCLink *l);
/*
 * Initiator: say HELLO again (a new epoch) unless the session is up or
 * HELLOs are already going out; VRCLinkOps.link_state tells when it is up.
 * Any thread.
 */
void vrc_link_start_connect(VRCLink *l);
/* End the session (BYE) and stay down until the next connect. */
void vrc_link_disconnect(VRCLink *l);
/*
 * Initiator, session down: the endpoint the next connect talks to.
 * False if the session is up.
 */
bool vrc_link_set_peer(VRCLink *l, const MACAddr *peer);

/*
 * Is the calling thread the one that receives for @l (and so runs
 * VRCLinkOps.request)?  Any thread.
 */
bool vrc_link_in_receiver(VRCLink *l);

/* Send a whole frame that is not the session's (DISC).  Any thread. */
bool vrc_link_send_raw(VRCLink *l, const uint8_t *frame, size_t len);

/* Send a posted request (MWr, Msg, MsgD) as is.  Any thread. */
void vrc_link_post(VRCLink *l, const struct encap_tlp *t);

/*
 * Send the non-posted request @req (tag set here) and wait for its
 * completion, at most the completion timeout.  Reads place the returned
 * bytes in @buf: for MRd the @len bytes from the first enabled byte, for
 * CfgRd/IORd the whole DW (@len 4).  Any thread but the receive thread.
 * Returns 0, -ETIMEDOUT, -EIO (UR/CA/CRS or poisoned), -ENOTCONN (link down).
 */
int vrc_link_request(VRCLink *l, struct encap_tlp *req, void *buf,
                     uint32_t len);

/*
 * Memory read/write of any length at @addr on behalf of @requester: split
 * into MRd by MRRS (all in flight at once) or MWr by MPS, never crossing
 * 4 KiB.  Read: same returns as vrc_link_request.  Write is posted.
 */
int vrc_link_mem_read(VRCLink *l, uint16_t requester, uint64_t addr,
                      void *buf, uint32_t len);

/*
 * Several memory reads at once: every MRd of all @n ranges is sent, in the
 * order given (so the VM side executes them in that order), before any
 * completion is waited for; then all are waited for together.  Same
 * returns as vrc_link_mem_read (the first error).
 */
typedef struct VRCLinkRange {
    uint64_t addr;
    uint32_t len;
    void *buf;
} VRCLinkRange;
int vrc_link_mem_readv(VRCLink *l, uint16_t requester,
                       const VRCLinkRange *r, unsigned n);
/*
 * A doorbell's pushed copy (encap/push.h) and the counts it carries: the
 * session, and the MWr and MRd TLPs of the peer run in it so far, read
 * together; vrc_link_post_in() posts @t only if that session is still the
 * link's (not flushed: the doorbell that follows flushes it).  The peer
 * arms its offer with vrc_link_offer_push(), against the MWr and MRd TLPs
 * it queued in the session.
 */
unsigned vrc_link_peer_done(VRCLink *l, uint32_t *writes, uint32_t *reads);
bool vrc_link_post_in(VRCLink *l, const struct encap_tlp *t,
                      unsigned session);
void vrc_link_offer_push(VRCLink *l, struct encap_offer *o,
                         const struct encap_push *p);
/* The session's Max Payload Size. */
uint32_t vrc_link_mps(VRCLink *l);
void vrc_link_mem_write(VRCLink *l, uint16_t requester, uint64_t addr,
                        const void *buf, uint32_t len);
/* Send what is queued (VRCLinkConfig.defer_writes).  Any thread. */
void vrc_link_flush(VRCLink *l);

/*
 * Answer the non-posted request @req from the peer: Cpl with @status, or for
 * a successful read CplD(s) carrying @len bytes of @data (the bytes from the
 * request's first enabled byte; for Cfg/IO the whole DW), split at the Read
 * Completion Boundary and by MPS.  Any thread.
 */
void vrc_link_complete(VRCLink *l, const struct encap_tlp *req,
                       uint16_t completer, uint8_t status,
                       const void *data, uint32_t len);

void vrc_link_get_stats(VRCLink *l, VRCLinkStats *s);
/* The transport spec in use (VRCLinkConfig's transport or its fallback). */
/*
 * The network address the transport sends to ("udp:HOST:PORT"; a udp
 * listener's is the peer it learnt) into @buf: false if it has none.
 */
bool vrc_link_peer_address(VRCLink *l, char *buf, size_t len);
const char *vrc_link_transport(VRCLink *l);

#endif
