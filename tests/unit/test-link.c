/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the encap link layer: two links (initiator and responder)
 * joined by an in-memory channel that can drop, duplicate, reorder and
 * corrupt frames, driven by a fake clock.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "encap/link.h"
#include "encap/seal.h"

#define MS 1000000ull
#define US 1000ull

struct side;

struct frame {
    uint8_t *buf;
    size_t len;
    struct side *to;
    uint64_t release;           /* held back: when it goes on */
};

/* The channel: frames in flight, and what it does to them. */
static struct {
    GQueue q;
    GRand *rand;
    unsigned drop_every;        /* drop every n-th frame (0: never) */
    unsigned drop_at;           /* drop the n-th frame (0: none) */
    double drop_p, dup_p, corrupt_p, reorder_p;
    double hold_p;              /* held back hold_ns (run() lets it go) */
    uint64_t hold_ns;
    GQueue held;                /* in release order */
    unsigned sent;
    GPtrArray *log;             /* of GBytes: every frame sent, if set */
    GRand *keyrand;             /* the sides' randomness (nonces) */
} chan;

struct side {
    struct encap_link *l;
    struct side *peer;
    GArray *got;                /* tags of delivered TLPs, in order */
    enum encap_link_state state;
    unsigned ups, downs;
    uint64_t down_at;
    uint64_t up_at;
    uint64_t rx_at;             /* last frame the link took (run()) */
    unsigned requests;          /* request TLPs delivered (not Cpl/CplD) */
};

static struct side vm, ep;
static uint64_t now;
static const struct encap_tlp_limits lim = { .mps = 4096 };
static const uint8_t vm_mac[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t ep_mac[6] = { 2, 0, 0, 0, 0, 0x0b };

static int send_frame(void *opaque, const uint8_t *f, size_t len)
{
    struct side *s = opaque;
    struct frame *fr;

    chan.sent++;
    if (chan.log) {
        g_ptr_array_add(chan.log, g_bytes_new(f, len));
    }
    if ((chan.drop_every && chan.sent % chan.drop_every == 0) ||
        chan.sent == chan.drop_at ||
        g_rand_double(chan.rand) < chan.drop_p) {
        return 0;
    }
    for (int copies = g_rand_double(chan.rand) < chan.dup_p ? 2 : 1;
         copies > 0; copies--) {
        fr = g_new(struct frame, 1);
        fr->buf = g_memdup2(f, len);
        fr->len = len;
        fr->to = s->peer;
        if (g_rand_double(chan.rand) < chan.corrupt_p) {
            fr->buf[g_rand_int_range(chan.rand, 0, len)] ^= 0x10;
        }
        if (chan.hold_p && g_rand_double(chan.rand) < chan.hold_p) {
            fr->release = now + chan.hold_ns;
            g_queue_push_tail(&chan.held, fr);
        } else if (g_rand_double(chan.rand) < chan.reorder_p) {
            g_queue_push_head(&chan.q, fr);
        } else {
            g_queue_push_tail(&chan.q, fr);
        }
    }
    return 0;
}

static void deliver(void *opaque, const uint8_t *tlp, size_t len)
{
    struct side *s = opaque;
    struct encap_tlp t;

    g_assert_cmpint(encap_tlp_decode(tlp, len, &lim, &t), ==, 0);
    g_array_append_val(s->got, t.tag);
    if (t.type != ENCAP_TLP_CPL && t.type != ENCAP_TLP_CPLD) {
        s->requests++;
    }
}

static void state_changed(void *opaque, enum encap_link_state st)
{
    struct side *s = opaque;

    if (st == ENCAP_LINK_UP) {
        s->ups++;
        s->up_at = now;
    } else if (st == ENCAP_LINK_DOWN && s->state == ENCAP_LINK_UP) {
        s->downs++;
        s->down_at = now;
    }
    s->state = st;
}

static int test_random(void *opaque, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = g_rand_int(chan.keyrand);
    }
    return 0;
}

static const struct encap_link_ops ops = {
    .send_frame = send_frame,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
    .random = test_random,
};

/*
 * The transport's burst, when a test sets tune.burst: the frames go into
 * the channel one by one, as send_frame puts them, so that a run with
 * bursts can be compared frame for frame with one without.  It takes at
 * most burst.take frames per call (0: all), and refuses (-EAGAIN, nothing
 * sent) every burst.fail_every-th call (0: never).
 */
static struct {
    unsigned calls;
    unsigned frames;
    unsigned largest;
    unsigned take;
    unsigned fail_every;
    unsigned refused;
} burst;

static int send_burst(void *opaque, const struct encap_link_frame *f,
                      unsigned n)
{
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpuint(n, <=, ENCAP_LINK_BURST);
    burst.calls++;
    burst.largest = MAX(burst.largest, n);
    if (burst.fail_every && burst.calls % burst.fail_every == 0) {
        burst.refused += n;
        return -EAGAIN;
    }
    if (burst.take && n > burst.take) {
        n = burst.take;
    }
    for (unsigned i = 0; i < n; i++) {
        send_frame(opaque, f[i].data, f[i].len);
    }
    burst.frames += n;
    return n;
}

static const struct encap_link_ops ops_burst = {
    .send_burst = send_burst,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
    .random = test_random,
};

/* The endpoint's admission rule, when a test sets tune.ep_hook. */
static struct {
    bool allow;
    unsigned calls;
    uint8_t mac[6];
    uint16_t rc_id;
    unsigned proven;            /* ops->peer_proven calls */
    uint64_t tx_at_proof;       /* the endpoint's frames_tx at the first */
} admit;

static bool hello_allowed(void *opaque, const uint8_t mac[6], uint16_t rc_id)
{
    admit.calls++;
    memcpy(admit.mac, mac, 6);
    admit.rc_id = rc_id;
    return admit.allow;
}

static void peer_proven(void *opaque)
{
    struct side *s = opaque;
    struct encap_link_stats st;

    encap_link_get_stats(s->l, &st);
    if (!admit.proven++) {
        admit.tx_at_proof = st.frames_tx;
    }
}

static const struct encap_link_ops ops_hook = {
    .send_frame = send_frame,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
    .random = test_random,
    .hello_allowed = hello_allowed,
    .peer_proven = peer_proven,
};

/* Settings of the next setup_keys(), cleared by teardown(). */
static struct {
    uint64_t vm_keepalive_ns, ep_keepalive_ns;
    unsigned misses;
    uint64_t hello_ns;
    bool ep_hook;
    bool burst;                 /* both sides send through ops_burst */
    unsigned window;            /* 0: 16 */
    unsigned vm_credit, ep_credit;      /* rx_request_credit */
} tune;

/* Both sides, each with key @vm_key / @ep_key (NULL: none). */
static void setup_keys(const char *vm_key, const char *ep_key)
{
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 1024, .mrrs = 4096, .window = 16,
        .session = 0x1234, .rc_id = 7,
    };

    memset(&chan, 0, sizeof(chan));
    g_queue_init(&chan.q);
    g_queue_init(&chan.held);
    chan.rand = g_rand_new_with_seed(1234);
    chan.keyrand = g_rand_new_with_seed(4321);
    now = 1000 * MS;
    memset(&vm, 0, sizeof(vm));
    memset(&ep, 0, sizeof(ep));
    vm.peer = &ep;
    ep.peer = &vm;
    vm.got = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    ep.got = g_array_new(FALSE, FALSE, sizeof(uint16_t));

    c.initiator = true;
    memcpy(c.own_mac, vm_mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    c.key = (const uint8_t *)vm_key;
    c.key_len = vm_key ? strlen(vm_key) : 0;
    c.keepalive_ns = tune.vm_keepalive_ns;
    c.keepalive_misses = tune.misses;
    c.hello_ns = tune.hello_ns;
    c.window = tune.window ?: 16;
    c.rx_request_credit = tune.vm_credit;
    vm.l = encap_link_new(&c, tune.burst ? &ops_burst : &ops, &vm);
    c.initiator = false;
    memcpy(c.own_mac, ep_mac, 6);
    memset(c.peer_mac, 0, 6);           /* learnt from HELLO */
    c.mps = 512;                        /* the smaller one is agreed */
    c.key = (const uint8_t *)ep_key;
    c.key_len = ep_key ? strlen(ep_key) : 0;
    c.keepalive_ns = tune.ep_keepalive_ns;
    c.rx_request_credit = tune.ep_credit;
    ep.l = encap_link_new(&c, tune.ep_hook ? &ops_hook :
                              tune.burst ? &ops_burst : &ops, &ep);
    g_assert_nonnull(vm.l);
    g_assert_nonnull(ep.l);
}

static void setup(void)
{
    setup_keys(NULL, NULL);
}

static void teardown(void)
{
    struct frame *fr;

    while ((fr = g_queue_pop_head(&chan.q)) ||
           (fr = g_queue_pop_head(&chan.held))) {
        g_free(fr->buf);
        g_free(fr);
    }
    encap_link_free(vm.l);
    encap_link_free(ep.l);
    g_array_free(vm.got, TRUE);
    g_array_free(ep.got, TRUE);
    g_rand_free(chan.rand);
    g_rand_free(chan.keyrand);
    if (chan.log) {
        g_ptr_array_free(chan.log, TRUE);
    }
    memset(&tune, 0, sizeof(tune));
    memset(&admit, 0, sizeof(admit));
    memset(&burst, 0, sizeof(burst));
}

/* Deliver what is in flight and run timers, advancing the clock, until
 * nothing is left to do or @max_ms of fake time passed. */
static void run(unsigned max_ms)
{
    uint64_t end = now + max_ms * MS;

    while (now < end) {
        struct frame *fr;
        uint64_t d1, d2, next;

        while ((fr = g_queue_peek_head(&chan.held)) && fr->release <= now) {
            g_queue_push_tail(&chan.q, g_queue_pop_head(&chan.held));
        }
        while ((fr = g_queue_pop_head(&chan.q))) {
            if (encap_link_input(fr->to->l, fr->buf, fr->len, now) == 0) {
                fr->to->rx_at = now;
            }
            g_free(fr->buf);
            g_free(fr);
        }
        d1 = encap_link_poll(vm.l, now);
        d2 = encap_link_poll(ep.l, now);
        if (!g_queue_is_empty(&chan.q)) {
            continue;
        }
        next = d1 && d2 ? MIN(d1, d2) : d1 ? d1 : d2;
        if ((fr = g_queue_peek_head(&chan.held)) &&
            (!next || fr->release < next)) {
            next = fr->release;
        }
        if (!next) {
            return;
        }
        now = MAX(now + 1, next);
    }
}

static void connect_up(void)
{
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    run(1000);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
}

static int send_tlp(struct side *s, uint16_t tag)
{
    struct encap_tlp t = {
        .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf,
        .addr = 0x1000, .tag = tag,
    };
    return encap_link_queue_tlp(s->l, &t, &lim, now);
}

/* Send @n TLPs from the VM, flushing every @batch, waiting for window. */
static void send_many(unsigned n, unsigned batch)
{
    for (unsigned i = 0; i < n; i++) {
        int r;
        while ((r = send_tlp(&vm, i % 1024)) == -ENCAP_E_NOSPACE) {
            run(5);
        }
        g_assert_cmpint(r, ==, 0);
        if ((i + 1) % batch == 0) {
            encap_link_flush(vm.l, now);
        }
    }
    encap_link_flush(vm.l, now);
}

static void assert_in_order(struct side *s, unsigned n)
{
    g_assert_cmpuint(s->got->len, ==, n);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpuint(g_array_index(s->got, uint16_t, i), ==, i % 1024);
    }
}

static void test_handshake(void)
{
    struct encap_link_stats st;

    setup();
    connect_up();
    g_assert_cmpuint(encap_link_mps(vm.l), ==, 512);
    g_assert_cmpuint(encap_link_mps(ep.l), ==, 512);
    g_assert_cmpuint(vm.ups, ==, 1);
    g_assert_cmpuint(ep.ups, ==, 1);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.frames_tx, ==, 1);      /* one HELLO */
    teardown();
}

static void test_in_order_batched(void)
{
    struct encap_link_stats st;

    setup();
    connect_up();
    send_many(1000, 50);
    run(1000);
    assert_in_order(&ep, 1000);
    encap_link_get_stats(vm.l, &st);
    /* 50 MRd of 16 bytes + 4 per record fit one 1514-byte frame */
    g_assert_cmpuint(st.data_tx, ==, 20);
    g_assert_cmpuint(st.retransmits, ==, 0);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    teardown();
}

static void test_lossy(gconstpointer p)
{
    const int mode = GPOINTER_TO_INT(p);
    struct encap_link_stats st, est;

    setup();
    connect_up();
    switch (mode) {
    case 0:
        chan.drop_every = 7;
        break;
    case 1:
        chan.drop_p = 0.1;
        break;
    case 2:
        chan.dup_p = 0.2;
        chan.reorder_p = 0.2;
        break;
    case 3:
        chan.corrupt_p = 0.1;
        break;
    default:
        chan.drop_p = chan.dup_p = chan.reorder_p = chan.corrupt_p = 0.05;
        break;
    }
    send_many(3000, 3);
    run(60000);
    assert_in_order(&ep, 3000);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    if (mode != 2) {
        g_assert_cmpuint(st.retransmits, >, 0);
    } else {
        g_assert_cmpuint(est.duplicates + est.out_of_order, >, 0);
    }
    if (mode == 3) {
        g_assert_cmpuint(est.drops_bad[ENCAP_E_CRC] + st.drops_bad[ENCAP_E_CRC], >, 0);
    }
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    teardown();
}

static void test_window_full(void)
{
    struct encap_link_stats st;
    unsigned queued = 0;

    setup();
    connect_up();
    /* Nothing reaches the endpoint: the window (16) fills. */
    chan.drop_p = 1.0;
    for (;;) {
        int r = send_tlp(&vm, queued);
        if (r == -ENCAP_E_NOSPACE) {
            break;
        }
        g_assert_cmpint(r, ==, 0);
        encap_link_flush(vm.l, now);
        queued++;
    }
    g_assert_cmpuint(queued, ==, 16);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 16);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.window_full, ==, 1);
    /* The channel heals: everything arrives once. */
    chan.drop_p = 0;
    run(5000);
    assert_in_order(&ep, 16);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    teardown();
}

/*
 * Nothing gets through: the link gives up after max_retries timeouts, in
 * about 4 s, as with a fixed 20 ms first timeout; also when a short round
 * trip was measured first (1 ms timeouts do not count towards it).
 */
static void test_link_down(gconstpointer p)
{
    uint64_t t0;

    setup();
    connect_up();
    if (GPOINTER_TO_INT(p)) {
        send_many(20, 1);
        run(100);
    }
    t0 = now;
    chan.drop_p = 1.0;
    g_assert_cmpint(send_tlp(&vm, 1), ==, 0);
    encap_link_flush(vm.l, now);
    run(120000);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(vm.downs, ==, 1);
    g_test_message("down after %.3f s", (vm.down_at - t0) / 1e9);
    g_assert_cmpuint(vm.down_at - t0, >=, 3000 * MS);
    g_assert_cmpuint(vm.down_at - t0, <=, 6000 * MS);
    g_assert_cmpint(send_tlp(&vm, 2), <, 0);     /* nothing queued when down */
    teardown();
}

