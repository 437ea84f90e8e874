/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the transport layer: the unix and udp transports (over
 * loopback), bursts, opening by spec string, the dispatch, and the ring
 * walking of the packet transport on synthetic kernel rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>
#include <linux/if_packet.h>

#include "encap/frame.h"
#include "encap/gro.h"
#include "encap/packet-ring.h"
#include "encap/seal.h"
#include "encap/transport.h"

#define WAIT_MS 5000            /* generous: only a broken test waits long */

static const uint8_t listener_mac[6] = ENCAP_UNIX_LISTENER_MAC;
static const uint8_t connector_mac[6] = ENCAP_UNIX_CONNECTOR_MAC;

/* Whether @t's fd becomes readable within @ms. */
static bool readable(struct encap_transport *t, int ms)
{
    struct pollfd p = { .fd = encap_transport_fd(t), .events = POLLIN };

    return poll(&p, 1, ms) == 1;
}

/* The next frame on @t (or an error), waiting for it with a deadline. */
static int recv_wait(struct encap_transport *t, uint8_t *buf, size_t cap)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;

    for (;;) {
        int n = encap_transport_recv(t, buf, cap);
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        if (n != 0) {
            return n;
        }
        g_assert_cmpint(left, >, 0);
        readable(t, left + 1);
    }
}

/* Frame @i of a test: @len bytes, an Ethernet header and a pattern. */
static void fill(uint8_t *f, size_t len, unsigned i)
{
    static const uint8_t hdr[14] = {
        0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x88, 0xb5,
    };

    memcpy(f, hdr, 14);
    for (size_t k = 14; k < len; k++) {
        f[k] = (uint8_t)(k * 7 + i);
    }
    if (len >= 18) {
        f[14] = i >> 24;
        f[15] = i >> 16;
        f[16] = i >> 8;
        f[17] = i;
    }
}

static void make_pair(struct encap_transport **a, struct encap_transport **b)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(sv[0], a), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(sv[1], b), ==, 0);
}

/* Frames of every size from the smallest to a 9000-byte-MTU jumbo frame. */
static void test_sizes(void)
{
    static const size_t sizes[] = {
        64, 65, 67, 128, 1500, 1514, 1518, 4096, 8192, 9000, 9013, 9014,
    };
    static uint8_t out[ENCAP_TRANSPORT_MAX_FRAME];
    static uint8_t in[ENCAP_TRANSPORT_MAX_FRAME + 100];
    struct encap_transport *a, *b;
    struct encap_transport_stats s;
    uint64_t bytes = 0;

    make_pair(&a, &b);
    g_assert_cmpstr(encap_transport_name(a), ==, "unix");
    g_assert_cmpuint(encap_transport_mtu(a), ==, 9000);
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        size_t len = sizes[i];

        fill(out, len, i);
        g_assert_cmpint(encap_transport_send(a, out, len), ==, 0);
        memset(in, 0xee, sizeof(in));
        g_assert_cmpint(recv_wait(b, in, sizeof(in)), ==, len);
        g_assert_cmpmem(in, len, out, len);
        g_assert_cmphex(in[len], ==, 0xee);     /* nothing written beyond */
        /* And back. */
        fill(out, len, i + 100);
        g_assert_cmpint(encap_transport_send(b, out, len), ==, 0);
        g_assert_cmpint(recv_wait(a, in, len), ==, len);  /* exact fit */
        g_assert_cmpmem(in, len, out, len);
        bytes += len;
    }
    /* Nothing waiting: 0, not an error, and the fd is not readable. */
    g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, 0);
    g_assert_false(readable(b, 0));
    encap_transport_get_stats(a, &s);
    g_assert_cmpuint(s.frames_tx, ==, G_N_ELEMENTS(sizes));
    g_assert_cmpuint(s.frames_rx, ==, G_N_ELEMENTS(sizes));
    g_assert_cmpuint(s.bytes_tx, ==, bytes);
    g_assert_cmpuint(s.bytes_rx, ==, bytes);
    g_assert_cmpuint(s.tx_errors + s.rx_errors + s.rx_oversize, ==, 0);
    g_assert_false(s.kernel_drops_valid);
    encap_transport_close(a);
    encap_transport_close(b);
}

/* What is not a frame is refused and counted, and nothing is sent. */
static void test_send_limits(void)
{
    static uint8_t out[ENCAP_TRANSPORT_MAX_FRAME + 1];
    uint8_t in[64];
    struct encap_transport *a, *b;
    struct encap_transport_stats s;

    make_pair(&a, &b);
    fill(out, sizeof(out), 1);
    g_assert_cmpint(encap_transport_send(a, out, 9015), ==, -EMSGSIZE);
    g_assert_cmpint(encap_transport_send(a, out, 13), ==, -EMSGSIZE);
    g_assert_cmpint(encap_transport_send(a, out, 0), ==, -EMSGSIZE);
    g_assert_cmpint(encap_transport_send(a, out, 14), ==, 0);
    g_assert_cmpint(recv_wait(b, in, sizeof(in)), ==, 14);
    g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, 0);
    encap_transport_get_stats(a, &s);
    g_assert_cmpuint(s.tx_errors, ==, 3);
    g_assert_cmpuint(s.frames_tx, ==, 1);
    encap_transport_close(a);
    encap_transport_close(b);
}

/* A frame larger than the buffer is dropped whole, reported, counted. */
static void test_oversize(void)
{
    static uint8_t out[2000], in[1500];
    struct encap_transport *a, *b;
    struct encap_transport_stats s;

    make_pair(&a, &b);
    fill(out, 2000, 1);
    g_assert_cmpint(encap_transport_send(a, out, 2000), ==, 0);
    g_assert_cmpint(encap_transport_send(a, out, 1501), ==, 0);
    fill(out, 100, 2);
    g_assert_cmpint(encap_transport_send(a, out, 100), ==, 0);
    g_assert_cmpint(recv_wait(b, in, sizeof(in)), ==, -EMSGSIZE);
    g_assert_cmpint(recv_wait(b, in, sizeof(in)), ==, -EMSGSIZE);
    /* The next frame is whole, not the rest of the dropped ones. */
    g_assert_cmpint(recv_wait(b, in, sizeof(in)), ==, 100);
    g_assert_cmpmem(in, 100, out, 100);
    g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, 0);
    encap_transport_get_stats(b, &s);
    g_assert_cmpuint(s.rx_oversize, ==, 2);
    g_assert_cmpuint(s.frames_rx, ==, 1);
    g_assert_cmpuint(s.bytes_rx, ==, 100);
    g_assert_cmpuint(s.rx_errors, ==, 0);
    encap_transport_close(a);
    encap_transport_close(b);
}

/*
 * Ordering, with one thread sending while another receives on the same
 * transport: a sender thread pushes frames out of A, B echoes each one
 * back, the main thread receives the echoes on A.  More frames than the
 * socket buffers hold, so every side also waits for the others.
 */
#define ECHO_FRAMES 5000

struct echo {
    struct encap_transport *t;
    unsigned count;
    int error;
};

static size_t echo_len(unsigned i)
{
    return 64 + (i * 37) % 1451;
}

static gpointer echo_sender(gpointer opaque)
{
    struct echo *e = opaque;
    uint8_t f[1514];

    for (unsigned i = 0; i < e->count; i++) {
        int r;

        fill(f, echo_len(i), i);
        /* A full queue (-EAGAIN after a bounded wait) is retried here. */
        while ((r = encap_transport_send(e->t, f, echo_len(i))) == -EAGAIN) {
        }
        if (r < 0) {
            e->error = r;
            break;
        }
    }
    return NULL;
}

static gpointer echo_server(gpointer opaque)
{
    struct echo *e = opaque;
    uint8_t f[1514];

    for (unsigned i = 0; i < e->count; i++) {
        int n = recv_wait(e->t, f, sizeof(f)), r;

        if (n <= 0) {
            e->error = n ? n : -ETIMEDOUT;
            break;
        }
        while ((r = encap_transport_send(e->t, f, n)) == -EAGAIN) {
        }
        if (r < 0) {
            e->error = r;
            break;
        }
    }
    return NULL;
}

static void test_order_concurrent(void)
{
    struct encap_transport *a, *b;
    struct echo tx = { .count = ECHO_FRAMES }, srv = { .count = ECHO_FRAMES };
    struct encap_transport_stats s;
    GThread *t1, *t2;
    uint8_t in[1514], want[1514];

    make_pair(&a, &b);
    tx.t = a;
    srv.t = b;
    t2 = g_thread_new("echo-server", echo_server, &srv);
    t1 = g_thread_new("echo-sender", echo_sender, &tx);
    for (unsigned i = 0; i < ECHO_FRAMES; i++) {
        size_t len = echo_len(i);

        g_assert_cmpint(recv_wait(a, in, sizeof(in)), ==, len);
        fill(want, len, i);
        g_assert_cmpmem(in, len, want, len);
    }
    g_thread_join(t1);
    g_thread_join(t2);
    g_assert_cmpint(tx.error, ==, 0);
    g_assert_cmpint(srv.error, ==, 0);
    g_assert_cmpint(encap_transport_recv(a, in, sizeof(in)), ==, 0);
    encap_transport_get_stats(a, &s);
    g_assert_cmpuint(s.frames_tx, ==, ECHO_FRAMES);
    g_assert_cmpuint(s.frames_rx, ==, ECHO_FRAMES);
    encap_transport_close(a);
    encap_transport_close(b);
}

