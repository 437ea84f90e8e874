/* SPDX-License-Identifier: MIT */
/* encap: keyed sessions: key schedule, HELLO proofs, sealing, replay. */
#include <string.h>

#include "encap/seal.h"
#include "frame-int.h"
#include "wire.h"

enum {
    OFF_ETHERTYPE = 12,
    OFF_VERSION = ENCAP_ETH_HLEN + 0,
    OFF_TYPE = ENCAP_ETH_HLEN + 1,
    OFF_FLAGS = ENCAP_ETH_HLEN + 2,
    OFF_EPOCH = ENCAP_ETH_HLEN + 8,
    OFF_PAYLOAD_LEN = ENCAP_ETH_HLEN + 20,
    OFF_PAYLOAD = ENCAP_ETH_HLEN + ENCAP_HDR_LEN,
    OFF_HELLO_MAC = OFF_PAYLOAD + ENCAP_CTRL_LEN + ENCAP_NONCE_LEN,
};

static const uint8_t psk_salt[] = "vrc psk v2";         /* 10 bytes used */
static const uint8_t hello_info[] = "vrc hello";        /* 9 */
static const uint8_t session_info[] = "vrc session";    /* 11 */

void encap_hello_key(const uint8_t *psk, size_t psk_len,
                     uint8_t key[ENCAP_SHA256_LEN])
{
    uint8_t prk[ENCAP_SHA256_LEN];

    encap_hkdf_extract(psk_salt, sizeof(psk_salt) - 1, psk, psk_len, prk);
    encap_hkdf_expand(prk, hello_info, sizeof(hello_info) - 1, key,
                      ENCAP_SHA256_LEN);
    encap_wipe(prk, sizeof(prk));
}

void encap_session_keys(const uint8_t *psk, size_t psk_len,
                        const uint8_t ni[ENCAP_NONCE_LEN],
                        const uint8_t nr[ENCAP_NONCE_LEN],
                        const struct encap_session_ctx *ctx,
                        struct encap_session_keys *k)
{
    uint8_t salt[2 * ENCAP_NONCE_LEN], prk[ENCAP_SHA256_LEN];
    uint8_t info[sizeof(session_info) - 1 + 20];
    uint8_t okm[2 * ENCAP_AEAD_KEY_LEN + ENCAP_SHA256_LEN];
    uint8_t *p = info + sizeof(session_info) - 1;

    memcpy(salt, ni, ENCAP_NONCE_LEN);
    memcpy(salt + ENCAP_NONCE_LEN, nr, ENCAP_NONCE_LEN);
    encap_hkdf_extract(salt, sizeof(salt), psk, psk_len, prk);
    memcpy(info, session_info, sizeof(session_info) - 1);
    wire_put16(p, ctx->rc_id);
    wire_put16(p + 2, ctx->session);
    wire_put32(p + 4, ctx->epoch);
    memcpy(p + 8, ctx->initiator_mac, 6);
    memcpy(p + 14, ctx->responder_mac, 6);
    encap_hkdf_expand(prk, info, sizeof(info), okm, sizeof(okm));
    memcpy(k->i2r, okm, ENCAP_AEAD_KEY_LEN);
    memcpy(k->r2i, okm + ENCAP_AEAD_KEY_LEN, ENCAP_AEAD_KEY_LEN);
    memcpy(k->ack, okm + 2 * ENCAP_AEAD_KEY_LEN, ENCAP_SHA256_LEN);
    encap_wipe(prk, sizeof(prk));
    encap_wipe(okm, sizeof(okm));
}

static size_t payload_len(const uint8_t *f)
{
    return wire_get16(f + OFF_PAYLOAD_LEN);
}

static void put_crc(uint8_t *f, size_t body)
{
    wire_put32(f + body, encap_crc32c(0, f, body));
}

int encap_frame_check_keyed(const uint8_t *in, size_t len)
{
    size_t body;

    if (len < ENCAP_FRAME_OVERHEAD) {
        return -ENCAP_E_SHORT;
    }
    if (wire_get16(in + OFF_ETHERTYPE) != ENCAP_ETHERTYPE) {
        return -ENCAP_E_ETHERTYPE;
    }
    if (in[OFF_VERSION] != ENCAP_VERSION_KEYED) {
        return -ENCAP_E_VERSION;
    }
    body = OFF_PAYLOAD + payload_len(in);
    if (body + ENCAP_CRC_LEN > len) {
        return -ENCAP_E_LENGTH;
    }
    if (wire_get32(in + body) != encap_crc32c(0, in, body)) {
        return -ENCAP_E_CRC;
    }
    return 0;
}