static void test_restart(void)
{
    struct encap_link_stats st;

    setup();
    connect_up();
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    /* The VM restarts: a new epoch resets the endpoint's sequence state. */
    g_array_set_size(ep.got, 0);
    connect_up();
    g_assert_cmpuint(ep.ups, ==, 2);
    g_assert_cmpuint(ep.downs, ==, 1);
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    encap_link_get_stats(ep.l, &st);
    g_assert_cmpuint(st.drops, ==, 0);
    teardown();
}

/*
 * A HELLO of an earlier epoch that turns up late (a retry delayed or
 * duplicated on the wire) does not move the endpoint back to that epoch:
 * the session the VM is in keeps working.  A restarted VM, whose epochs
 * start elsewhere, is still taken.
 */
/* Connect and come up, keeping a copy of the HELLO (to replay it late). */
static struct frame *connect_keeping_hello(void)
{
    struct frame *hello;

    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    hello = g_queue_peek_head(&chan.q);
    g_assert_nonnull(hello);
    hello = g_memdup2(hello, sizeof(*hello));
    hello->buf = g_memdup2(hello->buf, hello->len);
    run(1000);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    return hello;
}

/* Connect, keeping a copy of the HELLO, whatever happens next. */
static struct frame *connect_keeping_hello_any(void)
{
    struct frame *hello;

    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    hello = g_queue_peek_head(&chan.q);
    g_assert_nonnull(hello);
    hello = g_memdup2(hello, sizeof(*hello));
    hello->buf = g_memdup2(hello->buf, hello->len);
    return hello;
}

/* The endpoint's session still carries TLPs in order; frees @hello. */
static void check_working(struct frame *hello)
{
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    g_free(hello->buf);
    g_free(hello);
    teardown();
}

static void test_stale_hello(void)
{
    struct encap_link_stats st;
    struct frame *old;

    setup();
    old = connect_keeping_hello();
    connect_up();                               /* the next epoch */
    encap_link_input(ep.l, old->buf, old->len, now);
    run(100);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(ep.ups, ==, 2);
    encap_link_get_stats(ep.l, &st);
    g_assert_cmpuint(st.drops_session, ==, 1);
    check_working(old);

    /*
     * The endpoint gives up on the epoch (its frames got no ack) while the
     * VM is still up in it: a late copy of that epoch's HELLO must not
     * restart the endpoint's sequence numbers under the VM's; only a new
     * connect opens the session again.
     */
    setup();
    old = connect_keeping_hello();
    chan.drop_p = 1;
    g_assert_cmpint(send_tlp(&ep, 1), ==, 0);
    encap_link_flush(ep.l, now);
    run(10000);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    chan.drop_p = 0;
    encap_link_input(ep.l, old->buf, old->len, now);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    connect_up();
    check_working(old);

    /* A new VM process: same session by chance, epochs far away. */
    setup();
    connect_up();
    encap_link_free(vm.l);
    {
        struct encap_link_config c = {
            .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
            .window = 16, .session = 0x1234, .rc_id = 7, .epoch = 0x80000000u,
        };
        memcpy(c.own_mac, vm_mac, 6);
        memcpy(c.peer_mac, ep_mac, 6);
        vm.l = encap_link_new(&c, tune.burst ? &ops_burst : &ops, &vm);
    }
    connect_up();
    g_assert_cmpuint(ep.ups, ==, 2);
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    teardown();
}

/*
 * One frame of ten lost: the endpoint keeps the seven after the gap and
 * says so; the VM resends that frame alone, without waiting for a timeout.
 */
static void test_sack_one_lost(void)
{
    struct encap_link_stats st, est;

    setup();
    connect_up();
    chan.drop_at = chan.sent + 3;       /* the third DATA frame */
    send_many(10, 1);
    run(1000);
    assert_in_order(&ep, 10);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(st.retransmits, ==, 1);
    g_assert_cmpuint(st.fast_retransmits, ==, 1);
    g_assert_cmpuint(st.timeouts, ==, 0);
    g_assert_cmpuint(st.sacked, ==, 7);
    g_assert_cmpuint(est.ooo_kept, ==, 7);
    g_assert_cmpuint(est.duplicates, ==, 0);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    teardown();
}

/*
 * A lone frame lost (nothing after it to reveal the loss) is resent by the
 * tail-loss probe, two round trips and the ack delay after it was sent,
 * well before the retransmission timeout (the 1 ms floor here, not the
 * initial 20 ms).  While the loss persists the probe goes once, then the
 * timeout takes over and backs off.
 */
static void test_rto_measured(void)
{
    struct encap_link_stats st;
    uint64_t t0, pto;

    setup();
    connect_up();
    send_many(20, 1);
    run(100);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.rtt_samples, >, 0);
    g_assert_cmpuint(st.srtt_ns, <, 1 * MS);
    g_assert_cmpuint(st.rto_cur_ns, ==, 1 * MS);
    pto = 2 * st.srtt_ns + 100 * US;

    t0 = now;
    chan.drop_at = chan.sent + 1;
    g_assert_cmpint(send_tlp(&vm, 20), ==, 0);
    encap_link_flush(vm.l, now);
    run(100);
    g_assert_cmpuint(ep.got->len, ==, 21);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.tail_probes, ==, 1);
    g_assert_cmpuint(st.timeouts, ==, 0);
    g_assert_cmpuint(st.retransmits, ==, 1);
    g_assert_cmpuint(now - t0, <, 1 * MS);

    /* Lost four times in a row: the probe, then timeouts of 1, 2, 4 ms. */
    t0 = now;
    chan.drop_p = 1;
    g_assert_cmpint(send_tlp(&vm, 21), ==, 0);
    encap_link_flush(vm.l, now);
    run(6);
    chan.drop_p = 0;
    run(100);
    g_assert_cmpuint(ep.got->len, ==, 22);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.tail_probes, ==, 2);
    g_assert_cmpuint(st.timeouts, ==, 3);
    g_assert_cmpuint(now - t0, >=, 7 * MS + pto - 100 * US);
    g_assert_cmpuint(now - t0, <, 8 * MS + pto);
    assert_in_order(&ep, 22);
    teardown();
}

/*
 * The endpoint is not scheduled for a while: twelve frames reach it but
 * it neither takes them in nor acks them until well after the VM's
 * retransmission timeout.  The timeout resends the oldest frame alone
 * (not all twelve); the acks that then come show the others arrived, so
 * the timeout is counted early and nothing more goes again.
 */
static void test_rto_late_acks(void)
{
    struct encap_link_stats st;
    GQueue held = G_QUEUE_INIT;
    struct frame *fr;

    setup();
    connect_up();
    send_many(20, 1);
    run(100);
    g_array_set_size(ep.got, 0);
    send_many(12, 1);
    for (unsigned i = 0; i < 60; i++) {         /* 6 ms, the VM alone */
        while ((fr = g_queue_pop_head(&chan.q))) {
            g_queue_push_tail(&held, fr);
        }
        now += 100 * US;
        encap_link_poll(vm.l, now);
    }
    while ((fr = g_queue_pop_head(&held))) {    /* the endpoint wakes */
        g_queue_push_tail(&chan.q, fr);
    }
    run(100);
    assert_in_order(&ep, 12);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.timeouts, >=, 1);
    g_assert_cmpuint(st.timeouts_early, ==, 1);
    /* The tail probe, then the oldest frame once per timeout. */
    g_assert_cmpuint(st.retransmits, ==, st.tail_probes + st.timeouts);
    g_assert_cmpuint(st.retransmits, <=, 4);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    teardown();
}

/*
 * Twelve frames all lost, and the tail probe (the newest again) with
 * them: the timeout resends the oldest; the endpoint's ack of that one
 * shows the ones after it are missing, and they go again in rounds of
 * twice as many each, a round trip apart, not one per timeout.
 */
static void test_rto_window_lost(void)
{
    struct encap_link_stats st;
    uint64_t t0;

    setup();
    connect_up();
    send_many(20, 1);
    run(100);
    g_array_set_size(ep.got, 0);
    t0 = now;
    chan.drop_p = 1;
    send_many(12, 1);
    for (unsigned i = 0; i < 5; i++) {         /* the probe, lost too */
        now += 100 * US;
        encap_link_poll(vm.l, now);
    }
    chan.drop_p = 0;
    run(100);
    assert_in_order(&ep, 12);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.timeouts, ==, 1);
    g_assert_cmpuint(st.timeouts_early, ==, 0);
    /* Probes (the newest, lost, then again once news came); the eleven
     * before it once each: the oldest, then rounds of 2, 4 and 4. */
    g_assert_cmpuint(st.tail_probes, ==, 2);
    g_assert_cmpuint(st.retransmits, ==, st.tail_probes + 11);
    g_assert_cmpuint(st.fast_retransmits, ==, 0);
    /* One timeout (the 1 ms floor), not twelve. */
    g_assert_cmpuint(now - t0, <, 2 * MS);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    teardown();
}

/* One request/answer exchange of lone frames: a TLP each way, each flushed. */
static void exchange(unsigned i)
{
    g_assert_cmpint(send_tlp(&vm, i % 1024), ==, 0);
    encap_link_flush(vm.l, now);
    run(2);
    g_assert_cmpint(send_tlp(&ep, i % 1024), ==, 0);
    encap_link_flush(ep.l, now);
    run(2);
}

/* Probes and timeouts of both sides so far. */
static uint64_t recoveries(void)
{
    struct encap_link_stats a, b;

    encap_link_get_stats(vm.l, &a);
    encap_link_get_stats(ep.l, &b);
    return a.tail_probes + a.timeouts + b.tail_probes + b.timeouts;
}

/*
 * Lossy mode: request/answer exchanges of lone frames (each its own flush,
 * as register reads and their completions are) on a wire that loses 10%
 * of frames.  Once an epoch of 256 new frames has needed more than 4% of
 * them sent again, the newest frame of each flush goes out twice, and a
 * loss then seldom costs a probe or a timeout.  On a clean wire it never
 * comes on.
 */
static void test_lossy_tail_copies(void)
{
    struct encap_link_stats st;
    uint64_t r0, r1, r2;
    unsigned n = 0;

    setup();
    connect_up();
    for (unsigned i = 0; i < 600; i++) {
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.lossy_ons, ==, 0);
    g_assert_cmpuint(st.tail_copies, ==, 0);

    chan.drop_p = 0.1;
    r0 = recoveries();
    for (unsigned i = 0; i < 250; i++) {     /* within the first epoch */
        exchange(n++);
    }
    r1 = recoveries();
    for (unsigned i = 0; i < 300; i++) {     /* the mode comes on */
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.lossy_ons, ==, 1);
    g_assert_cmpuint(st.tail_copies, >, 0);
    r2 = recoveries();
    for (unsigned i = 0; i < 250; i++) {
        exchange(n++);
    }
    chan.drop_p = 0;
    run(1000);
    g_test_message("probes and timeouts per 250 exchanges at 10%% loss: "
                   "%llu before lossy mode, %llu in it",
                   (unsigned long long)(r1 - r0),
                   (unsigned long long)(recoveries() - r2));
    g_assert_cmpuint((recoveries() - r2) * 3, <, r1 - r0);
    assert_in_order(&ep, 1400);
    assert_in_order(&vm, 1400);
    teardown();
}

/*
 * The endpoint is not scheduled for @us: what reaches it waits, while the
 * VM runs its timers (and hears nothing).
 */
static void ep_asleep(unsigned us)
{
    GQueue held = G_QUEUE_INIT;
    struct frame *fr;

    for (unsigned i = 0; i < us / 50; i++) {
        while ((fr = g_queue_pop_head(&chan.q))) {
            g_queue_push_tail(&held, fr);
        }
        now += 50 * US;
        encap_link_poll(vm.l, now);
    }
    while ((fr = g_queue_pop_head(&chan.q))) {  /* sent last, stays last */
        g_queue_push_tail(&held, fr);
    }
    while ((fr = g_queue_pop_head(&held))) {
        g_queue_push_tail(&chan.q, fr);
    }
}

/* exchange(), with the endpoint asleep for @us when the request comes. */
static void late_exchange(unsigned i, unsigned us)
{
    g_assert_cmpint(send_tlp(&vm, i % 1024), ==, 0);
    encap_link_flush(vm.l, now);
    ep_asleep(us);
    run(2);
    g_assert_cmpint(send_tlp(&ep, i % 1024), ==, 0);
    encap_link_flush(ep.l, now);
    run(2);
}

/*
 * A clean wire and an endpoint that now and then is not scheduled for
 * 3 ms: one request/answer exchange in ten waits for it.  The VM sends
 * the request again (the tail probe, then timeouts), and every copy
 * reaches the endpoint after the first: it reports each one (ENCAP_F_DUP)
 * and the VM takes them back out of its loss estimate, so lossy mode
 * stays off, as it should on a wire that loses nothing.  A resend of
 * every fourth exchange would count 25%, over the 4% that turns it on.
 */
static void test_late_answers_not_lossy(void)
{
    struct encap_link_stats st, est;
    unsigned n = 0;

    setup();
    connect_up();
    for (unsigned i = 0; i < 1200; i++) {
        if (i % 10 == 5) {
            late_exchange(n++, 3000);
        } else {
            exchange(n++);
        }
    }
    run(100);
    assert_in_order(&ep, 1200);
    assert_in_order(&vm, 1200);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    g_test_message("VM: %llu resends (%llu probes, %llu timeouts), "
                   "%llu reported needless",
                   (unsigned long long)st.retransmits,
                   (unsigned long long)st.tail_probes,
                   (unsigned long long)st.timeouts,
                   (unsigned long long)st.resends_needless);
    /* Each late request went again at least once, all needlessly. */
    g_assert_cmpuint(st.retransmits, >=, 120);
    g_assert_cmpuint(est.duplicates, ==, st.retransmits);
    g_assert_cmpuint(st.resends_needless, ==, st.retransmits);
    g_assert_cmpuint(st.lossy_ons, ==, 0);
    g_assert_cmpuint(st.tail_copies, ==, 0);
    teardown();
}

/*
 * A stretch where every answer is late: the endpoint takes 1.5 ms to
 * answer each request, against the 0.1 ms it took so far.  The first late
 * answers cost resends (the probe, then the 1 ms timeout); the endpoint
 * reports them as duplicates, so the VM takes the first copy's round trip
 * as a sample (a frame sent twice gives none otherwise) and its timers
 * soon wait long enough: most of the stretch goes without a resend.
 */
static void test_late_answers_learnt(void)
{
    struct encap_link_stats st;
    unsigned n = 0;

    setup();
    connect_up();
    for (unsigned i = 0; i < 200; i++) {
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.srtt_ns, <, 500 * US);
    g_assert_cmpuint(st.retransmits, ==, 0);
    for (unsigned i = 0; i < 40; i++) {
        late_exchange(n++, 1500);
    }
    run(100);
    assert_in_order(&ep, n);
    assert_in_order(&vm, n);
    encap_link_get_stats(vm.l, &st);
    g_test_message("40 late answers: %llu resends, all reported needless: "
                   "%llu; srtt %llu us",
                   (unsigned long long)st.retransmits,
                   (unsigned long long)st.resends_needless,
                   (unsigned long long)st.srtt_ns / 1000);
    g_assert_cmpuint(st.resends_needless, ==, st.retransmits);
    g_assert_cmpuint(st.retransmits, >=, 1);
    g_assert_cmpuint(st.retransmits, <, 20);
    g_assert_cmpuint(st.srtt_ns, >, 1 * MS);
    teardown();
}

