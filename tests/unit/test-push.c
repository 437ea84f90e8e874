/* SPDX-License-Identifier: MIT */
/* Unit tests for a doorbell's pushed reads (encap/push.h). */
#include <glib.h>
#include <string.h>

#include "encap/err.h"
#include "encap/push.h"
#include "encap/readahead.h"
#include "encap/tlp.h"

#define MS  1000000LL

static uint8_t pattern[ENCAP_PUSH_MAX_DATA];

static void fill_pattern(void)
{
    for (unsigned i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)(i * 7 + 3);
    }
}

/* A push of @n windows of 256 bytes at 0x1000, 0x2000, ... */
static struct encap_push mk_push(uint64_t key, unsigned n, uint32_t writes)
{
    struct encap_push p = { .key = key, .writes = writes, .n = n,
                            .reads = 5, .data = pattern, .bell_be = 0x0f,
                            .bell_dw = 1,
                            .bell = { 1 } };

    for (unsigned i = 0; i < n; i++) {
        p.r[i] = (struct encap_push_range) { 0x1000 * (i + 1), 256 };
    }
    return p;
}

static void test_codec(void)
{
    struct encap_push p = mk_push(0xfebf0000ull, 3, 77), q;
    uint8_t buf[4096];
    int len;

    p.r[1].len = 6;                 /* not a DW multiple: padded */
    len = encap_push_encode(&p, true, buf, sizeof(buf));
    g_assert_cmpint(len, ==, encap_push_size(&p, true));
    g_assert_cmpint(len % 4, ==, 0);
    g_assert_cmpint(len, ==, 32 + 3 * 16 + 256 + 8 + 256);
    g_assert_cmpint(encap_push_decode(buf, len, true, &q), ==, 0);
    g_assert_true(encap_push_same(&p, &q));
    g_assert_cmpuint(q.writes, ==, 77);
    g_assert_cmpuint(q.reads, ==, 5);
    g_assert_cmpuint(q.bell_be, ==, 0x0f);
    g_assert_cmpmem(q.bell, 8, p.bell, 8);
    g_assert_cmpmem(q.data, 518, pattern, 518);

    /* A hint carries no data. */
    len = encap_push_encode(&p, false, buf, sizeof(buf));
    g_assert_cmpint(len, ==, 32 + 3 * 16);
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, 0);
    g_assert_true(encap_push_same(&p, &q));
    g_assert_null(q.data);

    /* Room. */
    g_assert_cmpint(encap_push_encode(&p, true, buf, 100), ==,
                    -ENCAP_E_NOSPACE);
    g_assert_true(encap_push_fits(3, 518, 32 + 3 * 16 + 520));
    g_assert_false(encap_push_fits(3, 518, 32 + 3 * 16 + 516));
    g_assert_false(encap_push_fits(ENCAP_PUSH_MAX_RANGES + 1, 8, 4096));
    g_assert_false(encap_push_fits(1, ENCAP_PUSH_MAX_DATA + 1, 4096));
}