/* The peer goes away: an error once, then "not connected", and quiet. */
static void test_peer_close(void)
{
    struct encap_transport *a, *b;
    struct encap_transport_stats s;
    uint8_t f[64];

    make_pair(&a, &b);
    fill(f, 64, 1);
    g_assert_cmpint(encap_transport_send(a, f, 64), ==, 0);
    encap_transport_close(a);
    /* Frames sent before the close are still delivered, then the end. */
    g_assert_cmpint(recv_wait(b, f, sizeof(f)), ==, 64);
    g_assert_true(readable(b, WAIT_MS));
    g_assert_cmpint(encap_transport_recv(b, f, sizeof(f)), ==, -ECONNRESET);
    g_assert_cmpint(encap_transport_recv(b, f, sizeof(f)), ==, -ENOTCONN);
    g_assert_false(readable(b, 0));     /* no busy loop for a poller */
    g_assert_cmpint(encap_transport_send(b, f, 64), ==, -ENOTCONN);
    encap_transport_get_stats(b, &s);
    g_assert_cmpuint(s.rx_errors, ==, 2);
    g_assert_cmpuint(s.tx_errors, ==, 1);
    encap_transport_close(b);
}

/* Sending to a peer that has gone: an error, not SIGPIPE. */
static void test_send_to_closed(void)
{
    struct encap_transport *a, *b;
    uint8_t f[64];

    make_pair(&a, &b);
    encap_transport_close(b);
    fill(f, 64, 1);
    g_assert_cmpint(encap_transport_send(a, f, 64), ==, -EPIPE);
    encap_transport_close(a);
}

static void test_from_fd_checks(void)
{
    struct encap_transport *t = NULL;
    int sv[2], p[2];
    int s;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(sv[0], &t), ==, -EPROTOTYPE);
    g_assert_null(t);
    close(sv[0]);
    close(sv[1]);
    g_assert_cmpint(pipe(p), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(p[0], &t), ==, -ENOTSOCK);
    close(p[0]);
    close(p[1]);
    s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    g_assert_cmpint(encap_transport_from_fd(s, &t), ==, -ENOTCONN);
    g_assert_null(t);
    close(s);
}

static void test_mac(void)
{
    static const uint8_t mine[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    static const uint8_t group[6] = { 0x03, 0, 0, 0, 0, 1 };
    struct encap_transport *a, *b;
    uint8_t mac[6];

    make_pair(&a, &b);
    encap_transport_mac(a, mac);
    g_assert_cmpmem(mac, 6, connector_mac, 6);
    g_assert_cmpint(encap_transport_set_mac(a, mine), ==, 0);
    g_assert_cmpint(encap_transport_set_mac(b, group), ==, -EINVAL);
    encap_transport_mac(a, mac);
    g_assert_cmpmem(mac, 6, mine, 6);
    encap_transport_mac(b, mac);
    g_assert_cmpmem(mac, 6, connector_mac, 6);
    encap_transport_close(a);
    encap_transport_close(b);
}

static void send_str(struct encap_transport *t, const char *s)
{
    uint8_t f[64];

    fill(f, 14, 0);
    memcpy(f + 14, s, strlen(s));
    g_assert_cmpint(encap_transport_send(t, f, 14 + strlen(s)), ==, 0);
}

static void expect_str(struct encap_transport *t, const char *s)
{
    uint8_t f[64];

    g_assert_cmpint(recv_wait(t, f, sizeof(f)), ==, 14 + strlen(s));
    g_assert_cmpmem(f + 14, strlen(s), s, strlen(s));
}

static void test_listen_connect(void)
{
    g_autofree char *dir = g_dir_make_tmp("vrc-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "ep.sock", NULL);
    struct encap_transport *srv, *cli, *cli2, *cli3, *srv2;
    uint8_t mac[6], f[64];
    char err[256] = "";
    int fd;

    g_assert_cmpint(encap_transport_open_unix(path, true, &srv, err,
                                              sizeof(err)), ==, 0);
    fd = encap_transport_fd(srv);
    encap_transport_mac(srv, mac);
    g_assert_cmpmem(mac, 6, listener_mac, 6);
    fill(f, 64, 0);
    g_assert_cmpint(encap_transport_send(srv, f, 64), ==, -ENOTCONN);
    g_assert_cmpint(encap_transport_recv(srv, f, sizeof(f)), ==, 0);
    g_assert_false(readable(srv, 0));

    /*
     * A second listener on a live socket is refused.  Its probe is a peer
     * that the live listener sees come and go.
     */
    g_assert_cmpint(encap_transport_open_unix(path, true, &srv2, err,
                                              sizeof(err)), ==, -EADDRINUSE);
    g_assert_nonnull(strstr(err, path));
    g_assert_cmpint(recv_wait(srv, f, sizeof(f)), ==, -ECONNRESET);
    g_assert_cmpint(encap_transport_recv(srv, f, sizeof(f)), ==, 0);

    g_assert_cmpint(encap_transport_open_unix(path, false, &cli, err,
                                              sizeof(err)), ==, 0);
    encap_transport_mac(cli, mac);
    g_assert_cmpmem(mac, 6, connector_mac, 6);
    /* The connection makes the listener's fd readable. */
    g_assert_true(readable(srv, WAIT_MS));
    send_str(cli, "hello");
    expect_str(srv, "hello");
    send_str(srv, "hi");
    expect_str(cli, "hi");

    /* One peer at a time: the next one waits until the first leaves. */
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli2, err,
                                              sizeof(err)), ==, 0);
    send_str(cli2, "waiting");
    send_str(cli, "first");
    expect_str(srv, "first");
    g_assert_cmpint(encap_transport_recv(srv, f, sizeof(f)), ==, 0);
    /* The backlog is full now: a third is told so at once. */
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli3, err,
                                              sizeof(err)), ==, -EAGAIN);
    g_assert_nonnull(strstr(err, "cannot connect"));
    encap_transport_close(cli);
    g_assert_cmpint(recv_wait(srv, f, sizeof(f)), ==, -ECONNRESET);
    expect_str(srv, "waiting");
    send_str(srv, "welcome");
    expect_str(cli2, "welcome");
    g_assert_cmpint(encap_transport_fd(srv), ==, fd);

    encap_transport_close(cli2);
    g_assert_cmpint(recv_wait(srv, f, sizeof(f)), ==, -ECONNRESET);
    g_assert_cmpint(encap_transport_recv(srv, f, sizeof(f)), ==, 0);
    encap_transport_close(srv);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    /* Nobody listening: a clear error. */
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli, err,
                                              sizeof(err)), ==, -ENOENT);
    g_assert_nonnull(strstr(err, "cannot connect"));
    g_assert_cmpint(rmdir(dir), ==, 0);
}

