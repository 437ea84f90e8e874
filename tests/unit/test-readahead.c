/* SPDX-License-Identifier: MIT */
/* Unit tests for the read-ahead of small memory reads (encap/readahead.h). */
#include <glib.h>
#include <string.h>

#include "encap/readahead.h"

/*
 * A fake memory: 64 KiB whose 32-bit words hold the "time" they were last
 * written (a clock that ticks at every write), with each word's history,
 * and a fetch that reads the ranges in order, each word ascending, and
 * lets a writer change random words between two word loads.
 */
#define MEM_SIZE    0x10000
#define WORDS       (MEM_SIZE / 4)

typedef struct Mem {
    uint32_t w[WORDS];
    GArray *hist[WORDS];        /* write times of each word, ascending */
    uint32_t clock;
    GRand *rand;
    double write_p;             /* chance of a write before each word load */
    unsigned fetches;
    GArray *ranges;             /* struct encap_ra_range of the last fetch */
    int fail_from;              /* fetches with a range at or above: fail */
    bool owned[WORDS];          /* the device's: the writer leaves them be */
    /* The clock when the fetch numbered copied_in first copied each word
     * (a fetch may copy a window twice). */
    uint32_t copied[WORDS];
    unsigned copied_in[WORDS];
} Mem;

static void mem_write(Mem *m, unsigned word)
{
    m->w[word] = ++m->clock;
    g_array_append_val(m->hist[word], m->clock);
}

/* A word of one of a few "rings" in a few windows, where the writer works
 * and the device reads. */
static unsigned ring_word(Mem *m)
{
    return (g_rand_int_range(m->rand, 0, 6) * 0x900 +
            g_rand_int_range(m->rand, 0, 48) * 4) / 4;
}

static void mem_init(Mem *m, uint32_t seed, double write_p)
{
    memset(m, 0, sizeof(*m));
    m->rand = g_rand_new_with_seed(seed);
    m->write_p = write_p;
    m->ranges = g_array_new(false, false, sizeof(struct encap_ra_range));
    m->fail_from = -1;
    for (unsigned i = 0; i < WORDS; i++) {
        m->hist[i] = g_array_new(false, false, sizeof(uint32_t));
        mem_write(m, i);
    }
}

static void mem_free(Mem *m)
{
    for (unsigned i = 0; i < WORDS; i++) {
        g_array_free(m->hist[i], true);
    }
    g_array_free(m->ranges, true);
    g_rand_free(m->rand);
}

