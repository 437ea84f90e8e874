/* SPDX-License-Identifier: MIT */
/* encap: raw Ethernet transport through libpcap. */
#include <errno.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "encap/frame.h"
#include "encap/transport.h"

/*
 * Two handles on the interface: one only receives (non-blocking, with a
 * selectable fd), one only sends, so a sender and a receiver in different
 * threads never share libpcap state.
 */
struct pcap_transport {
    struct encap_transport common;
    pcap_t *rx;
    pcap_t *tx;
    unsigned last_drops;
};

#define PCAP_SNAPLEN    (9000 + 14 + 64)
#define PCAP_BUFFER     (32 << 20)

static int pcap_send(struct encap_transport *tp, const uint8_t *frame,
                     size_t len)
{
    struct pcap_transport *p = (struct pcap_transport *)tp;

    return pcap_inject(p->tx, frame, len) == (int)len ? 0 : -EIO;
}

static int pcap_recv(struct encap_transport *tp, uint8_t *buf, size_t cap)
{
    struct pcap_transport *p = (struct pcap_transport *)tp;
    struct pcap_pkthdr *h;
    const u_char *data;

    for (;;) {
        int r = pcap_next_ex(p->rx, &h, &data);

        if (r == 0) {
            return 0;
        }
        if (r < 0) {
            return -EIO;
        }
        if (h->caplen != h->len || h->caplen > cap) {
            tp->stats.oversize++;
            continue;
        }
        memcpy(buf, data, h->caplen);
        return h->caplen;
    }
}

static void pcap_close_transport(struct encap_transport *tp)
{
    struct pcap_transport *p = (struct pcap_transport *)tp;

    if (p->rx) {
        pcap_close(p->rx);
    }
    if (p->tx) {
        pcap_close(p->tx);
    }
    free(p);
}

static const struct encap_transport_ops pcap_ops = {
    .name = "pcap",
    .send = pcap_send,
    .recv = pcap_recv,
    .close = pcap_close_transport,
};

static pcap_t *open_handle(const char *ifname, bool rx, char *err,
                           size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    pcap_t *h = pcap_create(ifname, ebuf);

    if (!h) {
        snprintf(err, errlen, "%s", ebuf);
        return NULL;
    }
    pcap_set_snaplen(h, PCAP_SNAPLEN);
    pcap_set_immediate_mode(h, 1);
    pcap_set_buffer_size(h, rx ? PCAP_BUFFER : 1 << 20);
    if (pcap_activate(h) < 0) {
        snprintf(err, errlen, "%s", pcap_geterr(h));
        goto fail;
    }
    if (pcap_datalink(h) != DLT_EN10MB) {
        snprintf(err, errlen, "%s is not an Ethernet interface", ifname);
        goto fail;
    }
    if (!rx) {
        return h;
    }
    if (pcap_setdirection(h, PCAP_D_IN) < 0 ||
        pcap_compile(h, &prog, "ether proto 0x88b5", 1,
                     PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "%s", pcap_geterr(h));
        goto fail;
    }
    if (pcap_setfilter(h, &prog) < 0) {
        snprintf(err, errlen, "%s", pcap_geterr(h));
        pcap_freecode(&prog);
        goto fail;
    }
    pcap_freecode(&prog);
    if (pcap_setnonblock(h, 1, ebuf) < 0) {
        snprintf(err, errlen, "%s", ebuf);
        goto fail;
    }
    return h;

fail:
    pcap_close(h);
    return NULL;
}

/* MAC and MTU of @ifname. */
static int if_info(const char *ifname, uint8_t mac[6], unsigned *mtu)
{
    struct ifreq ifr = { 0 };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int r = 0;

    if (fd < 0) {
        return -errno;
    }
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        r = -errno;
    } else {
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
            r = -errno;
        } else {
            *mtu = ifr.ifr_mtu;
        }
    }
    close(fd);
    return r;
}

int encap_transport_open_pcap(const char *ifname, struct encap_transport **out,
                              char *err, size_t errlen)
{
    struct pcap_transport *p = calloc(1, sizeof(*p));
    int r;

    if (!p) {
        return -ENOMEM;
    }
    p->common.ops = &pcap_ops;
    r = if_info(ifname, p->common.mac, &p->common.mtu);
    if (r < 0) {
        snprintf(err, errlen, "no interface %s: %s", ifname, strerror(-r));
        free(p);
        return r;
    }
    p->rx = open_handle(ifname, true, err, errlen);
    p->tx = p->rx ? open_handle(ifname, false, err, errlen) : NULL;
    if (!p->tx) {
        pcap_close_transport(&p->common);
        return -EIO;
    }
    p->common.fd = pcap_get_selectable_fd(p->rx);
    *out = &p->common;
    return 0;
}
