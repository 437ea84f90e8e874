/* SPDX-License-Identifier: MIT */
/* encap: link layer, sending DATA: frames, acks, retransmission. */
#include <string.h>

#include "link-int.h"
#include "wire.h"

/* The timeout without backoff: RFC 6298 once measured, else the initial. */
uint64_t link_rto_base(const struct encap_link *l)
{
    uint64_t rto;

    if (!l->srtt) {
        return l->cfg.rto_ns;
    }
    rto = l->srtt + 4 * l->rttvar;
    rto = rto > l->cfg.rto_min_ns ? rto : l->cfg.rto_min_ns;
    return rto < l->cfg.rto_max_ns ? rto : l->cfg.rto_max_ns;
}

void link_arm_rto(struct encap_link *l, uint64_t now)
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
    link_send_raw(l, s->buf, s->len, true);
}

/*
 * The probe: the newest frame the peer is not known to hold, sent again.
 * If it was lost, this is its recovery; if an earlier one was, the
 * peer's ack of the probe says which (fast retransmit then, or the
 * timeout); if nothing was, the peer answers the duplicate with an ack
 * at once.
 */
void link_tail_probe(struct encap_link *l, uint64_t now)
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
            link_arm_rto(l, now);
            return;
        }
    }
}

/* Close the DATA frame being built, if any, and send it. */
void link_finish_data(struct encap_link *l, uint64_t now)
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
        link_arm_rto(l, now);
    } else {
        l->snd_nxt++;
    }
    arm_pto(l, now);
    link_send_raw(l, s->buf, s->len, true);
}

void encap_link_flush(struct encap_link *l, uint64_t now)
{
    link_finish_data(l, now);
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
        link_send_raw(l, s->buf, s->len, true);
    }
    l->fresh = false;
    link_burst_push(l);
}

int encap_link_queue_tlp(struct encap_link *l, const struct encap_tlp *t,
                         const struct encap_tlp_limits *lim, uint64_t now)
{
    bool request = link_tlp_is_request(t);

    if (l->state != ENCAP_LINK_UP) {
        /* Not even into a frame built while up: not this session's. */
        return -ENCAP_E_FIELD;
    }
    if (request && link_credit_exhausted(l)) {
        link_credit_refused(l, now);
        return -ENCAP_E_CREDIT;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int r;

        if (!l->building) {
            struct encap_frame_hdr h;

            if (l->snd_nxt - l->snd_una >= l->cfg.window) {
                l->stats.window_full++;
                link_burst_push(l);  /* the caller waits for acks: send all */
                return -ENCAP_E_NOSPACE;
            }
            link_fill_hdr(l, &h, ENCAP_FRAME_DATA);
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
        link_finish_data(l, now); /* a burst takes it when full, or at flush */
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
        s->acked_ns = now;      /* for link_resend_needless() */
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
void link_resend_needless(struct encap_link *l, uint32_t seq)
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
void link_copy_needless(struct encap_link *l, uint32_t seq)
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
    l->rto_cur = link_rto_base(l);
    l->probed = false;
}

/* Resend every frame not held by the peer that frames sent after it
 * have overtaken (RACK-like, counted in transmissions, not time). */
void link_fast_retransmit(struct encap_link *l, uint64_t now)
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
void link_retransmit_all(struct encap_link *l, uint64_t now)
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
void link_rto_answered(struct encap_link *l, uint64_t now)
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
        link_arm_rto(l, now);
    }
}

/* A cumulative ack; returns whether it acknowledged new frames. */
bool link_process_ack(struct encap_link *l, uint32_t ack, uint64_t now)
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
    link_arm_rto(l, now);
    arm_pto(l, now);
    return true;
}

/*
 * The selective-ack block of an ACK/NAK whose header acks @ack: mark the
 * frames the peer holds.  Returns whether any was new, -1 if the block is
 * malformed.
 */
int link_process_sack(struct encap_link *l, uint32_t ack,
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

/* Retransmission timeout: resend what has waited a full timeout. */
void link_rto_expired(struct encap_link *l, uint64_t now)
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
        link_set_state(l, ENCAP_LINK_DOWN);
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
    link_arm_rto(l, now);
}
