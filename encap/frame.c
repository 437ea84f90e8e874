/* SPDX-License-Identifier: MIT */
/* encap: building and parsing the Ethernet frames that carry TLPs. */
#include <string.h>

#include "encap/frame.h"
#include "frame-int.h"
#include "wire.h"

/* Offsets of the vrc header fields within the frame. */
enum {
    OFF_ETHERTYPE = 12,
    OFF_VERSION = ENCAP_ETH_HLEN + 0,
    OFF_TYPE = ENCAP_ETH_HLEN + 1,
    OFF_FLAGS = ENCAP_ETH_HLEN + 2,
    OFF_RC_ID = ENCAP_ETH_HLEN + 4,
    OFF_SESSION = ENCAP_ETH_HLEN + 6,
    OFF_EPOCH = ENCAP_ETH_HLEN + 8,
    OFF_SEQ = ENCAP_ETH_HLEN + 12,
    OFF_ACK = ENCAP_ETH_HLEN + 16,
    OFF_PAYLOAD_LEN = ENCAP_ETH_HLEN + 20,
    OFF_COUNT = ENCAP_ETH_HLEN + 22,
    OFF_RESERVED = ENCAP_ETH_HLEN + 23,
    OFF_PAYLOAD = ENCAP_ETH_HLEN + ENCAP_HDR_LEN,
};

#define REC_MIN  12
#define REC_MAX  ENCAP_TLP_MAX_SIZE

int encap_frame_begin(struct encap_frame_builder *b, uint8_t *buf,
                      size_t size, const struct encap_frame_hdr *hdr)
{
    if (size < ENCAP_FRAME_OVERHEAD) {
        return -ENCAP_E_NOSPACE;
    }
    b->hdr = *hdr;
    b->buf = buf;
    b->cap = size - ENCAP_CRC_LEN;
    b->len = OFF_PAYLOAD;
    b->count = 0;
    return 0;
}

size_t encap_frame_room(const struct encap_frame_builder *b)
{
    size_t left = b->cap - b->len;

    if (b->count >= ENCAP_MAX_RECORDS || left <= ENCAP_REC_HLEN) {
        return 0;
    }
    return left - ENCAP_REC_HLEN;
}

static uint8_t *rec_start(struct encap_frame_builder *b, size_t tlp_len)
{
    uint8_t *p;

    if (tlp_len > encap_frame_room(b)) {
        return NULL;
    }
    p = b->buf + b->len;
    wire_put16(p, tlp_len);
    wire_put16(p + 2, 0);
    return p + ENCAP_REC_HLEN;
}

static void rec_commit(struct encap_frame_builder *b, size_t tlp_len)
{
    b->len += ENCAP_REC_HLEN + tlp_len;
    b->count++;
}

int encap_frame_add_tlp(struct encap_frame_builder *b,
                        const struct encap_tlp *t,
                        const struct encap_tlp_limits *lim)
{
    size_t need = encap_tlp_size(t);
    uint8_t *p = rec_start(b, need);
    int n;

    if (!p) {
        return -ENCAP_E_NOSPACE;
    }
    n = encap_tlp_encode(t, lim, p, need);
    if (n < 0) {
        return n;
    }
    rec_commit(b, n);
    return 0;
}

int encap_frame_add_raw(struct encap_frame_builder *b,
                        const uint8_t *tlp, size_t len)
{
    uint8_t *p;

    if (len < REC_MIN || len > REC_MAX || len % 4) {
        return -ENCAP_E_RECORD;
    }
    p = rec_start(b, len);
    if (!p) {
        return -ENCAP_E_NOSPACE;
    }
    memcpy(p, tlp, len);
    rec_commit(b, len);
    return 0;
}

int encap_frame_add_payload(struct encap_frame_builder *b,
                            const uint8_t *p, size_t len)
{
    if (len > b->cap - b->len) {
        return -ENCAP_E_NOSPACE;
    }
    memcpy(b->buf + b->len, p, len);
    b->len += len;
    return 0;
}

static void put_crc(uint8_t *frame, size_t body_len)
{
    wire_put32(frame + body_len, encap_crc32c(0, frame, body_len));
}

int encap_frame_finish(struct encap_frame_builder *b)
{
    const struct encap_frame_hdr *h = &b->hdr;
    uint8_t *p = b->buf;

    memcpy(p, h->dst, 6);
    memcpy(p + 6, h->src, 6);
    wire_put16(p + OFF_ETHERTYPE, ENCAP_ETHERTYPE);
    p[OFF_VERSION] = ENCAP_VERSION;
    p[OFF_TYPE] = h->type;
    wire_put16(p + OFF_FLAGS, h->flags);
    wire_put16(p + OFF_RC_ID, h->rc_id);
    wire_put16(p + OFF_SESSION, h->session);
    wire_put32(p + OFF_EPOCH, h->epoch);
    wire_put32(p + OFF_SEQ, h->seq);
    wire_put32(p + OFF_ACK, h->ack);
    wire_put16(p + OFF_PAYLOAD_LEN, b->len - OFF_PAYLOAD);
    p[OFF_COUNT] = b->count;
    p[OFF_RESERVED] = 0;
    put_crc(p, b->len);
    return b->len + ENCAP_CRC_LEN;
}

int encap_frame_restamp(uint8_t *frame, size_t len, uint32_t ack,
                        uint16_t flags)
{
    size_t body;

    if (len < ENCAP_FRAME_OVERHEAD) {
        return -ENCAP_E_SHORT;
    }
    body = OFF_PAYLOAD + wire_get16(frame + OFF_PAYLOAD_LEN);
    if (body + ENCAP_CRC_LEN > len) {
        return -ENCAP_E_LENGTH;
    }
    wire_put16(frame + OFF_FLAGS,
               wire_get16(frame + OFF_FLAGS) | ENCAP_F_ACK | flags);
    wire_put32(frame + OFF_ACK, ack);
    put_crc(frame, body);
    return 0;
}

