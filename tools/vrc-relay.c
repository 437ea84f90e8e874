/* SPDX-License-Identifier: MIT */
/*
 * vrc-relay: a lossy wire between two interfaces.
 *
 * Every frame that comes in on one interface is sent out of the other,
 * after the impairments of its direction: loss, duplication, reordering,
 * a flipped bit, a delay.  Run it in a network namespace between two veth
 * pairs (scripts/netns.sh: vrc_netns_up_relay) and everything the two ends
 * say to each other goes through it.  It stands in for tc netem, which not
 * every kernel has.
 *
 *   vrc-relay [options] IF_A IF_B
 *
 * The decisions come from a PRNG of its own seeded by --seed (each
 * direction has its own stream), so a run can be repeated.  Frames held for
 * delay or reordering live in a fixed pool.  SIGINT or SIGTERM ends it:
 * what is still held is sent, and one JSON line on stdout sums up what
 * happened in each direction (relay-core.h explains each counter).
 */
#define _GNU_SOURCE     /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay-core.h"

#define RX_BATCH     64             /* frames read per wake-up per side */
#define RCVBUF       (4 << 20)
#define MAX_US       10000000u      /* longest delay or wait: 10 s */

struct side {
    const char *ifname;
    int ifindex;
    int fd;
    unsigned mtu;
    bool see_outgoing;          /* no PACKET_IGNORE_OUTGOING: skip by hand */
};

/* What the relay itself counts per direction, besides relay_stats. */
struct dir_extra {
    uint64_t oversize;          /* larger than the other side's MTU allows */
    uint64_t rx_errors;
    uint64_t kernel_drops;      /* PACKET_STATISTICS of the receiving side */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = sig;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int emit(void *opaque, const uint8_t *frame, size_t len)
{
    const struct side *out = opaque;

    return send(out->fd, frame, len, 0) < 0 ? -errno : 0;
}

static int open_side(struct side *s, char *err, size_t errlen)
{
    struct sockaddr_ll sll = { .sll_family = AF_PACKET };
    struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
    struct ifreq ifr = { 0 };
    int one = 1, rcvbuf = RCVBUF;

    if (strlen(s->ifname) >= IFNAMSIZ ||
        (s->ifindex = if_nametoindex(s->ifname)) == 0) {
        snprintf(err, errlen, "no interface '%s' in this network namespace",
                 s->ifname);
        return -ENODEV;
    }
    /* Protocol 0 until bound: take in nothing from other interfaces. */
    s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, errlen, "packet socket: %s (needs CAP_NET_RAW)",
                 strerror(errno));
        return -errno;
    }
    if (setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
                   sizeof(one)) < 0) {
        s->see_outgoing = true;
    }
    if (setsockopt(s->fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0 ||
        (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                    sizeof(rcvbuf)) < 0 &&
         setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
                    sizeof(rcvbuf)) < 0)) {
        snprintf(err, errlen, "%s: socket options: %s", s->ifname,
                 strerror(errno));
        return -errno;
    }
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = s->ifindex;
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        snprintf(err, errlen, "%s: bind: %s", s->ifname, strerror(errno));
        return -errno;
    }
    mr.mr_ifindex = s->ifindex;
    if (setsockopt(s->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
                   sizeof(mr)) < 0) {
        snprintf(err, errlen, "%s: promiscuous mode: %s", s->ifname,
                 strerror(errno));
        return -errno;
    }
    strcpy(ifr.ifr_name, s->ifname);
    if (ioctl(s->fd, SIOCGIFMTU, &ifr) < 0) {
        snprintf(err, errlen, "%s: MTU: %s", s->ifname, strerror(errno));
        return -errno;
    }
    s->mtu = ifr.ifr_mtu;
    return 0;
}

/* The EtherType of @f, past any 802.1Q/802.1ad tags; 0 if too short. */
static unsigned ethertype(const uint8_t *f, size_t len)
{
    size_t off = 12;

    while (off + 2 <= len) {
        unsigned t = f[off] << 8 | f[off + 1];

        if (t != ETH_P_8021Q && t != ETH_P_8021AD) {
            return t;
        }
        off += 4;
    }
    return 0;
}

