/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over the link layer's state machine: an initiator and a
 * responder joined by an in-memory channel that the input drives.  Each
 * input byte picks an operation (deliver, drop, duplicate, reorder, corrupt
 * a frame in flight, inject a crafted frame with the right addresses and
 * CRC but fuzzed header and payload, queue TLPs, reconnect, close, let
 * time pass); the following bytes are its arguments.  Any crash, sanitizer
 * report or leak, or a broken invariant (abort), is a finding:
 *  - a delivered TLP lies inside the frame it arrived in, or (a frame
 *    that arrived after a gap, kept until the gap filled) is readable in
 *    full, and has the length of a whole TLP;
 *  - unless crafted frames were input, each side receives the TLPs its
 *    peer sent at most once and in the order sent (numbered in their
 *    addresses; losses only where a session was restarted);
 *  - neither side holds more unacknowledged frames than its window;
 *  - once the channel is left alone (and, after crafted frames that may
 *    have impersonated a side, the VM side opened a new epoch), the two
 *    sides reach UP and a TLP sent each way is delivered exactly once.
 *
 * An input that starts with CREDIT_MAGIC gives request credit: its next
 * byte is the VM side's (bits 3:0) and the endpoint's (bits 7:4), 0 for
 * none, and two more operations release requests the application was
 * given (encap_link_requests_done()).  Inputs without it run as before.
 * Then also, while up:
 *  - the link counts the requests delivered and not released as the
 *    application does;
 *  - unless crafted frames were input, an honest sender never has more
 *    requests delivered at its peer and not released than the peer's
 *    credit, and none counts as an overrun;
 *  - a sender held by credit gets going again once its peer released
 *    everything (the markers at the end are requests).
 *
 * Built with FUZZ_LINK_KEYED (fuzz-link-keyed), both sides share a key:
 * every crafted frame, version 1 or 2, sealed or not, must be refused;
 * so must a sealed frame accepted before and input again (op 11 replays
 * one); and since nobody without the key can impersonate a side, the
 * in-order, exactly-once checks hold whatever was injected.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encap/link.h"
#include "encap/seal.h"

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)
#define MS 1000000ull
#define WINDOW 8
#define MAX_FLIGHT 64
#define FRAME_MAX 9014
#define CREDIT_MAGIC 0xcc

struct side;

struct frame {
    uint8_t buf[FRAME_MAX];
    size_t len;
    struct side *to;
};

struct side {
    struct encap_link *l;
    struct side *peer;
    const uint8_t *mac;
    const uint8_t *in_frame;    /* the frame being input, for the check */
    size_t in_len;
    unsigned delivered;         /* TLPs delivered */
    unsigned marks;             /* of them, the end-of-run marker */
    uint32_t sent;              /* TLPs queued, numbered from 1 */
    uint32_t last_rx;           /* number of the last one delivered */
    unsigned credit;            /* its rx_request_credit */
    uint32_t rq_delivered;      /* requests delivered this session */
    uint32_t rq_released;       /* of them, released */
};

