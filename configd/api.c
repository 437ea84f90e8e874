/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: the control socket.  A unix stream socket; each line a client
 * sends is one JSON request, each line configd sends is one JSON response
 * (in request order per client) or, after "events" or "vm-register", an
 * event.  docs/configd.md documents every request, response, error and
 * event.  Sockets are non-blocking; output waits in a per-client buffer,
 * and a client that lets it grow past OUT_MAX is disconnected, so a slow
 * reader never blocks the main loop.  Main loop thread only.
 */
#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "configd.h"

#define IN_MAX  (1 << 20)       /* longest request line */
#define OUT_MAX (8 << 20)       /* output a client may leave unread */

typedef struct Api Api;

typedef struct {
    Api *api;
    GSocket *sock;
    GSource *in_src;
    GSource *out_src;
    GString *in;
    GString *out;
    gboolean follow;            /* gets every event */
    char *vm;                   /* the VM this connection registered */
    gboolean dead;
    int refs;                   /* the list, and each request in flight */
} Client;

struct Api {
    Configd *cd;
    GSocket *listener;
    GSource *src;
    char *path;
    GList *clients;
};

static const char *const error_names[CD_ERROR__COUNT] = {
    [CD_ERROR_USAGE] = "usage",
    [CD_ERROR_UNKNOWN_ENDPOINT] = "unknown-endpoint",
    [CD_ERROR_UNKNOWN_VM] = "unknown-vm",
    [CD_ERROR_OWNED] = "owned",
    [CD_ERROR_SLOT_BUSY] = "slot-busy",
    [CD_ERROR_NO_SLOT] = "no-slot",
    [CD_ERROR_NOT_ATTACHED] = "not-attached",
    [CD_ERROR_GONE] = "gone",
    [CD_ERROR_BUSY] = "busy",
    [CD_ERROR_STALE] = "stale",
    [CD_ERROR_REFUSED] = "refused",
    [CD_ERROR_TIMEOUT] = "timeout",
    [CD_ERROR_STORE] = "store",
    [CD_ERROR_VM_CONNECTED] = "vm-connected",
};

G_DEFINE_QUARK(cd-error-quark, cd_error)

const char *cd_error_name(int code)
{
    return code >= 0 && code < CD_ERROR__COUNT ? error_names[code] : "internal";
}

/* JSON of the objects */

static char *bdf_string(guint16 bdf)
{
    return g_strdup_printf("%02x:%02x.%x", bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7);
}

static void add_str(JsonBuilder *b, const char *k, const char *v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v);
}

static void add_int(JsonBuilder *b, const char *k, gint64 v)
{
    json_builder_set_member_name(b, k);
    json_builder_add_int_value(b, v);
}

static void add_hex(JsonBuilder *b, const char *k, unsigned width, guint64 v)
{
    g_autofree char *s = g_strdup_printf("%0*" G_GINT64_MODIFIER "x", width, v);

    add_str(b, k, s);
}

static void add_mac(JsonBuilder *b, const char *k, const uint8_t mac[6])
{
    char buf[18];

    add_str(b, k, cd_mac_format(mac, buf));
}

