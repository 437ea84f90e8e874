/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: the store in SQLite.  WAL mode, prepared statements, one
 * transaction per state change (BEGIN IMMEDIATE, so that two processes on
 * one file serialise their compare-and-swaps too).  The schema version is
 * PRAGMA user_version; a file of a newer version is refused.
 *
 * Durability: synchronous=NORMAL in WAL mode, so a committed change
 * survives the process being killed (SIGKILL included); an operating system
 * crash may lose the last commits, which the endpoints' ANNOUNCEs (they
 * carry the generation they hold) let configd notice.
 */
#include <sqlite3.h>
#include <string.h>

#include "store.h"

#define SCHEMA_VERSION 1

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS endpoints ("
    " id TEXT PRIMARY KEY, mac TEXT NOT NULL, fn INTEGER NOT NULL,"
    " functions INTEGER NOT NULL, vendor INTEGER, device INTEGER,"
    " subsys_vendor INTEGER, subsys_id INTEGER, class_rev INTEGER,"
    " serial INTEGER, bars BLOB, ifname TEXT, generation INTEGER,"
    " owner_rc INTEGER, owner_mac TEXT, bdf INTEGER, interval_ms INTEGER,"
    " last_seen INTEGER, up INTEGER);"
    "CREATE TABLE IF NOT EXISTS vms ("
    " name TEXT PRIMARY KEY, pid INTEGER, slots INTEGER, rc_id INTEGER,"
    " mac TEXT, connected INTEGER);"
    "CREATE TABLE IF NOT EXISTS generations ("
    " endpoint TEXT PRIMARY KEY, gen INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS assignments ("
    " endpoint TEXT PRIMARY KEY, vm TEXT NOT NULL, slot INTEGER NOT NULL,"
    " bdf INTEGER NOT NULL, gen INTEGER NOT NULL, state INTEGER NOT NULL);";

enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_PUT_EP, ST_GET_EP, ST_LIST_EP,
    ST_PUT_VM, ST_GET_VM, ST_LIST_VM,
    ST_GET_GEN, ST_SET_GEN,
    ST_GET_AS, ST_LIST_AS, ST_PUT_AS, ST_DEL_AS, ST_SET_STATE,
    ST__COUNT
};

#define EP_COLS "id, mac, fn, functions, vendor, device, subsys_vendor," \
    " subsys_id, class_rev, serial, bars, ifname, generation, owner_rc," \
    " owner_mac, bdf, interval_ms, last_seen, up"
#define AS_COLS "endpoint, vm, slot, bdf, gen, state"

static const char *const sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_EP] = "INSERT OR REPLACE INTO endpoints (" EP_COLS ") VALUES"
                  " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [ST_GET_EP] = "SELECT " EP_COLS " FROM endpoints WHERE id = ?",
    [ST_LIST_EP] = "SELECT " EP_COLS " FROM endpoints ORDER BY mac, fn",
    [ST_PUT_VM] = "INSERT OR REPLACE INTO vms (name, pid, slots, rc_id, mac,"
                  " connected) VALUES (?,?,?,?,?,?)",
    [ST_GET_VM] = "SELECT name, pid, slots, rc_id, mac, connected FROM vms"
                  " WHERE name = ?",
    [ST_LIST_VM] = "SELECT name, pid, slots, rc_id, mac, connected FROM vms"
                   " ORDER BY name",
    [ST_GET_GEN] = "SELECT gen FROM generations WHERE endpoint = ?",
    [ST_SET_GEN] = "INSERT OR REPLACE INTO generations (endpoint, gen)"
                   " VALUES (?, ?)",
    [ST_GET_AS] = "SELECT " AS_COLS " FROM assignments WHERE endpoint = ?",
    [ST_LIST_AS] = "SELECT " AS_COLS " FROM assignments ORDER BY vm, slot",
    [ST_PUT_AS] = "INSERT OR REPLACE INTO assignments (" AS_COLS ") VALUES"
                  " (?,?,?,?,?,?)",
    [ST_DEL_AS] = "DELETE FROM assignments WHERE endpoint = ?",
    [ST_SET_STATE] = "UPDATE assignments SET state = ? WHERE endpoint = ?"
                     " AND gen = ?",
};

