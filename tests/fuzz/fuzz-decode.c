/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over everything a receiver does with bytes from the wire:
 * frame parse, record walk, TLP decode, and for what decodes, re-encode and
 * completion reassembly.  Any crash, sanitizer report, leak or broken
 * invariant (abort) is a finding.
 *
 * The first input byte picks a mode; mode 1 repairs the CRC first so that
 * the fuzzer gets past the integrity check into the record and TLP paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/split.h"
#include "encap/tlp.h"

static const struct encap_tlp_limits lim = { .mps = 4096 };

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

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
