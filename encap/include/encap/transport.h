/* SPDX-License-Identifier: MIT */
/*
 * encap: moving whole Ethernet frames between a vrc and an endpoint.
 *
 * A transport is an opaque handle behind a table of operations, so the
 * link code and the tests do not care whether frames go through libpcap on
 * a real interface or through a unix SOCK_SEQPACKET socket (one message per
 * frame).
 *
 * Errors: negative errno values (this layer talks to the OS).
 * Threads: one thread may send while another receives on the same
 * transport; two threads must not send (or receive) at the same time.
 */
#ifndef ENCAP_TRANSPORT_H
#define ENCAP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct encap_transport;

struct encap_transport_stats {
    uint64_t frames_tx;
    uint64_t frames_rx;
    uint64_t bytes_tx;
    uint64_t bytes_rx;
    uint64_t oversize;          /* frames larger than the receive buffer */
    uint64_t kernel_drops;      /* pcap: dropped by the kernel's buffer */
};

struct encap_transport_ops {
    const char *name;
    int (*send)(struct encap_transport *t, const uint8_t *frame, size_t len);
    /* Non-blocking: length, 0 if nothing is waiting, or -errno. */
    int (*recv)(struct encap_transport *t, uint8_t *buf, size_t cap);
    void (*close)(struct encap_transport *t);
};

/* Common part; each transport embeds it first. */
struct encap_transport {
    const struct encap_transport_ops *ops;
    int fd;                     /* readable when a frame may be waiting */
    uint8_t mac[6];
    unsigned mtu;
    struct encap_transport_stats stats;
};

/*
 * Raw Ethernet on interface @ifname through libpcap: immediate mode, only
 * frames of our EtherType, only incoming ones.  @err gets libpcap's message
 * on failure.
 */
int encap_transport_open_pcap(const char *ifname, struct encap_transport **out,
                              char *err, size_t errlen);

/*
 * Unix SOCK_SEQPACKET socket at @path: @server binds it (removing a stale
 * socket file) and accepts the first peer when it connects; otherwise it
 * connects.  A listener whose peer goes away waits for the next one (its
 * fd changes: ask encap_transport_fd() again after each recv).  The local MAC is 02:00:00:00:00:01 for the listener and
 * ...:02 for the connecting side unless set with encap_transport_set_mac().
 */
int encap_transport_open_unix(const char *path, bool server,
                              struct encap_transport **out,
                              char *err, size_t errlen);

/* Wrap one end of a connected SOCK_SEQPACKET socket (e.g. a socketpair). */
int encap_transport_from_fd(int fd, struct encap_transport **out);

int encap_transport_send(struct encap_transport *t, const uint8_t *frame,
                         size_t len);
int encap_transport_recv(struct encap_transport *t, uint8_t *buf, size_t cap);
int encap_transport_fd(const struct encap_transport *t);
void encap_transport_mac(const struct encap_transport *t, uint8_t mac[6]);
void encap_transport_set_mac(struct encap_transport *t, const uint8_t mac[6]);
unsigned encap_transport_mtu(const struct encap_transport *t);
void encap_transport_close(struct encap_transport *t);

#endif
