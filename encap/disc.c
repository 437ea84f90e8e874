/* SPDX-License-Identifier: MIT */
/* encap: the DISC payload (discovery and assignment), DISC version 2. */
#include <string.h>

#include <nettle/base64.h>

#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/seal.h"
#include "wire.h"

/* Where the signed part of a frame ends: the MAC is at this offset. */
#define D_FRAME_PAYLOAD (ENCAP_ETH_HLEN + ENCAP_HDR_LEN)
#define D_TIME          ENCAP_DISC_LEN
#define D_MAC           (ENCAP_DISC_LEN + 8)
#define D_SIGNED_LEN    (D_FRAME_PAYLOAD + D_MAC)   /* frame bytes 0..117 */

static const uint8_t psk_salt[] = "vrc psk v2";     /* as seal.c */
static const uint8_t disc_info[] = "vrc disc";

enum {
    D_OP = 0, D_VERSION = 1, D_RC_ID = 2, D_OWNER = 4, D_BDF = 10,
    D_VENDOR = 12, D_DEVICE = 14, D_CLASS = 16, D_STATE = 20, D_FLAGS = 24,
    D_FN = 26, D_FNS = 27, D_SSVID = 28, D_SSID = 30, D_GEN = 32, D_XID = 40,
    D_INTERVAL = 44, D_ACKED = 46, D_STATUS = 47, D_SERIAL = 48, D_BARS = 56,
    D_TAGLEN = 68, D_RESERVED = 70,
};

int encap_disc_encode(const struct encap_disc *d, uint8_t *buf, size_t size)
{
    if (size < ENCAP_DISC_LEN) {
        return -ENCAP_E_NOSPACE;
    }
    memset(buf, 0, ENCAP_DISC_LEN);
    buf[D_OP] = d->op;
    buf[D_VERSION] = ENCAP_DISC_VERSION;
    wire_put16(buf + D_RC_ID, d->rc_id);
    memcpy(buf + D_OWNER, d->owner_mac, 6);
    wire_put16(buf + D_BDF, d->bdf);
    wire_put16(buf + D_VENDOR, d->vendor_id);
    wire_put16(buf + D_DEVICE, d->device_id);
    wire_put32(buf + D_CLASS, d->class_rev);
    wire_put32(buf + D_STATE, d->state);
    wire_put16(buf + D_FLAGS, d->flags);
    buf[D_FN] = d->function;
    buf[D_FNS] = d->functions;
    wire_put16(buf + D_SSVID, d->subsys_vendor);
    wire_put16(buf + D_SSID, d->subsys_id);
    wire_put64(buf + D_GEN, d->generation);
    wire_put32(buf + D_XID, d->xid);
    wire_put16(buf + D_INTERVAL, d->interval_ms);
    buf[D_ACKED] = d->acked_op;
    buf[D_STATUS] = d->status;
    wire_put64(buf + D_SERIAL, d->serial);
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        buf[D_BARS + 2 * i] = d->bars[i].log2_size;
        buf[D_BARS + 2 * i + 1] = d->bars[i].flags;
    }
    wire_put16(buf + D_TAGLEN, d->tag_len);
    return ENCAP_DISC_LEN;
}

static bool mac_is_zero(const uint8_t m[6])
{
    static const uint8_t zero[6];

    return memcmp(m, zero, 6) == 0;
}

static int check_bars(const struct encap_disc_bar *bars)
{
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        const struct encap_disc_bar *b = &bars[i];

        if (b->flags & ~(ENCAP_DISC_BAR_IO | ENCAP_DISC_BAR_64 |
                         ENCAP_DISC_BAR_PREFETCH)) {
            return -ENCAP_E_DISC_BAR;
        }
        if (b->log2_size == 0) {
            if (b->flags) {
                return -ENCAP_E_DISC_BAR;
            }
            continue;
        }
        if (b->log2_size < 4 || b->log2_size > 63) {
            return -ENCAP_E_DISC_BAR;
        }
        if (b->flags & ENCAP_DISC_BAR_64) {
            if ((b->flags & ENCAP_DISC_BAR_IO) || i == ENCAP_DISC_BARS - 1 ||
                bars[i + 1].log2_size || bars[i + 1].flags) {
                return -ENCAP_E_DISC_BAR;
            }
            i++;    /* the upper half, checked to be empty */
        }
    }
    return 0;
}

