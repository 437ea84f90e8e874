/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qtest for -device vrc against a scripted endpoint: the test itself speaks
 * the wire protocol (encap link over a unix socket) in a thread, answers
 * config and memory requests from a small function model, records every TLP
 * it receives, and originates DMA on command.
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "libqtest.h"
#include "libqos/pci.h"
#include "hw/pci/pci_regs.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "qobject/qbool.h"
#include "qobject/qnum.h"
#include "encap/link.h"
#include "encap/split.h"
#include "encap/transport.h"

#define RP_DEVFN        QPCI_DEVFN(2, 0)
#define FN_BDF          0x0100                  /* bus 1, device 0 */
#define BAR0_ADDR       0xfe000000u
#define BAR0_SIZE       0x1000
#define BAR1_PORT       0xc000
#define TIMEOUT_MS      50
#define EP_MSI_CAP      0x50                    /* fake function's MSI */
#define EP_MSIX_CAP     0x70                    /* and MSI-X capability */
#define EP_MSIX_TABLE   0x800                   /* in BAR0, 4 entries */

/*
 * What the fake endpoint does with memory reads: answer, stay silent,
 * answer UR, or answer with the tag of an older request (stale_tag).
 */
enum ep_mode { EP_ANSWER, EP_SILENT, EP_UR, EP_STALE };

typedef struct Endpoint {
    struct encap_transport *tp;
    struct encap_link *link;
    GThread *thread;
    GMutex lock;                /* cfg, regs, mode, and the lists */
    GAsyncQueue *tlps;          /* struct encap_tlp copies received */
    GAsyncQueue *cmds;          /* struct encap_tlp to send */
    GAsyncQueue *cpls;          /* CplD payloads for our DMA reads */
    GAsyncQueue *sent;          /* one token per command sent */
    volatile gint stop;
    uint8_t cfg[256];
    uint32_t bar0_mask, bar1_mask;
    uint8_t regs[BAR0_SIZE];
    uint8_t ports[32];
    enum ep_mode mode;
    unsigned stale_tag;         /* EP_STALE */
    uint16_t bdf;               /* captured from CfgWr0 */
    /*
     * Request credit (ep_start_credit): while @hold is set, requests are
     * not released to the link, as an endpoint busy with its own DMA; the
     * most held at once, and how many of them the link said overran it.
     */
    volatile gint hold;
    unsigned held, held_max;
    /*
     * While set, the endpoint keeps sending what a busy function does
     * (ep_flood): DMA writes and reads of guest memory at @flood_addr,
     * and its INTx pin up and down.  Completions for them are dropped.
     */
    volatile gint flood;
    uint64_t flood_addr;
} Endpoint;

static const struct encap_tlp_limits lim = { .mps = 4096 };

static uint64_t now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

static int ep_send_frame(void *opaque, const uint8_t *f, size_t len)
{
    Endpoint *ep = opaque;
    return encap_transport_send(ep->tp, f, len);
}

static void ep_complete(Endpoint *ep, const struct encap_tlp *req,
                        uint8_t status, const uint8_t *data, uint32_t len)
{
    struct encap_tlp c = {
        .type = data ? ENCAP_TLP_CPLD : ENCAP_TLP_CPL,
        .len_dw = data ? (len + 3) / 4 : 0,
        .requester_id = req->requester_id, .tag = req->tag,
        .target_id = ep->bdf, .status = status, .byte_count = len ?: 4,
        .data = data,
    };
    uint64_t first;
    uint32_t span;
    uint8_t pad[4104] = { 0 };

    if (req->type == ENCAP_TLP_MRD && data) {
        encap_read_req_span(req, &first, &span);
        memcpy(pad + (first & 3), data, span);
        c.byte_count = span;
        c.lower_addr = first & 0x7f;
        c.len_dw = req->len_dw;
        c.data = pad;
    }
    g_assert_cmpint(encap_link_queue_tlp(ep->link, &c, &lim, now_ns()), ==, 0);
    encap_link_flush(ep->link, now_ns());
}

/* Config space of the fake function: BAR sizing and a few writable fields. */
static void ep_cfg(Endpoint *ep, struct encap_tlp *t)
{
    uint32_t v;

    static const uint8_t none[4];

    if (t->type == ENCAP_TLP_CFGRD0) {
        ep_complete(ep, t, ENCAP_CPL_SC,
                    t->reg < sizeof(ep->cfg) ? ep->cfg + t->reg : none, 4);
        return;
    }
    if (t->reg >= sizeof(ep->cfg)) {
        ep_complete(ep, t, ENCAP_CPL_SC, NULL, 0);
        return;
    }
    ep->bdf = t->target_id;
    v = ldl_le_p(ep->cfg + t->reg);
    for (int i = 0; i < 4; i++) {
        if (t->first_be & (1 << i)) {
            v = (v & ~(0xffu << (8 * i))) | (t->data[i] << (8 * i));
        }
    }
    if (t->reg == PCI_BASE_ADDRESS_0) {
        v = v & ep->bar0_mask;
    } else if (t->reg == PCI_BASE_ADDRESS_1) {
        v = (v & ep->bar1_mask) | PCI_BASE_ADDRESS_SPACE_IO;
    } else if (t->reg == EP_MSI_CAP || t->reg == EP_MSIX_CAP) {
        /* Capability ID and next pointer are read-only. */
        v = (v & 0xffff0000) | (ldl_le_p(ep->cfg + t->reg) & 0xffff);
    } else if (t->reg != PCI_COMMAND && t->reg != PCI_INTERRUPT_LINE &&
               t->reg < EP_MSI_CAP) {
        v = ldl_le_p(ep->cfg + t->reg);
    }
    stl_le_p(ep->cfg + t->reg, v);
    ep_complete(ep, t, ENCAP_CPL_SC, NULL, 0);
}

static void ep_deliver(void *opaque, const uint8_t *bytes, size_t len)
{
    Endpoint *ep = opaque;
    struct encap_tlp t, *copy;
    uint64_t first;
    uint32_t span;

    g_assert_cmpint(encap_tlp_decode(bytes, len, &lim, &t), ==, 0);
    copy = g_memdup2(&t, sizeof(t));
    copy->data = t.data ? g_memdup2(t.data, t.len_dw * 4) : NULL;

    g_mutex_lock(&ep->lock);
    switch (t.type) {
    case ENCAP_TLP_CFGRD0:
    case ENCAP_TLP_CFGWR0:
        ep_cfg(ep, &t);
        break;
    case ENCAP_TLP_MRD:
        if (ep->mode == EP_SILENT) {
            break;
        }
        if (ep->mode == EP_UR) {
            ep_complete(ep, &t, ENCAP_CPL_UR, NULL, 0);
            break;
        }
        if (ep->mode == EP_STALE) {
            static const uint8_t stale[8] = { 0xdd, 0xcc, 0xbb, 0xaa,
                                              0xdd, 0xcc, 0xbb, 0xaa };
            struct encap_tlp old = t;

            old.tag = ep->stale_tag;
            encap_read_req_span(&t, &first, &span);
            ep_complete(ep, &old, ENCAP_CPL_SC, stale, MIN(span, 8));
            break;
        }
        encap_read_req_span(&t, &first, &span);
        ep_complete(ep, &t, ENCAP_CPL_SC, ep->regs + (first - BAR0_ADDR), span);
        break;
    case ENCAP_TLP_MWR:
        encap_read_req_span(&t, &first, &span);
        memcpy(ep->regs + (first - BAR0_ADDR), t.data + (first & 3), span);
        break;
    case ENCAP_TLP_IORD:
        ep_complete(ep, &t, ENCAP_CPL_SC, ep->ports + (t.addr - BAR1_PORT), 4);
        break;
    case ENCAP_TLP_IOWR:
        for (int i = 0; i < 4; i++) {
            if (t.first_be & (1 << i)) {
                ep->ports[t.addr - BAR1_PORT + i] = t.data[i];
            }
        }
        ep_complete(ep, &t, ENCAP_CPL_SC, NULL, 0);
        break;
    case ENCAP_TLP_CPLD:
    case ENCAP_TLP_CPL: {
        struct encap_tlp *c;

        if (g_atomic_int_get(&ep->flood)) {
            break;
        }
        c = g_memdup2(&t, sizeof(t));
        c->data = t.data ? g_memdup2(t.data, t.len_dw * 4) : NULL;
        g_async_queue_push(ep->cpls, c);
        break;
    }
    default:
        break;
    }
    if (t.type != ENCAP_TLP_CPL && t.type != ENCAP_TLP_CPLD) {
        if (g_atomic_int_get(&ep->hold) || ep->held) {
            ep->held++;
            ep->held_max = MAX(ep->held, ep->held_max);
        } else {
            encap_link_requests_done(ep->link, 1, now_ns());
        }
    }
    g_mutex_unlock(&ep->lock);
    g_async_queue_push(ep->tlps, copy);
}

static const struct encap_link_ops ep_ops = {
    .send_frame = ep_send_frame,
    .deliver_tlp = ep_deliver,
};

/*
 * One round of a busy function: a DMA write, a DMA read, the pin up and
 * down.  What the window or the session does not take is not sent.
 */
static void ep_flood(Endpoint *ep)
{
    static uint8_t data[64];
    struct encap_tlp t[] = {
        { .type = ENCAP_TLP_MWR, .len_dw = 16, .first_be = 0xf,
          .last_be = 0xf, .addr = ep->flood_addr, .data = data },
        { .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
          .msg_code = ENCAP_MSG_ASSERT_INTA },
        { .type = ENCAP_TLP_MRD, .len_dw = 16, .first_be = 0xf,
          .last_be = 0xf, .addr = ep->flood_addr, .tag = 1 },
        { .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
          .msg_code = ENCAP_MSG_DEASSERT_INTA },
    };

    memset(data, 0xf1, sizeof(data));
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        t[i].requester_id = ep->bdf;
        encap_link_queue_tlp(ep->link, &t[i], &lim, now_ns());
    }
    encap_link_flush(ep->link, now_ns());
}

static gpointer ep_thread(gpointer opaque)
{
    Endpoint *ep = opaque;
    uint8_t buf[9100];

    while (!g_atomic_int_get(&ep->stop)) {
        struct pollfd p = { .fd = encap_transport_fd(ep->tp), .events = POLLIN };
        struct encap_tlp *cmd;
        int n;

        poll(&p, 1, 1);
        while ((n = encap_transport_recv(ep->tp, buf, sizeof(buf))) > 0) {
            encap_link_input(ep->link, buf, n, now_ns());
        }
        while ((cmd = g_async_queue_try_pop(ep->cmds))) {
            cmd->requester_id = ep->bdf;
            g_assert_cmpint(encap_link_queue_tlp(ep->link, cmd, &lim, now_ns()), ==, 0);
            encap_link_flush(ep->link, now_ns());
            g_free((void *)cmd->data);
            g_free(cmd);
            g_async_queue_push(ep->sent, GINT_TO_POINTER(1));
        }
        if (g_atomic_int_get(&ep->flood)) {
            ep_flood(ep);
        }
        g_mutex_lock(&ep->lock);
        if (ep->held && !g_atomic_int_get(&ep->hold)) {
            encap_link_requests_done(ep->link, ep->held, now_ns());
            ep->held = 0;
        }
        g_mutex_unlock(&ep->lock);
        encap_link_poll(ep->link, now_ns());
    }
    return NULL;
}

/* The scripted endpoint, giving the vrc @credit requests (0: no limit). */
static Endpoint *ep_start_credit(const char *path, unsigned credit)
{
    Endpoint *ep = g_new0(Endpoint, 1);
    struct encap_link_config c = {
        .initiator = false, .max_frame = 1514, .mps = 4096, .mrrs = 4096,
        .rx_request_credit = credit,
    };
    char err[128];

    g_assert_cmpint(encap_transport_open_unix(path, true, &ep->tp, err,
                                              sizeof(err)), ==, 0);
    encap_transport_mac(ep->tp, c.own_mac);
    ep->link = encap_link_new(&c, &ep_ops, ep);
    g_mutex_init(&ep->lock);
    ep->tlps = g_async_queue_new();
    ep->cmds = g_async_queue_new();
    ep->cpls = g_async_queue_new();
    ep->sent = g_async_queue_new();
    stw_le_p(ep->cfg + PCI_VENDOR_ID, 0x1234);
    stw_le_p(ep->cfg + PCI_DEVICE_ID, 0x5678);
    stl_le_p(ep->cfg + PCI_CLASS_REVISION, 0xff000001);
    ep->cfg[PCI_INTERRUPT_PIN] = 1;
    ep->bar0_mask = ~(BAR0_SIZE - 1u);
    ep->bar1_mask = ~(uint32_t)(sizeof(ep->ports) - 1);
    stl_le_p(ep->cfg + PCI_BASE_ADDRESS_1, PCI_BASE_ADDRESS_SPACE_IO);
    stw_le_p(ep->cfg + PCI_STATUS, PCI_STATUS_CAP_LIST);
    ep->cfg[PCI_CAPABILITY_LIST] = EP_MSI_CAP;
    ep->cfg[EP_MSI_CAP] = PCI_CAP_ID_MSI;
    ep->cfg[EP_MSI_CAP + 1] = EP_MSIX_CAP;
    stw_le_p(ep->cfg + EP_MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT);
    ep->cfg[EP_MSIX_CAP] = PCI_CAP_ID_MSIX;
    stw_le_p(ep->cfg + EP_MSIX_CAP + PCI_MSIX_FLAGS, 3);
    stl_le_p(ep->cfg + EP_MSIX_CAP + PCI_MSIX_TABLE, EP_MSIX_TABLE);
    stl_le_p(ep->cfg + EP_MSIX_CAP + PCI_MSIX_PBA, EP_MSIX_TABLE + 0x100);
    for (int i = 0; i < BAR0_SIZE; i++) {
        ep->regs[i] = i * 3 + 1;
    }
    ep->thread = g_thread_new("fake-endpoint", ep_thread, ep);
    return ep;
}

static void ep_stop(Endpoint *ep)
{
    struct encap_tlp *t;

    g_atomic_int_set(&ep->stop, 1);
    g_thread_join(ep->thread);
    encap_link_free(ep->link);
    encap_transport_close(ep->tp);
    while ((t = g_async_queue_try_pop(ep->tlps))) {
        g_free((void *)t->data);
        g_free(t);
    }
    g_async_queue_unref(ep->tlps);
    g_async_queue_unref(ep->cmds);
    g_async_queue_unref(ep->cpls);
    g_async_queue_unref(ep->sent);
    g_free(ep);
}

/* The next TLP of @type the endpoint received (others are skipped). */
static struct encap_tlp *ep_expect(Endpoint *ep, enum encap_tlp_type type)
{
    for (;;) {
        struct encap_tlp *t = g_async_queue_timeout_pop(ep->tlps, 5 * G_USEC_PER_SEC);
        g_assert_nonnull(t);
        if (t->type == type) {
            return t;
        }
        g_free((void *)t->data);
        g_free(t);
    }
}

