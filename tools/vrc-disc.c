/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc-disc: send one DISC request by hand and print the answers, for
 * debugging endpoints and for tests (docs/protocol.md section 5).
 *
 *   vrc-disc -i IF solicit [--wait MS]
 *   vrc-disc -i IF assign  --to MAC [--fn N] --gen G --rc N --owner MAC
 *                          --bdf BB:DD.F (or a number)
 *   vrc-disc -i IF release --to MAC [--fn N] --gen G
 *
 * --key-file PATH signs the request with the pre-shared key in PATH (base64,
 * the format of QEMU's secret object with format=base64) and takes only
 * signed answers (docs/protocol.md 5.4); without it, unsigned both ways.
 *
 * Exit status: solicit: 0 if anything announced; assign/release: 0 if the
 * ACK says ok, 1 if it refused (the status is printed), 3 if no ACK came
 * within --wait ms (default 1000); 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
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

static int parse_mac(const char *s, uint8_t m[6])
{
    return s && sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2],
                       &m[3], &m[4], &m[5]) == 6;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static uint64_t real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + ts.tv_nsec / 1000;
}

static const char *status_name(unsigned s)
{
    static const char *const n[] = { "ok", "stale", "no-function", "refused" };

    return s < 4 ? n[s] : "?";
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "interface", required_argument, NULL, 'i' },
        { "to", required_argument, NULL, 'T' },
        { "fn", required_argument, NULL, 'f' },
        { "gen", required_argument, NULL, 'g' },
        { "rc", required_argument, NULL, 'r' },
        { "owner", required_argument, NULL, 'o' },
        { "bdf", required_argument, NULL, 'B' },
        { "wait", required_argument, NULL, 'w' },
        { "key-file", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 }
    };
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t to[6], own[6], buf[ENCAP_TRANSPORT_MAX_FRAME], src[6];
    struct encap_disc d = { 0 }, r;
    struct encap_transport *t;
    struct encap_disc_key key, *keyp = NULL;
    const char *ifname = NULL, *verb;
    char err[256] = "";
    bool have_to = false;
    long wait = 1000;
    long long end;
    int c, n, answers = 0;

    while ((c = getopt_long(argc, argv, "i:", opts, NULL)) != -1) {
        switch (c) {
        case 'i': ifname = optarg; break;
        case 'T': have_to = parse_mac(optarg, to); break;
        case 'f': d.function = strtoul(optarg, NULL, 0); break;
        case 'g': d.generation = strtoull(optarg, NULL, 0); break;
        case 'r': d.rc_id = strtoul(optarg, NULL, 0); break;
        case 'o': if (parse_mac(optarg, own)) memcpy(d.owner_mac, own, 6); break;
        case 'B': {
            unsigned b, dv, f;

            if (sscanf(optarg, "%x:%x.%x", &b, &dv, &f) == 3) {
                d.bdf = b << 8 | (dv & 0x1f) << 3 | (f & 7);
            } else {
                d.bdf = strtoul(optarg, NULL, 0);
            }
            break;
        }
        case 'w': wait = strtol(optarg, NULL, 0); break;
        case 'k':
            if (keyfile_disc_key("vrc-disc", optarg, &key) < 0) {
                return 2;
            }
            keyp = &key;
            break;
        default: return 2;
        }
    }
    if (!ifname || optind != argc - 1) {
        fprintf(stderr, "usage: vrc-disc -i IF solicit|assign|release [options]\n");
        return 2;
    }
    verb = argv[optind];
    if (!strcmp(verb, "solicit")) {
        d.op = ENCAP_DISC_SOLICIT;
        memcpy(to, bcast, 6);
    } else if (!strcmp(verb, "assign") || !strcmp(verb, "release")) {
        d.op = verb[0] == 'a' ? ENCAP_DISC_ASSIGN : ENCAP_DISC_RELEASE;
        if (!have_to) {
            fprintf(stderr, "vrc-disc: %s needs --to MAC\n", verb);
            return 2;
        }
    } else {
        fprintf(stderr, "vrc-disc: unknown request %s\n", verb);
        return 2;
    }
    srand(now_ms());
    d.xid = (uint32_t)rand() | 1;
    if (encap_transport_open_pcap(ifname, &t, err, sizeof(err)) < 0) {
        fprintf(stderr, "vrc-disc: %s: %s\n", ifname, err);
        return 2;
    }
    encap_transport_mac(t, src);
    n = encap_disc_frame_signed(to, src, false, &d, keyp, real_us(), buf,
                                sizeof(buf));
    if (n < 0 || encap_transport_send(t, buf, n) < 0) {
        fprintf(stderr, "vrc-disc: cannot send\n");
        return 2;
    }
    end = now_ms() + wait;
    for (long long left; (left = end - now_ms()) > 0;) {
        struct pollfd p = { .fd = encap_transport_fd(t), .events = POLLIN };
        uint8_t from[6];
        char m[18];

        if (poll(&p, 1, left) <= 0) {
            continue;
        }
        while ((n = encap_transport_recv(t, buf, sizeof(buf))) > 0) {
            if (encap_disc_parse_frame_keyed(buf, n, keyp, real_us(), from,
                                             &r) != 0 || r.xid != d.xid) {
                continue;
            }
            snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", from[0],
                     from[1], from[2], from[3], from[4], from[5]);
            if (r.op == ENCAP_DISC_ANNOUNCE) {
                printf("ANNOUNCE %s.%u %04x:%04x generation %llu %s\n", m,
                       r.function, r.vendor_id, r.device_id,
                       (unsigned long long)r.generation,
                       r.state ? "assigned" : "free");
                answers++;
            } else if (r.op == ENCAP_DISC_ACK) {
                printf("ACK %s.%u %s status %s generation %llu rc %u\n", m,
                       r.function, encap_disc_op_name(r.acked_op),
                       status_name(r.status), (unsigned long long)r.generation,
                       r.rc_id);
                encap_transport_close(t);
                return r.status == ENCAP_DISC_OK ? 0 : 1;
            }
        }
    }
    encap_transport_close(t);
    if (d.op == ENCAP_DISC_SOLICIT) {
        return answers ? 0 : 3;
    }
    fprintf(stderr, "vrc-disc: no ACK within %ld ms\n", wait);
    return 3;
}
