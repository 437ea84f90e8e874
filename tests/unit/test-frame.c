/* SPDX-License-Identifier: MIT */
/* Unit tests for the encap frame codec: golden bytes, CRC, records, rejections. */
#include <glib.h>
#include <string.h>

#include "encap/frame.h"

static const struct encap_tlp_limits lim = { .mps = 4096 };

static const struct encap_frame_hdr golden_hdr = {
    .dst = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 },
    .src = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },
    .type = ENCAP_FRAME_DATA,
    .flags = ENCAP_F_ACK | ENCAP_F_SEQ,
    .rc_id = 0x0102,
    .session = 0x0304,
    .epoch = 0x05060708,
    .seq = 0x090a0b0c,
    .ack = 0x0d0e0f10,
};

/* CRC-32C check value from the Castagnoli/iSCSI (RFC 3720 B.4) definition. */
static void test_crc32c(void)
{
    static const uint8_t zeros[32];
    uint8_t ones[32], inc[32];
    g_autofree uint8_t *big = g_malloc(9001);

    g_assert_cmphex(encap_crc32c(0, "123456789", 9), ==, 0xE3069283);
    g_assert_cmphex(encap_crc32c_portable(0, "123456789", 9), ==, 0xE3069283);
    /* RFC 3720 B.4 vectors */
    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++) {
        inc[i] = i;
    }
    g_assert_cmphex(encap_crc32c(0, zeros, 32), ==, 0x8A9136AA);
    g_assert_cmphex(encap_crc32c(0, ones, 32), ==, 0x62A8AB43);
    g_assert_cmphex(encap_crc32c(0, inc, 32), ==, 0x46DD794E);
    /* Chaining, odd alignments: hardware and table versions agree. */
    for (int i = 0; i < 9001; i++) {
        big[i] = g_test_rand_int();
    }
    for (int off = 0; off < 9; off++) {
        uint32_t whole = encap_crc32c(0, big + off, 9001 - off);
        uint32_t part = encap_crc32c(0, big + off, 1000);
        part = encap_crc32c(part, big + off + 1000, 9001 - off - 1000);
        g_assert_cmphex(whole, ==, part);
        g_assert_cmphex(whole, ==,
                        encap_crc32c_portable(0, big + off, 9001 - off));
    }
}

/*
 * Every version the CPU runs (the crc32 instruction, carry-less multiply)
 * agrees with the table version on every length up to a jumbo frame and
 * more, at every misalignment, on random bytes, and so does encap_crc32c().
 */
static void test_crc32c_impls(void)
{
    const size_t max = 9100;
    g_autofree uint8_t *buf = g_malloc(max + 8);

    for (size_t i = 0; i < max + 8; i++) {
        buf[i] = g_test_rand_int();
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= max; len++) {
            uint32_t seed = len * 0x9E3779B9u;

            uint32_t want = encap_crc32c_portable(seed, buf + off, len);

            for (unsigned i = 1; i < encap_crc32c_impls(); i++) {
                if (encap_crc32c_impl(i, seed, buf + off, len) != want) {
                    g_test_message("version %u, offset %zu, length %zu", i,
                                   off, len);
                    g_assert_cmphex(encap_crc32c_impl(i, seed, buf + off, len),
                                    ==, want);
                }
            }
            g_assert_cmphex(encap_crc32c(seed, buf + off, len), ==, want);
        }
    }
}

/*
 * A DATA frame with one CfgRd0, byte by byte from docs/protocol.md.
 */
