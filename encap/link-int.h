/* SPDX-License-Identifier: MIT */
/*
 * encap: the link's state, shared by the files that make it up:
 *   link.c         sessions (HELLO, keys, keepalive), frames out, input, timers
 *   link-send.c    sending DATA: frames, acks, round trips, retransmission
 *   link-recv.c    receiving DATA: in order, kept after a gap, acks out
 *   link-credit.c  request credit (docs/protocol.md, section 4.1), both ways
 * Not part of the library's interface (that is encap/link.h).
 */
#ifndef ENCAP_LINK_INT_H
#define ENCAP_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "encap/link.h"
#include "encap/seal.h"
#include "frame-int.h"

/*
 * A frame is taken as lost once this many frames sent after it have
 * arrived (fewer when fewer were sent after it: early retransmit).
 */
#define DUPTHRESH 3
#define LOSSY_EPOCH 256           /* new DATA frames per loss estimate */
#define LOSSY_ON_PERMILLE 40      /* 4% of new frames sent again: lossy */
#define LOSSY_OFF_PERMILLE 15
#define LOSSY_HOLD 8              /* epochs it stays on before a new look */
/* Selective-ack bitmap: at most this many sequence numbers after the ack. */
#define SACK_MAX_BITS 2048
#define SACK_HLEN 4             /* bit count (2), reserved (2) */

struct tx_slot {
    size_t len;
    uint8_t *buf;               /* max_frame bytes */
    uint32_t seq;               /* the frame's: the slot outlives its ack */
    uint64_t first_ns;          /* first transmission */
    uint64_t acked_ns;          /* sent again: when the peer first had it */
    uint64_t sent_ns;           /* last transmission */
    uint64_t stamp;             /* order of the last transmission */
    bool sacked;                /* the peer holds it (selective ack) */
    bool retx;                  /* sent more than once: no RTT sample */
    unsigned resent;            /* copies in epoch_resent the peer has not
                                   reported needless (ENCAP_F_DUP) */
    bool copied;                /* a lossy-mode copy went with it, counted
                                   in epoch_resent until the peer reports
                                   it had both */
};

/* A DATA frame that arrived after a gap: its records, kept. */
struct rx_slot {
    bool held;
    unsigned count;
    size_t len;
    uint8_t *buf;               /* max_frame bytes, allocated when needed */
};

struct encap_link {
    struct encap_link_config cfg;
    const struct encap_link_ops *ops;
    void *opaque;
    enum encap_link_state state;
    bool peer_fixed;            /* peer_mac configured, not learnt */
    uint32_t epoch;
    bool served;                /* responder: has been up in this epoch */
    uint16_t mps, mrrs, max_frame;      /* agreed */

    /*
     * Sending: frames snd_una .. snd_nxt-1 are kept in ring[seq & ring_mask]
     * (slots: the window rounded up to a power of two, so that the index
     * stays right where seq wraps around 2^32).
     */
    unsigned ring_mask;
    struct tx_slot *ring;
    uint32_t snd_una;
    uint32_t snd_nxt;
    struct encap_frame_builder build;
    bool building;
    uint64_t rto_deadline;      /* 0: no timer */
    uint64_t rto_cur;           /* backoff included */
    unsigned retries;
    uint64_t srtt, rttvar;      /* ns; srtt 0: no sample yet */
    uint64_t tx_stamp;          /* DATA transmissions so far */
    /*
     * Tail-loss probe: when no news of the frames in flight has come for
     * about two round trips, the newest of them is sent again (once per
     * episode), well before the retransmission timeout.  0: not armed.
     */
    uint64_t pto_deadline;
    bool probed;
    /*
     * Lossy mode: on a wire where many frames need sending again, the
     * newest frame of each flush goes out twice at once, so that one loss
     * (or one frame held back) no longer costs a probe timeout.  Measured
     * per epoch of LOSSY_EPOCH new frames: on at LOSSY_ON_PERMILLE frames
     * resent per new frame, off below LOSSY_OFF_PERMILLE.  A resend the
     * peer reports it already had (ENCAP_F_DUP: a late ack, not a loss)
     * is taken back out.  In lossy mode its copies hide the losses they
     * mend: each copy counts as a resend until the peer reports it had
     * both, so the estimate stays what it would be without them.
     */
    bool lossy;
    unsigned lossy_hold;        /* epochs to stay on before looking again */
    bool fresh;                 /* a new DATA frame since the last flush */
    unsigned epoch_new, epoch_resent;
    /*
     * The last probe, until the peer has its frame: an ack sooner than
     * half a round trip after it was for the first copy, so the probe was
     * needless (a slow answer, not a loss; stats.probes_needless).
     */
    bool probe_pending;
    uint32_t probe_seq;
    uint64_t probe_sent_ns;
    uint64_t delivered_stamp;   /* latest transmission known to arrive */
    /*
     * Receiving: a DATA frame we already held came again; the next ACK or
     * NAK reports its seq with ENCAP_F_DUP.
     */
    bool dup_pending;
    bool dup_resent;            /* the duplicate was marked ENCAP_F_RESENT */
    uint32_t dup_seq;
    /*
     * After a retransmission timeout the frames sent before it (up to
     * rto_end) are in doubt: lost, or only their acks late (a peer or a
     * thread that was not scheduled for a while).  They go again a few
     * at a time, from the oldest: one, then twice as many each round the
     * peer answers with the last of the round (rto_last) and nothing
     * else.  rto_arrived: one of them turned up without being resent:
     * late acks, and the episode ends.
     */
    bool rto_doubt;
    bool rto_arrived;
    uint32_t rto_end, rto_last;
    unsigned rto_count;

