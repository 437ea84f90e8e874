/* SPDX-License-Identifier: MIT */
/*
 * vrc-stranger: a third host on the segment forges vrc frames against a
 * live session, to show what the link layer refuses.
 *
 *   vrc-stranger --mode=blind --ifname=IF --vm=MAC --ep=MAC [--ops=LIST]
 *   vrc-stranger --mode=sniff --ifname=IF --vm=MAC --ep=MAC [--ops=LIST]
 *
 * blind: knows only the two MAC addresses.  Forges, in turn (--ops picks
 * some: hello,hello_ack,bye,ack,ping,data): a HELLO claiming the vm's MAC
 * with a new session; a HELLO_ACK from the ep; a BYE from either MAC; ACK
 * and NAK with absurd acks; PING and PONG; DATA frames (MWr and MRd) with
 * guessed seq numbers.  Session, epoch and seq are random.
 *
 * sniff: reads the session's frames (libpcap on IF: a bridge that floods
 * every frame brings them here) and forges with what it saw.  Unkeyed
 * (version 1): DATA with the session, epoch and the next seq numbers (in
 * the window, ahead of the real frames), BYE with the right session, ACKs
 * of frames not yet delivered, and seen frames sent again.  Keyed
 * (version 2, sealed frames seen): seen frames sent again (replays), and
 * seen frames with one byte changed (the tag no longer verifies), plus the
 * unkeyed forgeries.
 *
 * --rate frames per second (default 2000), --duration-ms (default 5000).
 * Prints what it sent as one JSON line.
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

#include "encap/frame.h"
#include "encap/transport.h"

#define PROG "vrc-stranger"

enum forge {
    F_HELLO, F_HELLO_ACK, F_BYE, F_ACK, F_PING, F_DATA, F__COUNT,
};

static const char *const forge_names[F__COUNT] = {
    "hello", "hello_ack", "bye", "ack", "ping", "data",
};

/* What was last seen of the session, one direction each (0: vm -> ep). */
struct seen {
    bool valid, keyed;
    uint16_t rc_id, session;
    uint32_t epoch, seq, ack;
    size_t len;
    uint8_t frame[ENCAP_TRANSPORT_MAX_FRAME];
};

static struct {
    bool sniff;
    unsigned ops;               /* bit per enum forge */
    unsigned rate, duration_ms;
    uint8_t vm[6], ep[6];
    struct encap_transport *t;
    struct seen seen[2];
    uint64_t sent[F__COUNT], replays, tampered, seen_frames, send_errors;
} x = { .ops = (1u << F__COUNT) - 1, .rate = 2000, .duration_ms = 5000 };

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static uint32_t rnd32(void)
{
    uint32_t v = 0;

    if (getrandom(&v, sizeof(v), 0) != sizeof(v)) {
        v = (uint32_t)now_ns();
    }
    return v;
}

static void send_frame(const uint8_t *f, size_t len)
{
    if (encap_transport_send(x.t, f, len) < 0) {
        x.send_errors++;
    }
}

/* The header of a frame from @from (the vm or the ep) to the other. */
static void header(struct encap_frame_hdr *h, bool from_vm, uint8_t type)
{
    const struct seen *sn = &x.seen[from_vm ? 0 : 1];

    memset(h, 0, sizeof(*h));
    memcpy(h->src, from_vm ? x.vm : x.ep, 6);
    memcpy(h->dst, from_vm ? x.ep : x.vm, 6);
    h->type = type;
    h->flags = from_vm ? 0 : ENCAP_F_RESP;
    if (x.sniff && sn->valid) {
        h->rc_id = sn->rc_id;
        h->session = sn->session;
        h->epoch = sn->epoch;
        h->seq = sn->seq;
        h->ack = sn->ack;
    } else {
        h->rc_id = rnd32();
        h->session = rnd32();
        h->epoch = rnd32();
        h->seq = rnd32();
        h->ack = rnd32();
    }
}

static void send_ctrl(bool from_vm, uint8_t op, uint16_t flags, uint32_t ack)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    struct encap_ctrl c = {
        .op = op, .max_frame = 1514, .mps = 256, .mrrs = 4096,
        .cookie = rnd32(),
    };
    uint8_t buf[256], body[ENCAP_CTRL_LEN];
    int len;

    header(&h, from_vm, ENCAP_FRAME_CTRL);
    h.flags |= flags;
    h.ack = ack;
    if (op == ENCAP_CTRL_HELLO) {
        /* A new session of the vm's: nothing a sniffer could reuse. */
        h.session = rnd32();
        h.epoch = rnd32();
    }
    encap_ctrl_encode(&c, body, sizeof(body));
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_payload(&b, body, sizeof(body));
    len = encap_frame_finish(&b);
    if (len > 0) {
        send_frame(buf, len);
    }
}

