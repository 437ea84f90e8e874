/* SPDX-License-Identifier: MIT */
/*
 * encap: what all transports share: argument checks, dispatch, counters,
 * bursts for transports without them, and opening by spec string.
 */
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "encap/frame.h"
#include "encap/transport.h"
#include "transport-int.h"

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
    int rx_pending;             /* error met inside a burst, for the next
                                   receive (receiving thread only) */
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

/* A frame of @len bytes may go out on @t. */
static bool size_ok(const struct encap_transport *t, size_t len)
{
    return len >= ENCAP_ETH_HLEN && len <= (size_t)t->mtu + ENCAP_ETH_HLEN;
}

int encap_transport_send(struct encap_transport *t, const uint8_t *frame,
                         size_t len)
{
    int r;

    if (!size_ok(t, len)) {
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
    int r = t->rx_pending;

    if (r < 0) {
        t->rx_pending = 0;
        count(&t->rx_errors, 1);
        return r;
    }
    r = t->ops->recv(t->opaque, buf, cap);

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

int encap_transport_send_burst(struct encap_transport *t,
                               const struct encap_tx_frame *f, unsigned n)
{
    unsigned ok = 0, done = 0;
    int r = 0;

    while (ok < n && size_ok(t, f[ok].len)) {
        ok++;
    }
    if (ok == 0) {
        count(&t->tx_errors, 1);
        return n ? -EMSGSIZE : -EINVAL;
    }
    while (done < ok) {
        unsigned chunk = ok - done;

        if (chunk > ENCAP_TRANSPORT_MAX_BURST) {
            chunk = ENCAP_TRANSPORT_MAX_BURST;
        }
        if (t->ops->send_burst) {
            r = t->ops->send_burst(t->opaque, f + done, chunk);
        } else {
            r = t->ops->send(t->opaque, f[done].data, f[done].len);
            r = r < 0 ? r : 1;
            chunk = 1;
        }
        if (r <= 0) {
            r = r < 0 ? r : -EIO;
            break;
        }
        for (int k = 0; k < r; k++) {
            count(&t->bytes_tx, f[done + k].len);
        }
        count(&t->frames_tx, r);
        done += r;
        if ((unsigned)r < chunk) {
            break;              /* the kernel took no more: stop here */
        }
    }
    if (done == 0) {
        count(&t->tx_errors, 1);
        return r;
    }
    return done;
}

/* Receive a burst one frame at a time, for transports without recv_burst. */
static int recv_loop(struct encap_transport *t, struct encap_rx_frame *f,
                     unsigned n, unsigned *oversize)
{
    unsigned got = 0;

    for (unsigned tries = 0; got < n && tries < ENCAP_TRANSPORT_MAX_BURST;
         tries++) {
        int r = t->ops->recv(t->opaque, f[got].buf, f[got].cap);

        if (r == -EMSGSIZE) {
            (*oversize)++;
            continue;
        }
        if (r < 0) {
            if (got == 0) {
                return r;
            }
            t->rx_pending = r;  /* after the frames already taken */
            break;
        }
        if (r == 0) {
            break;
        }
        f[got++].len = r;
    }
    return got;
}

int encap_transport_recv_burst(struct encap_transport *t,
                               struct encap_rx_frame *f, unsigned n)
{
    unsigned oversize = 0;
    int r = t->rx_pending;

    if (r < 0) {
        t->rx_pending = 0;
        count(&t->rx_errors, 1);
        return r;
    }
    if (n == 0) {
        return 0;
    }
    if (n > ENCAP_TRANSPORT_MAX_BURST) {
        n = ENCAP_TRANSPORT_MAX_BURST;
    }
    r = t->ops->recv_burst ? t->ops->recv_burst(t->opaque, f, n, &oversize)
                           : recv_loop(t, f, n, &oversize);
    if (oversize) {
        count(&t->rx_oversize, oversize);
    }
    if (r < 0) {
        count(&t->rx_errors, 1);
        return r;
    }
    if (r == 0) {
        return oversize ? -EMSGSIZE : 0;
    }
    for (int k = 0; k < r; k++) {
        count(&t->bytes_rx, f[k].len);
    }
    count(&t->frames_rx, r);
    return r;
}

int encap_transport_address(const struct encap_transport *t, bool peer,
                            char *buf, size_t len)
{
    if (!t->ops->address) {
        return -EOPNOTSUPP;
    }
    return t->ops->address(t->opaque, peer, buf, len);
}

void encap_transport_adopt_peer(struct encap_transport *t, unsigned slot)
{
    if (t->ops->adopt_peer) {
        t->ops->adopt_peer(t->opaque, slot);
    }
}

int encap_transport_fd(const struct encap_transport *t)
{
    return t->ops->fd(t->opaque);
}

bool encap_transport_mapped_rx(const struct encap_transport *t)
{
    return t->ops->mapped_rx;
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
    s->rx_stray = t->ops->stray ? t->ops->stray(t->opaque) : 0;
}

void encap_transport_close(struct encap_transport *t)
{
    if (t) {
        t->ops->close(t->opaque);
        free(t);
    }
}

/* ---- what the raw Ethernet transports share ---- */

int encap_if_info(int fd, const char *ifname, uint8_t mac[6], unsigned *mtu,
                  char *err, size_t errlen)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        int r = -errno;

        if (err && errlen) {
            snprintf(err, errlen, "%s: %s", ifname, r == -ENODEV ?
                     "no such interface" : strerror(-r));
        }
        return r;
    }
    /* lo carries Ethernet frames too (with an all-zero MAC). */
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
        ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
        if (err && errlen) {
            snprintf(err, errlen, "%s: not an Ethernet interface", ifname);
        }
        return -EPROTONOSUPPORT;
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
        int r = -errno;

        if (err && errlen) {
            snprintf(err, errlen, "%s: SIOCGIFMTU: %s", ifname, strerror(-r));
        }
        return r;
    }
    /* lo has 65536; we never send or expect more than jumbo frames. */
    *mtu = ifr.ifr_mtu < ENCAP_TRANSPORT_MAX_MTU ? ifr.ifr_mtu
                                                 : ENCAP_TRANSPORT_MAX_MTU;
    return 0;
}

