/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: DISC over encap transports (docs/protocol.md section 5).
 *
 * One CdLink per --interface: a pcap transport whose fd the main loop
 * watches.  SOLICIT at start and every solicit_s seconds; ANNOUNCEs keep
 * the inventory (cd->endpoints) and its liveness; ASSIGN/RELEASE are
 * transactions (CdTxn, one per endpoint function at a time) resent until
 * ACKed or out of tries.  With a key (cd->key) every DISC frame sent is
 * signed and only signed ones are taken (protocol.md 5.4).  Main loop
 * thread only.
 */
#include <errno.h>
#include <glib-unix.h>
#include <string.h>

#include "configd.h"
#include "encap/frame.h"
#include "encap/transport.h"

/* Resend delays of an ASSIGN/RELEASE (protocol.md 5.1), ms. */
static const guint retry_ms[] = { 200, 400, 800, 1000, 1000 };
#define LIVENESS_MS 200
#define RX_BURST 256

struct CdLink {
    Configd *cd;
    char *ifname;
    struct encap_transport *t;
    uint8_t mac[6];
    guint watch;
};

typedef struct {
    Configd *cd;
    char *endpoint;
    CdLink *link;
    uint8_t dst[6];
    struct encap_disc req;
    CdAssignment *a;            /* ASSIGN: what was recorded */
    guint tries;
    guint timer;
    gint64 started;
    CdDoneFunc done;            /* NULL: configd's own (reconciling) */
    gpointer opaque;
} CdTxn;

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void endpoint_event(Configd *cd, const char *name, const CdEndpoint *e)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    JsonNode *ev;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "endpoint");
    json_builder_add_value(b, cd_json_endpoint(cd, e));
    json_builder_end_object(b);
    ev = json_builder_get_root(b);
    cd_api_event(cd, NULL, ev);
    json_node_unref(ev);
}

static void assignment_event(Configd *cd, const char *name,
                             const CdAssignment *a, const GError *err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    JsonNode *ev;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "assignment");
    json_builder_add_value(b, cd_json_assignment(a));
    if (err) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, err->message);
    }
    json_builder_end_object(b);
    ev = json_builder_get_root(b);
    cd_api_event(cd, a->vm, ev);
    json_node_unref(ev);
}

static void persist(Configd *cd, const CdEndpoint *e)
{
    g_autoptr(GError) err = NULL;

    if (!cd_store_put_endpoint(cd->store, e, &err)) {
        g_warning("%s", err->message);
    }
}

static int send_disc(CdLink *l, const uint8_t dst[6], const struct encap_disc *d)
{
    uint8_t buf[ENCAP_DISC_FRAME_MAX];
    int n = encap_disc_frame_signed(dst, l->mac, FALSE, d, l->cd->key,
                                    g_get_real_time(), buf, sizeof(buf));

    if (n < 0) {
        return n;
    }
    n = encap_transport_send(l->t, buf, n);
    if (n < 0 && l->cd->verbose) {
        g_message("%s: sending %s: %s", l->ifname, encap_disc_op_name(d->op),
                  g_strerror(-n));
    }
    return n;
}

void cd_disc_solicit(Configd *cd)
{
    struct encap_disc d = { .op = ENCAP_DISC_SOLICIT };

    for (guint i = 0; i < cd->links->len; i++) {
        d.xid = ++cd->next_xid;
        send_disc(g_ptr_array_index(cd->links, i), broadcast, &d);
    }
}

static CdLink *link_by_name(Configd *cd, const char *ifname)
{
    for (guint i = 0; i < cd->links->len; i++) {
        CdLink *l = g_ptr_array_index(cd->links, i);

        if (g_strcmp0(l->ifname, ifname) == 0) {
            return l;
        }
    }
    return NULL;
}

guint16 cd_slot_bdf(guint slot, guint fn)
{
    /* Hot-plug slot N is a root port whose secondary bus is N + 1; the
     * function is device 0 function 0 there (docs/configd.md). */
    return (guint16)((slot + 1) << 8);
}