/* A DATA frame from the vm: an MWr or an MRd at seq @seq. */
static void send_data(uint32_t seq, bool write)
{
    static uint8_t data[64];
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    struct encap_tlp t = {
        .type = write ? ENCAP_TLP_MWR : ENCAP_TLP_MRD, .len_dw = 4,
        .first_be = 0xf, .last_be = 0xf, .addr = 0x10000, .tag = 0x5a,
        .data = write ? data : NULL,
    };
    const struct encap_tlp_limits lim = { .mps = 256 };
    uint8_t buf[512];
    int len;

    memset(data, 0xee, sizeof(data));
    header(&h, true, ENCAP_FRAME_DATA);
    h.flags |= ENCAP_F_SEQ | ENCAP_F_ACK;
    h.seq = seq;
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    if (encap_frame_add_tlp(&b, &t, &lim) < 0) {
        return;
    }
    len = encap_frame_finish(&b);
    if (len > 0) {
        send_frame(buf, len);
    }
}

/* The next forgery of kind @f. */
static void forge(enum forge f, unsigned round)
{
    const struct seen *vm = &x.seen[0], *ep = &x.seen[1];
    bool from_vm = round & 1;

    x.sent[f]++;
    switch (f) {
    case F_HELLO:
        send_ctrl(true, ENCAP_CTRL_HELLO, 0, 0);
        break;
    case F_HELLO_ACK:
        send_ctrl(false, ENCAP_CTRL_HELLO_ACK, 0, 0);
        break;
    case F_BYE:
        send_ctrl(from_vm, ENCAP_CTRL_BYE, 0, 0);
        break;
    case F_ACK:
        /*
         * Blind: any ack.  Sniffing: the other side's next seq, as if
         * every frame it sent had arrived (those in flight have not).
         */
        send_ctrl(from_vm, round & 2 ? ENCAP_CTRL_NAK : ENCAP_CTRL_ACK,
                  ENCAP_F_ACK,
                  x.sniff && (from_vm ? ep : vm)->valid ?
                  (from_vm ? ep : vm)->seq + 1 : rnd32());
        break;
    case F_PING:
        send_ctrl(from_vm, round & 2 ? ENCAP_CTRL_PONG : ENCAP_CTRL_PING, 0, 0);
        break;
    case F_DATA:
        /* Sniffing: the vm's next few seq numbers, ahead of the real ones. */
        send_data(x.sniff && vm->valid ? vm->seq + 1 + round % 8 : rnd32(),
                  round & 2);
        break;
    default:
        break;
    }
    if (!x.sniff) {
        return;
    }
    /* What was seen, again; and changed (sealed: the tag fails). */
    for (int d = 0; d < 2; d++) {
        struct seen *sn = &x.seen[d];

        if (!sn->valid) {
            continue;
        }
        send_frame(sn->frame, sn->len);
        x.replays++;
        if (sn->keyed && sn->len > ENCAP_FRAME_OVERHEAD + 8) {
            uint8_t copy[ENCAP_TRANSPORT_MAX_FRAME];

            memcpy(copy, sn->frame, sn->len);
            copy[sn->len - 20] ^= 0x01;     /* in the ciphertext or tag */
            send_frame(copy, sn->len);
            x.tampered++;
        }
    }
}

/* A frame seen on the wire: keep what a forger would use. */
static void observe(const uint8_t *f, size_t len)
{
    struct encap_frame_view v;
    const uint8_t *h = f + ENCAP_ETH_HLEN;
    struct seen *sn;
    int d;

    if (len < ENCAP_FRAME_OVERHEAD || len > ENCAP_TRANSPORT_MAX_FRAME) {
        return;
    }
    if (!memcmp(f + 6, x.vm, 6) && !memcmp(f, x.ep, 6)) {
        d = 0;
    } else if (!memcmp(f + 6, x.ep, 6) && !memcmp(f, x.vm, 6)) {
        d = 1;
    } else {
        return;
    }
    sn = &x.seen[d];
    if (h[0] == ENCAP_VERSION) {
        if (encap_frame_parse(f, len, &v) < 0 || v.hdr.type == ENCAP_FRAME_DISC) {
            return;
        }
        sn->keyed = false;
        sn->rc_id = v.hdr.rc_id;
        sn->session = v.hdr.session;
        sn->epoch = v.hdr.epoch;
        if (v.hdr.type == ENCAP_FRAME_DATA) {
            sn->seq = v.hdr.seq;
        }
        if (v.hdr.flags & ENCAP_F_ACK) {
            sn->ack = v.hdr.ack;
        }
    } else {
        /* Sealed: the header is in the clear (docs/protocol.md, 7.4). */
        sn->keyed = true;
        sn->rc_id = (h[4] << 8) | h[5];
        sn->session = (h[6] << 8) | h[7];
        sn->epoch = ((uint32_t)h[8] << 24) | (h[9] << 16) | (h[10] << 8) | h[11];
    }
    memcpy(sn->frame, f, len);
    sn->len = len;
    sn->valid = true;
    x.seen_frames++;
}

