/* SPDX-License-Identifier: MIT */
/*
 * encap: the link layer: one session between a vrc (initiator) and an
 * endpoint (responder) over a lossy frame transport.
 *
 * DATA frames are numbered per direction and acknowledged cumulatively
 * (piggybacked on DATA going the other way, or in a CTRL ACK after a short
 * delay).  A receiver keeps the frames that arrive after a gap (up to its
 * window) and says which it holds (a selective-ack bitmap in CTRL ACK/NAK);
 * the sender resends just the frames missing: at once, when frames it sent
 * later have arrived (fast retransmit), or after a retransmission timeout
 * derived from the measured round trip.  The receiver delivers each TLP
 * exactly once, in order.  HELLO/HELLO_ACK open a session (a new epoch
 * resets it).
 *
 * The library owns no clock and no I/O: every entry point takes the time
 * (ns, any monotonic origin), frames leave through ops->send_frame and
 * arrive through encap_link_input().  encap_link_poll() runs the timers and
 * says when to call it next.
 *
 * Keepalive (cfg.keepalive_ns, off by default): while up, a side that has
 * heard nothing valid of the session for keepalive_ns sends a CTRL PING
 * (cookie 0), another each further keepalive_ns of silence, and goes down
 * once it has heard nothing for keepalive_ns * keepalive_misses (the
 * keepalive limit).  Every valid frame of the session counts as life:
 * DATA, ACK, NAK, PING, PONG.
 *
 * A responder that is up does not drop its session for a HELLO that would
 * open another one (from the peer's MAC, another session or epoch: a
 * restarted initiator, or a stranger forging one) while the session shows
 * life.  With keepalive on, such a HELLO is dropped and challenges the
 * session: a PING goes out at once, and if nothing valid of the session
 * arrives within the probe time, 2 * keepalive_ns (the keepalive limit if
 * that is shorter), the session goes down and the next HELLO opens a new
 * one.  So an initiator that restarted gets a session back at most one
 * HELLO interval (hello_ns) after the earlier of: the keepalive limit
 * counted from its old session's last frame, and the probe time counted
 * from its first HELLO.  Its HELLO retries must span that: hello_ns *
 * max_retries > 2 * keepalive_ns + hello_ns.  With keepalive off such a
 * HELLO ends the session at once, as it always did.
 *
 * With a pre-shared key (cfg.key) the session is authenticated: HELLO and
 * HELLO_ACK exchange fresh nonces and prove the key (the responder goes
 * up on the initiator's first sealed frame, which the initiator sends as
 * soon as it is up), each session gets its own keys per direction, and
 * every other frame is sealed with
 * AES-128-GCM (encap/seal.h; docs/protocol.md, section 7).  Without a key
 * the wire format is version 1, unchanged.  A keyed and an unkeyed side
 * never talk: each drops the other's frames (stats.key_mismatch).
 *
 * Request credit (cfg.rx_request_credit, off by default), as PCIe flow
 * control: a side that sets it lets its peer have at most that many
 * request TLPs (any TLP but Cpl/CplD) delivered to it and not yet
 * released by the application (encap_link_requests_done()).  It says so
 * in HELLO/HELLO_ACK and advertises its limit, released + credit, in
 * every ACK, NAK, PING and PONG: soon after a release when the peer has
 * used half of what it was last told, at once if it has used all of it.
 * The peer's encap_link_queue_tlp() refuses a request beyond the limit
 * (-ENCAP_E_CREDIT); completions always go.  A sender held by credit with
 * nothing unacknowledged probes with a PING (cookie 0) after its
 * retransmission timeout, backing off, so a lost update cannot stall it.
 * Each direction is independent; a peer that does not know the feature
 * is neither limited nor limits.  docs/protocol.md, section 4.1.
 *
 * Errors: negative enum encap_err.  Threads: none of this is thread-safe;
 * the caller serialises all calls on one link (callbacks run inside them).
 */
#ifndef ENCAP_LINK_H
#define ENCAP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/err.h"
#include "encap/frame.h"
#include "encap/tlp.h"

enum encap_link_state {
    ENCAP_LINK_DOWN,
    ENCAP_LINK_HELLO_SENT,
    ENCAP_LINK_UP,
};