static void test_decode_bad(void)
{
    struct encap_push p = mk_push(0x1000, 2, 0), q;
    uint8_t buf[1024];
    int len = encap_push_encode(&p, true, buf, sizeof(buf));

    g_assert_cmpint(len, >, 0);
    /* Short anywhere: header, ranges, data. */
    g_assert_cmpint(encap_push_decode(buf, 31, true, &q), ==, -ENCAP_E_SHORT);
    g_assert_cmpint(encap_push_decode(buf, 56, true, &q), ==, -ENCAP_E_SHORT);
    g_assert_cmpint(encap_push_decode(buf, len - 4, true, &q), ==,
                    -ENCAP_E_SHORT);
    /* Too many ranges. */
    buf[16] = ENCAP_PUSH_MAX_RANGES + 1;
    g_assert_cmpint(encap_push_decode(buf, len, true, &q), ==, -ENCAP_E_FIELD);
    buf[16] = 2;
    /* A doorbell of three DWs. */
    buf[18] = 3;
    g_assert_cmpint(encap_push_decode(buf, len, true, &q), ==, -ENCAP_E_FIELD);
    buf[18] = 1;
    /* An empty range; one that wraps; more data than a push holds. */
    buf[32 + 11] = 0; buf[32 + 10] = 0;
    g_assert_cmpint(encap_push_decode(buf, len, true, &q), ==, -ENCAP_E_FIELD);
    len = encap_push_encode(&p, true, buf, sizeof(buf));
    memset(buf + 32, 0xff, 8);
    g_assert_cmpint(encap_push_decode(buf, len, true, &q), ==, -ENCAP_E_FIELD);
    p.r[0].len = ENCAP_PUSH_MAX_DATA;
    g_assert_cmpint(encap_push_encode(&p, false, buf, sizeof(buf)), ==,
                    -ENCAP_E_LENGTH);
    /* Any bytes at all: no crash, and a valid result is self-consistent. */
    for (unsigned seed = 0; seed < 2000; seed++) {
        GRand *r = g_rand_new_with_seed(seed);
        size_t n = g_rand_int_range(r, 0, sizeof(buf));

        for (size_t i = 0; i < n; i++) {
            buf[i] = g_rand_int_range(r, 0, 4) ? 0 : g_rand_int(r);
        }
        buf[16] = g_rand_int_range(r, 0, 10);
        buf[18] = g_rand_int_range(r, 0, 4);
        if (encap_push_decode(buf, n, true, &q) == 0) {
            g_assert_cmpuint(q.n, <=, ENCAP_PUSH_MAX_RANGES);
            g_assert_cmpuint(encap_push_size(&q, true), <=, n + 3);
        }
        g_rand_free(r);
    }
}

static void test_hints(void)
{
    struct encap_hints h;
    struct encap_push p, got;

    encap_hints_clear(&h);
    g_assert_false(encap_hints_get(&h, 0x10, &got));
    p = mk_push(0x10, 2, 5);
    encap_hints_put(&h, &p);
    g_assert_true(encap_hints_get(&h, 0x10, &got));
    g_assert_true(encap_push_same(&p, &got));
    g_assert_null(got.data);
    g_assert_cmpuint(got.writes, ==, 0);
    /* Replaced in place. */
    p = mk_push(0x10, 1, 0);
    encap_hints_put(&h, &p);
    g_assert_true(encap_hints_get(&h, 0x10, &got));
    g_assert_cmpuint(got.n, ==, 1);
    /* The least recently put goes first. */
    for (unsigned i = 1; i <= ENCAP_HINTS; i++) {
        p = mk_push(0x10 + i * 4, 1, 0);
        encap_hints_put(&h, &p);
    }
    g_assert_false(encap_hints_get(&h, 0x10, &got));
    g_assert_true(encap_hints_get(&h, 0x14, &got));
    /* No ranges: forgotten. */
    p = mk_push(0x14, 0, 0);
    encap_hints_put(&h, &p);
    g_assert_false(encap_hints_get(&h, 0x14, &got));
    g_assert_true(encap_hints_get(&h, 0x18, &got));
}

/* A doorbell: a DW write of @v at @addr. */
static void bell(struct encap_offer *o, uint64_t addr, uint8_t v, bool mwr)
{
    uint8_t data[4] = { v };
    struct encap_tlp t = {
        .type = mwr ? ENCAP_TLP_MWR : ENCAP_TLP_MRD, .addr = addr,
        .len_dw = 1, .first_be = 0xf, .data = mwr ? data : NULL,
    };

    encap_offer_request(o, &t, 0);
}

static unsigned serve(struct encap_offer *o, const uint64_t *addrs,
                      unsigned n, uint8_t (*bufs)[256], int64_t now)
{
    struct encap_ra_range r[ENCAP_RA_MAX_WINDOWS];

    for (unsigned i = 0; i < n; i++) {
        r[i] = (struct encap_ra_range) { addrs[i], 256, bufs[i] };
    }
    return encap_offer_serve(o, r, n, now);
}

