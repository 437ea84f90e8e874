/* SPDX-License-Identifier: MIT */
/* encap: link layer: sessions, frames out, input and timers. */
#include <stdlib.h>
#include <string.h>

#include "link-int.h"
#include "wire.h"

static const uint8_t zero_mac[6];

void link_set_state(struct encap_link *l, enum encap_link_state s)
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
    link_set_state(l, ENCAP_LINK_UP);
}

void link_fill_hdr(struct encap_link *l, struct encap_frame_hdr *h,
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
void link_burst_push(struct encap_link *l)
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
        link_burst_push(l);
    }
}

/*
 * Every frame but HELLO/HELLO_ACK.  With a key it leaves sealed under a
 * fresh counter (a retransmission too), or not at all.  @kept as for
 * send_plain().
 */
void link_send_raw(struct encap_link *l, const uint8_t *f, size_t len,
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

void link_send_ctrl(struct encap_link *l, uint8_t op, uint32_t cookie)
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

    link_fill_hdr(l, &h, ENCAP_FRAME_CTRL);
    if (l->state == ENCAP_LINK_UP) {
        h.flags |= ENCAP_F_ACK;
        h.ack = l->rcv_nxt;
    }
    if (l->dup_pending && (op == ENCAP_CTRL_ACK || op == ENCAP_CTRL_NAK)) {
        h.flags |= ENCAP_F_DUP | (l->dup_resent ? ENCAP_F_RESENT : 0);
        h.seq = l->dup_seq;
        l->dup_pending = false;
    }
    link_credit_fill(l, &c);
    encap_ctrl_encode(&c, body, sizeof(body));
    if ((op == ENCAP_CTRL_ACK || op == ENCAP_CTRL_NAK) &&
        (h.flags & ENCAP_F_ACK)) {
        len += link_sack_encode(l, body + ENCAP_CTRL_LEN);
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
        link_send_raw(l, l->ctrl_buf, len, false);
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
            link_send_raw(l, l->ctrl_buf, len, false);
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
    link_set_state(l, ENCAP_LINK_DOWN);
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
    link_set_state(l, ENCAP_LINK_HELLO_SENT);
    link_burst_push(l);              /* what was queued before goes first */
    link_send_ctrl(l, ENCAP_CTRL_HELLO, 0);
    link_burst_push(l);
    l->hello_deadline = now + l->cfg.hello_ns;
    return 0;
}

void encap_link_close(struct encap_link *l, uint64_t now)
{
    if (l->state != ENCAP_LINK_DOWN && memcmp(l->cfg.peer_mac, zero_mac, 6)) {
        link_send_ctrl(l, ENCAP_CTRL_BYE, 0);
    }
    link_burst_push(l);
    l->confirming = false;
    link_set_state(l, ENCAP_LINK_DOWN);
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
    link_send_ctrl(l, ENCAP_CTRL_PING, cookie);
    link_burst_push(l);
    return 0;
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
 * Ask the session we are up in whether the peer is still there (keepalive
 * on): a PING now, and unless a frame of the session comes back within
 * probe_ns (heard()), encap_link_poll() takes it down.  Once: a pending
 * question is not asked again.
 */
static void challenge(struct encap_link *l, uint64_t now)
{
    if (!l->probe_deadline) {
        l->probe_deadline = now + l->probe_ns;
        link_send_ctrl(l, ENCAP_CTRL_PING, 0);
        l->ping_deadline = now + l->cfg.keepalive_ns;
    }
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
    challenge(l, now);
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
        if (l->ops->peer_proven) {
            l->ops->peer_proven(l->opaque);     /* answers go to its sender */
        }
        link_set_state(l, ENCAP_LINK_DOWN);
        l->confirming = false;
        memcpy(l->cfg.peer_mac, v->hdr.src, 6);
        l->cfg.session = v->hdr.session;
        l->cfg.rc_id = v->hdr.rc_id;
        l->epoch = v->hdr.epoch;
        reset_seq(l);
        agree_sizes(l, c);
        link_agree_credit(l, c);
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
    link_send_ctrl(l, ENCAP_CTRL_HELLO_ACK, 0);
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

/*
 * Responder: a frame to our MAC of a session we are not up in (a VM's
 * session from before this endpoint restarted, or one that ended here
 * while the VM still holds it).  Answer with a BYE in that session, as TCP
 * answers with RST, so that the VM need not wait for its keepalive (3 s
 * with vrc's defaults) to find out.  Without a key the VM ends the
 * session and says HELLO.  With one the BYE cannot be sealed (we lack
 * the session's keys) and so proves nothing: it goes unsealed, and the
 * VM only asks its session at once (a PING, answered within the probe
 * time or the session ends; docs/protocol.md section 4).  Never for a
 * HELLO, HELLO_ACK or BYE (@op, 0 if unknown), nor for a frame from an
 * endpoint, nor for the session we are up in (from another MAC: it is
 * not gone); once per session every ENCAP_LINK_STRANGER_BYE_NS (a window
 * of frames comes at once).  @hdr: the frame's header.
 */
static void bye_stranger(struct encap_link *l, const struct encap_frame_hdr *hdr,
                         uint8_t op, uint64_t now)
{
    struct encap_ctrl bye = {
        .op = ENCAP_CTRL_BYE, .max_frame = l->max_frame, .mps = l->mps,
        .mrrs = l->mrrs,
    };
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    uint8_t body[ENCAP_CTRL_LEN];
    size_t len;

    if (l->cfg.initiator || (hdr->flags & ENCAP_F_RESP) ||
        memcmp(hdr->dst, l->cfg.own_mac, 6) ||
        (hdr->type != ENCAP_FRAME_DATA && hdr->type != ENCAP_FRAME_CTRL) ||
        op == ENCAP_CTRL_HELLO || op == ENCAP_CTRL_HELLO_ACK ||
        op == ENCAP_CTRL_BYE) {
        return;
    }
    if (l->state == ENCAP_LINK_UP && hdr->session == l->cfg.session &&
        hdr->epoch == l->epoch && hdr->rc_id == l->cfg.rc_id) {
        return;     /* ours, from another MAC: it is not gone */
    }
    if (hdr->session == l->bye_session && hdr->epoch == l->bye_epoch &&
        hdr->rc_id == l->bye_rc_id && l->bye_ns &&
        now - l->bye_ns < ENCAP_LINK_STRANGER_BYE_NS) {
        return;
    }
    l->bye_session = hdr->session;
    l->bye_epoch = hdr->epoch;
    l->bye_rc_id = hdr->rc_id;
    l->bye_ns = now ?: 1;
    link_fill_hdr(l, &h, ENCAP_FRAME_CTRL);
    memcpy(h.dst, hdr->src, 6);
    h.rc_id = hdr->rc_id;
    h.session = hdr->session;
    h.epoch = hdr->epoch;
    encap_ctrl_encode(&bye, body, sizeof(body));
    encap_frame_begin(&b, l->ctrl_buf, sizeof(l->ctrl_buf), &h);
    encap_frame_add_payload(&b, body, sizeof(body));
    len = encap_frame_finish(&b);
    if (l->keyed) {
        /* Version 2, not sealed: a hint, not a proof. */
        l->ctrl_buf[ENCAP_ETH_HLEN] = ENCAP_VERSION_KEYED;
        wire_put32(l->ctrl_buf + len - ENCAP_CRC_LEN,
                   encap_crc32c(0, l->ctrl_buf, len - ENCAP_CRC_LEN));
    }
    l->stats.byes_stranger++;
    send_plain(l, l->ctrl_buf, len, false);
}

static uint8_t ctrl_op(const struct encap_frame_view *v)
{
    return v->hdr.type == ENCAP_FRAME_CTRL && v->payload_len ? v->payload[0]
                                                             : 0;
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

/*
 * Keyed, @f framing checked and not sealed: an endpoint's unsealed BYE
 * (bye_stranger())?  0 if not.  One in the session we are up in, as the
 * initiator: ask the session at once, as a HELLO's challenge does on the
 * endpoint (a PING, and the session ends unless something of it comes
 * back within the probe time), and 1.  Anyone can send such a BYE; it
 * costs a live session a PING and its answer.  Any other: dropped.
 */
static int bye_unsealed(struct encap_link *l, const uint8_t *f, uint64_t now)
{
    const uint8_t *h = f + ENCAP_ETH_HLEN;

    if (h[1] != ENCAP_FRAME_CTRL || !(wire_get16(h + 2) & ENCAP_F_RESP) ||
        wire_get16(h + 20) != ENCAP_CTRL_LEN ||
        h[ENCAP_HDR_LEN] != ENCAP_CTRL_BYE) {
        return 0;
    }
    if (!l->cfg.initiator || l->state != ENCAP_LINK_UP ||
        memcmp(f, l->cfg.own_mac, 6) || memcmp(f + 6, l->cfg.peer_mac, 6) ||
        wire_get16(h + 4) != l->cfg.rc_id ||
        wire_get16(h + 6) != l->cfg.session || wire_get32(h + 8) != l->epoch) {
        return drop_counted(l, &l->stats.drops_session, -ENCAP_E_FIELD);
    }
    l->stats.byes_unsealed++;
    if (l->cfg.keepalive_ns) {
        challenge(l, now);
    }
    return 1;
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
 * 0 and @v set, 1 for a DISC frame (not the session's) or an unsealed BYE
 * acted on (bye_unsealed()), or the reason it
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
        r = bye_unsealed(l, f, now);
        return r ? r : keyed_hello(l, f, len, v);
    }
    if (!l->have_keys || wire_get16(h + 4) != l->cfg.rc_id ||
        wire_get16(h + 6) != l->cfg.session || wire_get32(h + 8) != l->epoch) {
        /* Not this session's keys: another epoch's, or none yet. */
        struct encap_frame_hdr hdr = {
            .type = h[1], .flags = wire_get16(h + 2),
            .rc_id = wire_get16(h + 4), .session = wire_get16(h + 6),
            .epoch = wire_get32(h + 8),
        };

        memcpy(hdr.dst, f, 6);
        memcpy(hdr.src, f + 6, 6);
        bye_stranger(l, &hdr, 0, now);
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
    if (!l->cfg.initiator && l->ops->peer_proven) {
        l->ops->peer_proven(l->opaque);         /* sealed by the peer */
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
        bye_stranger(l, &v.hdr, ctrl_op(&v), now);
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
            link_credit_limit(l, c.limit);
        }
        if (c.op == ENCAP_CTRL_PING) {
            link_send_ctrl(l, ENCAP_CTRL_PONG, c.cookie);
            if (l->state != ENCAP_LINK_UP || v.hdr.session != l->cfg.session ||
                v.hdr.epoch != l->epoch || v.hdr.rc_id != l->cfg.rc_id) {
                bye_stranger(l, &v.hdr, ctrl_op(&v), now);
            }
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
        bye_stranger(l, &v.hdr, ctrl_op(&v), now);
        return -ENCAP_E_FIELD;
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL && c.op == ENCAP_CTRL_HELLO_ACK) {
        if (l->cfg.initiator && l->state == ENCAP_LINK_HELLO_SENT) {
            agree_sizes(l, &c);
            link_agree_credit(l, &c);
            l->hello_deadline = 0;
            go_up(l, now);
            if (l->keyed) {
                /* Our proof of the key: the responder goes up on it. */
                link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
            }
        }
        return 0;
    }
    if (l->state != ENCAP_LINK_UP) {
        l->stats.drops++;
        l->stats.drops_state++;
        if (!l->confirming) {
            bye_stranger(l, &v.hdr, ctrl_op(&v), now);
        }
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
        news = link_process_ack(l, v.hdr.ack, now);
        if (sack && link_process_sack(l, v.hdr.ack, sack, sack_len, now) > 0) {
            news = true;
        }
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL &&
        (c.op == ENCAP_CTRL_ACK || c.op == ENCAP_CTRL_NAK)) {
        link_credit_limit(l, c.limit);
        if ((v.hdr.flags & ENCAP_F_DUP) && (v.hdr.flags & ENCAP_F_RESENT)) {
            link_resend_needless(l, v.hdr.seq);
        } else if (v.hdr.flags & ENCAP_F_DUP) {
            link_copy_needless(l, v.hdr.seq);
        }
    }
    if (v.hdr.type == ENCAP_FRAME_DATA) {
        link_input_data(l, &v, now);
    } else if (c.op == ENCAP_CTRL_NAK) {
        l->stats.naks_rx++;
        if (!sack) {
            /* A peer that keeps nothing after a gap: go back to it. */
            link_retransmit_all(l, now);
            link_arm_rto(l, now);
        }
    } else if (c.op == ENCAP_CTRL_BYE) {
        link_set_state(l, ENCAP_LINK_DOWN);
        return 0;
    }
    if (news) {
        link_rto_answered(l, now);
        link_fast_retransmit(l, now);
    }
    return 0;
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
        link_set_state(l, ENCAP_LINK_DOWN);
        return;
    }
    if (now >= l->ping_deadline) {
        link_send_ctrl(l, ENCAP_CTRL_PING, 0);
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
            link_set_state(l, ENCAP_LINK_DOWN);
        } else {
            link_send_ctrl(l, ENCAP_CTRL_HELLO, 0);
            l->hello_deadline = now + l->cfg.hello_ns;
        }
    }
    if (l->state == ENCAP_LINK_UP && l->cfg.keepalive_ns) {
        keepalive(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->rto_deadline && now >= l->rto_deadline) {
        l->pto_deadline = 0;
        link_rto_expired(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->pto_deadline && now >= l->pto_deadline) {
        link_tail_probe(l, now);
    }
    if (l->state == ENCAP_LINK_UP && l->ack_deadline && now >= l->ack_deadline) {
        l->stats.acks_tx++;
        link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
    }
    if (l->state == ENCAP_LINK_UP && l->update_deadline &&
        now >= l->update_deadline) {
        l->stats.credit_updates++;
        link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
    }
    if (l->state == ENCAP_LINK_UP && l->credit_probe_deadline &&
        now >= l->credit_probe_deadline) {
        link_credit_probe(l, now);
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

    link_burst_push(l);
    r = link_input(l, frame, len, now);
    link_burst_push(l);
    return r;
}

uint64_t encap_link_poll(struct encap_link *l, uint64_t now)
{
    uint64_t next;

    link_burst_push(l);
    next = link_poll(l, now);
    link_burst_push(l);
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
                           !link_credit_exhausted(l) ?
                           l->peer_limit - l->req_sent : 0;
    s->credit_backlog = l->req_delivered - l->req_released;
}
