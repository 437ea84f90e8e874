/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over everything a receiver does with bytes from the wire:
 * frame parse, record walk, TLP decode, and for what decodes, re-encode and
 * completion reassembly.  Any crash, sanitizer report, leak or broken
 * invariant (abort) is a finding.
 *
 * The first input byte picks a mode; mode 1 repairs the CRC first so that
 * the fuzzer gets past the integrity check into the record and TLP paths.
 * Keyed frames (encap/seal.h), first byte 0x80: the frame (CRC repaired)
 * is sealed and opened again, which must give it back exactly (or the
 * error parsing it gives), and any one byte of the sealed frame changed
 * must make opening fail; 0x81: the bytes (CRC repaired) are opened as a
 * sealed frame and checked as a keyed HELLO/HELLO_ACK, under a fixed key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/push.h"
#include "encap/seal.h"
#include "encap/split.h"
#include "encap/tlp.h"

static const struct encap_tlp_limits lim = { .mps = 4096 };

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

/* Little-endian loads, as memory holds a doorbell's value and pointers. */
static uint64_t ldn(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    while (n--) {
        v = v << 8 | p[n];
    }
    return v;
}

/*
 * A doorbell's HINT or PUSH (encap/push.h): what decodes re-encodes to the
 * same bytes, and a PUSH armed, made live by its doorbell and asked for
 * its own ranges serves them all; a chase in it leads to a sane range.
 */
static void one_push(const uint8_t *p, size_t len)
{
    for (int with_data = 0; with_data < 2; with_data++) {
        struct encap_push q;
        uint8_t out[ENCAP_TLP_MAX_DATA];
        int n;

        if (encap_push_decode(p, len, with_data, &q) < 0) {
            continue;
        }
        n = encap_push_encode(&q, with_data, out, sizeof(out));
        CHECK(n > 0 && (size_t)n <= len + 3);
        /* Past the ranges and data only padding may differ. */
        CHECK(memcmp(out, p, 19) == 0);
        if (with_data && q.n) {
            static struct encap_offer o;
            static struct encap_wlog w;
            static uint8_t bufs[ENCAP_PUSH_MAX_RANGES][ENCAP_PUSH_MAX_DATA];
            struct encap_ra_range r[ENCAP_PUSH_MAX_RANGES];
            uint8_t bell[8];
            struct encap_tlp t = {
                .type = ENCAP_TLP_MWR, .addr = q.key, .len_dw = q.bell_dw,
                .first_be = q.bell_be & 0xf, .last_be = q.bell_be >> 4,
                .data = bell,
            };

            memcpy(bell, q.bell, sizeof(bell));
            encap_offer_init(&o, 1000);
            encap_wlog_reset(&w);
            q.writes = 0;
            encap_offer_push(&o, &q, &w, q.reads);
            CHECK(o.state == ENCAP_OFFER_ARMED);
            encap_offer_request(&o, &t, 0);
            CHECK(o.state == ENCAP_OFFER_LIVE);
            for (unsigned i = 0; i < q.n; i++) {
                r[i] = (struct encap_ra_range) { q.r[i].addr, q.r[i].len,
                                                 bufs[i] };
            }
            CHECK(encap_offer_serve(&o, r, q.n, 0) == q.n);
            for (unsigned i = 0, off = 0; i < q.n; off += q.r[i].len, i++) {
                CHECK(memcmp(bufs[i], q.data + off, q.r[i].len) == 0);
            }
            /* Where a chase leads in this copy, and back. */
            if (q.chase.on) {
                struct encap_push_range c;
                uint64_t at;
                int len_at;

                if (encap_chase_target(&q, (uint32_t)ldn(q.bell, 4), &c)) {
                    CHECK(c.len && c.len <= ENCAP_PUSH_MAX_DATA &&
                          c.addr + c.len > c.addr);
                }
                if (q.r[0].len >= 16 &&
                    encap_chase_find(q.data, q.r[0].len, q.r[0].addr,
                                     ldn(q.data + (-q.r[0].addr & 7), 8),
                                     q.r[0].len, &at, &len_at)) {
                    CHECK(at >= q.r[0].addr &&
                          at - q.r[0].addr <= q.r[0].len - 8);
                }
            }
        }
    }
}

/* What a receiver does with one TLP. */
static void one_tlp(const uint8_t *p, size_t len)
{
    struct encap_tlp t, t2;
    uint8_t out[ENCAP_TLP_MAX_SIZE];
    int n;

    if (encap_tlp_decode(p, len, &lim, &t) < 0) {
        return;
    }
    /* A TLP that decodes re-encodes to the same length and decodes to the
     * same header. */
    n = encap_tlp_encode(&t, &lim, out, sizeof(out));
    CHECK(n == (int)len);
    CHECK(encap_tlp_decode(out, n, &lim, &t2) == 0);
    {
        const uint8_t *d2 = t2.data;
        t.data = t2.data = NULL;
        CHECK(memcmp(&t, &t2, sizeof(t)) == 0);
        t.data = t2.data = d2;
    }

    if (t.type == ENCAP_TLP_MSGD && t.data) {
        one_push(t.data, t.len_dw * 4u);
    }
    if (t.type == ENCAP_TLP_MRD) {
        uint64_t addr;
        uint32_t bytes;
        struct encap_cpl_piece pieces[80];
        CHECK(encap_read_req_span(&t, &addr, &bytes) == 0);
        n = encap_split_completion(addr, bytes, 64, 256, pieces, 80);
        CHECK(n > 0);
    }
    if (t.type == ENCAP_TLP_CPLD) {
        /* Feed it to a reassembly expecting exactly what it claims. */
        uint8_t buf[4096];
        struct encap_reasm r;
        uint32_t bc = t.byte_count;
        encap_reasm_init(&r, t.lower_addr, bc, buf);
        n = encap_reasm_feed(&r, &t2);
        CHECK(n > -ENCAP_E__COUNT && n <= 1);
    }
}

