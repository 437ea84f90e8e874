/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for vrc-relay's core (tools/relay-core.h): the impairment
 * decisions come out at their rates and repeat for a seed, and the
 * scheduler loses nothing it holds back or delays.
 */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "relay-core.h"

#define US 1000ull
#define FRAME_LEN 64

/* |observed - n p| within 5 standard deviations of a binomial(n, p). */
static void assert_rate(const char *what, uint64_t observed, uint64_t n,
                        double p)
{
    double mean = n * p, sd = sqrt(n * p * (1 - p));

    g_test_message("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " (%.4f, expected %.4f)", what, observed, n,
                   (double)observed / n, p);
    g_assert_cmpfloat(fabs(observed - mean), <=, 5 * sd + 1);
}

static void test_rng(void)
{
    uint64_t a = 1, b = 1, c = 2;
    double sum = 0;

    /* splitmix64 reference: the first outputs for state 0. */
    uint64_t z = 0;
    g_assert_cmphex(relay_rng_next(&z), ==, 0xe220a8397b1dcdafull);
    g_assert_cmphex(relay_rng_next(&z), ==, 0x6e789e6aa1b965f4ull);

    for (int i = 0; i < 1000; i++) {
        g_assert_cmphex(relay_rng_next(&a), ==, relay_rng_next(&b));
    }
    g_assert_cmphex(relay_rng_next(&a), !=, relay_rng_next(&c));
    for (int i = 0; i < 100000; i++) {
        double u = relay_rng_unit(&a);

        g_assert_cmpfloat(u, >=, 0);
        g_assert_cmpfloat(u, <, 1);
        sum += u;
    }
    g_assert_cmpfloat(fabs(sum / 100000 - 0.5), <, 0.005);
    /* The two directions of a run draw from different streams. */
    g_assert_cmphex(relay_rng_seed(7, RELAY_A2B), !=,
                    relay_rng_seed(7, RELAY_B2A));
    g_assert_cmphex(relay_rng_seed(7, RELAY_A2B), ==,
                    relay_rng_seed(7, RELAY_A2B));
}

static void test_rates(void)
{
    const struct relay_cfg cfg = {
        .loss = 0.05, .dup = 0.05, .reorder = 0.10, .corrupt = 0.01,
        .delay_ns = 500 * US, .jitter_ns = 100 * US,
    };
    const unsigned n = 200000;
    uint64_t rng = relay_rng_seed(42, RELAY_A2B);
    uint64_t drop = 0, dup = 0, copies = 0, hold = 0, flip = 0;
    uint64_t bit_hits[FRAME_LEN - RELAY_ETH_HLEN] = { 0 };
    double delay_sum = 0;

    for (unsigned i = 0; i < n; i++) {
        struct relay_action a;

        relay_decide(&rng, &cfg, FRAME_LEN, &a);
        g_assert_cmpuint(a.copies, <=, 2);
        g_assert_true(a.drop == (a.copies == 0));
        drop += a.drop;
        dup += a.copies == 2;
        for (unsigned k = 0; k < a.copies; k++) {
            const struct relay_copy *c = &a.copy[k];

            copies++;
            hold += c->hold;
            g_assert_cmpuint(c->delay_ns, >=, 400 * US);
            g_assert_cmpuint(c->delay_ns, <=, 600 * US);
            delay_sum += c->delay_ns;
            if (c->flip_bit >= 0) {
                flip++;
                g_assert_cmpint(c->flip_bit, <, (FRAME_LEN - RELAY_ETH_HLEN) * 8);
                bit_hits[c->flip_bit / 8]++;
            }
        }
    }
    assert_rate("loss", drop, n, cfg.loss);
    assert_rate("dup", dup, n - drop, cfg.dup);
    assert_rate("reorder", hold, copies, cfg.reorder);
    assert_rate("corrupt", flip, copies, cfg.corrupt);
    g_assert_cmpfloat(fabs(delay_sum / copies - 500 * US), <, 2 * US);
    /* Every byte past the Ethernet header gets hit. */
    for (unsigned b = 0; b < G_N_ELEMENTS(bit_hits); b++) {
        g_assert_cmpuint(bit_hits[b], >, 0);
    }
}

/* Rates 0 and 1 are exact; a frame with nothing past the header is never
 * corrupted. */