static int mem_fetch(void *opaque, const struct encap_ra_range *r, unsigned n)
{
    Mem *m = opaque;

    m->fetches++;
    g_array_set_size(m->ranges, 0);
    g_array_append_vals(m->ranges, r, n);
    for (unsigned i = 0; i < n; i++) {
        if (m->fail_from >= 0 && r[i].addr + r[i].len > (uint64_t)m->fail_from) {
            return -5;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpuint(r[i].addr + r[i].len, <=, MEM_SIZE);
        for (uint32_t off = 0; off < r[i].len; off += 4) {
            if (g_rand_double(m->rand) < m->write_p) {
                unsigned w = ring_word(m);

                if (!m->owned[w]) {
                    mem_write(m, w);
                }
            }
            memcpy((uint8_t *)r[i].buf + off, &m->w[(r[i].addr + off) / 4],
                   MIN(4, r[i].len - off));
            if (m->copied_in[(r[i].addr + off) / 4] != m->fetches) {
                m->copied_in[(r[i].addr + off) / 4] = m->fetches;
                m->copied[(r[i].addr + off) / 4] = m->clock;
            }
        }
    }
    return 0;
}

static const struct encap_ra_config cfg = {
    .window = 512, .max_small = 64, .max_windows = 4,
};

static uint32_t rd32(struct encap_ra *ra, uint64_t addr)
{
    uint32_t v;

    g_assert_cmpint(encap_ra_read(ra, addr, &v, 4), ==, 0);
    return v;
}

static void test_config(void)
{
    static const struct encap_ra_config bad[] = {
        { .window = 32, .max_small = 16, .max_windows = 4 },
        { .window = 768, .max_small = 64, .max_windows = 4 },
        { .window = 8192, .max_small = 64, .max_windows = 4 },
        { .window = 512, .max_small = 1024, .max_windows = 4 },
        { .window = 512, .max_small = 64, .max_windows = 0 },
        { .window = 512, .max_small = 64, .max_windows = 9 },
    };
    Mem m;

    mem_init(&m, 1, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_null(encap_ra_new(&bad[i], mem_fetch, &m));
    }
    g_assert_null(encap_ra_new(&cfg, NULL, &m));
    mem_free(&m);
}

/* A miss fetches the aligned window; reads after it, ascending, hit. */
static void test_window(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    g_assert_cmpuint(rd32(ra, 0x1204), ==, m.w[0x1204 / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(m.ranges->len, ==, 1);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 0).addr,
                    ==, 0x1200);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, 512);
    g_assert_cmpuint(rd32(ra, 0x1204), ==, m.w[0x1204 / 4]);
    g_assert_cmpuint(rd32(ra, 0x1300), ==, m.w[0x1300 / 4]);
    g_assert_cmpuint(rd32(ra, 0x13fc), ==, m.w[0x13fc / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.misses, ==, 1);
    g_assert_cmpuint(st.hits, ==, 3);
    g_assert_cmpuint(st.windows, ==, 1);
    g_assert_cmpuint(st.bytes, ==, 512);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * Going back to a lower address of the window, after a newer byte was
 * consumed, is a miss: the guest may have written the lower field after
 * the higher one was read (a ring entry, then its index).
 */
static void test_backwards(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    rd32(ra, 0x1100);
    mem_write(&m, 0x1010 / 4);
    g_assert_cmpuint(rd32(ra, 0x1010), ==, m.w[0x1010 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.out_of_order, ==, 1);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * A miss fetches the windows the device went on to read the last time it
 * missed there; reads of a window fetched before one already consumed are
 * misses.
 */
static void test_steps(void)
{
    struct encap_ra_stats st;
    uint32_t before;
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    /* The device goes A, B, C; after an invalidation, A again. */
    rd32(ra, 0x2000);
    rd32(ra, 0x4010);
    rd32(ra, 0x6020);
    g_assert_cmpuint(m.fetches, ==, 3);
    encap_ra_invalidate(ra);
    rd32(ra, 0x2004);
    g_assert_cmpuint(m.fetches, ==, 4);
    /* One fetch: A, then B and C in order. */
    g_assert_cmpuint(m.ranges->len, ==, 3);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 0).addr, ==, 0x2000);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 1).addr, ==, 0x4000);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 2).addr, ==, 0x6000);
    /* B and C hit: B as it was at the fetch. */
    before = m.w[0x4010 / 4];
    mem_write(&m, 0x4010 / 4);
    g_assert_cmpuint(rd32(ra, 0x4010), ==, before);
    rd32(ra, 0x6020);
    g_assert_cmpuint(m.fetches, ==, 4);
    /* A again: it was fetched before C, which was consumed. */
    mem_write(&m, 0x2000 / 4);
    g_assert_cmpuint(rd32(ra, 0x2000), ==, m.w[0x2000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 5);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.hits, ==, 2);
    g_assert_cmpuint(st.out_of_order, ==, 1);
    g_assert_cmpuint(st.invalidations, ==, 1);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * Two queues served in turn, with writes between (as virtio-net's receive
 * and transmit queues): each run of reads between two invalidations is
 * learnt by the window it starts in, and costs one fetch once learnt, a
 * step back to a lower address in a window included.
 */
static void test_records(void)
{
    static const uint64_t x[] = { 0x1204 };
    static const uint64_t y[] = { 0x5204, 0x51a0, 0x40c0 };
    static const uint64_t z[] = { 0x1034, 0x0080, 0x1000, 0x1034, 0x0080 };
    static const struct { const uint64_t *a; unsigned n; } run[] = {
        { x, 1 }, { y, 3 }, { z, 5 },
    };
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&(struct encap_ra_config) {
        .window = 256, .max_small = 64, .max_windows = 6,
    }, mem_fetch, &m);
    for (unsigned cycle = 0; cycle < 4; cycle++) {
        unsigned f0 = m.fetches;

        for (unsigned k = 0; k < G_N_ELEMENTS(run); k++) {
            encap_ra_invalidate(ra);
            for (unsigned i = 0; i < run[k].n; i++) {
                g_assert_cmpuint(rd32(ra, run[k].a[i]), ==,
                                 m.w[run[k].a[i] / 4]);
            }
        }
        if (cycle) {
            g_assert_cmpuint(m.fetches - f0, ==, 3);
        }
    }
    /*
     * A miss in 0x5200 with no step before the drop (a ring's index read
     * again to find it empty) does not forget what follows it otherwise.
     */
    encap_ra_invalidate(ra);
    rd32(ra, 0x5204);
    encap_ra_invalidate(ra);
    {
        unsigned f0 = m.fetches;

        for (unsigned i = 0; i < G_N_ELEMENTS(y); i++) {
            g_assert_cmpuint(rd32(ra, y[i]), ==, m.w[y[i] / 4]);
        }
        g_assert_cmpuint(m.fetches - f0, ==, 1);
    }
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * A learnt run that goes to another window midway (the next descriptor is
 * elsewhere in its table): the miss there fetches the rest of the run,
 * with the new window where the old one was.
 */