/* A socket file left by a dead listener is replaced; other files are not. */
static void test_stale_socket(void)
{
    g_autofree char *dir = g_dir_make_tmp("vrc-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "ep.sock", NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct encap_transport *srv, *cli;
    char err[256] = "";
    int s;

    strcpy(sa.sun_path, path);
    s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    g_assert_cmpint(bind(s, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    close(s);                   /* leaves the file behind */
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_cmpint(encap_transport_open_unix(path, true, &srv, err,
                                              sizeof(err)), ==, 0);
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli, err,
                                              sizeof(err)), ==, 0);
    send_str(cli, "x");
    expect_str(srv, "x");
    encap_transport_close(cli);
    encap_transport_close(srv);

    g_assert_true(g_file_set_contents(path, "data", -1, NULL));
    g_assert_cmpint(encap_transport_open_unix(path, true, &srv, err,
                                              sizeof(err)), ==, -EADDRINUSE);
    g_assert_nonnull(strstr(err, "cannot bind"));
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    unlink(path);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_bad_path(void)
{
    char longpath[200];
    struct encap_transport *t;
    char err[256] = "";

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = 0;
    g_assert_cmpint(encap_transport_open_unix(longpath, true, &t, err,
                                              sizeof(err)), ==, -ENAMETOOLONG);
    g_assert_cmpint(encap_transport_open_unix("", false, &t, NULL, 0), ==,
                    -ENAMETOOLONG);
}

/* A transport of the test's own, through the table of operations. */
struct fake {
    uint8_t last[64];
    size_t last_len;
    int pending;                /* next recv result */
    bool closed;
};

static int fake_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct fake *f = opaque;

    memcpy(f->last, frame, MIN(len, sizeof(f->last)));
    f->last_len = len;
    return 0;
}

static int fake_recv(void *opaque, uint8_t *buf, size_t cap)
{
    struct fake *f = opaque;
    int r = f->pending;

    if (r > 0) {
        memset(buf, 0xab, r);
    }
    f->pending = 0;
    return r;
}

static int fake_fd(void *opaque)
{
    return 42;
}

static int fake_drops(void *opaque, uint64_t *drops)
{
    *drops = 7;
    return 0;
}

static void fake_close(void *opaque)
{
    struct fake *f = opaque;

    f->closed = true;
}

static const struct encap_transport_ops fake_ops = {
    .name = "fake",
    .fixed_mac = true,
    .send = fake_send,
    .recv = fake_recv,
    .fd = fake_fd,
    .kernel_drops = fake_drops,
    .close = fake_close,
};

static void test_custom_ops(void)
{
    static const uint8_t mac[6] = { 0x02, 1, 2, 3, 4, 5 };
    static const struct encap_transport_ops no_fd = {
        .name = "bad", .send = fake_send, .recv = fake_recv,
        .close = fake_close,
    };
    struct fake f = { 0 };
    struct encap_transport *t;
    struct encap_transport_stats s;
    uint8_t buf[64], got[6];

    g_assert_cmpint(encap_transport_new(&no_fd, &f, mac, 1500, &t), ==,
                    -EINVAL);
    g_assert_cmpint(encap_transport_new(&fake_ops, &f, mac, 9001, &t), ==,
                    -EINVAL);
    g_assert_cmpint(encap_transport_new(&fake_ops, &f, mac, 1500, &t), ==, 0);
    g_assert_cmpstr(encap_transport_name(t), ==, "fake");
    g_assert_cmpint(encap_transport_fd(t), ==, 42);
    g_assert_cmpuint(encap_transport_mtu(t), ==, 1500);
    encap_transport_mac(t, got);
    g_assert_cmpmem(got, 6, mac, 6);
    g_assert_cmpint(encap_transport_set_mac(t, mac), ==, -EOPNOTSUPP);

    fill(buf, 60, 9);
    g_assert_cmpint(encap_transport_send(t, buf, 60), ==, 0);
    g_assert_cmpuint(f.last_len, ==, 60);
    g_assert_cmpmem(f.last, 60, buf, 60);
    g_assert_cmpint(encap_transport_send(t, buf, 1515), ==, -EMSGSIZE);
    g_assert_cmpuint(f.last_len, ==, 60);       /* never reached the op */

    f.pending = 20;
    g_assert_cmpint(encap_transport_recv(t, buf, sizeof(buf)), ==, 20);
    f.pending = -EMSGSIZE;
    g_assert_cmpint(encap_transport_recv(t, buf, sizeof(buf)), ==, -EMSGSIZE);
    f.pending = -EIO;
    g_assert_cmpint(encap_transport_recv(t, buf, sizeof(buf)), ==, -EIO);
    g_assert_cmpint(encap_transport_recv(t, buf, sizeof(buf)), ==, 0);

    encap_transport_get_stats(t, &s);
    g_assert_cmpuint(s.frames_tx, ==, 1);
    g_assert_cmpuint(s.bytes_tx, ==, 60);
    g_assert_cmpuint(s.tx_errors, ==, 1);
    g_assert_cmpuint(s.frames_rx, ==, 1);
    g_assert_cmpuint(s.bytes_rx, ==, 20);
    g_assert_cmpuint(s.rx_oversize, ==, 1);
    g_assert_cmpuint(s.rx_errors, ==, 1);
    g_assert_true(s.kernel_drops_valid);
    g_assert_cmpuint(s.kernel_drops, ==, 7);
    encap_transport_close(t);
    g_assert_true(f.closed);
    encap_transport_close(NULL);
}

/* Opening pcap on an interface that does not exist: an error, explained. */
static void test_pcap_no_interface(void)
{
    struct encap_transport *t = NULL;
    char err[256] = "";
    int r;

    r = encap_transport_open_pcap("vrc-nonexist0", &t, err, sizeof(err));
    g_assert_cmpint(r, <, 0);
    g_assert_null(t);
    g_assert_nonnull(strstr(err, "vrc-nonexist0"));
    g_assert_cmpint(encap_transport_open_pcap("", &t, err, sizeof(err)), ==,
                    -EINVAL);
}

/* ---- bursts through the common layer (unix: no burst ops) ---- */

static void test_burst_fallback(void)
{
    static uint8_t out[10][1514], in[8][1514], small[100];
    struct encap_tx_frame tx[10];
    struct encap_rx_frame rx[8];
    struct encap_transport *a, *b;
    struct encap_transport_stats s;
    unsigned got = 0;

    make_pair(&a, &b);
    for (unsigned i = 0; i < 10; i++) {
        fill(out[i], 64 + i * 100, i);
        tx[i] = (struct encap_tx_frame) { out[i], 64 + i * 100 };
    }
    tx[9].len = 9015;           /* too large: the burst ends before it */
    g_assert_cmpint(encap_transport_send_burst(a, tx, 10), ==, 9);
    g_assert_cmpint(encap_transport_send_burst(a, tx + 9, 1), ==, -EMSGSIZE);
    while (got < 9) {
        int n;

        for (unsigned k = 0; k < 8; k++) {
            rx[k] = (struct encap_rx_frame) { in[k], sizeof(in[k]), 0 };
        }
        g_assert_true(readable(b, WAIT_MS));
        n = encap_transport_recv_burst(b, rx, 8);
        g_assert_cmpint(n, >, 0);
        for (int k = 0; k < n; k++, got++) {
            g_assert_cmpuint(rx[k].len, ==, 64 + got * 100);
            g_assert_cmpmem(in[k], rx[k].len, out[got], rx[k].len);
        }
    }
    g_assert_cmpint(encap_transport_recv_burst(b, rx, 8), ==, 0);
    /* A frame too large for its slot is dropped and counted. */
    g_assert_cmpint(encap_transport_send(a, out[5], 564), ==, 0);
    rx[0] = (struct encap_rx_frame) { small, sizeof(small), 0 };
    g_assert_true(readable(b, WAIT_MS));
    g_assert_cmpint(encap_transport_recv_burst(b, rx, 1), ==, -EMSGSIZE);
    /* Frames, then the peer leaves: the frames first, the error next. */
    g_assert_cmpint(encap_transport_send_burst(a, tx, 3), ==, 3);
    encap_transport_close(a);
    for (unsigned k = 0; k < 8; k++) {
        rx[k] = (struct encap_rx_frame) { in[k], sizeof(in[k]), 0 };
    }
    g_assert_true(readable(b, WAIT_MS));
    g_assert_cmpint(encap_transport_recv_burst(b, rx, 8), ==, 3);
    g_assert_cmpint(encap_transport_recv_burst(b, rx, 8), ==, -ECONNRESET);
    encap_transport_get_stats(b, &s);
    g_assert_cmpuint(s.frames_rx, ==, 12);
    g_assert_cmpuint(s.rx_oversize, ==, 1);
    g_assert_cmpuint(s.rx_errors, ==, 1);
    encap_transport_close(b);
}

/* ---- udp over loopback ---- */

/* A listener on @host, port chosen by the kernel, and a sender to it. */
static void udp_pair(const char *host, struct encap_transport **l,
                     struct encap_transport **c)
{
    char spec[128], addr[128], err[256] = "";

    snprintf(spec, sizeof(spec), "udp:%s:0", host);
    g_assert_cmpint(encap_transport_open(spec, true, l, err, sizeof(err)), ==,
                    0);
    g_assert_cmpint(encap_transport_address(*l, false, addr, sizeof(addr)),
                    ==, 0);
    g_assert_cmpint(encap_transport_open(addr, false, c, err, sizeof(err)),
                    ==, 0);
    g_assert_cmpstr(err, ==, "");
}

/* The port of a "udp:...:PORT" address of @t. */
static unsigned udp_port(struct encap_transport *t, bool peer)
{
    char addr[128];

    g_assert_cmpint(encap_transport_address(t, peer, addr, sizeof(addr)), ==,
                    0);
    return atoi(strrchr(addr, ':') + 1);
}

/* A plain UDP socket on @host (v4 or v6 loopback) sending to @port. */
static int raw_send(int fd, bool v6, unsigned port, const void *buf,
                    size_t len)
{
    struct sockaddr_in a4 = { .sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
                               .sin6_port = htons(port),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };

    return v6 ? sendto(fd, buf, len, 0, (struct sockaddr *)&a6, sizeof(a6))
              : sendto(fd, buf, len, 0, (struct sockaddr *)&a4, sizeof(a4));
}

/* Frames both ways, every size, the peer learnt from the first one. */
static void udp_frames(gconstpointer data)
{
    const char *host = data;
    static const size_t sizes[] = { 14, 64, 1472, 1514, 4096, 9000, 9014 };
    static uint8_t out[ENCAP_TRANSPORT_MAX_FRAME];
    static uint8_t in[ENCAP_TRANSPORT_MAX_FRAME + 100];
    struct encap_transport *l, *c;
    struct encap_transport_stats s;
    char addr[128];
    uint8_t mac[6];

    udp_pair(host, &l, &c);
    g_assert_cmpstr(encap_transport_name(l), ==, "udp");
    g_assert_cmpuint(encap_transport_mtu(l), ==, ENCAP_TRANSPORT_MAX_MTU);
    encap_transport_mac(l, mac);
    g_assert_cmpmem(mac, 6, listener_mac, 6);
    encap_transport_mac(c, mac);
    g_assert_cmpmem(mac, 6, connector_mac, 6);
    /* No peer yet: nothing to send to. */
    fill(out, 64, 0);
    g_assert_cmpint(encap_transport_send(l, out, 64), ==, -ENOTCONN);
    g_assert_cmpint(encap_transport_address(l, true, addr, sizeof(addr)), ==,
                    -ENOTCONN);
    for (unsigned i = 0; i < G_N_ELEMENTS(sizes); i++) {
        size_t len = sizes[i];

        fill(out, len, i);
        g_assert_cmpint(encap_transport_send(c, out, len), ==, 0);
        memset(in, 0xee, sizeof(in));
        g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, len);
        g_assert_cmpmem(in, len, out, len);
        g_assert_cmphex(in[len], ==, 0xee);
        fill(out, len, i + 100);
        g_assert_cmpint(encap_transport_send(l, out, len), ==, 0);
        g_assert_cmpint(recv_wait(c, in, len), ==, len);    /* exact fit */
        g_assert_cmpmem(in, len, out, len);
    }
    /* The listener knows its peer: the connector's own address. */
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));
    g_assert_cmpuint(udp_port(c, true), ==, udp_port(l, false));
    g_assert_cmpint(encap_transport_recv(l, in, sizeof(in)), ==, 0);
    g_assert_false(readable(l, 0));
    encap_transport_get_stats(l, &s);
    g_assert_cmpuint(s.frames_rx, ==, G_N_ELEMENTS(sizes));
    g_assert_cmpuint(s.frames_tx, ==, G_N_ELEMENTS(sizes));
    g_assert_cmpuint(s.tx_errors, ==, 1);
    g_assert_cmpuint(s.rx_stray + s.rx_oversize + s.rx_errors, ==, 0);
    encap_transport_close(l);
    encap_transport_close(c);
}

