/* SPDX-License-Identifier: MIT */
/* encap: the raw Ethernet transport, through libpcap on a named interface. */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encap/frame.h"
#include "encap/transport.h"
#include "transport-int.h"

/* Room for a jumbo frame of 9216 bytes plus VLAN tags and slack. */
#define PCAP_RX_SNAPLEN     9280
/* Kernel ring of the receiving handle: absorbs bursts at line rate. */
#define PCAP_RX_BUFFER      (32 << 20)
/* The sending handle never receives: keep its ring minimal. */
#define PCAP_TX_SNAPLEN     64
#define PCAP_TX_BUFFER      (64 << 10)

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/*
 * Two handles on the interface.  @rx only receives: immediate mode,
 * incoming frames of our EtherType only, non-blocking, pollable.  @tx only
 * sends (its kernel filter rejects every frame, so it never queues any).
 * The receiving thread uses only @rx and the sending thread only @tx, so
 * the two directions share no libpcap state.  @lock serialises
 * pcap_stats() callers (any thread) and protects the drop counters.
 */
struct pcap_transport {
    pcap_t *rx;
    pcap_t *tx;
    int rx_fd;                  /* selectable fd of @rx */
    int tx_fd;                  /* the AF_PACKET socket of @tx */
    pthread_mutex_t lock;
    uint64_t drops;             /* accumulated ps_drop */
    unsigned last_drop;         /* ps_drop at the previous look (wraps) */
};

static int pcap_fd(void *opaque)
{
    struct pcap_transport *p = opaque;

    return p->rx_fd;
}

/*
 * send() on the handle's own socket rather than pcap_inject(), which does
 * the same send() without a way to not block or to tell why it failed.
 */
static int pcap_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct pcap_transport *p = opaque;
    struct timespec start = { 0, 0 }, now;

    for (;;) {
        ssize_t n = send(p->tx_fd, frame, len, MSG_DONTWAIT);
        struct pollfd pfd = { .fd = p->tx_fd, .events = POLLOUT };
        int left;

        if (n == (ssize_t)len) {
            return 0;
        }
        if (n >= 0) {
            return -EIO;        /* a packet socket sends all or nothing */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -errno;      /* -ENOBUFS: the device queue is full */
        }
        /* The socket's send buffer is full: wait for room, bounded. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (start.tv_sec == 0 && start.tv_nsec == 0) {
            start = now;
        }
        left = ENCAP_TRANSPORT_SEND_WAIT_MS -
               ((now.tv_sec - start.tv_sec) * 1000 +
                (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) {
            return -EAGAIN;
        }
        if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int pcap_recv(void *opaque, uint8_t *buf, size_t cap)
{
    struct pcap_transport *p = opaque;
    struct pcap_pkthdr *h;
    const u_char *data;
    int r = pcap_next_ex(p->rx, &h, &data);

    if (r == 0 || r == PCAP_ERROR_BREAK) {
        return 0;
    }
    if (r < 0) {
        return -EIO;
    }
    if (h->caplen < h->len || h->caplen > cap) {
        /* Cut by the snapshot length, or larger than the buffer. */
        return -EMSGSIZE;
    }
    memcpy(buf, data, h->caplen);
    return h->caplen;
}

static int pcap_kernel_drops(void *opaque, uint64_t *drops)
{
    struct pcap_transport *p = opaque;
    struct pcap_stat ps;
    int r = 0;

    pthread_mutex_lock(&p->lock);
    if (pcap_stats(p->rx, &ps) < 0) {
        r = -EIO;
    } else {
        p->drops += (unsigned)(ps.ps_drop - p->last_drop);
        p->last_drop = ps.ps_drop;
        *drops = p->drops;
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

static void pcap_transport_free(struct pcap_transport *p)
{
    if (p->rx) {
        pcap_close(p->rx);
    }
    if (p->tx) {
        pcap_close(p->tx);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void pcap_transport_close(void *opaque)
{
    pcap_transport_free(opaque);
}

static const struct encap_transport_ops pcap_ops = {
    .name = "pcap",
    .fixed_mac = true,
    .send = pcap_send,
    .recv = pcap_recv,
    .fd = pcap_fd,
    .kernel_drops = pcap_kernel_drops,
    .close = pcap_transport_close,
};

static void set_err(char *err, size_t errlen, const char *ifname,
                    const char *what, const char *why)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s: %s%s%s", ifname, what, *why ? ": " : "",
                 why);
    }
}

static int activate_errno(int status)
{
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return -ENODEV;
    case PCAP_ERROR_PERM_DENIED:
        return -EPERM;
    case PCAP_ERROR_IFACE_NOT_UP:
        return -ENETDOWN;
    default:
        return -EIO;
    }
}