static void ep_drain(Endpoint *ep)
{
    struct encap_tlp *t;

    while ((t = g_async_queue_try_pop(ep->tlps))) {
        g_free((void *)t->data);
        g_free(t);
    }
}

/* Config access through CF8/CFC, any bus. */
static uint32_t cfg_read(QTestState *qts, int bus, int devfn, int reg, int len)
{
    qtest_outl(qts, 0xcf8, 0x80000000 | bus << 16 | devfn << 8 | (reg & ~3));
    switch (len) {
    case 1: return qtest_inb(qts, 0xcfc + (reg & 3));
    case 2: return qtest_inw(qts, 0xcfc + (reg & 3));
    default: return qtest_inl(qts, 0xcfc);
    }
}

static void cfg_write(QTestState *qts, int bus, int devfn, int reg, int len,
                      uint32_t v)
{
    qtest_outl(qts, 0xcf8, 0x80000000 | bus << 16 | devfn << 8 | (reg & ~3));
    switch (len) {
    case 1: qtest_outb(qts, 0xcfc + (reg & 3), v); break;
    case 2: qtest_outw(qts, 0xcfc + (reg & 3), v); break;
    default: qtest_outl(qts, 0xcfc, v); break;
    }
}

typedef struct Fixture {
    QTestState *qts;
    Endpoint *ep;
    char *dir, *path;
} Fixture;

/* Start the endpoint and QEMU, and do what firmware would: bus numbers,
 * bridge windows, the function's BARs and command register. */
static void setup_credit(Fixture *f, unsigned credit)
{
    f->dir = g_dir_make_tmp("vrc-qtest-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "ep.sock", NULL);
    f->ep = ep_start_credit(f->path, credit);
    f->qts = qtest_initf("-machine q35 -nodefaults "
                         "-device vrc,id=vrc0,socket=%s,chassis=1,addr=02.0,"
                         "completion-timeout=%d", f->path, TIMEOUT_MS);
    cfg_write(f->qts, 0, RP_DEVFN, PCI_PRIMARY_BUS, 4, 0x00010100);
    cfg_write(f->qts, 0, RP_DEVFN, PCI_MEMORY_BASE, 4, 0xfe00fe00);
    cfg_write(f->qts, 0, RP_DEVFN, PCI_IO_BASE, 2, 0xc0c0);
    cfg_write(f->qts, 0, RP_DEVFN, PCI_COMMAND, 2, 0x7);
    cfg_write(f->qts, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(f->qts, 1, 0, PCI_BASE_ADDRESS_1, 4, BAR1_PORT);
    cfg_write(f->qts, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    ep_drain(f->ep);
}

static void setup(Fixture *f)
{
    setup_credit(f, 0);
}

static void teardown(Fixture *f)
{
    qtest_quit(f->qts);
    ep_stop(f->ep);
    unlink(f->path);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static void test_config(void)
{
    Fixture f;
    struct encap_tlp *t;

    setup(&f);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_VENDOR_ID, 2), ==, 0x1234);
    t = ep_expect(f.ep, ENCAP_TLP_CFGRD0);
    g_assert_cmphex(t->target_id, ==, FN_BDF);
    g_assert_cmphex(t->reg, ==, 0);
    g_assert_cmphex(t->first_be, ==, 0x3);
    g_free(t);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_DEVICE_ID, 2), ==, 0x5678);
    t = ep_expect(f.ep, ENCAP_TLP_CFGRD0);
    g_assert_cmphex(t->first_be, ==, 0xc);
    g_free(t);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_CLASS_PROG, 1), ==, 0x00);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_CLASS_REVISION, 4), ==, 0xff000001);
    /* A byte write to the interrupt line: CfgWr0 with one byte enabled. */
    cfg_write(f.qts, 1, 0, PCI_INTERRUPT_LINE, 1, 0x0b);
    t = ep_expect(f.ep, ENCAP_TLP_CFGWR0);
    g_assert_cmphex(t->reg, ==, 0x3c);
    g_assert_cmphex(t->first_be, ==, 0x1);
    g_assert_cmphex(t->data[0], ==, 0x0b);
    g_free((void *)t->data);
    g_free(t);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
    /* The function took its bus number from the Type 0 writes. */
    g_assert_cmphex(f.ep->bdf, ==, FN_BDF);
    teardown(&f);
}

static void test_mmio_widths(void)
{
    Fixture f;
    struct encap_tlp *t;
    static const struct { unsigned off, size; uint8_t fbe, lbe, len; } acc[] = {
        { 0x10, 1, 0x1, 0, 1 }, { 0x13, 1, 0x8, 0, 1 }, { 0x12, 2, 0xc, 0, 1 },
        { 0x20, 4, 0xf, 0, 1 }, { 0x40, 8, 0xf, 0xf, 2 },
    };

    setup(&f);
    for (size_t i = 0; i < G_N_ELEMENTS(acc); i++) {
        uint64_t a = BAR0_ADDR + acc[i].off, want = 0, got;

        for (unsigned b = 0; b < acc[i].size; b++) {
            want |= (uint64_t)f.ep->regs[acc[i].off + b] << (8 * b);
        }
        switch (acc[i].size) {
        case 1: got = qtest_readb(f.qts, a); break;
        case 2: got = qtest_readw(f.qts, a); break;
        case 4: got = qtest_readl(f.qts, a); break;
        default: got = qtest_readq(f.qts, a); break;
        }
        g_assert_cmphex(got, ==, want);
        t = ep_expect(f.ep, ENCAP_TLP_MRD);
        g_assert_cmphex(t->addr, ==, a & ~3ull);
        g_assert_cmpuint(t->len_dw, ==, acc[i].len);
        g_assert_cmphex(t->first_be, ==, acc[i].fbe);
        g_assert_cmphex(t->last_be, ==, acc[i].lbe);
        g_free(t);

        /* The same access as a posted write. */
        switch (acc[i].size) {
        case 1: qtest_writeb(f.qts, a, 0xa5); break;
        case 2: qtest_writew(f.qts, a, 0xa5b6); break;
        case 4: qtest_writel(f.qts, a, 0xa5b6c7d8); break;
        default: qtest_writeq(f.qts, a, 0x0123456789abcdefull); break;
        }
        t = ep_expect(f.ep, ENCAP_TLP_MWR);
        g_assert_cmphex(t->addr, ==, a & ~3ull);
        g_assert_cmphex(t->first_be, ==, acc[i].fbe);
        g_assert_cmphex(t->last_be, ==, acc[i].lbe);
        g_free((void *)t->data);
        g_free(t);
    }
    /* A read after a write sees it: writes are not overtaken. */
    qtest_writel(f.qts, BAR0_ADDR + 0x100, 0xdeadbeef);
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x100), ==, 0xdeadbeef);
    teardown(&f);
}

static void test_pio(void)
{
    Fixture f;
    struct encap_tlp *t;

    setup(&f);
    qtest_outl(f.qts, BAR1_PORT + 4, 0x11223344);
    t = ep_expect(f.ep, ENCAP_TLP_IOWR);
    g_assert_cmphex(t->addr, ==, BAR1_PORT + 4);
    g_assert_cmphex(t->first_be, ==, 0xf);
    g_free((void *)t->data);
    g_free(t);
    g_assert_cmphex(qtest_inl(f.qts, BAR1_PORT + 4), ==, 0x11223344);
    g_assert_cmphex(qtest_inw(f.qts, BAR1_PORT + 6), ==, 0x1122);
    g_assert_cmphex(qtest_inb(f.qts, BAR1_PORT + 5), ==, 0x33);
    t = ep_expect(f.ep, ENCAP_TLP_IORD);
    g_free(t);
    t = ep_expect(f.ep, ENCAP_TLP_IORD);
    g_assert_cmphex(t->first_be, ==, 0xc);
    g_free(t);
    t = ep_expect(f.ep, ENCAP_TLP_IORD);
    g_assert_cmphex(t->first_be, ==, 0x2);
    g_free(t);
    teardown(&f);
}

static int64_t vrc_counter(QTestState *qts, const char *name)
{
    QDict *r = qtest_qmp(qts, "{ 'execute': 'query-vrc' }");
    QList *l = qdict_get_qlist(r, "return");
    QDict *info = qobject_to(QDict, qlist_peek(l));
    int64_t v = qdict_get_int(info, name);

    qobject_unref(r);
    return v;
}

static bool vrc_link_up(QTestState *qts)
{
    QDict *r = qtest_qmp(qts, "{ 'execute': 'query-vrc' }");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(r, "return")));
    bool up = qdict_get_bool(info, "link-up");

    qobject_unref(r);
    return up;
}

static void test_timeout_and_ur(void)
{
    Fixture f;
    int64_t t0, dt;

    setup(&f);
    g_mutex_lock(&f.ep->lock);
    f.ep->mode = EP_SILENT;
    g_mutex_unlock(&f.ep->lock);
    t0 = g_get_monotonic_time();
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR), ==, 0xffffffff);
    dt = (g_get_monotonic_time() - t0) / 1000;
    g_assert_cmpint(dt, >=, TIMEOUT_MS);
    g_assert_cmpint(vrc_counter(f.qts, "timeouts"), ==, 1);

    g_mutex_lock(&f.ep->lock);
    f.ep->mode = EP_UR;
    g_mutex_unlock(&f.ep->lock);
    g_assert_cmphex(qtest_readw(f.qts, BAR0_ADDR + 2), ==, 0xffff);
    g_assert_cmpint(vrc_counter(f.qts, "cpl-errors"), ==, 1);

    /* The VM goes on, and so does the function once it answers again. */
    g_mutex_lock(&f.ep->lock);
    f.ep->mode = EP_ANSWER;
    g_mutex_unlock(&f.ep->lock);
    g_assert_cmphex(qtest_readb(f.qts, BAR0_ADDR), ==, f.ep->regs[0]);
    teardown(&f);
}

/*
 * The endpoint originates a TLP.  Returns once it is on the wire and the
 * guest has read a register of the function: that read's completion comes
 * back behind the TLP and cannot pass it, so its effect is visible now.
 */
static void ep_originate(Fixture *f, const struct encap_tlp *t)
{
    struct encap_tlp *c = g_memdup2(t, sizeof(*t));

    c->data = t->data ? g_memdup2(t->data, t->len_dw * 4) : NULL;
    g_async_queue_push(f->ep->cmds, c);
    g_assert_nonnull(g_async_queue_timeout_pop(f->ep->sent, 5 * G_USEC_PER_SEC));
    qtest_readl(f->qts, BAR0_ADDR);
}

/* The endpoint reads [@addr, @addr + @len) of guest memory, as many
 * requests as it takes (MRRS 4 KiB), each answered before the next. */
static void ep_read_range(Fixture *f, uint64_t addr, uint32_t len,
                          uint8_t *buf)
{
    struct encap_req_piece pc[4];
    int n = encap_split_request(addr, len, 4096, pc, ARRAY_SIZE(pc));

    g_assert_cmpint(n, >, 0);
    for (int i = 0; i < n; i++) {
        struct encap_tlp r = {
            .type = ENCAP_TLP_MRD, .addr = pc[i].addr, .len_dw = pc[i].len_dw,
            .first_be = pc[i].first_be, .last_be = pc[i].last_be,
            .tag = 8 + i,
        };
        struct encap_reasm ra;
        int done = 0;

        encap_reasm_init(&ra, addr + pc[i].offset, pc[i].bytes,
                         buf + pc[i].offset);
        ep_originate(f, &r);
        while (!done) {
            struct encap_tlp *cpl = g_async_queue_timeout_pop(f->ep->cpls,
                                                    5 * G_USEC_PER_SEC);

            g_assert_nonnull(cpl);
            g_assert_cmpuint(cpl->tag, ==, 8 + i);
            g_assert_cmpuint(cpl->status, ==, ENCAP_CPL_SC);
            done = encap_reasm_feed(&ra, cpl);
            g_assert_cmpint(done, >=, 0);
            g_free((void *)cpl->data);
            g_free(cpl);
        }
    }
}

static void test_dma(void)
{
    Fixture f;
    uint8_t data[256], back[256];
    struct encap_tlp w = {
        .type = ENCAP_TLP_MWR, .len_dw = 64, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x100000, .data = data,
    }, r = {
        .type = ENCAP_TLP_MRD, .len_dw = 64, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x200000, .tag = 7,
    };
    struct encap_tlp *cpl;

    setup(&f);
    for (int i = 0; i < 256; i++) {
        data[i] = i ^ 0x5a;
    }
    /* Bus Master Enable clear: the write is refused and counted. */
    ep_originate(&f, &w);
    g_assert_cmpint(vrc_counter(f.qts, "dma-refused"), ==, 1);
    qtest_memread(f.qts, 0x100000, back, sizeof(back));
    g_assert_cmpint(memcmp(back, data, sizeof(back)), !=, 0);

    /* With BME set, it lands in guest memory. */
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    ep_originate(&f, &w);
    qtest_memread(f.qts, 0x100000, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));

    /* A DMA read of guest memory comes back as CplDs with the bytes. */
    qtest_memwrite(f.qts, 0x200000, data, sizeof(data));
    ep_originate(&f, &r);
    {
        struct encap_reasm ra;
        int done = 0;
        encap_reasm_init(&ra, 0x200000, 256, back);
        memset(back, 0, sizeof(back));
        while (!done) {
            cpl = g_async_queue_timeout_pop(f.ep->cpls, 5 * G_USEC_PER_SEC);
            g_assert_nonnull(cpl);
            g_assert_cmpuint(cpl->tag, ==, 7);
            g_assert_cmphex(cpl->target_id, ==, FN_BDF);
            done = encap_reasm_feed(&ra, cpl);
            g_assert_cmpint(done, >=, 0);
            g_free((void *)cpl->data);
            g_free(cpl);
        }
    }
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));

    /*
     * Reads of every shape come back exact: whole DWs at a 4 KiB page
     * (sent from the copy as it is), an address 8 bytes past a 16-byte
     * boundary, starts inside a DW, and lengths that are not a multiple
     * of the 64, 16, 8 or 4 bytes the copy moves at a time.
     */
    {
        static const struct { uint32_t off, len; } shape[] = {
            { 0, 4096 }, { 8, 4088 }, { 1, 4095 }, { 3, 201 }, { 2, 66 },
            { 24, 72 }, { 40, 1 }, { 5, 3 }, { 4092, 4 }, { 7, 137 },
        };
        g_autofree uint8_t *big = g_malloc(8192);
        g_autofree uint8_t *got = g_malloc(8192);

        for (int i = 0; i < 8192; i++) {
            big[i] = (i * 7 + (i >> 8)) ^ 0xc3;
        }
        qtest_memwrite(f.qts, 0x300000, big, 8192);
        for (unsigned k = 0; k < ARRAY_SIZE(shape); k++) {
            uint64_t at = 0x300000 + shape[k].off;

            memset(got, 0, shape[k].len);
            ep_read_range(&f, at, shape[k].len, got);
            g_assert_cmpmem(got, shape[k].len, big + shape[k].off,
                            shape[k].len);
        }
    }
    teardown(&f);
}