JsonNode *cd_json_assignment(const CdAssignment *a)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *bdf = bdf_string(a->bdf);

    json_builder_begin_object(b);
    add_str(b, "endpoint", a->endpoint);
    if (a->vm) {
        add_str(b, "vm", a->vm);
        add_int(b, "slot", a->slot);
        add_str(b, "bdf", bdf);
        add_int(b, "generation", a->generation);
        add_str(b, "state", cd_assign_state_name(a->state));
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *cd_json_endpoint(Configd *cd, const CdEndpoint *e)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(CdAssignment) a = cd_store_get_assignment(cd->store, e->id, NULL);
    g_autofree char *bdf = bdf_string(e->bdf);
    guint64 gen = 0;

    cd_store_get_generation(cd->store, e->id, &gen, NULL);
    json_builder_begin_object(b);
    add_str(b, "id", e->id);
    add_mac(b, "mac", e->mac);
    add_int(b, "function", e->fn);
    add_int(b, "functions", e->functions);
    add_hex(b, "vendor", 4, e->vendor_id);
    add_hex(b, "device", 4, e->device_id);
    add_hex(b, "subsys_vendor", 4, e->subsys_vendor);
    add_hex(b, "subsys_id", 4, e->subsys_id);
    add_hex(b, "class", 6, e->class_rev >> 8);
    add_int(b, "revision", e->class_rev & 0xff);
    add_hex(b, "serial", 16, e->serial);
    json_builder_set_member_name(b, "bars");
    json_builder_begin_array(b);
    for (int i = 0; i < ENCAP_DISC_BARS; i++) {
        guint l2 = e->bars[2 * i], fl = e->bars[2 * i + 1];

        if (!l2) {
            continue;
        }
        json_builder_begin_object(b);
        add_int(b, "bar", i);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, l2 < 63 ? (gint64)1 << l2 : G_MAXINT64);
        add_str(b, "type", fl & ENCAP_DISC_BAR_IO ? "io" :
                           fl & ENCAP_DISC_BAR_64 ? "mem64" : "mem32");
        json_builder_set_member_name(b, "prefetchable");
        json_builder_add_boolean_value(b, !!(fl & ENCAP_DISC_BAR_PREFETCH));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    add_str(b, "interface", e->ifname ? e->ifname : "");
    add_str(b, "state", e->up ? "up" : "gone");
    add_int(b, "last_seen_ms", e->last_seen / 1000);
    add_int(b, "interval_ms", e->interval_ms);
    /* What the endpoint says it holds, and what the store decided. */
    add_int(b, "generation", e->generation);
    add_int(b, "store_generation", gen);
    json_builder_set_member_name(b, "owner");
    if (e->owner_rc) {
        json_builder_begin_object(b);
        add_int(b, "rc_id", e->owner_rc);
        add_mac(b, "mac", e->owner_mac);
        add_str(b, "bdf", bdf);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "assignment");
    if (a) {
        json_builder_add_value(b, cd_json_assignment(a));
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *cd_json_vm(Configd *cd, const CdVm *v)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) all = cd_store_list_assignments(cd->store, NULL);

    json_builder_begin_object(b);
    add_str(b, "name", v->name);
    add_int(b, "pid", v->pid);
    add_int(b, "slots", v->slots);
    add_int(b, "rc_id", v->rc_id);
    add_mac(b, "mac", v->mac);
    add_str(b, "state", v->connected ? "connected" : "gone");
    json_builder_set_member_name(b, "assignments");
    json_builder_begin_array(b);
    for (guint i = 0; all && i < all->len; i++) {
        CdAssignment *a = g_ptr_array_index(all, i);

        if (g_strcmp0(a->vm, v->name) == 0) {
            json_builder_add_value(b, cd_json_assignment(a));
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Clients */

static void client_close(Client *c);

static void client_unref(Client *c)
{
    if (--c->refs > 0) {
        return;
    }
    g_string_free(c->in, TRUE);
    g_string_free(c->out, TRUE);
    g_free(c->vm);
    g_object_unref(c->sock);
    g_free(c);
}

static gboolean client_writable(GSocket *s, GIOCondition cond, gpointer opaque);

static void client_flush(Client *c)
{
    while (c->out->len) {
        GError *err = NULL;
        gssize n = g_socket_send(c->sock, c->out->str, c->out->len, NULL, &err);

        if (n < 0) {
            if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                g_error_free(err);
                break;
            }
            g_error_free(err);
            client_close(c);
            return;
        }
        g_string_erase(c->out, 0, n);
    }
    if (c->out->len && !c->out_src) {
        c->out_src = g_socket_create_source(c->sock, G_IO_OUT, NULL);
        g_source_set_callback(c->out_src, (GSourceFunc)(void (*)(void))client_writable,
                              c, NULL);
        g_source_attach(c->out_src, NULL);
    } else if (!c->out->len && c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
        c->out_src = NULL;
    }
}

static gboolean client_writable(GSocket *s, GIOCondition cond, gpointer opaque)
{
    Client *c = opaque;

    c->refs++;
    client_flush(c);
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static void client_send(Client *c, JsonNode *msg)
{
    g_autofree char *line = NULL;

    if (c->dead) {
        return;
    }
    line = json_to_string(msg, FALSE);
    g_string_append(c->out, line);
    g_string_append_c(c->out, '\n');
    if (c->out->len > OUT_MAX) {
        g_message("control client dropped: %zu bytes of output unread", c->out->len);
        client_close(c);
        return;
    }
    client_flush(c);
}

static JsonNode *reply(JsonNode *id, JsonNode *result, const GError *err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_value(b, id ? json_node_copy(id) : json_node_new(JSON_NODE_NULL));
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, err == NULL);
    if (err) {
        json_builder_set_member_name(b, "error");
        json_builder_begin_object(b);
        add_str(b, "code", err->domain == CD_ERROR ? cd_error_name(err->code)
                                                    : "store");
        add_str(b, "message", err->message);
        json_builder_end_object(b);
    } else {
        json_builder_set_member_name(b, "result");
        json_builder_add_value(b, result ? result : json_node_new(JSON_NODE_NULL));
        result = NULL;
    }
    json_builder_end_object(b);
    if (result) {
        json_node_unref(result);
    }
    return json_builder_get_root(b);
}

static void send_reply(Client *c, JsonNode *id, JsonNode *result, const GError *err)
{
    JsonNode *r = reply(id, result, err);

    client_send(c, r);
    json_node_unref(r);
}

static void send_error(Client *c, JsonNode *id, int code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void send_error(Client *c, JsonNode *id, int code, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;

    va_start(ap, fmt);
    err = g_error_new_valist(CD_ERROR, code, fmt, ap);
    va_end(ap);
    send_reply(c, id, NULL, err);
}

void cd_api_event(Configd *cd, const char *vm, JsonNode *event)
{
    Api *api = cd->api;
    g_autoptr(GList) all = NULL;

    if (!api) {
        return;
    }
    /* A copy: sending may close (and unlist) a client that reads too slowly. */
    all = g_list_copy(api->clients);
    for (GList *l = all; l; l = l->next) {
        ((Client *)l->data)->refs++;
    }
    for (GList *l = all; l; l = l->next) {
        Client *c = l->data;

        if (c->follow || (vm && g_strcmp0(c->vm, vm) == 0)) {
            client_send(c, event);
        }
        client_unref(c);
    }
}

static void vm_event(Configd *cd, const char *name, const CdVm *v)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    JsonNode *ev;

    json_builder_begin_object(b);
    add_str(b, "event", name);
    json_builder_set_member_name(b, "vm");
    json_builder_add_value(b, cd_json_vm(cd, v));
    json_builder_end_object(b);
    ev = json_builder_get_root(b);
    cd_api_event(cd, NULL, ev);
    json_node_unref(ev);
}

static void vm_disconnected(Api *api, const char *name)
{
    g_autoptr(CdVm) v = cd_store_get_vm(api->cd->store, name, NULL);
    g_autoptr(GError) err = NULL;

    if (!v || !v->connected) {
        return;
    }
    v->connected = FALSE;
    if (!cd_store_put_vm(api->cd->store, v, &err)) {
        g_warning("%s", err->message);
    }
    vm_event(api->cd, "vm-gone", v);
}

static void client_close(Client *c)
{
    Api *api = c->api;

    if (c->dead) {
        return;
    }
    c->dead = TRUE;
    if (c->vm) {
        vm_disconnected(api, c->vm);
    }
    if (c->in_src) {
        g_source_destroy(c->in_src);
        g_source_unref(c->in_src);
        c->in_src = NULL;
    }
    if (c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
        c->out_src = NULL;
    }
    g_socket_close(c->sock, NULL);
    api->clients = g_list_remove(api->clients, c);
    client_unref(c);
}

/* Requests */

typedef struct {
    Client *c;
    JsonNode *id;
} Pending;

static void assign_done(Configd *cd, const CdAssignment *a, const GError *err,
                        gpointer opaque)
{
    Pending *p = opaque;

    send_reply(p->c, p->id, err ? NULL : cd_json_assignment(a), err);
    if (p->id) {
        json_node_unref(p->id);
    }
    client_unref(p->c);
    g_free(p);
}

static Pending *pending_new(Client *c, JsonNode *id)
{
    Pending *p = g_new0(Pending, 1);

    p->c = c;
    c->refs++;
    p->id = id ? json_node_copy(id) : NULL;
    return p;
}

static const char *member_str(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

static gboolean member_int(JsonObject *o, const char *k, gint64 *v)
{
    JsonNode *n = json_object_get_member(o, k);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        return FALSE;
    }
    *v = json_node_get_int(n);
    return TRUE;
}

static JsonNode *list_result(Configd *cd)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GList) keys = g_hash_table_get_keys(cd->endpoints);

    keys = g_list_sort(keys, (GCompareFunc)g_strcmp0);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "endpoints");
    json_builder_begin_array(b);
    for (GList *l = keys; l; l = l->next) {
        json_builder_add_value(b, cd_json_endpoint(cd,
                               g_hash_table_lookup(cd->endpoints, l->data)));
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *vms_result(Configd *cd)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) vms = cd_store_list_vms(cd->store, NULL);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    for (guint i = 0; vms && i < vms->len; i++) {
        json_builder_add_value(b, cd_json_vm(cd, g_ptr_array_index(vms, i)));
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *status_result(Configd *cd)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    GHashTableIter it;
    gpointer v;
    guint up = 0;

    g_hash_table_iter_init(&it, cd->endpoints);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        up += ((CdEndpoint *)v)->up;
    }
    json_builder_begin_object(b);
    add_int(b, "endpoints", g_hash_table_size(cd->endpoints));
    add_int(b, "endpoints_up", up);
    add_int(b, "interfaces", cd->links->len);
    add_int(b, "transactions", g_hash_table_size(cd->txns));
    json_builder_set_member_name(b, "keyed");
    json_builder_add_boolean_value(b, cd->key != NULL);
    add_int(b, "disc_rx", cd->disc_stats.rx);
    add_int(b, "disc_auth_drops", cd_disc_auth_drops(cd));
    add_int(b, "acks_unmatched", cd->acks_unmatched);
    json_builder_set_member_name(b, "disc_drops");
    json_builder_begin_object(b);
    for (int i = 1; i < ENCAP_E__COUNT; i++) {
        if (cd->disc_stats.drops[i]) {
            add_int(b, encap_strerror(i), cd->disc_stats.drops[i]);
        }
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void vm_register(Client *c, JsonNode *id, JsonObject *o)
{
    Configd *cd = c->api->cd;
    const char *name = member_str(o, "name");
    const char *mac = member_str(o, "mac");
    g_autoptr(CdVm) old = NULL;
    g_autoptr(GError) err = NULL;
    gint64 pid = 0, slots = 0, rc_id = 0;
    CdVm v = { 0 };

    if (!name || !*name || !mac || !cd_mac_parse(mac, v.mac) ||
        !member_int(o, "slots", &slots) || slots < 0 || slots > 64 ||
        !member_int(o, "rc_id", &rc_id) || rc_id < 1 || rc_id > 0xffff) {
        send_error(c, id, CD_ERROR_USAGE, "vm-register needs name, mac (the "
                   "vrc's MAC), rc_id (1..65535) and slots (0..64)");
        return;
    }
    member_int(o, "pid", &pid);
    if (c->vm && g_strcmp0(c->vm, name) != 0) {
        send_error(c, id, CD_ERROR_USAGE, "this connection is registered as %s",
                   c->vm);
        return;
    }
    for (GList *l = c->api->clients; l; l = l->next) {
        Client *o2 = l->data;

        if (o2 != c && g_strcmp0(o2->vm, name) == 0) {
            send_error(c, id, CD_ERROR_VM_CONNECTED, "VM %s is registered and "
                       "connected already; a name belongs to one VM at a time",
                       name);
            return;
        }
    }
    old = cd_store_get_vm(cd->store, name, NULL);
    v.name = (char *)name;
    v.pid = pid;
    v.slots = slots;
    v.rc_id = rc_id;
    v.connected = TRUE;
    if (!cd_store_put_vm(cd->store, &v, &err)) {
        send_reply(c, id, NULL, err);
        return;
    }
    g_free(c->vm);
    c->vm = g_strdup(name);
    send_reply(c, id, cd_json_vm(cd, &v), NULL);
    vm_event(cd, "vm-registered", &v);
}

static void vm_unregister(Client *c, JsonNode *id)
{
    g_autofree char *name = g_steal_pointer(&c->vm);

    if (!name) {
        send_error(c, id, CD_ERROR_USAGE, "this connection has not registered a VM");
        return;
    }
    vm_disconnected(c->api, name);
    send_reply(c, id, NULL, NULL);
}

static void handle_request(Client *c, const char *line)
{
    Configd *cd = c->api->cd;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonNode *root, *id;
    JsonObject *o;
    const char *cmd;

    if (!json_parser_load_from_data(parser, line, -1, &err) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        send_error(c, NULL, CD_ERROR_USAGE, "a request is one JSON object per "
                   "line: %s", err ? err->message : "not an object");
        return;
    }
    root = json_parser_get_root(parser);
    o = json_node_get_object(root);
    id = json_object_get_member(o, "id");
    cmd = member_str(o, "cmd");
    if (!cmd) {
        send_error(c, id, CD_ERROR_USAGE, "the request has no \"cmd\"");
    } else if (strcmp(cmd, "list") == 0) {
        send_reply(c, id, list_result(cd), NULL);
    } else if (strcmp(cmd, "show") == 0) {
        const char *name = member_str(o, "endpoint");
        g_autofree char *eid = cd_endpoint_resolve(cd, name);

        if (!eid) {
            send_error(c, id, CD_ERROR_UNKNOWN_ENDPOINT, "no endpoint %s has "
                       "been discovered; 'vrcctl list' shows those that have",
                       name ? name : "(none given)");
        } else {
            send_reply(c, id, cd_json_endpoint(cd,
                       g_hash_table_lookup(cd->endpoints, eid)), NULL);
        }
    } else if (strcmp(cmd, "vms") == 0) {
        send_reply(c, id, vms_result(cd), NULL);
    } else if (strcmp(cmd, "status") == 0) {
        send_reply(c, id, status_result(cd), NULL);
    } else if (strcmp(cmd, "attach") == 0) {
        const char *ep = member_str(o, "endpoint"), *vm = member_str(o, "vm");
        gint64 slot = -1;

        if (!ep || !vm || (json_object_has_member(o, "slot") &&
                           (!member_int(o, "slot", &slot) || slot < 0))) {
            send_error(c, id, CD_ERROR_USAGE, "attach needs endpoint, vm and "
                       "optionally slot (>= 0)");
        } else {
            cd_attach(cd, ep, vm, slot, assign_done, pending_new(c, id));
        }
    } else if (strcmp(cmd, "detach") == 0) {
        const char *ep = member_str(o, "endpoint");

        if (!ep) {
            send_error(c, id, CD_ERROR_USAGE, "detach needs endpoint");
        } else {
            cd_detach(cd, ep, assign_done, pending_new(c, id));
        }
    } else if (strcmp(cmd, "events") == 0) {
        c->follow = TRUE;
        send_reply(c, id, NULL, NULL);
    } else if (strcmp(cmd, "vm-register") == 0) {
        vm_register(c, id, o);
    } else if (strcmp(cmd, "vm-unregister") == 0) {
        vm_unregister(c, id);
    } else {
        send_error(c, id, CD_ERROR_USAGE, "unknown cmd \"%s\" (docs/configd.md "
                   "lists them)", cmd);
    }
}

static gboolean client_readable(GSocket *s, GIOCondition cond, gpointer opaque)
{
    Client *c = opaque;
    char buf[65536];
    gssize n;
    char *nl;

    n = g_socket_receive(s, buf, sizeof(buf), NULL, NULL);
    if (n == 0 || (n < 0 && !(cond & G_IO_IN))) {
        client_close(c);
        return G_SOURCE_REMOVE;
    }
    if (n < 0) {
        return G_SOURCE_CONTINUE;
    }
    g_string_append_len(c->in, buf, n);
    c->refs++;
    while (!c->dead && (nl = memchr(c->in->str, '\n', c->in->len))) {
        g_autofree char *line = g_strndup(c->in->str, nl - c->in->str);

        g_string_erase(c->in, 0, nl - c->in->str + 1);
        if (*g_strstrip(line)) {
            handle_request(c, line);
        }
    }
    if (!c->dead && c->in->len > IN_MAX) {
        send_error(c, NULL, CD_ERROR_USAGE, "request line longer than %d bytes",
                   IN_MAX);
        client_close(c);
    }
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static gboolean api_accept(GSocket *s, GIOCondition cond, gpointer opaque)
{
    Api *api = opaque;
    GSocket *cs = g_socket_accept(s, NULL, NULL);
    Client *c;

    if (!cs) {
        return G_SOURCE_CONTINUE;
    }
    g_socket_set_blocking(cs, FALSE);
    c = g_new0(Client, 1);
    c->api = api;
    c->sock = cs;
    c->in = g_string_new(NULL);
    c->out = g_string_new(NULL);
    c->refs = 1;
    c->in_src = g_socket_create_source(cs, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(c->in_src, (GSourceFunc)(void (*)(void))client_readable,
                          c, NULL);
    g_source_attach(c->in_src, NULL);
    api->clients = g_list_prepend(api->clients, c);
    return G_SOURCE_CONTINUE;
}

gboolean cd_api_open(Configd *cd, const char *path, GError **errp)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocket) probe = NULL;
    g_autofree char *dir = g_path_get_dirname(path);
    Api *api;
    GSocket *s;

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(errp, CD_ERROR, CD_ERROR_USAGE, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    /* A socket left by a configd that died is replaced; a live one is not. */
    probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_DEFAULT, errp);
    if (!probe) {
        return FALSE;
    }
    if (g_socket_connect(probe, addr, NULL, NULL)) {
        g_set_error(errp, CD_ERROR, CD_ERROR_USAGE, "another configd is running "
                    "at %s", path);
        return FALSE;
    }
    g_unlink(path);
    s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_DEFAULT, errp);
    if (!s) {
        return FALSE;
    }
    if (!g_socket_bind(s, addr, FALSE, errp) || !g_socket_listen(s, errp)) {
        g_prefix_error(errp, "control socket %s: ", path);
        g_object_unref(s);
        return FALSE;
    }
    g_socket_set_blocking(s, FALSE);
    api = g_new0(Api, 1);
    api->cd = cd;
    api->listener = s;
    api->path = g_strdup(path);
    api->src = g_socket_create_source(s, G_IO_IN, NULL);
    g_source_set_callback(api->src, (GSourceFunc)(void (*)(void))api_accept,
                          api, NULL);
    g_source_attach(api->src, NULL);
    cd->api = api;
    return TRUE;
}

void cd_api_close(Configd *cd)
{
    Api *api = cd->api;

    if (!api) {
        return;
    }
    while (api->clients) {
        Client *c = api->clients->data;

        g_free(g_steal_pointer(&c->vm));   /* a stopping configd: VMs not gone */
        client_close(c);
    }
    g_source_destroy(api->src);
    g_source_unref(api->src);
    g_socket_close(api->listener, NULL);
    g_object_unref(api->listener);
    g_unlink(api->path);
    g_free(api->path);
    g_free(api);
    cd->api = NULL;
}
