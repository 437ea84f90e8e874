/* SPDX-License-Identifier: GPL-2.0-or-later */
/* configd's store, SQLite backend, in a temporary directory. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "store.h"

typedef struct {
    char *dir;
    char *path;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("vrc-store-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->path = g_build_filename(f->dir, "configd.db", NULL);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(f->dir, n, NULL);
        g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
}

static CdStore *open_store(Fixture *f)
{
    GError *err = NULL;
    CdStore *s = cd_store_open_sqlite(f->path, &err);

    g_assert_no_error(err);
    g_assert_nonnull(s);
    return s;
}

static void count_change(CdStore *s, CdStoreChange what, const char *key,
                         gpointer opaque)
{
    if (what == CD_STORE_CHANGE_ASSIGNMENT) {
        (*(int *)opaque)++;
    }
}

/* Two attaches that both saw generation 0: exactly one is recorded. */
static void test_cas_once(Fixture *f, gconstpointer data)
{
    CdStore *s = open_store(f);
    CdAssignment a = { .vm = "vm1", .slot = 1, .bdf = 0x0100 };
    CdAssignment b = { .vm = "vm2", .slot = 2, .bdf = 0x0200 };
    const char *ep = "02:76:72:00:00:01.0";
    g_autoptr(CdAssignment) got = NULL;
    GError *err = NULL;
    guint64 gen = 99;
    int changes = 0;

    cd_store_watch(s, count_change, &changes);
    g_assert_true(cd_store_get_generation(s, ep, &gen, &err));
    g_assert_cmpuint(gen, ==, 0);
    g_assert_true(cd_store_cas_assignment(s, ep, 0, &a, &gen, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(gen, ==, 1);
    g_assert_false(cd_store_cas_assignment(s, ep, 0, &b, &gen, &err));
    g_assert_error(err, CD_STORE_ERROR, CD_STORE_ERROR_CONFLICT);
    g_clear_error(&err);
    /* Even with the right generation, another VM's endpoint is refused,
     * and the error names the owner. */
    g_assert_false(cd_store_cas_assignment(s, ep, 1, &b, &gen, &err));
    g_assert_error(err, CD_STORE_ERROR, CD_STORE_ERROR_OWNED);
    g_assert_cmpstr(err->message, ==, "vm1");
    g_clear_error(&err);
    g_assert_cmpint(changes, ==, 1);

    got = cd_store_get_assignment(s, ep, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(got->vm, ==, "vm1");
    g_assert_cmpuint(got->generation, ==, 1);
    g_assert_cmpint(got->state, ==, CD_ASSIGN_PENDING);
    g_assert_true(cd_store_set_state(s, ep, 1, CD_ASSIGN_ACTIVE, &err));
    g_assert_false(cd_store_set_state(s, ep, 7, CD_ASSIGN_ACTIVE, &err));
    g_assert_error(err, CD_STORE_ERROR, CD_STORE_ERROR_CONFLICT);
    g_clear_error(&err);
    g_assert_cmpint(changes, ==, 2);

    /* Release (generation 2), then vm2 may have it (generation 3). */
    g_assert_true(cd_store_cas_assignment(s, ep, 1, NULL, &gen, &err));
    g_assert_cmpuint(gen, ==, 2);
    g_assert_null(cd_store_get_assignment(s, ep, &err));
    g_assert_no_error(err);
    g_assert_true(cd_store_cas_assignment(s, ep, 2, &b, &gen, &err));
    g_assert_cmpuint(gen, ==, 3);
    /* raise never lowers */
    g_assert_true(cd_store_raise_generation(s, ep, 2, &err));
    g_assert_true(cd_store_get_generation(s, ep, &gen, &err));
    g_assert_cmpuint(gen, ==, 3);
    g_assert_true(cd_store_raise_generation(s, ep, 10, &err));
    g_assert_true(cd_store_get_generation(s, ep, &gen, &err));
    g_assert_cmpuint(gen, ==, 10);
    cd_store_close(s);
}

/* Closed (or killed: WAL) and reopened, everything is still there. */
static void test_reopen(Fixture *f, gconstpointer data)
{
    CdStore *s = open_store(f);
    CdEndpoint e = {
        .id = "02:76:72:00:00:05.1", .mac = { 2, 0x76, 0x72, 0, 0, 5 },
        .fn = 1, .functions = 2, .vendor_id = 0x8086, .device_id = 0x10d3,
        .class_rev = 0x02000000, .serial = G_MAXUINT64, .ifname = "eth0",
        .generation = 1ull << 40, .interval_ms = 1000, .last_seen = 12345,
        .up = TRUE, .bars = { 17, 0 },
    };
    CdVm v = { .name = "vm1", .pid = 42, .slots = 4, .rc_id = 7,
               .mac = { 0x52, 0x54, 0, 1, 2, 3 }, .connected = TRUE };
    CdAssignment a = { .vm = "vm1", .slot = 3, .bdf = 0x0300 };
    g_autoptr(CdEndpoint) e2 = NULL;
    g_autoptr(CdVm) v2 = NULL;
    g_autoptr(CdAssignment) a2 = NULL;
    g_autoptr(GPtrArray) all = NULL;
    GError *err = NULL;
    guint64 gen;

    g_assert_true(cd_store_put_endpoint(s, &e, &err));
    g_assert_true(cd_store_put_vm(s, &v, &err));
    g_assert_true(cd_store_cas_assignment(s, e.id, 0, &a, &gen, &err));
    g_assert_no_error(err);
    cd_store_close(s);

    s = open_store(f);
    e2 = cd_store_get_endpoint(s, e.id, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(e2->mac, 6, e.mac, 6);
    g_assert_cmpuint(e2->serial, ==, e.serial);
    g_assert_cmpuint(e2->generation, ==, e.generation);
    g_assert_cmpmem(e2->bars, 12, e.bars, 12);
    g_assert_cmpstr(e2->ifname, ==, "eth0");
    v2 = cd_store_get_vm(s, "vm1", &err);
    g_assert_cmpuint(v2->rc_id, ==, 7);
    g_assert_cmpmem(v2->mac, 6, v.mac, 6);
    a2 = cd_store_get_assignment(s, e.id, &err);
    g_assert_nonnull(a2);
    g_assert_cmpstr(a2->vm, ==, "vm1");
    g_assert_cmpuint(a2->slot, ==, 3);
    g_assert_cmphex(a2->bdf, ==, 0x0300);
    g_assert_cmpuint(a2->generation, ==, 1);
    all = cd_store_list_assignments(s, &err);
    g_assert_cmpuint(all->len, ==, 1);
    g_assert_null(cd_store_get_vm(s, "nope", &err));
    g_assert_error(err, CD_STORE_ERROR, CD_STORE_ERROR_NOT_FOUND);
    g_clear_error(&err);
    cd_store_close(s);
}

/* A file of a future schema is refused, not reinterpreted. */
static void test_schema(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = NULL;
    CdStore *s = open_store(f);
    GError *err = NULL;

    cd_store_close(s);
    cmd = g_strdup_printf("sqlite3 %s 'PRAGMA user_version=99'", f->path);
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, &err));
    g_assert_null(cd_store_open_sqlite(f->path, &err));
    g_assert_error(err, CD_STORE_ERROR, CD_STORE_ERROR_SCHEMA);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/store/cas-once", Fixture, NULL, setup, test_cas_once, teardown);
    g_test_add("/store/reopen", Fixture, NULL, setup, test_reopen, teardown);
    g_test_add("/store/schema", Fixture, NULL, setup, test_schema, teardown);
    return g_test_run();
}