/* Walk the records of a DATA payload; 0 if they fill it exactly. */
static int check_records(const uint8_t *p, size_t len, unsigned count)
{
    const uint8_t *end = p + len;

    if (count == 0) {
        return -ENCAP_E_RECORD;
    }
    for (unsigned i = 0; i < count; i++) {
        size_t rl;

        if ((size_t)(end - p) < ENCAP_REC_HLEN) {
            return -ENCAP_E_RECORD;
        }
        rl = wire_get16(p);
        if (rl < REC_MIN || rl > REC_MAX || rl % 4 ||
            rl > (size_t)(end - p) - ENCAP_REC_HLEN) {
            return -ENCAP_E_RECORD;
        }
        p += ENCAP_REC_HLEN + rl;
    }
    return p == end ? 0 : -ENCAP_E_RECORD;
}

int encap_frame_parse(const uint8_t *buf, size_t len,
                      struct encap_frame_view *v)
{
    return frame_parse(buf, len, v, true);
}

int frame_parse(const uint8_t *buf, size_t len, struct encap_frame_view *v,
                bool check_crc)
{
    struct encap_frame_hdr *h = &v->hdr;
    size_t plen;

    if (len < ENCAP_FRAME_OVERHEAD) {
        return -ENCAP_E_SHORT;
    }
    if (wire_get16(buf + OFF_ETHERTYPE) != ENCAP_ETHERTYPE) {
        return -ENCAP_E_ETHERTYPE;
    }
    if (buf[OFF_VERSION] != ENCAP_VERSION) {
        return -ENCAP_E_VERSION;
    }
    plen = wire_get16(buf + OFF_PAYLOAD_LEN);
    if (OFF_PAYLOAD + plen + ENCAP_CRC_LEN > len) {
        return -ENCAP_E_LENGTH;
    }
    if (check_crc && wire_get32(buf + OFF_PAYLOAD + plen) !=
                     encap_crc32c(0, buf, OFF_PAYLOAD + plen)) {
        return -ENCAP_E_CRC;
    }

    memset(v, 0, sizeof(*v));
    memcpy(h->dst, buf, 6);
    memcpy(h->src, buf + 6, 6);
    h->type = buf[OFF_TYPE];
    h->flags = wire_get16(buf + OFF_FLAGS);
    h->rc_id = wire_get16(buf + OFF_RC_ID);
    h->session = wire_get16(buf + OFF_SESSION);
    h->epoch = wire_get32(buf + OFF_EPOCH);
    h->seq = wire_get32(buf + OFF_SEQ);
    h->ack = wire_get32(buf + OFF_ACK);
    v->count = buf[OFF_COUNT];
    v->payload = buf + OFF_PAYLOAD;
    v->payload_len = plen;

    switch (h->type) {
    case ENCAP_FRAME_DATA:
        return check_records(v->payload, plen, v->count);
    case ENCAP_FRAME_CTRL:
        return plen >= ENCAP_CTRL_LEN && v->count == 0 ? 0 : -ENCAP_E_LENGTH;
    case ENCAP_FRAME_DISC:
        /* the DISC payload is checked by encap_disc_decode */
        return v->count == 0 ? 0 : -ENCAP_E_LENGTH;
    default:
        return -ENCAP_E_FRAME_TYPE;
    }
}

void encap_frame_records(const struct encap_frame_view *v,
                         struct encap_rec_iter *it)
{
    it->p = v->payload;
    it->end = v->hdr.type == ENCAP_FRAME_DATA ? v->payload + v->payload_len
                                              : v->payload;
}

int encap_frame_next_tlp(struct encap_rec_iter *it, const uint8_t **tlp,
                         size_t *len)
{
    size_t rl;

    /* The view was checked by encap_frame_parse: records fill it exactly. */
    if (it->p >= it->end) {
        return 0;
    }
    rl = wire_get16(it->p);
    *tlp = it->p + ENCAP_REC_HLEN;
    *len = rl;
    it->p += ENCAP_REC_HLEN + rl;
    return 1;
}

int encap_ctrl_encode(const struct encap_ctrl *c, uint8_t *buf, size_t size)
{
    if (size < ENCAP_CTRL_LEN) {
        return -ENCAP_E_NOSPACE;
    }
    buf[0] = c->op;
    buf[1] = 0;
    wire_put16(buf + 2, c->max_frame);
    wire_put16(buf + 4, c->mps);
    wire_put16(buf + 6, c->mrrs);
    wire_put32(buf + 8, c->features);
    wire_put32(buf + 12, c->cookie);
    return ENCAP_CTRL_LEN;
}

int encap_ctrl_decode(const uint8_t *buf, size_t len, struct encap_ctrl *c)
{
    if (len < ENCAP_CTRL_LEN) {
        return -ENCAP_E_SHORT;
    }
    if (buf[0] < ENCAP_CTRL_HELLO || buf[0] > ENCAP_CTRL_PONG) {
        return -ENCAP_E_FIELD;
    }
    memset(c, 0, sizeof(*c));
    c->op = buf[0];
    c->max_frame = wire_get16(buf + 2);
    c->mps = wire_get16(buf + 4);
    c->mrrs = wire_get16(buf + 6);
    c->features = wire_get32(buf + 8);
    c->cookie = wire_get32(buf + 12);
    return 0;
}
