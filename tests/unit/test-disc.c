/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DISC version 2 codec: golden vectors written from the byte layout of
 * docs/protocol.md section 5, and one test per rejection reason.
 */
#include <glib.h>
#include <string.h>

#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/seal.h"

/* ANNOUNCE of function 1 of 2, an e1000e (8086:10d3, class 020000 rev 0),
 * subsystem 8086:0000, owned by rc 7 at 52:54:00:12:34:56 with BDF 03:00.0,
 * generation 0x0102030405060708, answering SOLICIT xid 0xa1b2c3d4,
 * heartbeat 1000 ms, serial 0x1122334455667788, BAR0 128 KiB mem,
 * BAR2 32 B I/O, BAR3 16 KiB 64-bit prefetchable (BAR4 its upper half). */
static const uint8_t announce_bytes[ENCAP_DISC_LEN] = {
    0x02, 0x02, 0x00, 0x07,                         /* op, version, rc id */
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,             /* owner MAC */
    0x03, 0x00,                                     /* BDF 03:00.0 */
    0x80, 0x86, 0x10, 0xd3,                         /* vendor, device */
    0x02, 0x00, 0x00, 0x00,                         /* class/rev */
    0x00, 0x00, 0x00, 0x01,                         /* state assigned */
    0x00, 0x00, 0x01, 0x02,                         /* flags, fn 1, 2 fns */
    0x80, 0x86, 0x00, 0x00,                         /* subsystem */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* generation */
    0xa1, 0xb2, 0xc3, 0xd4,                         /* xid */
    0x03, 0xe8, 0x00, 0x00,                         /* interval, acked, status */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* serial */
    0x11, 0x00, 0x00, 0x00, 0x05, 0x01,             /* BAR0..2 */
    0x0e, 0x06, 0x00, 0x00, 0x00, 0x00,             /* BAR3..5 */
    0x00, 0x00, 0x00, 0x00,                         /* tag length, reserved */
};

static const struct encap_disc announce = {
    .op = ENCAP_DISC_ANNOUNCE, .rc_id = 7,
    .owner_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
    .bdf = 0x0300, .vendor_id = 0x8086, .device_id = 0x10d3,
    .class_rev = 0x02000000, .state = ENCAP_DISC_ASSIGNED,
    .function = 1, .functions = 2, .subsys_vendor = 0x8086,
    .generation = 0x0102030405060708ull, .xid = 0xa1b2c3d4,
    .interval_ms = 1000, .serial = 0x1122334455667788ull,
    .bars = { { 17, 0 }, { 0, 0 }, { 5, ENCAP_DISC_BAR_IO },
              { 14, ENCAP_DISC_BAR_64 | ENCAP_DISC_BAR_PREFETCH } },
};

/* ACK of an ASSIGN, status stale, function 0 holding generation 9. */
static const uint8_t ack_bytes[ENCAP_DISC_LEN] = {
    0x05, 0x02, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b,
    0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
    0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x03, 0x01,
    [48 ... 71] = 0,
};

static void test_golden_announce(void)
{
    uint8_t buf[128];
    struct encap_disc d;

    g_assert_cmpint(encap_disc_encode(&announce, buf, sizeof(buf)), ==,
                    ENCAP_DISC_LEN);
    g_assert_cmpmem(buf, ENCAP_DISC_LEN, announce_bytes, ENCAP_DISC_LEN);
    g_assert_cmpint(encap_disc_decode(announce_bytes, ENCAP_DISC_LEN, &d), ==, 0);
    g_assert_cmpmem(&d, sizeof(d), &announce, sizeof(announce));
    g_assert_cmpint(encap_disc_encode(&announce, buf, ENCAP_DISC_LEN - 1), ==,
                    -ENCAP_E_NOSPACE);
}