static void test_offer(void)
{
    struct encap_offer o;
    struct encap_push p = mk_push(0xd0, 3, 9);
    uint8_t bufs[4][256];
    const uint64_t all[] = { 0x1000, 0x2000, 0x3000 };
    const uint64_t gap[] = { 0x1000, 0x3000, 0x2000 };
    const uint64_t other[] = { 0x2000, 0x5000 };
    const uint64_t twice[] = { 0x1000, 0x1000 };

    struct encap_wlog w;

    encap_wlog_reset(&w);
    for (unsigned i = 0; i < 9; i++) {
        encap_wlog_add(&w, 0x9000 + i * 4, 4);
    }
    encap_offer_init(&o, 2 * MS);
    /* Not live: serves nothing. */
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);

    /* A device write into a pushed range on its way when the copy was
     * made: refused. */
    encap_wlog_add(&w, 0x2010, 8);
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpuint(o.st.stale, ==, 1);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* The copy came after it: fine. */
    p.writes = 10;
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_ARMED);
    /* Writes elsewhere on their way: fine too. */
    encap_wlog_add(&w, 0x3100, 64);
    encap_wlog_add(&w, 0xfee00000, 4);
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_ARMED);
    g_assert_cmpuint(o.st.overtaken, ==, 1);
    /* A write just touching the last byte of a range. */
    encap_wlog_add(&w, 0x30fc, 4);
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_NONE);
    /* More writes than were sent, or more than the log holds. */
    p.writes = 14;
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_NONE);
    p.writes = 13;
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_ARMED);
    for (unsigned i = 0; i <= ENCAP_WLOG; i++) {
        encap_wlog_add(&w, 0x9000, 4);
    }
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_NONE);
    p.writes = 14;
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_ARMED);
    p.writes = w.count;

    /* Its doorbell makes it live; it serves one fetch, whole. */
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_ARMED);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_LIVE);
    g_assert_cmpuint(serve(&o, all, 3, bufs, MS), ==, 3);
    g_assert_cmpmem(bufs[0], 256, pattern, 256);
    g_assert_cmpmem(bufs[2], 256, pattern + 512, 256);
    g_assert_cmpuint(serve(&o, all, 3, bufs, MS), ==, 0);

    /* Out of order: only the prefix that follows the push's order. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, gap, 3, bufs, 0), ==, 2);
    g_assert_cmpmem(bufs[1], 256, pattern + 512, 256);
    g_assert_cmpuint(o.st.partial, ==, 1);
    /* A window twice is two copies: the push has one. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, twice, 2, bufs, 0), ==, 1);
    /* A part of a pushed window. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    {
        uint8_t b[8];
        struct encap_ra_range r = { 0x2010, 8, b };

        g_assert_cmpuint(encap_offer_serve(&o, &r, 1, 0), ==, 1);
        g_assert_cmpmem(b, 8, pattern + 256 + 0x10, 8);
    }
    /* A first range it does not hold: nothing, and the offer is gone. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, other + 1, 1, bufs, 0), ==, 0);
    g_assert_cmpuint(serve(&o, other, 2, bufs, 0), ==, 0);

    /* Another request first, or another doorbell: dropped. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, false);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd4, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* A copy older than one the device already read: refused. */
    encap_offer_push(&o, &p, &w, 6);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* A fetch between the push and its doorbell: its bytes are newer. */
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpuint(serve(&o, other + 1, 1, bufs, 0), ==, 0);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* Its address with other bytes: another doorbell, dropped. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 2, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* A request after its doorbell, before the fetch: dropped. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* A write of the device: dropped. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    encap_offer_drop(&o);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 0), ==, 0);
    /* Expired. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, all, 3, bufs, 2 * MS + 1), ==, 0);
    /* A push with no data, or with none that fits, arms nothing. */
    p.data = NULL;
    encap_offer_push(&o, &p, &w, 5);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_NONE);
}

