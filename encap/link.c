/* SPDX-License-Identifier: MIT */
/* encap: link layer: sessions, sequence numbers, acks, retransmission. */
#include <stdlib.h>
#include <string.h>

#include "encap/link.h"
#include "encap/seal.h"
#include "frame-int.h"
#include "wire.h"

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

static const uint8_t zero_mac[6];

/* Sequence number comparison modulo 2^32. */
static bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static void set_state(struct encap_link *l, enum encap_link_state s)
{
    if (l->state == s) {
        return;
    }
    if (s == ENCAP_LINK_UP) {
        l->stats.ups++;
    } else if (l->state == ENCAP_LINK_UP) {
        l->stats.downs++;
    }
    if (s != ENCAP_LINK_UP) {
        l->ping_deadline = 0;
        l->probe_deadline = 0;
    }
    l->state = s;
    if (l->ops->state_changed) {
        l->ops->state_changed(l->opaque, s);
    }
}

/*
 * A valid frame of the session in which we are up (or the session just
 * came up): the peer is alive.  That answers a pending challenge.
 */
static void heard(struct encap_link *l, uint64_t now)
{
    if (l->probe_deadline) {
        l->probe_deadline = 0;
        l->stats.hello_refused_live++;
    }
    l->heard_ns = now;
    l->ping_deadline = l->cfg.keepalive_ns ? now + l->cfg.keepalive_ns : 0;
}

static void go_up(struct encap_link *l, uint64_t now)
{
    heard(l, now);
    set_state(l, ENCAP_LINK_UP);
}

static void fill_hdr(struct encap_link *l, struct encap_frame_hdr *h,
                     uint8_t type)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->dst, l->cfg.peer_mac, 6);
    memcpy(h->src, l->cfg.own_mac, 6);
    h->type = type;
    h->flags = l->cfg.initiator ? 0 : ENCAP_F_RESP;
    h->rc_id = l->cfg.rc_id;
    h->session = l->cfg.session;
    h->epoch = l->epoch;
}

/* The direction of the frames we send and of those we receive. */
static enum encap_dir tx_dir(const struct encap_link *l)
{
    return l->cfg.initiator ? ENCAP_DIR_I2R : ENCAP_DIR_R2I;
}

static enum encap_dir rx_dir(const struct encap_link *l)
{
    return l->cfg.initiator ? ENCAP_DIR_R2I : ENCAP_DIR_I2R;
}

static void drop_keys(struct encap_link *l)
{
    encap_aead_free(l->tx_aead);
    encap_aead_free(l->rx_aead);
    l->tx_aead = l->rx_aead = NULL;
    l->have_keys = false;
    encap_wipe(&l->keys, sizeof(l->keys));
}

/* The keys of the session (cfg.session, epoch) from @ni and @nr. */
static void derive_keys(struct encap_link *l, const uint8_t *ni,
                        const uint8_t *nr, const uint8_t *peer_mac,
                        struct encap_session_keys *k)
{
    struct encap_session_ctx ctx = {
        .rc_id = l->cfg.rc_id, .session = l->cfg.session, .epoch = l->epoch,
    };

    memcpy(l->cfg.initiator ? ctx.initiator_mac : ctx.responder_mac,
           l->cfg.own_mac, 6);
    memcpy(l->cfg.initiator ? ctx.responder_mac : ctx.initiator_mac,
           peer_mac, 6);
    encap_session_keys(l->psk, l->psk_len, ni, nr, &ctx, k);
}

/* Use @k from now on: counters from 0, an empty replay window. */
static bool install_keys(struct encap_link *l, struct encap_session_keys *k)
{
    drop_keys(l);
    l->keys = *k;
    encap_wipe(k, sizeof(*k));
    l->tx_aead = encap_aead_new(l->cfg.initiator ? l->keys.i2r : l->keys.r2i);
    l->rx_aead = encap_aead_new(l->cfg.initiator ? l->keys.r2i : l->keys.i2r);
    if (!l->tx_aead || !l->rx_aead) {
        drop_keys(l);
        return false;
    }
    l->tx_ctr = 0;
    encap_replay_reset(&l->rx_win);
    l->have_keys = true;
    return true;
}

/* The copy slot of the next frame of the burst. */
static uint8_t *burst_slot(struct encap_link *l)
{
    return l->burst_buf + l->burst_n * l->burst_cap;
}

/*
 * Hand the transport the frames held, in order, in as few calls as it
 * takes.  Frames it does not take are lost, and recovered as any loss is.
 */
static void burst_push(struct encap_link *l)
{
    unsigned done = 0;

    while (done < l->burst_n) {
        int r = l->ops->send_burst(l->opaque, l->burst + done,
                                   l->burst_n - done);

        if (r <= 0) {
            break;
        }
        done += r;
    }
    l->burst_n = 0;
}

/*
 * A frame as it is: HELLO and HELLO_ACK, or anything without a key.
 * @kept: @f stays as it is until the next call into the link (a tx ring
 * slot, or a burst copy slot), so a burst may point at it.
 */
static void send_plain(struct encap_link *l, const uint8_t *f, size_t len,
                       bool kept)
{
    l->stats.frames_tx++;
    if (!l->ops->send_burst) {
        l->ops->send_frame(l->opaque, f, len);
        return;
    }
    if (!kept) {
        memcpy(burst_slot(l), f, len);
        f = burst_slot(l);
    }
    l->burst[l->burst_n++] = (struct encap_link_frame) { f, len };
    if (l->burst_n == ENCAP_LINK_BURST) {
        burst_push(l);
    }
}

/*
 * Every frame but HELLO/HELLO_ACK.  With a key it leaves sealed under a
 * fresh counter (a retransmission too), or not at all.  @kept as for
 * send_plain().
 */
static void send_raw(struct encap_link *l, const uint8_t *f, size_t len,
                     bool kept)
{
    if (l->keyed) {
        uint8_t *out = l->ops->send_burst ? burst_slot(l) : l->seal_buf;
        size_t cap = l->ops->send_burst ? l->burst_cap : l->seal_cap;
        int n;

        if (!l->have_keys || l->tx_ctr > ENCAP_SEAL_CTR_MAX) {
            return;
        }
        n = encap_frame_seal(l->tx_aead, tx_dir(l), l->tx_ctr, f, len,
                             out, cap);
        if (n < 0) {
            return;
        }
        l->tx_ctr++;
        f = out;
        len = n;
        kept = true;
    }
    send_plain(l, f, len, kept);
}

/*
 * The selective-ack block of an ACK/NAK (docs/protocol.md, section 4):
 * which frames after rcv_nxt we hold, as many as the bitmap and the
 * agreed frame size allow.  Returns its length in @p.
 */
static size_t sack_encode(struct encap_link *l, uint8_t *p)
{
    unsigned cap = (l->max_frame - l->seal_ovh - ENCAP_FRAME_OVERHEAD -
                    ENCAP_CTRL_LEN - SACK_HLEN) * 8;
    unsigned bits = 0;

    cap = cap < SACK_MAX_BITS ? cap : SACK_MAX_BITS;
    if (l->rx_held) {
        /* Highest frame held, within what the bitmap covers. */
        for (unsigned i = l->cfg.window - 1; i > 0; i--) {
            if (i <= cap && l->rx[(l->rcv_nxt + i) & l->ring_mask].held) {
                bits = (i + 7) & ~7u;
                break;
            }
        }
    }
    wire_put16(p, bits);
    wire_put16(p + 2, 0);
    memset(p + SACK_HLEN, 0, bits / 8);
    for (unsigned i = 0; i < bits; i++) {
        if (l->rx[(l->rcv_nxt + 1 + i) & l->ring_mask].held &&
            i + 1 < l->cfg.window) {
            p[SACK_HLEN + i / 8] |= 0x80 >> (i % 8);
        }
    }
    return SACK_HLEN + bits / 8;
}

/* The limit we advertise: the peer may have sent this many requests. */
static uint32_t rx_limit(const struct encap_link *l)
{
    return l->req_released + l->cfg.rx_request_credit;
}

/*
 * Our side of the request credit in a CTRL frame (docs/protocol.md,
 * section 4.1): in HELLO/HELLO_ACK the feature and the credit, in ACK,
 * NAK, PING and PONG of the session we are up in the current limit (from
 * now on the one the peer knows, as far as we can tell).
 */
static void credit_fill(struct encap_link *l, struct encap_ctrl *c)
{
    if (!l->cfg.rx_request_credit) {
        return;
    }
    switch (c->op) {
    case ENCAP_CTRL_HELLO:
    case ENCAP_CTRL_HELLO_ACK:
        c->features = ENCAP_CTRL_F_CREDIT;
        c->credit = l->cfg.rx_request_credit;
        break;
    case ENCAP_CTRL_ACK:
    case ENCAP_CTRL_NAK:
    case ENCAP_CTRL_PING:
    case ENCAP_CTRL_PONG:
        if (l->state == ENCAP_LINK_UP) {
            c->limit = rx_limit(l);
            l->adv_limit = c->limit;
            l->update_deadline = 0;
        }
        break;
    }
}