static void test_golden_ack(void)
{
    const struct encap_disc ack = {
        .op = ENCAP_DISC_ACK, .rc_id = 2,
        .owner_mac = { 0x02, 0, 0, 0, 0, 0x0b }, .bdf = 0x0008,
        .state = ENCAP_DISC_ASSIGNED, .generation = 9, .xid = 42,
        .acked_op = ENCAP_DISC_ASSIGN, .status = ENCAP_DISC_STALE,
    };
    uint8_t buf[ENCAP_DISC_LEN];
    struct encap_disc d;

    g_assert_cmpint(encap_disc_encode(&ack, buf, sizeof(buf)), ==, ENCAP_DISC_LEN);
    g_assert_cmpmem(buf, ENCAP_DISC_LEN, ack_bytes, ENCAP_DISC_LEN);
    g_assert_cmpint(encap_disc_decode(ack_bytes, ENCAP_DISC_LEN, &d), ==, 0);
    g_assert_cmpmem(&d, sizeof(d), &ack, sizeof(ack));
}

/* A whole frame: headers, payload, CRC; parse_frame gets it back. */
static void test_frame(void)
{
    const uint8_t dst[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const uint8_t src[6] = { 0x02, 0x76, 0x72, 0, 0, 1 };
    uint8_t buf[256], from[6];
    struct encap_disc d;
    int n = encap_disc_frame(dst, src, true, &announce, buf, sizeof(buf));

    g_assert_cmpint(n, ==, ENCAP_FRAME_OVERHEAD + ENCAP_DISC_LEN);
    g_assert_cmpmem(buf + 38, ENCAP_DISC_LEN, announce_bytes, ENCAP_DISC_LEN);
    g_assert_cmpuint(buf[15], ==, ENCAP_FRAME_DISC);
    g_assert_cmpuint(buf[17], ==, ENCAP_F_RESP);
    g_assert_cmpint(encap_disc_parse_frame(buf, n, from, &d), ==, 0);
    g_assert_cmpmem(from, 6, src, 6);
    g_assert_cmpuint(d.generation, ==, announce.generation);
    buf[40] ^= 1;                   /* damaged: the CRC catches it */
    g_assert_cmpint(encap_disc_parse_frame(buf, n, from, &d), ==, -ENCAP_E_CRC);
}

/* Each rule of the rejection list, applied to a valid frame of @base. */
static void expect_reject(const uint8_t *base, void (*mutate)(uint8_t *),
                          size_t len, int err)
{
    uint8_t buf[ENCAP_DISC_LEN + 8];
    struct encap_disc d;
    struct encap_disc_stats st = { 0 };
    int rc;

    memset(buf, 0, sizeof(buf));
    memcpy(buf, base, ENCAP_DISC_LEN);
    mutate(buf);
    rc = encap_disc_decode(buf, len, &d);
    g_assert_cmpstr(encap_strerror(rc), ==, encap_strerror(err));
    encap_disc_count(&st, rc);
    g_assert_cmpuint(st.drops[-err], ==, 1);
    g_assert_cmpuint(st.rx, ==, 0);
}

static void m_none(uint8_t *b) { }
static void m_version1(uint8_t *b) { b[1] = 0; }
static void m_op0(uint8_t *b) { b[0] = 0; }
static void m_op6(uint8_t *b) { b[0] = 6; }
static void m_fns0(uint8_t *b) { b[27] = 0; b[26] = 0; }
static void m_fn_out(uint8_t *b) { b[26] = 2; }
static void m_interval_low(uint8_t *b) { b[44] = 0; b[45] = 99; }
static void m_interval_high(uint8_t *b) { b[44] = 0xea; b[45] = 0x61; }
static void m_bar_small(uint8_t *b) { b[56] = 3; }
static void m_bar_big(uint8_t *b) { b[56] = 64; }
static void m_bar_flags(uint8_t *b) { b[57] = 0x08; }
static void m_bar_empty_flags(uint8_t *b) { b[59] = ENCAP_DISC_BAR_IO; }
static void m_bar_upper(uint8_t *b) { b[64] = 12; }
static void m_bar5_64(uint8_t *b) { b[66] = 12; b[67] = ENCAP_DISC_BAR_64; }
static void m_auth(uint8_t *b) { b[25] = ENCAP_DISC_F_AUTH; }
static void m_state(uint8_t *b) { b[23] = 2; }
static void m_taglen(uint8_t *b) { b[69] = 8; }
/* On the ACK vector: */
static void m_acked(uint8_t *b) { b[46] = ENCAP_DISC_ANNOUNCE; }
static void m_status(uint8_t *b) { b[47] = 4; }
/* Turn the ACK vector into an ASSIGN/RELEASE, then break it. */
static void m_assign_rc0(uint8_t *b) { b[0] = 3; b[3] = 0; }
static void m_assign_mac0(uint8_t *b) { b[0] = 3; memset(b + 4, 0, 6); }
static void m_assign_mcast(uint8_t *b) { b[0] = 3; b[4] = 0x01; }
static void m_assign_gen0(uint8_t *b) { b[0] = 3; b[39] = 0; }
static void m_release_gen0(uint8_t *b) { b[0] = 4; b[39] = 0; }
static void m_assign_ok(uint8_t *b) { b[0] = 3; }

static void test_rejections(void)
{
    const uint8_t *a = announce_bytes, *k = ack_bytes;
    uint8_t buf[ENCAP_DISC_LEN];
    struct encap_disc d;

    expect_reject(a, m_none, ENCAP_DISC_LEN - 1, -ENCAP_E_SHORT);
    expect_reject(a, m_none, ENCAP_DISC_LEN + 1, -ENCAP_E_LENGTH);
    expect_reject(a, m_taglen, ENCAP_DISC_LEN, -ENCAP_E_LENGTH);
    expect_reject(a, m_version1, ENCAP_DISC_LEN, -ENCAP_E_VERSION);
    expect_reject(a, m_op0, ENCAP_DISC_LEN, -ENCAP_E_DISC_OP);
    expect_reject(a, m_op6, ENCAP_DISC_LEN, -ENCAP_E_DISC_OP);
    expect_reject(a, m_auth, ENCAP_DISC_LEN, -ENCAP_E_DISC_AUTH);
    expect_reject(a, m_taglen, ENCAP_DISC_LEN + 8, -ENCAP_E_DISC_AUTH);
    expect_reject(a, m_fns0, ENCAP_DISC_LEN, -ENCAP_E_DISC_FN);
    expect_reject(a, m_fn_out, ENCAP_DISC_LEN, -ENCAP_E_DISC_FN);
    expect_reject(a, m_interval_low, ENCAP_DISC_LEN, -ENCAP_E_DISC_INTERVAL);
    expect_reject(a, m_interval_high, ENCAP_DISC_LEN, -ENCAP_E_DISC_INTERVAL);
    expect_reject(a, m_bar_small, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_bar_big, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_bar_flags, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_bar_empty_flags, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_bar_upper, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_bar5_64, ENCAP_DISC_LEN, -ENCAP_E_DISC_BAR);
    expect_reject(a, m_state, ENCAP_DISC_LEN, -ENCAP_E_FIELD);
    expect_reject(k, m_acked, ENCAP_DISC_LEN, -ENCAP_E_FIELD);
    expect_reject(k, m_status, ENCAP_DISC_LEN, -ENCAP_E_FIELD);
    expect_reject(k, m_assign_rc0, ENCAP_DISC_LEN, -ENCAP_E_DISC_OWNER);
    expect_reject(k, m_assign_mac0, ENCAP_DISC_LEN, -ENCAP_E_DISC_OWNER);
    expect_reject(k, m_assign_mcast, ENCAP_DISC_LEN, -ENCAP_E_DISC_OWNER);
    expect_reject(k, m_assign_gen0, ENCAP_DISC_LEN, -ENCAP_E_DISC_GEN);
    expect_reject(k, m_release_gen0, ENCAP_DISC_LEN, -ENCAP_E_DISC_GEN);

    /* The base vectors themselves are accepted (the mutation is the cause). */
    memcpy(buf, k, sizeof(buf));
    m_assign_ok(buf);
    g_assert_cmpint(encap_disc_decode(buf, sizeof(buf), &d), ==, 0);
    g_assert_cmpuint(d.op, ==, ENCAP_DISC_ASSIGN);
    g_assert_cmpstr(encap_strerror(-ENCAP_E_DISC_GEN), ==, "disc-generation");
    g_assert_cmpstr(encap_disc_op_name(ENCAP_DISC_ACK), ==, "ACK");
    g_assert_cmpstr(encap_disc_op_name(9), ==, "?");
}

/* The endpoint's generation rule, protocol.md 5.2, case by case. */
static void test_generation_rule(void)
{
    const uint8_t vm1[6] = { 0x52, 0x54, 0, 0, 0, 1 };
    const uint8_t vm2[6] = { 0x52, 0x54, 0, 0, 0, 2 };
    struct encap_disc_owner o = { 0 };
    struct encap_disc req = {
        .op = ENCAP_DISC_ASSIGN, .rc_id = 1, .bdf = 0x0100, .generation = 5,
        .xid = 77, .function = 0,
    }, ack;
    bool end;

    /* Never assigned: version 1 behaviour, any HELLO may come. */
    g_assert_true(encap_disc_hello_allowed(&o, vm2, 9));

    /* g > G: taken; nothing to end (nobody owned it). */
    memcpy(req.owner_mac, vm1, 6);
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_APPLIED);
    g_assert_false(end);
    g_assert_cmpuint(o.generation, ==, 5);
    g_assert_true(o.assigned);
    g_assert_cmpuint(ack.op, ==, ENCAP_DISC_ACK);
    g_assert_cmpuint(ack.acked_op, ==, ENCAP_DISC_ASSIGN);
    g_assert_cmpuint(ack.status, ==, ENCAP_DISC_OK);
    g_assert_cmpuint(ack.xid, ==, 77);
    g_assert_cmpuint(ack.generation, ==, 5);
    g_assert_cmpuint(ack.rc_id, ==, 1);
    g_assert_cmpmem(ack.owner_mac, 6, vm1, 6);
    g_assert_cmpuint(ack.state, ==, ENCAP_DISC_ASSIGNED);

    /* Sessions: only the owner of G, by MAC and rc id. */
    g_assert_true(encap_disc_hello_allowed(&o, vm1, 1));
    g_assert_false(encap_disc_hello_allowed(&o, vm1, 2));
    g_assert_false(encap_disc_hello_allowed(&o, vm2, 1));

    /* g == G, same request: a retry, acknowledged, nothing reset. */
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_REPEATED);
    g_assert_false(end);
    g_assert_cmpuint(ack.status, ==, ENCAP_DISC_OK);

    /* g == G, another owner or BDF: stale, and the state is reported. */
    req.rc_id = 2;
    memcpy(req.owner_mac, vm2, 6);
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==,
                    ENCAP_DISC_REFUSED_STALE);
    g_assert_cmpuint(ack.status, ==, ENCAP_DISC_STALE);
    g_assert_cmpuint(ack.rc_id, ==, 1);
    g_assert_cmpuint(o.rc_id, ==, 1);
    req.rc_id = 1;
    memcpy(req.owner_mac, vm1, 6);
    req.bdf = 0x0200;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==,
                    ENCAP_DISC_REFUSED_STALE);
    /* g < G: stale. */
    req.bdf = 0x0100;
    req.generation = 4;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==,
                    ENCAP_DISC_REFUSED_STALE);
    g_assert_cmpuint(o.generation, ==, 5);

    /* A newer ASSIGN to vm2: the session with vm1 must end. */
    req.generation = 6;
    req.rc_id = 2;
    memcpy(req.owner_mac, vm2, 6);
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_APPLIED);
    g_assert_true(end);
    g_assert_false(encap_disc_hello_allowed(&o, vm1, 1));
    g_assert_true(encap_disc_hello_allowed(&o, vm2, 2));

    /* A newer ASSIGN repeating the same owner keeps the session. */
    req.generation = 7;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_APPLIED);
    g_assert_false(end);

    /* RELEASE: free, session ends, and no HELLO is taken while free. */
    req.op = ENCAP_DISC_RELEASE;
    req.generation = 8;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_APPLIED);
    g_assert_true(end);
    g_assert_false(o.assigned);
    g_assert_cmpuint(ack.state, ==, ENCAP_DISC_FREE);
    g_assert_cmpuint(ack.rc_id, ==, 0);
    g_assert_false(encap_disc_hello_allowed(&o, vm2, 2));
    /* A repeated RELEASE is a retry; an older ASSIGN is stale. */
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==, ENCAP_DISC_REPEATED);
    g_assert_false(end);
    req.op = ENCAP_DISC_ASSIGN;
    req.generation = 7;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==,
                    ENCAP_DISC_REFUSED_STALE);
    /* ...and an ASSIGN of the released generation is stale too. */
    req.generation = 8;
    g_assert_cmpint(encap_disc_apply(&o, &req, &ack, &end), ==,
                    ENCAP_DISC_REFUSED_STALE);
    g_assert_false(o.assigned);
}