/*
 * A wire that loses nothing but holds one frame in ten back for 2 ms (a
 * relay that reorders).  A held lone frame waits for the probe, whose
 * copy gets through first: the resend helped, though the held original
 * arrives later and the peer reports it as a duplicate.  Such a report
 * comes long after the peer had the frame, unlike one for a needless
 * resend (with the ack itself): the resend still counts, lossy mode comes
 * on, and its copies spare most of the probes.
 */
static void test_held_frames_lossy(void)
{
    struct encap_link_stats st;
    uint64_t r0, r1, r2;
    unsigned n = 0;

    setup();
    connect_up();
    for (unsigned i = 0; i < 100; i++) {
        exchange(n++);
    }
    chan.hold_p = 0.1;
    chan.hold_ns = 2 * MS;
    r0 = recoveries();
    for (unsigned i = 0; i < 250; i++) {
        exchange(n++);
        run(5);
    }
    r1 = recoveries();
    for (unsigned i = 0; i < 300; i++) {
        exchange(n++);
        run(5);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.lossy_ons, >=, 1);
    r2 = recoveries();
    for (unsigned i = 0; i < 250; i++) {
        exchange(n++);
        run(5);
    }
    chan.hold_p = 0;
    run(100);
    g_test_message("probes and timeouts per 250 exchanges, 10%% held 2 ms: "
                   "%llu before lossy mode, %llu in it; %llu resends, "
                   "%llu needless",
                   (unsigned long long)(r1 - r0),
                   (unsigned long long)(recoveries() - r2),
                   (unsigned long long)st.retransmits,
                   (unsigned long long)st.resends_needless);
    g_assert_cmpuint((recoveries() - r2) * 2, <, r1 - r0);
    assert_in_order(&ep, n);
    assert_in_order(&vm, n);
    teardown();
}

/*
 * Lossy mode stays on as long as the wire loses frames, though its copies
 * hide the losses they mend (each copy counts as a resend until the peer
 * reports it had both), and goes off once the wire is clean again.
 */
static void test_lossy_stays_on(void)
{
    struct encap_link_stats st;
    uint64_t copies;
    unsigned n = 0;

    setup();
    connect_up();
    chan.drop_p = 0.05;
    for (unsigned i = 0; i < 800; i++) {
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.lossy_ons, ==, 1);
    for (unsigned i = 0; i < 4000; i++) {       /* 15 epochs */
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_test_message("5%% loss, 4800 exchanges: lossy mode on %llu time(s)",
                   (unsigned long long)st.lossy_ons);
    g_assert_cmpuint(st.lossy_ons, ==, 1);
    chan.drop_p = 0;
    run(100);
    for (unsigned i = 0; i < 600; i++) {
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    copies = st.tail_copies;
    for (unsigned i = 0; i < 300; i++) {
        exchange(n++);
    }
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.tail_copies, ==, copies);      /* off */
    assert_in_order(&ep, n);
    assert_in_order(&vm, n);
    teardown();
}

/* Frames from elsewhere are dropped and counted, never acted on. */
static void test_stray(void)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_DATA, .flags = ENCAP_F_SEQ, .rc_id = 7,
        .session = 0x1234,
    };
    struct encap_link_stats st;
    struct encap_tlp t = { .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf };
    uint8_t buf[128];
    int n;

    setup();
    connect_up();
    /* wrong source MAC */
    memcpy(h.dst, ep_mac, 6);
    memcpy(h.src, (uint8_t[]){ 2, 0, 0, 0, 0, 0x66 }, 6);
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_tlp(&b, &t, &lim);
    n = encap_frame_finish(&b);
    g_assert_cmpint(encap_link_input(ep.l, buf, n, now), <, 0);
    /* right peer, stale epoch */
    memcpy(h.src, vm_mac, 6);
    h.epoch = 0;
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_tlp(&b, &t, &lim);
    n = encap_frame_finish(&b);
    g_assert_cmpint(encap_link_input(ep.l, buf, n, now), <, 0);
    /* garbage */
    g_assert_cmpint(encap_link_input(ep.l, buf, 20, now), ==, -ENCAP_E_SHORT);
    encap_link_get_stats(ep.l, &st);
    g_assert_cmpuint(st.drops_not_ours, ==, 1);
    g_assert_cmpuint(st.drops_session, ==, 1);
    g_assert_cmpuint(st.drops_bad[ENCAP_E_SHORT], ==, 1);
    g_assert_cmpuint(ep.got->len, ==, 0);
    teardown();
}

/* A HELLO from the VM's address offering @max_frame, @mps; input to ep. */
static int hello_with(uint16_t max_frame, uint16_t mps, uint32_t epoch)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_CTRL, .rc_id = 7, .session = 0x4321,
        .epoch = epoch,
    };
    struct encap_ctrl c = {
        .op = ENCAP_CTRL_HELLO, .max_frame = max_frame, .mps = mps,
        .mrrs = 4096,
    };
    uint8_t body[ENCAP_CTRL_LEN], buf[128];

    memcpy(h.dst, ep_mac, 6);
    memcpy(h.src, vm_mac, 6);
    encap_ctrl_encode(&c, body, sizeof(body));
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_payload(&b, body, sizeof(body));
    return encap_link_input(ep.l, buf, encap_frame_finish(&b), now);
}

/*
 * The sizes a HELLO offers: a frame too small for any TLP, or an MPS that
 * is not a multiple of 64 from 128 to 4096, is refused and counted (a frame
 * of 10 bytes used to become the agreed size, and the next TLP was built
 * in no buffer at all); an MPS too large for the offered frame is cut to
 * the largest multiple of 64 that fits.
 */