/*
 * The endpoint's DMA reaching its own function's BAR (peer to peer, back
 * through the root complex) is refused and counted, every time, not only
 * while a vCPU waits on the function: a read gets Unsupported Request, a
 * write is dropped and never travels back to the endpoint.  The vCPU's own
 * accesses to the same register are unaffected.
 */
static void test_dma_loop(void)
{
    Fixture f;
    uint8_t data[4] = { 0xef, 0xbe, 0xad, 0xde };
    struct encap_tlp w = {
        .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf,
        .addr = BAR0_ADDR + 0x20, .data = data,
    }, r = {
        .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf,
        .addr = BAR0_ADDR + 0x20, .tag = 9,
    };
    struct encap_tlp *cpl;

    setup(&f);
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    qtest_writel(f.qts, BAR0_ADDR + 0x20, 0x12345678);

    ep_originate(&f, &w);
    g_assert_cmpint(vrc_counter(f.qts, "dma-loops"), ==, 1);
    g_mutex_lock(&f.ep->lock);
    g_assert_cmphex(ldl_le_p(f.ep->regs + 0x20), ==, 0x12345678);
    g_mutex_unlock(&f.ep->lock);

    ep_originate(&f, &r);
    cpl = g_async_queue_timeout_pop(f.ep->cpls, 5 * G_USEC_PER_SEC);
    g_assert_nonnull(cpl);
    g_assert_cmpuint(cpl->tag, ==, 9);
    g_assert_cmpuint(cpl->status, ==, ENCAP_CPL_UR);
    g_free((void *)cpl->data);
    g_free(cpl);
    g_assert_cmpint(vrc_counter(f.qts, "dma-loops"), ==, 2);

    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x20), ==, 0x12345678);
    teardown(&f);
}

static gpointer release_later(gpointer opaque)
{
    Endpoint *ep = opaque;

    g_usleep(300 * 1000);
    g_atomic_int_set(&ep->hold, 0);
    return NULL;
}

/*
 * Request credit (docs/protocol.md 4.1): the endpoint takes at most 4 of
 * the VM's requests it has not yet run.  While it runs none (busy with its
 * own DMA, say), the guest's fifth MMIO write waits in the vrc instead of
 * piling up at the endpoint; once the endpoint runs them, all 16 writes
 * arrive, in order, and a read sees the last.
 */
static void test_request_credit(void)
{
    Fixture f;
    GThread *later;
    int64_t t0;

    setup_credit(&f, 4);
    g_atomic_int_set(&f.ep->hold, 1);
    later = g_thread_new("release", release_later, f.ep);
    t0 = g_get_monotonic_time();
    for (uint32_t i = 1; i <= 16; i++) {
        qtest_writel(f.qts, BAR0_ADDR + 0x20, i);
    }
    /* The writes could not all go before the endpoint let them. */
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 250 * 1000);
    g_thread_join(later);
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x20), ==, 16);
    g_mutex_lock(&f.ep->lock);
    g_assert_cmpuint(f.ep->held_max, ==, 4);
    g_mutex_unlock(&f.ep->lock);
    g_assert_cmpint(vrc_counter(f.qts, "credit-waits"), >, 0);
    g_assert_cmpint(vrc_counter(f.qts, "link-down-fails"), ==, 0);
    g_assert_cmpint(vrc_counter(f.qts, "timeouts"), ==, 0);
    teardown(&f);
}

/*
 * A completion that comes after its read timed out must not complete a
 * newer read that was given the same tag: a timed out tag rests before it
 * is handed out again.  The endpoint here answers the read that would
 * reuse the tag (1024 tags later) with the old tag: the read must time out
 * (all-ones) and the completion count as stray, not deliver its bytes.
 */
static void test_stale_completion(void)
{
    Fixture f;
    struct encap_tlp *t;
    unsigned tag;
    int64_t stray;

    setup(&f);
    f.ep->mode = EP_SILENT;
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x10), ==, UINT32_MAX);
    t = ep_expect(f.ep, ENCAP_TLP_MRD);
    tag = t->tag;
    g_free(t);
    ep_drain(f.ep);
    f.ep->mode = EP_ANSWER;
    for (int i = 0; i < 1023; i++) {
        qtest_readl(f.qts, BAR0_ADDR + 0x10);
    }
    ep_drain(f.ep);
    g_mutex_lock(&f.ep->lock);
    f.ep->stale_tag = tag;
    f.ep->mode = EP_STALE;
    g_mutex_unlock(&f.ep->lock);
    stray = vrc_counter(f.qts, "stray-cpls");
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x10), ==, UINT32_MAX);
    t = ep_expect(f.ep, ENCAP_TLP_MRD);
    g_assert_cmpuint(t->tag, !=, tag);
    g_free(t);
    g_assert_cmpint(vrc_counter(f.qts, "stray-cpls"), ==, stray + 1);
    teardown(&f);
}

/*
 * An INTx the endpoint asserted is let go of when the session ends:
 * nobody would send the Deassert_INTx message any more.
 */
static void test_intx_link_down(void)
{
    Fixture f;
    struct encap_tlp m = {
        .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
        .msg_code = ENCAP_MSG_ASSERT_INTA,
    };
    int pin = -1;
    gint64 deadline;

    setup(&f);
    qtest_irq_intercept_in(f.qts, "ioapic");
    ep_originate(&f, &m);
    for (int i = 16; i < 24; i++) {
        if (qtest_get_irq(f.qts, i)) {
            pin = i;
        }
    }
    g_assert_cmpint(pin, >=, 16);
    ep_stop(f.ep);                      /* the session ends */
    f.ep = NULL;
    /* The receive thread lets go of the pin once it sees the link down:
     * wait for it, bounded. */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (qtest_get_irq(f.qts, pin) && g_get_monotonic_time() < deadline) {
        qtest_readl(f.qts, BAR0_ADDR);  /* a round through QEMU */
        g_usleep(1000);
    }
    g_assert_false(qtest_get_irq(f.qts, pin));
    qtest_quit(f.qts);
    unlink(f.path);
    rmdir(f.dir);
    g_free(f.path);
    g_free(f.dir);
}

/* INTx messages drive the function's interrupt pin into the IOAPIC. */
static void test_intx(void)
{
    Fixture f;
    struct encap_tlp m = {
        .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
        .msg_code = ENCAP_MSG_ASSERT_INTA,
    };
    int pin = -1;

    setup(&f);
    qtest_irq_intercept_in(f.qts, "ioapic");
    ep_originate(&f, &m);
    for (int i = 16; i < 24; i++) {
        if (qtest_get_irq(f.qts, i)) {
            g_assert_cmpint(pin, ==, -1);      /* exactly one input */
            pin = i;
        }
    }
    g_assert_cmpint(pin, >=, 16);
    m.msg_code = ENCAP_MSG_DEASSERT_INTA;
    ep_originate(&f, &m);
    g_assert_false(qtest_get_irq(f.qts, pin));
    g_test_message("INTA of 01:00.0 is IOAPIC input %d", pin);
    teardown(&f);
}

/* The vectors pending in the IRR of the (only) local APIC, as a string. */
static char *lapic_irr(QTestState *qts)
{
    g_autofree char *out = qtest_hmp(qts, "info lapic");
    char *irr = strstr(out, "IRR\t");

    g_assert_nonnull(irr);
    return g_strstrip(g_strndup(irr + 4, strcspn(irr + 4, "\n")));
}

/* The function signals: a one-DW memory write of @data to @addr. */
static void ep_send_msg(Fixture *f, uint64_t addr, uint32_t data)
{
    uint8_t d[4];
    struct encap_tlp w = {
        .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf, .addr = addr,
        .data = d,
    };

    stl_le_p(d, data);
    ep_originate(f, &w);
}

/*
 * MSI and MSI-X: the guest programs the function's capability and its
 * MSI-X table (config writes and BAR writes that reach the endpoint), the
 * endpoint signals with a memory write to what was programmed, and the
 * vector lands in the local APIC.
 */
static void test_msi(void)
{
    Fixture f;
    uint64_t addr;
    uint32_t data;
    g_autofree char *irr0 = NULL, *irr1 = NULL, *irr2 = NULL;

    setup(&f);
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    irr0 = lapic_irr(f.qts);
    g_assert_cmpstr(irr0, ==, "(none)");

    /* MSI: what a driver writes to the capability, through to the endpoint. */
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_CAPABILITY_LIST, 1), ==, EP_MSI_CAP);
    cfg_write(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
    cfg_write(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_ADDRESS_HI, 4, 0);
    cfg_write(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_DATA_64, 2, 0x0045);
    cfg_write(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_FLAGS, 2,
              PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_FLAGS, 2), ==,
                    PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
    g_mutex_lock(&f.ep->lock);
    addr = ldq_le_p(f.ep->cfg + EP_MSI_CAP + PCI_MSI_ADDRESS_LO);
    data = lduw_le_p(f.ep->cfg + EP_MSI_CAP + PCI_MSI_DATA_64);
    g_mutex_unlock(&f.ep->lock);
    g_assert_cmphex(addr, ==, 0xfee00000);
    ep_send_msg(&f, addr, data);
    irr1 = lapic_irr(f.qts);
    g_assert_cmpstr(irr1, ==, "69");

    /* MSI-X: the table lives in the remote BAR. */
    cfg_write(f.qts, 1, 0, EP_MSI_CAP + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_64BIT);
    cfg_write(f.qts, 1, 0, EP_MSIX_CAP + PCI_MSIX_FLAGS, 2,
              PCI_MSIX_FLAGS_ENABLE);
    qtest_writel(f.qts, BAR0_ADDR + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_LOWER_ADDR,
                 0xfee00000);
    qtest_writel(f.qts, BAR0_ADDR + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    qtest_writel(f.qts, BAR0_ADDR + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_DATA, 0x0052);
    qtest_writel(f.qts, BAR0_ADDR + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    /* A read of the entry back flushes the posted writes to the endpoint. */
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + EP_MSIX_TABLE + 16 +
                                PCI_MSIX_ENTRY_DATA), ==, 0x52);
    g_mutex_lock(&f.ep->lock);
    addr = ldq_le_p(f.ep->regs + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_LOWER_ADDR);
    data = ldl_le_p(f.ep->regs + EP_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_DATA);
    g_mutex_unlock(&f.ep->lock);
    ep_send_msg(&f, addr, data);
    irr2 = lapic_irr(f.qts);
    g_assert_cmpstr(irr2, ==, "69 82");
    teardown(&f);
}

/* The endpoint goes away while the guest reads: all-ones, and the VM runs on. */
static char *slot_str(QTestState *qts, const char *name);
static void wait_slot_state(QTestState *qts, const char *want);

static void test_endpoint_dies(void)
{
    Fixture f;
    int64_t t0, ms;

    setup(&f);
    g_assert_cmphex(qtest_readb(f.qts, BAR0_ADDR), ==, f.ep->regs[0]);
    ep_stop(f.ep);
    f.ep = NULL;
    t0 = g_get_monotonic_time();
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR), ==, 0xffffffff);
    ms = (g_get_monotonic_time() - t0) / 1000;
    g_test_message("read with the endpoint gone took %" PRId64 " ms", ms);
    g_assert_cmpint(ms, <, 20 * TIMEOUT_MS);     /* a hang, not a timing */
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_VENDOR_ID, 2), ==, 0xffff);
    /*
     * The VM still answers its monitor.  The read failed on the link, or
     * (if the session's end was seen first) found the slot empty: all-ones
     * either way.  The function was surprise-removed; the slot waits for
     * its endpoint.
     */
    wait_slot_state(f.qts, "connecting");
    {
        g_autofree char *n = slot_str(f.qts, "surprise-removals");

        g_assert_cmpstr(n, ==, "1");
    }
    qtest_quit(f.qts);
    unlink(f.path);
    rmdir(f.dir);
    g_free(f.path);
    g_free(f.dir);
}

/* Offset of capability @id in the config space of bus/devfn, or 0. */
static int find_cap(QTestState *qts, int bus, int devfn, int id)
{
    int pos = cfg_read(qts, bus, devfn, PCI_CAPABILITY_LIST, 1) & ~3;

    for (int n = 0; pos && n < 48; n++) {
        if (cfg_read(qts, bus, devfn, pos, 1) == id) {
            return pos;
        }
        pos = cfg_read(qts, bus, devfn, pos + 1, 1) & ~3;
    }
    return 0;
}

/* Bus numbers and a memory window on the root port, as firmware would. */
static void setup_root_port(QTestState *vm)
{
    cfg_write(vm, 0, RP_DEVFN, PCI_PRIMARY_BUS, 4, 0x00010100);
    cfg_write(vm, 0, RP_DEVFN, PCI_MEMORY_BASE, 4, 0xfe00fe00);
    cfg_write(vm, 0, RP_DEVFN, PCI_COMMAND, 2, 0x7);
}


/*
 * Against the real endpoint: a vrc-endpoint QEMU hosting QEMU's edu device,
 * whose DMA engine moves up to 4 KiB between guest memory and its buffer.
 * Its DMA reads cross the link as MRd split by Max Read Request Size (4096
 * here), not as one TLP per 8 bytes.
 */
static void edu_dma(QTestState *vm, QTestState *ep, uint64_t src,
                    uint64_t dst, uint32_t cmd)
{
    qtest_writeq(vm, BAR0_ADDR + 0x80, src);
    qtest_writeq(vm, BAR0_ADDR + 0x88, dst);
    qtest_writeq(vm, BAR0_ADDR + 0x90, 4096);
    qtest_writeq(vm, BAR0_ADDR + 0x98, cmd);
    /* A read flushes the posted writes (reads never pass writes), so the
     * command is in the device before we move its clock. */
    g_assert_cmphex(qtest_readq(vm, BAR0_ADDR + 0x98), ==, cmd);
    /* edu runs its DMA from a 100 ms timer on the endpoint's clock. */
    qtest_clock_step(ep, 200 * 1000 * 1000);
    g_assert_cmphex(qtest_readq(vm, BAR0_ADDR + 0x98) & 1, ==, 0);
}

static int64_t vrc_tlp_counter(QTestState *qts, const char *dir,
                               const char *type)
{
    QDict *r = qtest_qmp(qts, "{ 'execute': 'query-vrc' }");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(r, "return")));
    int64_t v = qdict_get_int(qdict_get_qdict(info, dir), type);

    qobject_unref(r);
    return v;
}

/*
 * A real endpoint: a vrc-endpoint QEMU (@ep_opts added) hosting @device,
 * and a VM whose vrc port (00:02.0, @vrc_opts added) leads to it, bus
 * numbers and memory window set.
 */
typedef struct RealEndpoint {
    char *dir, *path;
    QTestState *ep, *vm;
} RealEndpoint;