typedef struct {
    CdStore parent;
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
} SqliteStore;

static SqliteStore *SQL(CdStore *s)
{
    return (SqliteStore *)s;
}

static gboolean fail(SqliteStore *q, GError **errp, const char *what)
{
    g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_IO, "sqlite: %s: %s",
                what, sqlite3_errmsg(q->db));
    return FALSE;
}

/* The statement @i, reset and cleared, ready to bind. */
static sqlite3_stmt *stmt(SqliteStore *q, int i)
{
    sqlite3_stmt *s = q->st[i];

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Run a statement that returns no rows. */
static gboolean run(SqliteStore *q, sqlite3_stmt *s, GError **errp)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        return fail(q, errp, sqlite3_sql(s));
    }
    return TRUE;
}

static gboolean begin(SqliteStore *q, GError **errp)
{
    return run(q, stmt(q, ST_BEGIN), errp);
}

static gboolean commit(SqliteStore *q, GError **errp)
{
    return run(q, stmt(q, ST_COMMIT), errp);
}

static gboolean rollback(SqliteStore *q)
{
    run(q, stmt(q, ST_ROLLBACK), NULL);
    return FALSE;
}

static void bind_mac(sqlite3_stmt *s, int col, const uint8_t mac[6])
{
    char buf[18];

    sqlite3_bind_text(s, col, cd_mac_format(mac, buf), -1, SQLITE_TRANSIENT);
}

static void col_mac(sqlite3_stmt *s, int col, uint8_t mac[6])
{
    if (!cd_mac_parse((const char *)sqlite3_column_text(s, col), mac)) {
        memset(mac, 0, 6);
    }
}

static gboolean sq_put_endpoint(CdStore *s, const CdEndpoint *e, GError **errp)
{
    SqliteStore *q = SQL(s);
    sqlite3_stmt *st = stmt(q, ST_PUT_EP);

    sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
    bind_mac(st, 2, e->mac);
    sqlite3_bind_int(st, 3, e->fn);
    sqlite3_bind_int(st, 4, e->functions);
    sqlite3_bind_int(st, 5, e->vendor_id);
    sqlite3_bind_int(st, 6, e->device_id);
    sqlite3_bind_int(st, 7, e->subsys_vendor);
    sqlite3_bind_int(st, 8, e->subsys_id);
    sqlite3_bind_int64(st, 9, e->class_rev);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)e->serial);
    sqlite3_bind_blob(st, 11, e->bars, sizeof(e->bars), SQLITE_STATIC);
    sqlite3_bind_text(st, 12, e->ifname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)e->generation);
    sqlite3_bind_int(st, 14, e->owner_rc);
    bind_mac(st, 15, e->owner_mac);
    sqlite3_bind_int(st, 16, e->bdf);
    sqlite3_bind_int(st, 17, e->interval_ms);
    sqlite3_bind_int64(st, 18, e->last_seen);
    sqlite3_bind_int(st, 19, e->up);
    /* A single statement is a transaction of its own. */
    return run(q, st, errp);
}