static void test_hello_sizes(void)
{
    struct encap_link_stats st;

    setup();
    g_assert_cmpint(hello_with(10, 512, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(hello_with(1514, 100, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(hello_with(1514, 8192, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(hello_with(1514, 1000, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    encap_link_get_stats(ep.l, &st);
    g_assert_cmpuint(st.drops_bad[ENCAP_E_FIELD], ==, 4);

    /* A 400-byte frame with MPS 4096: 512 is ours, 320 fits the frame
     * (400 less 62 bytes of headers, down to a multiple of 64). */
    g_assert_cmpint(hello_with(400, 4096, 1), ==, 0);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(encap_link_mps(ep.l), ==, 320);
    teardown();

    /* A standard frame: 1408, not the 1024 of a power of two. */
    g_assert_cmpuint(encap_mps_for_frame(1514), ==, 1408);
    g_assert_cmpuint(encap_mps_for_frame(9014), ==, 4096);
    g_assert_cmpuint(encap_mps_for_frame(100), ==, 128);
}

/*
 * A fake-clock channel with a wire: each direction serialises frames at
 * 10 Gbit/s and delivers them 10 us later; a seeded PRNG loses, duplicates,
 * delays (reorders) and corrupts frames.  Both sides send @n numbered MWr
 * TLPs to each other as fast as the window lets them; each side checks
 * that it gets exactly 0..n-1, in order.
 */
#define SIM_LATENCY (10 * US)
#define SIM_PS_PER_BYTE 800     /* 10 Gbit/s */

struct sim_peer;

struct sim_frame {
    uint64_t at, order;
    struct sim_peer *to;
    size_t len;
    uint8_t buf[];
};

struct sim_peer {
    struct encap_link *l;
    struct sim_peer *other;
    uint64_t wire_free;         /* ps: when this side's wire is idle */
    unsigned tx_next, rx_next;
    unsigned lost, dups, misordered;
    /*
     * With sim_credit.credit: the application releases the requests it
     * had been given one release interval (sim_credit.lag_ns) before.
     */
    uint32_t rq_delivered, rq_released, rq_due;
    uint64_t release_at;
};

/* Settings of the next sim_run(): request credit on both sides. */
static struct {
    unsigned credit;
    uint64_t lag_ns;
} sim_credit;

static struct {
    GPtrArray *heap;            /* of struct sim_frame, by (at, order) */
    uint64_t order;
    GRand *rand;
    double drop_p, dup_p, reorder_p, corrupt_p;
    bool lossy;
} sim;

static struct sim_peer sa, sb;

static bool sim_before(const struct sim_frame *x, const struct sim_frame *y)
{
    return x->at < y->at || (x->at == y->at && x->order < y->order);
}

static void sim_push(struct sim_frame *f)
{
    GPtrArray *h = sim.heap;
    guint i = h->len;

    g_ptr_array_add(h, f);
    while (i > 0 && sim_before(f, h->pdata[(i - 1) / 2])) {
        h->pdata[i] = h->pdata[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->pdata[i] = f;
}

static struct sim_frame *sim_pop(void)
{
    GPtrArray *h = sim.heap;
    struct sim_frame *top, *last;
    guint i = 0;

    if (!h->len) {
        return NULL;
    }
    top = h->pdata[0];
    last = g_ptr_array_steal_index(h, h->len - 1);
    if (!h->len) {
        return top;
    }
    for (;;) {
        guint c = 2 * i + 1;

        if (c >= h->len) {
            break;
        }
        if (c + 1 < h->len && sim_before(h->pdata[c + 1], h->pdata[c])) {
            c++;
        }
        if (!sim_before(h->pdata[c], last)) {
            break;
        }
        h->pdata[i] = h->pdata[c];
        i = c;
    }
    h->pdata[i] = last;
    return top;
}

static void sim_queue(struct sim_peer *to, const uint8_t *f, size_t len,
                      uint64_t at)
{
    struct sim_frame *fr = g_malloc(sizeof(*fr) + len);

    fr->at = at;
    fr->order = sim.order++;
    fr->to = to;
    fr->len = len;
    memcpy(fr->buf, f, len);
    if (sim.lossy && g_rand_double(sim.rand) < sim.corrupt_p) {
        fr->buf[g_rand_int_range(sim.rand, 0, len)] ^= 0x10;
    }
    sim_push(fr);
}

static int sim_send(void *opaque, const uint8_t *f, size_t len)
{
    struct sim_peer *s = opaque;
    uint64_t start = MAX(now * 1000, s->wire_free);
    uint64_t at;

    /* On the wire whatever happens to it later. */
    s->wire_free = start + (uint64_t)MAX(len, 60) * SIM_PS_PER_BYTE;
    at = s->wire_free / 1000 + SIM_LATENCY;
    if (sim.lossy && g_rand_double(sim.rand) < sim.drop_p) {
        return 0;
    }
    if (sim.lossy && g_rand_double(sim.rand) < sim.reorder_p) {
        at += g_rand_int_range(sim.rand, 1, 40) * US;     /* overtaken */
    }
    sim_queue(s->other, f, len, at);
    if (sim.lossy && g_rand_double(sim.rand) < sim.dup_p) {
        sim_queue(s->other, f, len, at + g_rand_int_range(sim.rand, 0, 20) * US);
    }
    return 0;
}

static void sim_deliver(void *opaque, const uint8_t *tlp, size_t len)
{
    struct sim_peer *s = opaque;
    struct encap_tlp t;
    uint32_t n;

    g_assert_cmpint(encap_tlp_decode(tlp, len, &lim, &t), ==, 0);
    s->rq_delivered++;                  /* MWr: all requests */
    memcpy(&n, t.data, 4);
    if (n == s->rx_next) {
        s->rx_next++;
    } else if (n < s->rx_next) {
        s->dups++;
    } else {
        s->misordered++;
        s->lost += n - s->rx_next;
        s->rx_next = n + 1;
    }
}

static int sim_random(void *opaque, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = g_rand_int(sim.rand);
    }
    return 0;
}

static const struct encap_link_ops sim_ops = {
    .send_frame = sim_send,
    .deliver_tlp = sim_deliver,
    .random = sim_random,
};

/* TLP @i: an MWr of 1..16 DW whose first DW is @i. */
static int sim_queue_tlp(struct sim_peer *s, uint32_t i)
{
    uint8_t data[64];
    struct encap_tlp t = {
        .type = ENCAP_TLP_MWR, .len_dw = 1 + i % 16, .first_be = 0xf,
        .addr = 0x10000 + (i % 64) * 64, .tag = i & 0x3ff, .data = data,
    };

    t.last_be = t.len_dw > 1 ? 0xf : 0;
    memset(data, i, sizeof(data));
    memcpy(data, &i, 4);
    return encap_link_queue_tlp(s->l, &t, &lim, now);
}

/* Deliver what is due, run the timers, let the senders fill the window;
 * then move the clock to the next event.  false: nothing left to do. */
static bool sim_step(unsigned n)
{
    struct sim_peer *sides[2] = { &sa, &sb };
    struct sim_frame *fr;
    uint64_t next = 0;

    while (sim.heap->len &&
           ((struct sim_frame *)sim.heap->pdata[0])->at <= now) {
        fr = sim_pop();
        encap_link_input(fr->to->l, fr->buf, fr->len, now);
        g_free(fr);
    }
    for (int i = 0; i < 2; i++) {
        struct sim_peer *s = sides[i];
        bool queued = false;

        while (encap_link_state(s->l) == ENCAP_LINK_UP && s->tx_next < n &&
               sim_queue_tlp(s, s->tx_next) == 0) {
            s->tx_next++;
            queued = true;
        }
        if (queued) {
            encap_link_flush(s->l, now);
        }
    }
    for (int i = 0; i < 2; i++) {
        struct sim_peer *s = sides[i];

        if (!sim_credit.credit) {
            break;
        }
        if (now >= s->release_at) {
            encap_link_requests_done(s->l, s->rq_due - s->rq_released, now);
            s->rq_released = s->rq_due;
            s->rq_due = s->rq_delivered;
            s->release_at = now + sim_credit.lag_ns;
        }
        if (s->rq_released != s->rq_delivered &&
            (!next || s->release_at < next)) {
            next = s->release_at;
        }
    }
    for (int i = 0; i < 2; i++) {
        uint64_t d = encap_link_poll(sides[i]->l, now);

        if (d && (!next || d < next)) {
            next = d;
        }
    }
    if (sim.heap->len) {
        uint64_t at = ((struct sim_frame *)sim.heap->pdata[0])->at;

        next = next && next < at ? next : at;
    }
    if (!next) {
        return false;
    }
    now = MAX(now, next);
    return true;
}

struct sim_result {
    uint64_t ns;                /* to move everything both ways */
    struct encap_link_stats a, b;
};

/* Move @n TLPs each way at the given rates; seeded, so repeatable. */
static void sim_run(unsigned n, double drop, double dup, double reorder,
                    double corrupt, bool keyed, struct sim_result *res)
{
    static const char key[] = "the simulation's pre-shared key";
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 256, .mrrs = 4096,
        .session = 0x5151, .rc_id = 3,
        .key = keyed ? (const uint8_t *)key : NULL,
        .key_len = keyed ? sizeof(key) - 1 : 0,
        .rx_request_credit = sim_credit.credit,
    };
    struct sim_frame *fr;
    uint64_t start, limit;

    memset(&sim, 0, sizeof(sim));
    sim.heap = g_ptr_array_new();
    sim.rand = g_rand_new_with_seed(20261130);
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    sa.other = &sb;
    sb.other = &sa;
    now = 1000 * MS;
    c.initiator = true;
    memcpy(c.own_mac, vm_mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    sa.l = encap_link_new(&c, &sim_ops, &sa);
    c.initiator = false;
    memcpy(c.own_mac, ep_mac, 6);
    memset(c.peer_mac, 0, 6);
    sb.l = encap_link_new(&c, &sim_ops, &sb);
    g_assert_nonnull(sa.l);
    g_assert_nonnull(sb.l);

    encap_link_connect(sa.l, now);
    while ((encap_link_state(sb.l) != ENCAP_LINK_UP ||
            encap_link_state(sa.l) != ENCAP_LINK_UP) && sim_step(0)) {
    }
    g_assert_cmpint(encap_link_state(sa.l), ==, ENCAP_LINK_UP);
    sim.drop_p = drop;
    sim.dup_p = dup;
    sim.reorder_p = reorder;
    sim.corrupt_p = corrupt;
    sim.lossy = true;
    start = now;
    limit = now + 60000 * MS;
    while ((sa.rx_next < n || sb.rx_next < n) && now < limit) {
        g_assert_true(sim_step(n));
    }
    res->ns = now - start;
    encap_link_get_stats(sa.l, &res->a);
    encap_link_get_stats(sb.l, &res->b);
    g_assert_cmpint(encap_link_state(sa.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(sb.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(sa.rx_next, ==, n);
    g_assert_cmpuint(sb.rx_next, ==, n);
    g_assert_cmpuint(sa.lost + sb.lost, ==, 0);
    g_assert_cmpuint(sa.dups + sb.dups, ==, 0);
    g_assert_cmpuint(sa.misordered + sb.misordered, ==, 0);

    while ((fr = sim_pop())) {
        g_free(fr);
    }
    g_ptr_array_free(sim.heap, TRUE);
    g_rand_free(sim.rand);
    encap_link_free(sa.l);
    encap_link_free(sb.l);
}

/*
 * 10^6 TLPs in all: 100000 each way, clean and at four loss mixes.  The
 * transfer at 1% loss takes at most twice as long as the clean one (go-
 * back-N with a 20 ms timeout took many times longer).  With @p, both
 * sides give a request credit of 32 and release requests 20 us after they
 * got them: the same, every request within the credit, senders held
 * often and never for long.
 */
static void test_lossy_channel(gconstpointer p)
{
    static const struct {
        const char *name;
        double drop, dup, reorder, corrupt;
    } mix[] = {
        { "clean", 0, 0, 0, 0 },
        { "0.1% loss", 0.001, 0, 0, 0 },
        { "1% loss", 0.01, 0, 0, 0 },
        { "5% loss", 0.05, 0, 0, 0 },
        { "5% loss 5% dup 10% reorder 1% corrupt", 0.05, 0.05, 0.10, 0.01 },
    };
    const unsigned n = 100000;
    uint64_t clean = 0, t[G_N_ELEMENTS(mix)];

    if (GPOINTER_TO_INT(p)) {
        sim_credit.credit = 32;
        sim_credit.lag_ns = 20 * US;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(mix); i++) {
        struct sim_result r;

        sim_run(n, mix[i].drop, mix[i].dup, mix[i].reorder, mix[i].corrupt,
                false, &r);
        t[i] = r.ns;
        if (!i) {
            clean = r.ns;
        }
        g_test_message("%-40s %8.3f ms (%.2fx clean) retransmits %" G_GUINT64_FORMAT
                       "+%" G_GUINT64_FORMAT " fast %" G_GUINT64_FORMAT
                       " timeouts %" G_GUINT64_FORMAT " srtt %" G_GUINT64_FORMAT
                       " ns rto %" G_GUINT64_FORMAT " ns crc %" G_GUINT64_FORMAT,
                       mix[i].name, r.ns / 1e6, (double)r.ns / clean,
                       r.a.retransmits, r.b.retransmits,
                       r.a.fast_retransmits + r.b.fast_retransmits,
                       r.a.timeouts + r.b.timeouts, r.a.srtt_ns,
                       r.a.rto_cur_ns, r.a.drops_bad[ENCAP_E_CRC] + r.b.drops_bad[ENCAP_E_CRC]);
        if (i) {
            g_assert_cmpuint(r.a.retransmits + r.b.retransmits, >, 0);
            g_assert_cmpuint(r.a.fast_retransmits + r.b.fast_retransmits, >, 0);
            g_assert_cmpuint(r.a.sacked + r.b.sacked, >, 0);
        } else {
            g_assert_cmpuint(r.a.retransmits + r.b.retransmits, ==, 0);
        }
        if (mix[i].corrupt) {
            g_assert_cmpuint(r.a.drops_bad[ENCAP_E_CRC] +
                             r.b.drops_bad[ENCAP_E_CRC], >, 0);
            g_assert_cmpuint(r.a.duplicates + r.b.duplicates, >, 0);
        }
        /* A LAN round trip, not the 20 ms initial timeout. */
        g_assert_cmpuint(r.a.srtt_ns, >, 0);
        g_assert_cmpuint(r.a.srtt_ns, <, 1 * MS);
        if (sim_credit.credit) {
            g_test_message("%-40s credit waits %" G_GUINT64_FORMAT "+%"
                           G_GUINT64_FORMAT " probes %" G_GUINT64_FORMAT
                           " updates %" G_GUINT64_FORMAT " backlog max %"
                           G_GUINT64_FORMAT, "", r.a.credit_waits,
                           r.b.credit_waits,
                           r.a.credit_probes + r.b.credit_probes,
                           r.a.credit_updates + r.b.credit_updates,
                           MAX(r.a.credit_backlog_max, r.b.credit_backlog_max));
            g_assert_cmpuint(r.a.credit_waits, >, 0);
            g_assert_cmpuint(r.b.credit_waits, >, 0);
            g_assert_cmpuint(r.a.credit_overruns + r.b.credit_overruns, ==, 0);
            g_assert_cmpuint(r.a.credit_backlog_max, <=, 32);
            g_assert_cmpuint(r.b.credit_backlog_max, <=, 32);
            g_assert_cmpuint(r.a.requests_rx, ==, n);
            g_assert_cmpuint(r.b.requests_rx, ==, n);
        }
    }
    memset(&sim_credit, 0, sizeof(sim_credit));
    /* Go-back-N with a fixed 20 ms timeout: 3.75x, 122x and 66x. */
    g_assert_cmpuint(t[2], <=, 2 * clean);
    g_assert_cmpuint(t[3], <=, 4 * clean);
    g_assert_cmpuint(t[4], <=, 4 * clean);
}

/* ---- keyed sessions ---- */

#define KEY "a pre-shared key of 32 bytes...!"
#define KEY2 "another pre-shared key, 32 bytes"

static uint64_t sealed_ctr(const uint8_t *f)
{
    uint64_t c = 0;

    for (int i = 0; i < 8; i++) {
        c = c << 8 | f[38 + i];
    }
    return c;
}

/*
 * Two keyed sides come up and move TLPs both ways over a lossy channel.
 * On the wire: version 2 only; after HELLO/HELLO_ACK every frame is
 * sealed, the payload is not in clear, and no counter is used twice in a
 * direction (a retransmission is sealed again under a fresh one).
 */
static void test_keyed(gconstpointer p)
{
    bool lossy = GPOINTER_TO_INT(p);
    struct encap_link_stats st, est;
    GHashTable *seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    unsigned hellos = 0, sealed = 0;

    setup_keys(KEY, KEY);
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    g_assert_cmpuint(encap_link_mps(vm.l), ==, 512);
    if (lossy) {
        chan.drop_p = chan.dup_p = chan.reorder_p = chan.corrupt_p = 0.05;
    }
    send_many(2000, 3);
    for (unsigned i = 0; i < 50; i++) {
        g_assert_cmpint(send_tlp(&ep, i), ==, 0);
    }
    encap_link_flush(ep.l, now);
    run(60000);
    assert_in_order(&ep, 2000);
    assert_in_order(&vm, 50);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    if (lossy) {
        g_assert_cmpuint(st.retransmits, >, 0);
        g_assert_cmpuint(st.replay + est.replay, >, 0);     /* dup copies */
        g_assert_cmpuint(st.drops_bad[ENCAP_E_CRC] + est.drops_bad[ENCAP_E_CRC], >, 0);
    } else {
        g_assert_cmpuint(st.drops + est.drops, ==, 0);
    }
    g_assert_cmpuint(st.auth_fail + est.auth_fail, ==, 0);  /* CRC first */
    g_assert_cmpuint(st.key_mismatch + est.key_mismatch, ==, 0);
    for (guint i = 0; i < chan.log->len; i++) {
        gsize len;
        const uint8_t *f = g_bytes_get_data(chan.log->pdata[i], &len);
        uint16_t flags = f[16] << 8 | f[17];
        int64_t key;

        g_assert_cmpuint(f[14], ==, ENCAP_VERSION_KEYED);
        if (!(flags & ENCAP_F_SEALED)) {
            g_assert_cmpuint(f[15], ==, ENCAP_FRAME_CTRL);
            g_assert_cmpuint(f[38], <=, ENCAP_CTRL_HELLO_ACK);
            hellos++;
            continue;
        }
        sealed++;
        key = (int64_t)(sealed_ctr(f) << 1 | (flags & ENCAP_F_RESP ? 1 : 0));
        g_assert_false(g_hash_table_contains(seen, &key));
        g_hash_table_add(seen, g_memdup2(&key, sizeof(key)));
        if (f[15] == ENCAP_FRAME_DATA) {
            /* An MRd record in clear would start 00 10 00 00 00 00 00 01 */
            g_assert_false(f[46] == 0 && f[47] == 16 && f[50] == 0);
        }
    }
    g_assert_cmpuint(hellos, ==, 2);
    g_assert_cmpuint(sealed, >, 20);
    g_test_message("%u sealed frames, %u distinct counters, replays dropped %"
                   G_GUINT64_FORMAT, sealed, g_hash_table_size(seen),
                   st.replay + est.replay);
    g_hash_table_destroy(seen);
    teardown();
}

/* Different keys: HELLO is refused (counted), the link never comes up. */
static void test_keyed_wrong_key(void)
{
    struct encap_link_stats st, est;

    setup_keys(KEY, KEY2);
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    run(5000);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(vm.ups + ep.ups, ==, 0);
    encap_link_get_stats(ep.l, &est);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(est.auth_fail, ==, 9);     /* the HELLO and 8 retries */
    g_assert_cmpuint(est.drops, ==, 9);
    g_assert_cmpuint(est.frames_tx, ==, 0);
    g_assert_cmpuint(st.frames_rx, ==, 0);
    teardown();
}

/* A keyed and an unkeyed side: each refuses the other, counted. */
static void test_keyed_mismatch(gconstpointer p)
{
    bool vm_keyed = GPOINTER_TO_INT(p);
    struct encap_link_stats st, est;

    setup_keys(vm_keyed ? KEY : NULL, vm_keyed ? NULL : KEY);
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    run(5000);
    g_assert_cmpuint(vm.ups + ep.ups, ==, 0);
    encap_link_get_stats(ep.l, &est);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(est.key_mismatch, ==, 9);
    g_assert_cmpuint(est.drops, ==, 9);
    g_assert_cmpuint(est.frames_tx, ==, 0);
    g_assert_cmpuint(st.frames_rx, ==, 0);
    teardown();
}

/*
 * A frame from a stranger on the segment who knows both MACs, the rc id,
 * session and epoch but not the key: version @version, @flags, payload
 * @p (@n bytes); the CRC is right.
 */
static int forge(uint8_t *buf, size_t size, const uint8_t *dst,
                 const uint8_t *src, uint8_t version, uint8_t type,
                 uint16_t flags, uint32_t epoch, uint32_t seq,
                 const uint8_t *p, size_t n)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = type, .flags = flags, .rc_id = 7, .session = 0x1234,
        .epoch = epoch, .seq = seq,
    };
    int len;
    uint32_t crc;

    memcpy(h.dst, dst, 6);
    memcpy(h.src, src, 6);
    encap_frame_begin(&b, buf, size, &h);
    if (type == ENCAP_FRAME_DATA && !(flags & ENCAP_F_SEALED)) {
        encap_frame_add_raw(&b, p, n);
    } else {
        encap_frame_add_payload(&b, p, n);
    }
    len = encap_frame_finish(&b);
    buf[14] = version;
    crc = encap_crc32c(0, buf, len - 4);
    buf[len - 4] = crc >> 24;
    buf[len - 3] = crc >> 16;
    buf[len - 2] = crc >> 8;
    buf[len - 1] = crc;
    return len;
}

/* A CTRL payload of @op, keyed-HELLO sized when @hello, random otherwise. */
static size_t ctrl_payload(uint8_t *p, uint8_t op, bool hello)
{
    struct encap_ctrl c = { .op = op, .max_frame = 1514, .mps = 1024,
                            .mrrs = 4096 };

    for (int i = 0; i < 64; i++) {
        p[i] = g_rand_int(chan.rand);
    }
    encap_ctrl_encode(&c, p, 64);
    return hello ? ENCAP_HELLO_KEYED_LEN : ENCAP_CTRL_LEN;
}

/*
 * The stranger injects forged HELLO, HELLO_ACK, BYE, ACK, NAK, PING and
 * DATA frames, keyed (version 2, sealed with a made-up tag or not) and
 * unkeyed (version 1), and replays every frame captured so far: nothing
 * changes (no state change, nothing delivered twice), each one counted;
 * then the session still carries TLPs.  After a reconnect the previous
 * epoch's frames replayed are stale.
 */
static void test_keyed_stranger(void)
{
    static const uint8_t ops_to_ep[] = {
        ENCAP_CTRL_HELLO, ENCAP_CTRL_BYE, ENCAP_CTRL_ACK, ENCAP_CTRL_NAK,
        ENCAP_CTRL_PING,
    };
    struct encap_link_stats st, est, st0, est0;
    uint8_t buf[256], p[64];
    uint32_t epoch;
    unsigned forged_auth = 0, forged_v1 = 0;
    GPtrArray *captured;

    setup_keys(KEY, KEY);
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    send_many(100, 5);
    run(1000);
    assert_in_order(&ep, 100);
    /* The epoch the session is in, as the stranger reads it off the wire. */
    {
        const uint8_t *f = g_bytes_get_data(chan.log->pdata[0], NULL);
        epoch = f[22] << 24 | f[23] << 16 | f[24] << 8 | f[25];
    }
    encap_link_get_stats(vm.l, &st0);
    encap_link_get_stats(ep.l, &est0);

    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof(ops_to_ep); i++) {
            uint8_t op = ops_to_ep[i];
            bool hello = op == ENCAP_CTRL_HELLO;
            size_t n = ctrl_payload(p, op, hello);
            uint32_t e = hello ? epoch + 1 + round : epoch;
            int len;

            /* version 2 without the seal (a HELLO with a made-up MAC) */
            len = forge(buf, sizeof(buf), ep_mac, vm_mac, 2, ENCAP_FRAME_CTRL,
                        0, e, 0, p, n);
            g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                            -ENCAP_E_AUTH);
            forged_auth++;
            /* version 2 "sealed" with a made-up counter and tag */
            len = forge(buf, sizeof(buf), ep_mac, vm_mac, 2, ENCAP_FRAME_CTRL,
                        ENCAP_F_SEALED | ENCAP_F_ACK, epoch, 0, p,
                        n + ENCAP_SEAL_OVERHEAD);
            g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                            -ENCAP_E_AUTH);
            forged_auth++;
            /* the same to the VM, as if from the endpoint */
            len = forge(buf, sizeof(buf), vm_mac, ep_mac, 2, ENCAP_FRAME_CTRL,
                        ENCAP_F_RESP | ENCAP_F_SEALED, epoch, 0, p,
                        n + ENCAP_SEAL_OVERHEAD);
            g_assert_cmpint(encap_link_input(vm.l, buf, len, now), ==,
                            -ENCAP_E_AUTH);
            forged_auth++;
            /* version 1, as an unkeyed peer would send it */
            len = forge(buf, sizeof(buf), ep_mac, vm_mac, 1, ENCAP_FRAME_CTRL,
                        0, e, 0, p, ENCAP_CTRL_LEN);
            g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                            -ENCAP_E_KEY);
            forged_v1++;
        }
        /* A HELLO_ACK to the VM, and DATA both ways */
        ctrl_payload(p, ENCAP_CTRL_HELLO_ACK, true);
        g_assert_cmpint(encap_link_input(vm.l, buf,
                                         forge(buf, sizeof(buf), vm_mac, ep_mac, 2,
                                               ENCAP_FRAME_CTRL, ENCAP_F_RESP,
                                               epoch, 0, p, 64), now), ==,
                        -ENCAP_E_AUTH);
        forged_auth++;
        {
            /* an MRd record: 00 0c 00 00 | 16 bytes of TLP, in clear */
            uint8_t rec[4 + 12 + ENCAP_SEAL_OVERHEAD] = {
                0, 12, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xf, 0, 0, 0x10, 0,
            };
            int len = forge(buf, sizeof(buf), ep_mac, vm_mac, 2,
                            ENCAP_FRAME_DATA, ENCAP_F_SEQ | ENCAP_F_SEALED,
                            epoch, 20 + round, rec, sizeof(rec));

            g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                            -ENCAP_E_AUTH);
            forged_auth++;
            len = forge(buf, sizeof(buf), ep_mac, vm_mac, 1, ENCAP_FRAME_DATA,
                        ENCAP_F_SEQ, epoch, 20 + round, rec + 4, 12);
            g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                            -ENCAP_E_KEY);
            forged_v1++;
        }
    }
    /* Replaying every frame captured so far, to where it went. */
    captured = chan.log;
    chan.log = NULL;
    for (guint i = 0; i < captured->len; i++) {
        gsize len;
        const uint8_t *f = g_bytes_get_data(captured->pdata[i], &len);
        struct side *to = f[5] == ep_mac[5] ? &ep : &vm;

        encap_link_input(to->l, f, len, now);
    }
    run(1000);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.auth_fail + st.auth_fail - est0.auth_fail - st0.auth_fail,
                     ==, forged_auth);
    g_assert_cmpuint(est.key_mismatch - est0.key_mismatch, ==, forged_v1);
    /* Every sealed frame replayed: refused by the window. */
    g_assert_cmpuint(st.replay + est.replay, ==, captured->len - 2);
    g_assert_cmpuint(vm.ups, ==, 1);
    g_assert_cmpuint(ep.ups, ==, 1);
    g_assert_cmpuint(vm.downs + ep.downs, ==, 0);
    g_assert_cmpuint(ep.got->len, ==, 100);
    g_assert_cmpuint(vm.got->len, ==, 0);
    g_assert_cmpuint(est.tlps_rx, ==, 100);

    /* The session still works. */
    g_array_set_size(ep.got, 0);
    send_many(100, 5);
    run(1000);
    assert_in_order(&ep, 100);

    /* A new epoch: the old one's frames, replayed, are stale. */
    connect_up();
    encap_link_get_stats(ep.l, &est0);
    encap_link_get_stats(vm.l, &st0);
    for (guint i = 0; i < captured->len; i++) {
        gsize len;
        const uint8_t *f = g_bytes_get_data(captured->pdata[i], &len);
        struct side *to = f[5] == ep_mac[5] ? &ep : &vm;

        encap_link_input(to->l, f, len, now);
    }
    run(1000);
    encap_link_get_stats(ep.l, &est);
    encap_link_get_stats(vm.l, &st);
    /* (and the endpoint's unsealed BYEs in the old epoch, at the VM) */
    g_assert_cmpuint(est.byes_stranger - est0.byes_stranger, >=, 1);
    g_assert_cmpuint(est.drops_session + st.drops_session -
                     est0.drops_session - st0.drops_session, ==,
                     captured->len + est.byes_stranger - est0.byes_stranger);
    g_assert_cmpuint(st.byes_unsealed, ==, 0);
    g_assert_cmpuint(ep.ups, ==, 2);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_array_set_size(ep.got, 0);
    send_many(10, 5);
    run(1000);
    assert_in_order(&ep, 10);
    g_ptr_array_free(captured, TRUE);
    teardown();
}

/* A keyed link's parameters: the key's length, the random callback. */
static void test_keyed_config(void)
{
    struct encap_link_config c = {
        .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .key = (const uint8_t *)KEY, .key_len = 15,
    };
    struct encap_link_ops o = ops;

    g_assert_null(encap_link_new(&c, &ops, NULL));      /* too short */
    c.key_len = 16;
    o.random = NULL;
    g_assert_null(encap_link_new(&c, &o, NULL));        /* no randomness */
    c.max_frame = 190;                 /* room for a TLP, not for a seal */
    g_assert_null(encap_link_new(&c, &ops, NULL));
    c.max_frame = 214;
    encap_link_free(encap_link_new(&c, &ops, NULL));
}

/*
 * The worst mix of the lossy channel, keyed: 10^5 TLPs each way arrive
 * exactly once and in order; copies the wire made are refused by the
 * replay window, damaged frames by the CRC, and no tag fails.
 */
static void test_keyed_lossy_channel(void)
{
    struct sim_result r;

    sim_run(100000, 0.05, 0.05, 0.10, 0.01, true, &r);
    g_test_message("keyed: %.3f ms, retransmits %" G_GUINT64_FORMAT "+%"
                   G_GUINT64_FORMAT ", replays %" G_GUINT64_FORMAT
                   ", crc %" G_GUINT64_FORMAT, r.ns / 1e6, r.a.retransmits,
                   r.b.retransmits, r.a.replay + r.b.replay,
                   r.a.drops_bad[ENCAP_E_CRC] + r.b.drops_bad[ENCAP_E_CRC]);
    g_assert_cmpuint(r.a.replay + r.b.replay, >, 0);
    g_assert_cmpuint(r.a.drops_bad[ENCAP_E_CRC] + r.b.drops_bad[ENCAP_E_CRC], >, 0);
    g_assert_cmpuint(r.a.auth_fail + r.b.auth_fail, ==, 0);
    g_assert_cmpuint(r.a.key_mismatch + r.b.key_mismatch, ==, 0);
}

/*
 * The endpoint goes up only on the VM's first sealed frame, the VM's proof
 * of the key under keys bound to both nonces (it sends an ACK at once).
 * That ACK lost, the endpoint waits; the VM's next frame brings it up.  A
 * HELLO replayed to an endpoint that restarted never brings it up.
 */
static void test_keyed_confirm(void)
{
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 512, .mrrs = 4096, .window = 16,
        .key = (const uint8_t *)KEY, .key_len = strlen(KEY),
    };
    struct frame *hello;
    struct encap_link_stats est;

    setup_keys(KEY, KEY);
    chan.drop_at = 3;                   /* HELLO, HELLO_ACK, the ACK */
    hello = connect_keeping_hello_any();
    run(100);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(ep.ups, ==, 0);
    g_assert_cmpint(encap_link_queue_tlp(ep.l, &(struct encap_tlp){
        .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf }, &lim, now), <, 0);
    send_many(5, 5);
    run(100);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(ep.ups, ==, 1);
    assert_in_order(&ep, 5);

    /* The endpoint restarts; a stranger replays the VM's HELLO to it. */
    encap_link_free(ep.l);
    memcpy(c.own_mac, ep_mac, 6);
    ep.l = encap_link_new(&c, &ops, &ep);
    ep.state = ENCAP_LINK_DOWN;
    ep.ups = 0;
    g_assert_cmpint(encap_link_input(ep.l, hello->buf, hello->len, now), ==, 0);
    run(1000);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(ep.ups, ==, 0);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.frames_tx, ==, 1);     /* its HELLO_ACK, unused */
    /* The VM's next connect opens a session with it. */
    connect_up();
    g_array_set_size(ep.got, 0);
    send_many(5, 5);
    run(100);
    assert_in_order(&ep, 5);
    g_free(hello->buf);
    g_free(hello);
    teardown();
}