static void disc_mac(const struct encap_disc_key *key, const uint8_t *frame,
                     uint8_t mac[ENCAP_DISC_MAC_LEN])
{
    uint8_t full[ENCAP_SHA256_LEN];

    encap_hmac_sha256(key->k, sizeof(key->k), frame, D_SIGNED_LEN, full);
    memcpy(mac, full, ENCAP_DISC_MAC_LEN);
}

/*
 * The tag rules of docs/protocol.md 5.4.  @frame is the whole frame the
 * payload @buf is in, NULL for a bare payload (no key can be checked).
 */
static int check_auth(const uint8_t *buf, struct encap_disc *d,
                      const struct encap_disc_key *key, const uint8_t *frame,
                      uint64_t now_us)
{
    bool signed_ = d->flags & ENCAP_DISC_F_AUTH;
    uint8_t mac[ENCAP_DISC_MAC_LEN];

    if (signed_ ? d->tag_len != ENCAP_DISC_TAG_LEN : d->tag_len != 0) {
        return -ENCAP_E_DISC_AUTH;
    }
    if (!signed_) {
        return key ? -ENCAP_E_KEY : 0;
    }
    if (!key || !frame) {
        return -ENCAP_E_KEY;
    }
    disc_mac(key, frame, mac);
    if (!encap_ct_equal(mac, buf + D_MAC, ENCAP_DISC_MAC_LEN)) {
        return -ENCAP_E_AUTH;
    }
    d->time_us = wire_get64(buf + D_TIME);
    if (d->time_us > now_us + ENCAP_DISC_WINDOW_US ||
        d->time_us + ENCAP_DISC_WINDOW_US < now_us) {
        return -ENCAP_E_REPLAY;
    }
    return 0;
}

static int disc_decode(const uint8_t *buf, size_t len, struct encap_disc *d,
                       const struct encap_disc_key *key, const uint8_t *frame,
                       uint64_t now_us)
{
    int rc;

    if (len < ENCAP_DISC_LEN) {
        return -ENCAP_E_SHORT;
    }
    memset(d, 0, sizeof(*d));
    d->op = buf[D_OP];
    d->rc_id = wire_get16(buf + D_RC_ID);
    memcpy(d->owner_mac, buf + D_OWNER, 6);
    d->bdf = wire_get16(buf + D_BDF);
    d->vendor_id = wire_get16(buf + D_VENDOR);
    d->device_id = wire_get16(buf + D_DEVICE);
    d->class_rev = wire_get32(buf + D_CLASS);
    d->state = wire_get32(buf + D_STATE);
    d->flags = wire_get16(buf + D_FLAGS);
    d->function = buf[D_FN];
    d->functions = buf[D_FNS];
    d->subsys_vendor = wire_get16(buf + D_SSVID);
    d->subsys_id = wire_get16(buf + D_SSID);
    d->generation = wire_get64(buf + D_GEN);
    d->xid = wire_get32(buf + D_XID);
    d->interval_ms = wire_get16(buf + D_INTERVAL);
    d->acked_op = buf[D_ACKED];
    d->status = buf[D_STATUS];
    d->serial = wire_get64(buf + D_SERIAL);
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        d->bars[i].log2_size = buf[D_BARS + 2 * i];
        d->bars[i].flags = buf[D_BARS + 2 * i + 1];
    }
    d->tag_len = wire_get16(buf + D_TAGLEN);

    /* The checks, in the order docs/protocol.md lists them. */
    if (len != (size_t)ENCAP_DISC_LEN + d->tag_len) {
        return -ENCAP_E_LENGTH;
    }
    if (buf[D_VERSION] != ENCAP_DISC_VERSION) {
        return -ENCAP_E_VERSION;
    }
    if (d->op < ENCAP_DISC_SOLICIT || d->op > ENCAP_DISC_ACK) {
        return -ENCAP_E_DISC_OP;
    }
    rc = check_auth(buf, d, key, frame, now_us);
    if (rc < 0) {
        return rc;
    }
    switch (d->op) {
    case ENCAP_DISC_ANNOUNCE:
        if (d->functions == 0 || d->function >= d->functions) {
            return -ENCAP_E_DISC_FN;
        }
        if (d->interval_ms < ENCAP_DISC_INTERVAL_MIN ||
            d->interval_ms > ENCAP_DISC_INTERVAL_MAX) {
            return -ENCAP_E_DISC_INTERVAL;
        }
        if (check_bars(d->bars) < 0) {
            return -ENCAP_E_DISC_BAR;
        }
        break;
    case ENCAP_DISC_ASSIGN:
        if (d->rc_id == 0 || mac_is_zero(d->owner_mac) ||
            (d->owner_mac[0] & 1)) {
            return -ENCAP_E_DISC_OWNER;
        }
        /* fall through */
    case ENCAP_DISC_RELEASE:
        if (d->generation == 0) {
            return -ENCAP_E_DISC_GEN;
        }
        break;
    case ENCAP_DISC_ACK:
        if ((d->acked_op != ENCAP_DISC_ASSIGN &&
             d->acked_op != ENCAP_DISC_RELEASE) ||
            d->status > ENCAP_DISC_REFUSED) {
            return -ENCAP_E_FIELD;
        }
        break;
    }
    if (d->state > ENCAP_DISC_ASSIGNED) {
        return -ENCAP_E_FIELD;
    }
    return 0;
}

