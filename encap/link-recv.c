/* SPDX-License-Identifier: MIT */
/* encap: link layer, receiving DATA: in order, kept after a gap. */
#include <stdlib.h>
#include <string.h>

#include "link-int.h"
#include "wire.h"

/*
 * The selective-ack block of an ACK/NAK (docs/protocol.md, section 4):
 * which frames after rcv_nxt we hold, as many as the bitmap and the
 * agreed frame size allow.  Returns its length in @p.
 */
size_t link_sack_encode(struct encap_link *l, uint8_t *p)
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

static void ack_soon(struct encap_link *l, uint64_t now)
{
    l->unacked_rx++;
    if (l->unacked_rx >= l->cfg.window / 4) {
        link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
    } else if (!l->ack_deadline) {
        l->ack_deadline = now + l->cfg.ack_delay_ns;
    }
}


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
            link_credit_delivered(l);
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

void link_input_data(struct encap_link *l, const struct encap_frame_view *v,
                     uint64_t now)
{
    uint32_t d = v->hdr.seq - l->rcv_nxt;
    bool filled = false;

    if (d != 0) {
        if (seq_lt(v->hdr.seq, l->rcv_nxt)) {
            /* Our ack was lost or late: say again where we are. */
            l->stats.duplicates++;
            dup_report(l, v);
            link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
        } else {
            l->data_ns = now;
            /* A gap: keep the frame, say at once what we hold. */
            keep_frame(l, v, d);
            l->stats.naks_tx++;
            link_send_ctrl(l, ENCAP_CTRL_NAK, 0);
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
        link_send_ctrl(l, ENCAP_CTRL_ACK, 0);    /* the sender waits on this */
    } else {
        ack_soon(l, now);
    }
    link_credit_update(l, now);
}