static void test_golden_data(void)
{
    static const uint8_t expect_head[] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02,   /* dst */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,   /* src */
        0x88, 0xb5,                           /* EtherType */
        0x01,                                 /* version */
        0x01,                                 /* type DATA */
        0x00, 0x03,                           /* flags ACK|SEQ */
        0x01, 0x02,                           /* rc id */
        0x03, 0x04,                           /* session */
        0x05, 0x06, 0x07, 0x08,               /* epoch */
        0x09, 0x0a, 0x0b, 0x0c,               /* seq */
        0x0d, 0x0e, 0x0f, 0x10,               /* ack */
        0x00, 0x10,                           /* payload length 16 */
        0x01,                                 /* one record */
        0x00,                                 /* reserved */
        0x00, 0x0c, 0x00, 0x00,               /* record: 12-byte TLP */
        /* CfgRd0, req 00:01.0 tag 0x05, FBE 0xf, to 01:00.0 reg 0x104 */
        0x04, 0x00, 0x00, 0x01,
        0x00, 0x08, 0x05, 0x0f,
        0x01, 0x00, 0x01, 0x04,
    };
    struct encap_tlp t = {
        .type = ENCAP_TLP_CFGRD0, .len_dw = 1,
        .requester_id = ENCAP_BDF(0, 1, 0), .tag = 5, .first_be = 0xf,
        .target_id = ENCAP_BDF(1, 0, 0), .reg = 0x104,
    };
    struct encap_frame_builder b;
    struct encap_frame_view v;
    struct encap_rec_iter it;
    const uint8_t *tlp;
    size_t tlen;
    uint8_t buf[1514];
    int n;

    g_assert_cmpint(encap_frame_begin(&b, buf, sizeof(buf), &golden_hdr), ==, 0);
    g_assert_cmpint(encap_frame_add_tlp(&b, &t, &lim), ==, 0);
    n = encap_frame_finish(&b);
    g_assert_cmpint(n, ==, sizeof(expect_head) + 4);
    g_assert_cmpmem(buf, sizeof(expect_head), expect_head, sizeof(expect_head));
    {
        uint32_t crc = encap_crc32c(0, expect_head, sizeof(expect_head));
        const uint8_t *c = buf + sizeof(expect_head);
        g_assert_cmphex((uint32_t)c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3],
                        ==, crc);
    }

    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);
    g_assert_cmpmem(v.hdr.dst, 6, golden_hdr.dst, 6);
    g_assert_cmpmem(v.hdr.src, 6, golden_hdr.src, 6);
    g_assert_cmpuint(v.hdr.type, ==, golden_hdr.type);
    g_assert_cmphex(v.hdr.flags, ==, golden_hdr.flags);
    g_assert_cmphex(v.hdr.rc_id, ==, golden_hdr.rc_id);
    g_assert_cmphex(v.hdr.session, ==, golden_hdr.session);
    g_assert_cmphex(v.hdr.epoch, ==, golden_hdr.epoch);
    g_assert_cmphex(v.hdr.seq, ==, golden_hdr.seq);
    g_assert_cmphex(v.hdr.ack, ==, golden_hdr.ack);
    g_assert_cmpuint(v.count, ==, 1);
    encap_frame_records(&v, &it);
    g_assert_cmpint(encap_frame_next_tlp(&it, &tlp, &tlen), ==, 1);
    g_assert_cmpuint(tlen, ==, 12);
    g_assert_cmpmem(tlp, 12, expect_head + 42, 12);
    g_assert_cmpint(encap_frame_next_tlp(&it, &tlp, &tlen), ==, 0);

    /* Padding after the CRC (minimum Ethernet frame) is ignored. */
    memset(buf + n, 0xee, 64);
    g_assert_cmpint(encap_frame_parse(buf, n + 64, &v), ==, 0);
}

static void test_golden_ctrl(void)
{
    static const uint8_t ctrl_bytes[] = {
        0x01, 0x00, 0x05, 0xea, 0x04, 0x00, 0x10, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
    };
    struct encap_ctrl c = {
        .op = ENCAP_CTRL_HELLO, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .cookie = 0xdeadbeef,
    }, c2;
    uint8_t buf[64];

    g_assert_cmpint(encap_ctrl_encode(&c, buf, sizeof(buf)), ==, ENCAP_CTRL_LEN);
    g_assert_cmpmem(buf, ENCAP_CTRL_LEN, ctrl_bytes, sizeof(ctrl_bytes));
    g_assert_cmpint(encap_ctrl_decode(ctrl_bytes, sizeof(ctrl_bytes), &c2), ==, 0);
    g_assert_cmpuint(c2.op, ==, c.op);
    g_assert_cmpuint(c2.max_frame, ==, c.max_frame);
    g_assert_cmpuint(c2.mps, ==, c.mps);
    g_assert_cmpuint(c2.mrrs, ==, c.mrrs);
    g_assert_cmpuint(c2.features, ==, c.features);
    g_assert_cmphex(c2.cookie, ==, c.cookie);
    g_assert_cmpint(encap_ctrl_decode(ctrl_bytes, 15, &c2), ==, -ENCAP_E_SHORT);
    buf[0] = 0;
    g_assert_cmpint(encap_ctrl_decode(buf, 16, &c2), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_ctrl_encode(&c, buf, 15), ==, -ENCAP_E_NOSPACE);
}

/*
 * Offsets 8 and 12 with request credit (docs/protocol.md, 4.1): a HELLO
 * with feature CREDIT and a credit of 64, an ACK with request limit
 * 0x80000010 (serial: past 2^31).
 */
