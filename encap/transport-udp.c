/* SPDX-License-Identifier: MIT */
/* encap: frames in UDP datagrams, one frame per datagram, in batches. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sendmmsg, recvmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encap/frame.h"
#include "encap/gro.h"
#include "encap/seal.h"
#include "encap/transport.h"

/* Kernel socket buffers: absorb bursts of jumbo frames. */
#define UDP_SOCKBUF     (8 << 20)
/* GSO: segments and bytes in one send (UDP_MAX_SEGMENTS, 64 KiB - headers). */
#define GSO_MAX_SEGS    64
#define GSO_MAX_BYTES   65507
/* GRO: datagrams taken per recvmmsg, each up to 64 KiB of coalesced frames. */
#define GRO_BUFS        8
#define GRO_BUF_SIZE    65536

#ifndef UDP_SEGMENT
#define UDP_SEGMENT     103
#endif
#ifndef UDP_GRO
#define UDP_GRO         104
#endif

/* Room for one cmsg of an int (UDP_GRO) or a uint16_t (UDP_SEGMENT). */
union udp_ctl {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};

/*
 * One unconnected socket for both sides, so that ICMP errors (a listener
 * not started yet) never surface as receive errors: the peer is filtered
 * here, by source address.
 *
 * The receiving thread alone learns and changes the peer of a listener; it
 * does so under @lock, which the sending thread takes to copy the peer.  A
 * connecting transport's peer never changes and is read without the lock.
 * @stray is written by the receiving thread only and read by anyone.  The
 * burst scratch arrays belong to one direction each.
 *
 * Sending, a run of frames of one size (the last may be shorter) goes as
 * one GSO datagram (UDP_SEGMENT) that the kernel cuts into one datagram
 * per frame, as late as the device allows.  A frame inside a run that is
 * at most an eighth shorter than the others is padded to their size (a
 * receiver ignores bytes after the CRC), rather than ending the run: the
 * completions of a 4 KiB read at MPS 1408 carry 1408, 1408 and 1280 bytes,
 * and would end a run every third frame.  A segment that does not fit
 * the path MTU (it would need IP fragmentation) makes the kernel refuse
 * GSO: frames of that size and larger are sent one per datagram from
 * then on (@gso_limit).
 *
 * Receiving with GRO (UDP_GRO, when the kernel has it), the kernel may
 * hand over several datagrams of one sender coalesced into one buffer, cut
 * every @gso_size bytes (a cmsg): they are taken into @gro_buf and handed
 * out frame by frame (encap/gro.h); what a call has no room for waits
 * there for the next (@gro_msg, @gro_off).
 */
struct udp_transport {
    int fd;
    bool listener;
    unsigned max_frame;         /* MTU + Ethernet header */
    pthread_mutex_t lock;
    struct sockaddr_storage peer;
    socklen_t peer_len;         /* 0: no peer yet */
    /*
     * The senders of the frames from others than the peer in the burst
     * last returned, by slot (bit k of @cand_mask: @cand[k] is one), for
     * encap_transport_adopt_peer().  The receiving thread's alone.
     */
    uint64_t cand_mask;
    struct sockaddr_storage cand[ENCAP_TRANSPORT_MAX_BURST];
    uint64_t stray;
    struct mmsghdr rx_msg[ENCAP_TRANSPORT_MAX_BURST];
    struct iovec rx_iov[ENCAP_TRANSPORT_MAX_BURST];
    struct sockaddr_storage rx_src[ENCAP_TRANSPORT_MAX_BURST];
    struct mmsghdr tx_msg[ENCAP_TRANSPORT_MAX_BURST];
    struct iovec tx_iov[2 * ENCAP_TRANSPORT_MAX_BURST];     /* frame, pad */
    union udp_ctl tx_ctl[ENCAP_TRANSPORT_MAX_BURST];
    unsigned tx_frames[ENCAP_TRANSPORT_MAX_BURST];  /* frames per message */
    size_t gso_limit;           /* GSO only for segments below this size */
    bool gro;
    uint8_t *gro_buf;           /* GRO_BUFS buffers of GRO_BUF_SIZE */
    struct mmsghdr gro_mh[GRO_BUFS];
    struct iovec gro_iov[GRO_BUFS];
    struct sockaddr_storage gro_src[GRO_BUFS];
    union udp_ctl gro_ctl[GRO_BUFS];
    size_t gro_seg[GRO_BUFS];   /* segment size of each datagram taken */
    unsigned gro_count;         /* datagrams in gro_buf */
    unsigned gro_msg;           /* the next one to hand out ... */
    size_t gro_off;             /* ... from this offset */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int udp_fd(void *opaque)
{
    struct udp_transport *u = opaque;

    return u->fd;
}

static bool same_addr(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

        return x->sin6_port == y->sin6_port &&
               x->sin6_scope_id == y->sin6_scope_id &&
               !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
    }
    return false;
}

