/* SPDX-License-Identifier: GPL-2.0-or-later */
/* configd: the store interface, whatever the backend. */
#include <stdio.h>
#include <string.h>

#include "store.h"

G_DEFINE_QUARK(cd-store-error-quark, cd_store_error)

typedef struct {
    guint id;
    CdStoreWatchFunc fn;
    gpointer opaque;
} Watcher;

void cd_store_init(CdStore *s, const CdStoreOps *ops)
{
    s->ops = ops;
    s->watchers = g_array_new(FALSE, FALSE, sizeof(Watcher));
    s->next_watch = 0;
}

void cd_store_close(CdStore *s)
{
    if (s) {
        g_array_unref(s->watchers);
        s->ops->close(s);
    }
}

void cd_store_notify(CdStore *s, CdStoreChange what, const char *key)
{
    for (guint i = 0; i < s->watchers->len; i++) {
        Watcher *w = &g_array_index(s->watchers, Watcher, i);

        w->fn(s, what, key, w->opaque);
    }
}

guint cd_store_watch(CdStore *s, CdStoreWatchFunc fn, gpointer opaque)
{
    Watcher w = { .id = ++s->next_watch, .fn = fn, .opaque = opaque };

    g_array_append_val(s->watchers, w);
    return w.id;
}

void cd_store_unwatch(CdStore *s, guint id)
{
    for (guint i = 0; i < s->watchers->len; i++) {
        if (g_array_index(s->watchers, Watcher, i).id == id) {
            g_array_remove_index(s->watchers, i);
            return;
        }
    }
}

gboolean cd_store_put_endpoint(CdStore *s, const CdEndpoint *e, GError **errp)
{
    if (!s->ops->put_endpoint(s, e, errp)) {
        return FALSE;
    }
    cd_store_notify(s, CD_STORE_CHANGE_ENDPOINT, e->id);
    return TRUE;
}

CdEndpoint *cd_store_get_endpoint(CdStore *s, const char *id, GError **errp)
{
    return s->ops->get_endpoint(s, id, errp);
}

GPtrArray *cd_store_list_endpoints(CdStore *s, GError **errp)
{
    return s->ops->list_endpoints(s, errp);
}

gboolean cd_store_put_vm(CdStore *s, const CdVm *v, GError **errp)
{
    if (!s->ops->put_vm(s, v, errp)) {
        return FALSE;
    }
    cd_store_notify(s, CD_STORE_CHANGE_VM, v->name);
    return TRUE;
}

CdVm *cd_store_get_vm(CdStore *s, const char *name, GError **errp)
{
    return s->ops->get_vm(s, name, errp);
}

GPtrArray *cd_store_list_vms(CdStore *s, GError **errp)
{
    return s->ops->list_vms(s, errp);
}

gboolean cd_store_get_generation(CdStore *s, const char *endpoint,
                                 guint64 *gen, GError **errp)
{
    return s->ops->get_generation(s, endpoint, gen, errp);
}

CdAssignment *cd_store_get_assignment(CdStore *s, const char *endpoint,
                                      GError **errp)
{
    return s->ops->get_assignment(s, endpoint, errp);
}

GPtrArray *cd_store_list_assignments(CdStore *s, GError **errp)
{
    return s->ops->list_assignments(s, errp);
}

gboolean cd_store_cas_assignment(CdStore *s, const char *endpoint,
                                 guint64 expect, const CdAssignment *next,
                                 guint64 *gen_out, GError **errp)
{
    if (!s->ops->cas_assignment(s, endpoint, expect, next, gen_out, errp)) {
        return FALSE;
    }
    cd_store_notify(s, CD_STORE_CHANGE_ASSIGNMENT, endpoint);
    return TRUE;
}

gboolean cd_store_set_state(CdStore *s, const char *endpoint, guint64 gen,
                            CdAssignState state, GError **errp)
{
    if (!s->ops->set_state(s, endpoint, gen, state, errp)) {
        return FALSE;
    }
    cd_store_notify(s, CD_STORE_CHANGE_ASSIGNMENT, endpoint);
    return TRUE;
}

gboolean cd_store_raise_generation(CdStore *s, const char *endpoint,
                                   guint64 at_least, GError **errp)
{
    return s->ops->raise_generation(s, endpoint, at_least, errp);
}

void cd_endpoint_free(CdEndpoint *e)
{
    if (e) {
        g_free(e->id);
        g_free(e->ifname);
        g_free(e);
    }
}

CdEndpoint *cd_endpoint_copy(const CdEndpoint *e)
{
    CdEndpoint *c = g_memdup2(e, sizeof(*e));

    c->id = g_strdup(e->id);
    c->ifname = g_strdup(e->ifname);
    return c;
}

void cd_vm_free(CdVm *v)
{
    if (v) {
        g_free(v->name);
        g_free(v);
    }
}

void cd_assignment_free(CdAssignment *a)
{
    if (a) {
        g_free(a->endpoint);
        g_free(a->vm);
        g_free(a);
    }
}

const char *cd_assign_state_name(CdAssignState st)
{
    return st == CD_ASSIGN_ACTIVE ? "active" : "pending";
}

char *cd_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return buf;
}

gboolean cd_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;

    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &tail) != 6) {
        return FALSE;
    }
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff) {
            return FALSE;
        }
        mac[i] = v[i];
    }
    return TRUE;
}