char *cd_endpoint_resolve(Configd *cd, const char *name)
{
    g_autofree char *id = NULL;
    uint8_t mac[6];
    char buf[18];
    const char *dot;
    guint fn = 0;

    if (!name) {
        return NULL;
    }
    dot = strchr(name, '.');
    if (dot) {
        g_autofree char *m = g_strndup(name, dot - name);
        char *end;

        fn = strtoul(dot + 1, &end, 10);
        if (*end || end == dot + 1 || !cd_mac_parse(m, mac)) {
            return NULL;
        }
    } else if (!cd_mac_parse(name, mac)) {
        return NULL;
    }
    id = g_strdup_printf("%s.%u", cd_mac_format(mac, buf), fn);
    return g_hash_table_contains(cd->endpoints, id) ? g_steal_pointer(&id) : NULL;
}

/* Transactions */

static void txn_free(CdTxn *x)
{
    if (x->timer) {
        g_source_remove(x->timer);
    }
    cd_assignment_free(x->a);
    g_free(x->endpoint);
    g_free(x);
}

static void txn_finish(CdTxn *x, const GError *err)
{
    Configd *cd = x->cd;
    CdAssignment fallback = { .endpoint = x->endpoint, .vm = NULL };
    const CdAssignment *a = x->a ? x->a : &fallback;

    /* Out of the table first: done() may start the next transaction. */
    g_hash_table_steal(cd->txns, x->endpoint);
    if (x->done) {
        x->done(cd, a, err, x->opaque);
    } else if (err) {
        g_message("endpoint %s: %s", x->endpoint, err->message);
    }
    txn_free(x);
}

/* Undo a recorded attach under a further generation. */
static void unrecord(Configd *cd, const char *endpoint, guint64 gen)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(CdAssignment) a = cd_store_get_assignment(cd->store, endpoint, NULL);
    guint64 cur = 0;

    if (!a || a->generation != gen) {
        return;     /* something newer happened meanwhile */
    }
    if (!cd_store_get_generation(cd->store, endpoint, &cur, &err) ||
        !cd_store_cas_assignment(cd->store, endpoint, cur, NULL, NULL, &err)) {
        g_warning("endpoint %s: undoing the attach: %s", endpoint, err->message);
    }
}

static gboolean txn_timeout(gpointer opaque);

static void txn_send(CdTxn *x)
{
    send_disc(x->link, x->dst, &x->req);
    x->timer = g_timeout_add(retry_ms[x->tries], txn_timeout, x);
    x->tries++;
}

static gboolean txn_timeout(gpointer opaque)
{
    CdTxn *x = opaque;
    g_autoptr(GError) err = NULL;

    x->timer = 0;
    if (x->tries < G_N_ELEMENTS(retry_ms)) {
        txn_send(x);
        return G_SOURCE_REMOVE;
    }
    if (x->req.op == ENCAP_DISC_ASSIGN) {
        unrecord(x->cd, x->endpoint, x->req.generation);
        g_set_error(&err, CD_ERROR, CD_ERROR_TIMEOUT,
                    "endpoint %s did not acknowledge the ASSIGN (%u tries in "
                    "%.1f s); nothing is assigned", x->endpoint, x->tries,
                    (g_get_monotonic_time() - x->started) / 1e6);
    } else {
        g_set_error(&err, CD_ERROR, CD_ERROR_TIMEOUT,
                    "endpoint %s did not acknowledge the RELEASE; it is recorded "
                    "free and will be released when it announces again",
                    x->endpoint);
    }
    txn_finish(x, err);
    return G_SOURCE_REMOVE;
}

static CdTxn *txn_start(Configd *cd, const CdEndpoint *e, CdLink *l,
                        const struct encap_disc *req, CdAssignment *a,
                        CdDoneFunc done, gpointer opaque)
{
    CdTxn *x = g_new0(CdTxn, 1);

    x->cd = cd;
    x->endpoint = g_strdup(e->id);
    x->link = l;
    memcpy(x->dst, e->mac, 6);
    x->req = *req;
    x->req.function = e->fn;
    x->req.xid = ++cd->next_xid;
    x->a = a;
    x->done = done;
    x->opaque = opaque;
    x->started = g_get_monotonic_time();
    g_hash_table_insert(cd->txns, x->endpoint, x);
    txn_send(x);
    return x;
}