static int parse_mac(const char *s, uint8_t *mac)
{
    return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
                  &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static int parse_ops(char *list)
{
    x.ops = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        unsigned i;

        for (i = 0; i < F__COUNT && strcmp(tok, forge_names[i]); i++) {
        }
        if (i == F__COUNT) {
            fprintf(stderr, PROG ": --ops: no forgery called %s\n", tok);
            return -1;
        }
        x.ops |= 1u << i;
    }
    return x.ops ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --mode=blind|sniff --ifname=IF --vm=MAC --ep=MAC\n"
               "       [--ops=hello,hello_ack,bye,ack,ping,data] [--rate=N/s] "
               "[--duration-ms=MS]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "mode", required_argument, NULL, 'm' },
        { "ifname", required_argument, NULL, 'i' },
        { "vm", required_argument, NULL, 'v' },
        { "ep", required_argument, NULL, 'e' },
        { "ops", required_argument, NULL, 'o' },
        { "rate", required_argument, NULL, 'r' },
        { "duration-ms", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    const char *ifname = NULL;
    bool have_vm = false, have_ep = false;
    uint8_t rx[ENCAP_TRANSPORT_MAX_FRAME];
    char err[256] = "", spec[128];
    uint64_t start, end, next;
    unsigned round = 0, kind = 0;
    int opt, r;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (strcmp(optarg, "blind") && strcmp(optarg, "sniff")) {
                fprintf(stderr, PROG ": --mode is blind or sniff\n");
                return 2;
            }
            x.sniff = !strcmp(optarg, "sniff");
            break;
        case 'i':
            ifname = optarg;
            break;
        case 'v':
        case 'e':
            if (parse_mac(optarg, opt == 'v' ? x.vm : x.ep) < 0) {
                fprintf(stderr, PROG ": not a MAC address: %s\n", optarg);
                return 2;
            }
            *(opt == 'v' ? &have_vm : &have_ep) = true;
            break;
        case 'o':
            if (parse_ops(optarg) < 0) {
                return 2;
            }
            break;
        case 'r':
            x.rate = strtoul(optarg, NULL, 0);
            break;
        case 'd':
            x.duration_ms = strtoul(optarg, NULL, 0);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!ifname || !have_vm || !have_ep || !x.rate) {
        usage(stderr);
        return 2;
    }
    snprintf(spec, sizeof(spec), "pcap:%s", ifname);
    r = encap_transport_open(spec, false, &x.t, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, PROG ": %s: %s\n", spec, err);
        return 1;
    }
    fprintf(stderr, PROG ": forging on %s\n", ifname);
    start = now_ns();
    end = start + (uint64_t)x.duration_ms * 1000000;
    next = start;
    for (;;) {
        uint64_t now = now_ns();
        struct pollfd pfd = { .fd = encap_transport_fd(x.t), .events = POLLIN };

        while ((r = encap_transport_recv(x.t, rx, sizeof(rx))) > 0) {
            observe(rx, r);
        }
        if (now >= end) {
            break;
        }
        while (now >= next) {
            while (!(x.ops & (1u << kind))) {
                kind = (kind + 1) % F__COUNT;
            }
            if (!x.sniff || x.seen[0].valid || x.seen[1].valid) {
                forge(kind, round);
            }
            kind = (kind + 1) % F__COUNT;
            if (!kind) {
                round++;
            }
            next += 1000000000ull / x.rate;
        }
        poll(&pfd, 1, 1);
    }
    printf("{\"mode\":\"%s\",\"seen\":%" PRIu64, x.sniff ? "sniff" : "blind",
           x.seen_frames);
    for (unsigned i = 0; i < F__COUNT; i++) {
        printf(",\"%s\":%" PRIu64, forge_names[i], x.sent[i]);
    }
    printf(",\"replays\":%" PRIu64 ",\"tampered\":%" PRIu64
           ",\"send_errors\":%" PRIu64 "}\n", x.replays, x.tampered,
           x.send_errors);
    encap_transport_close(x.t);
    return 0;
}