/* "udp:1.2.3.4:5" or "udp:[::1]:5" for @sa; 0 or -ENOSPC. */
static int format_addr(const struct sockaddr_storage *sa, char *buf,
                       size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    int n;

    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)sa;

        inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
        port = ntohs(s->sin_port);
        n = snprintf(buf, len, "udp:%s:%u", host, port);
    } else {
        const struct sockaddr_in6 *s = (const void *)sa;

        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
        port = ntohs(s->sin6_port);
        n = snprintf(buf, len, "udp:[%s]:%u", host, port);
    }
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int udp_address(void *opaque, bool peer, char *buf, size_t len)
{
    struct udp_transport *u = opaque;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);

    if (peer) {
        pthread_mutex_lock(&u->lock);
        sa = u->peer;
        sl = u->peer_len;
        pthread_mutex_unlock(&u->lock);
        if (!sl) {
            return -ENOTCONN;
        }
    } else if (getsockname(u->fd, (struct sockaddr *)&sa, &sl) < 0) {
        return -errno;
    }
    return format_addr(&sa, buf, len);
}

static uint64_t udp_stray(void *opaque)
{
    struct udp_transport *u = opaque;

    return __atomic_load_n(&u->stray, __ATOMIC_RELAXED);
}

static void note_stray(struct udp_transport *u)
{
    __atomic_store_n(&u->stray, u->stray + 1, __ATOMIC_RELAXED);
}

/* Where to send: a copy of the peer.  Its length, 0 if there is none. */
static socklen_t peer_of(struct udp_transport *u, struct sockaddr_storage *sa)
{
    socklen_t len;

    if (!u->listener) {
        *sa = u->peer;
        return u->peer_len;
    }
    pthread_mutex_lock(&u->lock);
    *sa = u->peer;
    len = u->peer_len;
    pthread_mutex_unlock(&u->lock);
    return len;
}

/*
 * The socket's send buffer is full: wait for room, at most
 * ENCAP_TRANSPORT_SEND_WAIT_MS from @start (set at the first call).
 * 0 to try again, or -EAGAIN / -errno.
 */
static int wait_room(int fd, uint64_t *start)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    uint64_t now = mono_ns();
    int64_t left;

    if (!*start) {
        *start = now;
    }
    left = ENCAP_TRANSPORT_SEND_WAIT_MS - (int64_t)(now - *start) / 1000000;
    if (left <= 0) {
        return -EAGAIN;
    }
    if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
        return -errno;
    }
    return 0;
}

static int udp_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct udp_transport *u = opaque;
    struct sockaddr_storage sa;
    socklen_t sl = peer_of(u, &sa);
    uint64_t start = 0;

    if (!sl) {
        return -ENOTCONN;
    }
    for (;;) {
        ssize_t n = sendto(u->fd, frame, len, MSG_DONTWAIT,
                           (struct sockaddr *)&sa, sl);
        int r;

        if (n == (ssize_t)len) {
            return 0;
        }
        if (n >= 0) {
            return -EIO;        /* a datagram goes whole or not at all */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -errno;
        }
        r = wait_room(u->fd, &start);
        if (r < 0) {
            return r;
        }
    }
}