static CdEndpoint *row_endpoint(sqlite3_stmt *st)
{
    CdEndpoint *e = g_new0(CdEndpoint, 1);
    const void *bars = sqlite3_column_blob(st, 10);

    e->id = g_strdup((const char *)sqlite3_column_text(st, 0));
    col_mac(st, 1, e->mac);
    e->fn = sqlite3_column_int(st, 2);
    e->functions = sqlite3_column_int(st, 3);
    e->vendor_id = sqlite3_column_int(st, 4);
    e->device_id = sqlite3_column_int(st, 5);
    e->subsys_vendor = sqlite3_column_int(st, 6);
    e->subsys_id = sqlite3_column_int(st, 7);
    e->class_rev = sqlite3_column_int64(st, 8);
    e->serial = sqlite3_column_int64(st, 9);
    if (bars && sqlite3_column_bytes(st, 10) == sizeof(e->bars)) {
        memcpy(e->bars, bars, sizeof(e->bars));
    }
    e->ifname = g_strdup((const char *)sqlite3_column_text(st, 11));
    e->generation = sqlite3_column_int64(st, 12);
    e->owner_rc = sqlite3_column_int(st, 13);
    col_mac(st, 14, e->owner_mac);
    e->bdf = sqlite3_column_int(st, 15);
    e->interval_ms = sqlite3_column_int(st, 16);
    e->last_seen = sqlite3_column_int64(st, 17);
    e->up = sqlite3_column_int(st, 18);
    return e;
}

static CdVm *row_vm(sqlite3_stmt *st)
{
    CdVm *v = g_new0(CdVm, 1);

    v->name = g_strdup((const char *)sqlite3_column_text(st, 0));
    v->pid = sqlite3_column_int64(st, 1);
    v->slots = sqlite3_column_int(st, 2);
    v->rc_id = sqlite3_column_int(st, 3);
    col_mac(st, 4, v->mac);
    v->connected = sqlite3_column_int(st, 5);
    return v;
}

static CdAssignment *row_assignment(sqlite3_stmt *st)
{
    CdAssignment *a = g_new0(CdAssignment, 1);

    a->endpoint = g_strdup((const char *)sqlite3_column_text(st, 0));
    a->vm = g_strdup((const char *)sqlite3_column_text(st, 1));
    a->slot = sqlite3_column_int(st, 2);
    a->bdf = sqlite3_column_int(st, 3);
    a->generation = sqlite3_column_int64(st, 4);
    a->state = sqlite3_column_int(st, 5);
    return a;
}

/* Turns the current row of a statement into a new object. */
typedef gpointer (*RowFunc)(sqlite3_stmt *st);

/* One row by key: the object, or NULL with NOT_FOUND or IO set. */
static gpointer get_one(SqliteStore *q, int i, const char *key,
                        RowFunc row, const char *what,
                        GError **errp)
{
    sqlite3_stmt *st = stmt(q, i);
    gpointer obj = NULL;
    int rc;

    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        obj = row(st);
    } else if (rc == SQLITE_DONE) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_NOT_FOUND,
                    "no %s %s", what, key);
    } else {
        fail(q, errp, sqlite3_sql(st));
    }
    sqlite3_reset(st);
    return obj;
}

static GPtrArray *get_all(SqliteStore *q, int i, RowFunc row,
                          GDestroyNotify free_fn, GError **errp)
{
    sqlite3_stmt *st = stmt(q, i);
    GPtrArray *out = g_ptr_array_new_with_free_func(free_fn);
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        g_ptr_array_add(out, row(st));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        g_ptr_array_unref(out);
        fail(q, errp, sqlite3_sql(st));
        return NULL;
    }
    return out;
}

static CdEndpoint *sq_get_endpoint(CdStore *s, const char *id, GError **errp)
{
    return get_one(SQL(s), ST_GET_EP, id, (RowFunc)row_endpoint, "endpoint",
                   errp);
}

static GPtrArray *sq_list_endpoints(CdStore *s, GError **errp)
{
    return get_all(SQL(s), ST_LIST_EP, (RowFunc)row_endpoint,
                   (GDestroyNotify)cd_endpoint_free, errp);
}

static gboolean sq_put_vm(CdStore *s, const CdVm *v, GError **errp)
{
    SqliteStore *q = SQL(s);
    sqlite3_stmt *st = stmt(q, ST_PUT_VM);

    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v->pid);
    sqlite3_bind_int(st, 3, v->slots);
    sqlite3_bind_int(st, 4, v->rc_id);
    bind_mac(st, 5, v->mac);
    sqlite3_bind_int(st, 6, v->connected);
    return run(q, st, errp);
}

