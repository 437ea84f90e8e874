/* SPDX-License-Identifier: MIT */
/* encap: what all transports share: argument checks, dispatch, counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "encap/frame.h"
#include "encap/transport.h"

/*
 * The counters are written by one thread each (tx ones by the sender, rx
 * ones by the receiver) and read by anyone: relaxed atomic loads and
 * stores are enough, no read-modify-write is needed.
 */
struct encap_transport {
    const struct encap_transport_ops *ops;
    void *opaque;
    uint8_t mac[6];
    unsigned mtu;
    uint64_t frames_tx, bytes_tx, tx_errors;
    uint64_t frames_rx, bytes_rx, rx_oversize, rx_errors;
};

static inline void count(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

static inline uint64_t counter(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

int encap_transport_new(const struct encap_transport_ops *ops, void *opaque,
                        const uint8_t mac[6], unsigned mtu,
                        struct encap_transport **out)
{
    struct encap_transport *t;

    if (!ops || !ops->name || !ops->send || !ops->recv || !ops->fd ||
        !ops->close || mtu == 0 || mtu > ENCAP_TRANSPORT_MAX_MTU) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->ops = ops;
    t->opaque = opaque;
    memcpy(t->mac, mac, 6);
    t->mtu = mtu;
    *out = t;
    return 0;
}

int encap_transport_send(struct encap_transport *t, const uint8_t *frame,
                         size_t len)
{
    int r;

    if (len < ENCAP_ETH_HLEN || len > (size_t)t->mtu + ENCAP_ETH_HLEN) {
        r = -EMSGSIZE;
    } else {
        r = t->ops->send(t->opaque, frame, len);
    }
    if (r < 0) {
        count(&t->tx_errors, 1);
        return r;
    }
    count(&t->frames_tx, 1);
    count(&t->bytes_tx, len);
    return 0;
}

int encap_transport_recv(struct encap_transport *t, uint8_t *buf, size_t cap)
{
    int r = t->ops->recv(t->opaque, buf, cap);

    if (r > 0) {
        count(&t->frames_rx, 1);
        count(&t->bytes_rx, r);
    } else if (r == -EMSGSIZE) {
        count(&t->rx_oversize, 1);
    } else if (r < 0) {
        count(&t->rx_errors, 1);
    }
    return r;
}

int encap_transport_fd(const struct encap_transport *t)
{
    return t->ops->fd(t->opaque);
}

const char *encap_transport_name(const struct encap_transport *t)
{
    return t->ops->name;
}

void encap_transport_mac(const struct encap_transport *t, uint8_t mac[6])
{
    memcpy(mac, t->mac, 6);
}

int encap_transport_set_mac(struct encap_transport *t, const uint8_t mac[6])
{
    if (t->ops->fixed_mac) {
        return -EOPNOTSUPP;
    }
    if (mac[0] & 1) {
        return -EINVAL;         /* a group address is nobody's own */
    }
    memcpy(t->mac, mac, 6);
    return 0;
}

unsigned encap_transport_mtu(const struct encap_transport *t)
{
    return t->mtu;
}

void encap_transport_get_stats(struct encap_transport *t,
                               struct encap_transport_stats *s)
{
    uint64_t drops = 0;

    s->frames_tx = counter(&t->frames_tx);
    s->bytes_tx = counter(&t->bytes_tx);
    s->tx_errors = counter(&t->tx_errors);
    s->frames_rx = counter(&t->frames_rx);
    s->bytes_rx = counter(&t->bytes_rx);
    s->rx_oversize = counter(&t->rx_oversize);
    s->rx_errors = counter(&t->rx_errors);
    s->kernel_drops_valid = t->ops->kernel_drops &&
                            t->ops->kernel_drops(t->opaque, &drops) == 0;
    s->kernel_drops = s->kernel_drops_valid ? drops : 0;
}

void encap_transport_close(struct encap_transport *t)
{
    if (t) {
        t->ops->close(t->opaque);
        free(t);
    }
}