    /* Receiving: frames after rcv_nxt kept in rx[seq & ring_mask]. */
    struct rx_slot *rx;
    unsigned rx_held;
    uint32_t rcv_nxt;
    uint64_t data_ns;           /* when the last new DATA frame arrived */
    unsigned unacked_rx;        /* frames received since our last ack */
    uint64_t ack_deadline;      /* 0: nothing to acknowledge */

    uint64_t hello_deadline;

    /*
     * Responder: the session last told with a BYE that we are not up in
     * it (bye_stranger()), and when.
     */
    uint32_t bye_epoch;
    uint16_t bye_session, bye_rc_id;
    uint64_t bye_ns;

    /*
     * Keepalive (cfg.keepalive_ns): when the session last showed life, the
     * next PING, and the time a HELLO of another session challenged it
     * (responder; 0: no challenge pending).
     */
    uint64_t heard_ns;
    uint64_t ping_deadline;
    uint64_t probe_deadline;
    uint64_t ka_limit;          /* keepalive_ns * keepalive_misses */
    uint64_t probe_ns;          /* 2 * keepalive_ns, at most ka_limit */

    /*
     * Request credit (docs/protocol.md, section 4.1), serial counts of the
     * session.  Sending: requests queued, and the peer's limit if it set
     * one; held since a request was refused, and the PING probe's timer.
     * Receiving (cfg.rx_request_credit): requests delivered and released,
     * the limit last advertised, and when an ACK should carry a new one.
     */
    bool peer_credit;
    uint32_t req_sent;
    uint32_t peer_limit;
    bool credit_held;
    uint64_t credit_probe_deadline;
    uint64_t credit_probe_ns;
    uint32_t req_delivered;
    uint32_t req_released;
    uint32_t adv_limit;
    uint64_t update_deadline;

    uint8_t ctrl_buf[ENCAP_FRAME_OVERHEAD + ENCAP_CTRL_LEN + SACK_HLEN +
                     SACK_MAX_BITS / 8];
    struct encap_link_stats stats;

    /* Keyed sessions (cfg.key): docs/protocol.md, section 7. */
    bool keyed;
    unsigned seal_ovh;          /* ENCAP_SEAL_OVERHEAD when keyed, else 0 */
    uint8_t *psk;
    size_t psk_len;
    uint8_t hello_key[ENCAP_SHA256_LEN];
    uint8_t ni[ENCAP_NONCE_LEN];        /* the session's nonces */
    uint8_t nr[ENCAP_NONCE_LEN];
    bool have_keys;             /* keys of (session, epoch) installed */
    /*
     * Responder: HELLO_ACK sent, waiting for the initiator's first sealed
     * frame (its proof of the key under keys bound to both nonces) to go
     * up.
     */
    bool confirming;
    struct encap_session_keys keys;
    struct encap_aead *tx_aead, *rx_aead;
    uint64_t tx_ctr;            /* next sealing counter */
    struct encap_replay rx_win;
    uint8_t *seal_buf;          /* a frame being sealed */
    size_t seal_cap;
    uint8_t *open_buf;          /* the frame last opened */
    size_t open_cap;

    /*
     * With ops->send_burst: the frames sent but not yet handed over, in
     * order.  Each points into a tx ring slot (an unsealed DATA frame) or
     * into its own copy slot of burst_buf (burst_cap bytes each: a CTRL
     * frame, or a sealed frame).
     */
    struct encap_link_frame burst[ENCAP_LINK_BURST];
    unsigned burst_n;
    uint8_t *burst_buf;
    size_t burst_cap;
};

/* Sequence number comparison modulo 2^32. */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

/* link.c */
void link_set_state(struct encap_link *l, enum encap_link_state s);
void link_fill_hdr(struct encap_link *l, struct encap_frame_hdr *h,
                   uint8_t type);
void link_burst_push(struct encap_link *l);
void link_send_raw(struct encap_link *l, const uint8_t *f, size_t len,
                   bool kept);
void link_send_ctrl(struct encap_link *l, uint8_t op, uint32_t cookie);

/* link-send.c */
uint64_t link_rto_base(const struct encap_link *l);
void link_arm_rto(struct encap_link *l, uint64_t now);
void link_tail_probe(struct encap_link *l, uint64_t now);
void link_finish_data(struct encap_link *l, uint64_t now);
void link_resend_needless(struct encap_link *l, uint32_t seq);
void link_copy_needless(struct encap_link *l, uint32_t seq);
void link_fast_retransmit(struct encap_link *l, uint64_t now);
void link_retransmit_all(struct encap_link *l, uint64_t now);
void link_rto_answered(struct encap_link *l, uint64_t now);
bool link_process_ack(struct encap_link *l, uint32_t ack, uint64_t now);
int link_process_sack(struct encap_link *l, uint32_t ack,
                      const uint8_t *p, size_t len, uint64_t now);
void link_rto_expired(struct encap_link *l, uint64_t now);

/* link-recv.c */
size_t link_sack_encode(struct encap_link *l, uint8_t *p);
void link_input_data(struct encap_link *l, const struct encap_frame_view *v,
                     uint64_t now);

/* link-credit.c */
void link_credit_fill(struct encap_link *l, struct encap_ctrl *c);
bool link_tlp_is_request(const struct encap_tlp *t);
bool link_credit_exhausted(const struct encap_link *l);
void link_credit_refused(struct encap_link *l, uint64_t now);
void link_credit_limit(struct encap_link *l, uint32_t limit);
void link_credit_probe(struct encap_link *l, uint64_t now);
void link_credit_delivered(struct encap_link *l);
void link_credit_update(struct encap_link *l, uint64_t now);
void link_agree_credit(struct encap_link *l, const struct encap_ctrl *c);

#endif
