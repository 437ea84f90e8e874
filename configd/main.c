/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * configd: the configuration agent.  Discovers endpoints on Ethernet
 * segments (DISC, docs/protocol.md section 5), keeps their inventory and
 * the assignments of endpoint functions to VM slots in a store, and serves
 * the control socket (docs/configd.md) that vrcctl and VMs talk to.
 */
#include <glib-unix.h>
#include <locale.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "configd.h"
#include "encap/crypto.h"

#define DEFAULT_SOCKET "/run/vrc/configd.sock"
#define DEFAULT_DB     "/var/lib/vrc/configd.db"

static gboolean on_quit(gpointer opaque)
{
    Configd *cd = opaque;

    g_message("stopping");
    g_main_loop_quit(cd->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_hup(gpointer opaque)
{
    Configd *cd = opaque;

    g_message("SIGHUP: soliciting every interface again");
    cd_disc_solicit(cd);
    return G_SOURCE_CONTINUE;
}

/*
 * The pre-shared key from @path, in the format of QEMU's
 * `-object secret,format=base64,file=PATH` (docs/configd.md), so that one
 * file serves configd, the vrc and the endpoints.
 */
static gboolean load_key(const char *path, struct encap_disc_key *key,
                         GError **errp)
{
    g_autofree char *text = NULL;
    uint8_t psk[256];
    gsize len = 0;
    int n;

    if (!g_file_get_contents(path, &text, &len, errp)) {
        return FALSE;
    }
    n = encap_psk_from_base64(text, len, psk, sizeof(psk));
    encap_wipe(text, len);
    if (n == -ENCAP_E_LENGTH) {
        g_set_error(errp, CD_ERROR, CD_ERROR_USAGE, "%s: the key must be 16 to "
                    "256 bytes (before base64); make one with 'head -c 32 "
                    "/dev/urandom | base64 > %s'", path, path);
        return FALSE;
    }
    if (n < 0) {
        g_set_error(errp, CD_ERROR, CD_ERROR_USAGE, "%s: not a base64 key (the "
                    "format of QEMU's secret object with format=base64: the "
                    "base64 alphabet and newlines only)", path);
        return FALSE;
    }
    encap_disc_key_init(key, psk, n);
    encap_wipe(psk, sizeof(psk));
    return TRUE;
}

/* No connection survives a restart: every VM is gone until it registers. */
static void vms_all_gone(Configd *cd)
{
    g_autoptr(GPtrArray) vms = cd_store_list_vms(cd->store, NULL);

    for (guint i = 0; vms && i < vms->len; i++) {
        CdVm *v = g_ptr_array_index(vms, i);

        if (v->connected) {
            v->connected = FALSE;
            cd_store_put_vm(cd->store, v, NULL);
        }
    }
}

int main(int argc, char **argv)
{
    g_auto(GStrv) ifaces = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *db = NULL;
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *dbdir = NULL;
    g_autofree char *key_file = NULL;
    struct encap_disc_key key;
    gboolean insecure = FALSE, verbose = FALSE;
    gint miss = 3, solicit = 30;
    Configd cd = { 0 };
    GOptionEntry entries[] = {
        { "interface", 'i', 0, G_OPTION_ARG_STRING_ARRAY, &ifaces,
          "Discover endpoints on interface IF (repeatable)", "IF" },
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &sock,
          "Control socket (default " DEFAULT_SOCKET ")", "PATH" },
        { "db", 'd', 0, G_OPTION_ARG_FILENAME, &db,
          "The store, an SQLite file (default " DEFAULT_DB ")", "FILE" },
        { "miss", 'k', 0, G_OPTION_ARG_INT, &miss,
          "Heartbeats missed before an endpoint is gone (default 3)", "K" },
        { "solicit-interval", 0, 0, G_OPTION_ARG_INT, &solicit,
          "Seconds between SOLICITs (default 30)", "S" },
        { "key-file", 0, 0, G_OPTION_ARG_FILENAME, &key_file,
          "Sign and check DISC frames with the pre-shared key in FILE "
          "(base64, as QEMU's secret object with format=base64)", "FILE" },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
          "Run without a key: DISC frames unsigned", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
          "Log every dropped frame and send failure", NULL },
        { NULL }
    };

    setlocale(LC_ALL, "");
    ctx = g_option_context_new("- the vrc configuration agent");
    g_option_context_set_summary(ctx,
        "Discovers vrc endpoints on Ethernet segments, keeps their inventory\n"
        "and assignments to VMs, and serves the control socket for vrcctl.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "configd: %s (try --help)\n", err->message);
        return 2;
    }
    if (key_file && insecure) {
        fprintf(stderr, "configd: --key-file and --insecure contradict each "
                "other; give one\n");
        return 2;
    }
    if (!key_file && !insecure) {
        fprintf(stderr, "configd: no key: give --key-file FILE (the pre-shared "
                "key of the vrcs and endpoints, base64) to sign and check DISC "
                "frames, or --insecure to run without one on a segment you "
                "trust (then anyone on it can announce endpoints or send "
                "ASSIGNs)\n");
        return 2;
    }
    if (key_file && !load_key(key_file, &key, &err)) {
        fprintf(stderr, "configd: --key-file %s\n", err->message);
        return 2;
    }
    if (!ifaces || !ifaces[0]) {
        fprintf(stderr, "configd: give at least one --interface to discover "
                "endpoints on\n");
        return 2;
    }
    if (miss < 1 || solicit < 1) {
        fprintf(stderr, "configd: --miss and --solicit-interval must be >= 1\n");
        return 2;
    }
    if (!sock) {
        sock = g_strdup(DEFAULT_SOCKET);
    }
    if (!db) {
        db = g_strdup(DEFAULT_DB);
    }
    dbdir = g_path_get_dirname(db);
    g_mkdir_with_parents(dbdir, 0755);

    cd.loop = g_main_loop_new(NULL, FALSE);
    cd.miss = miss;
    cd.solicit_s = solicit;
    cd.verbose = verbose;
    cd.key = key_file ? &key : NULL;
    cd.next_xid = g_random_int();
    cd.endpoints = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)cd_endpoint_free);
    cd.txns = g_hash_table_new(g_str_hash, g_str_equal);
    cd.links = g_ptr_array_new();
    cd.store = cd_store_open_sqlite(db, &err);
    if (!cd.store) {
        fprintf(stderr, "configd: %s\n", err->message);
        return 1;
    }
    vms_all_gone(&cd);
    cd_disc_load(&cd);
    for (int i = 0; ifaces[i]; i++) {
        if (!cd_disc_open(&cd, ifaces[i], &err)) {
            fprintf(stderr, "configd: %s\n", err->message);
            return 1;
        }
    }
    if (!cd_api_open(&cd, sock, &err)) {
        fprintf(stderr, "configd: %s\n", err->message);
        return 1;
    }
    g_unix_signal_add(SIGTERM, on_quit, &cd);
    g_unix_signal_add(SIGINT, on_quit, &cd);
    g_unix_signal_add(SIGHUP, on_hup, &cd);
    cd_disc_solicit(&cd);
    g_message("listening on %s; store %s; %u interface(s); DISC %s", sock, db,
              cd.links->len, cd.key ? "signed" : "unsigned (--insecure)");
    g_main_loop_run(cd.loop);

    cd_api_close(&cd);
    cd_disc_close_all(&cd);
    cd_store_close(cd.store);
    g_hash_table_destroy(cd.txns);
    g_hash_table_destroy(cd.endpoints);
    g_ptr_array_free(cd.links, TRUE);
    g_main_loop_unref(cd.loop);
    encap_disc_key_wipe(&key);
    return 0;
}
