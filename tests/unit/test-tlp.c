/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the TLP codec: golden byte vectors written out from the
 * PCIe Base Specification's header layout (section 2.2), random round
 * trips, and every rejection reason.
 */
#include <glib.h>
#include <string.h>

#include "encap/tlp.h"

static const struct encap_tlp_limits lim = { .mps = 4096 };
static const uint8_t data8[8] = { 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 };

struct golden {
    const char *name;
    struct encap_tlp tlp;
    uint8_t bytes[24];
    size_t len;
};

static const struct golden goldens[] = {
    { "MRd 3DW, 10-bit tag",
      { .type = ENCAP_TLP_MRD, .len_dw = 1, .requester_id = 0x0100,
        .tag = 0x2a5, .first_be = 0xf, .addr = 0xfebc0010 },
      { 0x00, 0x80, 0x00, 0x01,     /* Fmt 000 Type 0, T9=1, Length 1 */
        0x01, 0x00, 0xa5, 0x0f,     /* Req 01:00.0, Tag[7:0] a5, BE 0/f */
        0xfe, 0xbc, 0x00, 0x10 },   /* Address[31:2] */
      12 },
    { "MRd 4DW, TC3 RO NS, T8",
      { .type = ENCAP_TLP_MRD, .addr64 = true, .len_dw = 32, .tc = 3,
        .attr = ENCAP_ATTR_RO | ENCAP_ATTR_NS, .requester_id = 0x0008,
        .tag = 0x105, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x123456789abcdef0ull },
      { 0x20, 0x38, 0x30, 0x20,     /* Fmt 001, TC 3, T8, Attr[1:0]=11, Len 32 */
        0x00, 0x08, 0x05, 0xff,
        0x12, 0x34, 0x56, 0x78,     /* Address[63:32] */
        0x9a, 0xbc, 0xde, 0xf0 },   /* Address[31:2] */
      16 },
    { "MWr 3DW (an MSI)",
      { .type = ENCAP_TLP_MWR, .len_dw = 1, .requester_id = 0x0100,
        .first_be = 0xf, .addr = 0xfee00000, .data = (const uint8_t *)"\x21\x40\0\0" },
      { 0x40, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x0f,
        0xfe, 0xe0, 0x00, 0x00,
        0x21, 0x40, 0x00, 0x00 },   /* data, lowest address first */
      16 },
    { "MWr 4DW, EP, IDO, partial BEs",
      { .type = ENCAP_TLP_MWR, .addr64 = true, .len_dw = 2, .ep = true,
        .attr = ENCAP_ATTR_IDO, .requester_id = 0x0008, .tag = 7,
        .first_be = 0xc, .last_be = 0x3, .addr = 0x100000000ull,
        .data = data8 },
      { 0x60, 0x04, 0x40, 0x02,     /* Attr[2], EP, Length 2 */
        0x00, 0x08, 0x07, 0x3c,     /* Last BE 3, First BE c */
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 },
      24 },
    { "IORd",
      { .type = ENCAP_TLP_IORD, .len_dw = 1, .requester_id = 0x0010,
        .tag = 1, .first_be = 0x3, .addr = 0xc010 },
      { 0x02, 0x00, 0x00, 0x01, 0x00, 0x10, 0x01, 0x03,
        0x00, 0x00, 0xc0, 0x10 },
      12 },
    { "IOWr",
      { .type = ENCAP_TLP_IOWR, .len_dw = 1, .requester_id = 0x0010,
        .tag = 2, .first_be = 0xf, .addr = 0xc014,
        .data = (const uint8_t *)"\xef\xbe\xad\xde" },
      { 0x42, 0x00, 0x00, 0x01, 0x00, 0x10, 0x02, 0x0f,
        0x00, 0x00, 0xc0, 0x14, 0xef, 0xbe, 0xad, 0xde },
      16 },
    { "CfgRd0",
      { .type = ENCAP_TLP_CFGRD0, .len_dw = 1, .requester_id = 0x0010,
        .tag = 3, .first_be = 0xf, .target_id = 0x0200, .reg = 0x10 },
      { 0x04, 0x00, 0x00, 0x01, 0x00, 0x10, 0x03, 0x0f,
        0x02, 0x00,                 /* Bus 2, Dev 0 Fn 0 */
        0x00, 0x10 },               /* Ext Reg 0, Reg Number 4 (<<2) */
      12 },
    { "CfgWr0, extended register",
      { .type = ENCAP_TLP_CFGWR0, .len_dw = 1, .requester_id = 0x0010,
        .tag = 4, .first_be = 0x3, .target_id = 0x0201, .reg = 0x104,
        .data = (const uint8_t *)"\x06\0\0\0" },
      { 0x44, 0x00, 0x00, 0x01, 0x00, 0x10, 0x04, 0x03,
        0x02, 0x01, 0x01, 0x04,     /* 02:00.1, Ext Reg 1, Reg 0x04 */
        0x06, 0x00, 0x00, 0x00 },
      16 },
    { "CfgRd1, last register of 05:1f.7",
      { .type = ENCAP_TLP_CFGRD1, .len_dw = 1, .requester_id = 0x0010,
        .tag = 5, .first_be = 0xf, .target_id = 0x05ff, .reg = 0xffc },
      { 0x05, 0x00, 0x00, 0x01, 0x00, 0x10, 0x05, 0x0f,
        0x05, 0xff, 0x0f, 0xfc },
      12 },
    { "CfgWr1",
      { .type = ENCAP_TLP_CFGWR1, .len_dw = 1, .requester_id = 0x0010,
        .tag = 6, .first_be = 0xf, .target_id = 0x0300, .reg = 0,
        .data = (const uint8_t *)"\x01\x02\x03\x04" },
      { 0x45, 0x00, 0x00, 0x01, 0x00, 0x10, 0x06, 0x0f,
        0x03, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04 },
      16 },
    { "Cpl UR, tag 0x3ff",
      { .type = ENCAP_TLP_CPL, .target_id = 0x0200, .status = ENCAP_CPL_UR,
        .byte_count = 4, .requester_id = 0x0010, .tag = 0x3ff },
      { 0x0a, 0x88, 0x00, 0x00,     /* T9 T8, Length reserved (0) */
        0x02, 0x00, 0x20, 0x04,     /* Completer, Status 001, Byte Count 4 */
        0x00, 0x10, 0xff, 0x00 },
      12 },
    { "Cpl CA with BCM, byte count 4096",
      { .type = ENCAP_TLP_CPL, .target_id = 0x0200, .status = ENCAP_CPL_CA,
        .bcm = true, .byte_count = 4096, .requester_id = 0x0010, .tag = 9,
        .lower_addr = 0x40 },
      { 0x0a, 0x00, 0x00, 0x00, 0x02, 0x00, 0x90, 0x00,
        0x00, 0x10, 0x09, 0x40 },
      12 },
    { "Cpl CRS",
      { .type = ENCAP_TLP_CPL, .target_id = 0x0200, .status = ENCAP_CPL_CRS,
        .byte_count = 4, .requester_id = 0x0010, .tag = 10 },
      { 0x0a, 0x00, 0x00, 0x00, 0x02, 0x00, 0x40, 0x04,
        0x00, 0x10, 0x0a, 0x00 },
      12 },
    { "CplD, byte count 0x123, lower address 0x44",
      { .type = ENCAP_TLP_CPLD, .len_dw = 2, .target_id = 0x0200,
        .status = ENCAP_CPL_SC, .byte_count = 0x123, .requester_id = 0x0008,
        .tag = 0x2a5, .lower_addr = 0x44, .data = data8 },
      { 0x4a, 0x80, 0x00, 0x02, 0x02, 0x00, 0x01, 0x23,
        0x00, 0x08, 0xa5, 0x44,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18 },
      20 },
    { "Msg Assert_INTA, local",
      { .type = ENCAP_TLP_MSG, .requester_id = 0x0100,
        .msg_code = ENCAP_MSG_ASSERT_INTA,
        .msg_routing = ENCAP_MSG_ROUTE_LOCAL },
      { 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20,
        0, 0, 0, 0, 0, 0, 0, 0 },
      16 },
    { "Msg Deassert_INTD, local",
      { .type = ENCAP_TLP_MSG, .requester_id = 0x0100,
        .msg_code = ENCAP_MSG_DEASSERT_INTD,
        .msg_routing = ENCAP_MSG_ROUTE_LOCAL },
      { 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x27,
        0, 0, 0, 0, 0, 0, 0, 0 },
      16 },
    { "MsgD routed by ID",
      { .type = ENCAP_TLP_MSGD, .len_dw = 1, .requester_id = 0x0100,
        .msg_code = 0x7f, .msg_routing = ENCAP_MSG_ROUTE_ID,
        .msg_hi = 0x0200000000001234ull,
        .data = (const uint8_t *)"\xaa\xbb\xcc\xdd" },
      { 0x72, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x7f,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34 },
      20 },
    { "Msg vrc hot reset, broadcast from the root complex",
      { .type = ENCAP_TLP_MSG, .requester_id = 0x0010,
        .msg_code = ENCAP_MSG_VENDOR_TYPE1,
        .msg_routing = ENCAP_MSG_ROUTE_BCAST,
        .msg_hi = 0x0000123448525354ull },
      { 0x33, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x7f,
        0x00, 0x00, 0x12, 0x34, 0x48, 0x52, 0x53, 0x54 },
      16 },
};

