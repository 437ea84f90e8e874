/* SPDX-License-Identifier: MIT */
/* Unit tests for the unix SOCK_SEQPACKET transport. */
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "encap/transport.h"

/* Wait (bounded) until @t has something to read. */
static void wait_readable(struct encap_transport *t)
{
    struct pollfd p = { .fd = encap_transport_fd(t), .events = POLLIN };

    g_assert_cmpint(poll(&p, 1, 5000), ==, 1);
}

static void test_pair(void)
{
    int sv[2];
    struct encap_transport *a, *b;
    static uint8_t out[9014], in[9100];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(sv[0], &a), ==, 0);
    g_assert_cmpint(encap_transport_from_fd(sv[1], &b), ==, 0);
    for (unsigned len = 64; len <= 9014; len += 1000) {
        for (unsigned i = 0; i < len; i++) {
            out[i] = i + len;
        }
        g_assert_cmpint(encap_transport_send(a, out, len), ==, 0);
        wait_readable(b);
        g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, len);
        g_assert_cmpmem(in, len, out, len);
    }
    /* Nothing waiting: 0, not an error. */
    g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, 0);
    /* Many frames keep their order and boundaries. */
    for (unsigned i = 0; i < 100; i++) {
        out[0] = i;
        g_assert_cmpint(encap_transport_send(a, out, 60 + i), ==, 0);
    }
    for (unsigned i = 0; i < 100; i++) {
        wait_readable(b);
        g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, 60 + i);
        g_assert_cmpuint(in[0], ==, i);
    }
    /* A frame larger than the buffer is dropped whole and counted. */
    g_assert_cmpint(encap_transport_send(a, out, 2000), ==, 0);
    g_assert_cmpint(encap_transport_send(a, out, 100), ==, 0);
    wait_readable(b);
    g_assert_cmpint(encap_transport_recv(b, in, 1500), ==, 100);
    g_assert_cmpuint(b->stats.oversize, ==, 1);
    g_assert_cmpuint(a->stats.frames_tx, ==, 9 + 100 + 2);
    /* The peer goes away: an error, not a hang or a zero-length frame. */
    encap_transport_close(a);
    wait_readable(b);
    g_assert_cmpint(encap_transport_recv(b, in, sizeof(in)), ==, -ECONNRESET);
    encap_transport_close(b);
}

static void test_listen_connect(void)
{
    g_autofree char *dir = g_dir_make_tmp("vrc-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "ep.sock", NULL);
    struct encap_transport *srv, *cli, *cli2;
    uint8_t mac[6], buf[64];
    char err[128];

    g_assert_cmpint(encap_transport_open_unix(path, true, &srv, err, sizeof(err)), ==, 0);
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli, err, sizeof(err)), ==, 0);
    encap_transport_mac(srv, mac);
    g_assert_cmphex(mac[5], ==, 0x01);
    encap_transport_mac(cli, mac);
    g_assert_cmphex(mac[5], ==, 0x02);
    g_assert_cmpint(encap_transport_send(cli, (const uint8_t *)"hello", 5), ==, 0);
    wait_readable(srv);          /* the connection */
    while (encap_transport_recv(srv, buf, sizeof(buf)) == 0) {
        wait_readable(srv);      /* the frame, on the accepted socket */
    }
    g_assert_cmpmem(buf, 5, "hello", 5);
    g_assert_cmpint(encap_transport_send(srv, (const uint8_t *)"hi", 2), ==, 0);
    wait_readable(cli);
    g_assert_cmpint(encap_transport_recv(cli, buf, sizeof(buf)), ==, 2);
    /* The client goes; the listener takes the next one. */
    encap_transport_close(cli);
    wait_readable(srv);
    g_assert_cmpint(encap_transport_recv(srv, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli2, err, sizeof(err)), ==, 0);
    g_assert_cmpint(encap_transport_send(cli2, (const uint8_t *)"again", 5), ==, 0);
    wait_readable(srv);
    while (encap_transport_recv(srv, buf, sizeof(buf)) == 0) {
        wait_readable(srv);
    }
    g_assert_cmpmem(buf, 5, "again", 5);
    encap_transport_close(cli2);
    encap_transport_close(srv);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    /* Nobody listening: a clear error. */
    g_assert_cmpint(encap_transport_open_unix(path, false, &cli, err, sizeof(err)), <, 0);
    g_assert_nonnull(strstr(err, "cannot connect"));
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/transport/unix-pair", test_pair);
    g_test_add_func("/transport/unix-listen-connect", test_listen_connect);
    return g_test_run();
}