/* Send all of @tx[0..@n) through @c, in as many bursts as it takes. */
static void send_all(struct encap_transport *c,
                     const struct encap_tx_frame *tx, unsigned n)
{
    for (unsigned sent = 0; sent < n;) {
        int r = encap_transport_send_burst(c, tx + sent, n - sent);

        g_assert_cmpint(r, >, 0);
        sent += r;
    }
}

/* One burst receive into @in[0..@slots), after waiting if none was there. */
static int recv_burst_into(struct encap_transport *l,
                           uint8_t (*in)[ENCAP_TRANSPORT_MAX_FRAME],
                           struct encap_rx_frame *rx, unsigned slots)
{
    int n;

    for (unsigned k = 0; k < slots; k++) {
        rx[k] = (struct encap_rx_frame) { in[k], sizeof(in[k]), 0 };
    }
    n = encap_transport_recv_burst(l, rx, slots);
    g_assert_cmpint(n, >=, 0);
    if (n == 0) {
        g_assert_true(readable(l, WAIT_MS));
    }
    return n;
}

/* Bursts: sendmmsg and recvmmsg, order kept, both ways. */
static void udp_burst(gconstpointer data)
{
    const char *host = data;
    enum { N = 200, SLOTS = 32 };
    static uint8_t out[N][1514], in[SLOTS][ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_tx_frame tx[N];
    struct encap_rx_frame rx[SLOTS];
    struct encap_transport *l, *c, *from, *to;
    struct encap_transport_stats s;

    udp_pair(host, &l, &c);
    for (unsigned i = 0; i < N; i++) {
        fill(out[i], 64 + (i * 37) % 1451, i);
        tx[i] = (struct encap_tx_frame) { out[i], 64 + (i * 37) % 1451 };
    }
    for (int dir = 0; dir < 2; dir++) {
        unsigned got = 0;

        from = dir ? l : c;
        to = dir ? c : l;
        send_all(from, tx, N);
        while (got < N) {
            int n = recv_burst_into(to, in, rx, SLOTS);

            for (int k = 0; k < n; k++, got++) {
                g_assert_cmpuint(rx[k].len, ==, tx[got].len);
                g_assert_cmpmem(in[k], rx[k].len, out[got], rx[k].len);
            }
        }
        encap_transport_get_stats(to, &s);
        g_assert_cmpuint(s.frames_rx, ==, N);
    }
    encap_transport_close(l);
    encap_transport_close(c);
}

/*
 * Runs of frames of one size (sent as GSO datagrams, maybe received
 * coalesced by GRO) come out one frame at a time, in order, whole, also
 * when the receiver takes fewer than a coalesced datagram holds.
 */
/*
 * A frame an eighth or less shorter than the frames around it is padded to
 * their size, so that the run goes on as one GSO datagram: it arrives
 * longer, its own bytes intact and zeros after them (which a receiver
 * ignores: they follow the CRC).  A frame much shorter, or the last one,
 * is not padded.
 */
static void udp_padded(gconstpointer data)
{
    const char *host = data;
    enum { N = 31, SLOTS = 8 };
    static uint8_t out[N][ENCAP_TRANSPORT_MAX_FRAME];
    static uint8_t in[SLOTS][ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_tx_frame tx[N];
    struct encap_rx_frame rx[SLOTS];
    struct encap_transport *l, *c;
    unsigned got = 0, padded = 0;

    for (unsigned k = 0; k < N; k++) {
        /* 1472, 1472, 1344 ten times (the completions of 4 KiB reads at
         * MPS 1408), then a 1000-byte one. */
        size_t len = k == N - 1 ? 1000 : k % 3 == 2 ? 1344 : 1472;

        fill(out[k], len, k);
        tx[k] = (struct encap_tx_frame) { out[k], len };
    }
    udp_pair(host, &l, &c);
    send_all(c, tx, N);
    while (got < N) {
        int n = recv_burst_into(l, in, rx, SLOTS);

        for (int k = 0; k < n; k++, got++) {
            g_assert_cmpmem(in[k], tx[got].len, out[got], tx[got].len);
            if (rx[k].len != tx[got].len) {
                g_assert_cmpuint(tx[got].len, ==, 1344);
                g_assert_cmpuint(rx[k].len, ==, 1472);
                for (size_t b = tx[got].len; b < rx[k].len; b++) {
                    g_assert_cmpuint(in[k][b], ==, 0);
                }
                padded++;
            }
        }
    }
    g_assert_cmpuint(padded, ==, 10);
    encap_transport_close(l);
    encap_transport_close(c);
}

static void udp_runs(gconstpointer data)
{
    const char *host = data;
    static const struct { unsigned count; size_t len; } runs[] = {
        { 40, 1000 }, { 1, 300 }, { 30, 1472 }, { 10, 9014 }, { 3, 64 },
        { 64, 200 }, { 7, 9000 }, { 1, 8999 },
    };
    enum { N = 156, SLOTS = 5 };
    static uint8_t out[N][ENCAP_TRANSPORT_MAX_FRAME];
    static uint8_t in[SLOTS][ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_tx_frame tx[N];
    struct encap_rx_frame rx[SLOTS];
    struct encap_transport *l, *c;
    struct encap_transport_stats s;
    unsigned total = 0, got = 0;

    for (unsigned r = 0; r < G_N_ELEMENTS(runs); r++) {
        for (unsigned k = 0; k < runs[r].count; k++, total++) {
            fill(out[total], runs[r].len, total);
            tx[total] = (struct encap_tx_frame) { out[total], runs[r].len };
        }
    }
    g_assert_cmpuint(total, ==, N);
    udp_pair(host, &l, &c);
    send_all(c, tx, N);
    while (got < N) {
        int n = recv_burst_into(l, in, rx, SLOTS);

        for (int k = 0; k < n; k++, got++) {
            g_assert_cmpuint(rx[k].len, ==, tx[got].len);
            g_assert_cmpmem(in[k], rx[k].len, out[got], rx[k].len);
        }
        /* Mix in single receives: they take from the same queue. */
        if (got < N && n > 0) {
            int m = recv_wait(l, in[0], sizeof(in[0]));

            g_assert_cmpint(m, ==, tx[got].len);
            g_assert_cmpmem(in[0], m, out[got], m);
            got++;
        }
    }
    g_assert_cmpint(encap_transport_recv(l, in[0], sizeof(in[0])), ==, 0);
    encap_transport_get_stats(l, &s);
    g_assert_cmpuint(s.frames_rx, ==, N);
    g_assert_cmpuint(s.rx_oversize + s.rx_stray + s.rx_errors, ==, 0);
    encap_transport_close(l);
    encap_transport_close(c);
}

/*
 * Once a listener has a peer, another sender (another port) is ignored and
 * counted, and so is a datagram that is not a frame; a connecting
 * transport takes nothing but its listener's datagrams.
 */
static void udp_stray(gconstpointer data)
{
    const char *host = data;
    bool v6 = strchr(host, ':') != NULL;
    struct encap_transport *l, *c, *other;
    struct encap_transport_stats s;
    uint8_t out[100], in[200];
    char spec[128];
    int raw = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);

    g_assert_cmpint(raw, >=, 0);
    udp_pair(host, &l, &c);
    /* Not a frame: ignored even before there is a peer. */
    g_assert_cmpint(raw_send(raw, v6, udp_port(l, false), "hello", 5), ==, 5);
    fill(out, 100, 1);
    g_assert_cmpint(encap_transport_send(c, out, 100), ==, 0);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 100);
    /* A second sender, to the same listener. */
    snprintf(spec, sizeof(spec), "udp:%s:%u", host, udp_port(l, false));
    g_assert_cmpint(encap_transport_open(spec, false, &other, NULL, 0), ==, 0);
    fill(out, 100, 2);
    g_assert_cmpint(encap_transport_send(other, out, 100), ==, 0);
    fill(out, 100, 3);
    g_assert_cmpint(raw_send(raw, v6, udp_port(l, false), out, 100), ==, 100);
    g_assert_cmpint(encap_transport_send(c, out, 100), ==, 0);
    /* Only the peer's frame comes out. */
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 100);
    g_assert_cmpmem(in, 100, out, 100);
    g_assert_cmpint(encap_transport_recv(l, in, sizeof(in)), ==, 0);
    encap_transport_get_stats(l, &s);
    g_assert_cmpuint(s.rx_stray, ==, 3);
    g_assert_cmpuint(s.frames_rx, ==, 2);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));
    /* The connecting side ignores whoever is not its listener. */
    g_assert_cmpint(raw_send(raw, v6, udp_port(c, false), out, 100), ==, 100);
    g_assert_cmpint(encap_transport_send(l, out, 64), ==, 0);
    g_assert_cmpint(recv_wait(c, in, sizeof(in)), ==, 64);
    encap_transport_get_stats(c, &s);
    g_assert_cmpuint(s.rx_stray, ==, 1);
    close(raw);
    encap_transport_close(other);
    encap_transport_close(l);
    encap_transport_close(c);
}

