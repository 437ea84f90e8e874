/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: the store of endpoints, VMs and assignments.
 *
 * A small interface (CdStoreOps) so that another backend (a distributed
 * store) can replace SQLite without touching the rest of configd.  Every
 * state change is one atomic step of the backend.  The generation counter
 * of an endpoint function is the fencing token of docs/protocol.md 5.2:
 * cd_store_cas_assignment() moves it forward only if the caller saw the
 * current value, so of two concurrent changes exactly one is recorded.
 *
 * Errors: GError in CD_STORE_ERROR.  Threads: a store belongs to the thread
 * that opened it (configd's main loop); watchers run in it, synchronously,
 * after the change is committed.
 */
#ifndef CONFIGD_STORE_H
#define CONFIGD_STORE_H

#include <glib.h>
#include <stdint.h>

#define CD_STORE_ERROR (cd_store_error_quark())
GQuark cd_store_error_quark(void);

typedef enum {
    CD_STORE_ERROR_IO,          /* the backend failed */
    CD_STORE_ERROR_SCHEMA,      /* a database of an unknown schema version */
    CD_STORE_ERROR_CONFLICT,    /* compare-and-swap lost: generation moved */
    CD_STORE_ERROR_OWNED,       /* the endpoint is assigned to another VM */
    CD_STORE_ERROR_NOT_FOUND,
} CdStoreError;

/* An endpoint function as last announced ("52:54:00:12:34:56.0"). */
typedef struct {
    char *id;
    uint8_t mac[6];
    guint fn;
    guint functions;
    guint16 vendor_id, device_id, subsys_vendor, subsys_id;
    guint32 class_rev;
    guint64 serial;
    uint8_t bars[12];           /* as on the wire: log2 size, flags */
    char *ifname;               /* where it was heard */
    guint64 generation;         /* as announced */
    guint16 owner_rc;           /* as announced; 0 free */
    uint8_t owner_mac[6];
    guint16 bdf;
    guint interval_ms;
    gint64 last_seen;           /* g_get_real_time() */
    gboolean up;                /* heard within the last K intervals */
    guint64 announce_time;      /* sender time of the last signed ANNOUNCE
                                   taken (protocol.md 5.4); not stored */
} CdEndpoint;

/* A VM that registered (a QEMU with -device vrc,configd=...). */
typedef struct {
    char *name;
    gint64 pid;
    guint slots;                /* hot-plug slots it has */
    guint16 rc_id;
    uint8_t mac[6];             /* its vrc's MAC */
    gboolean connected;         /* its control connection is open */
} CdVm;

typedef enum {
    CD_ASSIGN_PENDING,          /* recorded, ASSIGN not yet acknowledged */
    CD_ASSIGN_ACTIVE,           /* the endpoint acknowledged */
} CdAssignState;

typedef struct {
    char *endpoint;
    char *vm;
    guint slot;
    guint16 bdf;
    guint64 generation;
    CdAssignState state;
} CdAssignment;

typedef enum {
    CD_STORE_CHANGE_ENDPOINT,
    CD_STORE_CHANGE_VM,
    CD_STORE_CHANGE_ASSIGNMENT,     /* added, changed or removed */
} CdStoreChange;

typedef struct CdStore CdStore;
typedef void (*CdStoreWatchFunc)(CdStore *s, CdStoreChange what,
                                 const char *key, gpointer opaque);

typedef struct {
    const char *name;
    gboolean (*put_endpoint)(CdStore *s, const CdEndpoint *e, GError **errp);
    CdEndpoint *(*get_endpoint)(CdStore *s, const char *id, GError **errp);
    GPtrArray *(*list_endpoints)(CdStore *s, GError **errp);
    gboolean (*put_vm)(CdStore *s, const CdVm *v, GError **errp);
    CdVm *(*get_vm)(CdStore *s, const char *name, GError **errp);
    GPtrArray *(*list_vms)(CdStore *s, GError **errp);
    gboolean (*get_generation)(CdStore *s, const char *endpoint,
                               guint64 *gen, GError **errp);
    CdAssignment *(*get_assignment)(CdStore *s, const char *endpoint,
                                    GError **errp);
    GPtrArray *(*list_assignments)(CdStore *s, GError **errp);
    gboolean (*cas_assignment)(CdStore *s, const char *endpoint,
                               guint64 expect, const CdAssignment *next,
                               guint64 *gen_out, GError **errp);
    gboolean (*set_state)(CdStore *s, const char *endpoint, guint64 gen,
                          CdAssignState state, GError **errp);
    gboolean (*raise_generation)(CdStore *s, const char *endpoint,
                                 guint64 at_least, GError **errp);
    void (*close)(CdStore *s);
} CdStoreOps;

/* The common part; a backend embeds it first. */
struct CdStore {
    const CdStoreOps *ops;
    GArray *watchers;
    guint next_watch;
};

/* SQLite in @path (created if missing).  store-sqlite.c */
CdStore *cd_store_open_sqlite(const char *path, GError **errp);
void cd_store_close(CdStore *s);

gboolean cd_store_put_endpoint(CdStore *s, const CdEndpoint *e, GError **errp);
/* NULL and CD_STORE_ERROR_NOT_FOUND if there is none. */
CdEndpoint *cd_store_get_endpoint(CdStore *s, const char *id, GError **errp);
GPtrArray *cd_store_list_endpoints(CdStore *s, GError **errp);
gboolean cd_store_put_vm(CdStore *s, const CdVm *v, GError **errp);
CdVm *cd_store_get_vm(CdStore *s, const char *name, GError **errp);
GPtrArray *cd_store_list_vms(CdStore *s, GError **errp);
/* The generation counter of @endpoint (0 if it never had one). */
gboolean cd_store_get_generation(CdStore *s, const char *endpoint,
                                 guint64 *gen, GError **errp);
/* NULL without error if the endpoint is not assigned. */
CdAssignment *cd_store_get_assignment(CdStore *s, const char *endpoint,
                                      GError **errp);
GPtrArray *cd_store_list_assignments(CdStore *s, GError **errp);

/*
 * Compare-and-swap: if the generation of @endpoint is still @expect, make
 * it @expect + 1 (into *@gen_out) and record @next (its generation field is
 * ignored and set to the new value) or, with @next NULL, remove the
 * assignment.  Fails with CD_STORE_ERROR_CONFLICT if the generation moved,
 * and CD_STORE_ERROR_OWNED if @next names a VM while another VM holds the
 * endpoint (the message names that VM).
 */
gboolean cd_store_cas_assignment(CdStore *s, const char *endpoint,
                                 guint64 expect, const CdAssignment *next,
                                 guint64 *gen_out, GError **errp);
/* Set the state of the assignment of @endpoint if it is of generation @gen. */
gboolean cd_store_set_state(CdStore *s, const char *endpoint, guint64 gen,
                            CdAssignState state, GError **errp);
/* Make the counter of @endpoint at least @at_least (never lower it). */
gboolean cd_store_raise_generation(CdStore *s, const char *endpoint,
                                   guint64 at_least, GError **errp);

guint cd_store_watch(CdStore *s, CdStoreWatchFunc fn, gpointer opaque);
void cd_store_unwatch(CdStore *s, guint id);
/* For backends: set up the common part; tell the watchers. */
void cd_store_init(CdStore *s, const CdStoreOps *ops);
void cd_store_notify(CdStore *s, CdStoreChange what, const char *key);

void cd_endpoint_free(CdEndpoint *e);
void cd_vm_free(CdVm *v);
void cd_assignment_free(CdAssignment *a);
CdEndpoint *cd_endpoint_copy(const CdEndpoint *e);
const char *cd_assign_state_name(CdAssignState st);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CdEndpoint, cd_endpoint_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CdVm, cd_vm_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CdAssignment, cd_assignment_free)

/* "52:54:00:12:34:56" into @buf (18 bytes); parsing the same, TRUE if ok. */
char *cd_mac_format(const uint8_t mac[6], char buf[18]);
gboolean cd_mac_parse(const char *s, uint8_t mac[6]);

#endif
