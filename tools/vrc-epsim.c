/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc-epsim: simulated endpoints for configd, no QEMU.  Speaks the endpoint
 * side of DISC (docs/protocol.md section 5) for N endpoint MACs with F
 * functions each: answers SOLICITs, sends heartbeat ANNOUNCEs, and applies
 * ASSIGN/RELEASE with the generation rule of section 5.2, counting what it
 * refuses.  It opens no sessions (no DATA/CTRL).
 *
 * Endpoint k (0-based) has MAC 02:76:72:xx:xx:xx, xx:xx:xx = base + k + 1:
 * locally administered, unicast, distinct per endpoint and derived from the
 * index, because a real vrc-endpoint is one QEMU per MAC; a multi-function
 * device is modelled by --functions (one MAC, function indexes 0..F-1).
 * With a bridge between configd and the simulator, each MAC is learnt on
 * the simulator's port as real endpoints would be.
 *
 * --key-file=PATH: the pre-shared key (base64, the format of QEMU's secret
 * object with format=base64); every DISC frame sent is signed and only
 * signed ones are taken (docs/protocol.md 5.4).  Without it, unsigned.
 *
 * Counters go to stderr on SIGUSR1 and at exit (SIGTERM/SIGINT).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encap/crypto.h"
#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/seal.h"
#include "encap/transport.h"
#include "keyfile.h"

struct fn {
    struct encap_disc_owner own;    /* the generation rule's state */
    uint64_t next_hb;       /* ns, monotonic */
    uint64_t answer_at;     /* ns; 0: no SOLICIT to answer */
    uint8_t answer_to[6];
    uint32_t answer_xid;
};

static struct {
    unsigned count, functions, base, interval_ms;
    struct fn *fns;         /* count * functions */
    struct encap_transport *t;
    struct encap_disc_key key;
    bool keyed;
    struct encap_disc_stats rx;
    uint64_t solicits, announces, assigns, releases, repeats, stale,
             no_function, not_ours, send_errors;
    bool quiet;
} sim = { .count = 1, .functions = 1, .interval_ms = 1000 };

static volatile sig_atomic_t stop, dump;

/* A few real devices, so that vrcctl has names to show. */
static const struct {
    uint16_t vendor, device, ssvid, ssid;
    uint32_t class_rev;
    struct encap_disc_bar bars[6];
} models[] = {
    { 0x8086, 0x10d3, 0x8086, 0x0000, 0x02000000,       /* e1000e */
      { { 17, 0 }, { 17, 0 }, { 5, ENCAP_DISC_BAR_IO }, { 14, 0 } } },
    { 0x1af4, 0x1041, 0x1af4, 0x1100, 0x02000001,       /* virtio-net */
      { { 0, 0 }, { 12, 0 }, { 0, 0 }, { 0, 0 },
        { 14, ENCAP_DISC_BAR_64 | ENCAP_DISC_BAR_PREFETCH } } },
    { 0x1b36, 0x0010, 0x1af4, 0x1100, 0x01080202,       /* QEMU NVMe */
      { { 14, ENCAP_DISC_BAR_64 } } },
    { 0x1234, 0x11e8, 0x1af4, 0x1100, 0x00ff0010,       /* edu */
      { { 20, 0 } } },
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The clock signed DISC frames carry: microseconds since the Unix epoch. */
static uint64_t real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + ts.tv_nsec / 1000;
}

static void ep_mac(unsigned k, uint8_t mac[6])
{
    uint32_t idx = sim.base + k + 1;

    mac[0] = 0x02;
    mac[1] = 0x76;
    mac[2] = 0x72;
    mac[3] = idx >> 16;
    mac[4] = idx >> 8;
    mac[5] = idx;
}

/* The endpoint index of @mac, or -1 if it is not one of ours. */
static long ep_index(const uint8_t mac[6])
{
    uint32_t idx;

    if (mac[0] != 0x02 || mac[1] != 0x76 || mac[2] != 0x72) {
        return -1;
    }
    idx = (uint32_t)mac[3] << 16 | mac[4] << 8 | mac[5];
    if (idx <= sim.base || idx > sim.base + sim.count) {
        return -1;
    }
    return idx - sim.base - 1;
}

static void send_frame(unsigned k, const uint8_t dst[6], const struct encap_disc *d)
{
    uint8_t buf[ENCAP_DISC_FRAME_MAX], src[6];
    int n;

    ep_mac(k, src);
    n = encap_disc_frame_signed(dst, src, true, d, sim.keyed ? &sim.key : NULL,
                                real_us(), buf, sizeof(buf));
    if (n < 0 || encap_transport_send(sim.t, buf, n) < 0) {
        sim.send_errors++;
    }
}