/* A handle on @ifname, activated.  0 or -errno with @err set. */
static int open_handle(const char *ifname, bool rx, pcap_t **out, char *err,
                       size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *h = pcap_create(ifname, ebuf);
    int r;

    if (!h) {
        set_err(err, errlen, ifname, "pcap_create", ebuf);
        return -ENOMEM;
    }
    pcap_set_snaplen(h, rx ? PCAP_RX_SNAPLEN : PCAP_TX_SNAPLEN);
    pcap_set_buffer_size(h, rx ? PCAP_RX_BUFFER : PCAP_TX_BUFFER);
    pcap_set_immediate_mode(h, 1);
    r = pcap_activate(h);
    if (r < 0) {
        set_err(err, errlen, ifname, pcap_statustostr(r),
                r == PCAP_ERROR ? pcap_geterr(h) : "");
        pcap_close(h);
        return activate_errno(r);
    }
    if (pcap_datalink(h) != DLT_EN10MB) {
        set_err(err, errlen, ifname, "not an Ethernet interface", "");
        pcap_close(h);
        return -EPROTONOSUPPORT;
    }
    *out = h;
    return 0;
}

/* The sending handle: a kernel filter that accepts nothing. */
static int setup_tx(struct pcap_transport *p, const char *ifname, char *err,
                    size_t errlen)
{
    struct bpf_insn reject = BPF_STMT(BPF_RET | BPF_K, 0);
    struct bpf_program prog = { .bf_len = 1, .bf_insns = &reject };

    if (pcap_setfilter(p->tx, &prog) < 0) {
        set_err(err, errlen, ifname, "filter", pcap_geterr(p->tx));
        return -EIO;
    }
    p->tx_fd = pcap_fileno(p->tx);
    return p->tx_fd < 0 ? -EIO : 0;
}

/* The receiving handle: incoming frames of our EtherType, non-blocking. */
static int setup_rx(struct pcap_transport *p, const char *ifname, char *err,
                    size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    int one = 1;
    int r;

    if (pcap_setdirection(p->rx, PCAP_D_IN) < 0) {
        set_err(err, errlen, ifname, "direction", pcap_geterr(p->rx));
        return -EIO;
    }
    /*
     * Have the kernel itself skip outgoing frames, so our own sends do not
     * wake the receiver (libpcap may only drop them after the wakeup).
     * Linux 4.20 and later; harmless to do without.
     */
    setsockopt(pcap_fileno(p->rx), SOL_PACKET, PACKET_IGNORE_OUTGOING,
               &one, sizeof(one));
    if (pcap_compile(p->rx, &prog, "ether proto 0x88b5", 1,
                     PCAP_NETMASK_UNKNOWN) < 0) {
        set_err(err, errlen, ifname, "filter", pcap_geterr(p->rx));
        return -EIO;
    }
    r = pcap_setfilter(p->rx, &prog);
    pcap_freecode(&prog);
    if (r < 0) {
        set_err(err, errlen, ifname, "filter", pcap_geterr(p->rx));
        return -EIO;
    }
    if (pcap_setnonblock(p->rx, 1, ebuf) < 0) {
        set_err(err, errlen, ifname, "non-blocking mode", ebuf);
        return -EIO;
    }
    p->rx_fd = pcap_get_selectable_fd(p->rx);
    if (p->rx_fd < 0) {
        set_err(err, errlen, ifname, "no selectable fd", "");
        return -EIO;
    }
    return 0;
}

int encap_transport_open_pcap(const char *ifname, struct encap_transport **out,
                              char *err, size_t errlen)
{
    struct pcap_transport *p;
    uint8_t mac[6];
    unsigned mtu = 0;
    int r;

    if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
        set_err(err, errlen, ifname ? ifname : "", "bad interface name", "");
        return -EINVAL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        return -ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    r = open_handle(ifname, false, &p->tx, err, errlen);
    if (r == 0) {
        r = setup_tx(p, ifname, err, errlen);
    }
    if (r == 0) {
        r = encap_if_info(p->tx_fd, ifname, mac, &mtu, err, errlen);
    }
    if (r == 0) {
        r = open_handle(ifname, true, &p->rx, err, errlen);
    }
    if (r == 0) {
        r = setup_rx(p, ifname, err, errlen);
    }
    if (r == 0) {
        r = encap_transport_new(&pcap_ops, p, mac, mtu, out);
        if (r < 0) {
            set_err(err, errlen, ifname, "transport", strerror(-r));
        }
    }
    if (r < 0) {
        pcap_transport_free(p);
    }
    return r;
}
