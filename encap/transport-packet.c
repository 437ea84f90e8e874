/* SPDX-License-Identifier: MIT */
/*
 * encap: the raw Ethernet transport through AF_PACKET sockets with
 * memory-mapped rings: many frames per system call and per wakeup.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encap/frame.h"
#include "encap/packet-ring.h"
#include "encap/transport.h"
#include "transport-int.h"

/*
 * Receive ring, TPACKET_V3: 64 blocks of 256 KiB (16 MiB).  A block holds
 * 28 jumbo frames or about 170 of 1514 bytes; the ring absorbs a burst of
 * 1,800 jumbo frames while the reader is away.
 */
#define V3_BLOCK_SIZE   (256 << 10)
#define V3_BLOCKS       64
/*
 * Receive ring, TPACKET_V2: 2,048 slots sized for the MTU (4 MiB at MTU
 * 1500, 32 MiB jumbo), eight times the link's default window, and at most
 * 32 MiB.  No larger: the kernel reads each slot's status as it fills it,
 * and a ring that stays in the cache costs less per frame
 * (docs/performance.md).
 */
#define V2_RING_SLOTS   2048
#define V2_RING_MAX     (32 << 20)
/* TX ring: 8 MiB of slots sized for the MTU (512 jumbo, 4096 small). */
#define TX_RING_BYTES   (8 << 20)
/* Blocks of the V2 rings (a page multiple, a multiple of the slot size). */
#define RING_BLOCK      (128 << 10)
/* Send buffer for sendmmsg: frames wait in the peer's backlog on veth. */
#define PACKET_SNDBUF   (4 << 20)

enum rx_ring { RX_V3, RX_V2 };
enum tx_way { TX_MMSG, TX_RING };

struct packet_opts {
    char ifname[IFNAMSIZ];
    enum rx_ring rx;
    enum tx_way tx;
    unsigned block_ms;          /* V3 block timeout */
};

/*
 * Two sockets on the interface, so the directions share nothing: @rx_fd
 * is bound to our EtherType and owns the receive ring; @tx_fd has
 * protocol 0 (it receives nothing) and sends, with PACKET_QDISC_BYPASS.
 * The rx_* fields belong to the receiving thread, the tx_* ones to the
 * sending thread.  @stray is written by the receiving thread and read by
 * anyone; @lock serialises PACKET_STATISTICS (which resets the kernel's
 * counters) and protects @drops.
 */
struct packet_transport {
    struct packet_opts o;
    unsigned max_frame;         /* MTU + Ethernet header */

    int rx_fd;
    uint8_t *rx_ring;
    size_t rx_ring_len;
    size_t rx_slot;             /* V3: block size; V2: frame size */
    unsigned rx_slots;
    unsigned rx_cur;            /* block or slot being read */
    bool rx_in_block;           /* V3: block rx_cur is ours, at @rx_pos */
    struct encap_pring_cursor rx_pos;
    uint64_t stray;

    int tx_fd;
    struct sockaddr_ll tx_addr;
    uint8_t *tx_ring;
    size_t tx_ring_len;
    size_t tx_slot;
    unsigned tx_slots;
    unsigned tx_cur;
    struct mmsghdr tx_msg[ENCAP_TRANSPORT_MAX_BURST];
    struct iovec tx_iov[ENCAP_TRANSPORT_MAX_BURST];

    pthread_mutex_t lock;
    uint64_t drops;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The send queue is full: wait for room, at most
 * ENCAP_TRANSPORT_SEND_WAIT_MS from *@start (set on the first call).
 */
static int wait_room(int fd, uint64_t *start)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    uint64_t now = mono_ms();
    int left;

    if (!*start) {
        *start = now;
    }
    left = ENCAP_TRANSPORT_SEND_WAIT_MS - (int)(now - *start);
    if (left <= 0) {
        return -EAGAIN;
    }
    if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
        return -errno;
    }
    return 0;
}

/* ---- sending ---- */

static int send_mmsg(struct packet_transport *p,
                     const struct encap_tx_frame *f, unsigned n)
{
    uint64_t start = 0;

    for (unsigned k = 0; k < n; k++) {
        p->tx_iov[k].iov_base = (void *)f[k].data;
        p->tx_iov[k].iov_len = f[k].len;
        p->tx_msg[k].msg_hdr = (struct msghdr) {
            .msg_name = &p->tx_addr, .msg_namelen = sizeof(p->tx_addr),
            .msg_iov = &p->tx_iov[k], .msg_iovlen = 1,
        };
    }
    for (;;) {
        int r = sendmmsg(p->tx_fd, p->tx_msg, n, MSG_DONTWAIT);

        if (r > 0) {
            return r;
        }
        if (r == 0) {
            return -EIO;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -errno;      /* -ENOBUFS: the device queue is full */
        }
        r = wait_room(p->tx_fd, &start);
        if (r < 0) {
            return r;
        }
    }
}