/*
 * Signed DISC (protocol.md 5.4).  PSK "vrc-disc example key"; configd
 * 02:00:00:00:00:0a sends endpoint 02:76:72:00:00:01 an ASSIGN of function
 * 0 to rc 7 at 52:54:00:12:34:56, BDF 01:00.0, generation 5, xid
 * 0x11223344, at time 1700000000000000 us.  K_disc and the MAC were
 * computed from the specification with another HMAC-SHA256 (Python's
 * hmac), not with this code.
 */
static const char example_psk[] = "vrc-disc example key";
static const uint8_t example_kdisc[32] = {
    0xa4, 0x96, 0x58, 0xa6, 0xef, 0x24, 0x96, 0x9b, 0x27, 0x81, 0xd6, 0x8a,
    0xb1, 0x3b, 0x99, 0x1d, 0x2d, 0xd5, 0xd5, 0x48, 0xee, 0x5c, 0x18, 0x6c,
    0xcc, 0xc5, 0xd3, 0xc7, 0xed, 0xb8, 0x51, 0x83,
};
#define EXAMPLE_TIME UINT64_C(1700000000000000)
static const uint8_t signed_bytes[ENCAP_DISC_FRAME_MAX] = {
    0x02, 0x76, 0x72, 0x00, 0x00, 0x01,             /* dst */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,             /* src */
    0x88, 0xb5,                                     /* EtherType */
    0x01, 0x03, 0x00, 0x00,                         /* version, DISC, flags */
    0x00, 0x00, 0x00, 0x00,                         /* rc id, session */
    0x00, 0x00, 0x00, 0x00,                         /* epoch */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* seq, ack */
    0x00, 0x60, 0x00, 0x00,                         /* payload 96, count */
    0x03, 0x02, 0x00, 0x07,                         /* ASSIGN, v2, rc 7 */
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56,             /* owner */
    0x01, 0x00,                                     /* BDF 01:00.0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* ids, class */
    0x00, 0x00, 0x00, 0x00,                         /* state */
    0x00, 0x01, 0x00, 0x00,                         /* flags AUTH, fn, fns */
    0x00, 0x00, 0x00, 0x00,                         /* subsystem */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* generation */
    0x11, 0x22, 0x33, 0x44,                         /* xid */
    0x00, 0x00, 0x00, 0x00,                         /* interval, acked, status */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* serial */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             /* BARs */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x18, 0x00, 0x00,                         /* tag length 24 */
    0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00, /* time */
    0xd7, 0x57, 0x12, 0x3d, 0x63, 0xf5, 0x82, 0xc7, /* MAC */
    0x0d, 0x6f, 0xb7, 0x86, 0x6a, 0x27, 0x50, 0x98,
    0x25, 0x82, 0xcb, 0x17,                         /* CRC-32C */
};