struct encap_link_config {
    bool initiator;
    uint8_t own_mac[6];
    uint8_t peer_mac[6];        /* all zero: responder learns it from HELLO */
    uint16_t rc_id;
    uint16_t session;           /* initiator's choice */
    /*
     * Initiator: the epoch before its first connect.  A random one, so
     * that a restarted process that picks the same session by chance is
     * taken for a newer one, not a stale copy, at least half of the time.
     */
    uint32_t epoch;
    uint16_t max_frame;         /* bytes, Ethernet header included */
    uint16_t mps;               /* a multiple of 64, 128..4096 */
    uint16_t mrrs;              /* a power of two, 128..4096 */
    unsigned window;            /* unacknowledged DATA frames; 0: 256; <= 65536 */
    /*
     * Retransmission timeout before the round trip is measured (and the
     * scale of giving up: only timeouts of at least this long count
     * towards max_retries); 0: 20 ms.  Once measured, the timeout is
     * srtt + 4 rttvar (RFC 6298), kept within rto_min_ns..rto_max_ns and
     * doubled on each timeout in a row.
     */
    uint64_t rto_ns;
    uint64_t ack_delay_ns;      /* 0: 100 us */
    uint64_t hello_ns;          /* HELLO retry interval; 0: 100 ms */
    unsigned max_retries;       /* then the link is down; 0: 8 */
    uint64_t rto_min_ns;        /* floor of the measured timeout; 0: 1 ms */
    uint64_t rto_max_ns;        /* ceiling, backoff included; 0: 1 s */
    /*
     * Pre-shared key, ENCAP_PSK_MIN..ENCAP_PSK_MAX (16..256) bytes, copied
     * by encap_link_new(); NULL: no key (protocol version 1).  Both sides
     * need the same key; ops->random is then required.
     */
    const uint8_t *key;
    size_t key_len;
    /*
     * Keepalive: PING after this much silence while up; 0: off (the link
     * then goes down only when retransmissions run out, or on BYE).
     */
    uint64_t keepalive_ns;
    /* Down after keepalive_ns * keepalive_misses of silence; 0: 4. */
    unsigned keepalive_misses;
    /*
     * Request credit, in TLPs (< 2^31): the most request TLPs the peer may
     * have delivered to us and not released (encap_link_requests_done());
     * 0: no limit (the peer is not told of any).
     */
    unsigned rx_request_credit;
};

/* One frame of a burst: @len bytes at @data. */
struct encap_link_frame {
    const uint8_t *data;
    size_t len;
};

/* Most frames the link hands to ops->send_burst at once. */
#define ENCAP_LINK_BURST 32
/*
 * A responder without a key answers a frame of a session it is not up in
 * with a BYE in that session (docs/protocol.md, section 4), at most once
 * per session this often.
 */
#define ENCAP_LINK_STRANGER_BYE_NS 100000000ull

struct encap_link_ops {
    /* Send one frame. The return value is ignored: loss is recovered. */
    int (*send_frame)(void *opaque, const uint8_t *frame, size_t len);
    /*
     * Optional: send @n (1..ENCAP_LINK_BURST) frames in this order; return
     * how many were sent from the first (1..@n), or negative if none was.
     * The link calls it again for the rest after a short count, and counts
     * the rest lost (and recovers them) after a negative one.  @f and the
     * frames are valid during the call only.  When set, send_frame is not
     * used: the frames a call into the link produces are held and handed
     * over together before it returns (encap_link_queue_tlp() holds the
     * DATA frames it completes, up to ENCAP_LINK_BURST, until
     * encap_link_flush(), the next call that sends, or a full window).
     */
    int (*send_burst)(void *opaque, const struct encap_link_frame *f,
                      unsigned n);
    /*
     * One TLP of an in-order DATA frame, exactly once.  @tlp is valid
     * during the call only (it may point into the frame being input or
     * into a copy the link kept of a frame that arrived early).
     */
    void (*deliver_tlp)(void *opaque, const uint8_t *tlp, size_t len);
    /* DOWN/HELLO_SENT/UP; a peer's new session is DOWN then UP. */
    void (*state_changed)(void *opaque, enum encap_link_state state);
    /* Optional: a PONG came back. */
    void (*pong)(void *opaque, uint32_t cookie);
    /*
     * Fill @buf with @len unpredictable bytes (a cryptographic RNG: the
     * handshake's nonces).  0, or negative on failure (the handshake step
     * is then not taken).  Required with a key, unused without.
     */
    int (*random)(void *opaque, uint8_t *buf, size_t len);
    /*
     * Optional, responder: whether the initiator @mac with @rc_id may open
     * a new session (the endpoint's ownership rules).  Asked for each
     * HELLO that would open one, not for a retry of the current session;
     * false drops the HELLO (stats.hello_refused).
     */
    bool (*hello_allowed)(void *opaque, const uint8_t mac[6], uint16_t rc_id);
    /*
     * Optional, responder: the frame being input proves its sender to be
     * the peer: a HELLO that opens a new session (with a key: it
     * verified), before anything is sent in that session; with a key also
     * each sealed frame of the session that opens and is not a replay,
     * before it is acted on.  A transport that learns its peer from what
     * it receives takes that frame's sender as the peer here
     * (encap_transport_adopt_peer()): a keyed session follows a VM whose
     * address changes (a NAT rebinding).
     */
    void (*peer_proven)(void *opaque);
};

