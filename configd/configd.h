/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: shared state of the daemon.  Everything runs in the one GLib
 * main loop thread: the DISC receivers (disc.c), the control socket
 * (api.c), the store and its watchers; nothing here is locked.
 */
#ifndef CONFIGD_H
#define CONFIGD_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "encap/disc.h"
#include "store.h"

#define CD_ERROR (cd_error_quark())
GQuark cd_error_quark(void);

/* Refusals and failures an operator sees; api.c names them (cd_error_name). */
typedef enum {
    CD_ERROR_USAGE,             /* malformed request */
    CD_ERROR_UNKNOWN_ENDPOINT,
    CD_ERROR_UNKNOWN_VM,
    CD_ERROR_OWNED,             /* assigned to another VM */
    CD_ERROR_SLOT_BUSY,
    CD_ERROR_NO_SLOT,
    CD_ERROR_NOT_ATTACHED,
    CD_ERROR_GONE,              /* the endpoint is not heartbeating */
    CD_ERROR_BUSY,              /* an ASSIGN/RELEASE is already in flight */
    CD_ERROR_STALE,             /* the endpoint holds a newer generation */
    CD_ERROR_REFUSED,           /* the endpoint refused (no function, ...) */
    CD_ERROR_TIMEOUT,           /* the endpoint did not acknowledge */
    CD_ERROR_STORE,
    CD_ERROR_VM_CONNECTED,      /* vm-register of a VM that is connected */
    CD_ERROR__COUNT
} CdError;

const char *cd_error_name(int code);

typedef struct Configd Configd;
typedef struct CdLink CdLink;       /* one interface (disc.c) */

/* Called once when an attach/detach finishes: @err NULL on success. */
typedef void (*CdDoneFunc)(Configd *cd, const CdAssignment *a,
                           const GError *err, gpointer opaque);

struct Configd {
    GMainLoop *loop;
    CdStore *store;
    GHashTable *endpoints;      /* id -> CdEndpoint*: the inventory */
    GPtrArray *links;           /* CdLink* */
    GHashTable *txns;           /* endpoint id -> CdTxn* in flight */
    guint32 next_xid;
    guint miss;                 /* heartbeats missed before "gone" */
    guint solicit_s;            /* SOLICIT period */
    gboolean verbose;
    const struct encap_disc_key *key;   /* NULL: --insecure, unsigned DISC */
    struct encap_disc_stats disc_stats;
    guint64 acks_unmatched;
    gpointer api;               /* api.c */
};

/* disc.c */
gboolean cd_disc_open(Configd *cd, const char *ifname, GError **errp);
void cd_disc_close_all(Configd *cd);
void cd_disc_solicit(Configd *cd);
void cd_disc_load(Configd *cd);
void cd_attach(Configd *cd, const char *endpoint, const char *vm, int slot,
               CdDoneFunc done, gpointer opaque);
void cd_detach(Configd *cd, const char *endpoint, CdDoneFunc done,
               gpointer opaque);
/* "52:54:00:12:34:56" or "...:56.1" to the inventory's id, or NULL. */
char *cd_endpoint_resolve(Configd *cd, const char *name);
guint16 cd_slot_bdf(guint slot, guint fn);
/* Drops of DISC frames for want of a good signature (protocol.md 5.4). */
guint64 cd_disc_auth_drops(const Configd *cd);

/* api.c */
gboolean cd_api_open(Configd *cd, const char *path, GError **errp);
void cd_api_close(Configd *cd);
/* Send an event to every follower (and, with @vm, to that VM). */
void cd_api_event(Configd *cd, const char *vm, JsonNode *event);
JsonNode *cd_json_endpoint(Configd *cd, const CdEndpoint *e);
JsonNode *cd_json_assignment(const CdAssignment *a);
JsonNode *cd_json_vm(Configd *cd, const CdVm *v);

#endif