static void assert_tlp_equal(const struct encap_tlp *a, const struct encap_tlp *b)
{
    g_assert_cmpint(a->type, ==, b->type);
    g_assert_cmpint(a->addr64, ==, b->addr64);
    g_assert_cmpuint(a->tc, ==, b->tc);
    g_assert_cmpuint(a->attr, ==, b->attr);
    g_assert_cmpint(a->th, ==, b->th);
    g_assert_cmpint(a->ep, ==, b->ep);
    g_assert_cmpuint(a->len_dw, ==, b->len_dw);
    g_assert_cmphex(a->requester_id, ==, b->requester_id);
    g_assert_cmphex(a->tag, ==, b->tag);
    g_assert_cmphex(a->first_be, ==, b->first_be);
    g_assert_cmphex(a->last_be, ==, b->last_be);
    g_assert_cmphex(a->addr, ==, b->addr);
    g_assert_cmphex(a->target_id, ==, b->target_id);
    g_assert_cmphex(a->reg, ==, b->reg);
    g_assert_cmpuint(a->status, ==, b->status);
    g_assert_cmpint(a->bcm, ==, b->bcm);
    g_assert_cmpuint(a->byte_count, ==, b->byte_count);
    g_assert_cmphex(a->lower_addr, ==, b->lower_addr);
    g_assert_cmphex(a->msg_code, ==, b->msg_code);
    g_assert_cmpuint(a->msg_routing, ==, b->msg_routing);
    g_assert_cmphex(a->msg_hi, ==, b->msg_hi);
    if (encap_tlp_has_data(a->type)) {
        g_assert_cmpmem(a->data, a->len_dw * 4, b->data, b->len_dw * 4);
    } else {
        g_assert_null(b->data);
    }
}