/* An offer serves fetch after fetch, each after what it served before. */
static void test_offer_later(void)
{
    struct encap_offer o;
    struct encap_push p = mk_push(0xd0, 3, 0);
    struct encap_wlog w;
    uint8_t bufs[4][256];
    const uint64_t first[] = { 0x1000 }, third[] = { 0x3000 };
    const uint64_t second[] = { 0x2000 }, gap[] = { 0x1000, 0x3000 };

    encap_wlog_reset(&w);
    encap_offer_init(&o, 2 * MS);
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, first, 1, bufs, 0), ==, 1);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_LIVE);
    g_assert_cmpuint(serve(&o, third, 1, bufs, 0), ==, 1);
    g_assert_cmpmem(bufs[0], 256, pattern + 512, 256);
    g_assert_cmpuint(o.st.later, ==, 1);
    /* A range copied before the last one served: to the link, and the
     * offer is gone (what the link brings is newer than all of it). */
    g_assert_cmpuint(serve(&o, second, 1, bufs, 0), ==, 0);
    g_assert_cmpint(o.state, ==, ENCAP_OFFER_NONE);
    g_assert_cmpuint(o.st.missed, ==, 0);
    /* A prefix leaves the rest unread: it serves on, after the prefix. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, gap, 2, bufs, 0), ==, 2);
    g_assert_cmpuint(serve(&o, second, 1, bufs, 0), ==, 0);
    /* Served, then a write of the device: not counted as missed. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, first, 1, bufs, 0), ==, 1);
    encap_offer_drop(&o);
    g_assert_cmpuint(serve(&o, third, 1, bufs, 0), ==, 0);
    g_assert_cmpuint(o.st.missed, ==, 0);
    /* Expiry holds for the later fetches too. */
    encap_offer_push(&o, &p, &w, 5);
    bell(&o, 0xd0, 1, true);
    g_assert_cmpuint(serve(&o, first, 1, bufs, MS), ==, 1);
    g_assert_cmpuint(serve(&o, third, 1, bufs, 2 * MS + 1), ==, 0);
}

/* A HINT's chase on the wire: big-endian after the ranges. */
static void test_chase_codec(void)
{
    struct encap_push p = mk_push(0xfebf3818ull, 2, 0), q;
    const uint8_t golden[16] = {
        0, 0, 0, 0, 0x12, 0x34, 0x4f, 0xf0,     /* base */
        0, 0x10, 0, 0x40,                       /* stride, small */
        0x05, 0xea,                             /* len */
        8, 8,                                   /* len_at, align */
    };
    uint8_t buf[1024];
    int len;

    p.chase = (struct encap_chase) {
        .on = true, .base = 0x12344ff0, .stride = 16, .small = 64,
        .len = 1514, .len_at = 8, .align = 8,
    };
    len = encap_push_encode(&p, false, buf, sizeof(buf));
    g_assert_cmpint(len, ==, 32 + 2 * 16 + 16);
    g_assert_cmphex(buf[19], ==, 1);
    g_assert_cmpmem(buf + 64, 16, golden, 16);
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, 0);
    g_assert_true(encap_push_same(&p, &q));
    g_assert_cmpint(q.chase.len_at, ==, 8);
    /* Short of it, or out of range. */
    g_assert_cmpint(encap_push_decode(buf, len - 4, false, &q), ==,
                    -ENCAP_E_SHORT);
    buf[64 + 9] = 0;                                /* stride 0 */
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, -ENCAP_E_FIELD);
    buf[64 + 8] = 0x20;                             /* stride 8192 */
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, -ENCAP_E_FIELD);
    buf[64 + 8] = 0;
    buf[64 + 9] = 0x10;
    buf[64 + 15] = ENCAP_CHASE_MAX_ALIGN + 1;
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, -ENCAP_E_FIELD);
    buf[64 + 15] = 8;
    buf[64 + 14] = 100;                             /* len_at */
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, -ENCAP_E_FIELD);
    buf[64 + 14] = (uint8_t)ENCAP_CHASE_NO_LEN;
    g_assert_cmpint(encap_push_decode(buf, len, false, &q), ==, 0);
    /* Another chase is another hint; the table keeps it. */
    q.chase.len_at = 8;
    q.chase.stride = 32;
    g_assert_false(encap_push_same(&p, &q));
    {
        struct encap_hints h;
        struct encap_push got;

        encap_hints_clear(&h);
        encap_hints_put(&h, &p);
        g_assert_true(encap_hints_get(&h, p.key, &got));
        g_assert_true(encap_push_same(&p, &got));
    }
}

