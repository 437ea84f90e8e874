/* SPDX-License-Identifier: MIT */
/*
 * vrc-pingpong: measure the round trip of vrc frames over a transport.
 *
 * One side runs --mode=pong, the other --mode=ping.  Ping greets pong
 * (CTRL HELLO, repeated until a HELLO_ACK comes back: no start-up order
 * is needed), then sends --count PINGs one at a time (after --warmup ones
 * that are not timed), each padded to --size bytes with a pattern of its
 * own; pong checks each and answers a PONG of the same size that echoes
 * the pattern; ping checks the answer (CRC, cookie, size, pattern) and
 * times the round trip.  A BYE carrying the number of PINGs sent ends it;
 * pong checks it answered exactly that many.  Both exit non-zero on any
 * lost, damaged or missing frame.
 *
 *   vrc-pingpong --mode=pong --ifname=veth1 [--busy-poll]
 *   vrc-pingpong --mode=ping --ifname=veth0 --size=64 --count=10000 --json
 *
 * --socket=PATH uses the unix transport instead (pong listens, ping
 * connects), and --transport=SPEC any transport by its spec string
 * (encap_transport_open: pcap:IFNAME, packet:IFNAME, unix:PATH,
 * udp:HOST:PORT; pong listens, e.g. udp::5551, ping sends, e.g.
 * udp:[fd00::2]:5551).
 * --busy-poll spins on the non-blocking receive instead of sleeping in
 * poll().
 *
 * --stream (both sides) measures throughput instead: ping keeps up to
 * --window PINGs of --size bytes in flight, pong answers each with a
 * minimum-size PONG, and ping reports frames and bytes per second.  A PING
 * whose PONG does not come back is counted as lost, not waited for again.
 * --burst=N (both sides) sends and receives up to N frames per call
 * (encap_transport_send_burst/recv_burst: sendmmsg/recvmmsg on udp, the
 * rings on packet).
 *
 * --lossy (both sides, with --stream) is for a path that loses, duplicates,
 * reorders and damages frames on purpose (tools/vrc-relay): frames may come
 * in any order and more than once, each side counts the distinct frames it
 * got and the copies, both keep reading for --timeout-ms after the BYE so
 * that every frame still on its way is counted, and neither fails because
 * of what the path did.  In every mode, the JSON "rejected" object counts
 * damaged frames by the reason they were refused ("crc", "version", ...;
 * "content": the padding or the size was not what was sent).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encap/frame.h"
#include "encap/transport.h"

#define MIN_SIZE   (ENCAP_FRAME_OVERHEAD + ENCAP_CTRL_LEN)
#define SESSION    0x7070
#define BYE_REPEAT 3            /* raw Ethernet may lose one */
#define BYE_REPEAT_LOSSY 8      /* a lossy path may lose several */
#define SEEN_MAX   (1u << 24)   /* --lossy: cookies tracked */

struct opts {
    bool ping;
    const char *ifname;
    const char *socket;
    const char *spec;           /* --transport, or made from the two above */
    unsigned burst;
    unsigned size;
    unsigned count;
    unsigned warmup;
    bool count_given;
    bool busy_poll;
    bool json;
    bool stream;
    bool lossy;
    unsigned window;
    int timeout_ms;
    uint8_t peer[6];
    bool peer_given;
};