/*
 * A datagram larger than the frame (or than the buffer) is dropped whole
 * and counted, and the next one comes out whole.
 */
static void udp_oversize(gconstpointer data)
{
    const char *host = data;
    bool v6 = strchr(host, ':') != NULL;
    static uint8_t out[ENCAP_TRANSPORT_MAX_FRAME + 500];
    static uint8_t in[ENCAP_TRANSPORT_MAX_FRAME + 500];
    struct encap_transport *l, *c;
    struct encap_transport_stats s;
    struct encap_rx_frame rx[4];
    int raw = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    unsigned port;
    int got;

    g_assert_cmpint(raw, >=, 0);
    udp_pair(host, &l, &c);
    port = udp_port(l, false);
    fill(out, sizeof(out), 1);
    /* The raw socket becomes the peer, then sends what no frame can be. */
    g_assert_cmpint(raw_send(raw, v6, port, out, 64), ==, 64);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 64);
    g_assert_cmpint(raw_send(raw, v6, port, out, ENCAP_TRANSPORT_MAX_FRAME + 1),
                    ==, ENCAP_TRANSPORT_MAX_FRAME + 1);
    g_assert_cmpint(raw_send(raw, v6, port, out, 2000), ==, 2000);
    g_assert_cmpint(raw_send(raw, v6, port, out, 100), ==, 100);
    /* Too big for the frame even with room in the buffer. */
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, -EMSGSIZE);
    /* Too big for the buffer. */
    g_assert_cmpint(recv_wait(l, in, 1500), ==, -EMSGSIZE);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 100);
    g_assert_cmpmem(in, 100, out, 100);
    /* In a burst: dropped, counted, the others returned. */
    g_assert_cmpint(raw_send(raw, v6, port, out, 3000), ==, 3000);
    g_assert_cmpint(raw_send(raw, v6, port, out, 200), ==, 200);
    /* The two may be taken in one call or two: wait until the second is
     * in (each round waits for the socket to be readable, bounded). */
    got = 0;
    for (int round = 0; got == 0 && round < 10; round++) {
        for (unsigned k = 0; k < 4; k++) {
            rx[k] = (struct encap_rx_frame) { in + k * 1500, 1500, 0 };
        }
        g_assert_true(readable(l, WAIT_MS));
        got = encap_transport_recv_burst(l, rx, 4);
    }
    g_assert_cmpint(got, ==, 1);
    g_assert_cmpuint(rx[0].len, ==, 200);
    g_assert_cmpmem(in, 200, out, 200);
    encap_transport_get_stats(l, &s);
    g_assert_cmpuint(s.rx_oversize, ==, 3);
    g_assert_cmpuint(s.frames_rx, ==, 3);
    g_assert_cmpuint(s.rx_errors, ==, 0);
    close(raw);
    encap_transport_close(l);
    encap_transport_close(c);
}

/* @from sends @f (at most 64 bytes); @l wakes and drops it: nothing to return. */
static void expect_dropped(struct encap_transport *l,
                           struct encap_transport *from, const uint8_t *f,
                           size_t len)
{
    uint8_t in[64];

    g_assert_cmpint(encap_transport_send(from, f, len), ==, 0);
    g_assert_true(readable(l, WAIT_MS));
    g_assert_cmpint(encap_transport_recv(l, in, sizeof(in)), ==, 0);
}

/* A frame of @len bytes that reads as a HELLO (@resp: from an endpoint). */
static void fill_hello(uint8_t *f, size_t len, bool resp)
{
    fill(f, len, 0);
    f[ENCAP_ETH_HLEN] = 1;                          /* version */
    f[ENCAP_ETH_HLEN + 1] = ENCAP_FRAME_CTRL;
    f[ENCAP_ETH_HLEN + 2] = 0;
    f[ENCAP_ETH_HLEN + 3] = resp ? ENCAP_F_RESP : 0;
    f[ENCAP_ETH_HLEN + ENCAP_HDR_LEN] = ENCAP_CTRL_HELLO;
}

/* A frame of @len bytes that reads as a sealed DATA frame (keyed). */
static void fill_sealed(uint8_t *f, size_t len, bool resp)
{
    fill(f, len, 0);
    f[ENCAP_ETH_HLEN] = ENCAP_VERSION_KEYED;
    f[ENCAP_ETH_HLEN + 1] = ENCAP_FRAME_DATA;
    f[ENCAP_ETH_HLEN + 2] = 0;
    f[ENCAP_ETH_HLEN + 3] = ENCAP_F_SEALED | ENCAP_F_SEQ |
                            (resp ? ENCAP_F_RESP : 0);
}

/*
 * A listener's peer and a stranger: the stranger's HELLOs and sealed
 * frames reach the link, its other frames do not, and the peer stays
 * until the link proves such a frame the peer's
 * (encap_transport_adopt_peer() with its slot): then the stranger is the
 * peer, and the old peer the stranger.
 */
static void test_udp_adopt_peer(void)
{
    struct encap_transport *l, *c, *c2;
    struct encap_transport_stats s;
    struct encap_rx_frame rx[4];
    uint8_t out[64], hello[64], resp_hello[64], sealed[64], resp_sealed[64];
    uint8_t in[4 * 64];
    char spec[64];

    udp_pair("127.0.0.1", &l, &c);
    snprintf(spec, sizeof(spec), "udp:127.0.0.1:%u", udp_port(l, false));
    g_assert_cmpint(encap_transport_open(spec, false, &c2, NULL, 0), ==, 0);
    fill(out, sizeof(out), 1);
    fill_hello(hello, sizeof(hello), false);
    fill_hello(resp_hello, sizeof(resp_hello), true);
    fill_sealed(sealed, sizeof(sealed), false);
    fill_sealed(resp_sealed, sizeof(resp_sealed), true);
    /* No peer yet: the first frame's sender is the peer. */
    g_assert_cmpint(encap_transport_send(c, out, 64), ==, 0);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 64);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));
    /* A frame of the peer's is nobody's to adopt. */
    encap_transport_adopt_peer(l, 0);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));

    /* A stranger's HELLOs and sealed frames come through, nothing else. */
    expect_dropped(l, c2, out, 64);
    expect_dropped(l, c2, resp_hello, 64);
    expect_dropped(l, c2, resp_sealed, 64);
    g_assert_cmpint(encap_transport_send(c2, sealed, 64), ==, 0);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 64);
    g_assert_cmpmem(in, 64, sealed, 64);
    g_assert_cmpint(encap_transport_send(c2, hello, 64), ==, 0);
    g_assert_cmpint(recv_wait(l, in, sizeof(in)), ==, 64);
    g_assert_cmpmem(in, 64, hello, 64);
    /* Not taken by the link: the peer stays, and still gets the answers. */
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));
    g_assert_cmpint(encap_transport_send(l, out, 64), ==, 0);
    g_assert_cmpint(recv_wait(c, in, sizeof(in)), ==, 64);
    /* A HELLO received before the last receive is not the one taken. */
    g_assert_cmpint(encap_transport_recv(l, in, sizeof(in)), ==, 0);
    encap_transport_adopt_peer(l, 0);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));

    /* The peer's frame and the stranger's HELLO in one burst. */
    g_assert_cmpint(encap_transport_send(c, out, 64), ==, 0);
    g_assert_cmpint(encap_transport_send(c2, hello, 64), ==, 0);
    for (unsigned k = 0; k < 4; k++) {
        rx[k] = (struct encap_rx_frame) { in + k * 64, 64, 0 };
    }
    g_assert_true(readable(l, WAIT_MS));
    g_assert_cmpint(encap_transport_recv_burst(l, rx, 4), ==, 2);
    g_assert_cmpmem(rx[0].buf, 64, out, 64);
    g_assert_cmpmem(rx[1].buf, 64, hello, 64);
    encap_transport_adopt_peer(l, 0);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c, false));
    encap_transport_adopt_peer(l, 1);
    g_assert_cmpuint(udp_port(l, true), ==, udp_port(c2, false));
    g_assert_cmpint(encap_transport_send(l, out, 64), ==, 0);
    g_assert_cmpint(recv_wait(c2, in, sizeof(in)), ==, 64);
    g_assert_cmpmem(in, 64, out, 64);

    /* The old peer is the stranger now. */
    expect_dropped(l, c, out, 64);
    encap_transport_get_stats(l, &s);
    g_assert_cmpuint(s.rx_stray, ==, 4);

    /* A connecting transport's peer is its listener, whatever it is told. */
    g_assert_cmpint(encap_transport_send(l, hello, 64), ==, 0);
    g_assert_cmpint(recv_wait(c2, in, sizeof(in)), ==, 64);
    encap_transport_adopt_peer(c2, 0);
    g_assert_cmpuint(udp_port(c2, true), ==, udp_port(l, false));
    encap_transport_close(c2);
    encap_transport_close(l);
    encap_transport_close(c);
}