static const struct encap_disc example_assign = {
    .op = ENCAP_DISC_ASSIGN, .rc_id = 7,
    .owner_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, .bdf = 0x0100,
    .generation = 5, .xid = 0x11223344,
};

static void example_key(struct encap_disc_key *k)
{
    g_assert_cmpint(encap_disc_key_init(k, (const uint8_t *)example_psk,
                                        sizeof(example_psk) - 1), ==, 0);
}

static void test_key(void)
{
    uint8_t psk[ENCAP_PSK_MAX + 1] = { 0 };
    struct encap_disc_key k;
    uint8_t hello[ENCAP_SHA256_LEN];

    example_key(&k);
    g_assert_cmpmem(k.k, sizeof(k.k), example_kdisc, sizeof(example_kdisc));
    /* Its own label: not the handshake key of the same PSK. */
    encap_hello_key((const uint8_t *)example_psk, sizeof(example_psk) - 1, hello);
    g_assert_true(memcmp(hello, k.k, sizeof(hello)) != 0);
    g_assert_cmpint(encap_disc_key_init(&k, psk, ENCAP_PSK_MIN - 1), ==,
                    -ENCAP_E_FIELD);
    g_assert_cmpint(encap_disc_key_init(&k, psk, ENCAP_PSK_MAX + 1), ==,
                    -ENCAP_E_FIELD);
    g_assert_cmpint(encap_disc_key_init(&k, psk, ENCAP_PSK_MAX), ==, 0);
    encap_disc_key_wipe(&k);
    g_assert_cmpmem(k.k, sizeof(k.k), psk, sizeof(k.k));
}

