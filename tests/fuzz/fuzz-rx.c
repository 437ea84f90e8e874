/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over the receive code of the packet and udp transports
 * that runs on memory the kernel wrote: the AF_PACKET ring walk
 * (encap/packet-ring.h) and the cutting of UDP GRO datagrams into frames
 * (encap/gro.h).  The kernel writes those headers right; a corrupt one
 * must still never make us read outside the ring or loop.  Any crash,
 * sanitizer report, leak or broken invariant (abort) is a finding.
 *
 * The first input byte picks a mode (bits 1:0):
 *  0  the rest is a TPACKET_V3 block (of its length, at least a block
 *     header), handed over (unless bit 7 is set: its status as input).
 *     Every frame of the walk lies inside the block, after its own
 *     header, and the walk ends within one step per aligned offset;
 *     after the end or an error, the block has no more frames.
 *  1  the rest is a TPACKET_V2 receive slot: the same, for one frame.
 *  2  the next 2 bytes are a TX slot size (at least TPACKET2_HDRLEN, as
 *     the kernel requires), the rest a frame: filling the slot and reading
 *     it back gives the frame, and nothing else of the slot changes; a
 *     frame too large changes nothing at all.
 *  3  the next 2 bytes are a GRO segment size (0: a truncated datagram),
 *     the 2 after them the size of the caller's slot, the rest the
 *     datagram: its frames, taken and dropped, tile it exactly, each one
 *     a segment but the last, in one step each, and none taken is larger
 *     than the slot or ENCAP_TRANSPORT_MAX_FRAME.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encap/gro.h"
#include "encap/packet-ring.h"
#include "encap/transport.h"

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

/* Where frame data may start, at the earliest, after a frame header. */
#define V3_DATA_MIN (TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + \
                     sizeof(struct sockaddr_ll))
#define V2_DATA_MIN (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + \
                     sizeof(struct sockaddr_ll))

static volatile uint8_t sink;

/* Read every byte of @p (for ASan) and fold them into the sink. */
static void touch(const uint8_t *p, size_t len)
{
    uint8_t x = 0;

    for (size_t k = 0; k < len; k++) {
        x ^= p[k];
    }
    sink ^= x;
}

/* A frame handed out of a region of @size bytes at @base, whose header is
 * at @hdr, with data at least @data_min after it. */
static void check_frame(const uint8_t *base, size_t size, size_t hdr,
                        size_t data_min, const struct encap_pring_frame *f)
{
    CHECK(f->data >= base + hdr + data_min);
    CHECK(f->snaplen <= size);
    CHECK((size_t)(f->data - base) <= size - f->snaplen);
    touch(f->data, f->snaplen);
    sink ^= encap_pring_wanted(f);
}

static void v3_walk(uint8_t mode, const uint8_t *data, size_t size)
{
    size_t bsize = size > sizeof(struct tpacket_block_desc)
                   ? size : sizeof(struct tpacket_block_desc);
    uint8_t *blk = calloc(1, bsize);    /* exactly: ASan sees past the end */
    struct tpacket_block_desc *bd = (void *)blk;
    struct encap_pring_cursor c;
    struct encap_pring_frame f;
    size_t steps = 0, max_steps = bsize / _Alignof(struct tpacket3_hdr) + 1;
    uint32_t status;
    int r;

    CHECK(blk);
    memcpy(blk, data, size);
    if (!(mode & 0x80)) {
        bd->hdr.bh1.block_status |= TP_STATUS_USER;
    }
    status = bd->hdr.bh1.block_status;
    if (!encap_pring_v3_begin(blk, &c)) {
        CHECK(!(status & TP_STATUS_USER));
        free(blk);
        return;
    }
    CHECK(status & TP_STATUS_USER);
    for (;;) {
        uint32_t hdr = c.off;

        r = encap_pring_v3_next(blk, bsize, &c, &f);
        if (r != 1) {
            break;
        }
        CHECK(++steps <= max_steps);
        check_frame(blk, bsize, hdr, V3_DATA_MIN, &f);
    }
    CHECK(r == 0 || r == -EBADMSG);
    CHECK(encap_pring_v3_next(blk, bsize, &c, &f) == 0);
    encap_pring_v3_release(blk);
    CHECK(!encap_pring_v3_begin(blk, &c));
    free(blk);
}

static void v2_slot(const uint8_t *data, size_t size)
{
    size_t ssize = size > sizeof(struct tpacket2_hdr)
                   ? size : sizeof(struct tpacket2_hdr);
    uint8_t *slot = calloc(1, ssize);
    struct tpacket2_hdr *h = (void *)slot;
    struct encap_pring_frame f;
    int r;

    CHECK(slot);
    memcpy(slot, data, size);
    r = encap_pring_v2_frame(slot, ssize, &f);
    CHECK(r == 1 || r == 0 || r == -EBADMSG);
    CHECK((r == 0) == !(h->tp_status & TP_STATUS_USER));
    h->tp_status |= TP_STATUS_USER;
    r = encap_pring_v2_frame(slot, ssize, &f);
    CHECK(r == 1 || r == -EBADMSG);
    if (r == 1) {
        check_frame(slot, ssize, 0, V2_DATA_MIN, &f);
    }
    encap_pring_v2_release(slot);
    CHECK(encap_pring_v2_frame(slot, ssize, &f) == 0);
    free(slot);
}

