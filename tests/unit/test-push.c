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
    g_test_add_func("/push/readahead-prefix", test_readahead_prefix);
    g_test_add_func("/push/vdm", test_vdm);
    return g_test_run();
}