struct encap_link_stats {
    uint64_t frames_tx;
    uint64_t frames_rx;
    uint64_t data_tx;           /* new DATA frames */
    uint64_t tlps_tx;
    uint64_t tlps_rx;
    uint64_t retransmits;       /* DATA frames sent again, all reasons */
    uint64_t fast_retransmits;  /* of them, on selective-ack evidence */
    uint64_t tail_copies;       /* lossy mode: the newest frame of a flush
                                   sent twice (not retransmissions) */
    uint64_t lossy_ons;         /* times the loss estimate turned it on */
    uint64_t probes_needless;   /* tail probes whose first copy arrived:
                                   acked sooner than half a round trip */
    uint64_t resends_needless;  /* frames sent again that the peer says it
                                   already held (ENCAP_F_DUP): not counted
                                   towards lossy mode */
    uint64_t tail_probes;       /* of them, the newest frame sent again
                                   after two round trips without news */
    uint64_t timeouts;          /* retransmission timeouts */
    uint64_t timeouts_early;    /* of them, found to have come before late
                                   acks, not after a loss */
    uint64_t sacked;            /* our frames the peer said it holds early */
    uint64_t duplicates;        /* DATA frames received again */
    uint64_t out_of_order;      /* DATA frames received after a gap */
    uint64_t ooo_kept;          /* of them, kept until the gap filled */
    uint64_t acks_tx;           /* standalone CTRL ACKs */
    uint64_t naks_tx;
    uint64_t naks_rx;
    uint64_t window_full;
    uint64_t drops;             /* frames dropped, all reasons below */
    uint64_t drops_bad[ENCAP_E__COUNT];   /* encap_frame_parse failures */
    uint64_t drops_not_ours;    /* wrong destination or source MAC */
    uint64_t drops_session;     /* wrong rc id, session or stale epoch */
    uint64_t drops_state;       /* DATA before the session is up */
    uint64_t auth_fail;         /* keyed: a MAC or tag that does not verify,
                                   or a frame that should be sealed and is not */
    uint64_t replay;            /* keyed: a sealed frame seen before */
    uint64_t key_mismatch;      /* a keyed frame and we have no key, or an
                                   unkeyed one and we have a key */
    uint64_t hello_refused;     /* HELLOs ops->hello_allowed refused */
    uint64_t hello_probes;      /* HELLOs of another session held back
                                   while the live one was probed */
    uint64_t hello_refused_live;        /* probes the live session answered
                                           (not a drop reason) */
    uint64_t keepalive_downs;   /* downs for silence: keepalive limit or a
                                   probe unanswered (not a drop reason) */
    uint64_t byes_stranger;     /* responder: BYEs answering frames of a
                                   session it is not up in (not a drop
                                   reason; the frames are counted above);
                                   with a key, unsealed */
    uint64_t byes_unsealed;     /* keyed initiator: an endpoint's unsealed
                                   BYE in our session, which asked the
                                   session at once (not a drop reason) */
    uint64_t ups;
    uint64_t downs;
    uint64_t rtt_samples;
    uint64_t srtt_ns;           /* smoothed round trip; 0: not measured */
    uint64_t rttvar_ns;
    uint64_t rto_cur_ns;        /* the retransmission timeout now */
    /* Request credit, sending: limited by the peer's. */
    uint64_t credit_waits;      /* requests refused, -ENCAP_E_CREDIT */
    uint64_t credit_probes;     /* PINGs sent while held by credit */
    uint64_t credit_limit_left; /* requests we may still send now; 0
                                   when the peer sets no limit */
    /* Request credit, receiving (cfg.rx_request_credit). */
    uint64_t credit_updates;    /* ACKs sent for a limit the peer needed */
    uint64_t credit_overruns;   /* requests delivered beyond our limit */
    uint64_t credit_backlog;    /* requests delivered, not released, now */
    uint64_t credit_backlog_max;        /* the most there were */
    uint64_t credit_bad_release;        /* requests_done() of more than
                                           delivered: not counted */
    uint64_t requests_rx;       /* request TLPs delivered, counted */
};