struct ctx {
    const struct opts *o;
    struct encap_transport *t;
    uint8_t mac[6];
    uint8_t peer[6];
    uint8_t *tx;                /* the frame being built: a txq slot */
    uint8_t *rx;                /* the frame received: an rxq slot */
    uint8_t txq[ENCAP_TRANSPORT_MAX_BURST][ENCAP_TRANSPORT_MAX_FRAME];
    uint8_t rxq[ENCAP_TRANSPORT_MAX_BURST][ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_rx_frame rxs[ENCAP_TRANSPORT_MAX_BURST];
    unsigned rx_next, rx_count; /* --burst: rxq slots handed out, filled */
    struct encap_tx_frame txf[ENCAP_TRANSPORT_MAX_BURST];
    unsigned tx_pending;        /* pong --stream --burst: PONGs in txq */
    unsigned bad;               /* damaged or unexpected content */
    unsigned stray;             /* well-formed but not what we waited for */
    unsigned rejected[ENCAP_E__COUNT];  /* damaged frames by reason */
    unsigned rejected_content;  /* well-formed, wrong padding or size */
    /* --lossy: which cookies arrived, how many distinct and repeated. */
    uint8_t *seen;
    size_t seen_bytes;
    unsigned received, duplicates;
};

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/*
 * --lossy: note that @cookie arrived.  1 the first time, 0 for a copy, -1
 * if it is out of range (not ours) or there is no memory.
 */
static int seen_note(struct ctx *c, uint32_t cookie)
{
    size_t byte = cookie / 8;

    if (cookie >= SEEN_MAX) {
        return -1;
    }
    if (byte >= c->seen_bytes) {
        size_t n = c->seen_bytes ? c->seen_bytes : 1024;
        uint8_t *p;

        while (n <= byte) {
            n *= 2;
        }
        p = realloc(c->seen, n);
        if (!p) {
            return -1;
        }
        memset(p + c->seen_bytes, 0, n - c->seen_bytes);
        c->seen = p;
        c->seen_bytes = n;
    }
    if (c->seen[byte] & (1u << (cookie % 8))) {
        c->duplicates++;
        return 0;
    }
    c->seen[byte] |= 1u << (cookie % 8);
    c->received++;
    return 1;
}

/*
 * The padding of the frames of PING @cookie: the byte at frame offset @k
 * is (cookie * 131 + k * 7 + (cookie >> 8) + 0x5a) mod 256, which repeats
 * every 256 bytes.  One period of it in @row (offset k is row[k % 256]),
 * so that filling and checking a jumbo frame are memcpy and memcmp, not a
 * loop per byte: the tool must not be what limits a stream.
 */
static void pattern_row(uint32_t cookie, uint8_t row[256])
{
    for (unsigned k = 0; k < 256; k++) {
        row[k] = (uint8_t)(cookie * 131u + k * 7u + (cookie >> 8) + 0x5a);
    }
}

/*
 * A CTRL frame of @op and @cookie to @dst in c->tx, padded to @size bytes
 * with the pattern of @cookie.  Returns its length.
 */
static size_t build(struct ctx *c, const uint8_t *dst, uint8_t op,
                    uint32_t cookie, size_t size)
{
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_CTRL,
        .flags = c->o->ping ? 0 : ENCAP_F_RESP,
        .session = SESSION,
    };
    struct encap_ctrl ctrl = {
        .op = op,
        .max_frame = encap_transport_mtu(c->t) + ENCAP_ETH_HLEN,
        .cookie = cookie,
    };
    struct encap_frame_builder b;
    uint8_t p[ENCAP_CTRL_LEN];
    int len;

    memcpy(h.dst, dst, 6);
    memcpy(h.src, c->mac, 6);
    encap_ctrl_encode(&ctrl, p, sizeof(p));
    encap_frame_begin(&b, c->tx, ENCAP_TRANSPORT_MAX_FRAME, &h);
    encap_frame_add_payload(&b, p, sizeof(p));
    len = encap_frame_finish(&b);
    if (size > (size_t)len) {
        uint8_t row[256];

        pattern_row(cookie, row);
        for (size_t k = len; k < size;) {
            size_t n = 256 - k % 256;

            n = n < size - k ? n : size - k;
            memcpy(c->tx + k, row + k % 256, n);
            k += n;
        }
    }
    return size > (size_t)len ? size : (size_t)len;
}

static int send_frame(struct ctx *c, size_t len)
{
    int r = encap_transport_send(c->t, c->tx, len);

    if (r < 0) {
        fprintf(stderr, "vrc-pingpong: send: %s\n", strerror(-r));
    }
    return r;
}

/* Send the PONGs queue_pong() holds.  0 or -errno. */
static int flush_pongs(struct ctx *c)
{
    unsigned done = 0;

    while (done < c->tx_pending) {
        int r = encap_transport_send_burst(c->t, c->txf + done,
                                           c->tx_pending - done);

        if (r < 0) {
            fprintf(stderr, "vrc-pingpong: send: %s\n", strerror(-r));
            c->tx_pending = 0;
            return r;
        }
        done += r;
    }
    c->tx_pending = 0;
    return 0;
}

/*
 * A PONG to @dst: sent at once, or with --stream and --burst queued and
 * sent with the others of the burst (at the latest when the frames
 * received so far are all answered).  0 or -errno.
 */
static int send_pong(struct ctx *c, const uint8_t *dst, uint32_t cookie,
                     size_t size)
{
    if (c->o->burst == 1 || !c->o->stream) {
        return send_frame(c, build(c, dst, ENCAP_CTRL_PONG, cookie, size));
    }
    c->tx = c->txq[c->tx_pending];
    c->txf[c->tx_pending].data = c->tx;
    c->txf[c->tx_pending].len = build(c, dst, ENCAP_CTRL_PONG, cookie, size);
    c->tx = c->txq[0];
    if (++c->tx_pending == c->o->burst) {
        return flush_pongs(c);
    }
    return 0;
}