/*
 * Read one frame from @s into @buf (@cap bytes, 4 spare for a VLAN tag the
 * kernel took out).  Its length, 0 if none is waiting or it is not one to
 * relay, -EMSGSIZE if larger than @max, or -errno.
 */
static ssize_t read_frame(struct side *s, uint8_t *buf, size_t cap,
                          size_t max)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } ctl;
    struct sockaddr_ll from;
    struct iovec iov = { .iov_base = buf, .iov_len = cap - 4 };
    struct msghdr msg = {
        .msg_name = &from, .msg_namelen = sizeof(from),
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = &ctl, .msg_controllen = sizeof(ctl),
    };
    ssize_t n = recvmsg(s->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);

    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    if (from.sll_pkttype == PACKET_OUTGOING) {
        return 0;               /* ours, where the kernel cannot hide them */
    }
    if ((size_t)n > cap - 4) {
        return -EMSGSIZE;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        struct tpacket_auxdata aux;

        if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) {
            continue;
        }
        memcpy(&aux, CMSG_DATA(c), sizeof(aux));
        if ((aux.tp_status & TP_STATUS_VLAN_VALID) && n >= 12) {
            unsigned tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ?
                            aux.tp_vlan_tpid : ETH_P_8021Q;

            memmove(buf + 16, buf + 12, n - 12);
            buf[12] = tpid >> 8;
            buf[13] = tpid;
            buf[14] = aux.tp_vlan_tci >> 8;
            buf[15] = aux.tp_vlan_tci;
            n += 4;
        }
    }
    return (size_t)n > max ? -EMSGSIZE : n;
}

static void print_dir(const char *name, const struct relay_stats *s,
                      const struct dir_extra *x)
{
    printf("\"%s\":{\"in\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"passed\":%"
           PRIu64 ",\"dropped\":%" PRIu64 ",\"duplicated\":%" PRIu64
           ",\"corrupted\":%" PRIu64 ",\"held\":%" PRIu64 ",\"reordered\":%"
           PRIu64 ",\"pool_full\":%" PRIu64 ",\"send_errors\":%" PRIu64
           ",\"oversize\":%" PRIu64 ",\"rx_errors\":%" PRIu64
           ",\"kernel_drops\":%" PRIu64 "}", name, s->in, s->sent, s->passed,
           s->dropped, s->duplicated, s->corrupted, s->held, s->reordered,
           s->pool_full, s->send_errors, x->oversize, x->rx_errors,
           x->kernel_drops);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: vrc-relay [options] IF_A IF_B\n"
"Relay every frame between interfaces IF_A and IF_B, impaired on the way.\n"
"Each impairment applies to both directions, or to one with a prefix:\n"
"a2b= (IF_A to IF_B) or b2a= (IF_B to IF_A), e.g. --loss a2b=0.01.\n"
"  --loss [DIR=]P          drop a frame with probability P (0..1)\n"
"  --dup [DIR=]P           send a frame twice\n"
"  --reorder [DIR=]P       hold a frame back until --reorder-gap later\n"
"                          frames have passed or --reorder-wait is over\n"
"  --reorder-gap N         frames that overtake a held one (default 3)\n"
"  --reorder-wait US       longest hold, microseconds (default 2000)\n"
"  --corrupt [DIR=]P       flip one random bit past the Ethernet header\n"
"  --delay [DIR=]US        delay every frame by US microseconds\n"
"  --jitter [DIR=]US       vary the delay by +-US (at most the delay);\n"
"                          frames still leave in the order they came\n"
"  --seed N                seed of the decisions (default: random; the\n"
"                          summary shows it)\n"
"  --ethertype TYPE        impair only frames of this EtherType (e.g.\n"
"                          0x88b5); others are relayed untouched\n"
"  --pool N                frames that may be held at once (default 1024);\n"
"                          a delayed frame finding none is dropped, a held\n"
"                          one is sent in order (counted in pool_full)\n"
"  --duration SEC          stop after SEC seconds (default: never)\n"
"  --help                  this text\n"
"Runs until SIGINT or SIGTERM (or --duration), then sends what it still\n"
"holds and prints one JSON line of counters per direction on stdout.\n");
}