/* HMAC over (@ni,) the frame up to the MAC field, truncated. */
static void hello_mac(const uint8_t *frame, const uint8_t *key,
                      const uint8_t *ni, uint8_t mac[ENCAP_HELLO_MAC_LEN])
{
    uint8_t msg[ENCAP_NONCE_LEN + OFF_HELLO_MAC], full[ENCAP_SHA256_LEN];
    size_t n = 0;

    if (ni) {
        memcpy(msg, ni, ENCAP_NONCE_LEN);
        n = ENCAP_NONCE_LEN;
    }
    memcpy(msg + n, frame, OFF_HELLO_MAC);
    encap_hmac_sha256(key, ENCAP_SHA256_LEN, msg, n + OFF_HELLO_MAC, full);
    memcpy(mac, full, ENCAP_HELLO_MAC_LEN);
}

static bool hello_shape_ok(const uint8_t *f, size_t len)
{
    return len >= OFF_PAYLOAD + ENCAP_HELLO_KEYED_LEN + ENCAP_CRC_LEN &&
           payload_len(f) == ENCAP_HELLO_KEYED_LEN &&
           f[OFF_TYPE] == ENCAP_FRAME_CTRL &&
           !(wire_get16(f + OFF_FLAGS) & ENCAP_F_SEALED);
}

int encap_hello_sign(uint8_t *frame, size_t len, const uint8_t *key,
                     const uint8_t *ni)
{
    if (!hello_shape_ok(frame, len)) {
        return -ENCAP_E_LENGTH;
    }
    frame[OFF_VERSION] = ENCAP_VERSION_KEYED;
    hello_mac(frame, key, ni, frame + OFF_HELLO_MAC);
    put_crc(frame, OFF_PAYLOAD + ENCAP_HELLO_KEYED_LEN);
    return 0;
}

int encap_hello_verify(const uint8_t *frame, size_t len, const uint8_t *key,
                       const uint8_t *ni)
{
    uint8_t mac[ENCAP_HELLO_MAC_LEN];
    int r = encap_frame_check_keyed(frame, len);

    if (r < 0) {
        return r;
    }
    if (!hello_shape_ok(frame, len)) {
        return -ENCAP_E_AUTH;
    }
    hello_mac(frame, key, ni, mac);
    return encap_ct_equal(mac, frame + OFF_HELLO_MAC, sizeof(mac)) ? 0
                                                               : -ENCAP_E_AUTH;
}

/* Nonce: epoch (4), then direction in bit 63 | counter (8). */
static void make_nonce(uint8_t n[ENCAP_AEAD_NONCE_LEN], uint32_t epoch,
                       enum encap_dir dir, uint64_t ctr)
{
    uint64_t c = ctr | (uint64_t)dir << 63;

    wire_put32(n, epoch);
    wire_put32(n + 4, c >> 32);
    wire_put32(n + 8, c);
}

int encap_frame_seal(struct encap_aead *a, enum encap_dir dir, uint64_t ctr,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    uint8_t nonce[ENCAP_AEAD_NONCE_LEN];
    size_t plen, ad = OFF_PAYLOAD + ENCAP_SEAL_CTR_LEN;

    if (len < ENCAP_FRAME_OVERHEAD) {
        return -ENCAP_E_SHORT;
    }
    plen = payload_len(in);
    if (OFF_PAYLOAD + plen + ENCAP_CRC_LEN > len ||
        plen + ENCAP_SEAL_OVERHEAD > 0xffff) {
        return -ENCAP_E_LENGTH;
    }
    if (ctr > ENCAP_SEAL_CTR_MAX ||
        (wire_get16(in + OFF_FLAGS) & ENCAP_F_SEALED)) {
        return -ENCAP_E_FIELD;
    }
    if (ad + plen + ENCAP_AEAD_TAG_LEN + ENCAP_CRC_LEN > cap) {
        return -ENCAP_E_NOSPACE;
    }
    memcpy(out, in, OFF_PAYLOAD);
    out[OFF_VERSION] = ENCAP_VERSION_KEYED;
    wire_put16(out + OFF_FLAGS, wire_get16(in + OFF_FLAGS) | ENCAP_F_SEALED);
    wire_put16(out + OFF_PAYLOAD_LEN, plen + ENCAP_SEAL_OVERHEAD);
    wire_put32(out + OFF_PAYLOAD, ctr >> 32);
    wire_put32(out + OFF_PAYLOAD + 4, ctr);
    make_nonce(nonce, wire_get32(in + OFF_EPOCH), dir, ctr);
    encap_aead_seal(a, nonce, out, ad, in + OFF_PAYLOAD, plen, out + ad);
    put_crc(out, ad + plen + ENCAP_AEAD_TAG_LEN);
    return ad + plen + ENCAP_AEAD_TAG_LEN + ENCAP_CRC_LEN;
}