static gboolean start_assign(Configd *cd, const CdEndpoint *e, CdAssignment *a,
                             CdDoneFunc done, gpointer opaque, GError **errp)
{
    g_autoptr(CdVm) v = cd_store_get_vm(cd->store, a->vm, errp);
    CdLink *l = link_by_name(cd, e->ifname);
    struct encap_disc d = { .op = ENCAP_DISC_ASSIGN };

    if (!v || !l) {
        if (!l) {
            g_set_error(errp, CD_ERROR, CD_ERROR_GONE,
                        "endpoint %s was heard on %s, which configd does not "
                        "listen on", e->id, e->ifname);
        }
        cd_assignment_free(a);
        return FALSE;
    }
    d.rc_id = v->rc_id;
    memcpy(d.owner_mac, v->mac, 6);
    d.bdf = a->bdf;
    d.generation = a->generation;
    txn_start(cd, e, l, &d, a, done, opaque);
    return TRUE;
}

static void start_release(Configd *cd, const CdEndpoint *e, guint64 gen,
                          CdAssignment *a, CdDoneFunc done, gpointer opaque)
{
    struct encap_disc d = { .op = ENCAP_DISC_RELEASE, .generation = gen };
    CdLink *l = link_by_name(cd, e->ifname);

    d.rc_id = e->owner_rc;
    memcpy(d.owner_mac, e->owner_mac, 6);
    if (!l) {
        cd_assignment_free(a);
        return;
    }
    txn_start(cd, e, l, &d, a, done, opaque);
}

/*
 * Bring an endpoint in line with the store: an ASSIGN again for one that
 * forgot (it restarted), a RELEASE for one still serving a detached owner.
 */
static void reconcile(Configd *cd, CdEndpoint *e)
{
    g_autoptr(GError) err = NULL;
    CdAssignment *a;
    guint64 gen = 0;

    if (!e->up || g_hash_table_contains(cd->txns, e->id)) {
        return;
    }
    a = cd_store_get_assignment(cd->store, e->id, &err);
    if (err || !cd_store_get_generation(cd->store, e->id, &gen, &err)) {
        g_warning("%s", err->message);
        cd_assignment_free(a);
        return;
    }
    if (a && e->generation < a->generation) {
        if (cd->verbose) {
            g_message("endpoint %s holds generation %" G_GUINT64_FORMAT
                      ", assignment is %" G_GUINT64_FORMAT ": ASSIGN again",
                      e->id, e->generation, a->generation);
        }
        if (!start_assign(cd, e, a, NULL, NULL, &err)) {
            g_warning("%s", err->message);
        }
        return;
    }
    if (!a && e->owner_rc && e->generation < gen) {
        start_release(cd, e, gen, NULL, NULL, NULL);
    }
    cd_assignment_free(a);
}

static void reconcile_all(Configd *cd)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, cd->endpoints);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        reconcile(cd, v);
    }
}

/* Receiving */

static void set_owner_from(CdEndpoint *e, const struct encap_disc *d)
{
    e->generation = d->generation;
    e->owner_rc = d->state == ENCAP_DISC_ASSIGNED ? d->rc_id : 0;
    memcpy(e->owner_mac, d->owner_mac, 6);
    e->bdf = d->bdf;
}

static gboolean same_endpoint(const CdEndpoint *a, const CdEndpoint *b)
{
    return memcmp(a->mac, b->mac, 6) == 0 && a->fn == b->fn &&
           a->functions == b->functions && a->vendor_id == b->vendor_id &&
           a->device_id == b->device_id && a->subsys_vendor == b->subsys_vendor &&
           a->subsys_id == b->subsys_id && a->class_rev == b->class_rev &&
           a->serial == b->serial && memcmp(a->bars, b->bars, 12) == 0 &&
           a->generation == b->generation && a->owner_rc == b->owner_rc &&
           memcmp(a->owner_mac, b->owner_mac, 6) == 0 && a->bdf == b->bdf &&
           a->interval_ms == b->interval_ms;
}