static void test_signed_golden(void)
{
    const uint8_t cfg[6] = { 0x02, 0, 0, 0, 0, 0x0a };
    const uint8_t ep[6] = { 0x02, 0x76, 0x72, 0, 0, 1 };
    struct encap_disc_key k;
    uint8_t buf[256], from[6];
    struct encap_disc d, want = example_assign;
    int n;

    example_key(&k);
    n = encap_disc_frame_signed(ep, cfg, false, &example_assign, &k,
                                EXAMPLE_TIME, buf, sizeof(buf));
    g_assert_cmpint(n, ==, ENCAP_DISC_FRAME_MAX);
    g_assert_cmpmem(buf, n, signed_bytes, sizeof(signed_bytes));
    g_assert_cmpint(encap_disc_frame_signed(ep, cfg, false, &example_assign,
                                            &k, EXAMPLE_TIME, buf, n - 1), <, 0);

    g_assert_cmpint(encap_disc_parse_frame_keyed(signed_bytes, n, &k,
                                                 EXAMPLE_TIME, from, &d), ==, 0);
    want.flags = ENCAP_DISC_F_AUTH;
    want.tag_len = ENCAP_DISC_TAG_LEN;
    want.time_us = EXAMPLE_TIME;
    g_assert_cmpmem(&d, sizeof(d), &want, sizeof(want));
    g_assert_cmpmem(from, 6, cfg, 6);

    /* A NULL key is the unsigned frame, byte for byte. */
    n = encap_disc_frame_signed(ep, cfg, false, &example_assign, NULL, 1,
                                buf, sizeof(buf));
    g_assert_cmpint(n, ==, ENCAP_FRAME_OVERHEAD + ENCAP_DISC_LEN);
    g_assert_cmpint(encap_disc_parse_frame_keyed(buf, n, NULL, 0, from, &d),
                    ==, 0);
    g_assert_cmpuint(d.time_us, ==, 0);
}