/* ---- keepalive, and HELLOs that challenge a live session ---- */

/*
 * A PING that reaches the endpoint while it owes the VM an ACK: its PONG
 * (whose ack the VM does not read) does not stand for that ACK, which
 * still goes out after the ack delay, long before the VM would time out.
 */
static void test_ping_keeps_ack_due(void)
{
    struct encap_link_stats st;

    setup();
    connect_up();
    g_assert_cmpint(send_tlp(&vm, 0), ==, 0);
    encap_link_flush(vm.l, now);
    g_assert_cmpint(encap_link_ping(vm.l, 0x55aa, now), ==, 0);
    run(5);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpuint(st.timeouts, ==, 0);
    g_assert_cmpuint(st.retransmits, ==, 0);
    assert_in_order(&ep, 1);
    teardown();
}

#define KA (10 * MS)

/*
 * An idle session with keepalive on the VM's side: a PING every interval,
 * each answered, for 100 intervals; nothing goes down, no round-trip
 * sample is taken from a PONG, and encap_link_poll() names the next PING.
 */
static void test_keepalive_idle(void)
{
    struct encap_link_stats st0, st, est0, est;
    struct frame *fr;
    uint64_t next;

    tune.vm_keepalive_ns = KA;
    setup();
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    while ((fr = g_queue_pop_head(&chan.q))) {
        encap_link_input(fr->to->l, fr->buf, fr->len, now);
        g_free(fr->buf);
        g_free(fr);
    }
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    /* Nothing else is due: the next PING is. */
    next = encap_link_poll(vm.l, now);
    g_assert_cmpuint(next, ==, now + KA);
    send_many(10, 10);
    run(10);
    encap_link_get_stats(vm.l, &st0);
    encap_link_get_stats(ep.l, &est0);
    run(100 * KA / MS);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(vm.downs + ep.downs, ==, 0);
    /* One PING per interval, each answered by a PONG. */
    g_assert_cmpuint(st.frames_tx - st0.frames_tx, >=, 99);
    g_assert_cmpuint(st.frames_tx - st0.frames_tx, <=, 101);
    g_assert_cmpuint(est.frames_tx - est0.frames_tx, ==,
                     st.frames_tx - st0.frames_tx);
    g_assert_cmpuint(st.rtt_samples, ==, st0.rtt_samples);
    g_assert_cmpuint(st.srtt_ns, ==, st0.srtt_ns);
    g_assert_cmpuint(st.keepalive_downs, ==, 0);
    g_assert_cmpuint(st.drops + est.drops, ==, 0);
    teardown();
}

/*
 * The peer falls silent: three PINGs, then down when nothing has been
 * heard for keepalive_ns * misses, not before and not an interval later.
 */
static void test_keepalive_silent(gconstpointer p)
{
    bool keyed = GPOINTER_TO_INT(p);
    struct encap_link_stats st0, st;

    tune.vm_keepalive_ns = KA;
    setup_keys(keyed ? KEY : NULL, keyed ? KEY : NULL);
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    send_many(10, 10);
    run(3 * KA / MS);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    if (keyed) {
        /* The keepalive's PINGs are sealed CTRL frames. */
        const uint8_t *f;
        size_t len;

        f = g_bytes_get_data(chan.log->pdata[chan.log->len - 2], &len);
        g_assert_cmpuint(f[14], ==, 2);
        g_assert_cmpuint(f[15], ==, ENCAP_FRAME_CTRL);
        g_assert_cmpuint(f[17] & ENCAP_F_SEALED, !=, 0);
    }
    encap_link_get_stats(vm.l, &st0);
    chan.drop_p = 1;
    run(10 * KA / MS);
    encap_link_get_stats(vm.l, &st);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(vm.downs, ==, 1);
    g_assert_cmpuint(vm.down_at, >=, vm.rx_at + 4 * KA);
    g_assert_cmpuint(vm.down_at, <=, vm.rx_at + 5 * KA);
    g_assert_cmpuint(st.keepalive_downs, ==, 1);
    g_assert_cmpuint(st.frames_tx - st0.frames_tx, ==, 3);
    /* The endpoint, without keepalive, noticed nothing. */
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    /* Once the channel works again, a new connect brings both back. */
    chan.drop_p = 0;
    connect_up();
    teardown();
}

/* Keepalive on both sides, with different intervals and misses. */
static void test_keepalive_both(void)
{
    struct encap_link_stats st, est;

    tune.vm_keepalive_ns = KA;
    tune.ep_keepalive_ns = 3 * KA / 2;
    tune.misses = 3;
    setup();
    connect_up();
    run(100 * KA / MS);
    g_assert_cmpuint(vm.downs + ep.downs, ==, 0);
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    /* The VM's PINGs keep the endpoint from needing its own. */
    g_assert_cmpuint(st.frames_tx, >=, 100);
    g_assert_cmpuint(est.frames_tx, <=, st.frames_tx + 1);
    chan.drop_p = 1;
    run(20 * KA / MS);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(vm.down_at, >=, vm.rx_at + 3 * KA);
    g_assert_cmpuint(vm.down_at, <=, vm.rx_at + 4 * KA);
    g_assert_cmpuint(ep.down_at, >=, ep.rx_at + 3 * (3 * KA / 2));
    g_assert_cmpuint(ep.down_at, <=, ep.rx_at + 4 * (3 * KA / 2));
    encap_link_get_stats(vm.l, &st);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(st.keepalive_downs, ==, 1);
    g_assert_cmpuint(est.keepalive_downs, ==, 1);
    teardown();
}

/* The first frame an initiator with the VM's MAC sends. */
static GBytes *first_frame;

static int keep_first(void *opaque, const uint8_t *f, size_t len)
{
    if (!first_frame) {
        first_frame = g_bytes_new(f, len);
    }
    return 0;
}

static const struct encap_link_ops ops_keep_first = {
    .send_frame = keep_first,
    .deliver_tlp = deliver,
    .random = test_random,
};