static void fill_state(const struct fn *f, struct encap_disc *d)
{
    d->generation = f->own.generation;
    d->state = f->own.assigned ? ENCAP_DISC_ASSIGNED : ENCAP_DISC_FREE;
    if (f->own.assigned) {
        d->rc_id = f->own.rc_id;
        memcpy(d->owner_mac, f->own.mac, 6);
        d->bdf = f->own.bdf;
    }
}

static void announce(unsigned k, unsigned fi, const uint8_t dst[6], uint32_t xid)
{
    const struct fn *f = &sim.fns[k * sim.functions + fi];
    unsigned m = (k * sim.functions + fi) % (sizeof(models) / sizeof(models[0]));
    struct encap_disc d = {
        .op = ENCAP_DISC_ANNOUNCE, .vendor_id = models[m].vendor,
        .device_id = models[m].device, .class_rev = models[m].class_rev,
        .subsys_vendor = models[m].ssvid, .subsys_id = models[m].ssid,
        .function = fi, .functions = sim.functions, .xid = xid,
        .interval_ms = sim.interval_ms,
        .serial = 0x5652430000000000ull | (uint64_t)(sim.base + k + 1) << 8 | fi,
    };

    memcpy(d.bars, models[m].bars, sizeof(d.bars));
    fill_state(f, &d);
    send_frame(k, dst, &d);
    sim.announces++;
}

/* ASSIGN and RELEASE: the rule of docs/protocol.md 5.2 (encap_disc_apply). */
static void assign_release(unsigned k, const uint8_t from[6],
                           const struct encap_disc *r)
{
    struct encap_disc ack = {
        .op = ENCAP_DISC_ACK, .acked_op = r->op, .function = r->function,
        .xid = r->xid, .status = ENCAP_DISC_NO_FUNCTION,
    };
    bool end_session;
    struct fn *f;

    if (r->function >= sim.functions) {
        sim.no_function++;
        send_frame(k, from, &ack);
        return;
    }
    f = &sim.fns[k * sim.functions + r->function];
    switch (encap_disc_apply(&f->own, r, &ack, &end_session)) {
    case ENCAP_DISC_APPLIED:
        /* No sessions here: nothing to end when end_session is set. */
        if (r->op == ENCAP_DISC_ASSIGN) {
            sim.assigns++;
        } else {
            sim.releases++;
        }
        break;
    case ENCAP_DISC_REPEATED:
        sim.repeats++;              /* a retry whose ACK was lost */
        break;
    case ENCAP_DISC_REFUSED_STALE:
        sim.stale++;
        if (!sim.quiet) {
            fprintf(stderr, "epsim: endpoint %u fn %u: stale %s generation %llu "
                    "(holding %llu)\n", k, r->function,
                    encap_disc_op_name(r->op), (unsigned long long)r->generation,
                    (unsigned long long)f->own.generation);
        }
        break;
    }
    send_frame(k, from, &ack);
}

static void receive(void)
{
    static uint8_t buf[ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_disc d;
    uint8_t src[6];

    for (int i = 0; i < 512; i++) {
        int n = encap_transport_recv(sim.t, buf, sizeof(buf));
        long k;
        int rc;

        if (n <= 0) {
            return;
        }
        rc = encap_disc_parse_frame_keyed(buf, n, sim.keyed ? &sim.key : NULL,
                                          real_us(), src, &d);
        if (rc == 1) {
            continue;
        }
        encap_disc_count(&sim.rx, rc);
        if (rc < 0) {
            continue;
        }
        if (d.op == ENCAP_DISC_SOLICIT) {
            uint64_t now = now_ns();

            sim.solicits++;
            /* Every function answers within 0..100 ms, spread at random. */
            for (unsigned j = 0; j < sim.count * sim.functions; j++) {
                struct fn *f = &sim.fns[j];

                f->answer_at = now + (uint64_t)(rand() % 100000) * 1000 + 1;
                memcpy(f->answer_to, src, 6);
                f->answer_xid = d.xid;
            }
            continue;
        }
        if (d.op != ENCAP_DISC_ASSIGN && d.op != ENCAP_DISC_RELEASE) {
            continue;
        }
        k = ep_index(buf);          /* the destination MAC */
        if (k < 0) {
            sim.not_ours++;
            continue;
        }
        assign_release(k, src, &d);
    }
}

static void print_stats(void)
{
    const uint64_t *d = sim.rx.drops;
    uint64_t drops = 0;

    for (int i = 1; i < ENCAP_E__COUNT; i++) {
        drops += d[i];
    }
    fprintf(stderr, "epsim: stats solicit=%llu announce=%llu assign=%llu "
            "release=%llu repeat=%llu stale=%llu no_function=%llu drops=%llu "
            "auth_drops=%llu send_errors=%llu\n",
            (unsigned long long)sim.solicits, (unsigned long long)sim.announces,
            (unsigned long long)sim.assigns, (unsigned long long)sim.releases,
            (unsigned long long)sim.repeats, (unsigned long long)sim.stale,
            (unsigned long long)sim.no_function, (unsigned long long)drops,
            (unsigned long long)(d[ENCAP_E_DISC_AUTH] + d[ENCAP_E_KEY] +
                                 d[ENCAP_E_AUTH] + d[ENCAP_E_REPLAY]),
            (unsigned long long)sim.send_errors);
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1) {
        dump = 1;
    } else {
        stop = 1;
    }
}