/*
 * Wait for the next frame until @deadline (ns; 0: forever).  Returns its
 * length, 0 at the deadline, or -errno.
 */
static int next_frame(struct ctx *c, uint64_t deadline)
{
    struct pollfd pfd = { .fd = encap_transport_fd(c->t), .events = POLLIN };

    for (;;) {
        uint64_t now;
        int n = 0;

        if (c->o->burst > 1) {
            /* Hand out what the last burst brought, then take another. */
            if (c->rx_next == c->rx_count) {
                for (unsigned k = 0; k < c->o->burst; k++) {
                    c->rxs[k] = (struct encap_rx_frame) {
                        c->rxq[k], ENCAP_TRANSPORT_MAX_FRAME, 0 };
                }
                n = encap_transport_recv_burst(c->t, c->rxs, c->o->burst);
                c->rx_next = 0;
                c->rx_count = n > 0 ? n : 0;
            }
            if (c->rx_next < c->rx_count) {
                c->rx = c->rxq[c->rx_next];
                n = c->rxs[c->rx_next++].len;
            }               /* else n: the burst's 0 or -errno */
        } else {
            n = encap_transport_recv(c->t, c->rx, ENCAP_TRANSPORT_MAX_FRAME);
        }

        if (n == -EMSGSIZE) {
            c->bad++;
            continue;
        }
        if (n != 0) {
            return n;
        }
        now = deadline ? now_ns() : 0;
        if (deadline && now >= deadline) {
            return 0;
        }
        if (!c->o->busy_poll) {
            int ms = deadline ? (int)((deadline - now + 999999) / 1000000) : -1;
            if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
                return -errno;
            }
        }
    }
}

/*
 * Parse a received CTRL frame of our session.  Returns its op (and the
 * view in @v), or 0 if it is not one (counted as bad if damaged).
 */
static int parse(struct ctx *c, size_t len, struct encap_frame_view *v,
                 struct encap_ctrl *ctrl)
{
    int r = encap_frame_parse(c->rx, len, v);

    if (r == 0 && v->hdr.type != ENCAP_FRAME_CTRL) {
        r = -ENCAP_E_FRAME_TYPE;
    }
    if (r == 0) {
        r = encap_ctrl_decode(v->payload, v->payload_len, ctrl);
    }
    if (r < 0) {
        c->bad++;
        c->rejected[-r < ENCAP_E__COUNT ? -r : 0]++;
        return 0;
    }
    if (v->hdr.session != SESSION) {
        c->stray++;
        return 0;
    }
    return ctrl->op;
}

