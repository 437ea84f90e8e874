/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the encap link layer: two links (initiator and responder)
 * joined by an in-memory channel that can drop, duplicate, reorder and
 * corrupt frames, driven by a fake clock.
 */
#include <glib.h>
#include <string.h>

#include "encap/link.h"

#define MS 1000000ull

struct side;

struct frame {
    uint8_t *buf;
    size_t len;
    struct side *to;
};

/* The channel: frames in flight, and what it does to them. */
static struct {
    GQueue q;
    GRand *rand;
    unsigned drop_every;        /* drop every n-th frame (0: never) */
    double drop_p, dup_p, corrupt_p, reorder_p;
    unsigned sent;
} chan;

struct side {
    struct encap_link *l;
    struct side *peer;
    GArray *got;                /* tags of delivered TLPs, in order */
    enum encap_link_state state;
    unsigned ups, downs;
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
    if ((chan.drop_every && chan.sent % chan.drop_every == 0) ||
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
        if (g_rand_double(chan.rand) < chan.reorder_p) {
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
}

static void state_changed(void *opaque, enum encap_link_state st)
{
    struct side *s = opaque;

    if (st == ENCAP_LINK_UP) {
        s->ups++;
    } else if (st == ENCAP_LINK_DOWN && s->state == ENCAP_LINK_UP) {
        s->downs++;
    }
    s->state = st;
}

static const struct encap_link_ops ops = {
    .send_frame = send_frame,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
};

static void setup(void)
{
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 1024, .mrrs = 4096, .window = 16,
        .session = 0x1234, .rc_id = 7,
    };

    memset(&chan, 0, sizeof(chan));
    g_queue_init(&chan.q);
    chan.rand = g_rand_new_with_seed(1234);
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
    vm.l = encap_link_new(&c, &ops, &vm);
    c.initiator = false;
    memcpy(c.own_mac, ep_mac, 6);
    memset(c.peer_mac, 0, 6);           /* learnt from HELLO */
    c.mps = 512;                        /* the smaller one is agreed */
    ep.l = encap_link_new(&c, &ops, &ep);
    g_assert_nonnull(vm.l);
    g_assert_nonnull(ep.l);
}

static void teardown(void)
{
    struct frame *fr;

    while ((fr = g_queue_pop_head(&chan.q))) {
        g_free(fr->buf);
        g_free(fr);
    }
    encap_link_free(vm.l);
    encap_link_free(ep.l);
    g_array_free(vm.got, TRUE);
    g_array_free(ep.got, TRUE);
    g_rand_free(chan.rand);
}

/* Deliver what is in flight and run timers, advancing the clock, until
 * nothing is left to do or @max_ms of fake time passed. */
static void run(unsigned max_ms)
{
    uint64_t end = now + max_ms * MS;

    while (now < end) {
        struct frame *fr;
        uint64_t d1, d2, next;

        while ((fr = g_queue_pop_head(&chan.q))) {
            encap_link_input(fr->to->l, fr->buf, fr->len, now);
            g_free(fr->buf);
            g_free(fr);
        }
        d1 = encap_link_poll(vm.l, now);
        d2 = encap_link_poll(ep.l, now);
        if (!g_queue_is_empty(&chan.q)) {
            continue;
        }
        next = d1 && d2 ? MIN(d1, d2) : d1 ? d1 : d2;
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

static void test_link_down(void)
{
    setup();
    connect_up();
    chan.drop_p = 1.0;
    g_assert_cmpint(send_tlp(&vm, 1), ==, 0);
    encap_link_flush(vm.l, now);
    run(120000);
    g_assert_cmpint(encap_link_state(vm.l), ==, ENCAP_LINK_DOWN);
    g_assert_cmpuint(vm.downs, ==, 1);
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
        vm.l = encap_link_new(&c, &ops, &vm);
    }
    connect_up();
    g_assert_cmpuint(ep.ups, ==, 2);
    send_many(10, 10);
    run(100);
    assert_in_order(&ep, 10);
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
 * is not a power of two from 128 to 4096, is refused and counted (a frame
 * of 10 bytes used to become the agreed size, and the next TLP was built
 * in no buffer at all); an MPS too large for the offered frame is cut to
 * one that fits.
 */
static void test_hello_sizes(void)
{
    struct encap_link_stats st;

    setup();
    g_assert_cmpint(hello_with(10, 512, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(hello_with(1514, 100, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(hello_with(1514, 8192, 1), ==, -ENCAP_E_FIELD);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_DOWN);
    encap_link_get_stats(ep.l, &st);
    g_assert_cmpuint(st.drops_bad[ENCAP_E_FIELD], ==, 3);

    /* A 400-byte frame with MPS 4096: 512 is ours, 256 fits the frame. */
    g_assert_cmpint(hello_with(400, 4096, 1), ==, 0);
    g_assert_cmpint(encap_link_state(ep.l), ==, ENCAP_LINK_UP);
    g_assert_cmpuint(encap_link_mps(ep.l), ==, 256);
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
    g_test_add_func("/link/link-down", test_link_down);
    g_test_add_func("/link/restart", test_restart);
    g_test_add_func("/link/stale-hello", test_stale_hello);
    g_test_add_func("/link/stray", test_stray);
    g_test_add_func("/link/hello-sizes", test_hello_sizes);
    return g_test_run();
}