static void test_golden_ctrl_credit(void)
{
    static const uint8_t hello_bytes[] = {
        0x01, 0x00, 0x05, 0xea, 0x04, 0x00, 0x10, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40,
    };
    static const uint8_t ack_bytes[] = {
        0x03, 0x00, 0x05, 0xea, 0x04, 0x00, 0x10, 0x00,
        0x80, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
    };
    struct encap_ctrl hello = {
        .op = ENCAP_CTRL_HELLO, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .features = ENCAP_CTRL_F_CREDIT, .credit = 64,
    };
    struct encap_ctrl ack = {
        .op = ENCAP_CTRL_ACK, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .limit = 0x80000010,
    }, c2;
    uint8_t buf[ENCAP_CTRL_LEN];

    g_assert_cmpint(encap_ctrl_encode(&hello, buf, sizeof(buf)), ==, ENCAP_CTRL_LEN);
    g_assert_cmpmem(buf, sizeof(buf), hello_bytes, sizeof(hello_bytes));
    g_assert_cmpint(encap_ctrl_encode(&ack, buf, sizeof(buf)), ==, ENCAP_CTRL_LEN);
    g_assert_cmpmem(buf, sizeof(buf), ack_bytes, sizeof(ack_bytes));
    g_assert_cmpint(encap_ctrl_decode(hello_bytes, sizeof(hello_bytes), &c2), ==, 0);
    g_assert_cmphex(c2.features, ==, ENCAP_CTRL_F_CREDIT);
    g_assert_cmpuint(c2.credit, ==, 64);
    g_assert_cmpint(encap_ctrl_decode(ack_bytes, sizeof(ack_bytes), &c2), ==, 0);
    g_assert_cmphex(c2.limit, ==, 0x80000010);
    g_assert_cmpuint(c2.cookie, ==, 0);
}

/* Fill a frame with MWr TLPs until it refuses one; everything comes back. */
static void test_batching(void)
{
    uint8_t buf[9014], data[256];
    struct encap_frame_builder b;
    struct encap_frame_view v;
    struct encap_rec_iter it;
    const uint8_t *p;
    size_t len;
    unsigned added = 0, seen = 0;
    int n, rc;

    for (unsigned i = 0; i < sizeof(data); i++) {
        data[i] = i;
    }
    g_assert_cmpint(encap_frame_begin(&b, buf, 1514, &golden_hdr), ==, 0);
    for (;;) {
        struct encap_tlp t = {
            .type = ENCAP_TLP_MWR, .len_dw = 64, .first_be = 0xf,
            .last_be = 0xf, .addr = 0x1000 + added * 256, .data = data,
            .tag = added,
        };
        size_t room = encap_frame_room(&b);
        rc = encap_frame_add_tlp(&b, &t, &lim);
        if (rc < 0) {
            g_assert_cmpint(rc, ==, -ENCAP_E_NOSPACE);
            g_assert_cmpuint(room, <, 12 + 256);
            break;
        }
        added++;
    }
    /* 1514 - 42 overhead = 1472 payload bytes: 5 records of 4 + 268 */
    g_assert_cmpuint(added, ==, 5);
    n = encap_frame_finish(&b);
    g_assert_cmpint(n, <=, 1514);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);
    g_assert_cmpuint(v.count, ==, added);
    encap_frame_records(&v, &it);
    while (encap_frame_next_tlp(&it, &p, &len)) {
        struct encap_tlp t;
        g_assert_cmpint(encap_tlp_decode(p, len, &lim, &t), ==, 0);
        g_assert_cmpuint(t.addr, ==, 0x1000 + seen * 256);
        g_assert_cmpmem(t.data, 256, data, 256);
        seen++;
    }
    g_assert_cmpuint(seen, ==, added);

    /* The record count is capped at 255 whatever the room. */
    g_assert_cmpint(encap_frame_begin(&b, buf, sizeof(buf), &golden_hdr), ==, 0);
    added = 0;
    for (;;) {
        struct encap_tlp t = {
            .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf, .addr = 0,
        };
        if (encap_frame_add_tlp(&b, &t, &lim) < 0) {
            break;
        }
        added++;
    }
    g_assert_cmpuint(added, ==, ENCAP_MAX_RECORDS);
}

static int build_one(uint8_t *buf, size_t size)
{
    struct encap_frame_builder b;
    struct encap_tlp t = {
        .type = ENCAP_TLP_MRD, .len_dw = 4, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x2000,
    };

    g_assert_cmpint(encap_frame_begin(&b, buf, size, &golden_hdr), ==, 0);
    g_assert_cmpint(encap_frame_add_tlp(&b, &t, &lim), ==, 0);
    g_assert_cmpint(encap_frame_add_tlp(&b, &t, &lim), ==, 0);
    return encap_frame_finish(&b);
}

static void refix_crc(uint8_t *buf, int n)
{
    uint32_t crc = encap_crc32c(0, buf, n - 4);
    buf[n - 4] = crc >> 24;
    buf[n - 3] = crc >> 16;
    buf[n - 2] = crc >> 8;
    buf[n - 1] = crc;
}