/*
 * Messages for frames @f[0..@n): runs of one size as GSO datagrams where
 * allowed, the others one per message.  Returns the number of messages.
 */
static unsigned build_tx(struct udp_transport *u, const struct encap_tx_frame *f,
                         unsigned n, struct sockaddr_storage *sa, socklen_t sl)
{
    static const uint8_t zeros[ENCAP_TRANSPORT_MAX_FRAME / 8];
    unsigned m = 0, v = 0;

    for (unsigned i = 0; i < n;) {
        size_t seg = f[i].len, bytes = seg;
        unsigned j = i + 1, v0 = v;
        struct msghdr *h = &u->tx_msg[m].msg_hdr;

        u->tx_iov[v++] = (struct iovec) { (void *)f[i].data, f[i].len };
        if (seg < u->gso_limit) {
            while (j < n && j - i < GSO_MAX_SEGS &&
                   bytes + seg <= GSO_MAX_BYTES && f[j].len <= seg) {
                size_t pad = seg - f[j].len;

                u->tx_iov[v++] = (struct iovec) { (void *)f[j].data,
                                                  f[j].len };
                bytes += f[j++].len;
                if (!pad) {
                    continue;
                }
                if (pad > seg / 8 || j == n || f[j].len > seg) {
                    break;      /* a shorter one ends the run */
                }
                u->tx_iov[v++] = (struct iovec) { (void *)zeros, pad };
                bytes += pad;
            }
        }
        *h = (struct msghdr) {
            .msg_name = sa, .msg_namelen = sl,
            .msg_iov = &u->tx_iov[v0], .msg_iovlen = v - v0,
        };
        if (j - i > 1) {
            struct cmsghdr *cm;
            uint16_t gso = seg;

            h->msg_control = u->tx_ctl[m].buf;
            h->msg_controllen = CMSG_SPACE(sizeof(gso));
            cm = CMSG_FIRSTHDR(h);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(gso));
            memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
        }
        u->tx_frames[m++] = j - i;
        i = j;
    }
    return m;
}

static int udp_send_burst(void *opaque, const struct encap_tx_frame *f,
                          unsigned n)
{
    struct udp_transport *u = opaque;
    struct sockaddr_storage sa;
    socklen_t sl = peer_of(u, &sa);
    uint64_t start = 0;

    if (!sl) {
        return -ENOTCONN;
    }
    for (;;) {
        unsigned m = build_tx(u, f, n, &sa, sl), sent = 0;
        int r = sendmmsg(u->fd, u->tx_msg, m, MSG_DONTWAIT);

        if (r > 0) {
            for (int k = 0; k < r; k++) {
                sent += u->tx_frames[k];
            }
            return sent;
        }
        if (r == 0) {
            return -EIO;
        }
        if (errno == EINTR) {
            continue;
        }
        if ((errno == EMSGSIZE || errno == EINVAL || errno == EIO) &&
            u->tx_frames[0] > 1) {
            /*
             * GSO refused: EMSGSIZE or EINVAL, a segment larger than the
             * path MTU allows unfragmented; EIO, no checksum offload.
             */
            u->gso_limit = errno == EIO ? 0 : f[0].len;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return -errno;
        }
        r = wait_room(u->fd, &start);
        if (r < 0) {
            return r;
        }
    }
}

/*
 * A frame from another sender than the peer that the link may prove to
 * be the peer's: a HELLO (a CTRL frame of op HELLO from the initiator's
 * side, sent in the clear in keyed sessions too), or a sealed frame of a
 * keyed session from the initiator's side (docs/protocol.md, sections 2,
 * 4 and 7.4).  An unkeyed link drops the latter (key-mismatch).
 */
static bool may_prove(const uint8_t *buf, size_t len)
{
    const uint8_t *h = buf + ENCAP_ETH_HLEN;
    uint16_t flags;

    if (len <= ENCAP_ETH_HLEN + ENCAP_HDR_LEN) {
        return false;
    }
    flags = h[2] << 8 | h[3];
    if (flags & ENCAP_F_RESP) {
        return false;
    }
    return (h[0] == ENCAP_VERSION_KEYED && (flags & ENCAP_F_SEALED)) ||
           (h[1] == ENCAP_FRAME_CTRL && h[ENCAP_HDR_LEN] == ENCAP_CTRL_HELLO);
}