static void handle_announce(CdLink *l, const uint8_t src[6],
                            const struct encap_disc *d)
{
    Configd *cd = l->cd;
    char macs[18];
    g_autofree char *id = g_strdup_printf("%s.%u", cd_mac_format(src, macs),
                                          d->function);
    CdEndpoint *e = g_hash_table_lookup(cd->endpoints, id);
    CdEndpoint old;
    gboolean fresh = !e, was_up, moved = FALSE;

    if (!e) {
        e = g_new0(CdEndpoint, 1);
        e->id = g_steal_pointer(&id);
        g_hash_table_insert(cd->endpoints, e->id, e);
    }
    old = *e;
    was_up = e->up;
    memcpy(e->mac, src, 6);
    e->fn = d->function;
    e->functions = d->functions;
    e->vendor_id = d->vendor_id;
    e->device_id = d->device_id;
    e->subsys_vendor = d->subsys_vendor;
    e->subsys_id = d->subsys_id;
    e->class_rev = d->class_rev;
    e->serial = d->serial;
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        e->bars[2 * i] = d->bars[i].log2_size;
        e->bars[2 * i + 1] = d->bars[i].flags;
    }
    if (g_strcmp0(e->ifname, l->ifname) != 0) {
        g_free(e->ifname);
        e->ifname = g_strdup(l->ifname);
        moved = TRUE;
    }
    set_owner_from(e, d);
    e->interval_ms = d->interval_ms;
    e->last_seen = g_get_real_time();
    e->up = TRUE;

    /* A heartbeat that changes nothing is not written to the store. */
    if (!fresh && was_up && !moved && same_endpoint(&old, e)) {
        return;
    }
    persist(cd, e);
    endpoint_event(cd, was_up ? "endpoint-changed" : "endpoint-up", e);
    reconcile(cd, e);
}

static void handle_ack(CdLink *l, const uint8_t src[6], const struct encap_disc *d)
{
    Configd *cd = l->cd;
    char macs[18];
    g_autofree char *id = g_strdup_printf("%s.%u", cd_mac_format(src, macs),
                                          d->function);
    CdTxn *x = g_hash_table_lookup(cd->txns, id);
    CdEndpoint *e = g_hash_table_lookup(cd->endpoints, id);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) serr = NULL;

    if (!x || x->req.xid != d->xid || x->req.op != d->acked_op) {
        cd->acks_unmatched++;
        return;
    }
    if (e) {
        set_owner_from(e, d);
        e->last_seen = g_get_real_time();
    }
    if (d->status == ENCAP_DISC_OK) {
        if (x->req.op == ENCAP_DISC_ASSIGN) {
            if (!cd_store_set_state(cd->store, id, x->req.generation,
                                    CD_ASSIGN_ACTIVE, &serr)) {
                /* A detach overtook it: the RELEASE that follows wins. */
                g_message("endpoint %s: %s", id, serr->message);
            }
            x->a->state = CD_ASSIGN_ACTIVE;
            assignment_event(cd, "attached", x->a, NULL);
        } else if (x->a) {
            assignment_event(cd, "detached", x->a, NULL);
        }
        if (e) {
            persist(cd, e);
        }
        txn_finish(x, NULL);
        return;
    }
    if (d->status == ENCAP_DISC_STALE) {
        /* Someone newer owns it: never ask with this generation again. */
        if (!cd_store_raise_generation(cd->store, id, d->generation, &serr)) {
            g_warning("%s", serr->message);
        }
        g_set_error(&err, CD_ERROR, CD_ERROR_STALE,
                    "endpoint %s refused %s generation %" G_GUINT64_FORMAT
                    ": it holds generation %" G_GUINT64_FORMAT " (rc id %u); "
                    "its assignment changed elsewhere", id,
                    encap_disc_op_name(x->req.op), x->req.generation,
                    d->generation, d->rc_id);
    } else {
        g_set_error(&err, CD_ERROR, CD_ERROR_REFUSED,
                    "endpoint %s refused the %s (%s)", id,
                    encap_disc_op_name(x->req.op),
                    d->status == ENCAP_DISC_NO_FUNCTION ? "no such function"
                                                        : "bad owner or BDF");
    }
    if (x->req.op == ENCAP_DISC_ASSIGN) {
        unrecord(cd, id, x->req.generation);
    }
    if (e) {
        persist(cd, e);
    }
    txn_finish(x, err);
}