struct encap_link;

struct encap_link *encap_link_new(const struct encap_link_config *cfg,
                                  const struct encap_link_ops *ops,
                                  void *opaque);
void encap_link_free(struct encap_link *l);

/* Initiator: open a new session (new epoch). */
int encap_link_connect(struct encap_link *l, uint64_t now);
/* Say BYE and go down. */
void encap_link_close(struct encap_link *l, uint64_t now);

/* A frame received. Returns 0 or the reason it was dropped. */
int encap_link_input(struct encap_link *l, const uint8_t *frame, size_t len,
                     uint64_t now);

/*
 * Append a TLP to the DATA frame being built, sending that frame first if
 * the TLP does not fit.  -ENCAP_E_NOSPACE when the window is full (nothing
 * queued: wait for acks and retry), -ENCAP_E_CREDIT for a request beyond
 * the peer's request limit (below), -ENCAP_E_FIELD while not up, other
 * errors if @t does not encode.
 */
int encap_link_queue_tlp(struct encap_link *l, const struct encap_tlp *t,
                         const struct encap_tlp_limits *lim, uint64_t now);
/* Send the frame being built, if any. */
void encap_link_flush(struct encap_link *l, uint64_t now);

/*
 * encap_link_queue_tlp() of a request TLP (any but Cpl/CplD) also returns
 * -ENCAP_E_CREDIT, queueing nothing, when the peer limits our requests
 * and we have sent as many as it allows: keep it (and the requests after
 * it: order) and try again after encap_link_input() or encap_link_poll().
 * Completions are never refused for credit.  The number of requests that
 * may be queued now; UINT32_MAX when the peer sets no limit, 0 when down.
 */
uint32_t encap_link_request_room(const struct encap_link *l);

/*
 * The application has finished with (executed, or discarded) @n more of the
 * request TLPs ops->deliver_tlp gave it in this session, in any order: the
 * peer may send @n more (cfg.rx_request_credit).  The new limit goes out
 * in the next ACK, soon if the peer may be waiting for it.  Requests of an
 * earlier session are not counted: once the link went down, the
 * application drops what it held of that session and does not report it.
 * Ignored while not up, or without rx_request_credit.
 */
void encap_link_requests_done(struct encap_link *l, unsigned n, uint64_t now);

/* Run the timers. Returns the time of the next deadline, 0 if none. */
uint64_t encap_link_poll(struct encap_link *l, uint64_t now);

/*
 * Send a PING; its PONG comes back through ops->pong.  The link's own
 * keepalive PINGs carry cookie 0 (and their PONGs are reported too): use
 * other cookies to tell yours apart.
 */
int encap_link_ping(struct encap_link *l, uint32_t cookie, uint64_t now);

/*
 * Initiator: the peer the next encap_link_connect() talks to (@mac not all
 * zero).  -ENCAP_E_FIELD on a responder, for a zero MAC, or while up.
 */
int encap_link_set_peer(struct encap_link *l, const uint8_t mac[6]);

enum encap_link_state encap_link_state(const struct encap_link *l);
/* Sizes agreed in HELLO/HELLO_ACK (the configured ones before). */
uint16_t encap_link_mps(const struct encap_link *l);
/*
 * The largest Max Payload Size (a multiple of 64, 128..4096) whose MWr,
 * with its record, vrc and Ethernet headers and CRC, fits a frame of
 * @max_frame bytes (Ethernet header included); 128 if none does.
 */
uint16_t encap_mps_for_frame(unsigned max_frame);
uint16_t encap_link_mrrs(const struct encap_link *l);
unsigned encap_link_unacked(const struct encap_link *l);
/*
 * Delivery of what was queued so far: encap_link_mark() names the newest
 * DATA frame holding it (call after encap_link_flush()), and
 * encap_link_delivered() says whether the peer has acknowledged that frame
 * (and so everything queued before the mark).  Marks are meaningful within
 * one session: after the link went down, nothing counts as delivered.
 */
uint32_t encap_link_mark(const struct encap_link *l);
bool encap_link_delivered(const struct encap_link *l, uint32_t mark);
/* Whether a DATA frame from the peer is missing (later ones are held). */
bool encap_link_rx_gap(const struct encap_link *l);
/*
 * When the last new DATA frame of the session arrived (the caller's clock;
 * 0: none): a peer busy sending TLPs, not merely acking or answering PINGs.
 */
uint64_t encap_link_data_ns(const struct encap_link *l);
void encap_link_get_stats(const struct encap_link *l,
                          struct encap_link_stats *s);

#endif