static void send_ctrl(struct encap_link *l, uint8_t op, uint32_t cookie)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    struct encap_ctrl c = {
        .op = op, .max_frame = l->max_frame, .mps = l->mps,
        .mrrs = l->mrrs, .cookie = cookie,
    };
    uint8_t body[ENCAP_CTRL_LEN + SACK_HLEN + SACK_MAX_BITS / 8];
    size_t len = ENCAP_CTRL_LEN, body_len;
    bool hello = op == ENCAP_CTRL_HELLO || op == ENCAP_CTRL_HELLO_ACK;

    fill_hdr(l, &h, ENCAP_FRAME_CTRL);
    if (l->state == ENCAP_LINK_UP) {
        h.flags |= ENCAP_F_ACK;
        h.ack = l->rcv_nxt;
    }
    if (l->dup_pending && (op == ENCAP_CTRL_ACK || op == ENCAP_CTRL_NAK)) {
        h.flags |= ENCAP_F_DUP | (l->dup_resent ? ENCAP_F_RESENT : 0);
        h.seq = l->dup_seq;
        l->dup_pending = false;
    }
    credit_fill(l, &c);
    encap_ctrl_encode(&c, body, sizeof(body));
    if ((op == ENCAP_CTRL_ACK || op == ENCAP_CTRL_NAK) &&
        (h.flags & ENCAP_F_ACK)) {
        len += sack_encode(l, body + ENCAP_CTRL_LEN);
    }
    if (l->keyed && hello) {
        /* Our nonce, then the MAC (section 7.2). */
        memcpy(body + ENCAP_CTRL_LEN,
               op == ENCAP_CTRL_HELLO ? l->ni : l->nr, ENCAP_NONCE_LEN);
        memset(body + ENCAP_CTRL_LEN + ENCAP_NONCE_LEN, 0, ENCAP_HELLO_MAC_LEN);
        len = ENCAP_HELLO_KEYED_LEN;
    }
    body_len = len;
    encap_frame_begin(&b, l->ctrl_buf, sizeof(l->ctrl_buf), &h);
    encap_frame_add_payload(&b, body, body_len);
    len = encap_frame_finish(&b);
    if (l->keyed && hello) {
        if (op == ENCAP_CTRL_HELLO) {
            encap_hello_sign(l->ctrl_buf, len, l->hello_key, NULL);
        } else if (l->have_keys) {
            encap_hello_sign(l->ctrl_buf, len, l->keys.ack, l->ni);
        } else {
            return;
        }
        send_plain(l, l->ctrl_buf, len, false);
    } else {
        send_raw(l, l->ctrl_buf, len, false);
        if (l->lossy && op == ENCAP_CTRL_ACK) {
            /* Lossy mode: a lost ack would cost the peer a probe.  The
             * copy does not report the duplicate again. */
            if (h.flags & ENCAP_F_DUP) {
                h.flags &= ~(ENCAP_F_DUP | ENCAP_F_RESENT);
                h.seq = 0;
                encap_frame_begin(&b, l->ctrl_buf, sizeof(l->ctrl_buf), &h);
                encap_frame_add_payload(&b, body, body_len);
                len = encap_frame_finish(&b);
            }
            l->stats.tail_copies++;
            send_raw(l, l->ctrl_buf, len, false);
        }
    }
    if ((op == ENCAP_CTRL_ACK || op == ENCAP_CTRL_NAK) &&
        (h.flags & ENCAP_F_ACK)) {
        /*
         * The peer takes the ack of ACK and NAK only (it reads no further
         * into PING, PONG or HELLO_ACK): only these stand for the ACK
         * that was due.
         */
        l->unacked_rx = 0;
        l->ack_deadline = 0;
    }
}

/* Smallest frame a session may agree on: one MWr of the smallest MPS. */
#define MIN_FRAME (ENCAP_FRAME_OVERHEAD + ENCAP_REC_HLEN + ENCAP_TLP_MAX_HDR + 128)

static bool pow2_size_ok(unsigned v)
{
    return v >= 128 && v <= 4096 && !(v & (v - 1));
}

/*
 * A payload size (MPS) a session may use: a multiple of 64 bytes, the Read
 * Completion Boundary, from 128 to 4096.  Not only powers of two: PCIe's
 * MPS settings are, but any payload up to the setting is legal, and at
 * MTU 1500 the largest that fits a frame is 1408 bytes, not 1024.
 */
static bool payload_size_ok(unsigned v)
{
    return v >= 128 && v <= 4096 && !(v % 64);
}

static void reset_seq(struct encap_link *l)
{
    l->snd_una = l->snd_nxt = 0;
    l->rcv_nxt = 0;
    l->building = false;
    l->rto_deadline = 0;
    l->pto_deadline = 0;
    l->probed = false;
    l->lossy = l->fresh = l->probe_pending = false;
    l->rto_doubt = false;
    l->lossy_hold = 0;
    l->epoch_new = l->epoch_resent = 0;
    l->dup_pending = false;
    for (unsigned i = 0; i <= l->ring_mask; i++) {
        l->ring[i].resent = 0;  /* no report of the last session counts */
        l->ring[i].copied = false;
    }
    l->srtt = l->rttvar = 0;
    l->rto_cur = l->cfg.rto_ns;
    l->retries = 0;
    l->tx_stamp = l->delivered_stamp = 0;
    l->unacked_rx = 0;
    l->ack_deadline = 0;
    for (unsigned i = 0; i <= l->ring_mask; i++) {
        l->rx[i].held = false;
    }
    l->rx_held = 0;
    l->peer_credit = false;
    l->req_sent = l->peer_limit = 0;
    l->credit_held = false;
    l->credit_probe_deadline = 0;
    l->req_delivered = l->req_released = 0;
    l->adv_limit = l->cfg.rx_request_credit;    /* said in HELLO(_ACK) */
    l->update_deadline = 0;
}