/* Little-endian stores, as a guest writes its descriptors. */
static void st64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b[i] = v >> (8 * i);
    }
}

/* The memory side follows the pointer in its copy. */
static void test_chase_target(void)
{
    uint8_t ring[512] = { 0 };
    struct encap_push p = {
        .key = 0x3818, .n = 2, .data = ring,
        .r = { { 0x10000, 256 }, { 0x10100, 256 } },
        .chase = { .on = true, .base = 0x10000 - 16, .stride = 16,
                   .small = 128, .len_at = 8, .align = 8 },
    };
    struct encap_push_range r;

    /* Descriptor 5 (tail 6): a 98-byte buffer at 0x7f0012, a small read
     * the device side fetches in a window. */
    st64(ring + 5 * 16, 0x7f0012);
    ring[5 * 16 + 8] = 98;
    g_assert_true(encap_chase_target(&p, 6, &r));
    g_assert_cmphex(r.addr, ==, 0x7f0000);
    g_assert_cmpuint(r.len, ==, 256);
    /* In the second window; across a window boundary: two windows. */
    st64(ring + 20 * 16, 0x7f00f0);
    ring[20 * 16 + 8] = 98;
    g_assert_true(encap_chase_target(&p, 21, &r));
    g_assert_cmphex(r.addr, ==, 0x7f0000);
    g_assert_cmpuint(r.len, ==, 512);
    /* Not small: the bytes as they are. */
    p.chase.small = 64;
    g_assert_true(encap_chase_target(&p, 21, &r));
    g_assert_cmphex(r.addr, ==, 0x7f00f0);
    g_assert_cmpuint(r.len, ==, 98);
    /* A fixed length instead: small again. */
    p.chase.len_at = ENCAP_CHASE_NO_LEN;
    p.chase.len = 60;
    g_assert_true(encap_chase_target(&p, 21, &r));
    g_assert_cmphex(r.addr, ==, 0x7f0000);
    g_assert_cmpuint(r.len, ==, 512);
    p.chase.len_at = 8;
    p.chase.small = 128;
    /* A pointer outside the copy (tail 0 wraps to "descriptor -1"), or
     * straddling its end: nothing. */
    g_assert_false(encap_chase_target(&p, 0, &r));
    g_assert_false(encap_chase_target(&p, 33, &r));
    g_assert_false(encap_chase_target(&p, 0xffffffff, &r));
    /* Lengths: none, too long, wrapping. */
    ring[20 * 16 + 8] = 0;
    g_assert_false(encap_chase_target(&p, 21, &r));
    ring[20 * 16 + 8] = 0x01;
    ring[20 * 16 + 9] = 0x08;                   /* 2049 */
    g_assert_false(encap_chase_target(&p, 21, &r));
    ring[20 * 16 + 8] = 98;
    ring[20 * 16 + 9] = 0;
    st64(ring + 20 * 16, UINT64_MAX - 8);
    g_assert_false(encap_chase_target(&p, 21, &r));
    p.chase.align = 12;
    st64(ring + 20 * 16, 0x7f0ff0);             /* two pages: too much */
    g_assert_false(encap_chase_target(&p, 21, &r));
    /* Off, or no copy. */
    p.chase.align = 8;
    g_assert_true(encap_chase_target(&p, 21, &r));
    p.data = NULL;
    g_assert_false(encap_chase_target(&p, 21, &r));
    p.data = ring;
    p.chase.on = false;
    g_assert_false(encap_chase_target(&p, 21, &r));
}