static void real_endpoint_start(RealEndpoint *r, const char *ep_opts,
                                const char *device, const char *vrc_opts)
{
    r->dir = g_dir_make_tmp("vrc-qtest-XXXXXX", NULL);
    r->path = g_build_filename(r->dir, "ep.sock", NULL);
    r->ep = qtest_initf("-machine vrc-endpoint,socket=%s%s -nodefaults "
                        "-device %s", r->path, ep_opts, device);
    r->vm = qtest_initf("-machine q35 -nodefaults -device vrc,id=vrc0,"
                        "socket=%s,chassis=1,addr=02.0%s", r->path, vrc_opts);
    setup_root_port(r->vm);
}

static void real_endpoint_stop(RealEndpoint *r)
{
    qtest_quit(r->vm);
    qtest_quit(r->ep);
    unlink(r->path);
    rmdir(r->dir);
    g_free(r->path);
    g_free(r->dir);
}

/* query-vrc's slot of the first vrc: member @name (a string or a count). */
static char *slot_str(QTestState *qts, const char *name)
{
    QDict *r = qtest_qmp(qts, "{ 'execute': 'query-vrc' }");
    QDict *info = qobject_to(QDict, qlist_peek(qdict_get_qlist(r, "return")));
    QDict *slot = qdict_get_qdict(info, "slot");
    QObject *v = qdict_get(slot, name);
    char *out = qobject_type(v) == QTYPE_QSTRING ?
                g_strdup(qstring_get_str(qobject_to(QString, v))) :
                qobject_type(v) == QTYPE_QBOOL ?
                g_strdup(qbool_get_bool(qobject_to(QBool, v)) ? "true" : "false") :
                g_strdup_printf("%" PRId64, qnum_get_int(qobject_to(QNum, v)));

    qobject_unref(r);
    return out;
}

static void wait_slot_state(QTestState *qts, const char *want)
{
    for (int i = 0; i < 500; i++) {
        g_autofree char *st = slot_str(qts, "state");

        if (!strcmp(st, want)) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/*
 * What a guest's pciehp does once it has let go of a removed function:
 * power the slot off, power indicator off.  Until then a new function is
 * not added (the guest's power-off would unplug it).
 */
static void guest_powers_off_slot(QTestState *qts)
{
    int exp = find_cap(qts, 0, RP_DEVFN, PCI_CAP_ID_EXP);
    uint32_t ctl = cfg_read(qts, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2);

    cfg_write(qts, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2,
              ctl | PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);
}

/* ... and what it does when a card is present again: power on. */
static void guest_powers_on_slot(QTestState *qts)
{
    int exp = find_cap(qts, 0, RP_DEVFN, PCI_CAP_ID_EXP);
    uint32_t ctl = cfg_read(qts, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2);

    ctl &= ~(PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);
    cfg_write(qts, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2,
              ctl | PCI_EXP_SLTCTL_PWR_IND_ON);
}

static void G_GNUC_PRINTF(3, 4) qmp_expect_error(QTestState *qts,
                                                 const char *frag,
                                                 const char *fmt, ...)
{
    va_list ap;
    QDict *r, *err;

    va_start(ap, fmt);
    r = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    err = qdict_get_qdict(r, "error");
    g_assert_nonnull(err);
    g_test_message("refused: %s", qdict_get_str(err, "desc"));
    g_assert_nonnull(strstr(qdict_get_str(err, "desc"), frag));
    qobject_unref(r);
}

/*
 * The slot at run time, without a guest driving it: a surprise removal
 * leaves nothing behind the port (config reads give all-ones), attaching
 * again brings the same remote function back, a managed removal waits for
 * the guest (which never answers here) and can be forced, and bad requests
 * are refused with a reason.
 */
static void test_slot(void)
{
    RealEndpoint r;
    QTestState *vm;
    QDict *resp;
    g_autofree char *auto_rc = NULL, *n = NULL;
    int msi, exp;
    uint32_t sta;

    real_endpoint_start(&r, "", "edu", "");
    vm = r.vm;
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    wait_slot_state(vm, "present");
    /* The port's hot-plug interrupt, as pciehp sets it up: MSI into RAM. */
    msi = find_cap(vm, 0, RP_DEVFN, PCI_CAP_ID_MSI);
    exp = find_cap(vm, 0, RP_DEVFN, PCI_CAP_ID_EXP);
    g_assert_cmpint(msi, !=, 0);
    cfg_write(vm, 0, RP_DEVFN, msi + PCI_MSI_ADDRESS_LO, 4, 0x180000);
    if (cfg_read(vm, 0, RP_DEVFN, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_64BIT) {
        cfg_write(vm, 0, RP_DEVFN, msi + PCI_MSI_ADDRESS_HI, 4, 0);
        cfg_write(vm, 0, RP_DEVFN, msi + PCI_MSI_DATA_64, 2, 0x4242);
    } else {
        cfg_write(vm, 0, RP_DEVFN, msi + PCI_MSI_DATA_32, 2, 0x4242);
    }
    cfg_write(vm, 0, RP_DEVFN, msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
    cfg_write(vm, 0, RP_DEVFN, PCI_COMMAND, 2, 0x7);
    cfg_write(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2,
              cfg_read(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTCTL, 2) |
              /* Linux's choice for a slot with a button: no PDCE. */
              PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_DLLSCE |
              PCI_EXP_SLTCTL_HPIE);
    cfg_write(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTSTA, 2, 0xffff);
    qtest_writel(vm, 0x180000, 0);
    auto_rc = slot_str(vm, "auto-reconnect");
    g_assert_cmpstr(auto_rc, ==, "true");
    qmp_expect_error(vm, "not empty", "{ 'execute': 'vrc-attach', 'arguments': "
                     "{ 'id': 'vrc0' } }");
    qmp_expect_error(vm, "no vrc device", "{ 'execute': 'vrc-attach', 'arguments': "
                     "{ 'id': 'nosuch' } }");

    /* Surprise: gone at once, nothing answers behind the port. */
    resp = qtest_qmp(vm, "{ 'execute': 'vrc-detach', 'arguments': "
                     "{ 'id': 'vrc0', 'surprise': true } }");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    wait_slot_state(vm, "empty");
    /* The guest is told: presence gone, Presence Detect Changed and Data
     * Link Layer State Changed, and the link event's MSI. */
    sta = cfg_read(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTSTA, 2);
    g_assert_cmphex(sta & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_PDS |
                           PCI_EXP_SLTSTA_DLLSC), ==,
                    PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(qtest_readl(vm, 0x180000), ==, 0x4242);
    cfg_write(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTSTA, 2,
              PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    g_assert_cmphex(cfg_read(vm, 0, RP_DEVFN, exp + PCI_EXP_SLTSTA, 2) &
                    PCI_EXP_SLTSTA_DLLSC, ==, 0);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0xffffffff);
    /* Unsupported Request below the port: all-ones, not zeros. */
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, 0xffffffff);
    n = slot_str(vm, "surprise-removals");
    g_assert_cmpstr(n, ==, "1");
    qmp_expect_error(vm, "empty", "{ 'execute': 'vrc-detach', 'arguments': "
                     "{ 'id': 'vrc0' } }");
    guest_powers_off_slot(vm);

    /* Attach again: the same function, reset by its new session. */
    resp = qtest_qmp(vm, "{ 'execute': 'vrc-attach', 'arguments': "
                     "{ 'id': 'vrc0' } }");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    wait_slot_state(vm, "present");
    /* Powered off, the new function answers nothing yet. */
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0xffffffff);
    guest_powers_on_slot(vm);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, 0x010000ed);

    /* Managed: the attention button; no guest answers, so it is forced. */
    resp = qtest_qmp(vm, "{ 'execute': 'vrc-detach', 'arguments': "
                     "{ 'id': 'vrc0' } }");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    wait_slot_state(vm, "removing");
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, 0x010000ed);
    qmp_expect_error(vm, "asked", "{ 'execute': 'vrc-detach', 'arguments': "
                     "{ 'id': 'vrc0' } }");
    resp = qtest_qmp(vm, "{ 'execute': 'vrc-detach', 'arguments': "
                     "{ 'id': 'vrc0', 'surprise': true } }");
    g_assert_true(qdict_haskey(resp, "return"));
    qobject_unref(resp);
    wait_slot_state(vm, "empty");
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 2), ==, 0xffff);
    real_endpoint_stop(&r);
}

static void G_GNUC_PRINTF(2, 3) qmp_ok(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    QDict *r;

    va_start(ap, fmt);
    r = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    g_assert_true(qdict_haskey(r, "return"));
    qobject_unref(r);
}

/* The first IOAPIC input (16-23, the PCI ones) that is high, or -1. */
static int ioapic_pin_high(QTestState *qts)
{
    for (int i = 16; i < 24; i++) {
        if (qtest_get_irq(qts, i)) {
            return i;
        }
    }
    return -1;
}

/*
 * Until an IOAPIC pin of the remote function is @high (or none is), 5 s
 * at most: the receive thread drives the pin once it has the BQL, and the
 * read that ep_originate() sends after the message may return first (its
 * completion goes to the waiting thread).  The pin, or -1.
 */
static int wait_pin(QTestState *qts, bool high)
{
    int pin = ioapic_pin_high(qts);

    for (int i = 0; i < 500 && (pin >= 0) != high; i++) {
        g_usleep(10 * 1000);
        pin = ioapic_pin_high(qts);
    }
    return pin;
}

/* Until query-vrc's @name exceeds @above (5 s at most); its value. */
static int64_t wait_counter_above(QTestState *qts, const char *name,
                                  int64_t above)
{
    int64_t v = 0;

    for (int i = 0; i < 500; i++) {
        v = vrc_counter(qts, name);
        if (v > above) {
            break;
        }
        g_usleep(10 * 1000);
    }
    return v;
}

/*
 * Requests from the endpoint while the slot holds no function: attached
 * again, the session is up, but the function is not added until the guest
 * has powered the slot off (it has not).  A DMA write, a DMA read and an
 * INTx message then find nothing: dropped and counted, the read answered
 * UR, no pin raised, guest memory untouched.  Once the function is added,
 * its requests reach the guest again.
 */
static void test_no_function(void)
{
    Fixture f;
    uint8_t data[64], back[64];
    struct encap_tlp w = {
        .type = ENCAP_TLP_MWR, .len_dw = 16, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x100000, .data = data,
    }, r = {
        .type = ENCAP_TLP_MRD, .len_dw = 16, .first_be = 0xf, .last_be = 0xf,
        .addr = 0x200000, .tag = 9,
    }, m = {
        .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
        .msg_code = ENCAP_MSG_ASSERT_INTA,
    };
    struct encap_tlp *cpl;
    g_autofree char *adds = NULL;

    memset(data, 0x6b, sizeof(data));
    setup(&f);
    qtest_irq_intercept_in(f.qts, "ioapic");
    qmp_ok(f.qts, "{ 'execute': 'vrc-detach', 'arguments': "
           "{ 'id': 'vrc0', 'surprise': true } }");
    wait_slot_state(f.qts, "empty");
    qmp_ok(f.qts, "{ 'execute': 'vrc-attach', 'arguments': "
           "{ 'id': 'vrc0' } }");
    for (int i = 0; i < 500 && !vrc_link_up(f.qts); i++) {
        g_usleep(10 * 1000);
    }
    g_assert_true(vrc_link_up(f.qts));
    {
        g_autofree char *st = slot_str(f.qts, "state");

        g_assert_cmpstr(st, ==, "connecting");
    }
    ep_originate(&f, &w);
    ep_originate(&f, &m);
    ep_originate(&f, &r);
    g_assert_cmpint(wait_counter_above(f.qts, "no-function", 2), ==, 3);
    cpl = g_async_queue_timeout_pop(f.ep->cpls, 5 * G_USEC_PER_SEC);
    g_assert_nonnull(cpl);
    g_assert_cmpuint(cpl->tag, ==, 9);
    g_assert_cmpuint(cpl->status, ==, ENCAP_CPL_UR);
    g_assert_cmphex(cpl->target_id, ==, FN_BDF);
    g_free((void *)cpl->data);
    g_free(cpl);
    g_assert_cmpint(ioapic_pin_high(f.qts), ==, -1);
    qtest_memread(f.qts, 0x100000, back, sizeof(back));
    g_assert_cmpint(memcmp(back, data, sizeof(back)), !=, 0);

    /* The guest lets go of the old function: the new one is added. */
    guest_powers_off_slot(f.qts);
    wait_slot_state(f.qts, "present");
    guest_powers_on_slot(f.qts);
    adds = slot_str(f.qts, "hot-adds");
    g_assert_cmpstr(adds, ==, "1");
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
    ep_originate(&f, &w);
    ep_originate(&f, &m);
    g_assert_cmpint(wait_pin(f.qts, true), >=, 16);
    qtest_memread(f.qts, 0x100000, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
    g_assert_cmpint(vrc_counter(f.qts, "no-function"), ==, 3);
    teardown(&f);
}

/*
 * The function leaves and comes back, again and again, while the endpoint
 * keeps it busy (DMA writes and reads, its pin up and down): by surprise,
 * and managed (the guest powers the slot off).  Requests in flight when it
 * goes must find either the function or nothing, never half of one.
 * After it all, the function still works.
 */
static void test_function_leaves_under_load(void)
{
    Fixture f;
    uint8_t back[64], want[64];
    struct encap_tlp m = {
        .type = ENCAP_TLP_MSG, .msg_routing = ENCAP_MSG_ROUTE_LOCAL,
        .msg_code = ENCAP_MSG_ASSERT_INTA,
    };
    const int rounds = 40;
    g_autofree char *adds = NULL;

    setup(&f);
    /* (No IRQ intercept during the flood: qtest would report each change
     * on a socket this test does not read meanwhile.) */
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
    f.ep->flood_addr = 0x300000;
    g_atomic_int_set(&f.ep->flood, 1);
    for (int i = 0; i < rounds; i++) {
        if (i & 1) {
            /* Managed: the button, and the guest powers the slot off. */
            qmp_ok(f.qts, "{ 'execute': 'vrc-detach', 'arguments': "
                   "{ 'id': 'vrc0' } }");
            wait_slot_state(f.qts, "removing");
            guest_powers_off_slot(f.qts);
        } else {
            qmp_ok(f.qts, "{ 'execute': 'vrc-detach', 'arguments': "
                   "{ 'id': 'vrc0', 'surprise': true } }");
            guest_powers_off_slot(f.qts);
        }
        wait_slot_state(f.qts, "empty");
        qmp_ok(f.qts, "{ 'execute': 'vrc-attach', 'arguments': "
               "{ 'id': 'vrc0' } }");
        wait_slot_state(f.qts, "present");
        guest_powers_on_slot(f.qts);
        cfg_write(f.qts, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
    }
    g_atomic_int_set(&f.ep->flood, 0);
    adds = slot_str(f.qts, "hot-adds");
    g_assert_cmpstr(adds, ==, "40");
    g_test_message("%" PRId64 " requests found no function",
                   vrc_counter(f.qts, "no-function"));
    /* The last function took the endpoint's DMA, and drives its pin. */
    memset(want, 0xf1, sizeof(want));
    qtest_memread(f.qts, 0x300000, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), want, sizeof(want));
    m.msg_code = ENCAP_MSG_DEASSERT_INTA;
    ep_originate(&f, &m);           /* after all of the flood: pin low */
    qtest_irq_intercept_in(f.qts, "ioapic");
    m.msg_code = ENCAP_MSG_ASSERT_INTA;
    ep_originate(&f, &m);
    g_assert_cmpint(wait_pin(f.qts, true), >=, 16);
    m.msg_code = ENCAP_MSG_DEASSERT_INTA;
    ep_originate(&f, &m);
    g_assert_cmpint(wait_pin(f.qts, false), ==, -1);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_VENDOR_ID, 4), ==, 0x56781234);
    teardown(&f);
}