static void usage(void)
{
    fprintf(stderr,
        "usage: vrc-epsim -i IF [-n ENDPOINTS] [-f FUNCTIONS] [--base B]\n"
        "                 [--interval MS] [--key-file PATH] [--quiet]\n"
        "  -i IF          interface (libpcap; needs CAP_NET_RAW)\n"
        "  -n N           endpoint MACs to simulate, 1..1000000 (default 1)\n"
        "  -f F           functions per endpoint, 1..255 (default 1)\n"
        "  --base B       MACs are 02:76:72 + (B + k + 1), k < N (default 0)\n"
        "  --interval MS  heartbeat ANNOUNCE period, 100..60000 (default 1000)\n"
        "  --key-file P   sign and check DISC with the pre-shared key in P\n"
        "                 (base64, as QEMU's secret object, format=base64)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "interface", required_argument, NULL, 'i' },
        { "count", required_argument, NULL, 'n' },
        { "functions", required_argument, NULL, 'f' },
        { "base", required_argument, NULL, 'b' },
        { "interval", required_argument, NULL, 't' },
        { "key-file", required_argument, NULL, 'k' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const char *ifname = NULL;
    char err[256] = "";
    struct sigaction sa = { .sa_handler = on_signal };
    uint64_t now, period;
    unsigned total;
    int c, rc;

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    while ((c = getopt_long(argc, argv, "i:n:f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': ifname = optarg; break;
        case 'n': sim.count = strtoul(optarg, NULL, 0); break;
        case 'f': sim.functions = strtoul(optarg, NULL, 0); break;
        case 'b': sim.base = strtoul(optarg, NULL, 0); break;
        case 't': sim.interval_ms = strtoul(optarg, NULL, 0); break;
        case 'k':
            if (keyfile_disc_key("vrc-epsim", optarg, &sim.key) < 0) {
                return 2;
            }
            sim.keyed = true;
            break;
        case 'q': sim.quiet = true; break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (!ifname || sim.count < 1 || sim.count > 1000000 || sim.functions < 1 ||
        sim.functions > 255 || sim.base + sim.count > 0xffffff ||
        sim.interval_ms < ENCAP_DISC_INTERVAL_MIN ||
        sim.interval_ms > ENCAP_DISC_INTERVAL_MAX) {
        usage();
        return 2;
    }
    rc = encap_transport_open_pcap(ifname, &sim.t, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "vrc-epsim: %s: %s\n", ifname, err[0] ? err : strerror(-rc));
        return 1;
    }
    srand(now_ns());
    total = sim.count * sim.functions;
    sim.fns = calloc(total, sizeof(*sim.fns));
    period = (uint64_t)sim.interval_ms * 1000000;
    now = now_ns();
    for (unsigned j = 0; j < total; j++) {
        /* First heartbeats spread over one period: no burst at start. */
        sim.fns[j].next_hb = now + period * j / total;
    }
    fprintf(stderr, "epsim: %u endpoint(s) x %u function(s) on %s, heartbeat "
            "%u ms, %s\n", sim.count, sim.functions, ifname, sim.interval_ms,
            sim.keyed ? "signed" : "unsigned");

    while (!stop) {
        uint64_t next = UINT64_MAX;
        struct pollfd p = { .fd = encap_transport_fd(sim.t), .events = POLLIN };
        int timeout;

        now = now_ns();
        for (unsigned j = 0; j < total; j++) {
            struct fn *f = &sim.fns[j];
            unsigned k = j / sim.functions, fi = j % sim.functions;

            if (f->answer_at && f->answer_at <= now) {
                f->answer_at = 0;
                announce(k, fi, f->answer_to, f->answer_xid);
            }
            if (f->next_hb <= now) {
                announce(k, fi, bcast, 0);
                f->next_hb += period;
                if (f->next_hb <= now) {
                    f->next_hb = now + period;
                }
            }
            if (f->answer_at && f->answer_at < next) {
                next = f->answer_at;
            }
            if (f->next_hb < next) {
                next = f->next_hb;
            }
        }
        timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        if (poll(&p, 1, timeout) > 0) {
            receive();
        }
        if (dump) {
            dump = 0;
            print_stats();
        }
    }
    print_stats();
    encap_transport_close(sim.t);
    encap_disc_key_wipe(&sim.key);
    free(sim.fns);
    return 0;
}