static void test_edges(void)
{
    struct relay_cfg none = { 0 }, all = {
        .loss = 1, .dup = 1, .reorder = 1, .corrupt = 1,
    };
    struct relay_cfg keep = all;
    uint64_t rng = 9;

    keep.loss = 0;
    for (int i = 0; i < 10000; i++) {
        struct relay_action a;

        relay_decide(&rng, &none, FRAME_LEN, &a);
        g_assert_false(a.drop);
        g_assert_cmpuint(a.copies, ==, 1);
        g_assert_cmpint(a.copy[0].flip_bit, ==, -1);
        g_assert_false(a.copy[0].hold);
        g_assert_cmpuint(a.copy[0].delay_ns, ==, 0);
        relay_decide(&rng, &all, FRAME_LEN, &a);
        g_assert_true(a.drop);
        g_assert_cmpuint(a.copies, ==, 0);
        relay_decide(&rng, &keep, FRAME_LEN, &a);
        g_assert_cmpuint(a.copies, ==, 2);
        g_assert_true(a.copy[0].hold && a.copy[1].hold);
        g_assert_cmpint(a.copy[0].flip_bit, >=, 0);
        relay_decide(&rng, &keep, RELAY_ETH_HLEN, &a);
        g_assert_cmpint(a.copy[0].flip_bit, ==, -1);
    }
}

/*
 * The same seed gives the same decisions; a different one does not.  And
 * the draws per frame are fixed: the loss pattern of a seed is the same
 * whether or not other impairments are on.
 */
static void test_seed(void)
{
    struct relay_cfg cfg = { .loss = 0.1, .dup = 0.1, .reorder = 0.1,
                             .corrupt = 0.1, .delay_ns = 100, .jitter_ns = 50 };
    struct relay_cfg loss_only = { .loss = 0.1 };
    uint64_t r1 = relay_rng_seed(1234, 0), r2 = r1, r3 = r1;
    uint64_t o1 = relay_rng_seed(1235, 0);
    unsigned differ = 0;

    for (int i = 0; i < 10000; i++) {
        struct relay_action a, b, c, d;

        relay_decide(&r1, &cfg, FRAME_LEN + i % 100, &a);
        relay_decide(&r2, &cfg, FRAME_LEN + i % 100, &b);
        relay_decide(&r3, &loss_only, FRAME_LEN + i % 100, &c);
        relay_decide(&o1, &cfg, FRAME_LEN + i % 100, &d);
        g_assert_cmpmem(&a, sizeof(a), &b, sizeof(b));
        g_assert_true(a.drop == c.drop);
        differ += memcmp(&a, &d, sizeof(a)) != 0;
    }
    g_assert_cmphex(r1, ==, r2);
    g_assert_cmphex(r1, ==, r3);
    g_assert_cmpuint(differ, >, 5000);
}

static void test_flip(void)
{
    uint8_t f[FRAME_LEN], g[FRAME_LEN];

    for (unsigned i = 0; i < sizeof(f); i++) {
        f[i] = i * 37;
    }
    for (int64_t bit = 0; bit < (FRAME_LEN - RELAY_ETH_HLEN) * 8; bit++) {
        unsigned diff = 0;

        memcpy(g, f, sizeof(f));
        g_assert_true(relay_flip(g, sizeof(g), bit));
        g_assert_cmpmem(g, RELAY_ETH_HLEN, f, RELAY_ETH_HLEN);
        for (unsigned i = 0; i < sizeof(f); i++) {
            diff += __builtin_popcount(f[i] ^ g[i]);
        }
        g_assert_cmpuint(diff, ==, 1);
    }
    g_assert_false(relay_flip(g, sizeof(g), (FRAME_LEN - RELAY_ETH_HLEN) * 8));
    g_assert_false(relay_flip(g, sizeof(g), -1));
    g_assert_false(relay_flip(g, RELAY_ETH_HLEN, 0));
}

/* A sink for the scheduler: what came out, when. */
struct sink {
    GArray *ids;                /* frame ids in the order sent */
    GArray *times;              /* clock at each send */
    GArray *corrupt;            /* 1 if the frame came out damaged */
    uint64_t *now;
    unsigned fail_every;        /* make every n-th send fail (0: never) */
    unsigned calls;
};