/* The HELLO of an initiator on the VM's MAC in session @session. */
static GBytes *hello_of(uint16_t session, const char *key)
{
    struct encap_link_config c = {
        .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .session = session, .rc_id = 7,
        .key = (const uint8_t *)key, .key_len = key ? strlen(key) : 0,
    };
    struct encap_link *l;
    GBytes *hello;

    memcpy(c.own_mac, vm_mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    l = encap_link_new(&c, &ops_keep_first, NULL);
    g_assert_nonnull(l);
    first_frame = NULL;
    g_assert_cmpint(encap_link_connect(l, now), ==, 0);
    encap_link_free(l);
    hello = first_frame;
    first_frame = NULL;
    g_assert_nonnull(hello);
    return hello;
}

static void input_bytes(struct side *s, GBytes *b)
{
    size_t len;
    const uint8_t *f = g_bytes_get_data(b, &len);

    encap_link_input(s->l, f, len, now);
}

/*
 * A stranger on the segment sends HELLOs with the VM's MAC: another
 * session, and (unkeyed) the VM's session with a newer epoch.  The VM
 * answers the endpoint's PING, so each HELLO is dropped and the session
 * goes on carrying TLPs; a HELLO every 100 ms for a second changes
 * nothing either.
 */
/*
 * One transfer both ways over a channel that drops, duplicates, reorders
 * and damages frames; every frame sent, in order, in *@log (the caller
 * frees it).  Both sides get everything in order, exactly once.
 */
static void burst_transfer(bool with_burst, const char *key, GPtrArray **log)
{
    unsigned calls, frames, largest;

    tune.burst = with_burst;
    setup_keys(key, key);
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    chan.drop_p = 0.03;
    chan.dup_p = 0.02;
    chan.reorder_p = 0.05;
    chan.corrupt_p = 0.01;
    for (unsigned i = 0; i < 3000; i++) {
        int r;

        while ((r = send_tlp(&vm, i % 1024)) == -ENCAP_E_NOSPACE) {
            run(5);
        }
        g_assert_cmpint(r, ==, 0);
        if ((i + 1) % 300 == 0) {
            encap_link_flush(vm.l, now);
            /* The other way, while the VM holds nothing back. */
            for (unsigned k = (i + 1) / 3 - 100; k < (i + 1) / 3; k++) {
                while ((r = send_tlp(&ep, k % 1024)) == -ENCAP_E_NOSPACE) {
                    run(5);
                }
                g_assert_cmpint(r, ==, 0);
            }
            encap_link_flush(ep.l, now);
        }
    }
    run(10000);
    assert_in_order(&ep, 3000);
    assert_in_order(&vm, 1000);
    *log = chan.log;
    chan.log = NULL;
    calls = burst.calls;
    frames = burst.frames;
    largest = burst.largest;
    teardown();
    burst.calls = calls;
    burst.frames = frames;
    burst.largest = largest;
}

/*
 * With ops->send_burst the same frames leave, byte for byte and in the
 * same order, as with send_frame; only the calls are fewer.
 */
static void test_burst_same_frames(gconstpointer p)
{
    const char *key = GPOINTER_TO_INT(p) ? "burst-test-key-0123456789" : NULL;
    GPtrArray *one, *many;
    unsigned calls, frames, largest;

    burst_transfer(false, key, &one);
    burst_transfer(true, key, &many);
    calls = burst.calls;
    frames = burst.frames;
    largest = burst.largest;
    memset(&burst, 0, sizeof(burst));
    g_test_message("%u frames in %u bursts, the largest %u", frames, calls,
                   largest);
    g_assert_cmpuint(many->len, ==, one->len);
    for (guint i = 0; i < one->len; i++) {
        g_assert_true(g_bytes_equal(one->pdata[i], many->pdata[i]));
    }
    g_assert_cmpuint(frames, ==, one->len);
    /* 300 TLPs of 16 bytes + 4, 50 to a 1514-byte frame: 6 at a flush. */
    g_assert_cmpuint(largest, >=, 6);
    g_assert_cmpuint(calls, <, frames);
    g_ptr_array_free(one, TRUE);
    g_ptr_array_free(many, TRUE);
}

/*
 * The DATA frames encap_link_queue_tlp() completes are held and handed
 * over together: at the flush, when ENCAP_LINK_BURST are held, and when
 * the window is full (the caller then waits for acks).
 */
static void test_burst_held(void)
{
    struct encap_link_stats st;
    unsigned i;
    int r;

    tune.burst = true;
    tune.window = 64;
    setup();
    connect_up();
    burst.calls = 0;
    /* Ten frames' worth, one flush: one call with all of them. */
    for (i = 0; ; i++) {
        g_assert_cmpint(send_tlp(&vm, i % 1024), ==, 0);
        encap_link_get_stats(vm.l, &st);
        if (st.data_tx == 9) {
            break;
        }
    }
    g_assert_cmpuint(burst.calls, ==, 0);
    g_assert_true(g_queue_is_empty(&chan.q));
    encap_link_flush(vm.l, now);
    g_assert_cmpuint(burst.calls, ==, 1);
    g_assert_cmpuint(burst.largest, ==, 10);
    run(1000);
    assert_in_order(&ep, i + 1);

    /* Without a flush: ENCAP_LINK_BURST at a time, the rest at a full window. */
    burst.calls = 0;
    burst.largest = 0;
    burst.frames = 0;
    g_array_set_size(ep.got, 0);
    for (i = 0; (r = send_tlp(&vm, i % 1024)) == 0; i++) {
    }
    g_assert_cmpint(r, ==, -ENCAP_E_NOSPACE);
    g_assert_cmpuint(burst.calls, ==, 2);
    g_assert_cmpuint(burst.largest, ==, ENCAP_LINK_BURST);
    g_assert_cmpuint(burst.frames, ==, 64);
    run(1000);
    assert_in_order(&ep, i);
    teardown();
}

/*
 * A transport that takes a few frames per call, or refuses some calls:
 * the rest of a short burst is offered again, a refused one is recovered
 * as a loss; everything arrives in order, once.
 */
static void test_burst_short(gconstpointer p)
{
    struct encap_link_stats st;

    tune.burst = true;
    setup();
    connect_up();
    if (GPOINTER_TO_INT(p)) {
        burst.fail_every = 5;
    } else {
        burst.take = 3;
    }
    send_many(2000, 400);
    run(5000);
    assert_in_order(&ep, 2000);
    encap_link_get_stats(vm.l, &st);
    if (GPOINTER_TO_INT(p)) {
        g_assert_cmpuint(burst.refused, >, 0);
        g_assert_cmpuint(st.retransmits, >, 0);
    } else {
        g_assert_cmpuint(burst.largest, >, 3);
        g_assert_cmpuint(st.retransmits, ==, 0);
    }
    teardown();
}

static void test_hello_challenge(gconstpointer p)
{
    bool keyed = GPOINTER_TO_INT(p);
    const char *key = keyed ? KEY : NULL;
    struct encap_link_stats est;
    GBytes *forged = NULL;

    tune.ep_keepalive_ns = KA;
    setup_keys(key, key);
    connect_up();
    send_many(10, 10);
    run(10);
    assert_in_order(&ep, 10);
    g_array_set_size(ep.got, 0);

    forged = hello_of(0x9999, key);
    input_bytes(&ep, forged);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_probes, ==, 1);
    g_assert_cmpuint(est.hello_refused_live, ==, 0);
    run(1);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_refused_live, ==, 1);

    for (int i = 0; i < 10; i++) {
        input_bytes(&ep, forged);
        run(100);
    }
    if (!keyed) {
        /* The VM's own session at a newer epoch (the VM is in epoch 1). */
        uint8_t buf[256], pl[64];
        size_t n = ctrl_payload(pl, ENCAP_CTRL_HELLO, false);
        int len = forge(buf, sizeof(buf), ep_mac, vm_mac, 1, ENCAP_FRAME_CTRL,
                        0, 5, 0, pl, n);

        g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==, 0);
        run(100);
    }
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(ep.downs + vm.downs, ==, 0);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_probes, ==, keyed ? 11 : 12);
    g_assert_cmpuint(est.hello_refused_live, ==, keyed ? 11 : 12);
    g_assert_cmpuint(est.keepalive_downs, ==, 0);
    send_many(10, 10);
    run(10);
    assert_in_order(&ep, 10);
    g_bytes_unref(forged);
    teardown();
}

/* Replace the VM by a new process: same MAC, session @session. */
static void restart_vm(uint16_t session, const char *key, uint64_t hello_ns)
{
    struct encap_link_config c = {
        .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .window = 16, .session = session, .rc_id = 7, .epoch = 0x4000,
        .key = (const uint8_t *)key, .key_len = key ? strlen(key) : 0,
        .hello_ns = hello_ns,
    };

    encap_link_free(vm.l);
    memcpy(c.own_mac, vm_mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    vm.l = encap_link_new(&c, tune.burst ? &ops_burst : &ops, &vm);
    g_assert_nonnull(vm.l);
    vm.state = ENCAP_LINK_DOWN;
}

/*
 * The VM dies in the middle of its session and comes back at once as a
 * new process.  Its old session is silent, so the endpoint's probe runs
 * out and a later HELLO of the new process opens a session: no sooner than
 * the probe time after its first HELLO, no later than one HELLO interval
 * after the keepalive limit.  @p: 0 10 ms keepalive and 4 misses, 100 ms
 * HELLOs; 1 the same keyed; 2 500 ms, 6 misses, 250 ms HELLOs (the vrc's),
 * in the 2 s the vrc waits.
 */
static void test_hello_restarted(gconstpointer p)
{
    int mode = GPOINTER_TO_INT(p);
    const char *key = mode == 1 ? KEY : NULL;
    uint64_t ka = mode == 2 ? 500 * MS : KA;
    unsigned misses = mode == 2 ? 6 : 4;
    uint64_t hello_ns = mode == 2 ? 250 * MS : 100 * MS;
    uint64_t probe = 2 * ka, last, t0;
    struct encap_link_stats est;

    tune.ep_keepalive_ns = ka;
    tune.misses = misses;
    setup_keys(key, key);
    connect_up();
    send_many(10, 10);
    run(1);
    last = ep.rx_at;
    g_assert_cmpuint(last, >, 0);

    restart_vm(0x4242, key, hello_ns);
    t0 = now;
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    run(2000);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(ep.ups, ==, 2);
    g_assert_cmpuint(ep.up_at, >=, MIN(t0 + probe, last + ka * misses));
    g_assert_cmpuint(ep.up_at, <=, last + ka * misses + hello_ns);
    g_assert_cmpuint(ep.up_at, <=, t0 + probe + hello_ns);
    g_assert_cmpuint(vm.up_at, <=, t0 + 2000 * MS);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_probes, >=, 1);
    g_assert_cmpuint(est.hello_refused_live, ==, 0);
    g_assert_cmpuint(est.keepalive_downs, ==, 1);
    g_array_set_size(ep.got, 0);
    send_many(10, 10);
    run(10);
    assert_in_order(&ep, 10);
    teardown();
}

/* The endpoint's process restarts: a new responder, which knows nobody. */
static void restart_ep(const char *key)
{
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 512, .mrrs = 4096, .window = 16,
        .rc_id = 7, .key = (const uint8_t *)key,
        .key_len = key ? strlen(key) : 0,
        .keepalive_ns = tune.ep_keepalive_ns,
        .keepalive_misses = tune.misses,
    };

    encap_link_free(ep.l);
    memcpy(c.own_mac, ep_mac, 6);
    ep.l = encap_link_new(&c, &ops, &ep);
    g_assert_nonnull(ep.l);
    ep.state = ENCAP_LINK_DOWN;
}

/*
 * The endpoint restarts under a VM that is up.  Unkeyed, the new endpoint
 * answers the VM's first frame of the old session with a BYE in it: the
 * VM is down at once, whether it was sending (@p 0: DATA) or idle (@p 1:
 * its keepalive PING), long before its keepalive limit, says HELLO again
 * and carries TLPs.  Once per session: the rest of a window of frames
 * gets no BYE each.  Keyed (@p 2), the endpoint cannot speak in a session
 * whose keys it lacks: no BYE, the VM finds out by keepalive.
 */
static void test_ep_restarted(gconstpointer p)
{
    int mode = GPOINTER_TO_INT(p);
    const char *key = mode == 2 ? KEY : NULL;
    uint64_t ka = 500 * MS, t0;
    struct encap_link_stats est, vst;

    tune.vm_keepalive_ns = ka;
    tune.misses = 6;
    setup_keys(key, key);
    connect_up();
    send_many(10, 10);
    run(1000);                  /* settled: acks sent, keepalive PINGs */
    assert_in_order(&ep, 10);

    restart_ep(key);
    g_array_set_size(ep.got, 0);
    t0 = now;
    if (mode == 0) {
        for (uint16_t i = 0; i < 8; i++) {
            g_assert_cmpint(send_tlp(&vm, i), ==, 0);
            encap_link_flush(vm.l, now);
        }
    }
    /* Until the VM is down, and not again: it would say HELLO. */
    for (int ms = 0; ms < 5000 && vm.downs == 0; ms++) {
        run(1);
    }
    g_assert_cmpuint(vm.downs, ==, 1);
    encap_link_get_stats(ep.l, &est);
    encap_link_get_stats(vm.l, &vst);
    g_test_message("VM down %.3f s after the endpoint's restart; %u BYE(s) "
                   "from the endpoint", (vm.down_at - t0) / 1e9,
                   (unsigned)est.byes_stranger);
    if (key) {
        /*
         * Unsealed BYEs answer the VM's sealed frames (its keepalive PING,
         * or its DATA): each asks the session, which ends one probe time
         * (2 keepalive intervals) after the first, not at the keepalive
         * limit (6).
         */
        g_assert_cmpuint(est.byes_stranger, >=, 1);
        g_assert_cmpuint(vst.byes_unsealed, >=, 1);
        g_assert_cmpuint(vm.down_at - t0, <=,
                         (mode == 0 ? 0 : ka) + 2 * ka + 10 * MS);
        g_assert_cmpuint(vst.keepalive_downs, ==, 1);
    } else {
        g_assert_cmpuint(est.byes_stranger, ==, 1);
        /* Sending: a window of DATA frames came, one BYE went. */
        g_assert_cmpuint(est.drops_not_ours, >=, mode == 0 ? 8 : 0);
        g_assert_cmpuint(vm.down_at - t0, <=, mode == 0 ? 10 * MS : ka + 10 * MS);
        g_assert_cmpuint(vst.keepalive_downs, ==, 0);
    }
    /* The VM says HELLO again (vrc does, from its state callback). */
    connect_up();
    send_many(10, 10);
    run(10);
    assert_in_order(&ep, 10);
    teardown();
}

/*
 * Keyed: an unsealed BYE in the VM's live session, as a stranger can send
 * it: the VM asks the session (a PING), the endpoint answers, and the
 * session goes on.  One for another session, or to the endpoint, changes
 * nothing.
 */
static void test_bye_unsealed(void)
{
    struct encap_link_stats vst, vst0;
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_CTRL, .flags = ENCAP_F_RESP, .rc_id = 7,
    };
    struct encap_ctrl bye = { .op = ENCAP_CTRL_BYE, .max_frame = 1514 };
    uint8_t body[ENCAP_CTRL_LEN], f[128];
    size_t len;

    tune.vm_keepalive_ns = KA;
    setup_keys(KEY, KEY);
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    run(10);
    encap_link_get_stats(vm.l, &vst0);
    memcpy(h.dst, vm_mac, 6);
    memcpy(h.src, ep_mac, 6);
    h.session = 0x1234;
    {
        const uint8_t *hello = g_bytes_get_data(chan.log->pdata[0], NULL);

        h.epoch = hello[22] << 24 | hello[23] << 16 | hello[24] << 8 |
                  hello[25];
    }
    encap_ctrl_encode(&bye, body, sizeof(body));
    for (int k = 0; k < 3; k++) {
        /* our session; another session; (to the endpoint below) */
        if (k == 1) {
            h.session ^= 1;
        }
        encap_frame_begin(&b, f, sizeof(f), &h);
        encap_frame_add_payload(&b, body, sizeof(body));
        len = encap_frame_finish(&b);
        f[ENCAP_ETH_HLEN] = ENCAP_VERSION_KEYED;
        {
            uint32_t crc = encap_crc32c(0, f, len - 4);

            f[len - 4] = crc >> 24;
            f[len - 3] = crc >> 16;
            f[len - 2] = crc >> 8;
            f[len - 1] = crc;
        }
        if (k < 2) {
            g_assert_cmpint(encap_link_input(vm.l, f, len, now), ==,
                            k == 0 ? 0 : -ENCAP_E_FIELD);
        } else {
            g_assert_cmpint(encap_link_input(ep.l, f, len, now), <, 0);
        }
        run(3 * KA / MS);       /* past the probe time */
    }
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(vm.downs, ==, 0);
    encap_link_get_stats(vm.l, &vst);
    g_assert_cmpuint(vst.byes_unsealed, ==, 1);
    g_assert_cmpuint(vst.hello_refused_live - vst0.hello_refused_live, ==, 1);
    g_assert_cmpuint(vst.auth_fail, ==, 0);
    send_many(10, 10);
    run(10);
    assert_in_order(&ep, 10);
    teardown();
}