/*
 * A signed ANNOUNCE no later than the last one taken from its function is
 * a recording sent again (protocol.md 5.4): it must not bring back an
 * older state or keep a silent function up.
 */
static gboolean announce_replayed(Configd *cd, const uint8_t src[6],
                                  const struct encap_disc *d)
{
    char macs[18];
    g_autofree char *id = NULL;
    CdEndpoint *e;

    if (!cd->key || d->op != ENCAP_DISC_ANNOUNCE) {
        return FALSE;
    }
    id = g_strdup_printf("%s.%u", cd_mac_format(src, macs), d->function);
    e = g_hash_table_lookup(cd->endpoints, id);
    if (!e) {
        return FALSE;
    }
    if (d->time_us <= e->announce_time) {
        return TRUE;
    }
    e->announce_time = d->time_us;
    return FALSE;
}

guint64 cd_disc_auth_drops(const Configd *cd)
{
    const guint64 *drops = cd->disc_stats.drops;

    return drops[ENCAP_E_DISC_AUTH] + drops[ENCAP_E_KEY] + drops[ENCAP_E_AUTH] +
           drops[ENCAP_E_REPLAY];
}

static gboolean link_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    CdLink *l = opaque;
    static uint8_t buf[ENCAP_TRANSPORT_MAX_FRAME];
    struct encap_disc d;
    uint8_t src[6];

    for (int i = 0; i < RX_BURST; i++) {
        int n = encap_transport_recv(l->t, buf, sizeof(buf));
        int rc;

        memset(src, 0, sizeof(src));
        if (n <= 0) {
            if (n < 0 && n != -EMSGSIZE && n != -EAGAIN) {
                g_warning("%s: receive: %s", l->ifname, g_strerror(-n));
            }
            break;
        }
        rc = encap_disc_parse_frame_keyed(buf, n, l->cd->key,
                                          g_get_real_time(), src, &d);
        if (rc == 1) {
            continue;       /* DATA/CTRL of some session: not ours */
        }
        if (rc == 0 && announce_replayed(l->cd, src, &d)) {
            rc = -ENCAP_E_REPLAY;
        }
        encap_disc_count(&l->cd->disc_stats, rc);
        if (rc < 0) {
            if (l->cd->verbose) {
                char macs[18];

                g_message("%s: DISC from %s dropped: %s", l->ifname,
                          cd_mac_format(src, macs), encap_strerror(rc));
            }
            continue;
        }
        switch (d.op) {
        case ENCAP_DISC_ANNOUNCE:
            handle_announce(l, src, &d);
            break;
        case ENCAP_DISC_ACK:
            handle_ack(l, src, &d);
            break;
        default:
            break;          /* SOLICIT/ASSIGN/RELEASE of another configd */
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean liveness(gpointer opaque)
{
    Configd *cd = opaque;
    gint64 now = g_get_real_time();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, cd->endpoints);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        CdEndpoint *e = v;
        gint64 limit = (gint64)cd->miss * MAX(e->interval_ms, 100) * 1000;

        if (e->up && now - e->last_seen > limit) {
            e->up = FALSE;
            persist(cd, e);
            endpoint_event(cd, "endpoint-gone", e);
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean periodic_solicit(gpointer opaque)
{
    Configd *cd = opaque;

    cd_disc_solicit(cd);
    reconcile_all(cd);
    return G_SOURCE_CONTINUE;
}

gboolean cd_disc_open(Configd *cd, const char *ifname, GError **errp)
{
    CdLink *l = g_new0(CdLink, 1);
    char why[256] = "";
    int rc = encap_transport_open_pcap(ifname, &l->t, why, sizeof(why));

    if (rc < 0) {
        g_set_error(errp, CD_ERROR, CD_ERROR_USAGE, "interface %s: %s", ifname,
                    why[0] ? why : g_strerror(-rc));
        g_free(l);
        return FALSE;
    }
    l->cd = cd;
    l->ifname = g_strdup(ifname);
    encap_transport_mac(l->t, l->mac);
    l->watch = g_unix_fd_add(encap_transport_fd(l->t), G_IO_IN, link_readable, l);
    if (cd->links->len == 0) {
        g_timeout_add(LIVENESS_MS, liveness, cd);
        g_timeout_add_seconds(cd->solicit_s, periodic_solicit, cd);
    }
    g_ptr_array_add(cd->links, l);
    return TRUE;
}

void cd_disc_close_all(Configd *cd)
{
    for (guint i = 0; i < cd->links->len; i++) {
        CdLink *l = g_ptr_array_index(cd->links, i);

        g_source_remove(l->watch);
        encap_transport_close(l->t);
        g_free(l->ifname);
        g_free(l);
    }
    g_ptr_array_set_size(cd->links, 0);
}

/* The inventory as the store left it: gone until heard again. */
void cd_disc_load(Configd *cd)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) all = cd_store_list_endpoints(cd->store, &err);

    if (!all) {
        g_warning("%s", err->message);
        return;
    }
    for (guint i = 0; i < all->len; i++) {
        CdEndpoint *e = cd_endpoint_copy(g_ptr_array_index(all, i));

        e->up = FALSE;
        g_hash_table_replace(cd->endpoints, e->id, e);
    }
}

/* Attach and detach */

static void fail_now(Configd *cd, CdDoneFunc done, gpointer opaque,
                     const char *endpoint, GError *err)
{
    CdAssignment a = { .endpoint = (char *)endpoint };

    done(cd, &a, err, opaque);
    g_error_free(err);
}

void cd_attach(Configd *cd, const char *name, const char *vm, int slot,
               CdDoneFunc done, gpointer opaque)
{
    g_autofree char *id = cd_endpoint_resolve(cd, name);
    g_autoptr(CdVm) v = NULL;
    g_autoptr(CdAssignment) cur = NULL;
    g_autoptr(GPtrArray) all = NULL;
    CdAssignment *a;
    GError *err = NULL;
    CdEndpoint *e;
    guint64 gen = 0;
    guint64 used = 0;     /* bitmap of slots < 64 in use */

    if (!id) {
        fail_now(cd, done, opaque, name, g_error_new(CD_ERROR,
                 CD_ERROR_UNKNOWN_ENDPOINT, "no endpoint %s has been discovered; "
                 "'vrcctl list' shows those that have", name));
        return;
    }
    e = g_hash_table_lookup(cd->endpoints, id);
    v = cd_store_get_vm(cd->store, vm, NULL);
    if (!v) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_UNKNOWN_VM,
                 "no VM named %s has registered with configd; start it with "
                 "-device vrc,configd=SOCKET ('vrcctl vms' lists them)", vm));
        return;
    }
    cur = cd_store_get_assignment(cd->store, id, &err);
    if (err) {
        err->code = CD_ERROR_STORE;
        err->domain = CD_ERROR;
        fail_now(cd, done, opaque, id, err);
        return;
    }
    /* The owner first: a pending attach (ASSIGN in flight) owns it too. */
    if (cur && g_strcmp0(cur->vm, vm) != 0) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_OWNED,
                 "endpoint %s is owned by %s; detach it there first", id, cur->vm));
        return;
    }
    if (g_hash_table_contains(cd->txns, id)) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_BUSY,
                 "endpoint %s is being assigned or released; try again", id));
        return;
    }
    if (cur) {
        done(cd, cur, NULL, opaque);        /* already there: nothing to do */
        return;
    }
    if (!e->up) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_GONE,
                 "endpoint %s is gone (last heard %.0f s ago); it cannot "
                 "acknowledge an ASSIGN", id,
                 (g_get_real_time() - e->last_seen) / 1e6));
        return;
    }
    all = cd_store_list_assignments(cd->store, NULL);
    for (guint i = 0; all && i < all->len; i++) {
        CdAssignment *o = g_ptr_array_index(all, i);

        if (g_strcmp0(o->vm, vm) == 0 && o->slot < 64) {
            used |= 1ull << o->slot;
            if ((int)o->slot == slot) {
                fail_now(cd, done, opaque, id, g_error_new(CD_ERROR,
                         CD_ERROR_SLOT_BUSY, "slot %d of %s holds endpoint %s; "
                         "pick another slot or detach that one", slot, vm,
                         o->endpoint));
                return;
            }
        }
    }
    if (slot < 0) {
        for (guint s = 0; s < MIN(v->slots, 64u) && slot < 0; s++) {
            if (!(used & (1ull << s))) {
                slot = s;
            }
        }
    }
    if (slot < 0 || (guint)slot >= v->slots) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_NO_SLOT,
                 slot < 0 ? "%s has no free hot-plug slot (%u slots, all "
                            "assigned); detach something from it first"
                          : "%s has %u hot-plug slots (0..%u); slot %d is not one",
                 vm, v->slots, v->slots ? v->slots - 1 : 0, slot));
        return;
    }
    if (!cd_store_get_generation(cd->store, id, &gen, &err)) {
        fail_now(cd, done, opaque, id, err);
        return;
    }
    if (e->generation > gen) {
        /* The endpoint has seen newer decisions than the store remembers. */
        if (!cd_store_raise_generation(cd->store, id, e->generation, &err)) {
            fail_now(cd, done, opaque, id, err);
            return;
        }
        gen = e->generation;
    }
    a = g_new0(CdAssignment, 1);
    a->endpoint = g_strdup(id);
    a->vm = g_strdup(vm);
    a->slot = slot;
    a->bdf = cd_slot_bdf(slot, e->fn);
    a->state = CD_ASSIGN_PENDING;
    if (!cd_store_cas_assignment(cd->store, id, gen, a, &a->generation, &err)) {
        if (g_error_matches(err, CD_STORE_ERROR, CD_STORE_ERROR_OWNED)) {
            GError *e2 = g_error_new(CD_ERROR, CD_ERROR_OWNED,
                                     "endpoint %s is owned by %s; detach it "
                                     "there first", id, err->message);
            g_error_free(err);
            err = e2;
        }
        cd_assignment_free(a);
        fail_now(cd, done, opaque, id, err);
        return;
    }
    if (!start_assign(cd, e, a, done, opaque, &err)) {
        unrecord(cd, id, gen + 1);
        fail_now(cd, done, opaque, id, err);
    }
}