/*
 * TX ring: fill the free slots in order, then one send() has the kernel
 * transmit them all.  A full ring (the peer has not taken what we sent
 * yet: on veth a slot is only free once the peer consumed its frame) is
 * waited for, bounded.
 */
static int send_ring(struct packet_transport *p,
                     const struct encap_tx_frame *f, unsigned n)
{
    uint64_t start = 0;
    unsigned k = 0;

    for (;;) {
        while (k < n) {
            uint8_t *slot = p->tx_ring + (size_t)p->tx_cur * p->tx_slot;

            if (!encap_pring_tx_free(slot) ||
                encap_pring_tx_fill(slot, p->tx_slot, f[k].data,
                                    f[k].len) < 0) {
                break;          /* full (a fill cannot fail: slots fit) */
            }
            p->tx_cur = (p->tx_cur + 1) % p->tx_slots;
            k++;
        }
        if (k > 0) {
            /*
             * One call for all of them.  Frames the device drops come
             * back as free slots (lost, as on a wire); a failure of the
             * call itself leaves them queued for the next one.
             */
            sendto(p->tx_fd, NULL, 0, MSG_DONTWAIT,
                   (struct sockaddr *)&p->tx_addr, sizeof(p->tx_addr));
            return k;
        }
        int r = wait_room(p->tx_fd, &start);
        if (r < 0) {
            return r;
        }
    }
}

static int packet_send_burst(void *opaque, const struct encap_tx_frame *f,
                             unsigned n)
{
    struct packet_transport *p = opaque;

    return p->o.tx == TX_RING ? send_ring(p, f, n) : send_mmsg(p, f, n);
}

static int packet_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct encap_tx_frame f = { .data = frame, .len = len };
    int r = packet_send_burst(opaque, &f, 1);

    return r < 0 ? r : 0;
}

/* ---- receiving ---- */

/*
 * The next frame of the ring into @f: 1, or 0 if the kernel has handed
 * nothing more over.  A V2 slot returned here is released by
 * frame_done(); a V3 block when its last frame has been used.
 */
static int next_frame(struct packet_transport *p, struct encap_pring_frame *f)
{
    for (;;) {
        uint8_t *at = p->rx_ring + (size_t)p->rx_cur * p->rx_slot;
        int r;

        if (p->o.rx == RX_V2) {
            r = encap_pring_v2_frame(at, p->rx_slot, f);
            if (r >= 0) {
                return r;
            }
            encap_pring_v2_release(at);     /* malformed: skip it */
            p->rx_cur = (p->rx_cur + 1) % p->rx_slots;
            continue;
        }
        if (!p->rx_in_block) {
            if (!encap_pring_v3_begin(at, &p->rx_pos)) {
                return 0;
            }
            p->rx_in_block = true;
        }
        r = encap_pring_v3_next(at, p->rx_slot, &p->rx_pos, f);
        if (r > 0) {
            return r;
        }
        /* The block is used up (or malformed): give it back, go on. */
        encap_pring_v3_release(at);
        p->rx_in_block = false;
        p->rx_cur = (p->rx_cur + 1) % p->rx_slots;
    }
}

static void frame_done(struct packet_transport *p)
{
    if (p->o.rx == RX_V2) {
        encap_pring_v2_release(p->rx_ring + (size_t)p->rx_cur * p->rx_slot);
        p->rx_cur = (p->rx_cur + 1) % p->rx_slots;
    }
}

/*
 * Up to @n frames into @f; frames too large for their slot are consumed
 * and counted in *@oversize.  With @one_error, stop after such a frame
 * (a single recv reports it as -EMSGSIZE).
 */
static int take(struct packet_transport *p, struct encap_rx_frame *f,
                unsigned n, unsigned *oversize, bool one_error)
{
    struct encap_pring_frame fr;
    unsigned got = 0, seen = 0;

    /* Bounded, so that a flood of strays cannot keep the caller here. */
    while (got < n && seen < 4 * ENCAP_TRANSPORT_MAX_BURST &&
           !(one_error && *oversize) && next_frame(p, &fr) > 0) {
        seen++;
        if (!encap_pring_wanted(&fr)) {
            __atomic_store_n(&p->stray, p->stray + 1, __ATOMIC_RELAXED);
        } else if (fr.snaplen < fr.len || fr.len > f[got].cap ||
                   fr.len > p->max_frame) {
            (*oversize)++;
        } else {
            memcpy(f[got].buf, fr.data, fr.len);
            f[got++].len = fr.len;
        }
        frame_done(p);
    }
    return got;
}