/*
 * Which frames an unkeyed endpoint answers with a BYE: one of a session it
 * is not up in, to its MAC, from an initiator, neither HELLO nor BYE, once
 * per session every ENCAP_LINK_STRANGER_BYE_NS.  Not one of the session it
 * is up in that comes from another MAC: that session is not gone.  The
 * VM's session goes on throughout.
 */
static void test_bye_stranger(void)
{
    static const uint8_t stranger[6] = { 2, 0, 0, 0, 0, 0x0c };
    static const uint8_t nobody[6] = { 2, 0, 0, 0, 0, 0x0d };
    static const uint8_t rec[16] = {
        0, 12, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xf, 0, 0, 0x10, 0,
    };
    struct encap_link_stats est;
    uint8_t buf[256], p[64];
    uint32_t epoch;
    int len;

    setup();
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    {
        const uint8_t *f = g_bytes_get_data(chan.log->pdata[0], NULL);
        epoch = f[22] << 24 | f[23] << 16 | f[24] << 8 | f[25];
    }
    /* The live session's PING, from another MAC: answered, not BYE'd. */
    len = forge(buf, sizeof(buf), ep_mac, stranger, 1, ENCAP_FRAME_CTRL, 0,
                epoch, 0, p, ctrl_payload(p, ENCAP_CTRL_PING, false));
    encap_link_input(ep.l, buf, len, now);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.byes_stranger, ==, 0);
    /* Another session's DATA: a BYE, once. */
    len = forge(buf, sizeof(buf), ep_mac, stranger, 1, ENCAP_FRAME_DATA,
                ENCAP_F_SEQ, epoch + 5, 0, rec, sizeof(rec));
    encap_link_input(ep.l, buf, len, now);
    encap_link_input(ep.l, buf, len, now + ENCAP_LINK_STRANGER_BYE_NS / 2);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.byes_stranger, ==, 1);
    /* Its BYE, a frame to another MAC, one from an endpoint: none. */
    len = forge(buf, sizeof(buf), ep_mac, stranger, 1, ENCAP_FRAME_CTRL, 0,
                epoch + 6, 0, p, ctrl_payload(p, ENCAP_CTRL_BYE, false));
    encap_link_input(ep.l, buf, len, now);
    len = forge(buf, sizeof(buf), nobody, stranger, 1, ENCAP_FRAME_DATA,
                ENCAP_F_SEQ, epoch + 7, 0, rec, sizeof(rec));
    encap_link_input(ep.l, buf, len, now);
    len = forge(buf, sizeof(buf), ep_mac, stranger, 1, ENCAP_FRAME_DATA,
                ENCAP_F_SEQ | ENCAP_F_RESP, epoch + 8, 0, rec, sizeof(rec));
    encap_link_input(ep.l, buf, len, now);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.byes_stranger, ==, 1);
    /* The first session's again, later: another BYE. */
    len = forge(buf, sizeof(buf), ep_mac, stranger, 1, ENCAP_FRAME_DATA,
                ENCAP_F_SEQ, epoch + 5, 0, rec, sizeof(rec));
    encap_link_input(ep.l, buf, len, now + ENCAP_LINK_STRANGER_BYE_NS + 1);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.byes_stranger, ==, 2);
    /* None of it touched the session. */
    run(10);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    teardown();
}

/*
 * The endpoint's admission rule refuses the VM: its HELLOs are dropped
 * (counted), and its connect fails; allowed, it comes up.  A retry of the
 * current session is not asked about again.
 */
static void test_hello_allowed(void)
{
    struct encap_link_stats est;
    struct frame *hello;

    tune.ep_hook = true;
    setup();
    admit.allow = false;
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    run(2000);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(ep.ups, ==, 0);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_refused, ==, 9);     /* HELLO and 8 retries */
    g_assert_cmpuint(est.frames_tx, ==, 0);
    g_assert_cmpuint(admit.calls, ==, 9);
    g_assert_cmpmem(admit.mac, 6, vm_mac, 6);
    g_assert_cmpuint(admit.rc_id, ==, 7);

    admit.allow = true;
    hello = connect_keeping_hello();
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(admit.calls, ==, 10);
    encap_link_input(ep.l, hello->buf, hello->len, now);    /* a retry */
    g_assert_cmpuint(admit.calls, ==, 10);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_refused, ==, 9);
    check_working(hello);
}

/*
 * A second VM, @mac, in session 0x2222 (vm's is another), with @key or
 * none, talking to the endpoint; free with free_vm2().
 */
static void new_vm2(struct side *vm2, const uint8_t *mac, const char *key)
{
    struct encap_link_config c = {
        .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .window = 16, .session = 0x2222, .rc_id = 9,
        .key = (const uint8_t *)key, .key_len = key ? strlen(key) : 0,
    };

    memcpy(c.own_mac, mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    *vm2 = (struct side) { .peer = &ep };
    vm2->got = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    vm2->l = encap_link_new(&c, &ops, vm2);
    g_assert_nonnull(vm2->l);
}

static void free_vm2(struct side *vm2)
{
    encap_link_free(vm2->l);
    g_array_free(vm2->got, TRUE);
}

/*
 * The responder says (ops->peer_proven) when a frame proves its sender
 * the peer, before it answers it: where a transport learns its peer
 * (udp), that frame's sender becomes the peer.  A HELLO that opens a
 * session does; so does, with a key, each sealed frame of the session.
 * Not a retry of the current HELLO, a HELLO refused by the endpoint's
 * rules or one that challenges a live session, nor (keyed) a forged HELLO,
 * a replayed or a damaged sealed frame.  Without a key no frame but the
 * HELLO proves anything.
 */
static void test_peer_proven(gconstpointer p)
{
    const char *key = GPOINTER_TO_INT(p) ? KEY : NULL;
    struct side vm2;
    struct encap_link_stats est;
    struct frame *hello;
    unsigned proven;

    tune.ep_hook = true;
    tune.ep_keepalive_ns = KA;
    setup_keys(key, key);
    admit.allow = true;
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    hello = connect_keeping_hello();
    g_assert_cmpuint(admit.proven, >=, 1);
    g_assert_cmpuint(admit.tx_at_proof, ==, 0);     /* before its HELLO_ACK */
    proven = admit.proven;
    encap_link_input(ep.l, hello->buf, hello->len, now);    /* a retry */
    g_assert_cmpuint(admit.proven, ==, proven);

    /* The VM's DATA: proof with a key (each frame), none without. */
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
    if (!key) {
        g_assert_cmpuint(admit.proven, ==, 1);
    } else {
        const uint8_t *last = NULL;
        uint8_t buf[256], pl[64];
        size_t n = ctrl_payload(pl, ENCAP_CTRL_HELLO, true);
        int len = forge(buf, sizeof(buf), ep_mac, vm_mac, 2,
                        ENCAP_FRAME_CTRL, 0, 77, 0, pl, n);
        size_t last_len = 0;

        g_assert_cmpuint(admit.proven, >, proven);
        proven = admit.proven;
        g_assert_cmpint(encap_link_input(ep.l, buf, len, now), ==,
                        -ENCAP_E_AUTH);
        /* The last sealed DATA frame the VM sent, again, then damaged. */
        for (guint i = 0; i < chan.log->len; i++) {
            gsize sz;
            const uint8_t *f = g_bytes_get_data(chan.log->pdata[i], &sz);

            if (!memcmp(f, ep_mac, 6) && f[ENCAP_ETH_HLEN + 1] ==
                ENCAP_FRAME_DATA) {
                last = f;
                last_len = sz;
            }
        }
        g_assert_nonnull(last);
        g_assert_cmpint(encap_link_input(ep.l, last, last_len, now), ==,
                        -ENCAP_E_REPLAY);
        memcpy(buf, last, MIN(last_len, sizeof(buf)));
        buf[last_len - 8] ^= 1;
        g_assert_cmpint(encap_link_input(ep.l, buf, last_len, now), <, 0);
        g_assert_cmpuint(admit.proven, ==, proven);
    }
    proven = admit.proven;

    /*
     * Another VM behind the same MAC (over udp every vrc has the same
     * one), in another session: refused by the rules, then challenging
     * the live session.
     */
    new_vm2(&vm2, vm_mac, key);
    admit.allow = false;
    g_assert_cmpint(encap_link_connect(vm2.l, now), ==, 0);
    run(1);
    admit.allow = true;
    /* (run() keeps no time for vm2: each HELLO is a connect of its own.) */
    g_assert_cmpint(encap_link_connect(vm2.l, now), ==, 0);
    run(1000);                  /* the live VM answers the challenge */
    g_assert_cmpint(encap_link_state(vm2.l), !=, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    encap_link_get_stats(ep.l, &est);
    g_assert_cmpuint(est.hello_refused, >=, 1);
    g_assert_cmpuint(est.hello_probes, >=, 1);
    if (!key) {
        /* (with one, the live VM's PONGs are sealed: each is a proof) */
        g_assert_cmpuint(admit.proven, ==, proven);
    }

    /* The session ends: the other VM's next HELLO opens one. */
    encap_link_close(ep.l, now);
    ep.peer = &vm2;
    encap_link_close(vm2.l, now);
    proven = admit.proven;
    g_assert_cmpint(encap_link_connect(vm2.l, now), ==, 0);
    run(100);
    g_assert_cmpint(encap_link_state(vm2.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(admit.proven, >, proven);
    if (!key) {
        g_assert_cmpuint(admit.proven, ==, proven + 1);
    }
    free_vm2(&vm2);
    g_free(hello->buf);
    g_free(hello);
    teardown();
}

/*
 * The endpoint ends its session (ownership moved): a HELLO from another
 * VM's MAC then opens a session, and TLPs flow with that VM.
 */
static void test_close_new_mac(gconstpointer p)
{
    static const uint8_t vm2_mac[6] = { 2, 0, 0, 0, 0, 0x0c };
    const char *key = GPOINTER_TO_INT(p) ? KEY : NULL;
    struct side vm2;
    struct encap_link *old;

    tune.ep_keepalive_ns = KA;
    setup_keys(key, key);
    connect_up();
    encap_link_close(ep.l, now);
    run(1);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);

    new_vm2(&vm2, vm2_mac, key);
    ep.peer = &vm2;
    g_assert_cmpint(encap_link_connect(vm2.l, now), ==, 0);
    run(100);
    g_assert_cmpint(encap_link_state(vm2.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(ep.ups, ==, 2);
    /* vm2 carries TLPs to the endpoint. */
    old = vm.l;
    vm.l = vm2.l;
    send_many(10, 10);
    run(10);
    vm.l = old;
    assert_in_order(&ep, 10);
    free_vm2(&vm2);
    teardown();
}

/* The VM moves to another endpoint: only while not up, initiator only. */
static void test_set_peer(void)
{
    static const uint8_t ep2_mac[6] = { 2, 0, 0, 0, 0, 0x0d };
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 1024, .mrrs = 4096, .window = 16,
    };
    struct side ep2 = { .peer = &vm };
    const uint8_t *f;

    setup();
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    memcpy(c.own_mac, ep2_mac, 6);
    ep2.got = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    ep2.l = encap_link_new(&c, &ops, &ep2);
    g_assert_nonnull(ep2.l);

    g_assert_cmpint(encap_link_set_peer(vm.l, ep2_mac), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_link_set_peer(ep.l, ep2_mac), ==, -ENCAP_E_FIELD);
    encap_link_close(vm.l, now);
    run(1);
    g_assert_cmpint(encap_link_set_peer(vm.l, (uint8_t[6]){ 0 }), ==,
                    -ENCAP_E_FIELD);
    g_assert_cmpint(encap_link_set_peer(vm.l, ep2_mac), ==, 0);
    vm.peer = &ep2;
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    f = g_bytes_get_data(chan.log->pdata[chan.log->len - 1], NULL);
    g_assert_cmpmem(f, 6, ep2_mac, 6);
    run(100);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep2.l), ==, ENCAP_LINK_UP);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    send_many(10, 10);
    run(10);
    assert_in_order(&ep2, 10);
    g_assert_cmpuint(ep.got->len, ==, 0);
    encap_link_free(ep2.l);
    g_array_free(ep2.got, TRUE);
    teardown();
}

/* ---- request credit ---- */

static int send_cpl(struct side *s, uint16_t tag)
{
    struct encap_tlp t = {
        .type = ENCAP_TLP_CPL, .requester_id = 0x0100, .target_id = 0x0300,
        .byte_count = 4, .tag = tag,
    };
    return encap_link_queue_tlp(s->l, &t, &lim, now);
}

/* Deliver what is in flight and run what is due, the clock stopped. */
static void run_now(void)
{
    struct frame *fr;

    do {
        while ((fr = g_queue_pop_head(&chan.q))) {
            encap_link_input(fr->to->l, fr->buf, fr->len, now);
            g_free(fr->buf);
            g_free(fr);
        }
        encap_link_poll(vm.l, now);
        encap_link_poll(ep.l, now);
    } while (!g_queue_is_empty(&chan.q));
}

static struct encap_link_stats stats_of(struct side *s)
{
    struct encap_link_stats st;

    encap_link_get_stats(s->l, &st);
    return st;
}

/*
 * The endpoint gives a credit of 8: the VM's 9th request is refused,
 * nothing queued; a completion still goes.  Once the endpoint releases
 * some, an ACK brings the new limit at once (no probe) and requests go.
 */
static void test_credit_basic(void)
{
    struct encap_link_stats st;
    uint64_t probes;

    tune.ep_credit = 8;
    setup();
    connect_up();
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 8);
    g_assert_cmpuint(encap_link_request_room(ep.l), ==, UINT32_MAX);
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmpint(send_tlp(&vm, i), ==, 0);
    }
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 0);
    g_assert_cmpint(send_tlp(&vm, 8), ==, -ENCAP_E_CREDIT);
    g_assert_cmpstr(encap_strerror(-ENCAP_E_CREDIT), ==, "credit");
    g_assert_cmpint(send_cpl(&vm, 100), ==, 0);
    encap_link_flush(vm.l, now);
    run(100);
    g_assert_cmpuint(ep.got->len, ==, 9);
    g_assert_cmpuint(ep.requests, ==, 8);
    g_assert_cmpuint(g_array_index(ep.got, uint16_t, 7), ==, 7);
    g_assert_cmpuint(g_array_index(ep.got, uint16_t, 8), ==, 100);
    /* Not released: still refused, however long it takes. */
    g_assert_cmpint(send_tlp(&vm, 8), ==, -ENCAP_E_CREDIT);
    run(1000);
    g_assert_cmpint(send_tlp(&vm, 8), ==, -ENCAP_E_CREDIT);
    g_assert_cmpuint(ep.requests, ==, 8);
    st = stats_of(&vm);
    g_assert_cmpuint(st.credit_waits, ==, 3);
    g_assert_cmpuint(st.credit_limit_left, ==, 0);
    probes = st.credit_probes;
    st = stats_of(&ep);
    g_assert_cmpuint(st.credit_backlog, ==, 8);
    g_assert_cmpuint(st.credit_backlog_max, ==, 8);
    g_assert_cmpuint(st.requests_rx, ==, 8);
    g_assert_cmpuint(st.credit_overruns, ==, 0);

    encap_link_requests_done(ep.l, 5, now);
    run(1);
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 5);
    g_assert_cmpuint(stats_of(&vm).credit_probes, ==, probes);
    g_assert_cmpuint(stats_of(&ep).credit_updates, ==, 1);
    g_assert_cmpuint(stats_of(&ep).credit_backlog, ==, 3);
    for (unsigned i = 8; i < 13; i++) {
        g_assert_cmpint(send_tlp(&vm, i), ==, 0);
    }
    g_assert_cmpint(send_tlp(&vm, 13), ==, -ENCAP_E_CREDIT);
    encap_link_flush(vm.l, now);
    run(100);
    g_assert_cmpuint(ep.requests, ==, 13);
    g_assert_cmpuint(stats_of(&ep).credit_backlog_max, ==, 8);
    /* More released than delivered: only what was delivered counts. */
    encap_link_requests_done(ep.l, 20, now);
    run(1);
    g_assert_cmpuint(stats_of(&ep).credit_bad_release, ==, 12);
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 8);
    teardown();
}