static struct side vm, ep;
static struct frame flight[MAX_FLIGHT];
static unsigned nflight;
static bool injected;           /* a crafted frame was input */
#ifdef FUZZ_LINK_KEYED
static const char key[] = "the fuzzer's pre-shared key";
static uint64_t rng;            /* the sides' randomness, per input */
/* Sealed frames accepted (input returned 0), to replay. */
static struct frame accepted[8];
static unsigned naccepted;
#endif
static uint64_t now;
static const struct encap_tlp_limits lim = { .mps = 4096 };
static const uint8_t vm_mac[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t ep_mac[6] = { 2, 0, 0, 0, 0, 0x0b };

static int send_frame(void *opaque, const uint8_t *f, size_t len)
{
    struct side *s = opaque;

    CHECK(len <= FRAME_MAX);
    if (nflight < MAX_FLIGHT) {
        memcpy(flight[nflight].buf, f, len);
        flight[nflight].len = len;
        flight[nflight].to = s->peer;
        nflight++;
    }
    return 0;
}

volatile uint8_t fuzz_link_sink;

static void deliver_tlp(void *opaque, const uint8_t *tlp, size_t len)
{
    struct side *s = opaque;

    uint32_t n;

    CHECK(len >= 12 && len % 4 == 0);
    if (!(tlp >= s->in_frame && tlp + len <= s->in_frame + s->in_len)) {
        for (size_t i = 0; i < len; i++) {
            fuzz_link_sink += tlp[i];   /* out of bounds: ASan says so */
        }
    }
    s->delivered++;
    if (s->credit && encap_tlp_is_request(tlp, len)) {
        struct encap_link_stats st;

        s->rq_delivered++;
        encap_link_get_stats(s->l, &st);
        CHECK(st.credit_backlog == s->rq_delivered - s->rq_released);
        if (!injected) {
            CHECK(s->rq_delivered - s->rq_released <= s->credit);
            CHECK(st.credit_overruns == 0);
        }
    }
    /* Our numbered TLPs: MRd/MWr, 3DW, the number in address bits 31:12. */
    n = (uint32_t)tlp[8] << 12 | tlp[9] << 4 | tlp[10] >> 4;
    if (!injected && (tlp[0] == 0x00 || tlp[0] == 0x40) &&
        !(tlp[8] == 0xf0 && tlp[9] == 0x0d)) {
        CHECK(n > s->last_rx);
        s->last_rx = n;
    }
    /* The marker: an MRd with tag 0x3ff and address 0xf00d0000. */
    if (len == 12 && tlp[0] == 0 && tlp[6] == 0xff &&
        tlp[8] == 0xf0 && tlp[9] == 0x0d) {
        s->marks++;
    }
}

static void state_changed(void *opaque, enum encap_link_state st)
{
    struct side *s = opaque;

    CHECK(st <= ENCAP_LINK_UP);
    s->rq_delivered = s->rq_released = 0;       /* a session's counts */
}

/* @s's application is done with up to @n of the requests it was given. */
static void release(struct side *s, unsigned n)
{
    uint32_t backlog = s->rq_delivered - s->rq_released;

    encap_link_requests_done(s->l, n, now);
    if (encap_link_state(s->l) == ENCAP_LINK_UP && s->credit) {
        s->rq_released += n < backlog ? n : backlog;
    }
}

#ifdef FUZZ_LINK_KEYED
static int fuzz_random(void *opaque, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        rng ^= rng << 13;       /* xorshift64: reproducible per input */
        rng ^= rng >> 7;
        rng ^= rng << 17;
        buf[i] = rng >> 32;
    }
    return 0;
}
#endif

static const struct encap_link_ops ops = {
    .send_frame = send_frame,
    .deliver_tlp = deliver_tlp,
    .state_changed = state_changed,
#ifdef FUZZ_LINK_KEYED
    .random = fuzz_random,
#endif
};

static int input(struct side *s, const uint8_t *f, size_t len)
{
    int r;

    s->in_frame = f;
    s->in_len = len;
    r = encap_link_input(s->l, f, len, now);
    s->in_frame = NULL;
    CHECK(encap_link_unacked(s->l) <= WINDOW);
#ifdef FUZZ_LINK_KEYED
    /* Remember sealed frames that were taken, to replay them. */
    if (r == 0 && len >= 18 && len <= FRAME_MAX && f[14] == 2 &&
        (f[16] << 8 | f[17]) & ENCAP_F_SEALED) {
        struct frame *a = &accepted[naccepted++ % 8];

        memcpy(a->buf, f, len);
        a->len = len;
        a->to = s;
    }
#endif
    return r;
}

/* Take frame @i out of flight into @out. */
static void take(unsigned i, struct frame *out)
{
    *out = flight[i];
    memmove(&flight[i], &flight[i + 1], (nflight - i - 1) * sizeof(flight[0]));
    nflight--;
}

static void poll_both(void)
{
    encap_link_poll(vm.l, now);
    encap_link_poll(ep.l, now);
    CHECK(encap_link_unacked(vm.l) <= WINDOW);
    CHECK(encap_link_unacked(ep.l) <= WINDOW);
}