static void test_real_endpoint_edu(void)
{
    RealEndpoint r;
    QTestState *ep, *vm;
    uint8_t data[4096], back[4096];
    int64_t mrd0, mrd1;
    int msi;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    ep = r.ep;
    vm = r.vm;
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

    /* Registers of the remote device. */
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, 0x010000ed);
    qtest_writel(vm, BAR0_ADDR + 4, 0x12345678);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 4), ==, ~0x12345678u);

    /* 16 DMA reads of 4 KiB: 64 KiB read from guest memory. */
    for (int i = 0; i < 4096; i++) {
        data[i] = i * 7 + 1;
    }
    mrd0 = vrc_tlp_counter(vm, "tlps-rx", "mrd");
    for (int i = 0; i < 16; i++) {
        qtest_memwrite(vm, 0x100000 + i * 4096, data, sizeof(data));
        edu_dma(vm, ep, 0x100000 + i * 4096, 0x40000, 0x1);
    }
    mrd1 = vrc_tlp_counter(vm, "tlps-rx", "mrd");
    g_test_message("64 KiB of DMA reads took %" PRId64 " MRd TLPs", mrd1 - mrd0);
    g_assert_cmpint(mrd1 - mrd0, ==, 65536 / 4096);

    /* Back out to another place in guest memory, and compare. */
    edu_dma(vm, ep, 0x40000, 0x300000, 0x3);
    qtest_memread(vm, 0x300000, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));

    /* edu's MSI (raised through its interrupt register) is a memory write
     * to the address and data the guest put in its MSI capability. */
    msi = find_cap(vm, 1, 0, PCI_CAP_ID_MSI);
    g_assert_cmpint(msi, !=, 0);
    g_assert_true(cfg_read(vm, 1, 0, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_64BIT);
    cfg_write(vm, 1, 0, msi + PCI_MSI_ADDRESS_LO, 4, 0x180000);
    cfg_write(vm, 1, 0, msi + PCI_MSI_ADDRESS_HI, 4, 0);
    cfg_write(vm, 1, 0, msi + PCI_MSI_DATA_64, 2, 0x4321);
    cfg_write(vm, 1, 0, msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
    qtest_writel(vm, BAR0_ADDR + 0x60, 1);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x24), ==, 1);   /* status */
    g_assert_cmphex(qtest_readl(vm, 0x180000), ==, 0x4321);

    real_endpoint_stop(&r);
}

/*
 * The endpoint holds its function's DMA writes for the next TLP it sends
 * or until its main loop is about to wait (x-defer-writes): what edu
 * writes from a timer (4 KiB of DMA, then the MSI) reaches guest memory
 * with nothing else asked of it, the MSI after the data.
 */
static void test_real_endpoint_deferred_writes(void)
{
    RealEndpoint r;
    QTestState *ep, *vm;
    uint8_t data[4096], back[4096];
    int64_t deadline;
    int msi;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    ep = r.ep;
    vm = r.vm;
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    msi = find_cap(vm, 1, 0, PCI_CAP_ID_MSI);
    g_assert_cmpint(msi, !=, 0);
    cfg_write(vm, 1, 0, msi + PCI_MSI_ADDRESS_LO, 4, 0x180000);
    cfg_write(vm, 1, 0, msi + PCI_MSI_ADDRESS_HI, 4, 0);
    cfg_write(vm, 1, 0, msi + PCI_MSI_DATA_64, 2, 0x4321);
    cfg_write(vm, 1, 0, msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);

    /* Into edu's buffer, then back out with "raise an interrupt". */
    for (int i = 0; i < 4096; i++) {
        data[i] = i * 13 + 5;
    }
    qtest_memwrite(vm, 0x100000, data, sizeof(data));
    edu_dma(vm, ep, 0x100000, 0x40000, 0x1);
    qtest_writeq(vm, BAR0_ADDR + 0x80, 0x40000);
    qtest_writeq(vm, BAR0_ADDR + 0x88, 0x300000);
    qtest_writeq(vm, BAR0_ADDR + 0x90, 4096);
    qtest_writeq(vm, BAR0_ADDR + 0x98, 0x7);
    g_assert_cmphex(qtest_readq(vm, BAR0_ADDR + 0x98), ==, 0x7);
    qtest_clock_step(ep, 200 * 1000 * 1000);

    /* No register access from here: only guest memory is looked at. */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (qtest_readl(vm, 0x180000) != 0x4321 &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    g_assert_cmphex(qtest_readl(vm, 0x180000), ==, 0x4321);
    qtest_memread(vm, 0x300000, back, sizeof(back));
    g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
    real_endpoint_stop(&r);
}

/*
 * A thread that waits for a register read's completion reads the
 * transport itself when the receive thread has nothing in hand, so the
 * completion wakes it directly; frames it reads are counted.  Register
 * reads keep their values, and the receive thread takes over again for
 * what the endpoint sends on its own (the device's DMA, its MSI) between
 * and after the reads.
 */
static void test_waiter_reads(void)
{
    RealEndpoint r;
    QTestState *ep, *vm;
    uint8_t data[4096], back[4096];
    int64_t by0, by1, rx0, rx1;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    ep = r.ep;
    vm = r.vm;
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    for (int i = 0; i < (int)sizeof(data); i++) {
        data[i] = i * 13 + 5;
    }

    by0 = vrc_counter(vm, "frames-rx-by-waiter");
    rx0 = vrc_counter(vm, "frames-rx");
    for (int i = 0; i < 200; i++) {
        qtest_writel(vm, BAR0_ADDR + 4, i);
        g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 4), ==, ~(uint32_t)i);
        if (i % 50 == 0) {
            /* The endpoint reads guest memory between the reads. */
            qtest_memwrite(vm, 0x100000, data, sizeof(data));
            edu_dma(vm, ep, 0x100000, 0x40000, 0x1);
            edu_dma(vm, ep, 0x40000, 0x300000 + i * 16, 0x3);
            qtest_memread(vm, 0x300000 + i * 16, back, sizeof(back));
            g_assert_cmpmem(back, sizeof(back), data, sizeof(data));
        }
    }
    by1 = vrc_counter(vm, "frames-rx-by-waiter");
    rx1 = vrc_counter(vm, "frames-rx");
    g_test_message("%" PRId64 " of %" PRId64 " frames read by the waiting "
                   "thread", by1 - by0, rx1 - rx0);
    /* Most of the 200 completions at least; never more than all frames. */
    g_assert_cmpint(by1 - by0, >=, 100);
    g_assert_cmpint(by1 - by0, <=, rx1 - rx0);
    real_endpoint_stop(&r);
}

#define E1000E_BAR3_ADDR    0xfe080000u
#define E1000E_MSI_ADDR     0x180000u

/*
 * Against the real endpoint hosting e1000e, the NIC of the end-to-end
 * test: the guest sees its identity and capabilities, reads and writes its
 * registers, and gets an MSI-X interrupt the NIC raises, as a memory write
 * to what the guest programmed in the NIC's table (guest RAM here, so the
 * test can see it arrive).
 */
/*
 * INTx from a real device model on the endpoint: edu raises its pin when
 * MSI is off; the Assert_INTx message reaches the VM's IOAPIC, and the
 * Deassert_INTx when the interrupt is acknowledged.
 */
static void test_real_endpoint_intx(void)
{
    RealEndpoint r;
    int pin = -1;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    qtest_irq_intercept_in(r.vm, "ioapic");
    cfg_write(r.vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(r.vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    qtest_writel(r.vm, BAR0_ADDR + 0x60, 1);            /* raise */
    g_assert_cmphex(qtest_readl(r.vm, BAR0_ADDR + 0x24), ==, 1);
    for (int i = 16; i < 24; i++) {
        if (qtest_get_irq(r.vm, i)) {
            g_assert_cmpint(pin, ==, -1);
            pin = i;
        }
    }
    g_assert_cmpint(pin, >=, 16);
    qtest_writel(r.vm, BAR0_ADDR + 0x64, 1);            /* acknowledge */
    g_assert_cmphex(qtest_readl(r.vm, BAR0_ADDR + 0x24), ==, 0);
    g_assert_false(qtest_get_irq(r.vm, pin));
    real_endpoint_stop(&r);
}

static void test_real_endpoint_e1000e(void)
{
    static const int caps[] = {
        PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX,
    };
    RealEndpoint r;
    QTestState *ep, *vm;
    int msix;
    int64_t mwr0;

    /* This one spins for its completions before sleeping (poll-us). */
    real_endpoint_start(&r, "", "e1000e,romfile=",
                        ",completion-timeout=2000,poll-us=100");
    ep = r.ep;
    vm = r.vm;
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x10d38086);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_CLASS_DEVICE, 2), ==, 0x0200);
    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        g_assert_cmpint(find_cap(vm, 1, 0, caps[i]), !=, 0);
    }
    msix = find_cap(vm, 1, 0, PCI_CAP_ID_MSIX);
    /* Table of 5 vectors in BAR3. */
    g_assert_cmphex(cfg_read(vm, 1, 0, msix + PCI_MSIX_FLAGS, 2) &
                    PCI_MSIX_FLAGS_QSIZE, ==, 4);
    g_assert_cmphex(cfg_read(vm, 1, 0, msix + PCI_MSIX_TABLE, 4), ==, 3);

    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_3, 4, E1000E_BAR3_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_BASE_ADDRESS_3, 4), ==,
                    E1000E_BAR3_ADDR);

    /* A register the NIC keeps: receive descriptor base. */
    qtest_writel(vm, BAR0_ADDR + 0x2800, 0x12345600);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x2800), ==, 0x12345600);

    /* MSI-X vector 2 to guest RAM; "other" causes (link change) on it. */
    cfg_write(vm, 1, 0, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
    qtest_writel(vm, E1000E_BAR3_ADDR + 32 + PCI_MSIX_ENTRY_LOWER_ADDR,
                 E1000E_MSI_ADDR);
    qtest_writel(vm, E1000E_BAR3_ADDR + 32 + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    qtest_writel(vm, E1000E_BAR3_ADDR + 32 + PCI_MSIX_ENTRY_DATA, 0xcafe0002);
    qtest_writel(vm, E1000E_BAR3_ADDR + 32 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    qtest_writel(vm, BAR0_ADDR + 0xe4, (2 | 8) << 16);        /* IVAR */
    qtest_writel(vm, BAR0_ADDR + 0xd0, 0x01000004);           /* IMS */
    g_assert_cmphex(qtest_readl(vm, E1000E_MSI_ADDR), ==, 0);
    mwr0 = vrc_tlp_counter(vm, "tlps-rx", "mwr");
    qtest_writel(vm, BAR0_ADDR + 0xc8, 0x4);                  /* ICS: LSC */
    /* The status read's completion cannot pass the NIC's message write. */
    qtest_readl(vm, BAR0_ADDR + 0x8);
    g_assert_cmphex(qtest_readl(vm, E1000E_MSI_ADDR), ==, 0xcafe0002);
    g_assert_cmpint(vrc_tlp_counter(vm, "tlps-rx", "mwr") - mwr0, ==, 1);

    /* The endpoint reports its side of the link too. */
    {
        QDict *resp = qtest_qmp(ep, "{ 'execute': 'query-vrc' }");
        QList *l = qdict_get_qlist(resp, "return");
        QDict *info = qobject_to(QDict, qlist_peek(l));

        g_assert_cmpint(qlist_size(l), ==, 1);
        g_assert_cmpstr(qdict_get_str(info, "id"), ==, "vrc-endpoint");
        g_assert_true(qdict_get_bool(info, "link-up"));
        g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "tlps-rx"), "cfgrd"),
                        ==, vrc_tlp_counter(vm, "tlps-tx", "cfgrd"));
        g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "tlps-tx"), "mwr"),
                        ==, vrc_tlp_counter(vm, "tlps-rx", "mwr"));
        qobject_unref(resp);
    }

    real_endpoint_stop(&r);
}

/*
 * A vrc that misbehaves, scripted here over the wire protocol against the
 * real endpoint hosting e1000e: well-formed TLPs with odd contents, seeded
 * at random.  Config requests to other functions and devices, Type 1 and
 * Type 0 alike; memory and I/O requests anywhere, of any length the rules
 * allow; messages of any code; completions nobody asked for, some with a
 * tag the endpoint's own DMA read is waiting on.  It never answers the
 * endpoint's DMA reads.  The endpoint must keep running, count what it
 * refused, and afterwards still answer a config read with the function's
 * IDs.
 */
typedef struct StrayVrc {
    struct encap_transport *tp;
    struct encap_link *link;
    GQueue cpls;                /* completions received (their tags) */
} StrayVrc;

static int stray_send(void *opaque, const uint8_t *f, size_t len)
{
    return encap_transport_send(((StrayVrc *)opaque)->tp, f, len);
}

static void stray_deliver(void *opaque, const uint8_t *tlp, size_t len)
{
    StrayVrc *v = opaque;
    struct encap_tlp t;

    if (encap_tlp_decode(tlp, len, &lim, &t) == 0 &&
        (t.type == ENCAP_TLP_CPL || t.type == ENCAP_TLP_CPLD)) {
        g_queue_push_tail(&v->cpls, GUINT_TO_POINTER(t.tag << 8 | t.status));
    }
}

static const struct encap_link_ops stray_ops = {
    .send_frame = stray_send,
    .deliver_tlp = stray_deliver,
};

/* Take in what arrived and run the link's timers for about @ms. */
static void stray_pump(StrayVrc *v, int ms)
{
    int64_t end = now_ns() + ms * 1000000ll;
    uint8_t buf[9100];

    do {
        struct pollfd p = { .fd = encap_transport_fd(v->tp), .events = POLLIN };
        int n;

        poll(&p, 1, 1);
        while ((n = encap_transport_recv(v->tp, buf, sizeof(buf))) > 0) {
            encap_link_input(v->link, buf, n, now_ns());
        }
        encap_link_poll(v->link, now_ns());
    } while (now_ns() < end);
}

static void stray_queue(StrayVrc *v, struct encap_tlp *t)
{
    int r;

    /* Window full, or the endpoint holds all the requests it takes. */
    while ((r = encap_link_queue_tlp(v->link, t, &lim, now_ns())) ==
           -ENCAP_E_NOSPACE || r == -ENCAP_E_CREDIT) {
        stray_pump(v, 1);
    }
    encap_link_flush(v->link, now_ns());
}