/* The padding of the frame in c->rx (@len bytes) is that of @cookie. */
static bool padding_ok(struct ctx *c, size_t len, uint32_t cookie)
{
    uint8_t row[256];

    pattern_row(cookie, row);
    for (size_t k = MIN_SIZE; k < len;) {
        size_t n = 256 - k % 256;

        n = n < len - k ? n : len - k;
        if (memcmp(c->rx + k, row + k % 256, n)) {
            return false;
        }
        k += n;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Value at quantile @q of the sorted @v[@n], in microseconds. */
static double quantile_us(const uint64_t *v, size_t n, double q)
{
    size_t i = (size_t)(q * n + 0.999999);

    i = i ? i - 1 : 0;
    return v[i < n ? i : n - 1] / 1000.0;
}

static void print_stats(struct ctx *c)
{
    struct encap_transport_stats s;

    encap_transport_get_stats(c->t, &s);
    if (c->o->json) {
        const char *sep = "";

        printf("\"rejected\":{");
        for (int e = 0; e < ENCAP_E__COUNT; e++) {
            if (c->rejected[e]) {
                printf("%s\"%s\":%u", sep, encap_strerror(e), c->rejected[e]);
                sep = ",";
            }
        }
        if (c->rejected_content) {
            printf("%s\"content\":%u", sep, c->rejected_content);
        }
        printf("},");
        if (c->o->lossy) {
            printf("\"lossy\":true,\"received\":%u,\"duplicates\":%u,",
                   c->received, c->duplicates);
        }
        printf("\"frames_tx\":%" PRIu64 ",\"frames_rx\":%" PRIu64
               ",\"tx_errors\":%" PRIu64 ",\"rx_oversize\":%" PRIu64
               ",\"rx_stray\":%" PRIu64 ",\"kernel_drops\":",
               s.frames_tx, s.frames_rx, s.tx_errors, s.rx_oversize,
               s.rx_stray);
        if (s.kernel_drops_valid) {
            printf("%" PRIu64, s.kernel_drops);
        } else {
            printf("null");
        }
    } else {
        printf("transport: %" PRIu64 " frames sent, %" PRIu64
               " received, %" PRIu64 " send errors",
               s.frames_tx, s.frames_rx, s.tx_errors);
        if (s.kernel_drops_valid) {
            printf(", %" PRIu64 " dropped by the kernel", s.kernel_drops);
        }
        if (s.rx_stray) {
            printf(", %" PRIu64 " ignored (not from the peer)", s.rx_stray);
        }
        printf("\n");
    }
}

/* Greet pong until it answers; learns its MAC.  0 or -ETIMEDOUT. */
static int ping_hello(struct ctx *c)
{
    uint64_t end = now_ns() + (uint64_t)c->o->timeout_ms * 1000000;

    while (now_ns() < end) {
        uint64_t retry = now_ns() + 20 * 1000000;
        struct encap_frame_view v;
        struct encap_ctrl ctrl;
        int n;

        if (send_frame(c, build(c, c->peer, ENCAP_CTRL_HELLO, 0, 0)) < 0) {
            return -EIO;
        }
        while ((n = next_frame(c, retry < end ? retry : end)) > 0) {
            if (parse(c, n, &v, &ctrl) == ENCAP_CTRL_HELLO_ACK) {
                if (!c->o->peer_given) {
                    memcpy(c->peer, v.hdr.src, 6);
                }
                return 0;
            }
        }
        if (n < 0) {
            return n;
        }
    }
    return -ETIMEDOUT;
}

/*
 * Stream PINGs @first .. @first + @n - 1 with up to --window in flight.
 * Returns the time from the first send to the last PONG in ns, and adds
 * the PINGs that got no PONG to *@lost; 0 on a receive error.
 */
static uint64_t stream(struct ctx *c, uint32_t first, unsigned n,
                       unsigned *lost)
{
    const struct opts *o = c->o;
    uint32_t sent = first, acked = first, end_cookie = first + n;
    uint64_t t0 = now_ns();

    while (acked != end_cookie) {
        uint64_t deadline = now_ns() + (uint64_t)o->timeout_ms * 1000000;
        struct encap_frame_view v;
        struct encap_ctrl ctrl;
        int len;

        /*
         * With --burst, the PONGs of the last receive are all taken before
         * sending again, so that a burst of PONGs frees a burst of window
         * and the PINGs go out together (one GSO datagram on udp), not one
         * per PONG.
         */
        while (sent != end_cookie && sent - acked < o->window &&
               c->rx_next == c->rx_count) {
            struct encap_tx_frame f[ENCAP_TRANSPORT_MAX_BURST];
            unsigned k = 0, done = 0;

            while (k < o->burst && sent + k != end_cookie &&
                   sent + k - acked < o->window) {
                c->tx = c->txq[k];
                f[k].data = c->tx;
                f[k].len = build(c, c->peer, ENCAP_CTRL_PING, sent + k,
                                 o->size);
                k++;
            }
            c->tx = c->txq[0];
            while (done < k) {
                int r = encap_transport_send_burst(c->t, f + done, k - done);

                if (r < 0) {
                    fprintf(stderr, "vrc-pingpong: send: %s\n",
                            strerror(-r));
                    return 0;
                }
                done += r;
            }
            sent += k;
        }
        len = next_frame(c, deadline);
        if (len < 0) {
            fprintf(stderr, "vrc-pingpong: receive: %s\n", strerror(-len));
            return 0;
        }
        if (len == 0) {
            *lost += sent - acked;          /* all in flight are gone */
            acked = sent;
            continue;
        }
        if (parse(c, len, &v, &ctrl) != ENCAP_CTRL_PONG) {
            continue;
        }
        if (o->lossy && (ctrl.cookie >= sent || seen_note(c, ctrl.cookie) < 0)) {
            c->stray++;                     /* not ours */
            continue;
        }
        if (ctrl.cookie - acked >= sent - acked) {
            if (!o->lossy) {
                c->stray++;                 /* late, or not ours */
            }
            continue;                       /* --lossy: a late one, counted */
        }
        *lost += ctrl.cookie - acked;       /* PONGs come back in order */
        acked = ctrl.cookie + 1;
    }
    return now_ns() - t0;
}

static int run_stream(struct ctx *c)
{
    const struct opts *o = c->o;
    unsigned lost = 0, warm_lost = 0;
    uint64_t ns;
    double fps, mbps;
    int r = ping_hello(c);

    if (r < 0) {
        fprintf(stderr, "vrc-pingpong: no answer from pong within %d ms: %s\n",
                o->timeout_ms, strerror(-r));
        return 1;
    }
    if (o->warmup && !stream(c, 0, o->warmup, &warm_lost)) {
        return 1;
    }
    ns = stream(c, o->warmup, o->count, &lost);
    if (!ns) {
        return 1;
    }
    for (int k = 0; k < (o->lossy ? BYE_REPEAT_LOSSY : BYE_REPEAT); k++) {
        encap_transport_send(c->t, c->tx, build(c, c->peer, ENCAP_CTRL_BYE,
                                                o->warmup + o->count, 0));
    }
    if (o->lossy) {
        /* Count what is still on its way: late PONGs and copies. */
        uint64_t end = now_ns() + (uint64_t)o->timeout_ms * 1000000;
        struct encap_frame_view v;
        struct encap_ctrl ctrl;
        int len;

        while ((len = next_frame(c, end)) > 0) {
            if (parse(c, len, &v, &ctrl) == ENCAP_CTRL_PONG &&
                (ctrl.cookie >= o->warmup + o->count ||
                 seen_note(c, ctrl.cookie) < 0)) {
                c->stray++;
            }
        }
        lost = o->warmup + o->count - c->received;
    }
    fps = (o->count - lost) / (ns / 1e9);
    mbps = fps * o->size / 1e6;
    if (o->json) {
        printf("{\"mode\":\"stream\",\"transport\":\"%s\",\"size\":%u,"
               "\"count\":%u,\"window\":%u,\"busy_poll\":%s,\"lost\":%u,"
               "\"bad\":%u,\"stray\":%u,\"seconds\":%.6f,"
               "\"frames_per_s\":%.0f,\"MBps\":%.2f,\"Gbps\":%.3f,",
               encap_transport_name(c->t), o->size, o->count, o->window,
               o->busy_poll ? "true" : "false", lost, c->bad, c->stray,
               ns / 1e9, fps, mbps, mbps * 8 / 1000);
        print_stats(c);
        printf("}\n");
    } else {
        printf("stream: %u frames of %u bytes over %s, window %u: %.0f "
               "frames/s, %.2f MB/s, %u lost, %u bad\n", o->count, o->size,
               encap_transport_name(c->t), o->window, fps, mbps, lost, c->bad);
        print_stats(c);
    }
    if (o->lossy) {
        return c->received ? 0 : 1;     /* the path's damage is not ours */
    }
    return c->bad || lost > o->count / 100 ? 1 : 0;
}

static int run_ping(struct ctx *c)
{
    const struct opts *o = c->o;
    unsigned total = o->warmup + o->count;
    uint64_t *rtt = calloc(o->count ? o->count : 1, sizeof(*rtt));
    unsigned lost = 0, timed = 0;
    int r;

    if (!rtt) {
        return 1;
    }
    r = ping_hello(c);
    if (r < 0) {
        fprintf(stderr, "vrc-pingpong: no answer from pong within %d ms: %s\n",
                o->timeout_ms, strerror(-r));
        free(rtt);
        return 1;
    }
    for (unsigned i = 0; i < total; i++) {
        size_t len = build(c, c->peer, ENCAP_CTRL_PING, i, o->size);
        uint64_t t0 = now_ns(), t1 = 0;
        uint64_t end = t0 + (uint64_t)o->timeout_ms * 1000000;
        int n;

        if (send_frame(c, len) < 0) {
            lost++;
            continue;
        }
        while ((n = next_frame(c, end)) > 0) {
            struct encap_frame_view v;
            struct encap_ctrl ctrl;

            t1 = now_ns();
            if (parse(c, n, &v, &ctrl) != ENCAP_CTRL_PONG) {
                continue;
            }
            if (ctrl.cookie != i) {
                c->stray++;     /* a late answer to an earlier PING */
                continue;
            }
            if ((size_t)n != len || !padding_ok(c, n, i)) {
                c->bad++;
                c->rejected_content++;
            }
            break;
        }
        if (n < 0) {
            fprintf(stderr, "vrc-pingpong: receive: %s\n", strerror(-n));
            free(rtt);
            return 1;
        }
        if (n == 0) {
            lost++;
        } else if (i >= o->warmup) {
            rtt[timed++] = t1 - t0;
        }
    }
    /* Pong leaves at the first BYE: later ones may find nobody (unix). */
    for (int k = 0; k < BYE_REPEAT; k++) {
        encap_transport_send(c->t, c->tx,
                             build(c, c->peer, ENCAP_CTRL_BYE, total, 0));
    }

    qsort(rtt, timed, sizeof(*rtt), cmp_u64);
    if (o->json) {
        double sum = 0;

        for (unsigned k = 0; k < timed; k++) {
            sum += rtt[k];
        }
        printf("{\"mode\":\"ping\",\"transport\":\"%s\",\"size\":%u,"
               "\"count\":%u,\"warmup\":%u,\"busy_poll\":%s,\"answered\":%u,"
               "\"lost\":%u,\"bad\":%u,\"stray\":%u,",
               encap_transport_name(c->t), o->size, o->count, o->warmup,
               o->busy_poll ? "true" : "false", timed, lost, c->bad, c->stray);
        if (timed) {
            printf("\"rtt_us\":{\"min\":%.2f,\"median\":%.2f,\"p90\":%.2f,"
                   "\"p99\":%.2f,\"max\":%.2f,\"mean\":%.2f},",
                   rtt[0] / 1000.0, quantile_us(rtt, timed, 0.5),
                   quantile_us(rtt, timed, 0.9), quantile_us(rtt, timed, 0.99),
                   rtt[timed - 1] / 1000.0, sum / timed / 1000.0);
        } else {
            printf("\"rtt_us\":null,");
        }
        print_stats(c);
        printf("}\n");
    } else {
        printf("ping: %u frames of %u bytes over %s, %s: %u answered, "
               "%u lost, %u bad, %u stray\n", o->count, o->size,
               encap_transport_name(c->t),
               o->busy_poll ? "busy polling" : "blocking", timed, lost,
               c->bad, c->stray);
        if (timed) {
            printf("round trip (us): min %.2f  median %.2f  p99 %.2f  "
                   "max %.2f\n", rtt[0] / 1000.0, quantile_us(rtt, timed, 0.5),
                   quantile_us(rtt, timed, 0.99), rtt[timed - 1] / 1000.0);
        }
        print_stats(c);
    }
    free(rtt);
    return lost || c->bad || timed != o->count ? 1 : 0;
}

static int run_pong(struct ctx *c)
{
    const struct opts *o = c->o;
    unsigned answered = 0, expected_total = 0, lost = 0;
    uint32_t next_cookie = 0;
    bool started = false, bye = false;
    /* Before the first HELLO, wait ten times as long: ping may start late. */
    uint64_t wait = (uint64_t)o->timeout_ms * 1000000;
    uint64_t end = now_ns() + 10 * wait;

    for (;;) {
        struct encap_frame_view v;
        struct encap_ctrl ctrl;
        int n, op;

        /* Answer what came before waiting for more. */
        if (c->tx_pending && c->rx_next == c->rx_count && flush_pongs(c) < 0) {
            return 1;
        }
        n = next_frame(c, end);
        if (n < 0) {
            fprintf(stderr, "vrc-pingpong: receive: %s\n", strerror(-n));
            return 1;
        }
        if (n == 0) {
            if (!bye) {
                fprintf(stderr, "vrc-pingpong: %s within %d ms\n",
                        started ? "ping went silent" : "no ping",
                        o->timeout_ms);
            }
            break;
        }
        op = parse(c, n, &v, &ctrl);
        if (op != ENCAP_CTRL_PING && c->tx_pending && flush_pongs(c) < 0) {
            return 1;           /* the queued PONGs go first, in order */
        }
        if (op == ENCAP_CTRL_HELLO) {
            memcpy(c->peer, v.hdr.src, 6);
            started = true;
            if (send_frame(c, build(c, c->peer, ENCAP_CTRL_HELLO_ACK, 0,
                                    0)) < 0) {
                return 1;
            }
        } else if (op == ENCAP_CTRL_PING && started && o->lossy) {
            /* Any order, any number of copies; answered until the BYE. */
            if ((o->size && (unsigned)n != o->size) ||
                !padding_ok(c, n, ctrl.cookie)) {
                c->bad++;
                c->rejected_content++;
            } else if (seen_note(c, ctrl.cookie) < 0) {
                c->stray++;
            } else if (!bye &&
                       send_pong(c, v.hdr.src, ctrl.cookie, MIN_SIZE) == 0) {
                answered++;
            }
        } else if (op == ENCAP_CTRL_PING && started) {
            /* PINGs come in order; each is answered once.  A stream may
             * lose some on the way: a gap is a loss, going back is not. */
            if ((o->size && (unsigned)n != o->size) ||
                !padding_ok(c, n, ctrl.cookie)) {
                c->rejected_content++;
            }
            if (ctrl.cookie < next_cookie ||
                (!o->stream && ctrl.cookie != next_cookie) ||
                (o->size && (unsigned)n != o->size) ||
                !padding_ok(c, n, ctrl.cookie)) {
                c->bad++;
            } else {
                lost += ctrl.cookie - next_cookie;
            }
            next_cookie = ctrl.cookie + 1;
            if (send_pong(c, v.hdr.src, ctrl.cookie,
                          o->stream ? MIN_SIZE : (size_t)n) == 0) {
                answered++;
            }
        } else if (op == ENCAP_CTRL_BYE && started) {
            if (o->lossy) {
                /* Keep counting what is still on its way, then stop. */
                if (!bye) {
                    end = now_ns() + wait;
                }
                bye = true;
                expected_total = ctrl.cookie;
                continue;
            }
            bye = true;
            expected_total = ctrl.cookie;
            break;
        } else if (op) {
            c->stray++;
        }
        if (!bye) {
            end = now_ns() + wait;
        }
    }

    if (o->json) {
        printf("{\"mode\":\"pong\",\"transport\":\"%s\",\"busy_poll\":%s,"
               "\"answered\":%u,\"expected\":%u,\"bye\":%s,\"bad\":%u,"
               "\"stray\":%u,", encap_transport_name(c->t),
               o->busy_poll ? "true" : "false", answered, expected_total,
               bye ? "true" : "false", c->bad, c->stray);
        print_stats(c);
        printf("}\n");
    } else {
        printf("pong: answered %u PINGs (ping sent %u), %u bad, %u stray%s\n",
               answered, expected_total, c->bad, c->stray,
               bye ? "" : ", no BYE");
        print_stats(c);
    }
    if (o->lossy) {
        return !bye || !c->received;
    }
    if (o->stream) {
        /* Losses are ping's to report. */
        return !bye || c->bad || answered + lost > expected_total;
    }
    if (!bye || c->bad || answered != expected_total) {
        return 1;
    }
    if (o->count_given && answered != o->count + o->warmup) {
        fprintf(stderr, "vrc-pingpong: expected %u PINGs, got %u\n",
                o->count + o->warmup, answered);
        return 1;
    }
    return 0;
}

static int open_transport(struct ctx *c)
{
    const struct opts *o = c->o;
    /* Pong may not be listening yet (unix): try again until the timeout. */
    uint64_t end = now_ns() + (uint64_t)o->timeout_ms * 1000000;
    char err[256] = "";
    int r;

    while ((r = encap_transport_open(o->spec, !o->ping, &c->t, err,
                                     sizeof(err))) < 0 &&
           o->ping && (r == -ENOENT || r == -ECONNREFUSED) &&
           now_ns() < end) {
        poll(NULL, 0, 10);
    }
    if (r < 0) {
        fprintf(stderr, "vrc-pingpong: %s\n", *err ? err : strerror(-r));
        return r;
    }
    encap_transport_mac(c->t, c->mac);
    return 0;
}

static bool parse_uint(const char *s, unsigned *v)
{
    char *end;
    unsigned long x;

    errno = 0;
    x = strtoul(s, &end, 0);
    if (errno || end == s || *end || x > UINT32_MAX) {
        return false;
    }
    *v = x;
    return true;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: vrc-pingpong --mode=ping|pong (--ifname=IF | --socket=PATH |\n"
"                    --transport=SPEC) [options]\n"
"  --transport=SPEC pcap:IFNAME, packet:IFNAME[,OPTION...], unix:PATH or\n"
"                  udp:HOST:PORT ([IPV6]:PORT; pong listens: udp::PORT takes\n"
"                  any address)\n"
"  --size=N        frame size in bytes, Ethernet header included (default 64;\n"
"                  %u .. MTU+14; pong: the size to expect, 0 = any)\n"
"  --count=N       timed PINGs (default 1000)\n"
"  --warmup=N      untimed PINGs first (default count/10, at most 100)\n"
"  --busy-poll     spin on the receive queue instead of sleeping in poll()\n"
"  --stream        (both sides) throughput: PINGs pipelined, small PONGs\n"
"  --window=N      stream: PINGs in flight (default 64)\n"
"  --burst=N       frames per send/receive call, 1..%u (default 1)\n"
"  --lossy         (both sides, with --stream) the path loses, repeats,\n"
"                  reorders and damages frames: count, do not fail; keep\n"
"                  reading for --timeout-ms after the BYE\n"
"  --json          one JSON object on stdout\n"
"  --peer=MAC      ping: send to MAC (default: broadcast the HELLO, then\n"
"                  use the MAC that answers)\n"
"  --timeout-ms=N  longest wait for an answer (default 2000); pong waits ten\n"
"                  times as long for the first HELLO\n",
            MIN_SIZE, ENCAP_TRANSPORT_MAX_BURST);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mode", required_argument, NULL, 'm' },
        { "ifname", required_argument, NULL, 'i' },
        { "socket", required_argument, NULL, 's' },
        { "transport", required_argument, NULL, 'X' },
        { "burst", required_argument, NULL, 'B' },
        { "size", required_argument, NULL, 'S' },
        { "count", required_argument, NULL, 'c' },
        { "warmup", required_argument, NULL, 'w' },
        { "busy-poll", no_argument, NULL, 'b' },
        { "stream", no_argument, NULL, 'T' },
        { "lossy", no_argument, NULL, 'L' },
        { "window", required_argument, NULL, 'W' },
        { "json", no_argument, NULL, 'j' },
        { "peer", required_argument, NULL, 'p' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct opts o = { .size = 64, .count = 1000, .timeout_ms = 2000,
                      .window = 64, .burst = 1 };
    char spec[300];
    static struct ctx c;
    bool mode_given = false, warmup_given = false, size_given = false;
    unsigned v;
    int opt, r;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (strcmp(optarg, "ping") && strcmp(optarg, "pong")) {
                fprintf(stderr, "vrc-pingpong: --mode is ping or pong\n");
                return 2;
            }
            o.ping = !strcmp(optarg, "ping");
            mode_given = true;
            break;
        case 'i':
            o.ifname = optarg;
            break;
        case 's':
            o.socket = optarg;
            break;
        case 'X':
            o.spec = optarg;
            break;
        case 'B':
            if (!parse_uint(optarg, &v) || v == 0 ||
                v > ENCAP_TRANSPORT_MAX_BURST) {
                fprintf(stderr, "vrc-pingpong: bad burst '%s'\n", optarg);
                return 2;
            }
            o.burst = v;
            break;
        case 'S':
        case 'c':
        case 'w':
        case 't':
            if (!parse_uint(optarg, &v) ||
                (opt == 't' && (v == 0 || v > 3600000))) {
                fprintf(stderr, "vrc-pingpong: bad number '%s'\n", optarg);
                return 2;
            }
            if (opt == 'S') {
                o.size = v;
                size_given = true;
            } else if (opt == 'c') {
                o.count = v;
                o.count_given = true;
            } else if (opt == 'w') {
                o.warmup = v;
                warmup_given = true;
            } else {
                o.timeout_ms = v;
            }
            break;
        case 'b':
            o.busy_poll = true;
            break;
        case 'T':
            o.stream = true;
            break;
        case 'L':
            o.lossy = true;
            break;
        case 'W':
            if (!parse_uint(optarg, &v) || v == 0 || v > 65536) {
                fprintf(stderr, "vrc-pingpong: bad window '%s'\n", optarg);
                return 2;
            }
            o.window = v;
            break;
        case 'j':
            o.json = true;
            break;
        case 'p':
            if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx%n", &o.peer[0],
                       &o.peer[1], &o.peer[2], &o.peer[3], &o.peer[4],
                       &o.peer[5], &r) != 6 || optarg[r]) {
                fprintf(stderr, "vrc-pingpong: bad MAC '%s'\n", optarg);
                return 2;
            }
            o.peer_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o.lossy && !o.stream) {
        fprintf(stderr, "vrc-pingpong: --lossy goes with --stream\n");
        return 2;
    }
    if (optind != argc || !mode_given ||
        !!o.ifname + !!o.socket + !!o.spec != 1) {
        usage(stderr);
        return 2;
    }
    if (!o.spec) {
        snprintf(spec, sizeof(spec), "%s:%s", o.ifname ? "pcap" : "unix",
                 o.ifname ? o.ifname : o.socket);
        o.spec = spec;
    }
    if (!warmup_given) {
        o.warmup = o.count / 10 < 100 ? o.count / 10 : 100;
    }
    if (!o.ping && !size_given) {
        o.size = 0;             /* pong: any size */
    }
    c.o = &o;
    c.tx = c.txq[0];
    c.rx = c.rxq[0];
    if (open_transport(&c) < 0) {
        return 1;
    }
    if (o.size && (o.size < MIN_SIZE ||
                   o.size > encap_transport_mtu(c.t) + ENCAP_ETH_HLEN)) {
        fprintf(stderr, "vrc-pingpong: --size must be %u..%u on %s\n",
                MIN_SIZE, encap_transport_mtu(c.t) + ENCAP_ETH_HLEN, o.spec);
        encap_transport_close(c.t);
        return 2;
    }
    memcpy(c.peer, o.peer_given ? o.peer : broadcast, 6);
    r = !o.ping ? run_pong(&c) : o.stream ? run_stream(&c) : run_ping(&c);
    encap_transport_close(c.t);
    free(c.seen);
    return r;
}
