/* SPDX-License-Identifier: MIT */
/* encap: link layer, request credit (docs/protocol.md, 4.1). */
#include "link-int.h"

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
void link_credit_fill(struct encap_link *l, struct encap_ctrl *c)
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


bool link_tlp_is_request(const struct encap_tlp *t)
{
    return t->type != ENCAP_TLP_CPL && t->type != ENCAP_TLP_CPLD;
}

/* The peer's limit allows no more requests until it moves. */
bool link_credit_exhausted(const struct encap_link *l)
{
    return l->peer_credit && !seq_lt(l->req_sent, l->peer_limit);
}

/*
 * A request refused for credit.  What is built goes out (the peer can
 * release only what it has), and a held sender starts its probe timer:
 * with nothing unacknowledged no ACK would bring the limit if the update
 * was lost.
 */
void link_credit_refused(struct encap_link *l, uint64_t now)
{
    l->stats.credit_waits++;
    link_finish_data(l, now);
    link_burst_push(l);
    if (!l->credit_held) {
        l->credit_held = true;
        l->credit_probe_ns = link_rto_base(l);
        l->credit_probe_deadline = now + l->credit_probe_ns;
    }
}

/* The limit of an ACK, NAK, PING or PONG of the session: take the newest. */
void link_credit_limit(struct encap_link *l, uint32_t limit)
{
    if (!l->peer_credit || !seq_lt(l->peer_limit, limit)) {
        return;
    }
    l->peer_limit = limit;
    if (!link_credit_exhausted(l)) {
        l->credit_held = false;
        l->credit_probe_deadline = 0;
    }
}

/*
 * Probe timer: still held.  With frames unacknowledged their ACKs bring
 * the limit; else a PING asks for it (its PONG carries it), again after
 * twice as long (retransmission backoff, up to rto_max_ns).
 */
void link_credit_probe(struct encap_link *l, uint64_t now)
{
    if (l->snd_una == l->snd_nxt) {
        l->stats.credit_probes++;
        link_send_ctrl(l, ENCAP_CTRL_PING, 0);
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
    return link_credit_exhausted(l) ? 0 : l->peer_limit - l->req_sent;
}


/*
 * A request TLP about to be delivered (counted first: the application may
 * release it from ops->deliver_tlp).  One beyond the limit is delivered
 * all the same (the frame was acknowledged), and counted.
 */
void link_credit_delivered(struct encap_link *l)
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
void link_credit_update(struct encap_link *l, uint64_t now)
{
    int32_t left = (int32_t)(l->adv_limit - l->req_delivered);

    if (!l->cfg.rx_request_credit || l->state != ENCAP_LINK_UP ||
        rx_limit(l) == l->adv_limit) {
        return;
    }
    if (left <= 0) {
        l->stats.credit_updates++;
        link_send_ctrl(l, ENCAP_CTRL_ACK, 0);
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
    link_credit_update(l, now);
    link_burst_push(l);
}

/* The peer's request credit, from its HELLO or HELLO_ACK. */
void link_agree_credit(struct encap_link *l, const struct encap_ctrl *c)
{
    l->peer_credit = c->features & ENCAP_CTRL_F_CREDIT;
    l->peer_limit = l->peer_credit ? c->credit : 0;
}