static void set_peer(struct udp_transport *u,
                     const struct sockaddr_storage *sa)
{
    pthread_mutex_lock(&u->lock);
    u->peer = *sa;
    u->peer_len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                           : sizeof(struct sockaddr_in6);
    pthread_mutex_unlock(&u->lock);
}

/* What to do with a datagram. */
enum udp_verdict {
    UDP_DROP,           /* not a frame, or not the peer's: counted */
    UDP_TAKE,
    UDP_TAKE_CAND,      /* from another sender: the link may prove it */
};

/*
 * What to do with the datagram of @len bytes in @buf from @src.  A
 * listener without a peer yet takes the sender of the first frame as its
 * peer.  From then on only the peer's frames are taken, and the HELLOs and
 * sealed frames of others: the sender of a HELLO that opens a session, or
 * of a sealed frame of the session, becomes the peer when the link says
 * so (encap_transport_adopt_peer(), docs/protocol.md section 8).
 */
static enum udp_verdict udp_take(struct udp_transport *u,
                                 const struct sockaddr_storage *src,
                                 const uint8_t *buf, size_t len,
                                 bool oversize)
{
    bool frame = oversize ||
                 (len >= ENCAP_ETH_HLEN &&
                  (buf[12] << 8 | buf[13]) == ENCAP_ETHERTYPE);

    if (u->peer_len && same_addr(src, &u->peer)) {
        if (!frame) {
            note_stray(u);
            return UDP_DROP;
        }
        return UDP_TAKE;
    }
    if (!u->listener || !frame || oversize) {
        note_stray(u);
        return UDP_DROP;
    }
    if (!u->peer_len) {
        set_peer(u, src);
        return UDP_TAKE;
    }
    if (may_prove(buf, len)) {
        return UDP_TAKE_CAND;
    }
    note_stray(u);
    return UDP_DROP;
}

/* Frame @slot of the burst being returned came from @src, not the peer. */
static void note_cand(struct udp_transport *u, unsigned slot,
                      const struct sockaddr_storage *src)
{
    u->cand[slot] = *src;
    u->cand_mask |= 1ull << slot;
}

static void udp_adopt_peer(void *opaque, unsigned slot)
{
    struct udp_transport *u = opaque;

    if (slot < ENCAP_TRANSPORT_MAX_BURST && (u->cand_mask >> slot & 1)) {
        set_peer(u, &u->cand[slot]);
    }
}

/* The segment size of a GRO datagram, from its cmsg; 0 if it has none. */
static size_t gro_segment(struct msghdr *h)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int seg;

            memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
            return seg > 0 ? (size_t)seg : 0;
        }
    }
    return 0;
}

