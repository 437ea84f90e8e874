/* SPDX-License-Identifier: MIT */
/*
 * vrc-session: one encap link session between two hosts, no QEMU.  The
 * initiator (the vrc's side) opens a session with the responder (the
 * endpoint's side) and sends it --count numbered MWr TLPs; the responder
 * checks that it gets exactly 0..count-1, in order, each with the content
 * it was sent with.  Then the initiator waits until the responder has
 * acknowledged everything and says BYE.
 *
 *   vrc-session --responder --transport=pcap:veth1 --count=100000
 *   vrc-session --initiator --transport=pcap:veth0 --peer=MAC --count=100000
 *
 * --burst=N (both sides) hands the transport up to N frames per call
 * (encap_link_ops.send_burst, encap_transport_recv_burst); --tlp-dw=N
 * makes every MWr N DW long (1..64; default: 1 to 16, by turns), and
 * --max-frame=N sets the link's frame size (default 1514; at most the
 * transport's MTU + 14).  The
 * initiator's JSON says how fast the DATA went: "MBps" is the frame bytes
 * the transport sent per second, "tlp_MBps" the TLP payload.
 *
 * --credit=N (either side) gives the peer a request credit of N TLPs
 * (encap_link_config.rx_request_credit; docs/protocol.md, 4.1): the side
 * releases each request as soon as it has checked it, so its peer is
 * held only while the limit travels.
 *
 * --rto-min-us=US (either side) sets the floor of its retransmission
 * timeout (default 200 us, as the vrc and the endpoint have it).
 *
 * --key-file=PATH gives the session a pre-shared key (the file's bytes,
 * 16..256 of them; docs/protocol.md section 7).  Both print one JSON line:
 * TLPs moved and checked, how often the link went up and down, the
 * link's drop counters by reason and its retransmission counters.  Exit
 * status 0 only if every TLP arrived intact, in order and once, and the
 * session never restarted (it went up exactly once): a stranger's frames
 * must not change that.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "encap/link.h"
#include "encap/seal.h"
#include "encap/transport.h"

#define PROG "vrc-session"

static const struct encap_tlp_limits lim = { .mps = 4096 };

static struct {
    bool initiator;
    const char *spec;
    uint8_t peer[6];
    unsigned count;
    unsigned burst;
    unsigned tlp_dw;
    uint64_t payload;           /* TLP data bytes queued */
    unsigned timeout_ms;
    unsigned credit;            /* --credit: rx_request_credit */
    uint8_t key[256];
    size_t key_len;
    struct encap_transport *t;
    struct encap_link *l;
    unsigned tx_next, rx_next;
    unsigned bad;               /* out of order, repeated or damaged */
    bool was_up;
} s = { .count = 10000, .burst = 1, .timeout_ms = 30000 };

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int send_frame(void *opaque, const uint8_t *f, size_t len)
{
    return encap_transport_send(s.t, f, len);
}

static int send_burst(void *opaque, const struct encap_link_frame *f,
                      unsigned n)
{
    struct encap_tx_frame tx[ENCAP_LINK_BURST];

    for (unsigned i = 0; i < n; i++) {
        tx[i] = (struct encap_tx_frame) { f[i].data, f[i].len };
    }
    return encap_transport_send_burst(s.t, tx, n);
}

/*
 * TLP @i: an MWr of 1..16 DW (or --tlp-dw), its first DW @i, then bytes
 * made from @i.  @data has 256 bytes.
 */
static void make_tlp(uint32_t i, struct encap_tlp *t, uint8_t *data)
{
    memset(t, 0, sizeof(*t));
    t->type = ENCAP_TLP_MWR;
    t->len_dw = s.tlp_dw ? s.tlp_dw : 1 + i % 16;
    t->first_be = 0xf;
    t->last_be = t->len_dw > 1 ? 0xf : 0;
    /* Within a 4 KB page, as a TLP must be. */
    t->addr = 0x10000 + (t->len_dw > 16 ? (i % 16) * 256 : (i % 64) * 64);
    t->tag = i & 0xff;
    t->data = data;
    for (unsigned k = 0; k < 256; k++) {
        data[k] = (uint8_t)(i * 7 + k);
    }
    memcpy(data, &i, 4);
}