static void test_swap(void)
{
    static const uint64_t learnt[] = { 0x1000, 0x2010, 0x3000, 0x2000 };
    static const uint64_t now[] = { 0x1000, 0x4010, 0x3000, 0x4000 };
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    for (unsigned k = 0; k < 2; k++) {
        encap_ra_invalidate(ra);
        for (unsigned i = 0; i < G_N_ELEMENTS(learnt); i++) {
            rd32(ra, learnt[i]);
        }
    }
    encap_ra_invalidate(ra);
    m.fetches = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(now); i++) {
        g_assert_cmpuint(rd32(ra, now[i]), ==, m.w[now[i] / 4]);
    }
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(m.ranges->len, ==, 3);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 0).addr, ==, 0x4000);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 1).addr, ==, 0x3000);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 2).addr, ==, 0x4000);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * A device that writes back each descriptor it reads (the cache is dropped
 * after each read) stops getting windows it never reads, but for a probe
 * now and then.
 */
static void test_lean(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    unsigned windows = 0;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    for (unsigned i = 0; i < 64; i++) {
        g_assert_cmpuint(rd32(ra, 0x1000 + i * 16), ==,
                         m.w[(0x1000 + i * 16) / 4]);
        windows += g_array_index(m.ranges, struct encap_ra_range, 0).len ==
                   cfg.window;
        encap_ra_invalidate(ra);
    }
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(m.fetches, ==, 64);
    g_assert_cmpuint(st.lean, >=, 48);
    g_assert_cmpuint(windows, ==, st.windows);
    g_assert_cmpuint(windows, <=, 16);
    /* A device that reads on after the first read gets its window again. */
    for (unsigned i = 0; i < 16; i++) {
        rd32(ra, 0x2000 + i * 16);
        rd32(ra, 0x2004 + i * 16);
        encap_ra_invalidate(ra);
    }
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.hits, >=, 8);
    /*
     * Lean again; then a second read in the window a lean fetch just read,
     * with no drop between (an index, then an entry after it): the window
     * comes whole, and the reads after it in order are hits.
     */
    for (unsigned i = 0; i < 9; i++) {     /* past the eighth's probe */
        rd32(ra, 0x3000 + i * 16);
        encap_ra_invalidate(ra);
    }
    rd32(ra, 0x3000);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, 4);
    rd32(ra, 0x3010);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, cfg.window);
    {
        unsigned fetches = m.fetches;

        g_assert_cmpuint(rd32(ra, 0x3020), ==, m.w[0x3020 / 4]);
        g_assert_cmpuint(rd32(ra, 0x3030), ==, m.w[0x3030 / 4]);
        g_assert_cmpuint(m.fetches, ==, fetches);
    }
    encap_ra_free(ra);
    mem_free(&m);
}

/* After an invalidation, what was written before it is seen. */
static void test_invalidate(void)
{
    struct encap_ra *ra;
    uint32_t before;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    before = rd32(ra, 0x3000);
    mem_write(&m, 0x3000 / 4);
    g_assert_cmpuint(rd32(ra, 0x3000), ==, before);     /* cached */
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x3000), ==, m.w[0x3000 / 4]);
    g_assert_cmpuint(rd32(ra, 0x3000), !=, before);
    encap_ra_free(ra);
    mem_free(&m);
}

/* Large reads, and reads across a window boundary, pass through and drop
 * the cache: they are newer than anything in it. */
static void test_uncached(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    uint8_t big[128];
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    rd32(ra, 0x3000);
    g_assert_cmpint(encap_ra_read(ra, 0x5000, big, sizeof(big)), ==, 0);
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, sizeof(big));
    g_assert_cmpmem(big, 4, &m.w[0x5000 / 4], 4);
    mem_write(&m, 0x3004 / 4);
    g_assert_cmpuint(rd32(ra, 0x3004), ==, m.w[0x3004 / 4]);
    g_assert_cmpuint(m.fetches, ==, 3);
    g_assert_cmpuint(m.ranges->len, ==, 1);
    /*
     * A descriptor, its buffer, the next descriptor: the buffer's read
     * brings the descriptors' window with it, fetched after the buffer.
     */
    g_assert_cmpint(encap_ra_read(ra, 0x5000, big, sizeof(big)), ==, 0);
    g_assert_cmpuint(m.fetches, ==, 4);
    g_assert_cmpuint(m.ranges->len, ==, 2);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 0).addr,
                    ==, 0x5000);
    g_assert_cmphex(g_array_index(m.ranges, struct encap_ra_range, 1).addr,
                    ==, 0x3000);
    g_assert_cmpuint(rd32(ra, 0x3008), ==, m.w[0x3008 / 4]);
    g_assert_cmpuint(m.fetches, ==, 4);
    g_assert_cmpint(encap_ra_read(ra, 0x31fe, big, 4), ==, 0);   /* across */
    g_assert_cmpuint(m.fetches, ==, 5);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, 4);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.uncached, ==, 3);
    g_assert_cmpuint(st.hits, ==, 1);
    encap_ra_free(ra);
    mem_free(&m);
}