/* "[a2b=|b2a=]VALUE": the directions it applies to (bit 0 a2b, bit 1 b2a). */
static unsigned dir_prefix(const char **arg)
{
    if (!strncmp(*arg, "a2b=", 4)) {
        *arg += 4;
        return 1;
    }
    if (!strncmp(*arg, "b2a=", 4)) {
        *arg += 4;
        return 2;
    }
    return 3;
}

static bool parse_rate(const char *s, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(s, &end);
    return !errno && end != s && !*end && isfinite(*v) && *v >= 0 && *v <= 1;
}

static bool parse_ulong(const char *s, unsigned long long max,
                        unsigned long long *v)
{
    char *end;

    if (*s == '-' || *s == '\0') {
        return false;
    }
    errno = 0;
    *v = strtoull(s, &end, 0);
    return !errno && !*end && *v <= max;
}

int main(int argc, char **argv)
{
    enum { O_LOSS = 256, O_DUP, O_REORDER, O_GAP, O_WAIT, O_CORRUPT, O_DELAY,
           O_JITTER, O_SEED, O_ETHERTYPE, O_POOL, O_DURATION };
    static const struct option longopts[] = {
        { "loss", required_argument, NULL, O_LOSS },
        { "dup", required_argument, NULL, O_DUP },
        { "reorder", required_argument, NULL, O_REORDER },
        { "reorder-gap", required_argument, NULL, O_GAP },
        { "reorder-wait", required_argument, NULL, O_WAIT },
        { "corrupt", required_argument, NULL, O_CORRUPT },
        { "delay", required_argument, NULL, O_DELAY },
        { "jitter", required_argument, NULL, O_JITTER },
        { "seed", required_argument, NULL, O_SEED },
        { "ethertype", required_argument, NULL, O_ETHERTYPE },
        { "pool", required_argument, NULL, O_POOL },
        { "duration", required_argument, NULL, O_DURATION },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *dir_names[2] = { "a2b", "b2a" };
    struct relay_cfg cfg[2] = { { 0 }, { 0 } };
    unsigned long long gap = 3, wait_us = 2000, pool_n = 1024, seed = 0;
    unsigned long long ethertype_only = 0, duration = 0, v;
    bool seed_given = false;
    struct side side[2] = { { .fd = -1 }, { .fd = -1 } };
    struct dir_extra extra[2] = { { 0 }, { 0 } };
    static struct relay_dir dir[2];
    struct relay_pool pool;
    struct sigaction sa = { .sa_handler = on_signal };
    sigset_t block, orig;
    uint8_t *rxbuf;
    size_t slot_bytes;
    uint64_t t0;
    char err[256];
    int opt, rc = 0;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *arg = optarg;
        const char *name = opt == 'h' || opt == '?' ? "" :
                           longopts[opt - O_LOSS].name;
        unsigned dirs;
        double p;

        switch (opt) {
        case O_LOSS:
        case O_DUP:
        case O_REORDER:
        case O_CORRUPT:
            dirs = dir_prefix(&arg);
            if (!parse_rate(arg, &p)) {
                fprintf(stderr, "vrc-relay: --%s: '%s' is not a rate "
                        "between 0 and 1\n", name, arg);
                return 2;
            }
            for (int d = 0; d < 2; d++) {
                if (!(dirs & (1u << d))) {
                    continue;
                }
                *(opt == O_LOSS ? &cfg[d].loss : opt == O_DUP ? &cfg[d].dup :
                  opt == O_REORDER ? &cfg[d].reorder : &cfg[d].corrupt) = p;
            }
            break;
        case O_DELAY:
        case O_JITTER:
            dirs = dir_prefix(&arg);
            if (!parse_ulong(arg, MAX_US, &v)) {
                fprintf(stderr, "vrc-relay: --%s: '%s' is not a number of "
                        "microseconds from 0 to %u\n", name, arg, MAX_US);
                return 2;
            }
            for (int d = 0; d < 2; d++) {
                if (dirs & (1u << d)) {
                    *(opt == O_DELAY ? &cfg[d].delay_ns : &cfg[d].jitter_ns) =
                        v * 1000;
                }
            }
            break;
        case O_GAP:
        case O_WAIT:
        case O_POOL:
            if (!parse_ulong(arg, opt == O_GAP ? 1000 : opt == O_WAIT ? MAX_US
                                  : 65536, &v) || v == 0) {
                fprintf(stderr, "vrc-relay: --%s: bad value '%s' (1..%u)\n",
                        name, arg, opt == O_GAP ? 1000 : opt == O_WAIT ?
                        MAX_US : 65536);
                return 2;
            }
            *(opt == O_GAP ? &gap : opt == O_WAIT ? &wait_us : &pool_n) = v;
            break;
        case O_DURATION:
            if (!parse_ulong(arg, 86400 * 365, &duration)) {
                fprintf(stderr, "vrc-relay: --duration: '%s' is not a number "
                        "of seconds\n", arg);
                return 2;
            }
            break;
        case O_SEED:
            if (!parse_ulong(arg, UINT64_MAX, &seed)) {
                fprintf(stderr, "vrc-relay: --seed: '%s' is not a number\n",
                        arg);
                return 2;
            }
            seed_given = true;
            break;
        case O_ETHERTYPE:
            if (!parse_ulong(arg, 0xffff, &ethertype_only) ||
                ethertype_only < 0x0600) {
                fprintf(stderr, "vrc-relay: --ethertype: '%s' is not an "
                        "EtherType (0x0600..0xffff)\n", arg);
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
    if (argc - optind != 2) {
        fprintf(stderr, "vrc-relay: two interfaces are needed\n");
        usage(stderr);
        return 2;
    }
    for (int d = 0; d < 2; d++) {
        if (cfg[d].jitter_ns > cfg[d].delay_ns) {
            fprintf(stderr, "vrc-relay: %s: --jitter must not exceed --delay\n",
                    dir_names[d]);
            return 2;
        }
    }
    side[0].ifname = argv[optind];
    side[1].ifname = argv[optind + 1];
    if (!strcmp(side[0].ifname, side[1].ifname)) {
        fprintf(stderr, "vrc-relay: IF_A and IF_B must differ\n");
        return 2;
    }
    for (int i = 0; i < 2; i++) {
        if (open_side(&side[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "vrc-relay: %s\n", err);
            return 1;
        }
    }
    if (!seed_given && getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
        seed = now_ns();
    }

    /* Room for the largest frame either side may send, VLAN tag included. */
    slot_bytes = (side[0].mtu > side[1].mtu ? side[0].mtu : side[1].mtu) +
                 RELAY_ETH_HLEN + 4;
    rxbuf = malloc(slot_bytes + 4);
    if (!rxbuf || relay_pool_init(&pool, pool_n, slot_bytes) < 0) {
        fprintf(stderr, "vrc-relay: out of memory\n");
        return 1;
    }
    for (int d = 0; d < 2; d++) {
        relay_dir_init(&dir[d], &cfg[d], relay_rng_seed(seed, d), gap,
                       wait_us * 1000, &pool, emit, &side[1 - d]);
    }

    /* Signals are taken only inside ppoll(): nothing else sees EINTR. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigdelset(&orig, SIGINT);
    sigdelset(&orig, SIGTERM);

    fprintf(stderr, "vrc-relay: relaying %s <-> %s, seed %llu\n",
            side[0].ifname, side[1].ifname, seed);
    t0 = now_ns();
    while (!stop && !rc) {
        struct pollfd pfd[2] = {
            { .fd = side[0].fd, .events = POLLIN },
            { .fd = side[1].fd, .events = POLLIN },
        };
        uint64_t now = now_ns();
        uint64_t next = duration ? t0 + duration * 1000000000u : UINT64_MAX;
        struct timespec ts, *tsp = NULL;

        if (now >= next) {
            break;
        }
        for (int d = 0; d < 2; d++) {
            uint64_t t;

            relay_dir_run(&dir[d], now);
            t = relay_dir_next_due(&dir[d]);
            next = t < next ? t : next;
        }
        if (next != UINT64_MAX) {
            uint64_t wait = next > now ? next - now : 0;

            ts.tv_sec = wait / 1000000000u;
            ts.tv_nsec = wait % 1000000000u;
            tsp = &ts;
        }
        if (ppoll(pfd, 2, tsp, &orig) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "vrc-relay: poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        for (int d = 0; d < 2; d++) {
            /* Direction d is read from side d and written to the other. */
            size_t max = side[1 - d].mtu + RELAY_ETH_HLEN + 4;

            if (!(pfd[d].revents & (POLLIN | POLLERR))) {
                continue;
            }
            for (int k = 0; k < RX_BATCH; k++) {
                ssize_t n = read_frame(&side[d], rxbuf, slot_bytes + 4, max);

                if (n == 0) {
                    break;
                }
                if (n == -EMSGSIZE) {
                    extra[d].oversize++;
                    continue;
                }
                if (n < 0) {
                    extra[d].rx_errors++;
                    if (n == -ENODEV || n == -ENXIO) {
                        fprintf(stderr, "vrc-relay: %s went away\n",
                                side[d].ifname);
                        rc = 1;
                    }
                    break;
                }
                if (ethertype_only && ethertype(rxbuf, n) != ethertype_only) {
                    relay_dir_pass(&dir[d], rxbuf, n);
                } else {
                    relay_dir_input(&dir[d], rxbuf, n, now_ns());
                }
            }
        }
    }

    for (int d = 0; d < 2; d++) {
        struct tpacket_stats ps;
        socklen_t len = sizeof(ps);

        relay_dir_flush(&dir[d]);
        if (getsockopt(side[d].fd, SOL_PACKET, PACKET_STATISTICS, &ps,
                       &len) == 0) {
            extra[d].kernel_drops = ps.tp_drops;
        }
    }
    printf("{\"a\":\"%s\",\"b\":\"%s\",\"seed\":%llu,\"seconds\":%.3f,"
           "\"ethertype\":", side[0].ifname, side[1].ifname, seed,
           (now_ns() - t0) / 1e9);
    if (ethertype_only) {
        printf("\"0x%04llx\"", ethertype_only);
    } else {
        printf("null");
    }
    printf(",\"config\":{");
    for (int d = 0; d < 2; d++) {
        printf("%s\"%s\":{\"loss\":%g,\"dup\":%g,\"reorder\":%g,"
               "\"corrupt\":%g,\"delay_us\":%" PRIu64 ",\"jitter_us\":%"
               PRIu64 "}", d ? "," : "", dir_names[d], cfg[d].loss,
               cfg[d].dup, cfg[d].reorder, cfg[d].corrupt,
               cfg[d].delay_ns / 1000, cfg[d].jitter_ns / 1000);
    }
    printf("},\"reorder_gap\":%llu,\"reorder_wait_us\":%llu,\"pool\":%llu,"
           "\"pool_max_used\":%u,", gap, wait_us, pool_n, pool.max_used);
    for (int d = 0; d < 2; d++) {
        print_dir(dir_names[d], &dir[d].st, &extra[d]);
        printf(d ? "}\n" : ",");
    }
    fflush(stdout);
    for (int i = 0; i < 2; i++) {
        close(side[i].fd);
    }
    relay_pool_free(&pool);
    free(rxbuf);
    return rc;
}