/* Refresh the CRC of a frame whose payload is @plen bytes. */
static void recrc(uint8_t *f, size_t plen)
{
    uint32_t crc;

    f[34] = plen >> 8;
    f[35] = plen;
    crc = encap_crc32c(0, f, 38 + plen);
    f[38 + plen] = crc >> 24;
    f[39 + plen] = crc >> 16;
    f[40 + plen] = crc >> 8;
    f[41 + plen] = crc;
}

static void expect_keyed(const uint8_t *f, size_t len,
                         const struct encap_disc_key *k, uint64_t now, int err)
{
    struct encap_disc_stats st = { 0 };
    struct encap_disc d;
    uint8_t from[6];
    int rc = encap_disc_parse_frame_keyed(f, len, k, now, from, &d);

    g_assert_cmpstr(encap_strerror(rc), ==, encap_strerror(err));
    encap_disc_count(&st, rc);
    if (err) {
        g_assert_cmpuint(st.drops[-err], ==, 1);
    } else {
        g_assert_cmpuint(st.rx, ==, 1);
    }
}

static void test_signed_rejections(void)
{
    const uint8_t cfg[6] = { 0x02, 0, 0, 0, 0, 0x0a };
    const uint8_t ep[6] = { 0x02, 0x76, 0x72, 0, 0, 1 };
    const uint64_t t = EXAMPLE_TIME, w = ENCAP_DISC_WINDOW_US;
    const size_t n = sizeof(signed_bytes), plen = n - ENCAP_FRAME_OVERHEAD;
    static const char other_psk[] = "another example key";
    struct encap_disc_key k, other;
    uint8_t f[256], u[256];
    struct encap_disc d;
    int un;

    example_key(&k);
    encap_disc_key_init(&other, (const uint8_t *)other_psk,
                        sizeof(other_psk) - 1);

    /* Keyed receiver: unsigned frames are a key mismatch. */
    un = encap_disc_frame(ep, cfg, false, &example_assign, u, sizeof(u));
    expect_keyed(u, un, &k, t, -ENCAP_E_KEY);
    expect_keyed(u, un, NULL, t, 0);
    /* Unkeyed receiver: signed ones too, with or without the frame. */
    expect_keyed(signed_bytes, n, NULL, t, -ENCAP_E_KEY);
    g_assert_cmpint(encap_disc_parse_frame(signed_bytes, n, f, &d), ==,
                    -ENCAP_E_KEY);
    g_assert_cmpint(encap_disc_decode(signed_bytes + 38, plen, &d), ==,
                    -ENCAP_E_KEY);

    /* Another key's tag. */
    expect_keyed(signed_bytes, n, &other, t, -ENCAP_E_AUTH);
    un = encap_disc_frame_signed(ep, cfg, false, &example_assign, &other, t,
                                 f, sizeof(f));
    expect_keyed(f, un, &k, t, -ENCAP_E_AUTH);
    expect_keyed(f, un, &other, t, 0);

    /* Any byte changed (CRC made good) is refused; in the addresses, the
     * vrc header's ids, sequence fields, every DISC field, the time and the
     * MAC, by the MAC.  The rest are framing, caught before it. */
    for (size_t off = 0; off < n - ENCAP_CRC_LEN; off++) {
        bool framing = (off >= 12 && off <= 17) || (off >= 34 && off <= 37) ||
                       off == 38 || off == 39 || off == 38 + 24 ||
                       off == 38 + 25 || off == 38 + 68 || off == 38 + 69;
        int rc;

        memcpy(f, signed_bytes, n);
        f[off] ^= 0x01;
        if (off != 34 && off != 35) {
            recrc(f, plen);     /* (which rewrites the payload length) */
        }
        rc = encap_disc_parse_frame_keyed(f, n, &k, t, u, &d);
        if (framing) {
            g_assert_cmpint(rc, !=, 0);
        } else {
            g_assert_cmpstr(encap_strerror(rc), ==, "auth");
        }
    }

    /* Truncated tag: 16 bytes (the MAC without the time), or 0. */
    memcpy(f, signed_bytes, n);
    f[38 + 69] = 16;
    memmove(f + 38 + 72, f + 38 + 80, 16);
    recrc(f, plen - 8);
    expect_keyed(f, n - 8, &k, t, -ENCAP_E_DISC_AUTH);
    memcpy(f, signed_bytes, n);
    f[38 + 69] = 0;
    recrc(f, ENCAP_DISC_LEN);
    expect_keyed(f, ENCAP_FRAME_OVERHEAD + ENCAP_DISC_LEN, &k, t,
                 -ENCAP_E_DISC_AUTH);
    /* The tag without the flag. */
    memcpy(f, signed_bytes, n);
    f[38 + 25] = 0;
    recrc(f, plen);
    expect_keyed(f, n, &k, t, -ENCAP_E_DISC_AUTH);
    expect_keyed(f, n, NULL, t, -ENCAP_E_DISC_AUTH);
    /* Payload length disagreeing with the tag length. */
    memcpy(f, signed_bytes, n);
    f[38 + 69] = 32;
    recrc(f, plen);
    expect_keyed(f, n, &k, t, -ENCAP_E_LENGTH);

    /* Freshness: within +-30 s of the receiver's clock, edges included. */
    expect_keyed(signed_bytes, n, &k, t + w, 0);
    expect_keyed(signed_bytes, n, &k, t - w, 0);
    expect_keyed(signed_bytes, n, &k, t + w + 1, -ENCAP_E_REPLAY);
    expect_keyed(signed_bytes, n, &k, t - w - 1, -ENCAP_E_REPLAY);
    expect_keyed(signed_bytes, n, &k, 0, -ENCAP_E_REPLAY);
    /* ...and checked after the MAC: a forged time is auth, not replay. */
    memcpy(f, signed_bytes, n);
    f[38 + 72] ^= 0x40;
    recrc(f, plen);
    expect_keyed(f, n, &k, t, -ENCAP_E_AUTH);
}