static CdVm *sq_get_vm(CdStore *s, const char *name, GError **errp)
{
    return get_one(SQL(s), ST_GET_VM, name, (RowFunc)row_vm, "VM", errp);
}

static GPtrArray *sq_list_vms(CdStore *s, GError **errp)
{
    return get_all(SQL(s), ST_LIST_VM, (RowFunc)row_vm,
                   (GDestroyNotify)cd_vm_free, errp);
}

/* Inside a transaction or not: the counter, 0 if none. */
static gboolean read_gen(SqliteStore *q, const char *endpoint, guint64 *gen,
                         GError **errp)
{
    sqlite3_stmt *st = stmt(q, ST_GET_GEN);
    int rc;

    sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *gen = rc == SQLITE_ROW ? (guint64)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return fail(q, errp, "reading a generation");
    }
    return TRUE;
}

static gboolean write_gen(SqliteStore *q, const char *endpoint, guint64 gen,
                          GError **errp)
{
    sqlite3_stmt *st = stmt(q, ST_SET_GEN);

    sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)gen);
    return run(q, st, errp);
}

static gboolean sq_get_generation(CdStore *s, const char *endpoint,
                                  guint64 *gen, GError **errp)
{
    return read_gen(SQL(s), endpoint, gen, errp);
}

static CdAssignment *sq_get_assignment(CdStore *s, const char *endpoint,
                                       GError **errp)
{
    GError *err = NULL;
    CdAssignment *a = get_one(SQL(s), ST_GET_AS, endpoint,
                              (RowFunc)row_assignment, "assignment", &err);

    if (!a && !g_error_matches(err, CD_STORE_ERROR, CD_STORE_ERROR_NOT_FOUND)) {
        g_propagate_error(errp, err);
        return NULL;
    }
    g_clear_error(&err);
    return a;
}

static GPtrArray *sq_list_assignments(CdStore *s, GError **errp)
{
    return get_all(SQL(s), ST_LIST_AS, (RowFunc)row_assignment,
                   (GDestroyNotify)cd_assignment_free, errp);
}

static gboolean sq_cas_assignment(CdStore *s, const char *endpoint,
                                  guint64 expect, const CdAssignment *next,
                                  guint64 *gen_out, GError **errp)
{
    SqliteStore *q = SQL(s);
    g_autoptr(CdAssignment) cur = NULL;
    GError *err = NULL;
    sqlite3_stmt *st;
    guint64 gen;

    if (!begin(q, errp)) {
        return FALSE;
    }
    if (!read_gen(q, endpoint, &gen, errp)) {
        return rollback(q);
    }
    if (gen != expect) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_CONFLICT,
                    "endpoint %s changed meanwhile (generation %" G_GUINT64_FORMAT
                    ", expected %" G_GUINT64_FORMAT ")", endpoint, gen, expect);
        return rollback(q);
    }
    cur = sq_get_assignment(s, endpoint, &err);
    if (err) {
        g_propagate_error(errp, err);
        return rollback(q);
    }
    if (next && cur && g_strcmp0(cur->vm, next->vm) != 0) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_OWNED,
                    "%s", cur->vm);
        return rollback(q);
    }
    if (!write_gen(q, endpoint, gen + 1, errp)) {
        return rollback(q);
    }
    if (next) {
        st = stmt(q, ST_PUT_AS);
        sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, next->vm, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, next->slot);
        sqlite3_bind_int(st, 4, next->bdf);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)(gen + 1));
        sqlite3_bind_int(st, 6, next->state);
    } else {
        st = stmt(q, ST_DEL_AS);
        sqlite3_bind_text(st, 1, endpoint, -1, SQLITE_STATIC);
    }
    if (!run(q, st, errp) || !commit(q, errp)) {
        return rollback(q);
    }
    if (gen_out) {
        *gen_out = gen + 1;
    }
    return TRUE;
}