/*
 * The ACK that carries the new limit is lost, and the VM has nothing
 * unacknowledged that would bring another: its PING probe, after its
 * retransmission timeout, gets the limit in the PONG.  While the
 * endpoint's answers are lost the probes back off (1 s at most).
 */
static void test_credit_update_lost(void)
{
    struct encap_link_stats st;
    uint64_t t0, probes;

    tune.ep_credit = 4;
    setup();
    connect_up();
    for (unsigned i = 0; i < 4; i++) {
        g_assert_cmpint(send_tlp(&vm, i), ==, 0);
    }
    g_assert_cmpint(send_tlp(&vm, 4), ==, -ENCAP_E_CREDIT);   /* flushes */
    run(1);
    g_assert_cmpuint(ep.requests, ==, 4);
    g_assert_cmpuint(encap_link_unacked(vm.l), ==, 0);
    run(50);                            /* the probe has backed off */
    run_now();
    probes = stats_of(&vm).credit_probes;
    g_assert_cmpuint(probes, >, 0);
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 0);

    chan.drop_at = chan.sent + 1;       /* the update */
    encap_link_requests_done(ep.l, 4, now);
    g_assert_cmpuint(chan.sent, ==, chan.drop_at);
    g_assert_cmpuint(stats_of(&ep).credit_updates, ==, 1);
    t0 = now;
    while (encap_link_request_room(vm.l) == 0 && now < t0 + 5000 * MS) {
        run(1);
    }
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 4);
    g_assert_cmpuint(stats_of(&vm).credit_probes, >, probes);
    g_test_message("limit recovered after %.3f ms", (now - t0) / 1e6);
    g_assert_cmpuint(now - t0, >, 0);
    g_assert_cmpuint(now - t0, <=, 1000 * MS);
    g_assert_cmpint(send_tlp(&vm, 4), ==, 0);
    encap_link_flush(vm.l, now);
    run(10);
    g_assert_cmpuint(ep.requests, ==, 5);

    /* Held again, every answer lost for 3 s: a probe, then backoff. */
    for (unsigned i = 5; i < 8; i++) {
        g_assert_cmpint(send_tlp(&vm, i), ==, 0);
    }
    g_assert_cmpint(send_tlp(&vm, 8), ==, -ENCAP_E_CREDIT);
    run(10);
    chan.drop_p = 1.0;
    probes = stats_of(&vm).credit_probes;
    run(3000);
    st = stats_of(&vm);
    g_test_message("%" G_GUINT64_FORMAT " probes in 3 s",
                   st.credit_probes - probes);
    g_assert_cmpuint(st.credit_probes - probes, >=, 3);
    g_assert_cmpuint(st.credit_probes - probes, <=, 16);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    chan.drop_p = 0;
    encap_link_requests_done(ep.l, 4, now);
    run(3000);
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, 4);
    teardown();
}

/*
 * Without credit, as before: nothing limits either side, and the
 * handshake and ACKs carry zeros where version 1 had reserved fields.  A
 * side with credit and one without: only the first limits its peer.
 */
static void test_credit_one_side(gconstpointer p)
{
    bool vm_limits = GPOINTER_TO_INT(p);
    struct side *limited = vm_limits ? &ep : &vm;
    struct side *free_side = vm_limits ? &vm : &ep;
    unsigned n;

    tune.vm_credit = vm_limits ? 4 : 0;
    setup();
    chan.log = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    connect_up();
    for (n = 0; n < 200; n++) {
        int r;

        while ((r = send_tlp(free_side, n)) == -ENCAP_E_NOSPACE) {
            run(1);
        }
        g_assert_cmpint(r, ==, 0);
    }
    for (n = 0; n < 200; n++) {
        int r = send_tlp(limited, n);

        if (r == -ENCAP_E_CREDIT) {
            break;
        }
        g_assert_cmpint(r, ==, 0);
    }
    g_assert_cmpuint(n, ==, vm_limits ? 4 : 200);
    encap_link_flush(vm.l, now);
    encap_link_flush(ep.l, now);
    run(1000);
    assert_in_order(free_side->peer, 200);
    assert_in_order(limited->peer, n);
    g_assert_cmpuint(stats_of(free_side).credit_waits, ==, 0);
    g_assert_cmpuint(stats_of(&ep).credit_backlog, ==, 0);  /* not counted */
    /* What a side without credit sends: the version 1 bytes, zeros. */
    for (unsigned i = 0; i < chan.log->len; i++) {
        gsize len;
        const uint8_t *f = g_bytes_get_data(chan.log->pdata[i], &len);
        bool from_vm = !memcmp(f + 6, vm_mac, 6);
        uint8_t op = f[38];

        if (f[15] != ENCAP_FRAME_CTRL || op == ENCAP_CTRL_PING ||
            op == ENCAP_CTRL_PONG) {
            continue;
        }
        if (from_vm && vm_limits && op == ENCAP_CTRL_HELLO) {
            g_assert_cmpuint(f[49], ==, ENCAP_CTRL_F_CREDIT);
            g_assert_cmpuint(f[53], ==, 4);
        } else if (from_vm && vm_limits) {
            g_assert_cmpuint(f[49] | f[48] << 8, >=, 4);        /* limit */
        } else {
            static const uint8_t zero[8];

            g_assert_cmpmem(f + 46, 8, zero, 8);
        }
    }
    teardown();
}

/*
 * A peer that ignores the limit (here the VM, which never saw the
 * endpoint's CREDIT: an older one): everything it sends is delivered,
 * once and in order, and the requests beyond the limit are counted.
 */
static void test_credit_overrun(void)
{
    struct encap_link_stats st;
    struct frame *fr;

    tune.ep_credit = 4;
    setup();
    g_assert_cmpint(encap_link_connect(vm.l, now), ==, 0);
    fr = g_queue_pop_head(&chan.q);     /* HELLO */
    encap_link_input(fr->to->l, fr->buf, fr->len, now);
    g_free(fr->buf);
    g_free(fr);
    fr = g_queue_peek_head(&chan.q);    /* HELLO_ACK: hide the feature */
    g_assert_nonnull(fr);
    g_assert_cmpuint(fr->buf[38], ==, ENCAP_CTRL_HELLO_ACK);
    g_assert_cmpuint(fr->buf[49], ==, ENCAP_CTRL_F_CREDIT);
    memset(fr->buf + 46, 0, 8);
    {
        uint32_t crc = encap_crc32c(0, fr->buf, 38 + 16);

        fr->buf[54] = crc >> 24;
        fr->buf[55] = crc >> 16;
        fr->buf[56] = crc >> 8;
        fr->buf[57] = crc;
    }
    run(100);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(encap_link_request_room(vm.l), ==, UINT32_MAX);
    send_many(20, 3);
    run(100);
    assert_in_order(&ep, 20);
    st = stats_of(&ep);
    g_assert_cmpuint(st.credit_overruns, ==, 16);
    g_assert_cmpuint(st.credit_backlog, ==, 20);
    g_assert_cmpuint(st.credit_backlog_max, ==, 20);
    encap_link_requests_done(ep.l, 20, now);
    g_assert_cmpuint(stats_of(&ep).credit_backlog, ==, 0);
    send_many(4, 1);
    run(100);
    g_assert_cmpuint(ep.got->len, ==, 24);
    g_assert_cmpuint(stats_of(&ep).credit_overruns, ==, 16);
    teardown();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/link/handshake", test_handshake);
    g_test_add_func("/link/in-order-batched", test_in_order_batched);
    g_test_add_data_func("/link/lossy/drop-every-7th", GINT_TO_POINTER(0), test_lossy);
    g_test_add_data_func("/link/lossy/drop-10pc", GINT_TO_POINTER(1), test_lossy);
    g_test_add_data_func("/link/lossy/dup-reorder", GINT_TO_POINTER(2), test_lossy);
    g_test_add_data_func("/link/lossy/corrupt", GINT_TO_POINTER(3), test_lossy);
    g_test_add_data_func("/link/lossy/everything", GINT_TO_POINTER(4), test_lossy);
    g_test_add_func("/link/window-full", test_window_full);
    g_test_add_data_func("/link/link-down", GINT_TO_POINTER(0), test_link_down);
    g_test_add_data_func("/link/link-down-measured", GINT_TO_POINTER(1),
                         test_link_down);
    g_test_add_func("/link/restart", test_restart);
    g_test_add_func("/link/stale-hello", test_stale_hello);
    g_test_add_func("/link/stray", test_stray);
    g_test_add_func("/link/hello-sizes", test_hello_sizes);
    g_test_add_func("/link/sack-one-lost", test_sack_one_lost);
    g_test_add_func("/link/rto-measured", test_rto_measured);
    g_test_add_func("/link/rto-late-acks", test_rto_late_acks);
    g_test_add_func("/link/rto-window-lost", test_rto_window_lost);
    g_test_add_func("/link/lossy-tail-copies", test_lossy_tail_copies);
    g_test_add_func("/link/late-answers-not-lossy",
                    test_late_answers_not_lossy);
    g_test_add_func("/link/late-answers-learnt", test_late_answers_learnt);
    g_test_add_func("/link/held-frames-lossy", test_held_frames_lossy);
    g_test_add_func("/link/lossy-stays-on", test_lossy_stays_on);
    g_test_add_data_func("/link/lossy-channel", GINT_TO_POINTER(0),
                         test_lossy_channel);
    g_test_add_data_func("/link/lossy-channel-credit", GINT_TO_POINTER(1),
                         test_lossy_channel);
    g_test_add_data_func("/link/keyed/clean", GINT_TO_POINTER(0), test_keyed);
    g_test_add_data_func("/link/keyed/lossy", GINT_TO_POINTER(1), test_keyed);
    g_test_add_func("/link/keyed/wrong-key", test_keyed_wrong_key);
    g_test_add_data_func("/link/keyed/vm-keyed-ep-not", GINT_TO_POINTER(1),
                         test_keyed_mismatch);
    g_test_add_data_func("/link/keyed/ep-keyed-vm-not", GINT_TO_POINTER(0),
                         test_keyed_mismatch);
    g_test_add_func("/link/keyed/stranger", test_keyed_stranger);
    g_test_add_func("/link/keyed/config", test_keyed_config);
    g_test_add_func("/link/keyed/confirm", test_keyed_confirm);
    g_test_add_func("/link/keyed/lossy-channel", test_keyed_lossy_channel);
    g_test_add_func("/link/ping-keeps-ack-due", test_ping_keeps_ack_due);
    g_test_add_func("/link/keepalive/idle", test_keepalive_idle);
    g_test_add_data_func("/link/keepalive/silent", GINT_TO_POINTER(0),
                         test_keepalive_silent);
    g_test_add_data_func("/link/keepalive/silent-keyed", GINT_TO_POINTER(1),
                         test_keepalive_silent);
    g_test_add_func("/link/keepalive/both", test_keepalive_both);
    g_test_add_data_func("/link/hello/challenge", GINT_TO_POINTER(0),
                         test_hello_challenge);
    g_test_add_data_func("/link/hello/challenge-keyed", GINT_TO_POINTER(1),
                         test_hello_challenge);
    g_test_add_data_func("/link/hello/restarted", GINT_TO_POINTER(0),
                         test_hello_restarted);
    g_test_add_data_func("/link/hello/restarted-keyed", GINT_TO_POINTER(1),
                         test_hello_restarted);
    g_test_add_data_func("/link/hello/restarted-vrc-timers", GINT_TO_POINTER(2),
                         test_hello_restarted);
    g_test_add_func("/link/hello/allowed", test_hello_allowed);
    g_test_add_data_func("/link/hello/peer-proven", GINT_TO_POINTER(0),
                         test_peer_proven);
    g_test_add_data_func("/link/hello/peer-proven-keyed", GINT_TO_POINTER(1),
                         test_peer_proven);
    g_test_add_data_func("/link/ep-restarted/sending", GINT_TO_POINTER(0),
                         test_ep_restarted);
    g_test_add_data_func("/link/ep-restarted/idle", GINT_TO_POINTER(1),
                         test_ep_restarted);
    g_test_add_func("/link/keyed/bye-unsealed", test_bye_unsealed);
    g_test_add_data_func("/link/ep-restarted/keyed", GINT_TO_POINTER(2),
                         test_ep_restarted);
    g_test_add_func("/link/bye-stranger", test_bye_stranger);
    g_test_add_data_func("/link/hello/close-new-mac", GINT_TO_POINTER(0),
                         test_close_new_mac);
    g_test_add_data_func("/link/hello/close-new-mac-keyed", GINT_TO_POINTER(1),
                         test_close_new_mac);
    g_test_add_func("/link/set-peer", test_set_peer);
    g_test_add_func("/link/credit/basic", test_credit_basic);
    g_test_add_func("/link/credit/update-lost", test_credit_update_lost);
    g_test_add_data_func("/link/credit/vm-limits-ep-not", GINT_TO_POINTER(1),
                         test_credit_one_side);
    g_test_add_data_func("/link/credit/neither", GINT_TO_POINTER(0),
                         test_credit_one_side);
    g_test_add_func("/link/credit/overrun", test_credit_overrun);
    g_test_add_data_func("/link/burst/same-frames", GINT_TO_POINTER(0),
                         test_burst_same_frames);
    g_test_add_data_func("/link/burst/same-frames-keyed", GINT_TO_POINTER(1),
                         test_burst_same_frames);
    g_test_add_func("/link/burst/held", test_burst_held);
    g_test_add_data_func("/link/burst/short", GINT_TO_POINTER(0),
                         test_burst_short);
    g_test_add_data_func("/link/burst/refused", GINT_TO_POINTER(1),
                         test_burst_short);
    return g_test_run();
}
