/* SPDX-License-Identifier: MIT */
/* encap: the unix SOCK_SEQPACKET transport, one frame per message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4 */
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "encap/transport.h"

/*
 * The fd given to callers is an epoll fd holding whichever socket can make
 * progress: the listening socket while a listener has no peer, else the
 * connected one.  So it never changes, and it goes quiet once a connecting
 * transport has lost its peer instead of polling readable (HUP) forever.
 *
 * Only the receiving thread changes conn_fd (accepting a peer, losing it);
 * it does so under @lock, which the sending thread holds while it uses
 * conn_fd.  The receiving thread reads conn_fd without the lock: nobody
 * else writes it.
 */
struct unix_transport {
    int epfd;
    int listen_fd;              /* -1 unless a listener */
    int conn_fd;                /* -1 while there is no peer */
    pthread_mutex_t lock;
    char *path;                 /* a listener's socket file, removed on close */
};

static int unix_fd(void *opaque)
{
    struct unix_transport *u = opaque;

    return u->epfd;
}

static int ms_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 +
           (now.tv_nsec - start->tv_nsec) / 1000000;
}

static int unix_send(void *opaque, const uint8_t *frame, size_t len)
{
    struct unix_transport *u = opaque;
    struct timespec start = { 0, 0 };
    int r;

    pthread_mutex_lock(&u->lock);
    if (u->conn_fd < 0) {
        r = -ENOTCONN;
        goto out;
    }
    for (;;) {
        ssize_t n = send(u->conn_fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        struct pollfd pfd = { .fd = u->conn_fd, .events = POLLOUT };
        int left;

        if (n == (ssize_t)len) {
            r = 0;
            break;
        }
        if (n >= 0) {
            r = -EIO;           /* SOCK_SEQPACKET sends all or nothing */
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            r = -errno;
            break;
        }
        /* The peer's queue is full: wait for room, within a bound. */
        if (start.tv_sec == 0 && start.tv_nsec == 0) {
            clock_gettime(CLOCK_MONOTONIC, &start);
        }
        left = ENCAP_TRANSPORT_SEND_WAIT_MS - ms_since(&start);
        if (left <= 0) {
            r = -EAGAIN;
            break;
        }
        if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
            r = -errno;
            break;
        }
    }
out:
    pthread_mutex_unlock(&u->lock);
    return r;
}

/* The peer went away: forget it, and a listener waits for the next one. */
static int unix_peer_gone(struct unix_transport *u)
{
    struct epoll_event ev = { .events = EPOLLIN };

    epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->conn_fd, NULL);
    pthread_mutex_lock(&u->lock);
    close(u->conn_fd);
    u->conn_fd = -1;
    pthread_mutex_unlock(&u->lock);
    if (u->listen_fd >= 0) {
        ev.data.fd = u->listen_fd;
        if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->listen_fd, &ev) < 0) {
            return -errno;
        }
    }
    return -ECONNRESET;
}

/* A listener without a peer: accept one if it is waiting.  1, 0 or -errno. */
static int unix_accept(struct unix_transport *u)
{
    struct epoll_event ev = { .events = EPOLLIN };
    int fd = accept4(u->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
        case EINTR:
        case ECONNABORTED:
            return 0;
        default:
            return -errno;
        }
    }
    ev.data.fd = fd;
    if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    /* One peer at a time: the next one waits in the backlog. */
    epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->listen_fd, NULL);
    pthread_mutex_lock(&u->lock);
    u->conn_fd = fd;
    pthread_mutex_unlock(&u->lock);
    return 1;
}

static int unix_recv(void *opaque, uint8_t *buf, size_t cap)
{
    struct unix_transport *u = opaque;

    if (u->conn_fd < 0) {
        int r;

        if (u->listen_fd < 0) {
            return -ENOTCONN;
        }
        r = unix_accept(u);
        if (r <= 0) {
            return r;
        }
    }
    for (;;) {
        struct iovec iov = { .iov_base = buf, .iov_len = cap };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        struct pollfd pfd = { .fd = u->conn_fd, .events = POLLRDHUP };
        ssize_t n = recvmsg(u->conn_fd, &msg, MSG_DONTWAIT);

        if (n < 0) {
            switch (errno) {
            case EINTR:
                continue;
            case EAGAIN:
#if EWOULDBLOCK != EAGAIN
            case EWOULDBLOCK:
#endif
                return 0;
            case ECONNRESET:
                return unix_peer_gone(u);
            default:
                return -errno;
            }
        }
        if (msg.msg_flags & MSG_TRUNC) {
            return -EMSGSIZE;   /* consumed: SEQPACKET drops the rest */
        }
        if (n > 0) {
            return n;
        }
        /* 0: end of stream, or an empty message (not a frame: skip it). */
        if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP))) {
            return unix_peer_gone(u);
        }
    }
}