/* The device side finds the pointer a read took its address from. */
static void test_chase_find(void)
{
    uint8_t d[64] = { 0 };
    uint64_t at;
    int len_at;

    st64(d + 16, 0xabc012);
    d[24] = 98;
    g_assert_true(encap_chase_find(d, 32, 0x5000, 0xabc012, 98, &at, &len_at));
    g_assert_cmphex(at, ==, 0x5010);
    g_assert_cmpint(len_at, ==, 8);
    /* The length before the pointer (an NVMe-like layout). */
    d[24] = 0;
    d[4] = 98;
    g_assert_true(encap_chase_find(d, 32, 0x5000, 0xabc012, 98, &at, &len_at));
    g_assert_cmpint(len_at, ==, -12);
    /* No length near it. */
    d[4] = 0;
    g_assert_true(encap_chase_find(d, 32, 0x5000, 0xabc012, 98, &at, &len_at));
    g_assert_cmpint(len_at, ==, ENCAP_CHASE_NO_LEN);
    /* Only naturally aligned pointers; nothing else matches. */
    g_assert_false(encap_chase_find(d, 32, 0x5004, 0xabc012, 98, &at,
                                    &len_at));
    g_assert_false(encap_chase_find(d, 32, 0x5000, 0xabc013, 98, &at,
                                    &len_at));
    g_assert_false(encap_chase_find(d, 23, 0x5000, 0xabc012, 98, &at,
                                    &len_at));
    /* A read that starts mid-word: the next aligned word. */
    g_assert_true(encap_chase_find(d + 4, 28, 0x5004, 0xabc012, 98, &at,
                                   &len_at));
    g_assert_cmphex(at, ==, 0x5010);
}