/* A scripted vrc, session @session, up with the endpoint at @path. */
static void stray_connect(StrayVrc *v, const char *path, uint16_t session)
{
    struct encap_link_config c = {
        .initiator = true, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
        .session = session,
    };
    char err[128];

    g_assert_cmpint(encap_transport_open_unix(path, false, &v->tp, err,
                                              sizeof(err)), ==, 0);
    encap_transport_mac(v->tp, c.own_mac);
    memcpy(c.peer_mac, (uint8_t[])ENCAP_UNIX_LISTENER_MAC, 6);
    v->link = encap_link_new(&c, &stray_ops, v);
    g_queue_init(&v->cpls);
    encap_link_connect(v->link, now_ns());
    for (int i = 0; i < 2000 && encap_link_state(v->link) != ENCAP_LINK_UP; i++) {
        stray_pump(v, 1);
    }
    g_assert_cmpint(encap_link_state(v->link), ==, ENCAP_LINK_UP);
}

static void stray_close(StrayVrc *v)
{
    encap_link_free(v->link);
    encap_transport_close(v->tp);
    g_queue_clear(&v->cpls);
}

/*
 * The endpoint's e1000e at 01:00.0 with its BAR0 on, bus mastering on, and
 * @tdt transmit descriptors to fetch: its DMA reads wait for answers that
 * the scripted vrc never gives.
 */
static void stray_busy_nic(StrayVrc *v, uint32_t tdt)
{
    static const uint32_t setup[][2] = {
        { PCI_BASE_ADDRESS_0, BAR0_ADDR },
        { PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER },
    };
    const uint32_t ring[][2] = {
        { 0x3800, 0x100000 },               /* TDBAL */
        { 0x3808, 4096 },                   /* TDLEN */
        { 0x0400, 1 << 1 },                 /* TCTL.EN */
        { 0x3818, tdt },                    /* TDT */
    };
    uint8_t d[4];

    for (size_t i = 0; i < G_N_ELEMENTS(setup); i++) {
        struct encap_tlp w = {
            .type = ENCAP_TLP_CFGWR0, .len_dw = 1, .first_be = 0xf,
            .requester_id = 0x0010, .target_id = 0x0100,
            .reg = setup[i][0], .data = d,
        };
        stl_le_p(d, setup[i][1]);
        stray_queue(v, &w);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(ring); i++) {
        struct encap_tlp w = {
            .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf,
            .requester_id = 0x0010, .addr = BAR0_ADDR + ring[i][0],
            .data = d,
        };
        stl_le_p(d, ring[i][1]);
        stray_queue(v, &w);
    }
}

/*
 * One well-formed TLP with odd contents into @t (payload in @data).
 * @upstream: from an endpoint to the VM, whose memory requests go to guest
 * RAM (below 64 MiB), the MSI window or nowhere (above 4 GiB), not to the
 * chipset's registers; else from a vrc to an endpoint, anywhere.
 */
static void odd_tlp(GRand *rnd, struct encap_tlp *t, uint8_t *data,
                    bool upstream)
{
    unsigned dw;

    memset(t, 0, sizeof(*t));
    t->tag = g_rand_int_range(rnd, 0, 1024);
    t->first_be = 0xf;
    memset(data, g_rand_int(rnd), 4096);
    switch (g_rand_int_range(rnd, 0, 7)) {
    case 0:                 /* config, any function, Type 0 or 1 */
        t->type = (enum encap_tlp_type[]){ ENCAP_TLP_CFGRD0, ENCAP_TLP_CFGWR0,
            ENCAP_TLP_CFGRD1, ENCAP_TLP_CFGWR1 }[g_rand_int_range(rnd, 0, 4)];
        t->len_dw = 1;
        t->target_id = g_rand_boolean(rnd) ? 0x0100 | g_rand_int_range(rnd, 0, 8)
                                           : g_rand_int_range(rnd, 0, 0x10000);
        t->reg = g_rand_int_range(rnd, 0, 1024) * 4;
        t->first_be = g_rand_int_range(rnd, 1, 16);
        break;
    case 1:                 /* memory read, up to 4 KiB */
    case 2:                 /* memory write, up to the MPS */
        t->type = g_rand_boolean(rnd) ? ENCAP_TLP_MRD : ENCAP_TLP_MWR;
        if (!upstream) {
            t->addr64 = g_rand_boolean(rnd);
            t->addr = (t->addr64 ? (uint64_t)g_rand_int(rnd) << 32 : 0) |
                      (g_rand_boolean(rnd) ? BAR0_ADDR : 0) |
                      (g_rand_int_range(rnd, 0, 0x8000) * 4);
        } else {
            switch (g_rand_int_range(rnd, 0, 3)) {
            case 0:
                t->addr = 0xfee00000u | g_rand_int_range(rnd, 0, 0x400) * 4;
                break;
            case 1:
                t->addr64 = true;
                t->addr = (uint64_t)g_rand_int_range(rnd, 1, 256) << 32 |
                          (g_rand_int(rnd) & ~3u);
                break;
            default:
                t->addr = g_rand_int_range(rnd, 0, 16 << 20) * 4;
                break;
            }
        }
        dw = t->type == ENCAP_TLP_MWR ? 256 : 1024;
        dw = MIN(dw, (0x1000 - (t->addr & 0xfff)) / 4);
        t->len_dw = g_rand_int_range(rnd, 1, dw + 1);
        t->last_be = t->len_dw > 1 ? 0xf : 0;
        break;
    case 3:                 /* I/O, any port */
        t->type = g_rand_boolean(rnd) ? ENCAP_TLP_IORD : ENCAP_TLP_IOWR;
        t->len_dw = 1;
        t->addr = g_rand_int_range(rnd, 0, 0x10000) & ~3;
        t->first_be = g_rand_int_range(rnd, 1, 16);
        break;
    case 4:                 /* a message of any code (INTx among them) */
        t->type = ENCAP_TLP_MSG;
        t->msg_code = g_rand_int_range(rnd, 0, 256);
        t->msg_routing = g_rand_int_range(rnd, 0, 6);
        t->msg_hi = (uint64_t)g_rand_int(rnd) << 32 | g_rand_int(rnd);
        if (encap_tlp_is_hot_reset(t)) {
            t->msg_hi ^= 1;
        }
        break;
    default:                /* a completion nobody asked for */
        t->type = g_rand_boolean(rnd) ? ENCAP_TLP_CPLD : ENCAP_TLP_CPL;
        t->status = t->type == ENCAP_TLP_CPLD ? ENCAP_CPL_SC :
                    (uint8_t[]){ ENCAP_CPL_SC, ENCAP_CPL_UR, ENCAP_CPL_CA }
                    [g_rand_int_range(rnd, 0, 3)];
        t->len_dw = t->type == ENCAP_TLP_CPLD ? g_rand_int_range(rnd, 1, 65) : 0;
        t->byte_count = g_rand_int_range(rnd, 1, 4097);
        t->lower_addr = g_rand_int_range(rnd, 0, 128);
        t->target_id = upstream ? 0x0100 : 0x0010;     /* the completer */
        t->tag = g_rand_boolean(rnd) ? g_rand_int_range(rnd, 0, 8)
                                     : g_rand_int_range(rnd, 0, 1024);
        t->first_be = 0;
        break;
    }
    t->data = encap_tlp_has_data(t->type) ? data : NULL;
}

static void test_stray_vrc(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(0x57a9);
    g_autofree char *dir = g_dir_make_tmp("vrc-qtest-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "ep.sock", NULL);
    struct encap_tlp id = {
        .type = ENCAP_TLP_CFGRD0, .len_dw = 1, .first_be = 0xf,
        .requester_id = 0x0010, .target_id = 0x0100, .tag = 0x3ff,
    };
    StrayVrc v = { 0 };
    QTestState *ep;
    QDict *resp, *info;
    bool answered = false;

    ep = qtest_initf("-machine vrc-endpoint,socket=%s,completion-timeout=10 "
                     "-nodefaults -device e1000e,romfile=", path);
    stray_connect(&v, path, 0x5157);
    /* Its DMA reads wait for answers that never come (and for stray
     * completions that may match their tags). */
    stray_busy_nic(&v, 4);
    for (int i = 0; i < 3000; i++) {
        static uint8_t data[4096];
        struct encap_tlp t;

        odd_tlp(rnd, &t, data, false);
        t.requester_id = t.type == ENCAP_TLP_CPL || t.type == ENCAP_TLP_CPLD ?
                         0x0100 : 0x0010;
        stray_queue(&v, &t);
        if (i % 64 == 0) {
            stray_pump(&v, 1);
        }
    }

    /* Still serving: the function's IDs, from a config read. */
    g_queue_clear(&v.cpls);
    stray_queue(&v, &id);
    for (int i = 0; i < 5000 && !answered; i++) {
        stray_pump(&v, 1);
        answered = g_queue_find(&v.cpls, GUINT_TO_POINTER(0x3ff << 8 |
                                                         ENCAP_CPL_SC));
    }
    g_assert_true(answered);
    g_assert_cmpint(encap_link_state(v.link), ==, ENCAP_LINK_UP);

    resp = qtest_qmp(ep, "{ 'execute': 'query-vrc' }");
    info = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp, "return")));
    g_assert_true(qdict_get_bool(info, "link-up"));
    g_test_message("endpoint after 3000 odd TLPs: %" PRId64 " stray and %"
                   PRId64 " bad completions, %" PRId64 " DMA timeouts",
                   qdict_get_int(info, "stray-cpls"),
                   qdict_get_int(info, "cpl-errors"),
                   qdict_get_int(info, "timeouts"));
    /* Counted, not acted on: completions nobody asked for; and the NIC's
     * DMA reads, which nobody answered, ended in a timeout or on a stray
     * completion that matched their tag but not their request. */
    g_assert_cmpint(qdict_get_int(info, "stray-cpls"), >, 0);
    g_assert_cmpint(qdict_get_int(info, "timeouts") +
                    qdict_get_int(info, "cpl-errors"), >, 0);
    qobject_unref(resp);

    stray_close(&v);
    qtest_quit(ep);
    unlink(path);
    rmdir(dir);
}

/*
 * The endpoint bounds what it queues (request credit 8): its e1000e waits
 * for a DMA read that nobody answers, and the requests that arrive
 * meanwhile wait at the sender, not in the endpoint's memory.  When the
 * read has timed out, the endpoint runs the 8 it holds and takes the rest;
 * all 40 writes run, in order.
 */
static void test_endpoint_credit(void)
{
    g_autofree char *dir = g_dir_make_tmp("vrc-qtest-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "ep.sock", NULL);
    struct encap_tlp rd = {
        .type = ENCAP_TLP_MRD, .len_dw = 1, .first_be = 0xf,
        .requester_id = 0x0010, .addr = BAR0_ADDR + 0x2820, .tag = 0x3fe,
    };
    struct encap_link_stats st;
    StrayVrc v = { 0 };
    QTestState *ep;
    QDict *resp, *info;
    uint8_t d[4];
    bool answered = false;
    int queued = 0;

    ep = qtest_initf("-machine vrc-endpoint,socket=%s,completion-timeout=500,"
                     "request-credit=8 -nodefaults -device e1000e,romfile=",
                     path);
    stray_connect(&v, path, 0x5158);
    stray_busy_nic(&v, 1);      /* one descriptor to fetch */
    stray_pump(&v, 50);         /* the TDT write runs; its DMA read waits */

    /* 40 writes of RDTR: the endpoint takes 8 while its DMA waits. */
    for (uint32_t i = 1; i <= 40; i++) {
        struct encap_tlp w = {
            .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf,
            .requester_id = 0x0010, .addr = BAR0_ADDR + 0x2820, .data = d,
        };
        int r;

        stl_le_p(d, i);
        r = encap_link_queue_tlp(v.link, &w, &lim, now_ns());
        if (r == -ENCAP_E_CREDIT) {
            break;
        }
        g_assert_cmpint(r, ==, 0);
        encap_link_flush(v.link, now_ns());
        queued++;
    }
    encap_link_get_stats(v.link, &st);
    g_assert_cmpuint(st.credit_waits, ==, 1);
    g_assert_cmpint(queued, <=, 8);
    /* The rest go once the endpoint has run what it held. */
    for (uint32_t i = queued + 1; i <= 40; i++) {
        struct encap_tlp w = {
            .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf,
            .requester_id = 0x0010, .addr = BAR0_ADDR + 0x2820, .data = d,
        };

        stl_le_p(d, i);
        stray_queue(&v, &w);
    }
    g_queue_clear(&v.cpls);
    stray_queue(&v, &rd);
    for (int i = 0; i < 5000 && !answered; i++) {
        stray_pump(&v, 1);
        answered = g_queue_find(&v.cpls, GUINT_TO_POINTER(0x3fe << 8 |
                                                         ENCAP_CPL_SC));
    }
    g_assert_true(answered);

    resp = qtest_qmp(ep, "{ 'execute': 'query-vrc' }");
    info = qobject_to(QDict, qlist_peek(qdict_get_qlist(resp, "return")));
    g_assert_cmpint(qdict_get_int(info, "request-credit"), ==, 8);
    g_assert_cmpint(qdict_get_int(info, "request-backlog-max"), <=, 8);
    g_assert_cmpint(qdict_get_int(info, "request-backlog-max"), >=, queued);
    /* All 40 writes and the read ran. */
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "tlps-rx"), "mwr"),
                    ==, 40 + 4);
    qobject_unref(resp);

    stray_close(&v);
    qtest_quit(ep);
    unlink(path);
    rmdir(dir);
}

/*
 * The mirror image: an endpoint that misbehaves (the scripted one) sends
 * the VM 3000 well-formed TLPs with odd contents: DMA reads and writes of
 * guest RAM, the MSI window and unassigned space, config and I/O requests
 * (which only travel downstream), messages of any code (INTx among them),
 * completions nobody asked for.  The VM must keep running, refuse and count
 * what it does not take, and its function must still answer.
 */