/* Bad udp addresses are refused with a reason that says what is wrong. */
static void test_udp_bad_spec(void)
{
    static const struct {
        const char *addr;
        bool listener;
        const char *why;
    } bad[] = {
        { "", true, "expected HOST:PORT" },
        { "localhost", false, "expected HOST:PORT" },
        { "127.0.0.1:", false, "bad port" },
        { "127.0.0.1:65536", false, "bad port" },
        { "127.0.0.1:-1", false, "bad port" },
        { "127.0.0.1:http", false, "bad port" },
        { "127.0.0.1:12x", false, "bad port" },
        { "::1:4000", false, "brackets" },
        { "[::1]4000", false, "[ADDR]:PORT" },
        { "[::1:4000", false, "[ADDR]:PORT" },
        { "[]:4000", true, "empty" },
        { ":4000", false, "needs a host" },
        { "127.0.0.1:0", false, "other than 0" },
        { "vrc-no-such-host.invalid:4000", false, "cannot resolve" },
        { "192.0.2.1:4000", true, "cannot bind" },
    };
    struct encap_transport *t = NULL;

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        char err[256] = "";
        int r = encap_transport_open_udp(bad[i].addr, bad[i].listener, &t, err,
                                         sizeof(err));

        g_test_message("udp:%s -> %d %s", bad[i].addr, r, err);
        g_assert_cmpint(r, <, 0);
        g_assert_null(t);
        g_assert_nonnull(strstr(err, bad[i].why));
        g_assert_true(g_str_has_prefix(err, "udp:"));
    }
}

/* Every scheme opens what it names; junk is refused with a reason. */
static void test_open_spec(void)
{
    static const char *const junk[] = {
        "", "eth0", "tcp:1.2.3.4:5", ":x", "PCAP:eth0", "udp", "pcap:",
        "unix:", "udp:", "xdp:eth0/0",
    };
    struct encap_transport *l = NULL, *c = NULL;
    char err[256], path[64], spec[80], addr[128];

    for (unsigned i = 0; i < G_N_ELEMENTS(junk); i++) {
        err[0] = '\0';
        g_assert_cmpint(encap_transport_open(junk[i], true, &l, err,
                                             sizeof(err)), ==, -EINVAL);
        g_assert_null(l);
        g_test_message("'%s' -> %s", junk[i], err);
        g_assert_nonnull(strstr(err, "transport '"));
    }
    g_assert_cmpint(encap_transport_open(NULL, true, &l, err, sizeof(err)),
                    ==, -EINVAL);
    /* pcap: the interface's own error, naming it. */
    g_assert_cmpint(encap_transport_open("pcap:vrc-nonexist0", false, &l, err,
                                         sizeof(err)), <, 0);
    g_assert_nonnull(strstr(err, "vrc-nonexist0"));
    /* unix: listen and connect. */
    snprintf(path, sizeof(path), "/tmp/vrc-spec-%d.sock", getpid());
    snprintf(spec, sizeof(spec), "unix:%s", path);
    g_assert_cmpint(encap_transport_open(spec, true, &l, err, sizeof(err)), ==,
                    0);
    g_assert_cmpint(encap_transport_open(spec, false, &c, err, sizeof(err)),
                    ==, 0);
    g_assert_cmpstr(encap_transport_name(l), ==, "unix");
    g_assert_cmpint(encap_transport_address(l, false, addr, sizeof(addr)), ==,
                    -EOPNOTSUPP);
    encap_transport_close(c);
    encap_transport_close(l);
    /* udp: names, IPv4, IPv6, any address. */
    g_assert_cmpint(encap_transport_open("udp::0", true, &l, err, sizeof(err)),
                    ==, 0);
    g_assert_cmpstr(encap_transport_name(l), ==, "udp");
    snprintf(spec, sizeof(spec), "udp:localhost:%u", udp_port(l, false));
    g_assert_cmpint(encap_transport_open(spec, false, &c, err, sizeof(err)),
                    ==, 0);
    g_assert_cmpint(encap_transport_address(c, true, addr, sizeof(addr)), ==,
                    0);
    g_test_message("%s -> %s", spec, addr);
    g_assert_cmpint(encap_transport_address(c, true, addr, 8), ==, -ENOSPC);
    encap_transport_close(c);
    encap_transport_close(l);
    g_assert_cmpint(encap_transport_open("udp:127.0.0.1:0", true, &l, err,
                                         sizeof(err)), ==, 0);
    g_assert_cmpint(encap_transport_address(l, false, addr, sizeof(addr)), ==,
                    0);
    g_assert_true(g_str_has_prefix(addr, "udp:127.0.0.1:"));
    encap_transport_close(l);
    g_assert_cmpint(encap_transport_open("udp:[::1]:0", true, &l, err,
                                         sizeof(err)), ==, 0);
    g_assert_cmpint(encap_transport_address(l, false, addr, sizeof(addr)), ==,
                    0);
    g_assert_true(g_str_has_prefix(addr, "udp:[::1]:"));
    encap_transport_close(l);
}

/* ---- the packet transport: its rings, on synthetic memory ---- */

#define V3_BLOCK   8192
#define V3_FIRST   48           /* the kernel's offset_to_first_pkt */
#define V3_MAC     80           /* where these tests put each frame */

/*
 * Append a frame of @len bytes (@snaplen of them present) of EtherType
 * @type to the V3 block @blk at *@off, the way the kernel lays frames
 * out (8-byte aligned, linked by tp_next_offset), and count it.
 */
static void v3_add(uint8_t *blk, uint32_t *off, uint32_t len,
                   uint32_t snaplen, uint16_t type, uint8_t pkttype,
                   uint8_t tag)
{
    struct tpacket_block_desc *bd = (void *)blk;
    struct tpacket3_hdr *h = (void *)(blk + *off);
    struct sockaddr_ll *sll =
        (void *)(blk + *off + TPACKET_ALIGN(sizeof(*h)));
    uint8_t *d = blk + *off + V3_MAC;
    uint32_t step = (V3_MAC + snaplen + 7) & ~7u;

    memset(h, 0, sizeof(*h));
    h->tp_snaplen = snaplen;
    h->tp_len = len;
    h->tp_mac = V3_MAC;
    h->tp_next_offset = step;
    sll->sll_pkttype = pkttype;
    memset(d, tag, snaplen);
    d[12] = type >> 8;
    d[13] = type & 0xff;
    bd->hdr.bh1.num_pkts++;
    *off += step;
}