static void tx_fill(const uint8_t *data, size_t size)
{
    static const uint32_t done[] = {
        TP_STATUS_AVAILABLE, TP_STATUS_SEND_REQUEST, TP_STATUS_SENDING,
        TP_STATUS_WRONG_FORMAT,
    };
    size_t ssize, room, at, len;
    uint8_t *slot, *before;
    struct tpacket2_hdr *h;
    int r;

    if (size < 2) {
        return;
    }
    ssize = data[0] << 8 | data[1];
    ssize = ssize > TPACKET2_HDRLEN ? ssize : TPACKET2_HDRLEN;
    data += 2;
    len = size - 2;
    slot = malloc(ssize);
    before = malloc(ssize);
    CHECK(slot && before);
    h = (void *)slot;
    memset(slot, 0xa5, ssize);
    h->tp_status = TP_STATUS_AVAILABLE;
    memcpy(before, slot, ssize);
    CHECK(encap_pring_tx_free(slot));
    room = encap_pring_tx_room(ssize);
    CHECK(room <= ssize - sizeof(*h));
    at = ssize - room;          /* where the frame goes */
    r = encap_pring_tx_fill(slot, ssize, data, len);
    if (len > room) {
        CHECK(r == -EMSGSIZE);
        CHECK(memcmp(slot, before, ssize) == 0);
        CHECK(encap_pring_tx_free(slot));
    } else {
        CHECK(r == 0);
        CHECK(h->tp_status == TP_STATUS_SEND_REQUEST);
        CHECK(!encap_pring_tx_free(slot));
        /* The kernel's read of the slot: tp_len bytes at the data. */
        CHECK(h->tp_len == len);
        CHECK(memcmp(slot + at, data, len) == 0);
        CHECK(memcmp(slot + at + len, before + at + len,
                     ssize - at - len) == 0);
        h->tp_status = TP_STATUS_AVAILABLE;
        h->tp_len = ((struct tpacket2_hdr *)before)->tp_len;
        CHECK(memcmp(slot, before, at) == 0);
    }
    for (unsigned k = 0; k < sizeof(done) / sizeof(done[0]); k++) {
        h->tp_status = done[k];
        CHECK(encap_pring_tx_free(slot) ==
              (done[k] == TP_STATUS_AVAILABLE ||
               done[k] == TP_STATUS_WRONG_FORMAT));
    }
    free(before);
    free(slot);
}

static void gro_split(const uint8_t *data, size_t size)
{
    size_t seg, cap, total, pos = 0, next = 0, taken = 0, dropped = 0;
    size_t steps = 0, frames, drops = 0;
    struct encap_gro_slice s;
    uint8_t *dg, *out;

    if (size < 4) {
        return;
    }
    seg = data[0] << 8 | data[1];
    cap = data[2] << 8 | data[3];
    data += 4;
    total = size - 4;
    dg = malloc(total ? total : 1);
    out = malloc(total ? total : 1);
    CHECK(dg && out);
    memcpy(dg, data, total);
    for (;;) {
        int r = encap_gro_next(total, seg, &pos, ENCAP_TRANSPORT_MAX_FRAME,
                               cap, &s);

        CHECK(++steps <= (seg ? total / seg + 1 : 1));
        CHECK(s.off == next);
        CHECK(s.off <= total && s.len <= total - s.off);
        if (seg) {
            CHECK(s.len == seg || (s.last && s.len == total - s.off));
        }
        touch(dg + s.off, s.len);
        memcpy(out + s.off, dg + s.off, s.len);
        if (r == 1) {
            CHECK(s.len <= ENCAP_TRANSPORT_MAX_FRAME && s.len <= cap);
            taken += s.len;
        } else {
            CHECK(r == -EMSGSIZE);
            CHECK(seg == 0 || s.len > ENCAP_TRANSPORT_MAX_FRAME ||
                  s.len > cap);
            dropped += s.len;
            drops++;
        }
        next = s.off + s.len;
        if (s.last) {
            CHECK(pos == 0);
            break;
        }
        CHECK(s.len > 0 && pos == next);
    }
    if (seg == 0) {
        CHECK(steps == 1 && drops == 1 && taken == 0 && dropped == 0);
    } else {
        frames = total ? (total + seg - 1) / seg : 1;
        CHECK(steps == frames && next == total);
        CHECK(taken + dropped == total);
        CHECK(memcmp(out, dg, total) == 0);
    }
    free(out);
    free(dg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    switch (data[0] & 3) {
    case 0:
        v3_walk(data[0], data + 1, size - 1);
        break;
    case 1:
        v2_slot(data + 1, size - 1);
        break;
    case 2:
        tx_fill(data + 1, size - 1);
        break;
    default:
        gro_split(data + 1, size - 1);
        break;
    }
    return 0;
}