/* ---- opening by spec string ---- */

static int open_pcap(const char *addr, bool listener,
                     struct encap_transport **out, char *err, size_t errlen)
{
    (void)listener;             /* raw Ethernet has no sides */
    return encap_transport_open_pcap(addr, out, err, errlen);
}

static int open_packet(const char *addr, bool listener,
                       struct encap_transport **out, char *err, size_t errlen)
{
    (void)listener;
    return encap_transport_open_packet(addr, out, err, errlen);
}

static const struct {
    const char *scheme;
    const char *what;           /* the address it takes, for messages */
    int (*open)(const char *addr, bool listener,
                struct encap_transport **out, char *err, size_t errlen);
} schemes[] = {
    { "pcap", "an interface name", open_pcap },
    { "unix", "a socket path", encap_transport_open_unix },
    { "udp", "HOST:PORT, [IPV6]:PORT or :PORT", encap_transport_open_udp },
    { "packet", "an interface name", open_packet },
};

int encap_transport_open(const char *spec, bool listener,
                         struct encap_transport **out,
                         char *err, size_t errlen)
{
    const char *colon = spec ? strchr(spec, ':') : NULL;

    if (colon) {
        size_t n = colon - spec;

        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
            if (strlen(schemes[i].scheme) != n ||
                strncmp(spec, schemes[i].scheme, n)) {
                continue;
            }
            if (!colon[1]) {
                if (err && errlen) {
                    snprintf(err, errlen, "transport '%s': %s: needs %s",
                             spec, schemes[i].scheme, schemes[i].what);
                }
                return -EINVAL;
            }
            return schemes[i].open(colon + 1, listener, out, err, errlen);
        }
    }
    if (err && errlen) {
        snprintf(err, errlen, "transport '%s': not pcap:IFNAME, packet:IFNAME, "
                 "unix:PATH or udp:HOST:PORT", spec ? spec : "");
    }
    return -EINVAL;
}
