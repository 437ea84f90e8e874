/* SPDX-License-Identifier: MIT */
/* encap: transport dispatch and the unix SOCK_SEQPACKET transport. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "encap/transport.h"

int encap_transport_send(struct encap_transport *t, const uint8_t *frame,
                         size_t len)
{
    int r = t->ops->send(t, frame, len);

    if (r >= 0) {
        t->stats.frames_tx++;
        t->stats.bytes_tx += len;
    }
    return r;
}

int encap_transport_recv(struct encap_transport *t, uint8_t *buf, size_t cap)
{
    int r = t->ops->recv(t, buf, cap);

    if (r > 0) {
        t->stats.frames_rx++;
        t->stats.bytes_rx += r;
    }
    return r;
}

int encap_transport_fd(const struct encap_transport *t)
{
    return t->fd;
}

void encap_transport_mac(const struct encap_transport *t, uint8_t mac[6])
{
    memcpy(mac, t->mac, 6);
}

void encap_transport_set_mac(struct encap_transport *t, const uint8_t mac[6])
{
    memcpy(t->mac, mac, 6);
}

unsigned encap_transport_mtu(const struct encap_transport *t)
{
    return t->mtu;
}

void encap_transport_close(struct encap_transport *t)
{
    if (t) {
        t->ops->close(t);
    }
}

/* ---- unix SOCK_SEQPACKET ---- */

struct unix_transport {
    struct encap_transport common;
    int listen_fd;              /* listener: accepts the next peer */
    int conn_fd;
    char *path;                 /* unlinked on close (listener) */
};

/* A frame larger than the buffer: drop it whole, never truncate. */
static int unix_recv(struct encap_transport *tp, uint8_t *buf, size_t cap)
{
    struct unix_transport *u = (struct unix_transport *)tp;
    ssize_t n;

    if (u->conn_fd < 0) {
        /* Listening: accept the first peer. */
        int fd = accept4(u->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        u->conn_fd = fd;
        tp->fd = fd;
    }
    for (;;) {
        struct iovec iov = { .iov_base = buf, .iov_len = cap };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        n = recvmsg(u->conn_fd, &msg, MSG_DONTWAIT);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        }
        if (n == 0) {
            /* The peer went away.  A listener waits for the next one. */
            close(u->conn_fd);
            u->conn_fd = -1;
            if (u->listen_fd < 0) {
                return -ECONNRESET;
            }
            tp->fd = u->listen_fd;
            return 0;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            tp->stats.oversize++;
            continue;
        }
        return n;
    }
}

static int unix_send(struct encap_transport *tp, const uint8_t *frame,
                     size_t len)
{
    struct unix_transport *u = (struct unix_transport *)tp;
    ssize_t n;

    if (u->conn_fd < 0) {
        return -ENOTCONN;
    }
    do {
        n = send(u->conn_fd, frame, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

static void unix_close(struct encap_transport *tp)
{
    struct unix_transport *u = (struct unix_transport *)tp;

    if (u->conn_fd >= 0) {
        close(u->conn_fd);
    }
    if (u->listen_fd >= 0) {
        close(u->listen_fd);
    }
    if (u->path) {
        unlink(u->path);
        free(u->path);
    }
    free(u);
}

static const struct encap_transport_ops unix_ops = {
    .name = "unix",
    .send = unix_send,
    .recv = unix_recv,
    .close = unix_close,
};

static struct unix_transport *unix_new(uint8_t last_mac_byte)
{
    struct unix_transport *u = calloc(1, sizeof(*u));

    if (!u) {
        return NULL;
    }
    u->common.ops = &unix_ops;
    u->common.mtu = 9000;
    u->common.mac[0] = 0x02;
    u->common.mac[5] = last_mac_byte;
    u->listen_fd = -1;
    u->conn_fd = -1;
    return u;
}

int encap_transport_from_fd(int fd, struct encap_transport **out)
{
    struct unix_transport *u = unix_new(0x02);

    if (!u) {
        return -ENOMEM;
    }
    u->conn_fd = fd;
    u->common.fd = fd;
    *out = &u->common;
    return 0;
}

int encap_transport_open_unix(const char *path, bool server,
                              struct encap_transport **out,
                              char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct unix_transport *u;
    int fd, r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long");
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    u = unix_new(server ? 0x01 : 0x02);
    if (!u) {
        return -ENOMEM;
    }
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = -errno;
        goto fail;
    }
    if (server) {
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fd, 1) < 0) {
            r = -errno;
            snprintf(err, errlen, "cannot listen on %s: %s", path,
                     strerror(errno));
            goto fail;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        u->listen_fd = fd;
        u->common.fd = fd;
        u->path = strdup(path);
    } else {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            r = -errno;
            snprintf(err, errlen, "cannot connect to %s: %s", path,
                     strerror(errno));
            goto fail;
        }
        u->conn_fd = fd;
        u->common.fd = fd;
    }
    *out = &u->common;
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
    }
    free(u);
    return r;
}