struct encap_link *encap_link_new(const struct encap_link_config *cfg,
                                  const struct encap_link_ops *ops,
                                  void *opaque)
{
    struct encap_link *l;

    unsigned ovh = cfg->key ? ENCAP_SEAL_OVERHEAD : 0;

    if (cfg->max_frame < MIN_FRAME + ovh || !payload_size_ok(cfg->mps) ||
        !pow2_size_ok(cfg->mrrs) || cfg->window > 65536 ||
        (!ops->send_frame && !ops->send_burst) || !ops->deliver_tlp ||
        cfg->rx_request_credit > INT32_MAX) {
        return NULL;
    }
    if (cfg->key && (cfg->key_len < ENCAP_PSK_MIN ||
                     cfg->key_len > ENCAP_PSK_MAX || !ops->random)) {
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    l->cfg = *cfg;
    l->cfg.key = NULL;          /* our copy is l->psk */
    l->cfg.key_len = 0;
    if (cfg->key) {
        l->keyed = true;
        l->seal_ovh = ovh;
        l->psk = malloc(cfg->key_len);
        l->seal_cap = (cfg->max_frame > sizeof(l->ctrl_buf) ?
                       cfg->max_frame : sizeof(l->ctrl_buf)) + ovh;
        l->seal_buf = malloc(l->seal_cap);
        l->open_cap = cfg->max_frame;
        l->open_buf = malloc(l->open_cap);
        if (!l->psk || !l->seal_buf || !l->open_buf) {
            free(l->psk);
            free(l->seal_buf);
            free(l->open_buf);
            free(l);
            return NULL;
        }
        memcpy(l->psk, cfg->key, cfg->key_len);
        l->psk_len = cfg->key_len;
        encap_hello_key(l->psk, l->psk_len, l->hello_key);
    }
    l->epoch = cfg->epoch;
    l->cfg.window = cfg->window ?: 256;
    l->cfg.rto_ns = cfg->rto_ns ?: 20000000;
    l->cfg.ack_delay_ns = cfg->ack_delay_ns ?: 100000;
    l->cfg.hello_ns = cfg->hello_ns ?: 100000000;
    l->cfg.max_retries = cfg->max_retries ?: 8;
    l->cfg.rto_min_ns = cfg->rto_min_ns ?: 1000000;
    l->cfg.rto_max_ns = cfg->rto_max_ns ?: 1000000000;
    if (l->cfg.rto_max_ns < l->cfg.rto_min_ns) {
        l->cfg.rto_max_ns = l->cfg.rto_min_ns;
    }
    l->cfg.keepalive_misses = cfg->keepalive_misses ?: 4;
    if (l->cfg.keepalive_ns > UINT64_MAX / 2 / l->cfg.keepalive_misses) {
        l->cfg.keepalive_ns = UINT64_MAX / 2 / l->cfg.keepalive_misses;
    }
    l->ka_limit = l->cfg.keepalive_ns * l->cfg.keepalive_misses;
    l->probe_ns = l->cfg.keepalive_misses < 2 ? l->ka_limit
                                              : 2 * l->cfg.keepalive_ns;
    l->ops = ops;
    l->opaque = opaque;
    l->peer_fixed = memcmp(cfg->peer_mac, zero_mac, 6) != 0;
    l->mps = cfg->mps;
    l->mrrs = cfg->mrrs;
    l->max_frame = cfg->max_frame;
    l->ring_mask = 1;
    while (l->ring_mask < l->cfg.window) {
        l->ring_mask <<= 1;
    }
    l->ring_mask--;
    l->ring = calloc(l->ring_mask + 1, sizeof(*l->ring));
    l->rx = calloc(l->ring_mask + 1, sizeof(*l->rx));
    if (!l->ring || !l->rx) {
        encap_link_free(l);
        return NULL;
    }
    for (unsigned i = 0; i <= l->ring_mask; i++) {
        l->ring[i].buf = malloc(cfg->max_frame);
        if (!l->ring[i].buf) {
            encap_link_free(l);
            return NULL;
        }
    }
    if (ops->send_burst) {
        l->burst_cap = (cfg->max_frame > sizeof(l->ctrl_buf) ?
                        cfg->max_frame : sizeof(l->ctrl_buf)) + ovh;
        l->burst_buf = malloc(ENCAP_LINK_BURST * l->burst_cap);
        if (!l->burst_buf) {
            encap_link_free(l);
            return NULL;
        }
    }
    reset_seq(l);
    return l;
}

void encap_link_free(struct encap_link *l)
{
    if (!l) {
        return;
    }
    for (unsigned i = 0; l->ring && l->rx && i <= l->ring_mask; i++) {
        free(l->ring[i].buf);
        free(l->rx[i].buf);
    }
    free(l->ring);
    free(l->rx);
    drop_keys(l);
    if (l->psk) {
        encap_wipe(l->psk, l->psk_len);
        free(l->psk);
    }
    encap_wipe(l->hello_key, sizeof(l->hello_key));
    free(l->seal_buf);
    free(l->open_buf);
    free(l->burst_buf);
    free(l);
}

int encap_link_connect(struct encap_link *l, uint64_t now)
{
    if (!l->cfg.initiator) {
        return -ENCAP_E_FIELD;
    }
    set_state(l, ENCAP_LINK_DOWN);
    if (l->keyed) {
        drop_keys(l);
        if (l->ops->random(l->opaque, l->ni, sizeof(l->ni)) < 0) {
            return -ENCAP_E_FIELD;
        }
    }
    l->epoch++;
    reset_seq(l);
    l->mps = l->cfg.mps;
    l->mrrs = l->cfg.mrrs;
    l->max_frame = l->cfg.max_frame;
    l->retries = 0;
    set_state(l, ENCAP_LINK_HELLO_SENT);
    burst_push(l);              /* what was queued before goes first */
    send_ctrl(l, ENCAP_CTRL_HELLO, 0);
    burst_push(l);
    l->hello_deadline = now + l->cfg.hello_ns;
    return 0;
}

void encap_link_close(struct encap_link *l, uint64_t now)
{
    if (l->state != ENCAP_LINK_DOWN && memcmp(l->cfg.peer_mac, zero_mac, 6)) {
        send_ctrl(l, ENCAP_CTRL_BYE, 0);
    }
    burst_push(l);
    l->confirming = false;
    set_state(l, ENCAP_LINK_DOWN);
}

int encap_link_set_peer(struct encap_link *l, const uint8_t mac[6])
{
    if (!l->cfg.initiator || l->state == ENCAP_LINK_UP ||
        !memcmp(mac, zero_mac, 6)) {
        return -ENCAP_E_FIELD;
    }
    memcpy(l->cfg.peer_mac, mac, 6);
    l->peer_fixed = true;
    return 0;
}

int encap_link_ping(struct encap_link *l, uint32_t cookie, uint64_t now)
{
    if (!memcmp(l->cfg.peer_mac, zero_mac, 6) || (l->keyed && !l->have_keys)) {
        return -ENCAP_E_FIELD;
    }
    send_ctrl(l, ENCAP_CTRL_PING, cookie);
    burst_push(l);
    return 0;
}

/* ---- sending DATA ---- */

/* The timeout without backoff: RFC 6298 once measured, else the initial. */
static uint64_t rto_base(const struct encap_link *l)
{
    uint64_t rto;

    if (!l->srtt) {
        return l->cfg.rto_ns;
    }
    rto = l->srtt + 4 * l->rttvar;
    rto = rto > l->cfg.rto_min_ns ? rto : l->cfg.rto_min_ns;
    return rto < l->cfg.rto_max_ns ? rto : l->cfg.rto_max_ns;
}

static void arm_rto(struct encap_link *l, uint64_t now)
{
    l->rto_deadline = l->snd_una == l->snd_nxt ? 0 : now + l->rto_cur;
}

/*
 * The probe timeout (RFC 8985, 7.2): two smoothed round trips, plus the
 * peer's ack delay when a single frame is in flight (nothing after it
 * makes the peer ack at once).  Not armed before a round trip is
 * measured, after the probe of this episode, or if the retransmission
 * timeout comes first.
 */
static void arm_pto(struct encap_link *l, uint64_t now)
{
    uint64_t pto;

    l->pto_deadline = 0;
    if (l->snd_una == l->snd_nxt || !l->srtt || l->probed) {
        return;
    }
    pto = 2 * l->srtt;
    if (l->snd_nxt - l->snd_una == 1) {
        pto += l->cfg.ack_delay_ns;
    }
    if (!l->rto_deadline || now + pto < l->rto_deadline) {
        l->pto_deadline = now + pto;
    }
}

/* One round-trip measurement (RFC 6298, 2.2 and 2.3). */
static void rtt_sample(struct encap_link *l, uint64_t r)
{
    r = r ?: 1;
    l->stats.rtt_samples++;
    if (!l->srtt) {
        l->srtt = r;
        l->rttvar = r / 2;
    } else {
        uint64_t err = l->srtt > r ? l->srtt - r : r - l->srtt;

        l->rttvar = l->rttvar - l->rttvar / 4 + err / 4;
        l->srtt = l->srtt - l->srtt / 8 + r / 8;
    }
}

/* (Re)send the kept frame @seq, with a fresh ack. */
static void xmit(struct encap_link *l, uint32_t seq, uint64_t now)
{
    struct tx_slot *s = &l->ring[seq & l->ring_mask];

    encap_frame_restamp(s->buf, s->len, l->rcv_nxt, ENCAP_F_RESENT);
    s->retx = true;
    s->sent_ns = now;
    s->stamp = ++l->tx_stamp;
    l->stats.retransmits++;
    l->epoch_resent++;
    s->resent++;
    l->unacked_rx = 0;
    l->ack_deadline = 0;
    send_raw(l, s->buf, s->len, true);
}

/*
 * The probe: the newest frame the peer is not known to hold, sent again.
 * If it was lost, this is its recovery; if an earlier one was, the
 * peer's ack of the probe says which (fast retransmit then, or the
 * timeout); if nothing was, the peer answers the duplicate with an ack
 * at once.
 */
static void tail_probe(struct encap_link *l, uint64_t now)
{
    uint32_t seq = l->snd_nxt;

    l->pto_deadline = 0;
    l->probed = true;
    while (seq != l->snd_una) {
        seq--;
        if (!l->ring[seq & l->ring_mask].sacked) {
            l->stats.tail_probes++;
            xmit(l, seq, now);
            l->probe_pending = true;
            l->probe_seq = seq;
            l->probe_sent_ns = now;
            arm_rto(l, now);
            return;
        }
    }
}

/* Close the DATA frame being built, if any, and send it. */
static void finish_data(struct encap_link *l, uint64_t now)
{
    struct tx_slot *s;

    if (!l->building) {
        return;
    }
    l->building = false;
    l->build.hdr.seq = l->snd_nxt;
    l->build.hdr.ack = l->rcv_nxt;
    l->build.hdr.flags |= ENCAP_F_ACK;
    s = &l->ring[l->snd_nxt & l->ring_mask];
    s->len = encap_frame_finish(&l->build);
    s->seq = l->snd_nxt;
    s->first_ns = now;
    s->acked_ns = 0;
    s->sent_ns = now;
    s->stamp = ++l->tx_stamp;
    s->sacked = false;
    s->retx = false;
    s->resent = 0;
    s->copied = false;
    l->unacked_rx = 0;
    l->ack_deadline = 0;
    l->stats.data_tx++;
    l->fresh = true;
    if (++l->epoch_new == LOSSY_EPOCH) {
        unsigned permille = l->epoch_resent * 1000 / LOSSY_EPOCH;

        if (!l->lossy && permille >= LOSSY_ON_PERMILLE) {
            l->lossy = true;
            l->lossy_hold = LOSSY_HOLD;
            l->stats.lossy_ons++;
        } else if (l->lossy && l->lossy_hold) {
            /* The copies hide the loss they mend: stay on a while. */
            l->lossy_hold--;
        } else if (l->lossy && permille < LOSSY_OFF_PERMILLE) {
            l->lossy = false;
        }
        l->epoch_new = l->epoch_resent = 0;
    }
    l->stats.tlps_tx += l->build.count;
    if (l->snd_una == l->snd_nxt) {
        l->snd_nxt++;
        arm_rto(l, now);
    } else {
        l->snd_nxt++;
    }
    arm_pto(l, now);
    send_raw(l, s->buf, s->len, true);
}

void encap_link_flush(struct encap_link *l, uint64_t now)
{
    finish_data(l, now);
    if (l->lossy && l->fresh && l->snd_una != l->snd_nxt) {
        /* The newest frame once more, in the same burst: not a
         * retransmission (both copies leave together, either gives a
         * fair round-trip sample). */
        struct tx_slot *s = &l->ring[(l->snd_nxt - 1) & l->ring_mask];

        l->stats.tail_copies++;
        if (!s->copied) {
            s->copied = true;
            l->epoch_resent++;
        }
        send_raw(l, s->buf, s->len, true);
    }
    l->fresh = false;
    burst_push(l);
}

/* ---- request credit, sending ---- */

static bool tlp_is_request(const struct encap_tlp *t)
{
    return t->type != ENCAP_TLP_CPL && t->type != ENCAP_TLP_CPLD;
}

/* The peer's limit allows no more requests until it moves. */
static bool credit_exhausted(const struct encap_link *l)
{
    return l->peer_credit && !seq_lt(l->req_sent, l->peer_limit);
}

/*
 * A request refused for credit.  What is built goes out (the peer can
 * release only what it has), and a held sender starts its probe timer:
 * with nothing unacknowledged no ACK would bring the limit if the update
 * was lost.
 */
static void credit_refused(struct encap_link *l, uint64_t now)
{
    l->stats.credit_waits++;
    finish_data(l, now);
    burst_push(l);
    if (!l->credit_held) {
        l->credit_held = true;
        l->credit_probe_ns = rto_base(l);
        l->credit_probe_deadline = now + l->credit_probe_ns;
    }
}

/* The limit of an ACK, NAK, PING or PONG of the session: take the newest. */
static void credit_limit(struct encap_link *l, uint32_t limit)
{
    if (!l->peer_credit || !seq_lt(l->peer_limit, limit)) {
        return;
    }
    l->peer_limit = limit;
    if (!credit_exhausted(l)) {
        l->credit_held = false;
        l->credit_probe_deadline = 0;
    }
}

/*
 * Probe timer: still held.  With frames unacknowledged their ACKs bring
 * the limit; else a PING asks for it (its PONG carries it), again after
 * twice as long (retransmission backoff, up to rto_max_ns).
 */
static void credit_probe(struct encap_link *l, uint64_t now)
{
    if (l->snd_una == l->snd_nxt) {
        l->stats.credit_probes++;
        send_ctrl(l, ENCAP_CTRL_PING, 0);
        l->credit_probe_ns = l->credit_probe_ns * 2 < l->cfg.rto_max_ns ?
                             l->credit_probe_ns * 2 : l->cfg.rto_max_ns;
    }
    l->credit_probe_deadline = now + l->credit_probe_ns;
}

uint32_t encap_link_request_room(const struct encap_link *l)
{
    if (l->state != ENCAP_LINK_UP) {
        return 0;
    }
    if (!l->peer_credit) {
        return UINT32_MAX;
    }
    return credit_exhausted(l) ? 0 : l->peer_limit - l->req_sent;
}

int encap_link_queue_tlp(struct encap_link *l, const struct encap_tlp *t,
                         const struct encap_tlp_limits *lim, uint64_t now)
{
    bool request = tlp_is_request(t);

    if (l->state != ENCAP_LINK_UP) {
        /* Not even into a frame built while up: not this session's. */
        return -ENCAP_E_FIELD;
    }
    if (request && credit_exhausted(l)) {
        credit_refused(l, now);
        return -ENCAP_E_CREDIT;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int r;

        if (!l->building) {
            struct encap_frame_hdr h;

            if (l->snd_nxt - l->snd_una >= l->cfg.window) {
                l->stats.window_full++;
                burst_push(l);  /* the caller waits for acks: send all */
                return -ENCAP_E_NOSPACE;
            }
            fill_hdr(l, &h, ENCAP_FRAME_DATA);
            h.flags |= ENCAP_F_SEQ;
            encap_frame_begin(&l->build,
                              l->ring[l->snd_nxt & l->ring_mask].buf,
                              l->max_frame - l->seal_ovh, &h);
            l->building = true;
        }
        r = encap_frame_add_tlp(&l->build, t, lim);
        if (r >= 0 && request) {
            l->req_sent++;
        }
        if (r != -ENCAP_E_NOSPACE) {
            return r;
        }
        if (l->build.count == 0) {
            return r;           /* does not fit even an empty frame */
        }
        finish_data(l, now);    /* a burst takes it when full, or at flush */
    }
    return -ENCAP_E_NOSPACE;
}

/*
 * The peer has frame @s (acked or selectively acked).  If it was sent
 * once, note that a transmission that recent has arrived, and keep the
 * newest send time for a round-trip sample.  A frame sent more than once
 * says neither (Karn): it may be its first copy that arrived, and taking
 * it for the last one would have every frame sent in between taken as
 * lost, a storm of needless retransmissions when frames are reordered.
 */
static void delivered(struct encap_link *l, uint32_t seq, struct tx_slot *s,
                      uint64_t *sample_sent, uint64_t now)
{
    if (l->probe_pending && seq == l->probe_seq) {
        l->probe_pending = false;
        if (now - l->probe_sent_ns < l->srtt / 2) {
            l->stats.probes_needless++;
        }
    }
    if (s->retx) {
        s->acked_ns = now;      /* for resend_needless() */
        return;
    }
    if (l->rto_doubt && seq_lt(seq, l->rto_end)) {
        l->rto_arrived = true;
    }
    if (s->stamp > l->delivered_stamp) {
        l->delivered_stamp = s->stamp;
    }
    if (s->sent_ns > *sample_sent) {
        *sample_sent = s->sent_ns;
    }
}

/*
 * The slot of frame @seq, sent and perhaps acknowledged already (a slot
 * outlives its ack until a new frame takes it), or NULL if it now holds
 * another frame or @seq was never sent.
 */
static struct tx_slot *sent_slot(struct encap_link *l, uint32_t seq)
{
    struct tx_slot *s = &l->ring[seq & l->ring_mask];

    return s->seq == seq && seq_lt(seq, l->snd_nxt) ? s : NULL;
}

/*
 * The peer received a resend of frame @seq after it had the frame
 * (ENCAP_F_DUP): one copy we counted as a resend was needless, the frame
 * or its ack was only late (a receiver that was not scheduled).  A report
 * for a frame whose slot now holds another, or with no resend left to
 * account for (a copy of a report), changes nothing.
 *
 * Once every resend of the frame is reported, its first copy is the one
 * that arrived, and the time from sending it to the ack that first
 * covered it is a round trip like any other (RFC 4015's Eifel response,
 * with the peer's reports for timestamps): without it, the timers would
 * never learn of the late answers that made them fire, since a frame sent
 * twice gives no sample (Karn).
 */
static void resend_needless(struct encap_link *l, uint32_t seq)
{
    struct tx_slot *s = sent_slot(l, seq);

    if (!s || !s->resent) {
        return;
    }
    s->resent--;
    l->stats.resends_needless++;
    l->epoch_resent -= !!l->epoch_resent;
    if (!s->resent && s->acked_ns >= s->first_ns) {
        rtt_sample(l, s->acked_ns - s->first_ns);
        s->acked_ns = 0;
    }
}

/*
 * The peer received frame @seq twice, not as a resend (ENCAP_F_DUP
 * without ENCAP_F_RESENT).  If a lossy-mode copy went with the frame,
 * both arrived: the copy mended nothing, and no longer counts as a
 * resend.  Otherwise (a first copy held back while a resend got through,
 * a copy the wire made, a report seen twice) nothing changes.
 */
static void copy_needless(struct encap_link *l, uint32_t seq)
{
    struct tx_slot *s = sent_slot(l, seq);

    if (!s || !s->copied) {
        return;
    }
    s->copied = false;
    l->epoch_resent -= !!l->epoch_resent;
}

/* News from the peer that it has more of our frames: it is alive. */
static void progress(struct encap_link *l, uint64_t sample_sent, uint64_t now)
{
    if (sample_sent && now >= sample_sent) {
        rtt_sample(l, now - sample_sent);
    }
    l->retries = 0;
    l->rto_cur = rto_base(l);
    l->probed = false;
}

/* Resend every frame not held by the peer that frames sent after it
 * have overtaken (RACK-like, counted in transmissions, not time). */
static void fast_retransmit(struct encap_link *l, uint64_t now)
{
    for (uint32_t seq = l->snd_una; seq != l->snd_nxt; seq++) {
        struct tx_slot *s = &l->ring[seq & l->ring_mask];
        uint64_t after = l->tx_stamp - s->stamp;
        uint64_t need = after < DUPTHRESH ? after : DUPTHRESH;

        if (!s->sacked && l->delivered_stamp >= s->stamp + (need ?: 1)) {
            l->stats.fast_retransmits++;
            xmit(l, seq, now);
        }
    }
}

/* Resend everything the peer does not hold (a NAK without a bitmap:
 * the peer keeps no frames after a gap). */
static void retransmit_all(struct encap_link *l, uint64_t now)
{
    for (uint32_t seq = l->snd_una; seq != l->snd_nxt; seq++) {
        if (!l->ring[seq & l->ring_mask].sacked) {
            xmit(l, seq, now);
        }
    }
}

/*
 * A round of frames in doubt after a timeout: the next rto_count frames
 * from @seq the peer is not known to hold, sent before the timeout.
 * Returns false if there were none.
 */
static bool rto_round(struct encap_link *l, uint32_t seq, uint64_t now)
{
    unsigned sent = 0;

    for (; sent < l->rto_count && seq_lt(seq, l->rto_end) &&
           seq_lt(seq, l->snd_nxt); seq++) {
        if (!l->ring[seq & l->ring_mask].sacked) {
            xmit(l, seq, now);
            l->rto_last = seq;
            sent++;
        }
    }
    return sent;
}

/*
 * News of frames arriving while frames are in doubt after a timeout.  If
 * one sent before the timeout and not resent arrived, the timeout came
 * before late acks, not after a loss: nothing more goes again (frames
 * still missing are found as ever, by the block or a timeout).  If the
 * peer has the round's last frame and nothing else, the frames after it
 * were lost too (or the peer has yet to take them in): the next round,
 * twice as many.
 */
static void rto_answered(struct encap_link *l, uint64_t now)
{
    if (!l->rto_doubt) {
        return;
    }
    if (l->rto_arrived) {
        l->stats.timeouts_early++;
        l->rto_doubt = false;
        return;
    }
    if (seq_lt(l->rto_last, l->snd_una) ||
        l->ring[l->rto_last & l->ring_mask].sacked) {
        l->rto_count *= 2;
        if (!rto_round(l, l->rto_last + 1, now)) {
            l->rto_doubt = false;
        }
        arm_rto(l, now);
    }
}

/* A cumulative ack; returns whether it acknowledged new frames. */
static bool process_ack(struct encap_link *l, uint32_t ack, uint64_t now)
{
    uint64_t sample_sent = 0;

    if (!seq_lt(l->snd_una, ack) || seq_lt(l->snd_nxt, ack)) {
        return false;
    }
    for (uint32_t seq = l->snd_una; seq != ack; seq++) {
        struct tx_slot *s = &l->ring[seq & l->ring_mask];

        if (!s->sacked) {
            delivered(l, seq, s, &sample_sent, now);
        }
    }
    l->snd_una = ack;
    progress(l, sample_sent, now);
    arm_rto(l, now);
    arm_pto(l, now);
    return true;
}

/*
 * The selective-ack block of an ACK/NAK whose header acks @ack: mark the
 * frames the peer holds.  Returns whether any was new, -1 if the block is
 * malformed.
 */
static int process_sack(struct encap_link *l, uint32_t ack,
                        const uint8_t *p, size_t len, uint64_t now)
{
    uint64_t sample_sent = 0;
    unsigned bits;
    bool news = false;

    if (len < SACK_HLEN) {
        return -1;
    }
    bits = wire_get16(p);
    if (bits % 8 || SACK_HLEN + bits / 8 > len) {
        return -1;
    }
    for (unsigned i = 0; i < bits; i++) {
        uint32_t seq = ack + 1 + i;
        struct tx_slot *s;

        if (!(p[SACK_HLEN + i / 8] & (0x80 >> (i % 8)))) {
            continue;
        }
        if (seq_lt(seq, l->snd_una) || !seq_lt(seq, l->snd_nxt)) {
            continue;
        }
        s = &l->ring[seq & l->ring_mask];
        if (!s->sacked) {
            s->sacked = true;
            l->stats.sacked++;
            delivered(l, seq, s, &sample_sent, now);
            news = true;
        }
    }
    if (news) {
        progress(l, sample_sent, now);
        arm_pto(l, now);
    }
    return news;
}

static void ack_soon(struct encap_link *l, uint64_t now)
{
    l->unacked_rx++;
    if (l->unacked_rx >= l->cfg.window / 4) {
        send_ctrl(l, ENCAP_CTRL_ACK, 0);
    } else if (!l->ack_deadline) {
        l->ack_deadline = now + l->cfg.ack_delay_ns;
    }
}

/* ---- request credit, receiving ---- */

/*
 * A request TLP about to be delivered (counted first: the application may
 * release it from ops->deliver_tlp).  One beyond the limit is delivered
 * all the same (the frame was acknowledged), and counted.
 */
static void credit_delivered(struct encap_link *l)
{
    uint32_t backlog = ++l->req_delivered - l->req_released;

    l->stats.requests_rx++;
    if (backlog > l->cfg.rx_request_credit) {
        l->stats.credit_overruns++;
    }
    if (backlog > l->stats.credit_backlog_max) {
        l->stats.credit_backlog_max = backlog;
    }
}

/*
 * The limit moved past the one the peer knows: tell it at once if it has
 * used all it was told (it waits), soon (with a delayed ACK) if it has
 * used half; else the next ACK will do.
 */
static void credit_update(struct encap_link *l, uint64_t now)
{
    int32_t left = (int32_t)(l->adv_limit - l->req_delivered);

    if (!l->cfg.rx_request_credit || l->state != ENCAP_LINK_UP ||
        rx_limit(l) == l->adv_limit) {
        return;
    }
    if (left <= 0) {
        l->stats.credit_updates++;
        send_ctrl(l, ENCAP_CTRL_ACK, 0);
    } else if ((uint32_t)left * 2 <= l->cfg.rx_request_credit &&
               !l->update_deadline) {
        l->update_deadline = now + l->cfg.ack_delay_ns;
    }
}

void encap_link_requests_done(struct encap_link *l, unsigned n, uint64_t now)
{
    uint32_t backlog = l->req_delivered - l->req_released;

    if (!l->cfg.rx_request_credit || l->state != ENCAP_LINK_UP || !n) {
        return;
    }
    if (n > backlog) {
        l->stats.credit_bad_release += n - backlog;
        n = backlog;
    }
    l->req_released += n;
    credit_update(l, now);
    burst_push(l);
}

/* ---- receiving ---- */

static void deliver_records(struct encap_link *l,
                            const struct encap_frame_view *v)
{
    struct encap_rec_iter it;
    const uint8_t *tlp;
    size_t len;

    encap_frame_records(v, &it);
    while (encap_frame_next_tlp(&it, &tlp, &len)) {
        l->stats.tlps_rx++;
        if (l->cfg.rx_request_credit && encap_tlp_is_request(tlp, len)) {
            credit_delivered(l);
        }
        l->ops->deliver_tlp(l->opaque, tlp, len);
    }
}

/*
 * DATA frame @v is one we already hold: the next ACK or NAK says so, and
 * whether it was marked as a resend.  If it was, the peer sent it again
 * needlessly (its first copy, or a resend before it, got here first).  If
 * not, it is a lossy-mode copy whose twin arrived too, a first copy held
 * back on the way while a resend got through (the resend helped), or a
 * copy the wire made; the peer tells these apart.
 */
static void dup_report(struct encap_link *l, const struct encap_frame_view *v)
{
    l->dup_pending = true;
    l->dup_resent = v->hdr.flags & ENCAP_F_RESENT;
    l->dup_seq = v->hdr.seq;
}

/* Keep DATA frame @v that arrived @d frames after rcv_nxt. */
static void keep_frame(struct encap_link *l, const struct encap_frame_view *v,
                       uint32_t d)
{
    struct rx_slot *r = &l->rx[(l->rcv_nxt + d) & l->ring_mask];

    if (d < l->cfg.window && r->held) {
        l->stats.duplicates++;
        dup_report(l, v);
        return;
    }
    l->stats.out_of_order++;
    if (d >= l->cfg.window || v->payload_len > l->cfg.max_frame) {
        return;                 /* beyond what we keep: it comes again */
    }
    if (!r->buf) {
        r->buf = malloc(l->cfg.max_frame);
        if (!r->buf) {
            return;
        }
    }
    memcpy(r->buf, v->payload, v->payload_len);
    r->len = v->payload_len;
    r->count = v->count;
    r->held = true;
    l->rx_held++;
    l->stats.ooo_kept++;
}

static void input_data(struct encap_link *l, const struct encap_frame_view *v,
                       uint64_t now)
{
    uint32_t d = v->hdr.seq - l->rcv_nxt;
    bool filled = false;

    if (d != 0) {
        if (seq_lt(v->hdr.seq, l->rcv_nxt)) {
            /* Our ack was lost or late: say again where we are. */
            l->stats.duplicates++;
            dup_report(l, v);
            send_ctrl(l, ENCAP_CTRL_ACK, 0);
        } else {
            l->data_ns = now;
            /* A gap: keep the frame, say at once what we hold. */
            keep_frame(l, v, d);
            l->stats.naks_tx++;
            send_ctrl(l, ENCAP_CTRL_NAK, 0);
        }
        return;
    }
    l->rcv_nxt++;
    l->data_ns = now;
    deliver_records(l, v);
    /* Then what had arrived early, up to the next gap. */
    while (l->rx_held) {
        struct rx_slot *r = &l->rx[l->rcv_nxt & l->ring_mask];
        struct encap_frame_view kept = {
            .hdr.type = ENCAP_FRAME_DATA,
        };

        if (!r->held) {
            break;
        }
        r->held = false;
        l->rx_held--;
        l->rcv_nxt++;
        filled = true;
        kept.count = r->count;
        kept.payload = r->buf;
        kept.payload_len = r->len;
        deliver_records(l, &kept);
    }
    if (filled) {
        send_ctrl(l, ENCAP_CTRL_ACK, 0);    /* the sender waits on this */
    } else {
        ack_soon(l, now);
    }
    credit_update(l, now);
}

/* The sizes a HELLO or HELLO_ACK offers are ones a session can use. */
static bool ctrl_sizes_ok(const struct encap_link *l, const struct encap_ctrl *c)
{
    return c->max_frame >= MIN_FRAME + l->seal_ovh && payload_size_ok(c->mps) &&
           pow2_size_ok(c->mrrs);
}

/*
 * Agree on the smaller of each size, ours (configured) and the peer's;
 * then on an MPS whose largest MWr fits the agreed frame.
 */
/* The peer's request credit, from its HELLO or HELLO_ACK. */
static void agree_credit(struct encap_link *l, const struct encap_ctrl *c)
{
    l->peer_credit = c->features & ENCAP_CTRL_F_CREDIT;
    l->peer_limit = l->peer_credit ? c->credit : 0;
}

static void agree_sizes(struct encap_link *l, const struct encap_ctrl *c)
{
    uint16_t fit;

    l->mps = c->mps < l->cfg.mps ? c->mps : l->cfg.mps;
    l->mrrs = c->mrrs < l->cfg.mrrs ? c->mrrs : l->cfg.mrrs;
    l->max_frame = c->max_frame < l->cfg.max_frame ? c->max_frame
                                                   : l->cfg.max_frame;
    fit = encap_mps_for_frame(l->max_frame - l->seal_ovh);
    l->mps = l->mps < fit ? l->mps : fit;
}

/*
 * A HELLO that would open a new session: may it?  The endpoint's rules
 * (ops->hello_allowed) first.  Then, while a session is up (and keepalive
 * is on), that session must be dead: the HELLO is held back, and the
 * first one held back challenges the session with a PING.  Any valid
 * frame of the session within probe_ns answers the challenge (heard());
 * otherwise encap_link_poll() takes the session down, and the next HELLO
 * is let in.
 */
static bool hello_admitted(struct encap_link *l,
                           const struct encap_frame_view *v, uint64_t now)
{
    if (l->ops->hello_allowed &&
        !l->ops->hello_allowed(l->opaque, v->hdr.src, v->hdr.rc_id)) {
        l->stats.drops++;
        l->stats.hello_refused++;
        return false;
    }
    if (l->state != ENCAP_LINK_UP || !l->cfg.keepalive_ns) {
        return true;
    }
    l->stats.drops++;
    l->stats.hello_probes++;
    if (!l->probe_deadline) {
        l->probe_deadline = now + l->probe_ns;
        send_ctrl(l, ENCAP_CTRL_PING, 0);
        l->ping_deadline = now + l->cfg.keepalive_ns;
    }
    return false;
}

static void input_hello(struct encap_link *l, const struct encap_frame_view *v,
                        const struct encap_ctrl *c, uint64_t now)
{
    bool ours = v->hdr.session == l->cfg.session &&
                !memcmp(v->hdr.src, l->cfg.peer_mac, 6);
    int32_t age = (int32_t)(l->epoch - v->hdr.epoch);
    bool up = l->state == ENCAP_LINK_UP || l->confirming;
    bool same = up && ours && age == 0;
    const uint8_t *ni = v->payload + ENCAP_CTRL_LEN;    /* keyed: checked */
    uint8_t nr[ENCAP_NONCE_LEN];

    if (ours && l->served && (age > 0 || (age == 0 && !up))) {
        /*
         * A HELLO of an older epoch (serial number arithmetic) is a late
         * copy: it would move us back to an epoch the initiator has left,
         * both sides up, each dropping the other's frames.  One of the
         * epoch we gave up on (retries exhausted) would restart our
         * sequence numbers under an initiator that may still be up in it
         * with its own: frames lost as "duplicates".  Either way only a
         * new epoch (a new connect) opens the session again.  (A restarted
         * initiator picks a new random session and first epoch; should it
         * pick this session again, its HELLO is refused half of the time
         * and its connect fails; it works on the next start.)
         */
        l->stats.drops++;
        l->stats.drops_session++;
        return;
    }
    if (same && l->keyed &&
        !encap_ct_equal(ni, l->ni, ENCAP_NONCE_LEN)) {
        /* Another HELLO of the epoch we are up in: not the vrc's retry. */
        l->stats.drops++;
        l->stats.drops_session++;
        return;
    }
    if (!same && !hello_admitted(l, v, now)) {
        return;
    }
    if (!same && l->keyed && l->ops->random(l->opaque, nr, sizeof(nr)) < 0) {
        l->stats.drops++;
        l->stats.drops_state++;
        return;
    }
    if (!same) {
        /* A new session, or the initiator restarted: start afresh. */
        set_state(l, ENCAP_LINK_DOWN);
        l->confirming = false;
        memcpy(l->cfg.peer_mac, v->hdr.src, 6);
        l->cfg.session = v->hdr.session;
        l->cfg.rc_id = v->hdr.rc_id;
        l->epoch = v->hdr.epoch;
        reset_seq(l);
        agree_sizes(l, c);
        agree_credit(l, c);
        l->served = true;
        if (l->keyed) {
            struct encap_session_keys k;

            memcpy(l->ni, ni, ENCAP_NONCE_LEN);
            memcpy(l->nr, nr, ENCAP_NONCE_LEN);
            derive_keys(l, l->ni, l->nr, l->cfg.peer_mac, &k);
            if (!install_keys(l, &k)) {
                return;
            }
            l->confirming = true;       /* up on its first sealed frame */
        } else {
            go_up(l, now);
        }
    }
    send_ctrl(l, ENCAP_CTRL_HELLO_ACK, 0);
}

/*
 * Addressed to us, from our peer.  A responder without a configured peer
 * takes the first initiator that says HELLO, and then only that one until
 * the session goes down.
 */
static bool frame_is_ours(struct encap_link *l, const struct encap_frame_view *v)
{
    bool hello = v->hdr.type == ENCAP_FRAME_CTRL && v->payload[0] == ENCAP_CTRL_HELLO;

    if (memcmp(v->hdr.dst, l->cfg.own_mac, 6)) {
        return false;
    }
    if (!memcmp(v->hdr.src, l->cfg.peer_mac, 6)) {
        return true;
    }
    return hello && !l->cfg.initiator && !l->peer_fixed &&
           l->state != ENCAP_LINK_UP;
}

static int drop_bad(struct encap_link *l, int r)
{
    l->stats.drops++;
    l->stats.drops_bad[-r]++;
    return r;
}

static int drop_counted(struct encap_link *l, uint64_t *counter, int r)
{
    l->stats.drops++;
    (*counter)++;
    return r;
}

/* The frame is version 2 (keyed), or the other way round. */
static bool version_is(const uint8_t *f, size_t len, uint8_t version)
{
    return len >= ENCAP_FRAME_OVERHEAD && wire_get16(f + 12) == ENCAP_ETHERTYPE &&
           f[ENCAP_ETH_HLEN] == version;
}

/*
 * A keyed HELLO or HELLO_ACK (not sealed): check its MAC; an initiator
 * waiting for this HELLO_ACK takes the session's keys from it.  Then
 * parse it as the version 1 frame it carries.
 */
static int keyed_hello(struct encap_link *l, const uint8_t *f, size_t len,
                       struct encap_frame_view *v)
{
    const uint8_t *p = f + ENCAP_ETH_HLEN + ENCAP_HDR_LEN;
    uint8_t op = p[0];
    size_t n = ENCAP_ETH_HLEN + ENCAP_HDR_LEN + ENCAP_HELLO_KEYED_LEN +
               ENCAP_CRC_LEN;
    int r;

    if (f[ENCAP_ETH_HLEN + 1] != ENCAP_FRAME_CTRL ||
        wire_get16(f + ENCAP_ETH_HLEN + 20) != ENCAP_HELLO_KEYED_LEN ||
        op != (l->cfg.initiator ? ENCAP_CTRL_HELLO_ACK : ENCAP_CTRL_HELLO)) {
        return drop_counted(l, &l->stats.auth_fail, -ENCAP_E_AUTH);
    }
    if (!l->cfg.initiator) {
        r = encap_hello_verify(f, len, l->hello_key, NULL);
    } else if (wire_get16(f + ENCAP_ETH_HLEN + 4) != l->cfg.rc_id ||
               wire_get16(f + ENCAP_ETH_HLEN + 6) != l->cfg.session ||
               wire_get32(f + ENCAP_ETH_HLEN + 8) != l->epoch) {
        return drop_counted(l, &l->stats.drops_session, -ENCAP_E_FIELD);
    } else if (l->state == ENCAP_LINK_HELLO_SENT) {
        struct encap_session_keys k;

        derive_keys(l, l->ni, p + ENCAP_CTRL_LEN, l->cfg.peer_mac, &k);
        r = encap_hello_verify(f, len, k.ack, l->ni);
        if (r == 0) {
            memcpy(l->nr, p + ENCAP_CTRL_LEN, ENCAP_NONCE_LEN);
            if (!install_keys(l, &k)) {
                return drop_counted(l, &l->stats.drops_state, -ENCAP_E_FIELD);
            }
        }
        encap_wipe(&k, sizeof(k));
    } else if (l->have_keys) {
        /* A late copy: genuine or not, it changes nothing. */
        r = encap_hello_verify(f, len, l->keys.ack, l->ni);
    } else {
        r = -ENCAP_E_AUTH;
    }
    if (r == -ENCAP_E_AUTH) {
        return drop_counted(l, &l->stats.auth_fail, r);
    }
    if (r < 0) {
        return drop_bad(l, r);
    }
    memcpy(l->open_buf, f, n);
    l->open_buf[ENCAP_ETH_HLEN] = ENCAP_VERSION;
    r = frame_parse(l->open_buf, n, v, false);
    return r < 0 ? drop_bad(l, r) : 0;
}

/*
 * A keyed link's first look at a frame, before anything else: open it
 * (sealed: tag, then replay window) or check its MAC (HELLO, HELLO_ACK).
 * 0 and @v set, 1 for a DISC frame (not the session's), or the reason it
 * was dropped (counted).
 */
static int keyed_input(struct encap_link *l, const uint8_t *f, size_t len,
                       struct encap_frame_view *v, uint64_t now)
{
    const uint8_t *h = f + ENCAP_ETH_HLEN;
    uint64_t ctr;
    int r;

    if (version_is(f, len, ENCAP_VERSION)) {
        r = encap_frame_parse(f, len, v);
        if (r < 0) {
            return drop_bad(l, r);
        }
        if (v->hdr.type == ENCAP_FRAME_DISC) {
            return 1;
        }
        return drop_counted(l, &l->stats.key_mismatch, -ENCAP_E_KEY);
    }
    r = encap_frame_check_keyed(f, len);
    if (r < 0) {
        return drop_bad(l, r);
    }
    if (!(wire_get16(h + 2) & ENCAP_F_SEALED)) {
        return keyed_hello(l, f, len, v);
    }
    if (!l->have_keys || wire_get16(h + 4) != l->cfg.rc_id ||
        wire_get16(h + 6) != l->cfg.session || wire_get32(h + 8) != l->epoch) {
        /* Not this session's keys: another epoch's, or none yet. */
        return drop_counted(l, &l->stats.drops_session, -ENCAP_E_FIELD);
    }
    r = encap_frame_open(l->rx_aead, rx_dir(l), f, len, l->open_buf,
                         l->open_cap, &ctr, v);
    if (r == -ENCAP_E_AUTH) {
        return drop_counted(l, &l->stats.auth_fail, r);
    }
    if (r < 0) {
        return drop_bad(l, r);
    }
    r = encap_replay_check(&l->rx_win, ctr);
    if (r < 0) {
        return drop_counted(l, &l->stats.replay, r);
    }
    if (l->confirming) {
        /* The initiator has proved the key over both nonces: up. */
        l->confirming = false;
        go_up(l, now);
    }
    return 0;
}

static int link_input(struct encap_link *l, const uint8_t *frame, size_t len,
                      uint64_t now)
{
    struct encap_frame_view v;
    struct encap_ctrl c;
    const uint8_t *sack = NULL;
    size_t sack_len = 0;
    bool news = false;
    int r;

    l->stats.frames_rx++;
    if (l->keyed) {
        r = keyed_input(l, frame, len, &v, now);
        if (r != 0) {
            return r > 0 ? 0 : r;
        }
    } else if (version_is(frame, len, ENCAP_VERSION_KEYED)) {
        return drop_counted(l, &l->stats.key_mismatch, -ENCAP_E_KEY);
    } else {
        r = encap_frame_parse(frame, len, &v);
        if (r < 0) {
            return drop_bad(l, r);
        }
    }
    if (v.hdr.type == ENCAP_FRAME_DISC) {
        return 0;               /* configd's business, not the session's */
    }
    if (!frame_is_ours(l, &v)) {
        l->stats.drops++;
        l->stats.drops_not_ours++;
        return -ENCAP_E_FIELD;
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL) {
        r = encap_ctrl_decode(v.payload, v.payload_len, &c);
        if (r < 0) {
            l->stats.drops++;
            l->stats.drops_bad[-r]++;
            return r;
        }
        if ((c.op == ENCAP_CTRL_HELLO || c.op == ENCAP_CTRL_HELLO_ACK) &&
            !ctrl_sizes_ok(l, &c)) {
            /* Sizes no session can use (a frame too small for any TLP). */
            l->stats.drops++;
            l->stats.drops_bad[ENCAP_E_FIELD]++;
            return -ENCAP_E_FIELD;
        }
        if (c.op == ENCAP_CTRL_HELLO && !l->cfg.initiator) {
            input_hello(l, &v, &c, now);
            return 0;
        }
        if ((c.op == ENCAP_CTRL_PING || c.op == ENCAP_CTRL_PONG) &&
            l->state == ENCAP_LINK_UP && v.hdr.session == l->cfg.session &&
            v.hdr.epoch == l->epoch && v.hdr.rc_id == l->cfg.rc_id) {
            heard(l, now);
            credit_limit(l, c.limit);
        }
        if (c.op == ENCAP_CTRL_PING) {
            send_ctrl(l, ENCAP_CTRL_PONG, c.cookie);
            return 0;
        }
        if (c.op == ENCAP_CTRL_PONG) {
            if (l->ops->pong) {
                l->ops->pong(l->opaque, c.cookie);
            }
            return 0;
        }
    }
    if (v.hdr.session != l->cfg.session || v.hdr.epoch != l->epoch ||
        v.hdr.rc_id != l->cfg.rc_id) {
        l->stats.drops++;
        l->stats.drops_session++;
        return -ENCAP_E_FIELD;
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL && c.op == ENCAP_CTRL_HELLO_ACK) {
        if (l->cfg.initiator && l->state == ENCAP_LINK_HELLO_SENT) {
            agree_sizes(l, &c);
            agree_credit(l, &c);
            l->hello_deadline = 0;
            go_up(l, now);
            if (l->keyed) {
                /* Our proof of the key: the responder goes up on it. */
                send_ctrl(l, ENCAP_CTRL_ACK, 0);
            }
        }
        return 0;
    }
    if (l->state != ENCAP_LINK_UP) {
        l->stats.drops++;
        l->stats.drops_state++;
        return -ENCAP_E_FIELD;
    }
    heard(l, now);
    if (v.hdr.type == ENCAP_FRAME_CTRL && v.payload_len > ENCAP_CTRL_LEN &&
        (c.op == ENCAP_CTRL_ACK || c.op == ENCAP_CTRL_NAK)) {
        sack = v.payload + ENCAP_CTRL_LEN;
        sack_len = v.payload_len - ENCAP_CTRL_LEN;
        if (sack_len < SACK_HLEN ||
            SACK_HLEN + wire_get16(sack) / 8u > sack_len ||
            wire_get16(sack) % 8) {
            l->stats.drops++;
            l->stats.drops_bad[ENCAP_E_LENGTH]++;
            return -ENCAP_E_LENGTH;
        }
    }
    if (v.hdr.flags & ENCAP_F_ACK) {
        news = process_ack(l, v.hdr.ack, now);
        if (sack && process_sack(l, v.hdr.ack, sack, sack_len, now) > 0) {
            news = true;
        }
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL &&
        (c.op == ENCAP_CTRL_ACK || c.op == ENCAP_CTRL_NAK)) {
        credit_limit(l, c.limit);
        if ((v.hdr.flags & ENCAP_F_DUP) && (v.hdr.flags & ENCAP_F_RESENT)) {
            resend_needless(l, v.hdr.seq);
        } else if (v.hdr.flags & ENCAP_F_DUP) {
            copy_needless(l, v.hdr.seq);
        }
    }
    if (v.hdr.type == ENCAP_FRAME_DATA) {
        input_data(l, &v, now);
    } else if (c.op == ENCAP_CTRL_NAK) {
        l->stats.naks_rx++;
        if (!sack) {
            /* A peer that keeps nothing after a gap: go back to it. */
            retransmit_all(l, now);
            arm_rto(l, now);
        }
    } else if (c.op == ENCAP_CTRL_BYE) {
        set_state(l, ENCAP_LINK_DOWN);
        return 0;
    }
    if (news) {
        rto_answered(l, now);
        fast_retransmit(l, now);
    }
    return 0;
}

/* Retransmission timeout: resend what has waited a full timeout. */
static void rto_expired(struct encap_link *l, uint64_t now)
{
    uint64_t oldest = UINT64_MAX;
    uint64_t counts = l->cfg.rto_ns < l->cfg.rto_max_ns ? l->cfg.rto_ns
                                                        : l->cfg.rto_max_ns;

    for (uint32_t seq = l->snd_una; seq != l->snd_nxt; seq++) {
        struct tx_slot *s = &l->ring[seq & l->ring_mask];

        if (!s->sacked && s->sent_ns < oldest) {
            oldest = s->sent_ns;
        }
    }
    if (oldest != UINT64_MAX && oldest + l->rto_cur > now) {
        /* All were (re)sent since: time the oldest of them. */
        l->rto_deadline = oldest + l->rto_cur;
        return;
    }
    /*
     * Only timeouts of the initial length or more count towards giving
     * up: a short measured timeout must not make the link give up
     * sooner than it used to (about 4 s with the defaults).
     */
    if (l->rto_cur >= counts && ++l->retries > l->cfg.max_retries) {
        set_state(l, ENCAP_LINK_DOWN);
        return;
    }
    l->stats.timeouts++;
    if (!l->rto_doubt || !seq_lt(l->snd_una, l->rto_end)) {
        l->rto_doubt = true;
        l->rto_arrived = false;
        l->rto_end = l->snd_nxt;
    }
    /* The oldest frame the peer is not known to hold, alone (again, if it
     * was lost again); the first if it holds all: it has yet to take that
     * one in order. */
    l->rto_count = 1;
    if (!rto_round(l, l->snd_una, now)) {
        xmit(l, l->snd_una, now);
        l->rto_last = l->snd_una;
    }
    l->rto_cur = l->rto_cur * 2 < l->cfg.rto_max_ns ? l->rto_cur * 2
                                                    : l->cfg.rto_max_ns;
    arm_rto(l, now);
}

/*
 * Keepalive, while up: down once the session has been silent for the
 * keepalive limit, or for the probe time since a HELLO challenged it;
 * else a PING every keepalive_ns of silence.
 */
static void keepalive(struct encap_link *l, uint64_t now)
{
    if ((now >= l->heard_ns && now - l->heard_ns >= l->ka_limit) ||
        (l->probe_deadline && now >= l->probe_deadline)) {
        l->stats.keepalive_downs++;
        set_state(l, ENCAP_LINK_DOWN);
        return;
    }
    if (now >= l->ping_deadline) {
        send_ctrl(l, ENCAP_CTRL_PING, 0);
        l->ping_deadline = now + l->cfg.keepalive_ns;
    }
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a && (!b || a < b) ? a : b;
}

static uint64_t link_poll(struct encap_link *l, uint64_t now)
{
    uint64_t next = 0;

    if (l->state == ENCAP_LINK_HELLO_SENT && now >= l->hello_deadline) {
        if (++l->retries > l->cfg.max_retries) {
            set_state(l, ENCAP_LINK_DOWN);
        } else {
            send_ctrl(l, ENCAP_CTRL_HELLO, 0);
            l->hello_deadline = now + l->cfg.hello_ns;
        }
    }
    if (l->state == ENCAP_LINK_UP && l->cfg.keepalive_ns) {
        keepalive(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->rto_deadline && now >= l->rto_deadline) {
        l->pto_deadline = 0;
        rto_expired(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->pto_deadline && now >= l->pto_deadline) {
        tail_probe(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->ack_deadline && now >= l->ack_deadline) {
        l->stats.acks_tx++;
        send_ctrl(l, ENCAP_CTRL_ACK, 0);
    }
    if (l->state == ENCAP_LINK_UP && l->update_deadline &&
        now >= l->update_deadline) {
        l->stats.credit_updates++;
        send_ctrl(l, ENCAP_CTRL_ACK, 0);
    }
    if (l->state == ENCAP_LINK_UP && l->credit_probe_deadline &&
        now >= l->credit_probe_deadline) {
        credit_probe(l, now);
    }
    if (l->state == ENCAP_LINK_HELLO_SENT) {
        next = l->hello_deadline;
    }
    if (l->state == ENCAP_LINK_UP) {
        next = earliest(l->rto_deadline, l->ack_deadline);
        next = earliest(next, l->pto_deadline);
        next = earliest(next, l->update_deadline);
        next = earliest(next, l->credit_probe_deadline);
        if (l->cfg.keepalive_ns) {
            next = earliest(next, l->ping_deadline);
            next = earliest(next, l->heard_ns + l->ka_limit);
            next = earliest(next, l->probe_deadline);
        }
    }
    return next;
}

/*
 * What input and the timers send goes out before they return; frames that
 * encap_link_queue_tlp() left in the burst go before anything they send.
 */
int encap_link_input(struct encap_link *l, const uint8_t *frame, size_t len,
                     uint64_t now)
{
    int r;

    burst_push(l);
    r = link_input(l, frame, len, now);
    burst_push(l);
    return r;
}

uint64_t encap_link_poll(struct encap_link *l, uint64_t now)
{
    uint64_t next;

    burst_push(l);
    next = link_poll(l, now);
    burst_push(l);
    return next;
}

enum encap_link_state encap_link_state(const struct encap_link *l)
{
    return l->state;
}

uint16_t encap_mps_for_frame(unsigned max_frame)
{
    unsigned hdrs = ENCAP_FRAME_OVERHEAD + ENCAP_REC_HLEN + ENCAP_TLP_MAX_HDR;
    unsigned mps = max_frame > hdrs ? (max_frame - hdrs) & ~63u : 0;

    return mps < 128 ? 128 : mps > 4096 ? 4096 : mps;
}

uint16_t encap_link_mps(const struct encap_link *l)
{
    return l->mps;
}

uint16_t encap_link_mrrs(const struct encap_link *l)
{
    return l->mrrs;
}

unsigned encap_link_unacked(const struct encap_link *l)
{
    return l->snd_nxt - l->snd_una;
}

uint32_t encap_link_mark(const struct encap_link *l)
{
    return l->snd_nxt - 1;
}

bool encap_link_delivered(const struct encap_link *l, uint32_t mark)
{
    return l->state == ENCAP_LINK_UP && seq_lt(mark, l->snd_una);
}

uint64_t encap_link_data_ns(const struct encap_link *l)
{
    return l->data_ns;
}

bool encap_link_rx_gap(const struct encap_link *l)
{
    return l->rx_held > 0;
}

void encap_link_get_stats(const struct encap_link *l,
                          struct encap_link_stats *s)
{
    *s = l->stats;
    s->srtt_ns = l->srtt;
    s->rttvar_ns = l->rttvar;
    s->rto_cur_ns = l->rto_cur;
    s->credit_limit_left = l->peer_credit && l->state == ENCAP_LINK_UP &&
                           !credit_exhausted(l) ? l->peer_limit - l->req_sent
                                                : 0;
    s->credit_backlog = l->req_delivered - l->req_released;
}