/* Make the CRC right for the payload length the frame claims. */
static void fix_crc(uint8_t *frame, size_t size)
{
    size_t body;
    uint32_t crc;

    if (size < ENCAP_FRAME_OVERHEAD) {
        return;
    }
    body = ENCAP_ETH_HLEN + ENCAP_HDR_LEN + (frame[34] << 8 | frame[35]);
    if (body + ENCAP_CRC_LEN <= size) {
        crc = encap_crc32c(0, frame, body);
        frame[body] = crc >> 24;
        frame[body + 1] = crc >> 16;
        frame[body + 2] = crc >> 8;
        frame[body + 3] = crc;
    }
}

static struct encap_aead *fuzz_aead(void)
{
    static struct encap_aead *a;
    static const uint8_t key[ENCAP_AEAD_KEY_LEN] = "fuzz-decode key";

    if (!a) {
        a = encap_aead_new(key);
        CHECK(a);
    }
    return a;
}

static void keyed(const uint8_t *data, size_t size, bool round_trip)
{
    static uint8_t frame[9100], sealed[9200], opened[9200];
    static const uint8_t mac_key[ENCAP_SHA256_LEN] = "fuzz-decode hello key";
    struct encap_frame_view v, v2;
    uint64_t ctr;
    size_t flip;
    int n, r, r2;

    if (size < 2 || size - 2 > sizeof(frame)) {
        return;
    }
    flip = data[1];
    size -= 2;
    memcpy(frame, data + 2, size);
    fix_crc(frame, size);
    if (!round_trip) {
        r = encap_frame_open(fuzz_aead(), ENCAP_DIR_R2I, frame, size, opened,
                             sizeof(opened), &ctr, &v);
        CHECK(r < 0);           /* nobody can make a tag without the key */
        r = encap_hello_verify(frame, size, mac_key, flip & 1 ? frame : NULL);
        CHECK(r < 0);
        return;
    }
    r = encap_frame_parse(frame, size, &v);
    if (r == -ENCAP_E_CRC || r == -ENCAP_E_VERSION || r == -ENCAP_E_SHORT ||
        r == -ENCAP_E_ETHERTYPE || r == -ENCAP_E_LENGTH) {
        return;                 /* not a frame to seal */
    }
    n = encap_frame_seal(fuzz_aead(), ENCAP_DIR_I2R, flip, frame, size,
                         sealed, sizeof(sealed));
    if (n < 0) {
        return;
    }
    r2 = encap_frame_open(fuzz_aead(), ENCAP_DIR_I2R, sealed, n, opened,
                          sizeof(opened), &ctr, &v2);
    if (r < 0) {
        CHECK(r2 == r);         /* the plaintext's own error */
        return;
    }
    CHECK(r2 == (int)(ENCAP_ETH_HLEN + ENCAP_HDR_LEN + v.payload_len +
                      ENCAP_CRC_LEN));
    CHECK(ctr == flip);
    CHECK(memcmp(opened, frame, r2 - ENCAP_CRC_LEN) == 0);
    CHECK(memcmp(&v.hdr, &v2.hdr, sizeof(v.hdr)) == 0);
    CHECK(v.count == v2.count && v.payload_len == v2.payload_len);
    /* One byte changed anywhere before the CRC, the CRC then repaired. */
    flip = (data[1] * 131u) % (n - ENCAP_CRC_LEN);
    sealed[flip] ^= 1u << (data[1] % 8);
    fix_crc(sealed, n);
    CHECK(encap_frame_open(fuzz_aead(), ENCAP_DIR_I2R, sealed, n, opened,
                           sizeof(opened), &ctr, &v2) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t frame[9100];
    struct encap_frame_view v;
    struct encap_rec_iter it;
    const uint8_t *tlp;
    size_t len;
    int mode;

    if (size < 1 || size - 1 > sizeof(frame)) {
        return 0;
    }
    if (data[0] == 0x80 || data[0] == 0x81) {
        keyed(data, size, data[0] == 0x80);
        return 0;
    }
    mode = data[0] % 3;
    size--;
    memcpy(frame, data + 1, size);

    if (mode == 2) {
        one_tlp(frame, size);
        return 0;
    }
    if (mode == 1 && size >= ENCAP_FRAME_OVERHEAD) {
        /* Make the CRC right for the payload length the input claims. */
        size_t body = ENCAP_ETH_HLEN + ENCAP_HDR_LEN +
                      (frame[34] << 8 | frame[35]);
        if (body + ENCAP_CRC_LEN <= size) {
            uint32_t crc = encap_crc32c(0, frame, body);
            frame[body] = crc >> 24;
            frame[body + 1] = crc >> 16;
            frame[body + 2] = crc >> 8;
            frame[body + 3] = crc;
        }
    }
    if (encap_frame_parse(frame, size, &v) < 0) {
        return 0;
    }
    if (v.hdr.type == ENCAP_FRAME_CTRL) {
        struct encap_ctrl c;
        encap_ctrl_decode(v.payload, v.payload_len, &c);
    } else if (v.hdr.type == ENCAP_FRAME_DISC) {
        struct encap_disc d;
        encap_disc_decode(v.payload, v.payload_len, &d);
    }
    encap_frame_records(&v, &it);
    while (encap_frame_next_tlp(&it, &tlp, &len) == 1) {
        CHECK(tlp + len <= v.payload + v.payload_len);
        one_tlp(tlp, len);
    }
    return 0;
}