/* The device side learns where a doorbell's pointer sits. */
static void test_chaser(void)
{
    struct encap_chaser c;
    struct encap_chase got;
    const uint64_t ring = 0x10000;

    encap_chaser_clear(&c);
    /* Tail v: the pointer in descriptor v - 1. */
    g_assert_false(encap_chaser_see(&c, 0x3818, 5, ring + 4 * 16, 98, 8));
    g_assert_false(encap_chaser_see(&c, 0x3818, 6, ring + 5 * 16, 98, 8));
    encap_chaser_get(&c, 0x3818, &got);
    g_assert_false(got.on);
    /* Two steps of one stride: a chase. */
    g_assert_true(encap_chaser_see(&c, 0x3818, 8, ring + 7 * 16, 98, 8));
    encap_chaser_get(&c, 0x3818, &got);
    g_assert_true(got.on);
    g_assert_cmphex(got.base, ==, ring - 16);
    g_assert_cmpuint(got.stride, ==, 16);
    g_assert_cmpint(got.len_at, ==, 8);
    /* It holds: nothing changes.  A wrap gives no stride: it stays. */
    g_assert_false(encap_chaser_see(&c, 0x3818, 9, ring + 8 * 16, 98, 8));
    g_assert_false(encap_chaser_see(&c, 0x3818, 0, ring + 255 * 16, 98, 8));
    g_assert_false(encap_chaser_see(&c, 0x3818, 1, ring, 98, 8));
    /* No length found once: the one found before stays. */
    g_assert_false(encap_chaser_see(&c, 0x3818, 2, ring + 16, 1500,
                                    ENCAP_CHASE_NO_LEN));
    /* The ring moves: two steps of the new one move the chase. */
    g_assert_false(encap_chaser_see(&c, 0x3818, 3, 0x90000 + 2 * 16, 98, 8));
    g_assert_false(encap_chaser_see(&c, 0x3818, 4, 0x90000 + 3 * 16, 98, 8));
    g_assert_true(encap_chaser_see(&c, 0x3818, 5, 0x90000 + 4 * 16, 98, 8));
    encap_chaser_get(&c, 0x3818, &got);
    g_assert_cmphex(got.base, ==, 0x90000 - 16);
    /* A doorbell whose value says nothing of where (a queue number):
     * never a chase. */
    for (unsigned i = 0; i < 8; i++) {
        g_assert_false(encap_chaser_see(&c, 0x4000, 1, 0x20000 + i * 16, 64,
                                        ENCAP_CHASE_NO_LEN));
    }
    encap_chaser_get(&c, 0x4000, &got);
    g_assert_false(got.on);
    /* A stride over steps of two; steps too long for one: none. */
    encap_chaser_see(&c, 0x5000, 1, 0x1000, 64, 8);
    encap_chaser_see(&c, 0x5000, 3, 0x1010, 64, 8);
    encap_chaser_see(&c, 0x5000, 5, 0x1020, 64, 8);
    encap_chaser_see(&c, 0x6000, 1, 0x1000, 64, 8);
    encap_chaser_see(&c, 0x6000, 2, 0x100000, 64, 8);
    encap_chaser_see(&c, 0x6000, 3, 0x1ff000, 64, 8);
    encap_chaser_get(&c, 0x5000, &got);
    g_assert_true(got.on);
    g_assert_cmpuint(got.stride, ==, 8);
    encap_chaser_get(&c, 0x6000, &got);
    g_assert_false(got.on);
    /* Without a length, the longest read seen. */
    encap_chaser_see(&c, 0x7000, 1, 0x1000, 64, ENCAP_CHASE_NO_LEN);
    encap_chaser_see(&c, 0x7000, 2, 0x1040, 64, ENCAP_CHASE_NO_LEN);
    encap_chaser_see(&c, 0x7000, 3, 0x1080, 100, ENCAP_CHASE_NO_LEN);
    g_assert_true(encap_chaser_see(&c, 0x7000, 4, 0x10c0, 4096,
                                   ENCAP_CHASE_NO_LEN));
    encap_chaser_get(&c, 0x7000, &got);
    g_assert_cmpint(got.len_at, ==, ENCAP_CHASE_NO_LEN);
    g_assert_cmpuint(got.len, ==, ENCAP_PUSH_MAX_DATA);
    /* The least recently seen doorbell goes first. */
    for (unsigned i = 0; i < ENCAP_HINTS; i++) {
        encap_chaser_see(&c, 0x100000 + i * 4, 1, 0x1000, 64, 8);
    }
    encap_chaser_get(&c, 0x3818, &got);
    g_assert_false(got.on);
}

/*
 * The read-ahead over a fetch function that may serve a prefix from a
 * copy: windows it did not return are not cached, and a read in them goes
 * to the link.
 */
typedef struct Two {
    uint8_t mem[0x4000];
    unsigned link_fetches;
    unsigned link_ranges;
    unsigned prefix;            /* ranges the "copy" serves (stale data) */
} Two;

static int two_fetch(void *opaque, const struct encap_ra_range *r, unsigned n)
{
    Two *t = opaque;

    if (t->prefix) {
        unsigned k = MIN(t->prefix, n);

        for (unsigned i = 0; i < k; i++) {
            memset(r[i].buf, 0xee, r[i].len);
        }
        t->prefix = 0;
        return k;
    }
    t->link_fetches++;
    for (unsigned i = 0; i < n; i++) {
        memcpy(r[i].buf, t->mem + r[i].addr, r[i].len);
        t->link_ranges++;
    }
    return 0;
}

