/* SPDX-License-Identifier: MIT */
/*
 * encap: cutting what UDP GRO coalesced back into frames (the udp
 * transport, encap_transport_open_udp()).
 *
 * With UDP_GRO the kernel may hand over several datagrams of one sender in
 * one receive call, back to back in one buffer of up to 64 KiB, with their
 * size in a cmsg (gso_size): all have that size but the last, which may be
 * shorter.  Each datagram carries one frame.
 *
 * A pure function, with no system calls, so that the unit tests and the
 * fuzzer drive the code that the transport runs.
 */
#ifndef ENCAP_GRO_H
#define ENCAP_GRO_H

#include <stdbool.h>
#include <stddef.h>

/* One frame cut out of a coalesced datagram. */
struct encap_gro_slice {
    size_t off;             /* where it starts in the datagram */
    size_t len;             /* its bytes */
    bool last;              /* the datagram's last: go on to the next one */
};

/*
 * The next frame of a datagram of @total bytes coalesced from segments of
 * @seg bytes, of which the first @*pos bytes were handed out already, into
 * @s.  @*pos moves past the frame, and back to 0 after the datagram's last
 * one.  @seg 0 stands for a datagram that was truncated (larger than the
 * receive buffer): all of it is one frame of 0 bytes, oversize.  A
 * datagram of 0 bytes is one frame of 0 bytes.
 *
 * Returns 1, or -EMSGSIZE if the frame is oversize: longer than @max_frame
 * or @cap (the caller's buffer), or @seg is 0.  It is used up all the same:
 * the caller drops and counts it, and goes on.
 */
int encap_gro_next(size_t total, size_t seg, size_t *pos, size_t max_frame,
                   size_t cap, struct encap_gro_slice *s);

#endif