static int packet_recv_burst(void *opaque, struct encap_rx_frame *f,
                             unsigned n, unsigned *oversize)
{
    return take(opaque, f, n, oversize, false);
}

static int packet_recv(void *opaque, uint8_t *buf, size_t cap)
{
    struct encap_rx_frame f = { .buf = buf, .cap = cap };
    unsigned oversize = 0;

    if (take(opaque, &f, 1, &oversize, true) > 0) {
        return f.len;
    }
    return oversize ? -EMSGSIZE : 0;
}

static int packet_fd(void *opaque)
{
    struct packet_transport *p = opaque;

    return p->rx_fd;
}

static uint64_t packet_stray(void *opaque)
{
    struct packet_transport *p = opaque;

    return __atomic_load_n(&p->stray, __ATOMIC_RELAXED);
}

static int packet_kernel_drops(void *opaque, uint64_t *drops)
{
    struct packet_transport *p = opaque;
    struct tpacket_stats_v3 st;
    socklen_t sl = p->o.rx == RX_V3 ? sizeof(st)
                                    : sizeof(struct tpacket_stats);
    int r = 0;

    pthread_mutex_lock(&p->lock);
    if (getsockopt(p->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) {
        r = -errno;
    } else {
        p->drops += st.tp_drops;    /* the kernel resets it on each read */
        *drops = p->drops;
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

static void packet_free(struct packet_transport *p)
{
    if (p->rx_ring) {
        munmap(p->rx_ring, p->rx_ring_len);
    }
    if (p->tx_ring) {
        munmap(p->tx_ring, p->tx_ring_len);
    }
    if (p->rx_fd >= 0) {
        close(p->rx_fd);
    }
    if (p->tx_fd >= 0) {
        close(p->tx_fd);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void packet_close(void *opaque)
{
    packet_free(opaque);
}

static const struct encap_transport_ops packet_ops = {
    .name = "packet",
    .fixed_mac = true,
    .mapped_rx = true,
    .send = packet_send,
    .recv = packet_recv,
    .fd = packet_fd,
    .kernel_drops = packet_kernel_drops,
    .send_burst = packet_send_burst,
    .recv_burst = packet_recv_burst,
    .stray = packet_stray,
    .close = packet_close,
};

/* ---- opening ---- */

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/*
 * IFNAME[,rx=v2|v3][,tx=mmsg|ring][,block-ms=N] into @o.  The defaults are
 * what measured best for a link that carries requests and their answers
 * (docs/design.md): a V3 block waits up to block-ms for more frames, so a
 * lone frame takes about a millisecond to arrive; a V2 slot is handed
 * over at once.
 */
static int parse_opts(const char *spec, struct packet_opts *o, char *err,
                      size_t errlen)
{
    const char *comma = strchr(spec, ',');
    size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
    char *copy, *save = NULL;
    int r = 0;

    *o = (struct packet_opts) { .rx = RX_V2, .tx = TX_MMSG, .block_ms = 1 };
    if (n == 0 || n >= IFNAMSIZ) {
        return fail(err, errlen, -EINVAL, "packet:%s: bad interface name",
                    spec);
    }
    memcpy(o->ifname, spec, n);
    if (!comma) {
        return 0;
    }
    copy = strdup(comma + 1);
    if (!copy) {
        return -ENOMEM;
    }
    for (char *kv = strtok_r(copy, ",", &save); kv && r == 0;
         kv = strtok_r(NULL, ",", &save)) {
        char *end;

        if (!strcmp(kv, "rx=v3") || !strcmp(kv, "rx=v2")) {
            o->rx = kv[4] == '3' ? RX_V3 : RX_V2;
        } else if (!strcmp(kv, "tx=mmsg") || !strcmp(kv, "tx=ring")) {
            o->tx = kv[3] == 'm' ? TX_MMSG : TX_RING;
        } else if (!strncmp(kv, "block-ms=", 9) &&
                   (o->block_ms = strtoul(kv + 9, &end, 10)) >= 1 &&
                   o->block_ms <= 1000 && !*end && kv[9] != '-') {
            continue;
        } else {
            r = fail(err, errlen, -EINVAL, "packet:%s: unknown option '%s' "
                     "(rx=v2|v3, tx=mmsg|ring, block-ms=1..1000)", spec, kv);
        }
    }
    free(copy);
    return r;
}

/* The smallest power of two that is at least @n. */
static size_t pow2_at_least(size_t n)
{
    size_t v = TPACKET_ALIGNMENT;

    while (v < n) {
        v <<= 1;
    }
    return v;
}

/* A packet socket of protocol 0: receives nothing until bound. */
static int open_socket(const struct packet_opts *o, char *err, size_t errlen)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

    if (fd < 0 && (errno == EPERM || errno == EACCES)) {
        return fail(err, errlen, -EPERM, "packet:%s: raw packet sockets "
                    "need CAP_NET_RAW (run as root, or setcap cap_net_raw "
                    "on the program)", o->ifname);
    }
    if (fd < 0) {
        return fail(err, errlen, -errno, "packet:%s: AF_PACKET socket: %s",
                    o->ifname, strerror(errno));
    }
    return fd;
}

static int no_ring(const struct packet_opts *o, const char *what, int e,
                   char *err, size_t errlen)
{
    return fail(err, errlen, -e, "packet:%s: %s: %s (this kernel has no "
                "usable packet ring: use pcap:%s instead)", o->ifname, what,
                strerror(e), o->ifname);
}

/* Only frames for us, broadcast or multicast: not for other stations. */
static int attach_filter(struct packet_transport *p, char *err,
                         size_t errlen)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OTHERHOST, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0x40000),
    };
    struct sock_fprog prog = { .len = 4, .filter = code };

    if (setsockopt(p->rx_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
                   sizeof(prog)) < 0) {
        return fail(err, errlen, -errno, "packet:%s: filter: %s",
                    p->o.ifname, strerror(errno));
    }
    return 0;
}

static int setup_rx(struct packet_transport *p, int ifindex, char *err,
                    size_t errlen)
{
    int version = p->o.rx == RX_V3 ? TPACKET_V3 : TPACKET_V2;
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ENCAP_ETHERTYPE),
        .sll_ifindex = ifindex,
    };
    struct tpacket_req3 req;
    int one = 1;
    int r;

    p->rx_fd = open_socket(&p->o, err, errlen);
    if (p->rx_fd < 0) {
        return p->rx_fd;
    }
    if (setsockopt(p->rx_fd, SOL_PACKET, PACKET_VERSION, &version,
                   sizeof(version)) < 0) {
        return no_ring(&p->o, version == TPACKET_V3 ? "TPACKET_V3" :
                       "TPACKET_V2", errno, err, errlen);
    }
    memset(&req, 0, sizeof(req));
    if (p->o.rx == RX_V3) {
        req.tp_block_size = V3_BLOCK_SIZE;
        req.tp_block_nr = V3_BLOCKS;
        req.tp_frame_size = 16384;  /* bookkeeping only in V3 */
        req.tp_frame_nr = V3_BLOCK_SIZE / 16384 * V3_BLOCKS;
        req.tp_retire_blk_tov = p->o.block_ms;
        p->rx_slot = V3_BLOCK_SIZE;
        p->rx_slots = V3_BLOCKS;
    } else {
        size_t fs = pow2_at_least(TPACKET2_HDRLEN + 16 + p->max_frame);
        size_t slots = V2_RING_MAX / fs < V2_RING_SLOTS ? V2_RING_MAX / fs
                                                        : V2_RING_SLOTS;

        req.tp_block_size = fs > RING_BLOCK ? fs : RING_BLOCK;
        req.tp_block_nr = slots * fs / req.tp_block_size;
        req.tp_frame_size = fs;
        req.tp_frame_nr = req.tp_block_nr * (req.tp_block_size / fs);
        p->rx_slot = fs;
        p->rx_slots = req.tp_frame_nr;
    }
    if (setsockopt(p->rx_fd, SOL_PACKET, PACKET_RX_RING, &req,
                   p->o.rx == RX_V3 ? sizeof(req)
                                    : sizeof(struct tpacket_req)) < 0) {
        return no_ring(&p->o, "PACKET_RX_RING", errno, err, errlen);
    }
    p->rx_ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
    p->rx_ring = mmap(NULL, p->rx_ring_len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, p->rx_fd, 0);
    if (p->rx_ring == MAP_FAILED) {
        p->rx_ring = NULL;
        return fail(err, errlen, -errno, "packet:%s: mmap of the receive "
                    "ring: %s", p->o.ifname, strerror(errno));
    }
    /* Our own sends do not come back (Linux 4.20 and later). */
    setsockopt(p->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
               sizeof(one));
    r = attach_filter(p, err, errlen);
    if (r < 0) {
        return r;
    }
    if (bind(p->rx_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        return fail(err, errlen, -errno, "packet:%s: bind: %s", p->o.ifname,
                    strerror(errno));
    }
    return 0;
}

