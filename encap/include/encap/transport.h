/* SPDX-License-Identifier: MIT */
/*
 * encap: moving whole Ethernet frames between a vrc and an endpoint.
 *
 * A transport carries complete Ethernet frames (dst MAC, src MAC, EtherType,
 * ...; no FCS), one frame per send and per receive.  It is an opaque handle
 * behind a table of operations (struct encap_transport_ops), so the link
 * code, QEMU and the tests do not care whether frames go through libpcap on
 * a real interface, through a unix SOCK_SEQPACKET socket or in UDP
 * datagrams, and a test can plug in a transport of its own with
 * encap_transport_new().  encap_transport_open() opens any of them from a
 * spec string ("pcap:eth0", "unix:/run/vrc.sock", "udp:host:port").
 *
 * Errors: every function that can fail returns a negative errno value
 * (this layer talks to the OS; the codecs use enum encap_err instead).
 * Functions that open a transport also write a human-readable reason into
 * @err (may be NULL) when they fail.
 *
 * Receiving never blocks: encap_transport_recv() returns 0 when nothing is
 * waiting; poll encap_transport_fd() for POLLIN to sleep until something
 * may be.  The fd can be readable when recv() then finds nothing (e.g. a
 * frame the transport filtered out): treat it as a hint, not a promise.
 * The fd stays the same for the life of the transport.
 *
 * Threads: a transport has no lock shared by its two directions.  One
 * thread may send while another receives on the same transport, and
 * encap_transport_fd/mac/mtu/name/get_stats may be called from any thread
 * at any time.  Two threads must not send at the same time, nor receive at
 * the same time, and close must not race with anything.
 */
#ifndef ENCAP_TRANSPORT_H
#define ENCAP_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct encap_transport;

/* Largest MTU a transport supports: jumbo frames of 9000 bytes. */
#define ENCAP_TRANSPORT_MAX_MTU     9000
/* Largest frame a transport carries: the MTU plus the Ethernet header. */
#define ENCAP_TRANSPORT_MAX_FRAME   (ENCAP_TRANSPORT_MAX_MTU + 14)
/*
 * How long a send waits, at most, for room in a full kernel queue (the peer
 * is not reading) before giving up with -EAGAIN.  Bounded so that a caller
 * holding a lock never waits on a stuck peer for long; the link layer
 * treats the frame as lost and retransmits it.
 */
#define ENCAP_TRANSPORT_SEND_WAIT_MS 50

struct encap_transport_stats {
    uint64_t frames_tx;         /* frames handed to the kernel */
    uint64_t bytes_tx;
    uint64_t tx_errors;         /* sends that failed (frame not sent) */
    uint64_t frames_rx;         /* frames returned by recv */
    uint64_t bytes_rx;
    uint64_t rx_oversize;       /* frames dropped: larger than the buffer */
    uint64_t rx_errors;         /* recv errors, peer resets included */
    uint64_t kernel_drops;      /* dropped by the kernel before we saw them
                                   (pcap: pcap_stats ps_drop) */
    bool kernel_drops_valid;    /* false: the transport cannot tell */
    uint64_t rx_stray;          /* ignored, not returned: from a sender
                                   that is not the peer, or not a frame
                                   (udp); 0 where the transport cannot tell */
};

/* One frame of a burst to send: @len bytes at @data. */
struct encap_tx_frame {
    const uint8_t *data;
    size_t len;
};