static void frame_make(uint8_t *f, uint32_t id)
{
    memset(f, 0, FRAME_LEN);
    memset(f, 0xee, RELAY_ETH_HLEN);
    for (unsigned i = RELAY_ETH_HLEN; i + 4 <= FRAME_LEN; i += 4) {
        memcpy(f + i, &id, 4);
    }
}

static int sink_emit(void *opaque, const uint8_t *f, size_t len)
{
    struct sink *s = opaque;
    uint32_t id = 0, votes[3];
    guint8 damaged;

    g_assert_cmpuint(len, ==, FRAME_LEN);
    s->calls++;
    if (s->fail_every && s->calls % s->fail_every == 0) {
        return -1;
    }
    /* The id is repeated: a single flipped bit does not hide it. */
    memcpy(&votes[0], f + RELAY_ETH_HLEN, 4);
    memcpy(&votes[1], f + RELAY_ETH_HLEN + 4, 4);
    memcpy(&votes[2], f + RELAY_ETH_HLEN + 8, 4);
    id = votes[0] == votes[1] || votes[0] == votes[2] ? votes[0] : votes[1];
    {
        uint8_t want[FRAME_LEN];

        frame_make(want, id);
        damaged = memcmp(want, f, len) != 0;
    }
    g_array_append_val(s->ids, id);
    g_array_append_val(s->times, *s->now);
    g_array_append_val(s->corrupt, damaged);
    return 0;
}

struct run_result {
    struct relay_stats st;
    unsigned max_displacement;  /* later frames sent before an earlier one */
    unsigned max_used;
};

/*
 * Feed @n frames through one direction with @cfg, the clock advancing by
 * @step_ns (plus up to @step_ns at random) between frames, then flush.
 * Checks that every frame that was not dropped comes out once, or twice
 * when duplicated, and that nothing stays in the pool.
 */
static void run_sched(const struct relay_cfg *cfg, unsigned n, unsigned gap,
                      uint64_t wait_ns, uint64_t step_ns, unsigned pool_slots,
                      uint64_t seed, struct run_result *res)
{
    struct relay_pool pool;
    struct relay_dir d;
    uint64_t now = 1000000, rng = seed;
    struct sink s = {
        .ids = g_array_new(FALSE, FALSE, sizeof(uint32_t)),
        .times = g_array_new(FALSE, FALSE, sizeof(uint64_t)),
        .corrupt = g_array_new(FALSE, FALSE, sizeof(guint8)),
        .now = &now,
    };
    g_autofree unsigned *count = g_new0(unsigned, n);
    g_autofree unsigned *want = g_new0(unsigned, n);
    uint64_t delay_rng = relay_rng_seed(seed, RELAY_A2B);
    unsigned max_seen = 0, displacement = 0;
    uint8_t f[FRAME_LEN];

    g_assert_cmpint(relay_pool_init(&pool, pool_slots, FRAME_LEN), ==, 0);
    relay_dir_init(&d, cfg, relay_rng_seed(seed, RELAY_A2B), gap, wait_ns,
                   &pool, sink_emit, &s);
    for (uint32_t id = 0; id < n; id++) {
        struct relay_action a;
        uint64_t next;

        /* What the direction will decide: the same stream, one step ahead. */
        relay_decide(&delay_rng, cfg, FRAME_LEN, &a);
        want[id] = a.copies;
        frame_make(f, id);
        relay_dir_input(&d, f, FRAME_LEN, now);
        now += step_ns + relay_rng_next(&rng) % (step_ns + 1);
        /* Wake up at every deadline on the way, as the tool does. */
        while ((next = relay_dir_next_due(&d)) <= now) {
            uint64_t t = now;

            now = next;
            relay_dir_run(&d, now);
            now = t;
        }
        relay_dir_run(&d, now);
        g_assert_cmpuint(pool.used, ==, relay_dir_waiting(&d));
    }
    relay_dir_flush(&d);
    g_assert_cmpuint(relay_dir_waiting(&d), ==, 0);
    g_assert_cmpuint(pool.used, ==, 0);
    g_assert_cmpuint(pool.max_used, <=, pool_slots);

    for (guint i = 0; i < s.ids->len; i++) {
        uint32_t id = g_array_index(s.ids, uint32_t, i);

        g_assert_cmpuint(id, <, n);
        count[id]++;
        if (id > max_seen) {
            max_seen = id;
        }
        if (max_seen - id > displacement) {
            displacement = max_seen - id;
        }
    }
    /* Nothing lost that was not meant to be, nothing made up. */
    if (!d.st.pool_full && !s.fail_every) {
        for (unsigned id = 0; id < n; id++) {
            g_assert_cmpuint(count[id], ==, want[id]);
        }
    }
    g_assert_cmpuint(d.st.in, ==, n);
    g_assert_cmpuint(d.st.sent, ==, s.ids->len);
    g_assert_cmpuint(d.st.sent + d.st.send_errors, ==,
                     d.st.in - d.st.dropped + d.st.duplicated -
                     (cfg->delay_ns ? d.st.pool_full : 0));
    {
        unsigned damaged = 0;

        for (guint i = 0; i < s.corrupt->len; i++) {
            damaged += g_array_index(s.corrupt, guint8, i);
        }
        if (!s.fail_every) {
            g_assert_cmpuint(damaged, ==, d.st.corrupted);
        }
    }
    res->st = d.st;
    res->max_displacement = displacement;
    res->max_used = pool.max_used;
    relay_pool_free(&pool);
    g_array_free(s.ids, TRUE);
    g_array_free(s.times, TRUE);
    g_array_free(s.corrupt, TRUE);
}