static void test_stray_endpoint(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(0xe9d);
    static uint8_t data[4096];
    Fixture f;

    setup(&f);
    cfg_write(f.qts, 1, 0, PCI_COMMAND, 2,
              PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    for (int i = 0; i < 3000; i++) {
        struct encap_tlp t;

        odd_tlp(rnd, &t, data, true);
        ep_originate(&f, &t);
    }
    g_test_message("VM after 3000 odd TLPs: %" PRId64 " unsupported, %" PRId64
                   " stray completions, %" PRId64 " DMA errors",
                   vrc_counter(f.qts, "unsupported"),
                   vrc_counter(f.qts, "stray-cpls"),
                   vrc_counter(f.qts, "dma-errors"));
    g_assert_cmpint(vrc_counter(f.qts, "unsupported"), >, 0);
    g_assert_cmpint(vrc_counter(f.qts, "stray-cpls"), >, 0);
    g_assert_cmpint(vrc_counter(f.qts, "dma-errors"), >, 0);
    g_assert_cmphex(cfg_read(f.qts, 1, 0, PCI_VENDOR_ID, 4), ==, 0x56781234);
    g_assert_cmphex(qtest_readl(f.qts, BAR0_ADDR + 0x10), ==,
                    ldl_le_p(f.ep->regs + 0x10));
    teardown(&f);
}

/*
 * When its VM goes away (its unix connection closes), the endpoint waits
 * for the next one: a VM started after it gets the function, with the
 * function's registers working.
 */
static void test_endpoint_next_vm(void)
{
    RealEndpoint r;
    QTestState *vm2;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    g_assert_cmphex(cfg_read(r.vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    qtest_quit(r.vm);
    vm2 = qtest_initf("-machine q35 -nodefaults -device vrc,id=vrc0,"
                      "socket=%s,chassis=1,addr=02.0,completion-timeout=2000",
                      r.path);
    setup_root_port(vm2);
    g_assert_cmphex(cfg_read(vm2, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    cfg_write(vm2, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm2, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    qtest_writel(vm2, BAR0_ADDR + 4, 0x12345678);
    g_assert_cmphex(qtest_readl(vm2, BAR0_ADDR + 4), ==, ~0x12345678u);
    r.vm = vm2;
    real_endpoint_stop(&r);
}

/*
 * An endpoint serves one vrc at a time: a second VM pointed at a busy
 * endpoint fails to start with a clear error, and the first one goes on
 * undisturbed (its session, and the function's state, are intact).
 */
static void test_endpoint_busy(void)
{
    RealEndpoint r;
    g_autofree char *opt = NULL;
    g_autofree char *err = NULL;
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    int status;

    real_endpoint_start(&r, "", "edu", ",completion-timeout=2000");
    cfg_write(r.vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(r.vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    qtest_writel(r.vm, BAR0_ADDR + 4, 0x12345678);            /* edu: ~x */

    opt = g_strdup_printf("vrc,socket=%s,chassis=1", r.path);
    {
        const char *argv[] = {
            qemu, "-machine", "q35", "-accel", "qtest", "-qtest", "null",
            "-nodefaults", "-display", "none", "-monitor", "none",
            "-device", opt, NULL,
        };
        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                                   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                   NULL, &err, &status, NULL));
    }
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    g_assert_nonnull(strstr(err, "no answer from the endpoint"));
    g_assert_nonnull(strstr(err, "serves one vrc at a time"));

    g_assert_cmphex(qtest_readl(r.vm, BAR0_ADDR), ==, 0x010000ed);
    g_assert_cmphex(qtest_readl(r.vm, BAR0_ADDR + 4), ==, ~0x12345678u);
    g_assert_cmpint(vrc_counter(r.vm, "timeouts"), ==, 0);
    real_endpoint_stop(&r);
}

/*
 * The VM's reset, and a Secondary Bus Reset on the port, reset the remote
 * function too (vrc's hot reset message): afterwards the endpoint reports
 * its command register and BAR0 cleared, and a register the NIC keeps is
 * back at its reset value.  Without it the remote NIC would go on with its
 * old BARs, and its DMA, under a guest that starts afresh.
 */
static void e1000e_program(QTestState *vm)
{
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    qtest_writel(vm, BAR0_ADDR + 0x2800, 0x12345600);         /* RDBAL */
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x2800), ==, 0x12345600);
}

static void e1000e_check_reset(QTestState *vm)
{
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_COMMAND, 2) &
                    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER), ==, 0);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_BASE_ADDRESS_0, 4) & ~0xfu, ==, 0);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x2800), ==, 0);
}

static void test_reset_reaches_endpoint(void)
{
    RealEndpoint r;
    QTestState *vm;
    int64_t msg0;

    real_endpoint_start(&r, "", "e1000e,romfile=", ",completion-timeout=2000");
    vm = r.vm;
    e1000e_program(vm);
    msg0 = vrc_tlp_counter(vm, "tlps-tx", "msg");

    qtest_system_reset(vm);
    setup_root_port(vm);
    e1000e_check_reset(vm);
    g_assert_cmpint(vrc_tlp_counter(vm, "tlps-tx", "msg") - msg0, ==, 1);

    e1000e_program(vm);
    cfg_write(vm, 0, RP_DEVFN, PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_BUS_RESET);
    cfg_write(vm, 0, RP_DEVFN, PCI_BRIDGE_CONTROL, 2, 0);
    e1000e_check_reset(vm);
    g_assert_cmpint(vrc_tlp_counter(vm, "tlps-tx", "msg") - msg0, ==, 2);
    real_endpoint_stop(&r);
}

/*
 * A guest doing odd things to a remote e1000e: a seeded random mix of
 * config reads and writes of every width anywhere in its 4 KiB config
 * space, and BAR reads and writes of every width (its registers, MSI-X
 * table, I/O window), which among other things moves its BARs, turns
 * memory, I/O and bus mastering on and off, resets the NIC and points its
 * DMA anywhere.  And on purpose: its transmit ring in its own BAR, so that
 * its descriptor fetch is a read that the VM side answers by reading the
 * same endpoint (peer to peer through the root complex), which waits for
 * the endpoint's DMA to finish: only the completion timeouts untangle
 * that.  Nothing may crash or hang, and afterwards, with its BARs and
 * command set again, the function answers as before on both sides.
 */
#define ODD_OPS 4000

static void odd_access(QTestState *vm, GRand *rnd)
{
    static const int widths[] = { 1, 2, 4 };
    int w = widths[g_rand_int_range(rnd, 0, 3)];
    uint32_t v = g_rand_int(rnd);
    uint32_t off;

    switch (g_rand_int_range(rnd, 0, 6)) {
    case 0:
        cfg_read(vm, 1, 0, g_rand_int_range(rnd, 0, 4096) & ~(w - 1), w);
        break;
    case 1:
        /* Mostly the header, where the effects are. */
        off = g_rand_boolean(rnd) ? g_rand_int_range(rnd, 0, 64)
                                  : g_rand_int_range(rnd, 0, 4096);
        cfg_write(vm, 1, 0, off & ~(w - 1), w, v);
        break;
    case 2:
    case 3:
        off = g_rand_int_range(rnd, 0, 0x20000) & ~(w - 1);
        if (g_rand_boolean(rnd)) {
            w == 1 ? qtest_readb(vm, BAR0_ADDR + off) :
            w == 2 ? qtest_readw(vm, BAR0_ADDR + off) :
                     qtest_readl(vm, BAR0_ADDR + off);
        } else {
            w == 1 ? qtest_writeb(vm, BAR0_ADDR + off, v) :
            w == 2 ? qtest_writew(vm, BAR0_ADDR + off, v) :
                     qtest_writel(vm, BAR0_ADDR + off, v);
        }
        break;
    case 4:
        off = g_rand_int_range(rnd, 0, 0x4000) & ~3;
        if (g_rand_boolean(rnd)) {
            qtest_readl(vm, E1000E_BAR3_ADDR + off);
        } else {
            qtest_writel(vm, E1000E_BAR3_ADDR + off, v);
        }
        break;
    default:
        off = g_rand_int_range(rnd, 0, 32) & ~(w - 1);
        if (g_rand_boolean(rnd)) {
            w == 1 ? qtest_inb(vm, BAR1_PORT + off) :
            w == 2 ? qtest_inw(vm, BAR1_PORT + off) :
                     qtest_inl(vm, BAR1_PORT + off);
        } else {
            w == 1 ? qtest_outb(vm, BAR1_PORT + off, v) :
            w == 2 ? qtest_outw(vm, BAR1_PORT + off, v) :
                     qtest_outl(vm, BAR1_PORT + off, v);
        }
        break;
    }
}

static void odd_setup(QTestState *vm)
{
    setup_root_port(vm);
    cfg_write(vm, 0, RP_DEVFN, PCI_IO_BASE, 2, 0xc0c0);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_1, 4, 0);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_2, 4, BAR1_PORT);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_3, 4, E1000E_BAR3_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2,
              PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void test_odd_guest(void)
{
    g_autoptr(GRand) rnd = g_rand_new_with_seed(0x0dd9e57);
    RealEndpoint r;
    QTestState *vm;
    QDict *resp;

    real_endpoint_start(&r, ",completion-timeout=50", "e1000e,romfile=",
                        ",completion-timeout=20");
    vm = r.vm;
    odd_setup(vm);

    /* Transmit ring in its own BAR0, one descriptor made available. */
    qtest_writel(vm, BAR0_ADDR + 0x3800, BAR0_ADDR);          /* TDBAL */
    qtest_writel(vm, BAR0_ADDR + 0x3804, 0);                  /* TDBAH */
    qtest_writel(vm, BAR0_ADDR + 0x3808, 4096);               /* TDLEN */
    qtest_writel(vm, BAR0_ADDR + 0x0400, 1 << 1);             /* TCTL.EN */
    qtest_writel(vm, BAR0_ADDR + 0x3818, 1);                  /* TDT */
    qtest_readl(vm, BAR0_ADDR + 0x8);

    for (int i = 0; i < ODD_OPS; i++) {
        odd_access(vm, rnd);
    }

    /* Afterwards: set up again, and both sides still work. */
    odd_setup(vm);
    qtest_writel(vm, BAR0_ADDR + 0x0, 1u << 26);              /* CTRL.RST */
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x10d38086);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_BASE_ADDRESS_0, 4) & ~0xfu, ==,
                    BAR0_ADDR);
    qtest_writel(vm, BAR0_ADDR + 0x2800, 0x12345600);         /* RDBAL */
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x2800), ==, 0x12345600);
    g_assert_true(vrc_counter(vm, "link-down-fails") == 0);
    resp = qtest_qmp(r.ep, "{ 'execute': 'query-vrc' }");
    g_assert_true(qdict_get_bool(qobject_to(QDict,
                  qlist_peek(qdict_get_qlist(resp, "return"))), "link-up"));
    qobject_unref(resp);
    g_test_message("%d odd accesses: %" PRId64 " timeouts, %" PRId64
                   " refused DMA", ODD_OPS, vrc_counter(vm, "timeouts"),
                   vrc_counter(vm, "dma-refused"));
    real_endpoint_stop(&r);
}

/*
 * Against the real endpoint hosting vrc-dma-bench: one DMA read and one
 * DMA write of 1 MiB, far more than the link's window of frames in flight.
 * The VM side answers the read from its receive thread, which must take in
 * the acks that open the window while it sends the completions.
 */
#define DB_BUF      0x400000u
#define DB_SIZE     (1024 * 1024)
/* vrc-dma-bench's registers (hw/vrc/dma-bench.c). */
#define DB_ID       0x76726364
enum {
    DB_STATUS = 0x04, DB_ADDR = 0x08, DB_ADDR_HI = 0x0c, DB_SIZE_REG = 0x10,
    DB_COUNT = 0x14, DB_CMD = 0x18, DB_SUM = 0x1c, DB_FILL = 0x28,
    DB_TAIL = 0x2c,
};

static void db_run(QTestState *vm, uint32_t cmd)
{
    int64_t end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    uint32_t status;

    qtest_writel(vm, BAR0_ADDR + DB_CMD, cmd);
    /* Each poll is a register read over the link: no busy spinning. */
    do {
        status = qtest_readl(vm, BAR0_ADDR + DB_STATUS);
    } while (status & 1 && g_get_monotonic_time() < end);
    g_assert_cmphex(status, ==, 0);
}

/*
 * A real endpoint hosting vrc-dma-bench (@opts on both sides), its BAR0
 * mapped, set to move @count times DB_SIZE bytes of fill byte @fill at
 * DB_BUF.  Returns the VM.
 */
/*
 * A remote vrc-dma-bench (@ep_opts, @vrc_opts: each side's options), its
 * BAR and bus mastering on, its ADDR, SIZE and COUNT set.
 */
static QTestState *db_open(RealEndpoint *r, const char *ep_opts,
                           const char *vrc_opts, uint32_t addr, uint32_t size,
                           uint32_t count)
{
    QTestState *vm;

    real_endpoint_start(r, ep_opts, "vrc-dma-bench", vrc_opts);
    vm = r->vm;
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, DB_ID);
    qtest_writel(vm, BAR0_ADDR + DB_ADDR, addr);
    qtest_writel(vm, BAR0_ADDR + DB_ADDR_HI, 0);
    qtest_writel(vm, BAR0_ADDR + DB_SIZE_REG, size);
    qtest_writel(vm, BAR0_ADDR + DB_COUNT, count);
    return vm;
}

static QTestState *db_start(RealEndpoint *r, const char *opts,
                            unsigned count, uint8_t fill)
{
    QTestState *vm = db_open(r, opts, opts, DB_BUF, DB_SIZE, count);

    qtest_writel(vm, BAR0_ADDR + DB_FILL, fill);
    return vm;
}

/* Every byte of the buffer at DB_BUF is @fill. */
static void db_check_fill(QTestState *vm, uint8_t fill)
{
    g_autofree uint8_t *back = g_malloc(DB_SIZE);

    qtest_memread(vm, DB_BUF, back, DB_SIZE);
    for (int i = 0; i < DB_SIZE; i++) {
        if (back[i] != fill) {
            g_assert_cmphex(back[i], ==, fill);
        }
    }
}

/*
 * 1 MiB of DMA each way through vrc-dma-bench; @data: options for both
 * sides (poll-us: the endpoint spins for its completions, the vCPU for
 * its reads' completions).
 */
static void test_real_endpoint_dma_1m(const void *data)
{
    const char *opts = data;
    RealEndpoint r;
    QTestState *vm = db_start(&r, opts, 1, 0x3c);
    int64_t mrd0, mwr0;

    /* Read: the device sums what it got. */
    qtest_memset(vm, DB_BUF, 0xa5, DB_SIZE);
    mrd0 = vrc_tlp_counter(vm, "tlps-rx", "mrd");
    db_run(vm, 1);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==, DB_SIZE * 0xa5u);
    /* One MRd per Max Read Request Size (4096). */
    g_assert_cmpint(vrc_tlp_counter(vm, "tlps-rx", "mrd") - mrd0, ==,
                    DB_SIZE / 4096);

    /* Write: the buffer fills with the device's byte. */
    mwr0 = vrc_tlp_counter(vm, "tlps-rx", "mwr");
    db_run(vm, 2);
    db_check_fill(vm, 0x3c);
    g_test_message("1 MiB DMA write took %" PRId64 " MWr TLPs",
                   vrc_tlp_counter(vm, "tlps-rx", "mwr") - mwr0);
    g_assert_cmpint(vrc_counter(vm, "timeouts"), ==, 0);

    real_endpoint_stop(&r);
}

/*
 * A function that streams DMA writes (16 MiB back to back) while a vCPU
 * waits on its status register, reading the link itself meanwhile.  The
 * link acks what is read, so whoever reads must run the writes before
 * taking in more: about 256 wait to run at most, not the 12288 (all of
 * them) a reader that emptied the transport first queued.  Every byte
 * lands.
 */