/* A numbered TLP from @s: its number in the address. */
static int queue_tlp(struct side *s, uint16_t tag, unsigned dw,
                     const uint8_t *data)
{
    struct encap_tlp t = {
        .type = data ? ENCAP_TLP_MWR : ENCAP_TLP_MRD,
        .len_dw = dw, .first_be = 0xf, .last_be = dw > 1 ? 0xf : 0,
        .addr = (s->sent + 1) << 12, .tag = tag & 0x3ff, .data = data,
    };
    int r = encap_link_queue_tlp(s->l, &t, &lim, now);

    if (r == 0) {
        s->sent++;
    }
    return r;
}

/* A frame to @to from its peer's address, header and payload from the input. */
static void inject(struct side *to, const uint8_t *p, size_t n)
{
    static uint8_t buf[FRAME_MAX];
    struct encap_frame_builder b;
    struct encap_frame_hdr h = { .rc_id = 7, .session = 0x1234 };
    size_t len, half;

    if (n < 12) {
        return;
    }
    h.type = 1 + p[0] % 3;
    h.flags = p[1];
    h.epoch = p[2] & 3;
    memcpy(h.dst, to->mac, 6);
    memcpy(h.src, to->peer->mac, 6);
    h.seq = p[3] | p[4] << 8 | (p[5] & 0x80 ? 0xffff0000u : 0);
    h.ack = p[6] | p[7] << 8 | (p[8] & 0x80 ? 0xffff0000u : 0);
    len = p[9] | (p[10] & 0x7) << 8;
    half = p[10] & 0x8;         /* two records instead of one */
    p += 11;
    n -= 11;
    len = len < n ? len : n;
#ifndef FUZZ_LINK_KEYED
    injected = true;            /* keyed: it cannot pass for a side */
#endif
    if (encap_frame_begin(&b, buf, p[-1] & 0x10 ? sizeof(buf) : 1514, &h) < 0) {
        return;
    }
    if (h.type != ENCAP_FRAME_DATA) {
        encap_frame_add_payload(&b, p, len);
    } else if (half && len >= 2) {
        encap_frame_add_raw(&b, p, len / 2);
        encap_frame_add_raw(&b, p + len / 2, len - len / 2);
    } else {
        encap_frame_add_raw(&b, p, len);
    }
    {
        int flen = encap_frame_finish(&b);
        if (flen > 0) {
#ifdef FUZZ_LINK_KEYED
            /*
             * Keyed: as often a version 2 frame, maybe flagged sealed (its
             * payload then stands for counter, ciphertext and tag), the
             * CRC right.  Refused, whatever it is, but for a DISC frame
             * (configd's, ignored).
             */
            if (h.flags & 0x40) {
                uint32_t crc;

                buf[14] = 2;
                if (h.flags & 0x20) {
                    buf[17] |= ENCAP_F_SEALED;
                }
                crc = encap_crc32c(0, buf, flen - 4);
                buf[flen - 4] = crc >> 24;
                buf[flen - 3] = crc >> 16;
                buf[flen - 2] = crc >> 8;
                buf[flen - 1] = crc;
            }
            CHECK(input(to, buf, flen) < 0 ||
                  (buf[14] == 1 && h.type == ENCAP_FRAME_DISC));
#else
            input(to, buf, flen);
#endif
        }
    }
}

static void setup(unsigned vm_credit, unsigned ep_credit)
{
    struct encap_link_config c = {
        .max_frame = 1514, .mps = 1024, .mrrs = 4096, .window = WINDOW,
        .session = 0x1234, .rc_id = 7,
    };

    memset(&vm, 0, sizeof(vm));
    memset(&ep, 0, sizeof(ep));
    nflight = 0;
    injected = false;
#ifdef FUZZ_LINK_KEYED
    c.key = (const uint8_t *)key;
    c.key_len = sizeof(key) - 1;
    rng = 0x9e3779b97f4a7c15ull;
    naccepted = 0;
#endif
    now = 1000 * MS;
    vm.peer = &ep;
    ep.peer = &vm;
    vm.mac = vm_mac;
    ep.mac = ep_mac;
    vm.credit = vm_credit;
    ep.credit = ep_credit;
    c.initiator = true;
    memcpy(c.own_mac, vm_mac, 6);
    memcpy(c.peer_mac, ep_mac, 6);
    c.rx_request_credit = vm_credit;
    vm.l = encap_link_new(&c, &ops, &vm);
    c.initiator = false;
    memcpy(c.own_mac, ep_mac, 6);
    memset(c.peer_mac, 0, 6);
    c.rx_request_credit = ep_credit;
    ep.l = encap_link_new(&c, &ops, &ep);
    CHECK(vm.l && ep.l);
}