static void test_golden(gconstpointer p)
{
    const struct golden *g = p;
    uint8_t buf[64], full[64];
    struct encap_tlp t;
    size_t total = encap_tlp_size(&g->tlp);

    /* The table holds the header and up to 8 data bytes; MsgD's data
     * follows its 16-byte header. */
    memcpy(full, g->bytes, g->len);
    if (g->tlp.type == ENCAP_TLP_MSGD) {
        memcpy(full + 16, g->tlp.data, 4);
    }
    g_assert_cmpuint(total, ==, g->len);
    g_assert_cmpint(encap_tlp_encode(&g->tlp, &lim, buf, sizeof(buf)), ==, total);
    g_assert_cmpmem(buf, total, full, total);
    g_assert_cmpint(encap_tlp_decode(full, total, &lim, &t), ==, 0);
    assert_tlp_equal(&g->tlp, &t);
    /* No space: nothing written past the end, error returned. */
    g_assert_cmpint(encap_tlp_encode(&g->tlp, &lim, buf, total - 1), ==,
                    -ENCAP_E_NOSPACE);
}

/* Length 1024 is 0 on the wire. */
static void test_length_1024(void)
{
    static uint8_t data[4096];
    uint8_t buf[4112];
    struct encap_tlp t = {
        .type = ENCAP_TLP_MWR, .len_dw = 1024, .first_be = 0xf,
        .last_be = 0xf, .addr = 0x10000, .data = data,
    }, d;

    g_assert_cmpint(encap_tlp_encode(&t, &lim, buf, sizeof(buf)), ==, 4108);
    g_assert_cmphex(buf[2] & 3, ==, 0);
    g_assert_cmphex(buf[3], ==, 0);
    g_assert_cmpint(encap_tlp_decode(buf, 4108, &lim, &d), ==, 0);
    g_assert_cmpuint(d.len_dw, ==, 1024);
}