/* Reordering: frames come back out of order, none is lost or repeated. */
static void test_reorder_keeps_frames(void)
{
    struct relay_cfg cfg = { .reorder = 0.3 };
    struct run_result r;

    /* Frames close together: the gap releases held ones. */
    run_sched(&cfg, 20000, 3, 2000 * US, 1 * US, 64, 1, &r);
    assert_rate("held", r.st.held, 20000, 0.3);
    g_assert_cmpuint(r.st.reordered, ==, r.st.held);
    g_assert_cmpuint(r.st.pool_full, ==, 0);
    /* A held frame is overtaken by gap frames, plus any held with it. */
    g_assert_cmpuint(r.max_displacement, >=, 1);
    g_assert_cmpuint(r.max_displacement, <=, 3 + 16);

    /* Frames far apart: the wait releases them, nobody overtook them. */
    run_sched(&cfg, 2000, 3, 100 * US, 1000 * US, 64, 2, &r);
    g_assert_cmpuint(r.st.held, >, 0);
    g_assert_cmpuint(r.st.reordered, ==, 0);
    g_assert_cmpuint(r.max_displacement, ==, 0);

    /* All together, with delay and jitter, and everything else on. */
    cfg = (struct relay_cfg){ .loss = 0.05, .dup = 0.05, .reorder = 0.1,
                              .corrupt = 0.01, .delay_ns = 300 * US,
                              .jitter_ns = 200 * US };
    run_sched(&cfg, 20000, 3, 2000 * US, 20 * US, 256, 3, &r);
    g_assert_cmpuint(r.st.pool_full, ==, 0);
    g_assert_cmpuint(r.st.dropped, >, 0);
    g_assert_cmpuint(r.st.duplicated, >, 0);
    g_assert_cmpuint(r.st.corrupted, >, 0);
    g_assert_cmpuint(r.st.reordered, >, 0);
    g_test_message("max pool use %u", r.max_used);
}

/* A pool too small: held frames go out in order instead, delayed ones are
 * dropped and counted; memory stays bounded. */
static void test_pool_bound(void)
{
    struct relay_cfg cfg = { .reorder = 0.5 };
    struct run_result r;

    run_sched(&cfg, 5000, 10, 2000 * US, 1 * US, 2, 4, &r);
    g_assert_cmpuint(r.st.pool_full, >, 0);
    g_assert_cmpuint(r.st.sent, ==, 5000);     /* none lost */
    g_assert_cmpuint(r.max_used, <=, 2);

    cfg = (struct relay_cfg){ .delay_ns = 1000 * US };
    run_sched(&cfg, 5000, 3, 2000 * US, 1 * US, 16, 5, &r);
    g_assert_cmpuint(r.st.pool_full, >, 0);
    g_assert_cmpuint(r.st.sent + r.st.pool_full, ==, 5000);
    g_assert_cmpuint(r.max_used, <=, 16);
}

/* A fixed delay: each frame leaves exactly that long after it came, in
 * order; with jitter, within the band and still in order. */