/* FUZZ_LINK_DEBUG=1: both sides' state, to see why an input aborts. */
static void debug_dump(const char *when)
{
    struct side *sides[2] = { &vm, &ep };

    if (!getenv("FUZZ_LINK_DEBUG")) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct encap_link_stats st;

        encap_link_get_stats(sides[i]->l, &st);
        fprintf(stderr, "%s: %s state %d unacked %u marks %u delivered %u "
                "rx %" PRIu64 " tx %" PRIu64 " drops %" PRIu64
                " (session %" PRIu64 ", state %" PRIu64 ") retransmits %"
                PRIu64 " ups %" PRIu64 " downs %" PRIu64 "\n", when,
                i ? "ep" : "vm", encap_link_state(sides[i]->l),
                encap_link_unacked(sides[i]->l), sides[i]->marks,
                sides[i]->delivered, st.frames_rx, st.frames_tx, st.drops,
                st.drops_session, st.drops_state, st.retransmits, st.ups,
                st.downs);
    }
}

/* Leave the channel alone for @max_ms: deliver everything, run the timers
 * when they are due. */
static void settle(unsigned max_ms)
{
    uint64_t end = now + max_ms * MS;
    struct frame f;

    while (now < end) {
        uint64_t d1, d2, next;

        while (nflight) {
            take(0, &f);
            input(f.to, f.buf, f.len);
        }
        /* The applications catch up. */
        release(&vm, vm.rq_delivered - vm.rq_released);
        release(&ep, ep.rq_delivered - ep.rq_released);
        d1 = encap_link_poll(vm.l, now);
        d2 = encap_link_poll(ep.l, now);
        if (nflight) {
            continue;
        }
        next = d1 && d2 ? (d1 < d2 ? d1 : d2) : d1 ? d1 : d2;
        if (!next) {
            return;
        }
        now = next > now ? next : now + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[4096];
    const uint8_t *p = data, *end = data + size;
    unsigned nops = 12;
    struct frame f;

    if (size >= 2 && data[0] == CREDIT_MAGIC) {
        setup(data[1] & 0xf, data[1] >> 4);
        nops = 14;
        p += 2;
    } else {
        setup(0, 0);
    }
    encap_link_connect(vm.l, now);
    while (p < end) {
        uint8_t op = *p++;
        size_t left = end - p;
        unsigned arg = left ? p[0] : 0;

        switch (op % nops) {
        case 0:                 /* deliver the oldest frame */
            if (nflight) {
                take(0, &f);
                input(f.to, f.buf, f.len);
            }
            break;
        case 1:                 /* lose one */
            if (nflight) {
                take(arg % nflight, &f);
            }
            p += left > 0;
            break;
        case 2:                 /* deliver one twice */
            if (nflight) {
                f = flight[arg % nflight];
                input(f.to, f.buf, f.len);
            }
            p += left > 0;
            break;
        case 3:                 /* deliver one out of order */
            if (nflight) {
                take(arg % nflight, &f);
                input(f.to, f.buf, f.len);
            }
            p += left > 0;
            break;
        case 4:                 /* corrupt a byte, or truncate */
            if (nflight && left >= 3) {
                take(0, &f);
                if (p[2] & 1) {
                    f.len = (p[0] | p[1] << 8) % (f.len + 1);
                } else {
                    f.buf[(p[0] | p[1] << 8) % f.len] ^= p[2] | 1;
                }
                input(f.to, f.buf, f.len);
            }
            p += left < 3 ? left : 3;
            break;
        case 5:                 /* a crafted frame to either side */
            if (left >= 1) {
                size_t n = 12 + (p[0] % 64) * 8;
                n = n < left - 1 ? n : left - 1;
                inject(p[0] & 0x80 ? &ep : &vm, p + 1, n);
                p += 1 + n;
            }
            break;
        case 6:                 /* a TLP each way, flushed or not */
            if (left >= 2) {
                unsigned dw = 1 + (p[1] & 0x7f) * 2;
                memset(payload, p[0], dw * 4);
                queue_tlp(&vm, p[0], dw, p[1] & 0x80 ? payload : NULL);
                queue_tlp(&ep, p[0], dw, p[1] & 0x80 ? NULL : payload);
                if (p[0] & 1) {
                    encap_link_flush(vm.l, now);
                    encap_link_flush(ep.l, now);
                }
                p += 2;
            }
            break;
        case 7:                 /* time passes */
            now += (uint64_t)(arg + 1) * (arg & 0x80 ? MS : 10000);
            poll_both();
            p += left > 0;
            break;
        case 8:                 /* the VM side restarts the session */
            encap_link_connect(vm.l, now);
            break;
        case 9:                 /* either side says BYE */
            encap_link_close(arg & 1 ? vm.l : ep.l, now);
            p += left > 0;
            break;
        case 10:                /* a ping */
            encap_link_ping(arg & 1 ? vm.l : ep.l, arg, now);
            p += left > 0;
            break;
        case 12:                /* an application releases requests */
            release(arg & 1 ? &vm : &ep, arg >> 1);
            p += left > 0;
            break;
        case 13:                /* both release all they were given */
            release(&vm, vm.rq_delivered - vm.rq_released);
            release(&ep, ep.rq_delivered - ep.rq_released);
            break;
#ifdef FUZZ_LINK_KEYED
        case 11:                /* replay a sealed frame taken before */
            if (naccepted) {
                f = accepted[arg % (naccepted < 8 ? naccepted : 8)];
                CHECK(input(f.to, f.buf, f.len) < 0);
            }
            p += left > 0;
            break;
#endif
        default:
            poll_both();
            break;
        }
    }

    /*
     * Whatever happened, a working channel brings the session back: what
     * is in flight is delivered and the timers run; if either side gave
     * up meanwhile (retries exhausted), the VM side connects again, as a
     * restarted VM would.  Then a marker TLP sent each way arrives exactly
     * once.
     */
    debug_dump("after the input");
    settle(10000);
    if (injected) {
        /*
         * A crafted frame with the right addresses, session, epoch and
         * sequence number is the peer, as far as the link can tell: it
         * may have taken sequence numbers or moved a side to an epoch of
         * its own (0..3).  Only a new epoch beyond those puts the sides
         * back in step (the HELLOs of the epochs skipped over arrive
         * first, each superseded by the next).
         */
        for (int i = 0; i < 4; i++) {
            encap_link_connect(vm.l, now);
        }
        settle(3000);
    } else if (encap_link_state(vm.l) != ENCAP_LINK_UP ||
               encap_link_state(ep.l) != ENCAP_LINK_UP) {
        encap_link_connect(vm.l, now);
        settle(3000);
    }
    debug_dump("after the channel settled");
    CHECK(encap_link_state(vm.l) == ENCAP_LINK_UP);
    CHECK(encap_link_state(ep.l) == ENCAP_LINK_UP);
    vm.marks = ep.marks = 0;
    {
        struct encap_tlp t = {
            .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf,
            .addr = 0xf00d0000, .tag = 0x3ff,
        };
        int r;

        /*
         * The window may be full of what was queued before, or the
         * peer's credit used up (settle() releases): settle.
         */
        for (int i = 0; i < 1000; i++) {
            r = encap_link_queue_tlp(vm.l, &t, &lim, now);
            if (r != -ENCAP_E_NOSPACE && r != -ENCAP_E_CREDIT) {
                break;
            }
            settle(50);
        }
        CHECK(r == 0);
        for (int i = 0; i < 1000; i++) {
            r = encap_link_queue_tlp(ep.l, &t, &lim, now);
            if (r != -ENCAP_E_NOSPACE && r != -ENCAP_E_CREDIT) {
                break;
            }
            settle(50);
        }
        CHECK(r == 0);
    }
    encap_link_flush(vm.l, now);
    encap_link_flush(ep.l, now);
    settle(3000);
    debug_dump("after the markers");
    CHECK(ep.marks == 1);
    CHECK(vm.marks == 1);
    encap_link_free(vm.l);
    encap_link_free(ep.l);
    return 0;
}