int encap_frame_open(struct encap_aead *a, enum encap_dir dir,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     uint64_t *ctr, struct encap_frame_view *v)
{
    uint8_t nonce[ENCAP_AEAD_NONCE_LEN];
    size_t plen, ad = OFF_PAYLOAD + ENCAP_SEAL_CTR_LEN;
    uint64_t c;
    int r = encap_frame_check_keyed(in, len);

    if (r < 0) {
        return r;
    }
    if (!(wire_get16(in + OFF_FLAGS) & ENCAP_F_SEALED)) {
        return -ENCAP_E_AUTH;
    }
    plen = payload_len(in);
    if (plen < ENCAP_SEAL_OVERHEAD) {
        return -ENCAP_E_LENGTH;
    }
    plen -= ENCAP_SEAL_OVERHEAD;
    if (OFF_PAYLOAD + plen + ENCAP_CRC_LEN > cap) {
        return -ENCAP_E_NOSPACE;
    }
    c = (uint64_t)wire_get32(in + OFF_PAYLOAD) << 32 |
        wire_get32(in + OFF_PAYLOAD + 4);
    if (c > ENCAP_SEAL_CTR_MAX) {
        return -ENCAP_E_AUTH;       /* never sealed by a peer */
    }
    make_nonce(nonce, wire_get32(in + OFF_EPOCH), dir, c);
    r = encap_aead_open(a, nonce, in, ad, in + ad, plen + ENCAP_AEAD_TAG_LEN,
                        out + OFF_PAYLOAD);
    if (r < 0) {
        return r;
    }
    memcpy(out, in, OFF_PAYLOAD);
    out[OFF_VERSION] = ENCAP_VERSION;
    wire_put16(out + OFF_FLAGS, wire_get16(in + OFF_FLAGS) & ~ENCAP_F_SEALED);
    wire_put16(out + OFF_PAYLOAD_LEN, plen);
    wire_put32(out + OFF_PAYLOAD + plen, 0);    /* no CRC: see below */
    *ctr = c;
    /* The tag covered it all: parse without a CRC of the plaintext. */
    r = frame_parse(out, OFF_PAYLOAD + plen + ENCAP_CRC_LEN, v, false);
    return r < 0 ? r : (int)(OFF_PAYLOAD + plen + ENCAP_CRC_LEN);
}

void encap_replay_reset(struct encap_replay *w)
{
    memset(w, 0, sizeof(*w));
}

static bool replay_bit(struct encap_replay *w, uint64_t c, bool set)
{
    unsigned i = c % ENCAP_REPLAY_WINDOW;
    uint64_t m = UINT64_C(1) << (i % 64);
    bool was = w->bits[i / 64] & m;

    if (set) {
        w->bits[i / 64] |= m;
    }
    return was;
}

int encap_replay_check(struct encap_replay *w, uint64_t ctr)
{
    if (!w->any || ctr > w->top) {
        uint64_t from = w->any ? w->top + 1 : 0;

        /* Forget the counters the window slides past. */
        if (!w->any || ctr - w->top >= ENCAP_REPLAY_WINDOW) {
            memset(w->bits, 0, sizeof(w->bits));
        } else {
            for (uint64_t c = from; c <= ctr; c++) {
                w->bits[(c % ENCAP_REPLAY_WINDOW) / 64] &=
                    ~(UINT64_C(1) << (c % 64));
            }
        }
        w->any = true;
        w->top = ctr;
        replay_bit(w, ctr, true);
        return 0;
    }
    if (w->top - ctr >= ENCAP_REPLAY_WINDOW || replay_bit(w, ctr, false)) {
        return -ENCAP_E_REPLAY;
    }
    replay_bit(w, ctr, true);
    return 0;
}