int encap_disc_decode(const uint8_t *buf, size_t len, struct encap_disc *d)
{
    return disc_decode(buf, len, d, NULL, NULL, 0);
}

int encap_disc_key_init(struct encap_disc_key *key, const uint8_t *psk,
                        size_t psk_len)
{
    uint8_t prk[ENCAP_SHA256_LEN];

    if (psk_len < ENCAP_PSK_MIN || psk_len > ENCAP_PSK_MAX) {
        return -ENCAP_E_FIELD;
    }
    encap_hkdf_extract(psk_salt, sizeof(psk_salt) - 1, psk, psk_len, prk);
    encap_hkdf_expand(prk, disc_info, sizeof(disc_info) - 1, key->k,
                      sizeof(key->k));
    encap_wipe(prk, sizeof(prk));
    return 0;
}

void encap_disc_key_wipe(struct encap_disc_key *key)
{
    encap_wipe(key, sizeof(*key));
}

int encap_disc_frame_signed(const uint8_t dst[6], const uint8_t src[6],
                            bool from_endpoint, const struct encap_disc *d,
                            const struct encap_disc_key *key, uint64_t now_us,
                            uint8_t *buf, size_t size)
{
    struct encap_frame_hdr h = { .type = ENCAP_FRAME_DISC };
    struct encap_frame_builder b;
    uint8_t p[ENCAP_DISC_LEN + ENCAP_DISC_TAG_LEN] = { 0 };
    size_t plen = ENCAP_DISC_LEN;
    struct encap_disc s = *d;
    int rc;

    memcpy(h.dst, dst, 6);
    memcpy(h.src, src, 6);
    h.flags = from_endpoint ? ENCAP_F_RESP : 0;
    if (key) {
        s.flags |= ENCAP_DISC_F_AUTH;
        s.tag_len = ENCAP_DISC_TAG_LEN;
        plen += ENCAP_DISC_TAG_LEN;
    }
    encap_disc_encode(&s, p, sizeof(p));
    if (key) {
        wire_put64(p + D_TIME, now_us);
    }
    rc = encap_frame_begin(&b, buf, size, &h);
    if (rc == 0) {
        rc = encap_frame_add_payload(&b, p, plen);
    }
    if (rc < 0) {
        return rc;
    }
    rc = encap_frame_finish(&b);
    if (key) {
        /* The MAC covers the headers finish() wrote; finish() again for
         * the CRC over the MAC. */
        disc_mac(key, buf, buf + D_FRAME_PAYLOAD + D_MAC);
        rc = encap_frame_finish(&b);
    }
    return rc;
}

int encap_disc_frame(const uint8_t dst[6], const uint8_t src[6],
                     bool from_endpoint, const struct encap_disc *d,
                     uint8_t *buf, size_t size)
{
    return encap_disc_frame_signed(dst, src, from_endpoint, d, NULL, 0, buf,
                                   size);
}

int encap_disc_parse_frame_keyed(const uint8_t *buf, size_t len,
                                 const struct encap_disc_key *key,
                                 uint64_t now_us, uint8_t src[6],
                                 struct encap_disc *d)
{
    struct encap_frame_view v;
    int rc = encap_frame_parse(buf, len, &v);

    if (rc < 0) {
        return rc;
    }
    if (v.hdr.type != ENCAP_FRAME_DISC) {
        return 1;
    }
    memcpy(src, v.hdr.src, 6);
    return disc_decode(v.payload, v.payload_len, d, key, buf, now_us);
}

int encap_disc_parse_frame(const uint8_t *buf, size_t len, uint8_t src[6],
                           struct encap_disc *d)
{
    return encap_disc_parse_frame_keyed(buf, len, NULL, 0, src, d);
}