void cd_detach(Configd *cd, const char *name, CdDoneFunc done, gpointer opaque)
{
    g_autofree char *id = cd_endpoint_resolve(cd, name);
    CdAssignment *a;
    GError *err = NULL;
    CdEndpoint *e;
    guint64 gen = 0;

    if (!id) {
        fail_now(cd, done, opaque, name, g_error_new(CD_ERROR,
                 CD_ERROR_UNKNOWN_ENDPOINT, "no endpoint %s has been discovered; "
                 "'vrcctl list' shows those that have", name));
        return;
    }
    e = g_hash_table_lookup(cd->endpoints, id);
    if (g_hash_table_contains(cd->txns, id)) {
        fail_now(cd, done, opaque, id, g_error_new(CD_ERROR, CD_ERROR_BUSY,
                 "endpoint %s is being assigned or released; try again", id));
        return;
    }
    a = cd_store_get_assignment(cd->store, id, &err);
    if (!a) {
        fail_now(cd, done, opaque, id, err ? err : g_error_new(CD_ERROR,
                 CD_ERROR_NOT_ATTACHED, "endpoint %s is not attached to any VM",
                 id));
        return;
    }
    if (!cd_store_get_generation(cd->store, id, &gen, &err) ||
        !cd_store_cas_assignment(cd->store, id, gen, NULL, &gen, &err)) {
        cd_assignment_free(a);
        fail_now(cd, done, opaque, id, err);
        return;
    }
    if (!e->up || !link_by_name(cd, e->ifname)) {
        /* Released when it comes back (reconcile). */
        assignment_event(cd, "detached", a, NULL);
        done(cd, a, NULL, opaque);
        cd_assignment_free(a);
        return;
    }
    start_release(cd, e, gen, a, done, opaque);
}