/* Take up to GRO_BUFS datagrams into gro_buf.  Their number, or -errno. */
static int gro_fill(struct udp_transport *u)
{
    int r;

    for (unsigned k = 0; k < GRO_BUFS; k++) {
        u->gro_iov[k].iov_base = u->gro_buf + (size_t)k * GRO_BUF_SIZE;
        u->gro_iov[k].iov_len = GRO_BUF_SIZE;
        u->gro_mh[k].msg_hdr = (struct msghdr) {
            .msg_name = &u->gro_src[k], .msg_namelen = sizeof(u->gro_src[k]),
            .msg_iov = &u->gro_iov[k], .msg_iovlen = 1,
            .msg_control = u->gro_ctl[k].buf,
            .msg_controllen = sizeof(u->gro_ctl[k].buf),
        };
    }
    do {
        r = recvmmsg(u->fd, u->gro_mh, GRO_BUFS, MSG_DONTWAIT, NULL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    for (int k = 0; k < r; k++) {
        struct msghdr *h = &u->gro_mh[k].msg_hdr;
        size_t seg = gro_segment(h);

        /* Not coalesced: one datagram, one frame (or one oversize one). */
        u->gro_seg[k] = seg ? seg : u->gro_mh[k].msg_len;
        if (h->msg_flags & MSG_TRUNC) {
            u->gro_seg[k] = 0;      /* larger than 64 KiB: one drop */
        }
    }
    u->gro_count = r;
    u->gro_msg = 0;
    u->gro_off = 0;
    return r;
}

/*
 * Receive with GRO: hand out the frames of the datagrams taken, taking
 * more when they are used up and slots are left.
 */
static int udp_recv_gro(struct udp_transport *u, struct encap_rx_frame *f,
                        unsigned n, unsigned *oversize)
{
    unsigned got = 0;

    u->cand_mask = 0;
    while (got < n) {
        struct encap_gro_slice s;
        const uint8_t *data;
        enum udp_verdict v;
        unsigned msg;
        bool big;

        if (u->gro_msg == u->gro_count) {
            int r;

            if (got) {
                break;          /* do not wait on strays with frames in hand */
            }
            r = gro_fill(u);
            if (r <= 0) {
                return r < 0 ? r : 0;
            }
        }
        msg = u->gro_msg;
        big = encap_gro_next(u->gro_mh[msg].msg_len, u->gro_seg[msg],
                             &u->gro_off, u->max_frame, f[got].cap, &s) < 0;
        if (s.last) {
            u->gro_msg++;
        }
        data = u->gro_buf + (size_t)msg * GRO_BUF_SIZE + s.off;
        v = udp_take(u, &u->gro_src[msg], data, s.len, big);
        if (v == UDP_DROP) {
            continue;
        }
        if (big) {
            (*oversize)++;
            if (n == 1) {
                return 0;       /* one slot (recv): -EMSGSIZE, reported */
            }
            continue;
        }
        if (v == UDP_TAKE_CAND) {
            note_cand(u, got, &u->gro_src[msg]);
        }
        memcpy(f[got].buf, data, s.len);
        f[got++].len = s.len;
    }
    return got;
}

static int udp_recv(void *opaque, uint8_t *buf, size_t cap)
{
    struct udp_transport *u = opaque;

    if (u->gro) {
        struct encap_rx_frame f = { buf, cap, 0 };
        unsigned oversize = 0;
        int r = udp_recv_gro(u, &f, 1, &oversize);

        return r > 0 ? (int)f.len : oversize ? -EMSGSIZE : r;
    }

    u->cand_mask = 0;
    for (;;) {
        struct sockaddr_storage src;
        struct iovec iov = {
            .iov_base = buf,
            .iov_len = cap < u->max_frame ? cap : u->max_frame,
        };
        struct msghdr msg = {
            .msg_name = &src, .msg_namelen = sizeof(src),
            .msg_iov = &iov, .msg_iovlen = 1,
        };
        ssize_t n = recvmsg(u->fd, &msg, MSG_DONTWAIT);
        enum udp_verdict v;
        bool oversize;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        oversize = msg.msg_flags & MSG_TRUNC;
        v = udp_take(u, &src, buf, n, oversize);
        if (v == UDP_DROP) {
            continue;
        }
        if (v == UDP_TAKE_CAND) {
            note_cand(u, 0, &src);
        }
        return oversize ? -EMSGSIZE : n;
    }
}

static int udp_recv_burst(void *opaque, struct encap_rx_frame *f, unsigned n,
                          unsigned *oversize)
{
    struct udp_transport *u = opaque;
    unsigned got = 0;

    if (u->gro) {
        return udp_recv_gro(u, f, n, oversize);
    }
    u->cand_mask = 0;
    /* Until a frame is taken or nothing waits: strays are skipped. */
    while (got == 0) {
        unsigned want = n;
        int r;

        for (unsigned k = 0; k < want; k++) {
            u->rx_iov[k].iov_base = f[k].buf;
            u->rx_iov[k].iov_len = f[k].cap < u->max_frame ? f[k].cap
                                                           : u->max_frame;
            u->rx_msg[k].msg_hdr = (struct msghdr) {
                .msg_name = &u->rx_src[k],
                .msg_namelen = sizeof(u->rx_src[k]),
                .msg_iov = &u->rx_iov[k], .msg_iovlen = 1,
            };
        }
        r = recvmmsg(u->fd, u->rx_msg, want, MSG_DONTWAIT, NULL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        if (r == 0) {
            return 0;
        }
        /* Keep the taken frames at the front, in order. */
        for (int k = 0; k < r; k++) {
            bool big = u->rx_msg[k].msg_hdr.msg_flags & MSG_TRUNC;
            size_t len = u->rx_msg[k].msg_len;
            enum udp_verdict v = udp_take(u, &u->rx_src[k], f[k].buf, len,
                                          big);

            if (v == UDP_DROP) {
                continue;
            }
            /* Moved forward past a dropped one: it must fit there too. */
            big = big || len > f[got].cap;
            if (big) {
                (*oversize)++;
                continue;
            }
            if ((unsigned)k != got) {
                memcpy(f[got].buf, f[k].buf, len);  /* rare: after a drop */
            }
            if (v == UDP_TAKE_CAND) {
                note_cand(u, got, &u->rx_src[k]);
            }
            f[got++].len = len;
        }
        if (got == 0 && *oversize) {
            return 0;           /* only oversize frames: -EMSGSIZE */
        }
        if ((unsigned)r < want) {
            break;              /* the queue is empty */
        }
    }
    return got;
}

static void udp_close(void *opaque)
{
    struct udp_transport *u = opaque;

    close(u->fd);
    pthread_mutex_destroy(&u->lock);
    free(u->gro_buf);
    free(u);
}

static const struct encap_transport_ops udp_ops = {
    .name = "udp",
    .send = udp_send,
    .recv = udp_recv,
    .fd = udp_fd,
    .send_burst = udp_send_burst,
    .recv_burst = udp_recv_burst,
    .stray = udp_stray,
    .address = udp_address,
    .adopt_peer = udp_adopt_peer,
    .close = udp_close,
};

static const uint8_t listener_mac[6] = ENCAP_UDP_LISTENER_MAC;
static const uint8_t connector_mac[6] = ENCAP_UDP_CONNECTOR_MAC;

static void set_err(char *err, size_t errlen, const char *hostport,
                    const char *what, const char *why)
{
    if (err && errlen) {
        snprintf(err, errlen, "udp:%s: %s%s%s", hostport, what,
                 *why ? ": " : "", why);
    }
}

/*
 * Split @hostport into @host (may become empty) and @port.  0, or -EINVAL
 * with @err set.
 */
static int split_hostport(const char *hostport, char *host, size_t hostlen,
                          char *port, size_t portlen, char *err,
                          size_t errlen)
{
    const char *colon, *h = hostport, *p;
    size_t hl;
    char *end;
    unsigned long v;

    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');

        if (!close || close[1] != ':') {
            set_err(err, errlen, hostport, "bad address",
                    "an IPv6 address goes as [ADDR]:PORT");
            return -EINVAL;
        }
        h = hostport + 1;
        hl = close - h;
        p = close + 2;
        if (hl == 0) {
            set_err(err, errlen, hostport, "bad address", "empty []");
            return -EINVAL;
        }
    } else {
        colon = strrchr(hostport, ':');
        if (!colon) {
            set_err(err, errlen, hostport, "bad address",
                    "expected HOST:PORT, [IPV6]:PORT or :PORT");
            return -EINVAL;
        }
        if (memchr(hostport, ':', colon - hostport)) {
            set_err(err, errlen, hostport, "bad address",
                    "put an IPv6 address in brackets: [ADDR]:PORT");
            return -EINVAL;
        }
        hl = colon - hostport;
        p = colon + 1;
    }
    errno = 0;
    v = strtoul(p, &end, 10);
    if (!*p || *end || errno || v > 65535 || *p == '-' || *p == '+') {
        set_err(err, errlen, hostport, "bad port",
                "a number from 0 to 65535");
        return -EINVAL;
    }
    if (hl >= hostlen) {
        set_err(err, errlen, hostport, "bad address", "host name too long");
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%lu", v);
    return 0;
}

/* A socket for @ai, non-blocking, with large buffers.  fd or -errno. */
static int udp_socket(const struct addrinfo *ai)
{
    int size = UDP_SOCKBUF, off = 0;
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_UDP);

    if (fd < 0) {
        return -errno;
    }
    /* Past net.core.[rw]mem_max if we may, else as much as allowed. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (ai->ai_family == AF_INET6) {
        /* A listener on [::] also takes IPv4 (mapped) peers. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    return fd;
}

/* Bind @fd to a free port on every address of @family. */
static int bind_any(int fd, int family)
{
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
                               .sin6_addr = IN6ADDR_ANY_INIT };
    struct sockaddr_in a4 = { .sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_ANY) };

    return family == AF_INET6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
                              : bind(fd, (struct sockaddr *)&a4, sizeof(a4));
}

int encap_transport_open_udp(const char *hostport, bool listener,
                             struct encap_transport **out,
                             char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_socktype = SOCK_DGRAM,
        .ai_protocol = IPPROTO_UDP,
        .ai_flags = AI_NUMERICSERV | (listener ? AI_PASSIVE : 0),
    };
    struct addrinfo *res = NULL, *ai;
    struct udp_transport *u;
    char host[256], port[8];
    int fd = -1, r, g;

    if (!hostport || !*hostport) {
        set_err(err, errlen, "", "bad address",
                "expected HOST:PORT, [IPV6]:PORT or :PORT");
        return -EINVAL;
    }
    r = split_hostport(hostport, host, sizeof(host), port, sizeof(port),
                       err, errlen);
    if (r < 0) {
        return r;
    }
    if (!listener && (!*host || !strcmp(port, "0"))) {
        set_err(err, errlen, hostport, "bad address",
                "the connecting side needs a host and a port other than 0");
        return -EINVAL;
    }
    if (listener && !*host) {
        hints.ai_family = AF_INET6;     /* [::], dual stack if we can */
    }
    g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (g != 0 && listener && !*host) {
        hints.ai_family = AF_INET;      /* no IPv6 here */
        g = getaddrinfo(NULL, port, &hints, &res);
    }
    if (g != 0) {
        set_err(err, errlen, hostport, "cannot resolve",
                g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return g == EAI_NONAME ? -EADDRNOTAVAIL : -EINVAL;
    }
    /* The first address we can use. */
    r = -EAFNOSUPPORT;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = udp_socket(ai);
        if (fd < 0) {
            r = fd;
            continue;
        }
        if (listener ? bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
                     : bind_any(fd, ai->ai_family) == 0) {
            break;
        }
        r = -errno;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        set_err(err, errlen, hostport, listener ? "cannot bind" :
                "cannot create a socket", strerror(-r));
        freeaddrinfo(res);
        return r;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        freeaddrinfo(res);
        close(fd);
        return -ENOMEM;
    }
    u->fd = fd;
    u->listener = listener;
    u->max_frame = ENCAP_TRANSPORT_MAX_FRAME;
    u->gso_limit = ENCAP_TRANSPORT_MAX_FRAME + 1;
    u->gro_buf = malloc((size_t)GRO_BUFS * GRO_BUF_SIZE);
    if (u->gro_buf && !getenv("ENCAP_UDP_NO_GRO")) {
        int one = 1;

        u->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
    }
    if (!listener) {
        memcpy(&u->peer, ai->ai_addr, ai->ai_addrlen);
        u->peer_len = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    pthread_mutex_init(&u->lock, NULL);
    r = encap_transport_new(&udp_ops, u,
                            listener ? listener_mac : connector_mac,
                            ENCAP_TRANSPORT_MAX_MTU, out);
    if (r < 0) {
        set_err(err, errlen, hostport, "transport", strerror(-r));
        udp_close(u);
    }
    return r;
}