/* Every reason a frame is rejected. */
static void test_reject(void)
{
    uint8_t buf[256], orig[256];
    struct encap_frame_view v;
    int n = build_one(orig, sizeof(orig));

    g_assert_cmpint(n, ==, 14 + 24 + 2 * 16 + 4);
    memcpy(buf, orig, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);

    /* short */
    g_assert_cmpint(encap_frame_parse(buf, 41, &v), ==, -ENCAP_E_SHORT);
    /* payload length beyond the bytes present */
    g_assert_cmpint(encap_frame_parse(buf, n - 1, &v), ==, -ENCAP_E_LENGTH);
    /* EtherType */
    buf[13] = 0xb6;
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_ETHERTYPE);
    memcpy(buf, orig, n);
    /* version */
    buf[14] = 2;
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_VERSION);
    memcpy(buf, orig, n);
    /* every single-bit flip anywhere in the protected bytes breaks the CRC */
    for (int i = 0; i < n - 4; i++) {
        if (i == 12 || i == 13 || i == 14 || i == 34 || i == 35) {
            continue;   /* checked before the CRC: EtherType, version, length */
        }
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= 1 << bit;
            g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_CRC);
            buf[i] ^= 1 << bit;
        }
    }
    /* frame type */
    buf[15] = 9;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_FRAME_TYPE);
    memcpy(buf, orig, n);
    /* record count disagrees with the records */
    buf[36] = 3;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    buf[36] = 1;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    buf[36] = 0;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    memcpy(buf, orig, n);
    /* record length: overrun, not a multiple of 4, too small */
    buf[39] = 0x20;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    buf[39] = 0x0e;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    buf[39] = 0x08;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, -ENCAP_E_RECORD);
    memcpy(buf, orig, n);
    /* a CTRL frame whose payload is too short for a CTRL body */
    buf[15] = ENCAP_FRAME_CTRL;
    buf[36] = 0;
    refix_crc(buf, n);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);
    buf[35] = 8;   /* payload length 8 < 16 */
    buf[14 + 24 + 8] = 0;
    refix_crc(buf, 14 + 24 + 8 + 4);
    g_assert_cmpint(encap_frame_parse(buf, 14 + 24 + 8 + 4, &v), ==,
                    -ENCAP_E_LENGTH);

    /* builder refuses bad raw records and overflows */
    {
        struct encap_frame_builder b;
        uint8_t tlp[16] = { 0 };
        g_assert_cmpint(encap_frame_begin(&b, buf, 41, &golden_hdr), ==,
                        -ENCAP_E_NOSPACE);
        g_assert_cmpint(encap_frame_begin(&b, buf, 60, &golden_hdr), ==, 0);
        g_assert_cmpint(encap_frame_add_raw(&b, tlp, 10), ==, -ENCAP_E_RECORD);
        g_assert_cmpint(encap_frame_add_raw(&b, tlp, 14), ==, -ENCAP_E_RECORD);
        g_assert_cmpint(encap_frame_add_raw(&b, tlp, 16), ==, -ENCAP_E_NOSPACE);
        g_assert_cmpint(encap_frame_add_raw(&b, tlp, 12), ==, 0);
    }
}

static void test_restamp(void)
{
    uint8_t buf[256];
    struct encap_frame_view v;
    int n = build_one(buf, sizeof(buf));

    g_assert_cmpint(encap_frame_restamp(buf, n, 0xabcdef01, 0), ==, 0);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);
    g_assert_cmphex(v.hdr.ack, ==, 0xabcdef01);
    g_assert_true(v.hdr.flags & ENCAP_F_ACK);
    g_assert_false(v.hdr.flags & ENCAP_F_RESENT);
    g_assert_cmphex(v.hdr.seq, ==, golden_hdr.seq);
    g_assert_cmpint(encap_frame_restamp(buf, n, 7, ENCAP_F_RESENT), ==, 0);
    g_assert_cmpint(encap_frame_parse(buf, n, &v), ==, 0);
    g_assert_cmphex(v.hdr.ack, ==, 7);
    g_assert_cmphex(v.hdr.flags, ==,
                    golden_hdr.flags | ENCAP_F_ACK | ENCAP_F_RESENT);
    g_assert_cmpint(encap_frame_restamp(buf, 20, 1, 0), ==, -ENCAP_E_SHORT);
    g_assert_cmpint(encap_frame_restamp(buf, n - 1, 1, 0), ==, -ENCAP_E_LENGTH);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/crc32c", test_crc32c);
    g_test_add_func("/frame/crc32c-impls", test_crc32c_impls);
    g_test_add_func("/frame/golden-data", test_golden_data);
    g_test_add_func("/frame/golden-ctrl", test_golden_ctrl);
    g_test_add_func("/frame/golden-ctrl-credit", test_golden_ctrl_credit);
    g_test_add_func("/frame/batching", test_batching);
    g_test_add_func("/frame/reject", test_reject);
    g_test_add_func("/frame/restamp", test_restamp);
    return g_test_run();
}
