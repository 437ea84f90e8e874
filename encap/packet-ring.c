/* SPDX-License-Identifier: MIT */
/* encap: walking the AF_PACKET rings of the packet transport (no syscalls). */
#include <errno.h>
#include <linux/if_packet.h>
#include <string.h>

#include "encap/frame.h"
#include "encap/packet-ring.h"

/* Where the kernel puts the sockaddr_ll after each frame header. */
#define V3_SLL_OFF  TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define V2_SLL_OFF  TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
/* Where a TX ring slot's frame starts (the kernel's default tp_mac). */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

static uint32_t load_status(const uint32_t *w)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void store_status(uint32_t *w, uint32_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
}

bool encap_pring_v3_begin(const uint8_t *blk, struct encap_pring_cursor *c)
{
    const struct tpacket_block_desc *bd = (const void *)blk;

    if (!(load_status(&bd->hdr.bh1.block_status) & TP_STATUS_USER)) {
        return false;
    }
    c->off = bd->hdr.bh1.offset_to_first_pkt;
    c->left = bd->hdr.bh1.num_pkts;
    return true;
}

/* A frame header at @off of a region of @size bytes, checked. */
static int frame_at(const uint8_t *base, size_t size, size_t off,
                    size_t sll_off, unsigned mac, uint32_t snaplen,
                    uint32_t len, struct encap_pring_frame *f)
{
    const struct sockaddr_ll *sll;

    if (off + sll_off + sizeof(*sll) > size || mac < sll_off + sizeof(*sll) ||
        off + mac + (size_t)snaplen > size) {
        return -EBADMSG;
    }
    sll = (const void *)(base + off + sll_off);
    f->data = base + off + mac;
    f->snaplen = snaplen;
    f->len = len;
    f->pkttype = sll->sll_pkttype;
    return 1;
}

int encap_pring_v3_next(const uint8_t *blk, size_t size,
                        struct encap_pring_cursor *c,
                        struct encap_pring_frame *f)
{
    const struct tpacket3_hdr *h;
    int r;

    if (c->left == 0) {
        return 0;
    }
    if ((size_t)c->off + sizeof(*h) > size ||
        c->off % _Alignof(struct tpacket3_hdr)) {
        c->left = 0;
        return -EBADMSG;
    }
    h = (const void *)(blk + c->off);
    r = frame_at(blk, size, c->off, V3_SLL_OFF, h->tp_mac, h->tp_snaplen,
                 h->tp_len, f);
    if (r < 0) {
        c->left = 0;
        return r;
    }
    c->left--;
    if (c->left && h->tp_next_offset == 0) {
        c->left = 0;            /* the kernel said more, but links no more */
        return r;
    }
    /* Links go forward only: one that wraps around 4 GiB would lead back
     * to frames already read, num_pkts times.  It points outside the
     * block; UINT32_MAX is misaligned, so the next call says so. */
    c->off = h->tp_next_offset > UINT32_MAX - c->off
             ? UINT32_MAX : c->off + h->tp_next_offset;
    return r;
}

void encap_pring_v3_release(uint8_t *blk)
{
    struct tpacket_block_desc *bd = (void *)blk;

    store_status(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL);
}

int encap_pring_v2_frame(const uint8_t *slot, size_t size,
                         struct encap_pring_frame *f)
{
    const struct tpacket2_hdr *h = (const void *)slot;

    if (!(load_status(&h->tp_status) & TP_STATUS_USER)) {
        return 0;
    }
    return frame_at(slot, size, 0, V2_SLL_OFF, h->tp_mac, h->tp_snaplen,
                    h->tp_len, f);
}

void encap_pring_v2_release(uint8_t *slot)
{
    struct tpacket2_hdr *h = (void *)slot;

    store_status(&h->tp_status, TP_STATUS_KERNEL);
}

bool encap_pring_wanted(const struct encap_pring_frame *f)
{
    if (f->pkttype != PACKET_HOST && f->pkttype != PACKET_BROADCAST &&
        f->pkttype != PACKET_MULTICAST) {
        return false;           /* PACKET_OUTGOING, PACKET_OTHERHOST */
    }
    return f->snaplen >= ENCAP_ETH_HLEN &&
           (f->data[12] << 8 | f->data[13]) == ENCAP_ETHERTYPE;
}

bool encap_pring_tx_free(const uint8_t *slot)
{
    const struct tpacket2_hdr *h = (const void *)slot;
    uint32_t s = load_status(&h->tp_status);

    return s == TP_STATUS_AVAILABLE || s == TP_STATUS_WRONG_FORMAT;
}

size_t encap_pring_tx_room(size_t size)
{
    return size > TX_DATA_OFF ? size - TX_DATA_OFF : 0;
}

int encap_pring_tx_fill(uint8_t *slot, size_t size, const uint8_t *frame,
                        size_t len)
{
    struct tpacket2_hdr *h = (void *)slot;

    if (len > encap_pring_tx_room(size)) {
        return -EMSGSIZE;
    }
    memcpy(slot + TX_DATA_OFF, frame, len);
    h->tp_len = len;
    store_status(&h->tp_status, TP_STATUS_SEND_REQUEST);
    return 0;
}