static void test_real_endpoint_write_stream(void)
{
    const unsigned count = 16;
    RealEndpoint r;
    QTestState *vm = db_start(&r, "", count, 0x5a);
    int64_t queued;

    qtest_memset(vm, DB_BUF, 0, DB_SIZE);
    db_run(vm, 2);
    db_check_fill(vm, 0x5a);
    queued = vrc_counter(vm, "requests-queued-max");
    g_test_message("%u MiB of writes: %" PRId64 " MWr, at most %" PRId64
                   " waiting to run, %" PRId64 " frames read by the waiting "
                   "vCPU", count, vrc_tlp_counter(vm, "tlps-rx", "mwr"),
                   queued, vrc_counter(vm, "frames-rx-by-waiter"));
    g_assert_cmpint(queued, >, 0);
    /* Fewer than 256, plus the last burst read: 32 frames of one write
     * each (the last may carry the flush read too). */
    g_assert_cmpint(queued, <=, 256 + 32);
    g_assert_cmpint(vrc_counter(vm, "timeouts"), ==, 0);
    real_endpoint_stop(&r);
}

/*
 * The endpoint's read-ahead, with vrc-dma-bench walking a buffer in 4-byte
 * reads as a device walks its ring.  @data: the endpoint's options.  With
 * read-ahead a walk of 1 KiB takes a few MRd instead of one per read, and
 * the device never reads stale memory: what the guest wrote before an MMIO
 * write reaches the device after it, and the device reads back what it
 * wrote itself.
 */
static void test_real_endpoint_readahead(const void *data)
{
    const char *ep_opts = data;
    bool on = !strstr(ep_opts, "read-ahead=off");
    RealEndpoint r;
    QTestState *vm;
    int64_t mrd0, mrds;
    g_autofree char *info = NULL;

    vm = db_open(&r, ep_opts, "", DB_BUF, 4, 256);

    qtest_memset(vm, DB_BUF, 1, 1024);
    mrd0 = vrc_tlp_counter(vm, "tlps-rx", "mrd");
    db_run(vm, 3);
    mrds = vrc_tlp_counter(vm, "tlps-rx", "mrd") - mrd0;
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==, 1024);
    g_test_message("a walk of 256 reads of 4 bytes took %" PRId64 " MRd", mrds);
    if (on) {
        g_assert_cmpint(mrds, <=, 2 * 4);
    } else {
        g_assert_cmpint(mrds, ==, 256);
    }

    /*
     * The guest writes its memory, then the MMIO write that starts a run.
     * With doorbell pushes the run's first reads come with that write
     * (encap/push.h): still what the guest wrote, each time, also when
     * the buffer moves (the push then holds what the walk read before).
     */
    for (int i = 0; i < 12; i++) {
        uint32_t buf = DB_BUF + (i / 4 % 2) * 0x2000;

        qtest_writel(vm, BAR0_ADDR + DB_ADDR, buf);
        qtest_memset(vm, buf, 2 + i, 1024);
        db_run(vm, 3);
        g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==,
                        1024 * (2 + i));
    }
    qtest_writel(vm, BAR0_ADDR + DB_ADDR, DB_BUF);

    /* The device reads, writes the same bytes and reads them back. */
    qtest_memset(vm, DB_BUF, 1, 1024);
    qtest_writel(vm, BAR0_ADDR + DB_SIZE_REG, 16);
    qtest_writel(vm, BAR0_ADDR + DB_FILL, 0x11);
    db_run(vm, 4);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==, 16 * 0x11);
    g_assert_cmphex(qtest_readb(vm, DB_BUF + 15), ==, 0x11);
    g_assert_cmphex(qtest_readb(vm, DB_BUF + 16), ==, 1);

    /* ... and its walk after that sees its own write too. */
    qtest_writel(vm, BAR0_ADDR + DB_SIZE_REG, 4);
    db_run(vm, 3);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==,
                    16 * 0x11 + 1024 - 16);

    info = qtest_hmp(r.ep, "info vrc");
    g_test_message("%s", info);
    g_assert_true(!!strstr(info, "read-ahead hits") == on);
    if (on && !strstr(ep_opts, "x-push=off")) {
        const char *p = strstr(info, "doorbell pushes");
        unsigned pushes = 0, stale = 0, served = 0;

        g_assert_nonnull(p);
        g_assert_cmpint(sscanf(p, "doorbell pushes %u (stale %u, overtaken "
                               "%*u) served %u", &pushes, &stale, &served),
                        ==, 3);
        /* After the first walk, and after each move of the buffer, the
         * endpoint says what to push; the other walks are served. */
        g_assert_cmpuint(served, >=, 9);
    } else {
        g_assert_null(strstr(info, "doorbell pushes"));
    }
    g_assert_cmpint(vrc_counter(vm, "timeouts"), ==, 0);
    real_endpoint_stop(&r);
}

/*
 * A transmit ring, as a NIC's: vrc-dma-bench's TAIL doorbell reads the
 * descriptor before the tail, then the buffer it points at.  With pushes
 * the endpoint learns where that pointer sits (a chase, encap/push.h) and
 * the vrc pushes the buffer along with the descriptor.  Each doorbell's
 * buffer has new bytes, and buffers are reused at the same addresses with
 * other bytes: a copy that served what the device should not see would
 * show in the sum.  @data: the endpoint's options.
 */
#define TX_RING     0x600000u
#define TX_BUFS     0x610000u
#define TX_DESCS    16u

static void test_real_endpoint_chase(const void *data)
{
    const char *ep_opts = data;
    bool push = !strstr(ep_opts, "x-push=off");
    RealEndpoint r;
    QTestState *vm;
    g_autofree char *info = NULL, *vinfo = NULL;
    const char *p;
    unsigned later = 0, chases = 0;

    vm = db_open(&r, ep_opts, "", TX_RING, 16, TX_DESCS);
    qtest_memset(vm, TX_RING, 0, TX_DESCS * 16);

    for (unsigned i = 0; i < 40; i++) {
        uint32_t tail = (i + 1) % TX_DESCS;
        uint32_t desc = TX_RING + 16 * ((tail + TX_DESCS - 1) % TX_DESCS);
        uint64_t buf = TX_BUFS + (i % 5) * 0x1000 + (i * 18) % 256;
        uint16_t len = 60 + (i * 37) % 360;
        uint8_t fill = 3 + i;

        qtest_memset(vm, buf, fill, len);
        qtest_writeq(vm, desc, buf);
        qtest_writew(vm, desc + 8, len);
        qtest_writel(vm, BAR0_ADDR + DB_TAIL, tail);
        g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_STATUS), ==, 0);
        g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + DB_SUM), ==,
                        (uint32_t)len * fill);
    }

    info = qtest_hmp(r.ep, "info vrc");
    g_test_message("%s", info);
    p = strstr(info, " after the first");
    if (push) {
        g_assert_nonnull(p);
        while (p > info && p[-1] != ' ') {
            p--;
        }
        later = strtoul(p, NULL, 10);
        g_assert_nonnull(strstr(info, "chases "));
        chases = strtoul(strstr(info, "chases ") + 7, NULL, 10);
        /*
         * Three doorbells teach the stride, the fourth's first read
         * carries it in a HINT; from the fifth on, every doorbell but the
         * ones where the ring wraps (tail 0: the descriptor before it is
         * the ring's last) has its buffer served from the push.
         */
        g_assert_cmpuint(chases, >=, 1);
        g_assert_cmpuint(later, >=, 24);
        /* The vrc's side of it: every chased buffer was pushed. */
        g_assert_cmpint(vrc_counter(vm, "hints"), >=, 2);
        g_assert_cmpint(vrc_counter(vm, "pushes"), >=, 36);
        g_assert_cmpint(vrc_counter(vm, "pushes-chased"), >=, later);
        vinfo = qtest_hmp(vm, "info vrc");
        g_test_message("%s", vinfo);
        g_assert_nonnull(strstr(vinfo, "doorbells pushed "));
    } else {
        g_assert_null(p);
        /* No HINT, so nothing to push. */
        g_assert_cmpint(vrc_counter(vm, "hints"), ==, 0);
        g_assert_cmpint(vrc_counter(vm, "pushes"), ==, 0);
    }
    g_assert_cmpint(vrc_counter(vm, "timeouts"), ==, 0);
    real_endpoint_stop(&r);
}

/*
 * Two vrc ports in one VM, each with its own endpoint (edu behind one,
 * vrc-dma-bench behind the other): each function is reached through its
 * own port, and query-vrc reports each link on its own.
 */
static void test_two_ports(void)
{
    g_autofree char *dir = g_dir_make_tmp("vrc-qtest-XXXXXX", NULL);
    g_autofree char *p0 = g_build_filename(dir, "ep0.sock", NULL);
    g_autofree char *p1 = g_build_filename(dir, "ep1.sock", NULL);
    QTestState *ep0, *ep1, *vm;
    QDict *r;
    QList *l;
    QListEntry *e;
    int n = 0;

    ep0 = qtest_initf("-machine vrc-endpoint,socket=%s -nodefaults "
                      "-device edu", p0);
    ep1 = qtest_initf("-machine vrc-endpoint,socket=%s -nodefaults "
                      "-device vrc-dma-bench", p1);
    vm = qtest_initf("-machine q35 -nodefaults "
                     "-device vrc,id=vrc0,socket=%s,chassis=1,addr=02.0 "
                     "-device vrc,id=vrc1,socket=%s,chassis=2,addr=03.0",
                     p0, p1);
    /* Port 00:02.0: bus 1, 0xfe000000..; port 00:03.0: bus 2, 0xfe100000... */
    setup_root_port(vm);
    cfg_write(vm, 0, QPCI_DEVFN(3, 0), PCI_PRIMARY_BUS, 4, 0x00020200);
    cfg_write(vm, 0, QPCI_DEVFN(3, 0), PCI_MEMORY_BASE, 4, 0xfe10fe10);
    cfg_write(vm, 0, QPCI_DEVFN(3, 0), PCI_COMMAND, 2, 0x7);
    g_assert_cmphex(cfg_read(vm, 1, 0, PCI_VENDOR_ID, 4), ==, 0x11e81234);
    g_assert_cmphex(cfg_read(vm, 2, 0, PCI_VENDOR_ID, 4), ==, 0x11f01234);
    cfg_write(vm, 1, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR);
    cfg_write(vm, 1, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cfg_write(vm, 2, 0, PCI_BASE_ADDRESS_0, 4, BAR0_ADDR + 0x100000);
    cfg_write(vm, 2, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);

    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR), ==, 0x010000ed);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x100000), ==, DB_ID);
    qtest_writel(vm, BAR0_ADDR + 4, 0x0f0f0f0f);
    qtest_writel(vm, BAR0_ADDR + 0x100000 + DB_SIZE_REG, 4321);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 4), ==, 0xf0f0f0f0);
    g_assert_cmphex(qtest_readl(vm, BAR0_ADDR + 0x100000 + DB_SIZE_REG), ==, 4321);

    r = qtest_qmp(vm, "{ 'execute': 'query-vrc' }");
    l = qdict_get_qlist(r, "return");
    QLIST_FOREACH_ENTRY(l, e) {
        QDict *info = qobject_to(QDict, qlist_entry_obj(e));
        const char *id = qdict_get_str(info, "id");

        g_assert_true(qdict_get_bool(info, "link-up"));
        g_assert_true(g_str_equal(id, "vrc0") || g_str_equal(id, "vrc1"));
        /* Each link carried its own reads: 2 MRd each, at least. */
        g_assert_cmpint(qdict_get_int(qdict_get_qdict(info, "tlps-tx"), "mrd"),
                        >=, 2);
        n++;
    }
    g_assert_cmpint(n, ==, 2);
    qobject_unref(r);

    qtest_quit(vm);
    qtest_quit(ep0);
    qtest_quit(ep1);
    unlink(p0);
    unlink(p1);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/vrc/config", test_config);
    qtest_add_func("/vrc/mmio-widths", test_mmio_widths);
    qtest_add_func("/vrc/pio", test_pio);
    qtest_add_func("/vrc/timeout-and-ur", test_timeout_and_ur);
    qtest_add_func("/vrc/dma", test_dma);
    qtest_add_func("/vrc/dma-loop", test_dma_loop);
    qtest_add_func("/vrc/intx", test_intx);
    qtest_add_func("/vrc/intx-link-down", test_intx_link_down);
    qtest_add_func("/vrc/stale-completion", test_stale_completion);
    qtest_add_func("/vrc/request-credit", test_request_credit);
    qtest_add_func("/vrc/msi", test_msi);
    qtest_add_func("/vrc/real-endpoint-edu", test_real_endpoint_edu);
    qtest_add_func("/vrc/waiter-reads", test_waiter_reads);
    qtest_add_func("/vrc/real-endpoint-intx", test_real_endpoint_intx);
    qtest_add_func("/vrc/real-endpoint-deferred-writes",
                   test_real_endpoint_deferred_writes);
    qtest_add_func("/vrc/real-endpoint-e1000e", test_real_endpoint_e1000e);
    qtest_add_func("/vrc/real-endpoint-write-stream",
                   test_real_endpoint_write_stream);
    qtest_add_data_func("/vrc/real-endpoint-dma-1m", "",
                        test_real_endpoint_dma_1m);
    qtest_add_data_func("/vrc/real-endpoint-dma-1m-poll-us", ",poll-us=100",
                        test_real_endpoint_dma_1m);
    qtest_add_data_func("/vrc/real-endpoint-readahead", "",
                        test_real_endpoint_readahead);
    qtest_add_data_func("/vrc/real-endpoint-readahead-off", ",read-ahead=off",
                        test_real_endpoint_readahead);
    qtest_add_data_func("/vrc/real-endpoint-chase", "",
                        test_real_endpoint_chase);
    qtest_add_data_func("/vrc/real-endpoint-chase-push-off", ",x-push=off",
                        test_real_endpoint_chase);
    qtest_add_data_func("/vrc/real-endpoint-push-off", ",x-push=off",
                        test_real_endpoint_readahead);
    qtest_add_func("/vrc/two-ports", test_two_ports);
    qtest_add_func("/vrc/endpoint-busy", test_endpoint_busy);
    qtest_add_func("/vrc/endpoint-next-vm", test_endpoint_next_vm);
    qtest_add_func("/vrc/stray-vrc", test_stray_vrc);
    qtest_add_func("/vrc/endpoint-credit", test_endpoint_credit);
    qtest_add_func("/vrc/stray-endpoint", test_stray_endpoint);
    qtest_add_func("/vrc/reset-reaches-endpoint", test_reset_reaches_endpoint);
    qtest_add_func("/vrc/odd-guest", test_odd_guest);
    qtest_add_func("/vrc/endpoint-dies", test_endpoint_dies);
    qtest_add_func("/vrc/slot", test_slot);
    qtest_add_func("/vrc/no-function", test_no_function);
    qtest_add_func("/vrc/function-leaves-under-load",
                   test_function_leaves_under_load);
    return g_test_run();
}