static void test_readahead_prefix(void)
{
    const struct encap_ra_config cfg = { .window = 256, .max_small = 64,
                                         .max_windows = 4 };
    Two t = { 0 };
    struct encap_ra *ra = encap_ra_new(&cfg, two_fetch, &t);
    uint32_t v;

    for (unsigned i = 0; i < sizeof(t.mem); i++) {
        t.mem[i] = i / 256 + 1;
    }
    /* Teach it: a miss at 0x100, then reads at 0x200 and 0x300. */
    encap_ra_read(ra, 0x100, &v, 4);
    encap_ra_read(ra, 0x200, &v, 4);
    encap_ra_read(ra, 0x300, &v, 4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(t.link_fetches, ==, 3);
    /* Now the fetch at 0x100 takes 0x200 and 0x300 along: one fetch. */
    encap_ra_read(ra, 0x100, &v, 4);
    encap_ra_read(ra, 0x200, &v, 4);
    encap_ra_read(ra, 0x300, &v, 4);
    g_assert_cmpuint(t.link_fetches, ==, 4);
    g_assert_cmphex(v, ==, 0x04040404);
    encap_ra_invalidate(ra);
    /* A copy serves the first two: the third window is read afresh. */
    t.prefix = 2;
    encap_ra_read(ra, 0x100, &v, 4);
    g_assert_cmphex(v, ==, 0xeeeeeeee);
    encap_ra_read(ra, 0x200, &v, 4);
    g_assert_cmphex(v, ==, 0xeeeeeeee);
    g_assert_cmpuint(t.link_fetches, ==, 4);
    encap_ra_read(ra, 0x300, &v, 4);
    g_assert_cmphex(v, ==, 0x04040404);
    g_assert_cmpuint(t.link_fetches, ==, 5);
    encap_ra_free(ra);
}

static void test_vdm(void)
{
    struct encap_tlp t, d;
    struct encap_tlp_limits lim = { .mps = 4096 };
    uint8_t payload[64] = { 1, 2, 3 }, buf[ENCAP_TLP_MAX_SIZE];
    int len;

    encap_tlp_vdm(&t, 0x0100, ENCAP_MSG_ROUTE_LOCAL, ENCAP_VDM_PUSH,
                  payload, sizeof(payload) / 4);
    len = encap_tlp_encode(&t, &lim, buf, sizeof(buf));
    g_assert_cmpint(len, ==, 16 + 64);
    g_assert_cmpint(encap_tlp_decode(buf, len, &lim, &d), ==, 0);
    g_assert_cmpint(d.type, ==, ENCAP_TLP_MSGD);
    g_assert_cmphex(encap_tlp_vdm_code(&d), ==, ENCAP_VDM_PUSH);
    g_assert_cmpmem(d.data, 64, payload, 64);
    g_assert_false(encap_tlp_is_hot_reset(&d));
    encap_tlp_hot_reset(&t, 0x0100);
    g_assert_true(encap_tlp_is_hot_reset(&t));
    g_assert_cmphex(encap_tlp_vdm_code(&t), ==, ENCAP_VDM_HOT_RESET);
    t.msg_code = ENCAP_MSG_ASSERT_INTA;
    g_assert_cmphex(encap_tlp_vdm_code(&t), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    fill_pattern();
    g_test_add_func("/push/codec", test_codec);
    g_test_add_func("/push/decode-bad", test_decode_bad);
    g_test_add_func("/push/hints", test_hints);
    g_test_add_func("/push/offer", test_offer);
    g_test_add_func("/push/offer-later", test_offer_later);
    g_test_add_func("/push/chase-codec", test_chase_codec);
    g_test_add_func("/push/chase-target", test_chase_target);
    g_test_add_func("/push/chase-find", test_chase_find);
    g_test_add_func("/push/chaser", test_chaser);
    g_test_add_func("/push/readahead-prefix", test_readahead_prefix);
    g_test_add_func("/push/vdm", test_vdm);
    return g_test_run();
}