int encap_psk_from_base64(const char *text, size_t len, uint8_t *psk,
                          size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    struct base64_decode_ctx ctx;
    uint8_t out[BASE64_DECODE_LENGTH(512)];
    char clean[512];
    size_t n = 0, got = sizeof(out);
    int rc = -ENCAP_E_FIELD;

    /* QEMU's rule: the alphabet and newlines, nothing else. */
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            continue;
        }
        if (!text[i] || !strchr(alphabet, text[i])) {
            return -ENCAP_E_FIELD;
        }
        if (n == sizeof(clean)) {
            return -ENCAP_E_LENGTH;
        }
        clean[n++] = text[i];
    }
    if (n == 0 || n % 4) {
        return -ENCAP_E_FIELD;
    }
    base64_decode_init(&ctx);
    if (base64_decode_update(&ctx, &got, out, n, clean) &&
        base64_decode_final(&ctx)) {
        rc = got < ENCAP_PSK_MIN || got > ENCAP_PSK_MAX || got > cap
             ? -ENCAP_E_LENGTH : (int)got;
    }
    if (rc > 0) {
        memcpy(psk, out, got);
    }
    encap_wipe(out, sizeof(out));
    encap_wipe(clean, sizeof(clean));
    return rc;
}

static bool same_owner(const struct encap_disc_owner *o,
                       const struct encap_disc *req)
{
    return o->rc_id == req->rc_id && o->bdf == req->bdf &&
           memcmp(o->mac, req->owner_mac, 6) == 0;
}

enum encap_disc_verdict encap_disc_apply(struct encap_disc_owner *o,
                                         const struct encap_disc *req,
                                         struct encap_disc *ack,
                                         bool *end_session)
{
    bool assign = req->op == ENCAP_DISC_ASSIGN;
    enum encap_disc_verdict v;

    *end_session = false;
    if (req->generation > o->generation) {
        /* New: a session of the previous owner ends unless it stays. */
        *end_session = o->assigned && !(assign && same_owner(o, req));
        o->generation = req->generation;
        o->assigned = assign;
        o->rc_id = assign ? req->rc_id : 0;
        o->bdf = assign ? req->bdf : 0;
        if (assign) {
            memcpy(o->mac, req->owner_mac, 6);
        } else {
            memset(o->mac, 0, 6);
        }
        v = ENCAP_DISC_APPLIED;
    } else if (req->generation == o->generation && o->assigned == assign &&
               (!assign || same_owner(o, req))) {
        v = ENCAP_DISC_REPEATED;
    } else {
        v = ENCAP_DISC_REFUSED_STALE;
    }
    memset(ack, 0, sizeof(*ack));
    ack->op = ENCAP_DISC_ACK;
    ack->acked_op = req->op;
    ack->xid = req->xid;
    ack->function = req->function;
    ack->status = v == ENCAP_DISC_REFUSED_STALE ? ENCAP_DISC_STALE : ENCAP_DISC_OK;
    ack->generation = o->generation;
    ack->state = o->assigned ? ENCAP_DISC_ASSIGNED : ENCAP_DISC_FREE;
    if (o->assigned) {
        ack->rc_id = o->rc_id;
        memcpy(ack->owner_mac, o->mac, 6);
        ack->bdf = o->bdf;
    }
    return v;
}

bool encap_disc_hello_allowed(const struct encap_disc_owner *o,
                              const uint8_t mac[6], uint16_t rc_id)
{
    if (o->generation == 0) {
        return true;
    }
    return o->assigned && o->rc_id == rc_id && memcmp(o->mac, mac, 6) == 0;
}

void encap_disc_count(struct encap_disc_stats *s, int rc)
{
    if (rc == 0) {
        s->rx++;
    } else if (rc < 0 && -rc < ENCAP_E__COUNT) {
        s->drops[-rc]++;
    }
}

const char *encap_disc_op_name(unsigned op)
{
    static const char *const names[] = {
        [ENCAP_DISC_SOLICIT] = "SOLICIT", [ENCAP_DISC_ANNOUNCE] = "ANNOUNCE",
        [ENCAP_DISC_ASSIGN] = "ASSIGN", [ENCAP_DISC_RELEASE] = "RELEASE",
        [ENCAP_DISC_ACK] = "ACK",
    };

    return op < sizeof(names) / sizeof(names[0]) && names[op] ? names[op] : "?";
}