/* A V3 block handed to user space, holding one frame of each kind. */
static uint32_t v3_block(uint8_t *blk)
{
    struct tpacket_block_desc *bd = (void *)blk;
    uint32_t off = V3_FIRST, last;

    memset(blk, 0, V3_BLOCK);
    bd->version = TPACKET_V3;
    bd->hdr.bh1.offset_to_first_pkt = V3_FIRST;
    v3_add(blk, &off, 64, 64, 0x88b5, PACKET_HOST, 1);
    v3_add(blk, &off, 1514, 1514, 0x88b5, PACKET_BROADCAST, 2);
    v3_add(blk, &off, 99, 99, 0x88b5, PACKET_MULTICAST, 3);
    v3_add(blk, &off, 64, 64, 0x88b5, PACKET_OTHERHOST, 4);
    v3_add(blk, &off, 64, 64, 0x88b5, PACKET_OUTGOING, 5);
    v3_add(blk, &off, 64, 64, 0x0800, PACKET_HOST, 6);
    last = off;
    v3_add(blk, &off, 9014, 3000, 0x88b5, PACKET_HOST, 7);
    ((struct tpacket3_hdr *)(blk + last))->tp_next_offset = 0;
    bd->hdr.bh1.blk_len = off;
    bd->hdr.bh1.block_status = TP_STATUS_USER;
    return last;
}

static void test_pring_v3_walk(void)
{
    static const struct {
        uint32_t len, snaplen;
        uint8_t pkttype;
        bool wanted;
    } want[] = {
        { 64, 64, PACKET_HOST, true },
        { 1514, 1514, PACKET_BROADCAST, true },     /* DISC */
        { 99, 99, PACKET_MULTICAST, true },
        { 64, 64, PACKET_OTHERHOST, false },
        { 64, 64, PACKET_OUTGOING, false },
        { 64, 64, PACKET_HOST, false },             /* IPv4, not ours */
        { 9014, 3000, PACKET_HOST, true },          /* cut: caller drops */
    };
    static uint8_t blk[V3_BLOCK];
    struct encap_pring_cursor c;
    struct encap_pring_frame f;
    uint32_t off = V3_FIRST;

    v3_block(blk);
    ((struct tpacket_block_desc *)blk)->hdr.bh1.block_status =
        TP_STATUS_KERNEL;
    g_assert_false(encap_pring_v3_begin(blk, &c));
    ((struct tpacket_block_desc *)blk)->hdr.bh1.block_status =
        TP_STATUS_USER | TP_STATUS_LOSING;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    g_assert_cmpuint(c.off, ==, V3_FIRST);
    g_assert_cmpuint(c.left, ==, G_N_ELEMENTS(want));
    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
        g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
        g_assert_true(f.data == blk + off + V3_MAC);
        g_assert_cmpuint(f.len, ==, want[i].len);
        g_assert_cmpuint(f.snaplen, ==, want[i].snaplen);
        g_assert_cmpuint(f.pkttype, ==, want[i].pkttype);
        g_assert_cmpuint(f.data[0], ==, i + 1);
        g_assert_cmpint(encap_pring_wanted(&f), ==, want[i].wanted);
        off += (V3_MAC + want[i].snaplen + 7) & ~7u;
    }
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 0);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 0);
    encap_pring_v3_release(blk);
    g_assert_cmpuint(((struct tpacket_block_desc *)blk)->hdr.bh1.block_status,
                     ==, TP_STATUS_KERNEL);
    g_assert_false(encap_pring_v3_begin(blk, &c));
}

static void test_pring_v3_bad(void)
{
    static uint8_t blk[V3_BLOCK];
    struct encap_pring_cursor c;
    struct encap_pring_frame f;
    struct tpacket3_hdr *h;
    uint32_t last;

    /* A link past the end of the block: the rest is skipped. */
    v3_block(blk);
    h = (void *)(blk + V3_FIRST);
    h->tp_next_offset = V3_BLOCK;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, -EBADMSG);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 0);

    /* Frame bytes that would run past the block. */
    last = v3_block(blk);
    h = (void *)(blk + last);
    h->tp_snaplen = V3_BLOCK;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    for (int i = 0; i < 6; i++) {
        g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
    }
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, -EBADMSG);

    /* Frame data placed over its own header. */
    v3_block(blk);
    h = (void *)(blk + V3_FIRST);
    h->tp_mac = 8;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, -EBADMSG);

    /* More frames counted than linked: stop at the last link. */
    v3_block(blk);
    ((struct tpacket_block_desc *)blk)->hdr.bh1.num_pkts = 100;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    for (int i = 0; i < 7; i++) {
        g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
    }
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 0);

    /* A link that wraps around 4 GiB back to the first frame, with frames
     * counted for ever: not followed, the walk ends. */
    v3_block(blk);
    ((struct tpacket_block_desc *)blk)->hdr.bh1.num_pkts = UINT32_MAX;
    h = (void *)(blk + V3_FIRST);
    h = (void *)(blk + V3_FIRST + h->tp_next_offset);
    h->tp_next_offset = 0u - (uint32_t)((uint8_t *)h - blk - V3_FIRST);
    g_assert_true(encap_pring_v3_begin(blk, &c));
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 1);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, -EBADMSG);
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, 0);

    /* A first frame at a misaligned offset. */
    v3_block(blk);
    ((struct tpacket_block_desc *)blk)->hdr.bh1.offset_to_first_pkt = 50;
    g_assert_true(encap_pring_v3_begin(blk, &c));
    g_assert_cmpint(encap_pring_v3_next(blk, V3_BLOCK, &c, &f), ==, -EBADMSG);
}

static void test_pring_v2(void)
{
    static uint8_t slot[2048];
    struct tpacket2_hdr *h = (void *)slot;
    struct sockaddr_ll *sll = (void *)(slot + TPACKET_ALIGN(sizeof(*h)));
    struct encap_pring_frame f;

    memset(slot, 0, sizeof(slot));
    h->tp_mac = 66;
    h->tp_snaplen = h->tp_len = 1514;
    sll->sll_pkttype = PACKET_BROADCAST;
    slot[66 + 12] = 0x88;
    slot[66 + 13] = 0xb5;
    g_assert_cmpint(encap_pring_v2_frame(slot, sizeof(slot), &f), ==, 0);
    h->tp_status = TP_STATUS_USER | TP_STATUS_CSUM_VALID;
    g_assert_cmpint(encap_pring_v2_frame(slot, sizeof(slot), &f), ==, 1);
    g_assert_true(f.data == slot + 66);
    g_assert_cmpuint(f.len, ==, 1514);
    g_assert_true(encap_pring_wanted(&f));
    h->tp_snaplen = 2048 - 66 + 1;
    g_assert_cmpint(encap_pring_v2_frame(slot, sizeof(slot), &f), ==,
                    -EBADMSG);
    encap_pring_v2_release(slot);
    g_assert_cmpuint(h->tp_status, ==, TP_STATUS_KERNEL);
    g_assert_cmpint(encap_pring_v2_frame(slot, sizeof(slot), &f), ==, 0);
}

static void test_pring_tx(void)
{
    static uint8_t slot[2048], frame[2048];
    struct tpacket2_hdr *h = (void *)slot;

    for (unsigned k = 0; k < sizeof(frame); k++) {
        frame[k] = (uint8_t)(k * 3 + 1);
    }
    memset(slot, 0xee, sizeof(slot));
    h->tp_status = TP_STATUS_AVAILABLE;
    g_assert_true(encap_pring_tx_free(slot));
    /* The frame goes at TPACKET2_HDRLEN - sizeof(sockaddr_ll): byte 32. */
    g_assert_cmpuint(encap_pring_tx_room(sizeof(slot)), ==, 2048 - 32);
    g_assert_cmpint(encap_pring_tx_fill(slot, sizeof(slot), frame, 2017), ==,
                    -EMSGSIZE);
    g_assert_cmpuint(h->tp_status, ==, TP_STATUS_AVAILABLE);
    g_assert_cmpint(encap_pring_tx_fill(slot, sizeof(slot), frame, 1514), ==,
                    0);
    g_assert_cmpuint(h->tp_status, ==, TP_STATUS_SEND_REQUEST);
    g_assert_cmpuint(h->tp_len, ==, 1514);
    g_assert_cmpmem(slot + 32, 1514, frame, 1514);
    g_assert_cmpuint(slot[32 + 1514], ==, 0xee);
    g_assert_false(encap_pring_tx_free(slot));
    h->tp_status = TP_STATUS_SENDING;
    g_assert_false(encap_pring_tx_free(slot));
    h->tp_status = TP_STATUS_WRONG_FORMAT;     /* refused: the slot is free */
    g_assert_true(encap_pring_tx_free(slot));
}

/*
 * Cut a datagram of @total bytes, segments of @seg, as udp_recv_gro() does:
 * the slices in @s (up to @max), how many were oversize in @oversize.
 * Returns the number of slices.
 */
static unsigned gro_cut(size_t total, size_t seg, size_t max_frame,
                        size_t cap, struct encap_gro_slice *s, unsigned max,
                        unsigned *oversize)
{
    size_t pos = 0;
    unsigned n = 0;

    *oversize = 0;
    do {
        int r;

        g_assert_cmpuint(n, <, max);
        r = encap_gro_next(total, seg, &pos, max_frame, cap, &s[n]);
        if (r < 0) {
            g_assert_cmpint(r, ==, -EMSGSIZE);
            (*oversize)++;
        } else {
            g_assert_cmpint(r, ==, 1);
        }
        if (!s[n].last) {
            g_assert_cmpuint(pos, ==, s[n].off + s[n].len);
        }
    } while (!s[n++].last);
    g_assert_cmpuint(pos, ==, 0);
    return n;
}

