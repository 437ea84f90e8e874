/* SPDX-License-Identifier: MIT */
/*
 * encap: reading and writing the memory-mapped rings of an AF_PACKET socket
 * (the packet transport, encap_transport_open_packet()).
 *
 * Pure functions over ring memory, with no system calls, so that the unit
 * tests can feed them synthetic blocks and slots.  The layouts are the
 * kernel's (linux/if_packet.h), in host byte order: this is a local ABI,
 * not a wire format.
 *
 * Receiving, TPACKET_V3: the ring is made of blocks; the kernel fills one
 * block with many frames and hands the whole block over (block_status
 * TP_STATUS_USER) when it is full or its timeout expires.  The reader walks
 * the block's frames with a cursor and gives the block back at once.
 * TPACKET_V2: one frame per fixed-size slot, each handed over on its own.
 * Sending, TPACKET_V2 TX ring: the writer fills free slots, marks them
 * TP_STATUS_SEND_REQUEST, and one send() has the kernel take all of them.
 *
 * The ownership words are read with acquire and written with release
 * ordering, so that what the other side wrote before handing a block or a
 * slot over is seen complete.
 */
#ifndef ENCAP_PACKET_RING_H
#define ENCAP_PACKET_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame found in a receive ring. */
struct encap_pring_frame {
    const uint8_t *data;        /* the Ethernet header on */
    uint32_t snaplen;           /* bytes at @data */
    uint32_t len;               /* bytes the frame had (> snaplen: cut) */
    uint8_t pkttype;            /* PACKET_HOST, PACKET_BROADCAST, ... */
};

/* Where the reader is in a TPACKET_V3 block it owns. */
struct encap_pring_cursor {
    uint32_t off;               /* offset of the next frame header */
    uint32_t left;              /* frames of the block not read yet */
};

/*
 * TPACKET_V3: whether the block at @blk has been handed to us.  If so, set
 * @c to its first frame and return true.
 */
bool encap_pring_v3_begin(const uint8_t *blk, struct encap_pring_cursor *c);

/*
 * The next frame of the block at @blk (@size bytes, the ring's block size)
 * into @f: 1, or 0 when the block has no more frames, or -EBADMSG if a
 * header points outside the block (the rest of the block is skipped:
 * the cursor is left at the end).  Links only lead forward (one that
 * wraps around 4 GiB points outside), so whatever the headers say, a walk
 * takes at most one step per aligned offset of the block.  The frame's
 * bytes stay valid until the block is released.
 */
int encap_pring_v3_next(const uint8_t *blk, size_t size,
                        struct encap_pring_cursor *c,
                        struct encap_pring_frame *f);

/* Give the block back to the kernel (after its last frame was used). */
void encap_pring_v3_release(uint8_t *blk);

/*
 * TPACKET_V2, receive ring: the frame in the slot at @slot (@size bytes,
 * the ring's frame size) into @f: 1, 0 if the kernel still owns the slot,
 * or -EBADMSG if its header points outside the slot (release it anyway).
 */
int encap_pring_v2_frame(const uint8_t *slot, size_t size,
                         struct encap_pring_frame *f);

/* Give a receive slot back to the kernel. */
void encap_pring_v2_release(uint8_t *slot);

/*
 * Whether the packet transport returns @f: a frame of EtherType 0x88B5
 * addressed to this host, to broadcast or to a multicast group (DISC).
 * Our own outgoing frames and frames for other stations are not.
 */
bool encap_pring_wanted(const struct encap_pring_frame *f);

/*
 * TPACKET_V2 TX ring: whether the slot at @slot is free for a new frame
 * (the kernel has sent what it held, or refused it as malformed).
 */
bool encap_pring_tx_free(const uint8_t *slot);

/*
 * Put @len bytes of @frame in the free slot at @slot (@size bytes) and
 * hand it to the kernel: 0, or -EMSGSIZE if the frame does not fit.  The
 * kernel sends it at the next send() on the socket.
 */
int encap_pring_tx_fill(uint8_t *slot, size_t size, const uint8_t *frame,
                        size_t len);

/* The largest frame a TX slot of @size bytes holds. */
size_t encap_pring_tx_room(size_t size);

#endif