static int setup_tx(struct packet_transport *p, int ifindex, char *err,
                    size_t errlen)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = 0,          /* bound, but receiving nothing */
        .sll_ifindex = ifindex,
    };
    int one = 1, buf = PACKET_SNDBUF;

    p->tx_fd = open_socket(&p->o, err, errlen);
    if (p->tx_fd < 0) {
        return p->tx_fd;
    }
    p->tx_addr = (struct sockaddr_ll) {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ENCAP_ETHERTYPE),
        .sll_ifindex = ifindex,
        .sll_halen = 6,
    };
    /* Straight to the driver: the qdisc adds nothing for one flow. */
    setsockopt(p->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    if (setsockopt(p->tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf,
                   sizeof(buf)) < 0) {
        setsockopt(p->tx_fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    }
    if (p->o.tx == TX_RING) {
        int version = TPACKET_V2;
        size_t fs = pow2_at_least(TPACKET2_HDRLEN + p->max_frame);
        struct tpacket_req req = {
            .tp_block_size = fs > RING_BLOCK ? fs : RING_BLOCK,
            .tp_frame_size = fs,
            .tp_frame_nr = TX_RING_BYTES / fs,
        };

        req.tp_block_nr = TX_RING_BYTES / req.tp_block_size;
        if (setsockopt(p->tx_fd, SOL_PACKET, PACKET_VERSION, &version,
                       sizeof(version)) < 0) {
            return no_ring(&p->o, "TPACKET_V2", errno, err, errlen);
        }
        if (setsockopt(p->tx_fd, SOL_PACKET, PACKET_TX_RING, &req,
                       sizeof(req)) < 0) {
            return no_ring(&p->o, "PACKET_TX_RING", errno, err, errlen);
        }
        p->tx_slot = fs;
        p->tx_slots = req.tp_frame_nr;
        p->tx_ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
        p->tx_ring = mmap(NULL, p->tx_ring_len, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_POPULATE, p->tx_fd, 0);
        if (p->tx_ring == MAP_FAILED) {
            p->tx_ring = NULL;
            return fail(err, errlen, -errno, "packet:%s: mmap of the send "
                        "ring: %s", p->o.ifname, strerror(errno));
        }
    }
    if (bind(p->tx_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        return fail(err, errlen, -errno, "packet:%s: bind: %s", p->o.ifname,
                    strerror(errno));
    }
    return 0;
}

int encap_transport_open_packet(const char *spec, struct encap_transport **out,
                                char *err, size_t errlen)
{
    struct packet_transport *p;
    struct packet_opts o;
    uint8_t mac[6];
    unsigned mtu = 0;
    int ifindex, r;

    r = parse_opts(spec ? spec : "", &o, err, errlen);
    if (r < 0) {
        return r;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        return -ENOMEM;
    }
    p->o = o;
    p->rx_fd = p->tx_fd = -1;
    pthread_mutex_init(&p->lock, NULL);

    /* The socket first: without CAP_NET_RAW, say that before anything. */
    r = open_socket(&o, err, errlen);
    if (r >= 0) {
        p->tx_fd = r;
        r = 0;
        ifindex = if_nametoindex(o.ifname);
        if (!ifindex) {
            r = fail(err, errlen, -ENODEV, "packet:%s: no such interface",
                     o.ifname);
        }
    }
    if (r == 0) {
        r = encap_if_info(p->tx_fd, o.ifname, mac, &mtu, err, errlen);
        close(p->tx_fd);
        p->tx_fd = -1;
    }
    if (r == 0) {
        p->max_frame = mtu + ENCAP_ETH_HLEN;
        r = setup_tx(p, ifindex, err, errlen);
    }
    if (r == 0) {
        r = setup_rx(p, ifindex, err, errlen);
    }
    if (r == 0) {
        r = encap_transport_new(&packet_ops, p, mac, mtu, out);
        if (r < 0) {
            fail(err, errlen, r, "packet:%s: %s", o.ifname, strerror(-r));
        }
    }
    if (r < 0) {
        packet_free(p);
    }
    return r;
}