/* A random TLP that the rules allow. */
static void random_tlp(GRand *r, struct encap_tlp *t, uint8_t *data)
{
    memset(t, 0, sizeof(*t));
    t->type = g_rand_int_range(r, 0, ENCAP_TLP__COUNT);
    t->requester_id = g_rand_int_range(r, 0, 0x10000);
    t->tag = g_rand_int_range(r, 0, 1024);
    t->ep = g_rand_boolean(r);
    for (int i = 0; i < 4096; i++) {
        data[i] = g_rand_int(r);
    }
    switch (t->type) {
    case ENCAP_TLP_MRD:
    case ENCAP_TLP_MWR: {
        uint64_t a = ((uint64_t)g_rand_int(r) << 32 | g_rand_int(r)) & ~3ull;
        t->tc = g_rand_int_range(r, 0, 8);
        t->attr = g_rand_int_range(r, 0, 8);
        t->th = g_rand_boolean(r);
        t->addr64 = g_rand_boolean(r);
        if (!t->addr64) {
            a &= UINT32_MAX;
        }
        t->addr = a;
        t->len_dw = g_rand_int_range(r, 1, (0x1000 - (a & 0xfff)) / 4 + 1);
        t->first_be = t->len_dw == 1 ? g_rand_int_range(r, 0, 16) : 0xf;
        t->last_be = t->len_dw == 1 ? 0 : 0x7;
        break;
    }
    case ENCAP_TLP_IORD:
    case ENCAP_TLP_IOWR:
        t->len_dw = 1;
        t->addr = g_rand_int(r) & ~3u;
        t->first_be = g_rand_int_range(r, 0, 16);
        break;
    case ENCAP_TLP_CPL:
    case ENCAP_TLP_CPLD: {
        static const uint8_t st[] = { 0, 1, 2, 4 };
        t->len_dw = t->type == ENCAP_TLP_CPLD ? g_rand_int_range(r, 1, 1025) : 0;
        t->status = t->type == ENCAP_TLP_CPLD ? 0 : st[g_rand_int_range(r, 0, 4)];
        t->target_id = g_rand_int_range(r, 0, 0x10000);
        t->byte_count = g_rand_int_range(r, 1, 4097);
        t->lower_addr = g_rand_int_range(r, 0, 128);
        t->bcm = g_rand_boolean(r);
        t->tc = g_rand_int_range(r, 0, 8);
        t->attr = g_rand_int_range(r, 0, 8);
        break;
    }
    case ENCAP_TLP_MSG:
    case ENCAP_TLP_MSGD:
        t->len_dw = t->type == ENCAP_TLP_MSGD ? g_rand_int_range(r, 1, 1025) : 0;
        t->msg_code = g_rand_int_range(r, 0, 256);
        t->msg_routing = g_rand_int_range(r, 0, 6);
        t->msg_hi = (uint64_t)g_rand_int(r) << 32 | g_rand_int(r);
        break;
    default:    /* Cfg */
        t->len_dw = 1;
        t->target_id = g_rand_int_range(r, 0, 0x10000);
        t->reg = g_rand_int_range(r, 0, 1024) * 4;
        t->first_be = g_rand_int_range(r, 0, 16);
        break;
    }
    if (encap_tlp_has_data(t->type)) {
        t->data = data;
    }
}

static void test_round_trip(void)
{
    GRand *r = g_rand_new_with_seed(0x5eed);
    static uint8_t data[4096], buf[4112];

    for (int i = 0; i < 20000; i++) {
        struct encap_tlp t, d;
        int n;

        random_tlp(r, &t, data);
        n = encap_tlp_encode(&t, &lim, buf, sizeof(buf));
        g_assert_cmpint(n, ==, encap_tlp_size(&t));
        g_assert_cmpint(encap_tlp_decode(buf, n, &lim, &d), ==, 0);
        assert_tlp_equal(&t, &d);
    }
    g_rand_free(r);
}

/* decode(@bytes) fails with @err. */
static void expect_reject(const uint8_t *bytes, size_t len,
                          const struct encap_tlp_limits *l, int err)
{
    struct encap_tlp t;

    g_assert_cmpstr(encap_strerror(encap_tlp_decode(bytes, len, l, &t)), ==,
                    encap_strerror(err));
}