/* One slot of a burst to receive: a buffer of @cap bytes; @len is set. */
struct encap_rx_frame {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

/* Largest burst the common layer passes to a transport at once. */
#define ENCAP_TRANSPORT_MAX_BURST   64

/*
 * The operations of a transport.  @opaque is the value given to
 * encap_transport_new().  The common layer checks arguments and keeps the
 * statistics (except kernel drops); the ops only move frames.
 */
struct encap_transport_ops {
    const char *name;           /* "pcap", "unix", ... */
    bool fixed_mac;             /* the MAC is the hardware's: no set_mac */
    /*
     * Receiving finds what is waiting with no system call (a ring in
     * shared memory): a reader that is awake tries it before it polls.
     */
    bool mapped_rx;
    /* Send one frame.  0 or -errno; never a partial frame. */
    int (*send)(void *opaque, const uint8_t *frame, size_t len);
    /*
     * Receive one frame into @buf, without blocking: its length, 0 if
     * nothing is waiting, or -errno.  A frame larger than @cap is consumed
     * and -EMSGSIZE returned, never truncated.
     */
    int (*recv)(void *opaque, uint8_t *buf, size_t cap);
    /* The fd to poll for POLLIN; constant for the transport's life. */
    int (*fd)(void *opaque);
    /* Optional: frames the kernel dropped so far (0 or -errno). */
    int (*kernel_drops)(void *opaque, uint64_t *drops);
    /*
     * Optional: send @n (1..ENCAP_TRANSPORT_MAX_BURST) frames of checked
     * sizes in order, in as few system calls as the transport can: the
     * number sent from the first (1..@n), or -errno if none was.  Without
     * it the common layer calls send for each frame.
     */
    int (*send_burst)(void *opaque, const struct encap_tx_frame *f,
                      unsigned n);
    /*
     * Optional: receive up to @n (1..ENCAP_TRANSPORT_MAX_BURST) frames
     * without blocking, setting each slot's len: the number of slots
     * filled (0: nothing waiting) or -errno if none was.  Frames larger
     * than their slot are consumed, not returned, and added to *@oversize.
     * Without it the common layer calls recv for each frame.
     */
    int (*recv_burst)(void *opaque, struct encap_rx_frame *f, unsigned n,
                      unsigned *oversize);
    /* Optional: frames ignored so far (struct encap_transport_stats). */
    uint64_t (*stray)(void *opaque);
    /*
     * Optional: the spec string of the own end (@peer false) or of the
     * peer (@peer true) into @buf, e.g. "udp:[::1]:5551": 0, -ENOTCONN
     * if there is no peer yet, -ENOSPC if @len is too small.
     */
    int (*address)(void *opaque, bool peer, char *buf, size_t len);
    /* Optional: encap_transport_adopt_peer(); the receiving thread. */
    void (*adopt_peer)(void *opaque, unsigned slot);
    /* Release everything, @opaque included. */
    void (*close)(void *opaque);
};

/*
 * A transport from a table of operations (tests, special transports).
 * @mac is its own MAC address, @mtu the largest payload after the Ethernet
 * header (1..ENCAP_TRANSPORT_MAX_MTU).  On success ops->close(@opaque) is
 * called by encap_transport_close(); on failure (-EINVAL, -ENOMEM) it is not.
 */
int encap_transport_new(const struct encap_transport_ops *ops, void *opaque,
                        const uint8_t mac[6], unsigned mtu,
                        struct encap_transport **out);

/*
 * Raw Ethernet on interface @ifname through libpcap.  Two handles on the
 * interface: one receives (immediate mode, a large kernel buffer, only
 * incoming frames of EtherType 0x88B5, non-blocking, pollable), one only
 * sends, so the two directions share no libpcap state.  The MAC and MTU
 * are the interface's (the MTU capped at ENCAP_TRANSPORT_MAX_MTU).  No
 * filtering by MAC: frames to other stations that reach the interface are
 * returned too.  On lo (MAC 00:00:00:00:00:00) a transport also receives
 * what it sends.  Needs CAP_NET_RAW.
 */
int encap_transport_open_pcap(const char *ifname, struct encap_transport **out,
                              char *err, size_t errlen);

/*
 * Raw Ethernet on an interface through AF_PACKET sockets with memory-mapped
 * rings (encap/packet-ring.h): many frames per system call and per wakeup.
 * @spec is IFNAME[,OPTION...]:
 *   rx=v2        (default) a TPACKET_V2 receive ring (32 MiB of slots
 *                sized for the MTU): each frame is handed over, and the fd
 *                woken, as soon as it arrives; a reader that is awake takes
 *                every frame waiting without a system call
 *   rx=v3        a TPACKET_V3 receive ring of 64 blocks of 256 KiB: the
 *                kernel hands over a block of many frames at a time, when
 *                it is full or block-ms after it was opened: one wakeup
 *                per block, but a lone frame waits up to block-ms
 *   block-ms=N   the V3 block timeout, 1..1000 ms (default 1)
 *   tx=mmsg      (default) sendmmsg(), a burst in one system call
 *   tx=ring      a TPACKET_V2 send ring (8 MiB): a burst is copied into
 *                the ring and sent by one send()
 * Sends bypass the qdisc (PACKET_QDISC_BYPASS).  Received: frames of
 * EtherType 0x88B5 to the interface's MAC, to broadcast or to a multicast
 * group; not our own sends, nor frames for other stations (a kernel
 * filter drops them).  The MAC and MTU are the interface's (the MTU capped at
 * ENCAP_TRANSPORT_MAX_MTU).  Needs CAP_NET_RAW (-EPERM otherwise, and
 * @err says so); -ENODEV if there is no such interface; a kernel without
 * packet rings fails with @err naming pcap:IFNAME as the fallback.
 */
int encap_transport_open_packet(const char *spec, struct encap_transport **out,
                                char *err, size_t errlen);

/*
 * A unix SOCK_SEQPACKET socket at @path, one frame per message.
 *
 * @listener true: bind @path and serve one peer at a time.  A socket file
 * left there by a dead listener is replaced; a live one (found by
 * connecting to it: that listener sees a peer come and go) or any other
 * file is not: -EADDRINUSE.  The peer is accepted by
 * encap_transport_recv() when it connects (the fd is readable then); until
 * then send returns -ENOTCONN.  When the peer goes away, recv returns
 * -ECONNRESET once and the transport waits for the next peer.  @path is
 * removed on close.
 *
 * @listener false: connect to @path; fails (-ECONNREFUSED, -ENOENT, ...)
 * if nobody listens, -EAGAIN if the listener is busy with another peer.
 * When the peer goes away, recv returns -ECONNRESET, then -ENOTCONN on
 * every later call, and the fd stops being readable.
 *
 * A unix transport does not look at MAC addresses.  Its own MAC is
 * ENCAP_UNIX_LISTENER_MAC for a listener and ENCAP_UNIX_CONNECTOR_MAC
 * otherwise, until changed with encap_transport_set_mac().  MTU:
 * ENCAP_TRANSPORT_MAX_MTU.
 */
int encap_transport_open_unix(const char *path, bool listener,
                              struct encap_transport **out,
                              char *err, size_t errlen);

/* Default MACs of unix transports: locally administered, unicast. */
#define ENCAP_UNIX_LISTENER_MAC   { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }
#define ENCAP_UNIX_CONNECTOR_MAC  { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 }

/*
 * Frames in UDP datagrams, one frame (Ethernet header, vrc header, payload,
 * CRC) per datagram: docs/protocol.md, section 8.  @hostport is HOST:PORT,
 * [IPV6]:PORT, or :PORT (a listener on every address); HOST may be a name
 * (getaddrinfo; the first address that works is used), PORT is a number.
 *
 * @listener true: bind @hostport (PORT 0: any free port, see
 * encap_transport_address()).  The sender of the first frame that arrives
 * becomes the peer; from then on datagrams from anyone else are ignored
 * (counted in rx_stray), except a HELLO (a CTRL frame, op 1, from the
 * initiator's side) or a sealed frame (version 2) from that side, which
 * are returned so that the link can decide: their sender becomes the peer
 * when the link opens a session on the HELLO or the sealed frame opens
 * in its session (encap_transport_adopt_peer(); docs/protocol.md, section
 * 8).  Until there is a peer, send returns -ENOTCONN.
 *
 * A listener on every address answers from the address its route to the
 * peer picks: on a host with several addresses, bind the one the peer
 * sends to, or the peer may ignore the answers as coming from a stranger.
 *
 * @listener false: send to @hostport, and take datagrams from that address
 * only.  Nothing is sent at open: a listener that is not there yet is not
 * an error (the frames are lost, as on a wire).
 *
 * A datagram that is not a frame (shorter than an Ethernet header, or not
 * EtherType 0x88B5) is ignored and counted in rx_stray; one larger than the
 * buffer or than MTU + 14 is dropped whole (-EMSGSIZE, rx_oversize).  MACs
 * are not looked at: the own MAC is ENCAP_UDP_LISTENER_MAC or
 * ENCAP_UDP_CONNECTOR_MAC until changed.  MTU: ENCAP_TRANSPORT_MAX_MTU;
 * frames larger than the path MTU less the IP and UDP headers are
 * fragmented by IP (see docs/design.md for the mtu to choose).  Sends and
 * receives go in batches (sendmmsg, recvmmsg) through the burst functions;
 * runs of frames of one size go as GSO sends, and the receiver takes
 * GRO-coalesced datagrams (ENCAP_UDP_NO_GRO=1 in the environment turns GRO
 * off, for comparisons).
 */
int encap_transport_open_udp(const char *hostport, bool listener,
                             struct encap_transport **out,
                             char *err, size_t errlen);

/* Default MACs of udp transports: those of the unix ones. */
#define ENCAP_UDP_LISTENER_MAC    ENCAP_UNIX_LISTENER_MAC
#define ENCAP_UDP_CONNECTOR_MAC   ENCAP_UNIX_CONNECTOR_MAC

/*
 * Open a transport from a spec string SCHEME:ADDRESS:
 *   pcap:IFNAME       encap_transport_open_pcap(IFNAME) (@listener unused)
 *   packet:IFNAME[,OPTION...]
 *                     encap_transport_open_packet() (@listener unused)
 *   unix:PATH         encap_transport_open_unix(PATH, @listener)
 *   udp:HOST:PORT     encap_transport_open_udp(HOST:PORT, @listener)
 * The endpoint side listens, the vrc side does not.  -EINVAL with a reason
 * in @err for a spec that names no known scheme or has no address;
 * otherwise what the transport's open function returns.
 */
int encap_transport_open(const char *spec, bool listener,
                         struct encap_transport **out,
                         char *err, size_t errlen);

/*
 * Wrap @fd, one end of a connected AF_UNIX SOCK_SEQPACKET socket (e.g. from
 * socketpair()), as a unix transport that behaves as the connecting side
 * (MAC ENCAP_UNIX_CONNECTOR_MAC unless changed).  On success the transport
 * owns @fd; on failure (-ENOTSOCK, -EPROTOTYPE, -ENOTCONN, -ENOMEM) the
 * caller still does.
 */
int encap_transport_from_fd(int fd, struct encap_transport **out);

/*
 * Send one frame of @len bytes (ENCAP_ETH_HLEN .. MTU + 14; -EMSGSIZE
 * otherwise).  Returns 0 once the kernel has taken the whole frame, or
 * -errno: -EAGAIN if the queue stayed full for ENCAP_TRANSPORT_SEND_WAIT_MS,
 * -ENOBUFS if the device queue is full, -ENOTCONN/-EPIPE if there is no
 * peer.  A frame that failed was not sent.
 */
int encap_transport_send(struct encap_transport *t, const uint8_t *frame,
                         size_t len);

/*
 * Send @n frames in order, in as few system calls as the transport can
 * (sendmmsg for udp, the send ring or sendmmsg for packet; one send per
 * frame for the others).  Returns how many
 * were sent from the first (1..@n), or -errno if none was (as
 * encap_transport_send).  A frame of a bad size ends the burst before it
 * (-EMSGSIZE if it is the first).  Frames after the returned count were not
 * sent: send them again or count them lost.
 */
int encap_transport_send_burst(struct encap_transport *t,
                               const struct encap_tx_frame *f, unsigned n);

/*
 * Receive up to @n frames without blocking (recvmmsg for udp, a walk of
 * the ring for packet), each into its slot, setting its len.  Returns the
 * number of slots filled, 0 if nothing is waiting, or -errno.  Frames fill
 * the slots in order (give them all the same size).  Frames larger than
 * their slot are dropped and counted (rx_oversize); if the call took only
 * such frames it returns -EMSGSIZE, like encap_transport_recv.  An error met after some
 * frames were taken is returned by the next call.
 */
int encap_transport_recv_burst(struct encap_transport *t,
                               struct encap_rx_frame *f, unsigned n);

/*
 * Frame @slot of the burst last received (0 for encap_transport_recv)
 * proved its sender to be the peer (the link said so: a HELLO on which it
 * opens a session, or a sealed frame of a keyed session): where the
 * transport learns its peer from the frames it receives (a udp listener)
 * and the frame came from another sender than the peer, that sender
 * becomes the peer, and every answer goes to it.  So the peer is never
 * the sender of a frame the link refused.  Nothing changes where the peer
 * is configured, is a connection (unix), or is named by every frame (raw
 * Ethernet).  Only from the thread that received the burst, before it
 * receives again.
 */
void encap_transport_adopt_peer(struct encap_transport *t, unsigned slot);

/*
 * The spec string of the own end (@peer false) or of the current peer
 * (@peer true), e.g. "udp:0.0.0.0:5551" and "udp:192.0.2.7:40123":
 * 0, -ENOTCONN (no peer yet), -EOPNOTSUPP (the transport cannot say), or
 * -ENOSPC (@buf too small).
 */
int encap_transport_address(const struct encap_transport *t, bool peer,
                            char *buf, size_t len);

/*
 * Receive one frame into @buf (@cap bytes), without blocking.  Returns its
 * length, 0 if nothing is waiting, or -errno.  A frame larger than @cap is
 * dropped whole, counted in rx_oversize and reported as -EMSGSIZE; the next
 * call returns the next frame.  Use a buffer of ENCAP_TRANSPORT_MAX_FRAME
 * (or MTU + 14) bytes to never see that.
 */
int encap_transport_recv(struct encap_transport *t, uint8_t *buf, size_t cap);

/* The fd to poll for POLLIN (see the top of this file). */
int encap_transport_fd(const struct encap_transport *t);

/* True if a receive that finds nothing costs no system call (ops->mapped_rx). */
bool encap_transport_mapped_rx(const struct encap_transport *t);

/* "pcap", "packet", "unix", "udp", or the name in the ops of a custom transport. */
const char *encap_transport_name(const struct encap_transport *t);

/* Own MAC address (the source MAC for frames sent on this transport). */
void encap_transport_mac(const struct encap_transport *t, uint8_t mac[6]);

/*
 * Change the own MAC: -EOPNOTSUPP if ops->fixed_mac (a pcap transport keeps
 * its interface's MAC), -EINVAL for a group (multicast) address.  Call
 * before the transport is shared between threads.
 */
int encap_transport_set_mac(struct encap_transport *t, const uint8_t mac[6]);

/* Largest payload after the Ethernet header, in bytes. */
unsigned encap_transport_mtu(const struct encap_transport *t);

/* A snapshot of the counters (any thread). */
void encap_transport_get_stats(struct encap_transport *t,
                               struct encap_transport_stats *s);

/* Close the transport and free it; NULL is ignored. */
void encap_transport_close(struct encap_transport *t);

#endif