static void test_gro_exact(void)
{
    struct encap_gro_slice s[8];
    unsigned over;

    /* Four frames of 1514 bytes, coalesced. */
    g_assert_cmpuint(gro_cut(4 * 1514, 1514, 9014, 9014, s, 8, &over), ==, 4);
    g_assert_cmpuint(over, ==, 0);
    for (unsigned i = 0; i < 4; i++) {
        g_assert_cmpuint(s[i].off, ==, i * 1514);
        g_assert_cmpuint(s[i].len, ==, 1514);
        g_assert_cmpint(s[i].last, ==, i == 3);
    }
    /* Not coalesced: the segment is the datagram (no cmsg). */
    g_assert_cmpuint(gro_cut(60, 60, 9014, 9014, s, 8, &over), ==, 1);
    g_assert_cmpuint(over, ==, 0);
    g_assert_cmpuint(s[0].off, ==, 0);
    g_assert_cmpuint(s[0].len, ==, 60);
}

static void test_gro_short_last(void)
{
    struct encap_gro_slice s[8];
    unsigned over;

    /* Three of 1000, then one of 234: the last run of a burst. */
    g_assert_cmpuint(gro_cut(3234, 1000, 9014, 9014, s, 8, &over), ==, 4);
    g_assert_cmpuint(over, ==, 0);
    g_assert_cmpuint(s[2].off, ==, 2000);
    g_assert_cmpuint(s[2].len, ==, 1000);
    g_assert_false(s[2].last);
    g_assert_cmpuint(s[3].off, ==, 3000);
    g_assert_cmpuint(s[3].len, ==, 234);
    g_assert_true(s[3].last);
    /* Shorter than one segment: one frame of what there is. */
    g_assert_cmpuint(gro_cut(100, 1514, 9014, 9014, s, 8, &over), ==, 1);
    g_assert_cmpuint(s[0].len, ==, 100);
    g_assert_cmpuint(over, ==, 0);
}

static void test_gro_oversize(void)
{
    struct encap_gro_slice s[8];
    unsigned over;

    /* Segments larger than max_frame: each one a drop, in its place. */
    g_assert_cmpuint(gro_cut(3 * 9100, 9100, 9014, 65536, s, 8, &over), ==,
                     3);
    g_assert_cmpuint(over, ==, 3);
    g_assert_cmpuint(s[1].off, ==, 9100);
    g_assert_cmpuint(s[1].len, ==, 9100);
    /* Larger than the slot: a drop; the short last one fits. */
    g_assert_cmpuint(gro_cut(2 * 2000 + 500, 2000, 9014, 1514, s, 8, &over),
                     ==, 3);
    g_assert_cmpuint(over, ==, 2);
    g_assert_cmpuint(s[2].off, ==, 4000);
    g_assert_cmpuint(s[2].len, ==, 500);
    /* Exactly max_frame and the slot: fits. */
    g_assert_cmpuint(gro_cut(2 * 9014, 9014, 9014, 9014, s, 8, &over), ==, 2);
    g_assert_cmpuint(over, ==, 0);
}

static void test_gro_truncated(void)
{
    struct encap_gro_slice s[8];
    unsigned over;
    size_t pos = 0;

    /* MSG_TRUNC (segment 0): the whole datagram is one drop. */
    g_assert_cmpuint(gro_cut(65536, 0, 9014, 9014, s, 8, &over), ==, 1);
    g_assert_cmpuint(over, ==, 1);
    g_assert_cmpuint(s[0].off, ==, 0);
    g_assert_cmpuint(s[0].len, ==, 0);
    g_assert_true(s[0].last);
    /* An empty datagram: one empty frame (a stray to the transport). */
    g_assert_cmpint(encap_gro_next(0, 1514, &pos, 9014, 9014, &s[0]), ==, 1);
    g_assert_cmpuint(s[0].len, ==, 0);
    g_assert_true(s[0].last);
    g_assert_cmpuint(pos, ==, 0);
}

/* Opening errors that need no privilege to see. */
static void test_packet_open_errors(void)
{
    struct encap_transport *t = NULL;
    char err[256] = "";
    int r;

    g_assert_cmpint(encap_transport_open("packet:lo,rx=v4", false, &t, err,
                                         sizeof(err)), ==, -EINVAL);
    g_assert_nonnull(strstr(err, "unknown option 'rx=v4'"));
    g_assert_cmpint(encap_transport_open("packet:lo,block-ms=0", false, &t,
                                         err, sizeof(err)), ==, -EINVAL);
    g_assert_cmpint(encap_transport_open("packet:lo,block-ms=-5", false, &t,
                                         err, sizeof(err)), ==, -EINVAL);
    g_assert_cmpint(encap_transport_open("packet:,rx=v2", false, &t, err,
                                         sizeof(err)), ==, -EINVAL);
    g_assert_nonnull(strstr(err, "bad interface name"));
    g_assert_cmpint(encap_transport_open_packet("a-name-far-too-long0", &t,
                                                err, sizeof(err)), ==,
                    -EINVAL);
    g_assert_null(t);
    /* As root: no such interface; otherwise: CAP_NET_RAW is named. */
    r = encap_transport_open("packet:vrc-nonexist0,tx=mmsg", false, &t, err,
                             sizeof(err));
    g_test_message("packet:vrc-nonexist0 -> %d %s", r, err);
    g_assert_null(t);
    g_assert_nonnull(strstr(err, "vrc-nonexist0"));
    if (r == -EPERM) {
        g_assert_nonnull(strstr(err, "CAP_NET_RAW"));
    } else {
        g_assert_cmpint(r, ==, -ENODEV);
        g_assert_nonnull(strstr(err, "no such interface"));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/transport/unix/sizes", test_sizes);
    g_test_add_func("/transport/unix/send-limits", test_send_limits);
    g_test_add_func("/transport/unix/oversize", test_oversize);
    g_test_add_func("/transport/unix/order-concurrent", test_order_concurrent);
    g_test_add_func("/transport/unix/peer-close", test_peer_close);
    g_test_add_func("/transport/unix/send-to-closed", test_send_to_closed);
    g_test_add_func("/transport/unix/from-fd-checks", test_from_fd_checks);
    g_test_add_func("/transport/unix/mac", test_mac);
    g_test_add_func("/transport/unix/listen-connect", test_listen_connect);
    g_test_add_func("/transport/unix/stale-socket", test_stale_socket);
    g_test_add_func("/transport/unix/bad-path", test_bad_path);
    g_test_add_func("/transport/custom-ops", test_custom_ops);
    g_test_add_func("/transport/pcap/no-interface", test_pcap_no_interface);
    g_test_add_func("/transport/burst-fallback", test_burst_fallback);
    g_test_add_data_func("/transport/udp/ipv4/frames", "127.0.0.1", udp_frames);
    g_test_add_data_func("/transport/udp/ipv6/frames", "[::1]", udp_frames);
    g_test_add_data_func("/transport/udp/ipv4/burst", "127.0.0.1", udp_burst);
    g_test_add_data_func("/transport/udp/ipv6/burst", "[::1]", udp_burst);
    g_test_add_data_func("/transport/udp/ipv4/runs", "127.0.0.1", udp_runs);
    g_test_add_data_func("/transport/udp/ipv6/runs", "[::1]", udp_runs);
    g_test_add_data_func("/transport/udp/ipv4/padded", "127.0.0.1", udp_padded);
    g_test_add_data_func("/transport/udp/ipv6/padded", "[::1]", udp_padded);
    g_test_add_data_func("/transport/udp/ipv4/stray", "127.0.0.1", udp_stray);
    g_test_add_data_func("/transport/udp/ipv6/stray", "[::1]", udp_stray);
    g_test_add_data_func("/transport/udp/ipv4/oversize", "127.0.0.1",
                         udp_oversize);
    g_test_add_data_func("/transport/udp/ipv6/oversize", "[::1]",
                         udp_oversize);
    g_test_add_func("/transport/udp/adopt-peer", test_udp_adopt_peer);
    g_test_add_func("/transport/udp/bad-spec", test_udp_bad_spec);
    g_test_add_func("/transport/open-spec", test_open_spec);
    g_test_add_func("/transport/packet/ring-v3-walk", test_pring_v3_walk);
    g_test_add_func("/transport/packet/ring-v3-bad", test_pring_v3_bad);
    g_test_add_func("/transport/packet/ring-v2", test_pring_v2);
    g_test_add_func("/transport/packet/ring-tx", test_pring_tx);
    g_test_add_func("/transport/packet/open-errors", test_packet_open_errors);
    g_test_add_func("/transport/udp/gro/exact", test_gro_exact);
    g_test_add_func("/transport/udp/gro/short-last", test_gro_short_last);
    g_test_add_func("/transport/udp/gro/oversize", test_gro_oversize);
    g_test_add_func("/transport/udp/gro/truncated", test_gro_truncated);
    return g_test_run();
}