static void test_reject(void)
{
    static const struct encap_tlp_limits small = { .mps = 128 };
    static uint8_t big[16 + 256];
    struct encap_tlp t;
    uint8_t b[32];

    /* short */
    expect_reject(goldens[0].bytes, 8, &lim, -ENCAP_E_SHORT);
    expect_reject(goldens[1].bytes, 12, &lim, -ENCAP_E_SHORT);   /* 4DW cut */
    /* fmt-type: a TLP prefix, MRdLk, TD=1, a 4 DW Cfg, a 3 DW Msg */
    memcpy(b, goldens[0].bytes, 12);
    b[0] = 0x80;
    expect_reject(b, 12, &lim, -ENCAP_E_FMT_TYPE);
    b[0] = 0x01;
    expect_reject(b, 12, &lim, -ENCAP_E_FMT_TYPE);
    b[0] = 0x00;
    b[2] = 0x80;
    expect_reject(b, 12, &lim, -ENCAP_E_FMT_TYPE);
    memcpy(b, goldens[6].bytes, 12);
    b[0] = 0x24;
    expect_reject(b, 16, &lim, -ENCAP_E_FMT_TYPE);
    b[0] = 0x14;
    expect_reject(b, 12, &lim, -ENCAP_E_FMT_TYPE);
    /* length: extra bytes, missing data, Cfg with Length 2 */
    memset(b, 0, sizeof(b));
    memcpy(b, goldens[0].bytes, 12);
    expect_reject(b, 16, &lim, -ENCAP_E_LENGTH);
    memcpy(b, goldens[3].bytes, 24);
    expect_reject(b, 20, &lim, -ENCAP_E_LENGTH);
    memcpy(b, goldens[6].bytes, 12);
    b[3] = 2;
    expect_reject(b, 12, &lim, -ENCAP_E_LENGTH);
    /* 4k-cross: MRd of 2 DW at 0xffc */
    memcpy(b, goldens[0].bytes, 12);
    b[3] = 2;
    b[7] = 0xff;
    b[8] = 0; b[9] = 0; b[10] = 0x0f; b[11] = 0xfc;
    expect_reject(b, 12, &lim, -ENCAP_E_4K);
    /* byte-enables */
    memcpy(b, goldens[0].bytes, 12);
    b[7] = 0x1f;                        /* Length 1 with Last BE */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    b[3] = 2;
    b[7] = 0xf0;                        /* Length 2, First BE 0 */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    b[7] = 0x0f;                        /* Length 2, Last BE 0 */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    b[3] = 3;
    b[7] = 0xf5;                        /* Length 3, First BE 0101 */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    b[3] = 2;
    b[11] = 0x14;                       /* Length 2, not QW aligned */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    b[11] = 0x10;                       /* ... QW aligned: allowed */
    g_assert_cmpint(encap_tlp_decode(b, 12, &lim, &t), ==, 0);
    memcpy(b, goldens[6].bytes, 12);
    b[7] = 0x1f;                        /* Cfg with Last BE */
    expect_reject(b, 12, &lim, -ENCAP_E_BE);
    /* mps: 256-byte MWr against MPS 128 */
    memcpy(big, goldens[2].bytes, 12);
    big[3] = 64;
    big[7] = 0xff;
    expect_reject(big, 12 + 256, &small, -ENCAP_E_MPS);
    g_assert_cmpint(encap_tlp_decode(big, 12 + 256, &lim, &t), ==, 0);
    /* align: reserved low bits of a Cfg register, of an address */
    memcpy(b, goldens[6].bytes, 12);
    b[11] |= 1;
    expect_reject(b, 12, &lim, -ENCAP_E_ALIGN);
    memcpy(b, goldens[0].bytes, 12);
    b[11] |= 2;
    expect_reject(b, 12, &lim, -ENCAP_E_ALIGN);
    /* field: TC on Cfg, reserved completion status, unknown routing */
    memcpy(b, goldens[6].bytes, 12);
    b[1] = 0x10;
    expect_reject(b, 12, &lim, -ENCAP_E_FIELD);
    memcpy(b, goldens[10].bytes, 12);
    b[6] = 0x60;
    expect_reject(b, 12, &lim, -ENCAP_E_FIELD);
    memcpy(b, goldens[14].bytes, 16);
    b[0] = 0x36;
    expect_reject(b, 16, &lim, -ENCAP_E_FIELD);

    /* The encoder refuses the same things. */
    t = goldens[0].tlp;
    t.addr = 0x100000000ull;            /* 3DW header above 4 GiB */
    g_assert_cmpint(encap_tlp_encode(&t, &lim, b, sizeof(b)), ==, -ENCAP_E_FIELD);
    t = goldens[0].tlp;
    t.td = true;
    g_assert_cmpint(encap_tlp_encode(&t, &lim, b, sizeof(b)), ==, -ENCAP_E_FMT_TYPE);
    t = goldens[0].tlp;
    t.tag = 1024;
    g_assert_cmpint(encap_tlp_encode(&t, &lim, b, sizeof(b)), ==, -ENCAP_E_FIELD);
    t = goldens[10].tlp;
    t.len_dw = 1;                       /* Cpl Length is reserved */
    g_assert_cmpint(encap_tlp_encode(&t, &lim, b, sizeof(b)), ==, -ENCAP_E_LENGTH);
    t = goldens[4].tlp;
    t.addr = 0xc011;
    g_assert_cmpint(encap_tlp_encode(&t, &lim, b, sizeof(b)), ==, -ENCAP_E_ALIGN);
}