/* A failed fetch keeps nothing; the read is made as asked, and its own
 * error (if any) is what the caller gets. */
static void test_error(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    uint32_t v;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    m.fail_from = 0x3100;           /* the window's end is not readable */
    g_assert_cmpuint(rd32(ra, 0x3000), ==, m.w[0x3000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(g_array_index(m.ranges, struct encap_ra_range, 0).len,
                     ==, 4);
    rd32(ra, 0x3008);               /* nothing was kept */
    g_assert_cmpuint(m.fetches, ==, 4);
    g_assert_cmpint(encap_ra_read(ra, 0x3100, &v, 4), ==, -5);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.errors, ==, 3);
    g_assert_cmpuint(st.hits, ==, 0);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * @v, read from @word, was its value from instant v until its next write:
 * the read's instant is the earliest one at or after @lower in that span.
 */
static uint32_t coherent_check(Mem *m, uint32_t word, uint32_t v,
                               uint32_t lower)
{
    GArray *h = m->hist[word];
    uint32_t next = UINT32_MAX;

    for (unsigned k = 0; k < h->len; k++) {
        if (g_array_index(h, uint32_t, k) == v) {
            next = k + 1 < h->len ? g_array_index(h, uint32_t, k + 1) :
                   UINT32_MAX;
            break;
        }
    }
    lower = MAX(lower, v);
    g_assert_cmpuint(lower, <, next);
    return lower;
}

/*
 * The property, under a writer that changes memory between any two word
 * loads of a fetch: each value served is the word's value at some instant,
 * those instants never go backwards from one read to the next, and none
 * is before the last invalidation.
 */
static void test_coherent(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    uint32_t lower = 0;     /* the earliest instant the next read may have */
    Mem m;

    mem_init(&m, 7, 0.05);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    for (unsigned i = 0; i < 200000; i++) {
        unsigned r = g_rand_int_range(m.rand, 0, 100);
        uint32_t word;

        if (r < 2) {
            encap_ra_invalidate(ra);
            lower = m.clock;
            continue;
        }
        if (r < 4) {
            /* An uncached read: its words in ascending order. */
            uint32_t big[32];

            word = ring_word(&m) & ~31u;
            g_assert_cmpint(encap_ra_read(ra, word * 4, big, sizeof(big)),
                            ==, 0);
            for (unsigned k = 0; k < 32; k++) {
                lower = coherent_check(&m, word + k, big[k], lower);
            }
            continue;
        }
        word = ring_word(&m);
        lower = coherent_check(&m, word, rd32(ra, word * 4), lower);
    }
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.hits, >, 0);
    g_assert_cmpuint(st.out_of_order, >, 0);
    encap_ra_free(ra);
    mem_free(&m);
}

/* ---- ownership ---- */

static uint64_t owned_hits(struct encap_ra *ra)
{
    struct encap_ra_stats st;

    encap_ra_get_stats(ra, &st);
    return st.owned_hits;
}

/* Words [@from, @to) (byte addresses) are the device's, or no longer. */
static void mark_owned(Mem *m, uint64_t from, uint64_t to, bool owned)
{
    for (uint64_t a = from; a < to; a += 4) {
        m->owned[a / 4] = owned;
    }
}

static void own(Mem *m, struct encap_ra *ra, uint64_t from, uint64_t to)
{
    encap_ra_own(ra, from, to - from);
    mark_owned(m, from, to, true);
}

static void give_back(Mem *m, struct encap_ra *ra, uint64_t from, uint64_t to)
{
    encap_ra_give_back(ra, from, to - from);
    mark_owned(m, from, to, false);
}

/*
 * Owned bytes fetched after they became owned are served across drops of
 * the cache, in any order; the rest of their window is fetched again.
 */
static void test_owned(void)
{
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    own(&m, ra, 0x2000, 0x2100);
    g_assert_cmpuint(rd32(ra, 0x2080), ==, m.w[0x2080 / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    for (unsigned i = 0; i < 3; i++) {
        encap_ra_invalidate(ra);
        /* Backwards too: an owned byte does not change. */
        g_assert_cmpuint(rd32(ra, 0x20fc), ==, m.w[0x20fc / 4]);
        g_assert_cmpuint(rd32(ra, 0x2000), ==, m.w[0x2000 / 4]);
    }
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(owned_hits(ra), ==, 6);
    /* Not owned, in the same window: fetched again, and new. */
    mem_write(&m, 0x2100 / 4);
    g_assert_cmpuint(rd32(ra, 0x2100), ==, m.w[0x2100 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    /* A read across the edge of what is owned is not served either. */
    encap_ra_invalidate(ra);
    {
        uint64_t v;

        g_assert_cmpint(encap_ra_read(ra, 0x20fc, &v, 8), ==, 0);
        g_assert_cmpuint(m.fetches, ==, 3);
    }
    encap_ra_free(ra);
    mem_free(&m);
}

/* A copy fetched before the bytes became owned does not serve them: the
 * driver wrote them before it handed them over. */
static void test_owned_after_fetch(void)
{
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    g_assert_cmpuint(rd32(ra, 0x4010), ==, m.w[0x4010 / 4]);
    mem_write(&m, 0x4020 / 4);          /* the driver fills a descriptor */
    own(&m, ra, 0x4000, 0x4200);        /* and moves the tail past it */
    encap_ra_invalidate(ra);            /* the doorbell */
    g_assert_cmpuint(rd32(ra, 0x4020), ==, m.w[0x4020 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(owned_hits(ra), ==, 0);
    /* Owning again what is owned does not make older copies good. */
    own(&m, ra, 0x4000, 0x4200);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x4024), ==, m.w[0x4024 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(owned_hits(ra), ==, 1);
    encap_ra_free(ra);
    mem_free(&m);
}

/* What is given back is fetched again; what is still owned is served. */
static void test_give_back(void)
{
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    own(&m, ra, 0x6000, 0x6200);
    rd32(ra, 0x6000);
    g_assert_cmpuint(m.fetches, ==, 1);
    /* The middle goes back (a descriptor written back), and changes. */
    give_back(&m, ra, 0x6040, 0x6050);
    mem_write(&m, 0x6040 / 4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x6050), ==, m.w[0x6050 / 4]);
    g_assert_cmpuint(rd32(ra, 0x603c), ==, m.w[0x603c / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(rd32(ra, 0x6040), ==, m.w[0x6040 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    /* All of it goes back: nothing is served from copies any more. */
    encap_ra_give_back_all(ra);
    memset(m.owned, 0, sizeof(m.owned));
    mem_write(&m, 0x6100 / 4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x6100), ==, m.w[0x6100 / 4]);
    g_assert_cmpuint(m.fetches, ==, 3);
    encap_ra_free(ra);
    mem_free(&m);
}

/* More owned pieces than there is room for: the rest is just not owned. */
static void test_own_full(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    const unsigned n = ENCAP_RA_MAX_OWNED + 10;

    g_assert_cmpuint(0x4000 + n * 32, <=, MEM_SIZE);
    for (unsigned i = 0; i < n; i++) {
        /* A hole between each: one piece each. */
        own(&m, ra, 0x4000 + i * 32, 0x4000 + i * 32 + 16);
    }
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.own_full, ==, n - ENCAP_RA_MAX_OWNED);
    rd32(ra, 0x4000 + (n - 1) * 32);    /* the last piece: not owned */
    encap_ra_invalidate(ra);
    rd32(ra, 0x4000 + (n - 1) * 32);
    g_assert_cmpuint(m.fetches, ==, 2);
    /* The last piece that found room is owned, as is the first (its
     * window came with the first fetch, owned longest). */
    rd32(ra, 0x4000 + (ENCAP_RA_MAX_OWNED - 1) * 32);
    encap_ra_invalidate(ra);
    rd32(ra, 0x4000 + (ENCAP_RA_MAX_OWNED - 1) * 32);
    g_assert_cmpuint(m.fetches, ==, 3);
    rd32(ra, 0x4000);
    encap_ra_invalidate(ra);
    rd32(ra, 0x4000);
    g_assert_cmpuint(m.fetches, ==, 3);
    g_assert_cmpuint(owned_hits(ra), ==, 3);
    encap_ra_free(ra);
    mem_free(&m);
}

/* The windows of the last fetch, in order. */
static void assert_fetched(Mem *m, const uint64_t *addr, unsigned n)
{
    g_assert_cmpuint(m->ranges->len, ==, n);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmphex(g_array_index(m->ranges, struct encap_ra_range,
                                      i).addr, ==, addr[i]);
    }
}

/*
 * Owned bytes no copy serves yet ride along with the next fetch that has
 * room, owned longest first; they are then served across drops without a
 * fetch of their own, and reading them does not cost the windows fetched
 * before them their turn.
 */
static void test_owned_fill(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    /* Four descriptors handed over one by one, in four windows. */
    own(&m, ra, 0x8610, 0x8620);
    own(&m, ra, 0x8000, 0x8010);
    own(&m, ra, 0x8400, 0x8410);
    own(&m, ra, 0x8a00, 0x8a10);
    /* The doorbell's read: its window, then three of the four. */
    rd32(ra, 0x1000);
    assert_fetched(&m, (const uint64_t[]) { 0x1000, 0x8600, 0x8000, 0x8400 },
                   4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x8614), ==, m.w[0x8614 / 4]);
    g_assert_cmpuint(rd32(ra, 0x8000), ==, m.w[0x8000 / 4]);
    g_assert_cmpuint(rd32(ra, 0x840c), ==, m.w[0x840c / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(owned_hits(ra), ==, 3);
    /* The fourth comes with the next miss; nothing fetched twice. */
    rd32(ra, 0x2000);
    assert_fetched(&m, (const uint64_t[]) { 0x2000, 0x8a00 }, 2);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x8a08), ==, m.w[0x8a08 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.owned_windows, ==, 4);

    /*
     * Served from a window taken for its owned bytes, a read leaves the
     * windows before it in the fetch their turn: a doorbell's index, its
     * entries elsewhere (recorded), a descriptor handed over meanwhile.
     */
    encap_ra_invalidate(ra);
    rd32(ra, 0x3000);
    rd32(ra, 0x3400);
    encap_ra_invalidate(ra);
    own(&m, ra, 0x9000, 0x9010);
    rd32(ra, 0x3000);
    assert_fetched(&m, (const uint64_t[]) { 0x3000, 0x3400, 0x9000 }, 3);
    g_assert_cmpuint(rd32(ra, 0x9004), ==, m.w[0x9004 / 4]);
    g_assert_cmpuint(rd32(ra, 0x3410), ==, m.w[0x3410 / 4]);
    g_assert_cmpuint(m.fetches, ==, 5);

    /* What is given back and rewritten is fetched anew, then not kept. */
    give_back(&m, ra, 0x8000, 0x8010);
    mem_write(&m, 0x8000 / 4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x8000), ==, m.w[0x8000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 6);
    mem_write(&m, 0x8000 / 4);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x8000), ==, m.w[0x8000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 7);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * Ownership since a read (a virtio ring's available index, which publishes
 * the entries after it): the copy that served the read serves the owned
 * bytes it copied after it across drops, with no fetch and no drop of its
 * own; bytes it copied before the read are fetched again.
 */
static void test_owned_marked(void)
{
    struct encap_ra *ra;
    Mem m;

    mem_init(&m, 1, 0);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    rd32(ra, 0x3008);                   /* the index */
    encap_ra_mark(ra);
    g_assert_cmpuint(rd32(ra, 0x3010), ==, m.w[0x3010 / 4]);
    encap_ra_own_marked(ra, 0x3010, 0x20);
    encap_ra_own_marked(ra, 0x3000, 4);         /* below the index */
    mark_owned(&m, 0x3000, 0x3004, true);
    mark_owned(&m, 0x3010, 0x3030, true);
    /* Nothing dropped: the next read in order is a plain hit. */
    g_assert_cmpuint(rd32(ra, 0x3014), ==, m.w[0x3014 / 4]);
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(owned_hits(ra), ==, 0);
    for (unsigned i = 0; i < 2; i++) {
        encap_ra_invalidate(ra);
        g_assert_cmpuint(rd32(ra, 0x3020), ==, m.w[0x3020 / 4]);
        g_assert_cmpuint(rd32(ra, 0x3010), ==, m.w[0x3010 / 4]);
    }
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(owned_hits(ra), ==, 4);
    /* Copied before the index was read: fetched again, then kept. */
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x3000), ==, m.w[0x3000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x3000), ==, m.w[0x3000 / 4]);
    g_assert_cmpuint(m.fetches, ==, 2);
    g_assert_cmpuint(owned_hits(ra), ==, 5);

    /*
     * A mark after a read served from a kept copy: ownership since that
     * copy, so a later fetch holds the new owned bytes already.
     */
    rd32(ra, 0x5008);
    g_assert_cmpuint(m.fetches, ==, 3);
    rd32(ra, 0x3020);                   /* an owned hit, from fetch 2 */
    g_assert_cmpuint(owned_hits(ra), ==, 6);
    encap_ra_mark(ra);
    encap_ra_own_marked(ra, 0x5010, 0x10);
    mark_owned(&m, 0x5010, 0x5020, true);
    encap_ra_invalidate(ra);
    g_assert_cmpuint(rd32(ra, 0x5010), ==, m.w[0x5010 / 4]);
    g_assert_cmpuint(m.fetches, ==, 3);
    g_assert_cmpuint(owned_hits(ra), ==, 7);
    /* A give-back of everything forgets the mark: ownership as of now. */
    rd32(ra, 0x7008);
    g_assert_cmpuint(m.fetches, ==, 4);
    encap_ra_mark(ra);
    encap_ra_give_back_all(ra);
    mark_owned(&m, 0, MEM_SIZE, false);
    encap_ra_own_marked(ra, 0x7010, 0x10);
    mark_owned(&m, 0x7010, 0x7020, true);
    g_assert_cmpuint(rd32(ra, 0x7010), ==, m.w[0x7010 / 4]);
    g_assert_cmpuint(m.fetches, ==, 5);
    encap_ra_free(ra);
    mem_free(&m);
}

/*
 * The property with ownership: under a writer that leaves owned words be,
 * while the device owns and gives back ranges, writes what it gave back
 * and the cache is dropped now and then: a read of an owned word returns
 * its value now; any other read is coherent as in test_coherent.
 */
static void test_owned_coherent(void)
{
    struct encap_ra_stats st;
    struct encap_ra *ra;
    uint32_t lower = 0;
    Mem m;

    mem_init(&m, 11, 0.05);
    ra = encap_ra_new(&cfg, mem_fetch, &m);
    for (unsigned i = 0; i < 200000; i++) {
        unsigned r = g_rand_int_range(m.rand, 0, 100);
        uint32_t word = ring_word(&m);

        if (r < 3) {
            encap_ra_invalidate(ra);
            lower = m.clock;
        } else if (r < 6) {
            uint32_t n = g_rand_int_range(m.rand, 1, 24);

            own(&m, ra, word * 4, MIN(WORDS, word + n) * 4ull);
        } else if (r < 8) {
            /* The device writes a word back: it gives it back first. */
            give_back(&m, ra, word * 4, word * 4 + 4);
            mem_write(&m, word);
        } else if (r < 9) {
            uint32_t n = g_rand_int_range(m.rand, 1, 64);

            give_back(&m, ra, word * 4, MIN(WORDS, word + n) * 4ull);
        } else if (r < 12) {
            /*
             * The device reads an index and owns what it published: of
             * the words after it, those nobody wrote since the index's
             * value was copied (its first copy in the last fetch that
             * copied it: earlier than or as the one that served it).
             */
            uint32_t n = g_rand_int_range(m.rand, 1, 24), copied;

            if (m.owned[word]) {
                g_assert_cmpuint(rd32(ra, word * 4), ==, m.w[word]);
            } else {
                lower = coherent_check(&m, word, rd32(ra, word * 4), lower);
            }
            copied = m.copied[word];
            encap_ra_mark(ra);
            for (uint32_t w = word + 1; w < MIN(WORDS, word + 1 + n); w++) {
                if (!m.owned[w] && m.w[w] <= copied) {
                    encap_ra_own_marked(ra, w * 4ull, 4);
                    m.owned[w] = true;
                }
            }
        } else if (m.owned[word]) {
            g_assert_cmpuint(rd32(ra, word * 4), ==, m.w[word]);
        } else {
            lower = coherent_check(&m, word, rd32(ra, word * 4), lower);
        }
    }
    encap_ra_get_stats(ra, &st);
    g_assert_cmpuint(st.owned_hits, >, 1000);
    g_assert_cmpuint(st.owned_windows, >, 100);
    g_assert_cmpuint(st.hits, >, 0);
    encap_ra_free(ra);
    mem_free(&m);
}

/* A fetch that reads nothing and succeeds: for the limits alone. */
static int null_fetch(void *opaque, const struct encap_ra_range *r,
                      unsigned n)
{
    (*(unsigned *)opaque)++;
    return 0;
}

/*
 * Reads announced ahead: a list fetched in one call, each read that asks
 * for the next bytes in order served from the copy, anything else ending
 * it; the limits; a failed fetch.
 */
static void test_soon(void)
{
    Mem m;
    struct encap_soon s;
    struct encap_ra_range want[4] = {
        { .addr = 0x3000, .len = 0x1000 }, { .addr = 0x1000, .len = 0x800 },
        { .addr = 0x8000, .len = 0x1000 }, { .addr = 0x2000, .len = 8 },
    };
    uint8_t buf[0x1000];
    struct encap_ra_range *many;
    unsigned nulls = 0;

    mem_init(&m, 7, 0);
    encap_soon_init(&s);
    g_assert_cmpuint(encap_soon_fetch(&s, want, 4, mem_fetch, &m), ==, 4);
    g_assert_cmpuint(m.fetches, ==, 1);
    g_assert_cmpuint(m.ranges->len, ==, 4);
    for (unsigned i = 0; i < 4; i++) {
        struct encap_ra_range *r = &g_array_index(m.ranges,
                                                  struct encap_ra_range, i);

        g_assert_cmphex(r->addr, ==, want[i].addr);
        g_assert_cmpuint(r->len, ==, want[i].len);
    }
    /* In order, whole or in pieces: served, no more fetches. */
    g_assert_true(encap_soon_read(&s, 0x3000, buf, 0x1000));
    g_assert_cmpmem(buf, 0x1000, &m.w[0x3000 / 4], 0x1000);
    g_assert_true(encap_soon_read(&s, 0x1000, buf, 0x400));
    g_assert_true(encap_soon_read(&s, 0x1400, buf + 0x400, 0x400));
    g_assert_cmpmem(buf, 0x800, &m.w[0x1000 / 4], 0x800);
    /* Out of order (the last range before the third): dropped. */
    g_assert_false(encap_soon_read(&s, 0x2000, buf, 8));
    g_assert_false(encap_soon_read(&s, 0x8000, buf, 4));
    g_assert_cmpuint(s.st.served, ==, 3);
    g_assert_cmpuint(s.st.unused, ==, 2);
    g_assert_cmpuint(m.fetches, ==, 1);

    /* Past a range's end, or at the right place once dropped: no. */
    g_assert_cmpuint(encap_soon_fetch(&s, want, 4, mem_fetch, &m), ==, 4);
    g_assert_false(encap_soon_read(&s, 0x3000, buf, 0x1001));
    g_assert_false(encap_soon_read(&s, 0x3000, buf, 4));
    /* Dropped by the caller (an event that drops the cache). */
    g_assert_cmpuint(encap_soon_fetch(&s, want, 4, mem_fetch, &m), ==, 4);
    encap_soon_drop(&s);
    g_assert_false(encap_soon_read(&s, 0x3000, buf, 4));
    g_assert_cmpuint(s.st.unused, ==, 10);
    /* All read: nothing left to serve. */
    g_assert_cmpuint(encap_soon_fetch(&s, want + 3, 1, mem_fetch, &m), ==, 1);
    g_assert_true(encap_soon_read(&s, 0x2000, buf, 8));
    g_assert_false(encap_soon_read(&s, 0x2008, buf, 8));
    g_assert_cmpuint(s.st.fetches, ==, 4);

    /* The limits: ranges and bytes; a prefix of them is fetched. */
    many = g_new0(struct encap_ra_range, ENCAP_SOON_MAX_RANGES + 8);
    for (unsigned i = 0; i < ENCAP_SOON_MAX_RANGES + 8; i++) {
        many[i] = (struct encap_ra_range) { .addr = (i % 16) * 0x100,
                                            .len = 0x100 };
    }
    g_assert_cmpuint(encap_soon_fetch(&s, many, ENCAP_SOON_MAX_RANGES + 8,
                                      mem_fetch, &m), ==,
                     ENCAP_SOON_MAX_RANGES);
    many[0].len = ENCAP_SOON_MAX_BYTES;
    many[1].len = 4;
    g_assert_cmpuint(encap_soon_fetch(&s, many, 2, null_fetch, &nulls), ==,
                     1);
    many[0].len = ENCAP_SOON_MAX_BYTES + 4;
    g_assert_cmpuint(encap_soon_fetch(&s, many, 2, null_fetch, &nulls), ==,
                     0);
    g_assert_cmpuint(encap_soon_fetch(&s, many, 0, null_fetch, &nulls), ==,
                     0);
    g_assert_cmpuint(nulls, ==, 1);
    g_assert_false(encap_soon_read(&s, 0, buf, 4));

    /* A fetch that fails: nothing to serve, counted. */
    m.fail_from = 0x8000;
    g_assert_cmpuint(encap_soon_fetch(&s, want, 4, mem_fetch, &m), ==, 0);
    g_assert_false(encap_soon_read(&s, 0x3000, buf, 4));
    g_assert_cmpuint(s.st.errors, ==, 1);
    g_free(many);
    encap_soon_free(&s);
    mem_free(&m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/readahead/config", test_config);
    g_test_add_func("/readahead/window", test_window);
    g_test_add_func("/readahead/backwards", test_backwards);
    g_test_add_func("/readahead/steps", test_steps);
    g_test_add_func("/readahead/records", test_records);
    g_test_add_func("/readahead/swap", test_swap);
    g_test_add_func("/readahead/lean", test_lean);
    g_test_add_func("/readahead/invalidate", test_invalidate);
    g_test_add_func("/readahead/uncached", test_uncached);
    g_test_add_func("/readahead/error", test_error);
    g_test_add_func("/readahead/coherent", test_coherent);
    g_test_add_func("/readahead/owned", test_owned);
    g_test_add_func("/readahead/owned-after-fetch", test_owned_after_fetch);
    g_test_add_func("/readahead/give-back", test_give_back);
    g_test_add_func("/readahead/own-full", test_own_full);
    g_test_add_func("/readahead/owned-fill", test_owned_fill);
    g_test_add_func("/readahead/owned-marked", test_owned_marked);
    g_test_add_func("/readahead/owned-coherent", test_owned_coherent);
    g_test_add_func("/readahead/soon", test_soon);
    return g_test_run();
}