static void deliver(void *opaque, const uint8_t *tlp, size_t len)
{
    struct encap_tlp got, want;
    uint8_t data[256];

    make_tlp(s.rx_next, &want, data);
    if (encap_tlp_decode(tlp, len, &lim, &got) < 0 ||
        got.type != want.type || got.len_dw != want.len_dw ||
        got.addr != want.addr || memcmp(got.data, data, want.len_dw * 4)) {
        if (s.bad++ < 5) {
            fprintf(stderr, PROG ": TLP %u is not what was sent\n", s.rx_next);
        }
    }
    s.rx_next++;
    if (s.credit && encap_tlp_is_request(tlp, len)) {
        encap_link_requests_done(s.l, 1, now_ns());     /* done with it */
    }
}

static void state_changed(void *opaque, enum encap_link_state st)
{
    if (st == ENCAP_LINK_UP) {
        s.was_up = true;
    }
}

static int random_bytes(void *opaque, uint8_t *buf, size_t len)
{
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static const struct encap_link_ops ops = {
    .send_frame = send_frame,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
    .random = random_bytes,
};

static const struct encap_link_ops ops_burst = {
    .send_burst = send_burst,
    .deliver_tlp = deliver,
    .state_changed = state_changed,
    .random = random_bytes,
};

static int read_key(const char *path)
{
    FILE *f = fopen(path, "rb");

    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    s.key_len = fread(s.key, 1, sizeof(s.key), f);
    fclose(f);
    if (s.key_len < ENCAP_PSK_MIN) {
        fprintf(stderr, PROG ": %s: a key has %d to %d bytes\n", path,
                ENCAP_PSK_MIN, ENCAP_PSK_MAX);
        return -1;
    }
    return 0;
}

static void report(double secs)
{
    struct encap_link_stats st;
    struct encap_transport_stats ts;
    uint64_t bad = 0;

    encap_link_get_stats(s.l, &st);
    encap_transport_get_stats(s.t, &ts);
    for (unsigned i = 0; i < ENCAP_E__COUNT; i++) {
        bad += st.drops_bad[i];
    }
    printf("{\"role\":\"%s\",\"keyed\":%s,\"tlps_sent\":%u,\"tlps_received\":%u,"
           "\"bad\":%u,\"seconds\":%.3f,\"ups\":%" PRIu64 ",\"downs\":%" PRIu64 ","
           "\"drops\":%" PRIu64 ",\"drops_bad\":%" PRIu64 ",\"drops_not_ours\":%" PRIu64
           ",\"drops_session\":%" PRIu64 ",\"drops_state\":%" PRIu64
           ",\"auth_fail\":%" PRIu64 ",\"replay\":%" PRIu64 ",\"key_mismatch\":%" PRIu64
           ",\"frames_rx\":%" PRIu64 ",\"duplicates\":%" PRIu64
           ",\"retransmits\":%" PRIu64 ",\"fast_retransmits\":%" PRIu64
           ",\"timeouts\":%" PRIu64 ",\"timeouts_early\":%" PRIu64
           ",\"srtt_ns\":%" PRIu64
           ",\"credit_waits\":%" PRIu64 ",\"credit_probes\":%" PRIu64
           ",\"credit_updates\":%" PRIu64 ",\"credit_overruns\":%" PRIu64
           ",\"burst\":%u,\"frames_tx\":%" PRIu64 ",\"MBps\":%.2f,\"tlp_MBps\":%.2f}\n",
           s.initiator ? "initiator" : "responder", s.key_len ? "true" : "false",
           s.tx_next, s.rx_next, s.bad, secs, st.ups, st.downs, st.drops, bad,
           st.drops_not_ours, st.drops_session, st.drops_state, st.auth_fail,
           st.replay, st.key_mismatch, st.frames_rx, st.duplicates,
           st.retransmits, st.fast_retransmits, st.timeouts,
           st.timeouts_early, st.srtt_ns, st.credit_waits, st.credit_probes,
           st.credit_updates, st.credit_overruns, s.burst, ts.frames_tx, ts.bytes_tx / secs / 1e6,
           s.payload / secs / 1e6);
    fflush(stdout);
}

/* Queue what the window takes; flush it. */
static void fill(uint64_t now)
{
    bool queued = false;

    while (s.tx_next < s.count) {
        struct encap_tlp t;
        uint8_t data[256];

        make_tlp(s.tx_next, &t, data);
        if (encap_link_queue_tlp(s.l, &t, &lim, now) < 0) {
            break;
        }
        s.payload += t.len_dw * 4;
        s.tx_next++;
        queued = true;
    }
    if (queued) {
        encap_link_flush(s.l, now);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --initiator|--responder --transport=SPEC "
               "[--peer=MAC] [--count=N] [--burst=N] [--tlp-dw=N] [--max-frame=N] "
               "[--credit=N] [--rto-min-us=US] [--key-file=PATH] [--timeout-ms=MS]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "initiator", no_argument, NULL, 'i' },
        { "responder", no_argument, NULL, 'r' },
        { "transport", required_argument, NULL, 't' },
        { "peer", required_argument, NULL, 'p' },
        { "count", required_argument, NULL, 'c' },
        { "burst", required_argument, NULL, 'b' },
        { "tlp-dw", required_argument, NULL, 'd' },
        { "max-frame", required_argument, NULL, 'm' },
        { "key-file", required_argument, NULL, 'k' },
        { "timeout-ms", required_argument, NULL, 'T' },
        { "credit", required_argument, NULL, 'C' },
        { "rto-min-us", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    struct encap_link_config cfg = {
        .rc_id = 1, .max_frame = 1514, .mps = 256, .mrrs = 4096,
        .window = 256, .rto_min_ns = 200000,
        /* As the vrc and the endpoint run: a live session outlasts a
         * HELLO that is not its own while it answers PINGs. */
        .keepalive_ns = 500000000, .keepalive_misses = 6,
    };
    bool role = false;
    static uint8_t rxq[ENCAP_LINK_BURST][ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_rx_frame rxs[ENCAP_LINK_BURST];
    char err[256] = "";
    uint64_t start, deadline, done_at = 0, last_rx;
    uint32_t mark = 0;
    bool closing = false;
    int opt, r;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
        case 'r':
            s.initiator = opt == 'i';
            role = true;
            break;
        case 't':
            s.spec = optarg;
            break;
        case 'p':
            if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &s.peer[0],
                       &s.peer[1], &s.peer[2], &s.peer[3], &s.peer[4],
                       &s.peer[5]) != 6) {
                fprintf(stderr, PROG ": --peer: not a MAC address: %s\n", optarg);
                return 2;
            }
            break;
        case 'c':
            s.count = strtoul(optarg, NULL, 0);
            break;
        case 'b':
            s.burst = strtoul(optarg, NULL, 0);
            if (s.burst < 1 || s.burst > ENCAP_LINK_BURST) {
                fprintf(stderr, PROG ": --burst: 1..%d\n", ENCAP_LINK_BURST);
                return 2;
            }
            break;
        case 'd':
            s.tlp_dw = strtoul(optarg, NULL, 0);
            if (s.tlp_dw < 1 || s.tlp_dw > 64) {
                fprintf(stderr, PROG ": --tlp-dw: 1..64\n");
                return 2;
            }
            break;
        case 'm':
            cfg.max_frame = strtoul(optarg, NULL, 0);
            break;
        case 'k':
            if (read_key(optarg) < 0) {
                return 2;
            }
            break;
        case 'T':
            s.timeout_ms = strtoul(optarg, NULL, 0);
            break;
        case 'C':
            s.credit = strtoul(optarg, NULL, 0);
            if (s.credit > INT32_MAX) {
                fprintf(stderr, PROG ": --credit: 0..%d\n", INT32_MAX);
                return 2;
            }
            cfg.rx_request_credit = s.credit;
            break;
        case 'R':
            cfg.rto_min_ns = strtoull(optarg, NULL, 0) * 1000;
            if (!cfg.rto_min_ns || cfg.rto_min_ns > 1000000000) {
                fprintf(stderr, PROG ": --rto-min-us: 1..1000000\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!role || !s.spec) {
        usage(stderr);
        return 2;
    }
    r = encap_transport_open(s.spec, !s.initiator, &s.t, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, PROG ": %s: %s\n", s.spec, err);
        return 1;
    }
    cfg.initiator = s.initiator;
    encap_transport_mac(s.t, cfg.own_mac);
    memcpy(cfg.peer_mac, s.peer, 6);
    if (s.initiator) {
        uint16_t session;

        random_bytes(NULL, (uint8_t *)&session, sizeof(session));
        random_bytes(NULL, (uint8_t *)&cfg.epoch, sizeof(cfg.epoch));
        cfg.session = session | 1;
    }
    if (s.key_len) {
        cfg.key = s.key;
        cfg.key_len = s.key_len;
    }
    s.l = encap_link_new(&cfg, s.burst > 1 ? &ops_burst : &ops, NULL);
    if (!s.l) {
        fprintf(stderr, PROG ": the link configuration is refused\n");
        return 1;
    }
    start = last_rx = now_ns();
    deadline = start + (uint64_t)s.timeout_ms * 1000000;
    if (s.initiator) {
        encap_link_connect(s.l, start);
    }
    for (;;) {
        uint64_t now = now_ns(), next;
        struct pollfd pfd = { .fd = encap_transport_fd(s.t), .events = POLLIN };
        int wait_ms;

        for (;;) {
            for (unsigned k = 0; k < s.burst; k++) {
                rxs[k] = (struct encap_rx_frame) { rxq[k], sizeof(rxq[k]), 0 };
            }
            r = encap_transport_recv_burst(s.t, rxs, s.burst);
            if (r <= 0) {
                break;
            }
            for (int k = 0; k < r; k++) {
                encap_link_input(s.l, rxq[k], rxs[k].len, now);
            }
            last_rx = now;
        }
        now = now_ns();
        if (s.initiator && encap_link_state(s.l) == ENCAP_LINK_UP && !closing) {
            fill(now);
            if (s.tx_next == s.count && !done_at) {
                mark = encap_link_mark(s.l);
                done_at = now;
            }
            if (done_at && encap_link_delivered(s.l, mark)) {
                report((now - start) / 1e9);
                encap_link_close(s.l, now);
                closing = true;
                break;
            }
        }
        if (s.was_up && encap_link_state(s.l) == ENCAP_LINK_DOWN &&
            (s.initiator || s.rx_next >= s.count)) {
            break;              /* BYE, or (initiator) gave up */
        }
        if (!s.initiator && s.rx_next >= s.count &&
            now - last_rx > 500000000ull) {
            break;              /* all there; the BYE may have been lost */
        }
        if (now >= deadline) {
            fprintf(stderr, PROG ": timed out: %u of %u TLPs %s\n",
                    s.initiator ? s.tx_next : s.rx_next, s.count,
                    s.initiator ? "queued" : "received");
            break;
        }
        next = encap_link_poll(s.l, now);
        wait_ms = next ? (next > now ? (int)((next - now) / 1000000) : 0) : 10;
        poll(&pfd, 1, wait_ms < 10 ? wait_ms : 10);
    }
    if (!closing) {
        report((now_ns() - start) / 1e9);
    }
    {
        struct encap_link_stats st;
        bool ok;

        encap_link_get_stats(s.l, &st);
        ok = st.ups == 1 && !s.bad &&
             (s.initiator ? closing : s.rx_next == s.count);
        encap_link_free(s.l);
        encap_transport_close(s.t);
        return ok ? 0 : 1;
    }
}