static void test_psk_base64(void)
{
    /* "vrc-disc example key" in base64, as `base64` writes it (newline). */
    static const char good[] = "dnJjLWRpc2MgZXhhbXBsZSBrZXk=\n";
    static const char wrapped[] = "dnJjLWRpc2Mg\nZXhhbXBsZSBrZXk=";
    uint8_t psk[ENCAP_PSK_MAX];

    g_assert_cmpint(encap_psk_from_base64(good, strlen(good), psk, sizeof(psk)),
                    ==, sizeof(example_psk) - 1);
    g_assert_cmpmem(psk, sizeof(example_psk) - 1, example_psk,
                    sizeof(example_psk) - 1);
    g_assert_cmpint(encap_psk_from_base64(wrapped, strlen(wrapped), psk,
                                          sizeof(psk)), ==, 20);
    /* QEMU refuses these too: a space, a CR, a NUL, bad padding. */
    g_assert_cmpint(encap_psk_from_base64("dnJjLWRpc2MgZXhhbXBsZSBrZXk= ", 29,
                                          psk, sizeof(psk)), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_psk_from_base64("dnJjLWRpc2MgZXhhbXBsZSBrZXk=\r\n", 30,
                                          psk, sizeof(psk)), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_psk_from_base64("dnJj\0WRpc2MgZXhhbXBsZSBrZXk=", 28,
                                          psk, sizeof(psk)), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_psk_from_base64("dnJjLWRpc2MgZXhhbXBsZSBrZXk", 27,
                                          psk, sizeof(psk)), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_psk_from_base64("", 0, psk, sizeof(psk)), ==,
                    -ENCAP_E_FIELD);
    /* 15 bytes: too short for a key; 20 into 16 bytes: no room. */
    g_assert_cmpint(encap_psk_from_base64("MDEyMzQ1Njc4OWFiY2Rl", 20, psk,
                                          sizeof(psk)), ==, -ENCAP_E_LENGTH);
    g_assert_cmpint(encap_psk_from_base64(good, strlen(good), psk, 16), ==,
                    -ENCAP_E_LENGTH);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/disc/golden-announce", test_golden_announce);
    g_test_add_func("/disc/golden-ack", test_golden_ack);
    g_test_add_func("/disc/frame", test_frame);
    g_test_add_func("/disc/rejections", test_rejections);
    g_test_add_func("/disc/generation-rule", test_generation_rule);
    g_test_add_func("/disc/key", test_key);
    g_test_add_func("/disc/signed-golden", test_signed_golden);
    g_test_add_func("/disc/signed-rejections", test_signed_rejections);
    g_test_add_func("/disc/psk-base64", test_psk_base64);
    return g_test_run();
}