/* vrc's hot reset message: built as the golden says, and recognised only
 * with vrc's Vendor ID and code. */
/*
 * Request or completion, for the link's request credit: every golden TLP
 * by its decoded type, and by Type alone the locked completions and
 * TLPs that do not decode.
 */
static void test_is_request(void)
{
    static const uint8_t cpllk[12] = { 0x0b }, cpldlk[12] = { 0x4b };
    static const uint8_t unknown[12] = { 0x1f }, prefix[12] = { 0x80 };

    for (size_t i = 0; i < G_N_ELEMENTS(goldens); i++) {
        const struct golden *g = &goldens[i];
        bool cpl = g->tlp.type == ENCAP_TLP_CPL || g->tlp.type == ENCAP_TLP_CPLD;

        g_assert_cmpint(encap_tlp_is_request(g->bytes, g->len), ==, !cpl);
    }
    g_assert_false(encap_tlp_is_request(cpllk, sizeof(cpllk)));
    g_assert_false(encap_tlp_is_request(cpldlk, sizeof(cpldlk)));
    g_assert_true(encap_tlp_is_request(unknown, sizeof(unknown)));
    g_assert_true(encap_tlp_is_request(prefix, sizeof(prefix)));
}

static void test_hot_reset(void)
{
    const struct golden *g = &goldens[G_N_ELEMENTS(goldens) - 1];
    uint8_t buf[16];
    struct encap_tlp t, d;

    encap_tlp_hot_reset(&t, 0x0010);
    g_assert_cmpint(encap_tlp_encode(&t, &lim, buf, sizeof(buf)), ==, 16);
    g_assert_cmpmem(buf, 16, g->bytes, 16);
    g_assert_cmpint(encap_tlp_decode(buf, 16, &lim, &d), ==, 0);
    g_assert_true(encap_tlp_is_hot_reset(&d));
    d.msg_hi ^= 1ull << 32;                         /* another vendor */
    g_assert_false(encap_tlp_is_hot_reset(&d));
    d.msg_hi ^= 1ull << 32 | 1;                     /* another message */
    g_assert_false(encap_tlp_is_hot_reset(&d));
    d.msg_hi ^= 1;
    d.msg_code = ENCAP_MSG_ASSERT_INTA;
    g_assert_false(encap_tlp_is_hot_reset(&d));
}

static void test_names(void)
{
    g_assert_cmpstr(encap_tlp_type_name(ENCAP_TLP_CFGWR1), ==, "CfgWr1");
    g_assert_cmpstr(encap_tlp_type_name(ENCAP_TLP__COUNT), ==, "?");
    g_assert_cmpstr(encap_strerror(-ENCAP_E_4K), ==, "4k-cross");
    g_assert_cmpstr(encap_strerror(ENCAP_E_BE), ==, "byte-enables");
    g_assert_cmpstr(encap_strerror(-999), ==, "unknown");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(goldens); i++) {
        g_autofree char *path = g_strdup_printf("/tlp/golden/%zu", i);
        g_test_add_data_func(path, &goldens[i], test_golden);
    }
    g_test_add_func("/tlp/length-1024", test_length_1024);
    g_test_add_func("/tlp/round-trip", test_round_trip);
    g_test_add_func("/tlp/reject", test_reject);
    g_test_add_func("/tlp/hot-reset", test_hot_reset);
    g_test_add_func("/tlp/is-request", test_is_request);
    g_test_add_func("/tlp/names", test_names);
    return g_test_run();
}