static void test_delay(void)
{
    struct relay_cfg cfg = { .delay_ns = 700 * US };
    struct relay_pool pool;
    struct relay_dir d;
    uint64_t now = 0;
    struct sink s = {
        .ids = g_array_new(FALSE, FALSE, sizeof(uint32_t)),
        .times = g_array_new(FALSE, FALSE, sizeof(uint64_t)),
        .corrupt = g_array_new(FALSE, FALSE, sizeof(guint8)),
        .now = &now,
    };
    uint8_t f[FRAME_LEN];

    g_assert_cmpint(relay_pool_init(&pool, 1024, FRAME_LEN), ==, 0);
    for (int pass = 0; pass < 2; pass++) {
        relay_dir_init(&d, &cfg, 77, 3, 2000 * US, &pool, sink_emit, &s);
        g_array_set_size(s.ids, 0);
        g_array_set_size(s.times, 0);
        now = 0;
        for (uint32_t id = 0; id < 1000; id++) {
            frame_make(f, id);
            relay_dir_input(&d, f, FRAME_LEN, id * 10 * US);
            /* Step the clock to every deadline before the next frame. */
            while (relay_dir_next_due(&d) < (id + 1) * 10 * US) {
                now = relay_dir_next_due(&d);
                relay_dir_run(&d, now);
            }
        }
        while (relay_dir_next_due(&d) != UINT64_MAX) {
            now = relay_dir_next_due(&d);
            relay_dir_run(&d, now);
        }
        g_assert_cmpuint(s.ids->len, ==, 1000);
        for (guint i = 0; i < 1000; i++) {
            uint64_t t = g_array_index(s.times, uint64_t, i);

            g_assert_cmpuint(g_array_index(s.ids, uint32_t, i), ==, i);
            if (pass == 0) {
                g_assert_cmpuint(t, ==, i * 10 * US + 700 * US);
            } else {
                g_assert_cmpuint(t, >=, i * 10 * US + 400 * US);
                g_assert_cmpuint(t, <=, i * 10 * US + 1000 * US);
            }
            if (i) {
                g_assert_cmpuint(t, >=, g_array_index(s.times, uint64_t, i - 1));
            }
        }
        cfg.delay_ns = 700 * US;
        cfg.jitter_ns = 300 * US;
    }
    relay_pool_free(&pool);
    g_array_free(s.ids, TRUE);
    g_array_free(s.times, TRUE);
    g_array_free(s.corrupt, TRUE);
}

/* A failing send is counted, not retried, and frees its slot. */
static void test_send_errors(void)
{
    struct relay_cfg cfg = { .reorder = 0.2, .delay_ns = 50 * US };
    struct relay_pool pool;
    struct relay_dir d;
    uint64_t now = 0;
    struct sink s = {
        .ids = g_array_new(FALSE, FALSE, sizeof(uint32_t)),
        .times = g_array_new(FALSE, FALSE, sizeof(uint64_t)),
        .corrupt = g_array_new(FALSE, FALSE, sizeof(guint8)),
        .now = &now, .fail_every = 7,
    };
    uint8_t f[FRAME_LEN];

    g_assert_cmpint(relay_pool_init(&pool, 64, FRAME_LEN), ==, 0);
    relay_dir_init(&d, &cfg, 5, 3, 100 * US, &pool, sink_emit, &s);
    for (uint32_t id = 0; id < 7000; id++) {
        frame_make(f, id);
        now += 5 * US;
        relay_dir_input(&d, f, FRAME_LEN, now);
        relay_dir_run(&d, now);
    }
    relay_dir_flush(&d);
    g_assert_cmpuint(d.st.send_errors, ==, 1000);
    g_assert_cmpuint(d.st.sent, ==, 6000);
    g_assert_cmpuint(pool.used, ==, 0);
    relay_pool_free(&pool);
    g_array_free(s.ids, TRUE);
    g_array_free(s.times, TRUE);
    g_array_free(s.corrupt, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/relay/rng", test_rng);
    g_test_add_func("/relay/rates", test_rates);
    g_test_add_func("/relay/edges", test_edges);
    g_test_add_func("/relay/seed", test_seed);
    g_test_add_func("/relay/flip", test_flip);
    g_test_add_func("/relay/reorder-keeps-frames", test_reorder_keeps_frames);
    g_test_add_func("/relay/pool-bound", test_pool_bound);
    g_test_add_func("/relay/delay", test_delay);
    g_test_add_func("/relay/send-errors", test_send_errors);
    return g_test_run();
}