static gboolean sq_set_state(CdStore *s, const char *endpoint, guint64 gen,
                             CdAssignState state, GError **errp)
{
    SqliteStore *q = SQL(s);
    sqlite3_stmt *st = stmt(q, ST_SET_STATE);

    sqlite3_bind_int(st, 1, state);
    sqlite3_bind_text(st, 2, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)gen);
    if (!run(q, st, errp)) {
        return FALSE;
    }
    if (sqlite3_changes(q->db) == 0) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_CONFLICT,
                    "endpoint %s has no assignment of generation %"
                    G_GUINT64_FORMAT, endpoint, gen);
        return FALSE;
    }
    return TRUE;
}

static gboolean sq_raise_generation(CdStore *s, const char *endpoint,
                                    guint64 at_least, GError **errp)
{
    SqliteStore *q = SQL(s);
    guint64 gen;

    if (!begin(q, errp)) {
        return FALSE;
    }
    if (!read_gen(q, endpoint, &gen, errp) ||
        (gen < at_least && !write_gen(q, endpoint, at_least, errp)) ||
        !commit(q, errp)) {
        return rollback(q);
    }
    return TRUE;
}

static void sq_close(CdStore *s)
{
    SqliteStore *q = SQL(s);

    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(q->st[i]);
    }
    sqlite3_close(q->db);
    g_free(q);
}

static const CdStoreOps sqlite_ops = {
    .name = "sqlite",
    .put_endpoint = sq_put_endpoint,
    .get_endpoint = sq_get_endpoint,
    .list_endpoints = sq_list_endpoints,
    .put_vm = sq_put_vm,
    .get_vm = sq_get_vm,
    .list_vms = sq_list_vms,
    .get_generation = sq_get_generation,
    .get_assignment = sq_get_assignment,
    .list_assignments = sq_list_assignments,
    .cas_assignment = sq_cas_assignment,
    .set_state = sq_set_state,
    .raise_generation = sq_raise_generation,
    .close = sq_close,
};

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    return v;
}

CdStore *cd_store_open_sqlite(const char *path, GError **errp)
{
    SqliteStore *q = g_new0(SqliteStore, 1);
    char *msg = NULL;
    int v;

    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_IO,
                    "cannot open the store %s: %s", path,
                    q->db ? sqlite3_errmsg(q->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(q->db, 5000);
    if (sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     " PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_IO,
                    "store %s: %s", path, msg);
        goto fail;
    }
    v = user_version(q->db);
    if (v > SCHEMA_VERSION || v < 0) {
        g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_SCHEMA,
                    "store %s has schema version %d; this configd knows %d",
                    path, v, SCHEMA_VERSION);
        goto fail;
    }
    if (v < SCHEMA_VERSION) {
        char *ddl = g_strdup_printf("BEGIN; %s PRAGMA user_version=%d; COMMIT;",
                                    schema, SCHEMA_VERSION);
        int rc = sqlite3_exec(q->db, ddl, NULL, NULL, &msg);

        g_free(ddl);
        if (rc != SQLITE_OK) {
            g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_IO,
                        "store %s: creating the schema: %s", path, msg);
            goto fail;
        }
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(q->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &q->st[i], NULL) != SQLITE_OK) {
            g_set_error(errp, CD_STORE_ERROR, CD_STORE_ERROR_IO,
                        "store %s: %s: %s", path, sql[i], sqlite3_errmsg(q->db));
            goto fail;
        }
    }
    cd_store_init(&q->parent, &sqlite_ops);
    return &q->parent;

fail:
    sqlite3_free(msg);
    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(q->st[i]);
    }
    sqlite3_close(q->db);
    g_free(q);
    return NULL;
}