static void unix_close(void *opaque)
{
    struct unix_transport *u = opaque;

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
    close(u->epfd);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static const struct encap_transport_ops unix_ops = {
    .name = "unix",
    .send = unix_send,
    .recv = unix_recv,
    .fd = unix_fd,
    .close = unix_close,
};

static const uint8_t listener_mac[6] = ENCAP_UNIX_LISTENER_MAC;
static const uint8_t connector_mac[6] = ENCAP_UNIX_CONNECTOR_MAC;

/*
 * A transport around @sock: the listening socket bound to @path if
 * @listener, else the connected one.  Takes @sock only on success.
 */
static int unix_wrap(int sock, bool listener, const char *path,
                     struct encap_transport **out)
{
    struct unix_transport *u = calloc(1, sizeof(*u));
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = sock };
    int r;

    if (!u) {
        return -ENOMEM;
    }
    u->listen_fd = listener ? sock : -1;
    u->conn_fd = listener ? -1 : sock;
    if (listener && !(u->path = strdup(path))) {
        free(u);
        return -ENOMEM;
    }
    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (u->epfd < 0) {
        r = -errno;
        goto fail;
    }
    if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
        r = -errno;
        goto fail;
    }
    pthread_mutex_init(&u->lock, NULL);
    r = encap_transport_new(&unix_ops, u,
                            listener ? listener_mac : connector_mac,
                            ENCAP_TRANSPORT_MAX_MTU, out);
    if (r < 0) {
        pthread_mutex_destroy(&u->lock);
        goto fail;
    }
    return 0;

fail:
    if (u->epfd >= 0) {
        close(u->epfd);
    }
    free(u->path);
    free(u);
    return r;
}

int encap_transport_from_fd(int fd, struct encap_transport **out)
{
    int type = 0, domain = 0;
    socklen_t len = sizeof(type);
    struct sockaddr_un peer;
    socklen_t plen = sizeof(peer);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        return -errno;
    }
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
        return -errno;
    }
    if (domain != AF_UNIX || type != SOCK_SEQPACKET) {
        return -EPROTOTYPE;
    }
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
        return -errno;          /* -ENOTCONN: not connected */
    }
    return unix_wrap(fd, false, NULL, out);
}

static void set_err(char *err, size_t errlen, const char *what,
                    const char *path, int errnum)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errnum));
    }
}

/*
 * Bind @sock to @sa and listen.  A socket file left by a dead listener is
 * replaced; one that somebody still listens on, or any other file, is not.
 */
static int unix_listen(int sock, const struct sockaddr_un *sa, char *err,
                       size_t errlen)
{
    struct stat st;

    if (lstat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
                           SOCK_CLOEXEC, 0);
        bool busy = probe >= 0 &&
                    (connect(probe, (const struct sockaddr *)sa,
                             sizeof(*sa)) == 0 || errno == EAGAIN);

        if (probe >= 0) {
            close(probe);
        }
        if (busy) {
            set_err(err, errlen, "another listener serves", sa->sun_path,
                    EADDRINUSE);
            return -EADDRINUSE;
        }
        unlink(sa->sun_path);
    }
    if (bind(sock, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        int r = -errno;
        set_err(err, errlen, "cannot bind", sa->sun_path, -r);
        return r;
    }
    /* Backlog 0: one more peer may wait, any further one is refused. */
    if (listen(sock, 0) < 0) {
        int r = -errno;
        set_err(err, errlen, "cannot listen on", sa->sun_path, -r);
        unlink(sa->sun_path);
        return r;
    }
    return 0;
}

int encap_transport_open_unix(const char *path, bool listener,
                              struct encap_transport **out,
                              char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int sock, r;

    if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
        set_err(err, errlen, "bad socket path", path ? path : "",
                ENAMETOOLONG);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Non-blocking: accept4 must not wait, nor connect to a busy listener. */
    sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        r = -errno;
        set_err(err, errlen, "cannot create a socket for", path, -r);
        return r;
    }
    if (listener) {
        r = unix_listen(sock, &sa, err, errlen);
    } else if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        /* -EAGAIN: the listener's backlog is full (it has a peer). */
        set_err(err, errlen, "cannot connect to", path, -r);
    } else {
        r = 0;
    }
    if (r == 0) {
        r = unix_wrap(sock, listener, path, out);
        if (r < 0) {
            set_err(err, errlen, "cannot set up", path, -r);
            if (listener) {
                unlink(path);
            }
        }
    }
    if (r < 0) {
        close(sock);
    }
    return r;
}
