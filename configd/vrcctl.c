/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrcctl: the operator's CLI for configd.  One verb per subcommand; talks
 * only to configd's control socket (docs/configd.md).  Human tables by
 * default, --json for scripts.  Exit status: 0 done, 1 refused by configd,
 * 2 usage error or no configd.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pciids.h"

#define DEFAULT_SOCKET "/run/vrc/configd.sock"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static char *opt_socket;
static gboolean opt_json;
static gboolean opt_follow;
static gint opt_rc_id = -1, opt_slots = -1, opt_pid;
static char *opt_mac;

typedef struct {
    GSocketConnection *conn;
    GDataInputStream *in;
    GOutputStream *out;
    guint next_id;
} Ctl;

static int die_usage(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("vrcctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (vrcctl --help)\n", stderr);
    return EXIT_USAGE;
}

static gboolean ctl_connect(Ctl *c)
{
    const char *path = opt_socket ? opt_socket : DEFAULT_SOCKET;
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GError) err = NULL;

    /* A plain socket: GSocketClient would look for proxies first. */
    sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_DEFAULT, &err);
    if (!sock || !g_socket_connect(sock, addr, NULL, &err)) {
        fprintf(stderr, "vrcctl: configd is not running at %s (%s); start it, "
                "or point --socket at its control socket\n", path, err->message);
        return FALSE;
    }
    c->conn = g_socket_connection_factory_create_connection(sock);
    c->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(c->conn)));
    c->out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    return TRUE;
}

/* Send @req (its "id" is set here); FALSE if configd went away. */
static gboolean ctl_send(Ctl *c, JsonBuilder *b)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *json = NULL;
    g_autofree char *line = NULL;
    g_autoptr(GError) err = NULL;

    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, ++c->next_id);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json = json_to_string(root, FALSE);
    line = g_strconcat(json, "\n", NULL);
    if (!g_output_stream_write_all(c->out, line, strlen(line), NULL, NULL, &err)) {
        fprintf(stderr, "vrcctl: configd closed the connection: %s\n", err->message);
        return FALSE;
    }
    return TRUE;
}

/* The next line from configd, parsed; NULL at the end. */
static JsonNode *ctl_read(Ctl *c)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *line = g_data_input_stream_read_line_utf8(c->in, NULL, NULL, &err);
    g_autoptr(JsonParser) p = json_parser_new();

    if (!line) {
        return NULL;
    }
    if (!json_parser_load_from_data(p, line, -1, &err)) {
        fprintf(stderr, "vrcctl: configd sent something that is not JSON: %s\n",
                err->message);
        return NULL;
    }
    return json_node_copy(json_parser_get_root(p));
}

static JsonBuilder *request(const char *cmd)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cmd");
    json_builder_add_string_value(b, cmd);
    return b;
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

static void print_json(JsonNode *n)
{
    g_autofree char *s = json_to_string(n, TRUE);

    printf("%s\n", s);
}

/*
 * One request, one response.  Returns the exit status; *@result gets the
 * result object of a successful request.
 */
static int call(JsonBuilder *b, JsonNode **result)
{
    Ctl c = { 0 };
    g_autoptr(JsonNode) resp = NULL;
    JsonObject *o;
    int rc = EXIT_USAGE;

    if (!ctl_connect(&c)) {
        g_object_unref(b);
        return EXIT_USAGE;
    }
    if (!ctl_send(&c, b) || !(resp = ctl_read(&c))) {
        if (!resp) {
            fprintf(stderr, "vrcctl: configd closed the connection without "
                    "answering\n");
        }
        goto out;
    }
    o = json_node_get_object(resp);
    if (json_object_get_boolean_member(o, "ok")) {
        *result = json_node_copy(json_object_get_member(o, "result"));
        rc = EXIT_OK;
    } else {
        JsonObject *e = json_object_get_object_member(o, "error");
        const char *code = json_object_get_string_member(e, "code");

        if (opt_json) {
            print_json(resp);
        } else {
            fprintf(stderr, "vrcctl: %s\n", json_object_get_string_member(e, "message"));
        }
        rc = g_strcmp0(code, "usage") == 0 ? EXIT_USAGE : EXIT_REFUSED;
    }
out:
    g_object_unref(b);
    g_clear_object(&c.in);
    g_clear_object(&c.conn);
    return rc;
}

static const char *str(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_string(n) : NULL;
}

static gint64 num(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : 0;
}

static JsonObject *obj(JsonObject *o, const char *k)
{
    JsonNode *n = json_object_get_member(o, k);

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* "8086:10d3 Intel Corporation 82574L Gigabit Network Connection" */
static char *device_name(JsonObject *e)
{
    guint v = strtoul(str(e, "vendor"), NULL, 16);
    guint d = strtoul(str(e, "device"), NULL, 16);
    const char *vn = pciids_vendor(v), *dn = pciids_device(v, d);

    return g_strdup_printf("%04x:%04x %s%s%s", v, d,
                           vn ? vn : "(unknown vendor)",
                           dn ? " " : "", dn ? dn : "");
}

static char *assignment_text(JsonObject *a)
{
    if (!a) {
        return g_strdup("-");
    }
    return g_strdup_printf("%s slot %" G_GINT64_FORMAT " %s%s", str(a, "vm"),
                           num(a, "slot"), str(a, "bdf"),
                           g_strcmp0(str(a, "state"), "active") ? " (pending)" : "");
}

static int cmd_list(void)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *eps;
    int rc = call(request("list"), &r);

    if (rc || opt_json) {
        if (!rc) {
            print_json(r);
        }
        return rc;
    }
    eps = json_object_get_array_member(json_node_get_object(r), "endpoints");
    printf("%-20s %-5s %5s  %-50.50s %-22.22s %s\n", "ENDPOINT", "STATE", "GEN",
           "DEVICE", "CLASS", "ASSIGNED");
    for (guint i = 0; i < json_array_get_length(eps); i++) {
        JsonObject *e = json_array_get_object_element(eps, i);
        g_autofree char *dev = device_name(e);
        g_autofree char *as = assignment_text(obj(e, "assignment"));
        const char *cls = pciids_class(strtoul(str(e, "class"), NULL, 16));

        printf("%-20s %-5s %5" G_GINT64_FORMAT "  %-50.50s %-22.22s %s\n",
               str(e, "id"), str(e, "state"), num(e, "generation"), dev,
               cls ? cls : str(e, "class"), as);
    }
    if (json_array_get_length(eps) == 0) {
        printf("(no endpoint has announced itself yet)\n");
    }
    return EXIT_OK;
}

static int cmd_show(const char *ep)
{
    g_autoptr(JsonNode) r = NULL;
    JsonBuilder *b = request("show");
    JsonObject *e, *own;
    JsonArray *bars;
    int rc;

    add_str(b, "endpoint", ep);
    rc = call(b, &r);
    if (rc || opt_json) {
        if (!rc) {
            print_json(r);
        }
        return rc;
    }
    e = json_node_get_object(r);
    {
        g_autofree char *dev = device_name(e);
        g_autofree char *as = assignment_text(obj(e, "assignment"));
        const char *cls = pciids_class(strtoul(str(e, "class"), NULL, 16));
        gint64 age = g_get_real_time() / 1000 - num(e, "last_seen_ms");

        printf("endpoint     %s (function %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
               ")\n", str(e, "id"), num(e, "function"), num(e, "functions"));
        printf("device       %s\n", dev);
        printf("class        %s %s rev %02" G_GINT64_MODIFIER "x\n", str(e, "class"),
               cls ? cls : "", num(e, "revision"));
        printf("subsystem    %s:%s\n", str(e, "subsys_vendor"), str(e, "subsys_id"));
        printf("serial       %s\n", str(e, "serial"));
        printf("state        %s on %s, last heard %.1f s ago, heartbeat %"
               G_GINT64_FORMAT " ms\n", str(e, "state"), str(e, "interface"),
               age / 1000.0, num(e, "interval_ms"));
        printf("generation   %" G_GINT64_FORMAT " held, %" G_GINT64_FORMAT
               " in the store\n", num(e, "generation"), num(e, "store_generation"));
        own = obj(e, "owner");
        if (own) {
            printf("serving      rc id %" G_GINT64_FORMAT " at %s as %s\n",
                   num(own, "rc_id"), str(own, "mac"), str(own, "bdf"));
        } else {
            printf("serving      nobody (free)\n");
        }
        printf("assigned     %s\n", as);
    }
    bars = json_object_get_array_member(e, "bars");
    for (guint i = 0; i < json_array_get_length(bars); i++) {
        JsonObject *bar = json_array_get_object_element(bars, i);
        g_autofree char *sz = g_format_size_full(num(bar, "size"), G_FORMAT_SIZE_IEC_UNITS);

        printf("BAR%" G_GINT64_FORMAT "         %s %s%s\n", num(bar, "bar"), sz,
               str(bar, "type"),
               json_object_get_boolean_member(bar, "prefetchable") ? " prefetchable" : "");
    }
    return EXIT_OK;
}

static int cmd_vms(void)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *vms;
    int rc = call(request("vms"), &r);

    if (rc || opt_json) {
        if (!rc) {
            print_json(r);
        }
        return rc;
    }
    vms = json_object_get_array_member(json_node_get_object(r), "vms");
    printf("%-16s %-9s %5s %-17s %5s  %s\n", "VM", "STATE", "RC", "MAC", "SLOTS",
           "ASSIGNED");
    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *v = json_array_get_object_element(vms, i);
        JsonArray *as = json_object_get_array_member(v, "assignments");
        g_autoptr(GString) list = g_string_new(NULL);

        for (guint j = 0; j < json_array_get_length(as); j++) {
            JsonObject *a = json_array_get_object_element(as, j);

            g_string_append_printf(list, "%s%s@%" G_GINT64_FORMAT, j ? ", " : "",
                                   str(a, "endpoint"), num(a, "slot"));
        }
        printf("%-16s %-9s %5" G_GINT64_FORMAT " %-17s %5" G_GINT64_FORMAT "  %s\n",
               str(v, "name"), str(v, "state"), num(v, "rc_id"), str(v, "mac"),
               num(v, "slots"), list->len ? list->str : "-");
    }
    if (json_array_get_length(vms) == 0) {
        printf("(no VM has registered yet)\n");
    }
    return EXIT_OK;
}

static int cmd_attach(const char *ep, const char *vm, const char *slot)
{
    g_autoptr(JsonNode) r = NULL;
    JsonBuilder *b = request("attach");
    JsonObject *a;
    int rc;

    add_str(b, "endpoint", ep);
    add_str(b, "vm", vm);
    if (slot) {
        char *end;
        long s = strtol(slot, &end, 10);

        if (*end || end == slot || s < 0) {
            g_object_unref(b);
            return die_usage("slot must be a number >= 0, not '%s'", slot);
        }
        add_int(b, "slot", s);
    }
    rc = call(b, &r);
    if (rc || opt_json) {
        if (!rc) {
            print_json(r);
        }
        return rc;
    }
    a = json_node_get_object(r);
    printf("%s attached to %s slot %" G_GINT64_FORMAT " as %s (generation %"
           G_GINT64_FORMAT ")\n", str(a, "endpoint"), str(a, "vm"), num(a, "slot"),
           str(a, "bdf"), num(a, "generation"));
    return EXIT_OK;
}

static int cmd_detach(const char *ep)
{
    g_autoptr(JsonNode) r = NULL;
    JsonBuilder *b = request("detach");
    JsonObject *a;
    int rc;

    add_str(b, "endpoint", ep);
    rc = call(b, &r);
    if (rc || opt_json) {
        if (!rc) {
            print_json(r);
        }
        return rc;
    }
    a = json_node_get_object(r);
    printf("%s detached from %s\n", str(a, "endpoint"), str(a, "vm"));
    return EXIT_OK;
}

static int cmd_status(void)
{
    g_autoptr(JsonNode) r = NULL;
    int rc = call(request("status"), &r);

    if (!rc) {
        print_json(r);
    }
    return rc;
}

static void print_event(JsonNode *n)
{
    JsonObject *o = json_node_get_object(n);
    const char *ev = str(o, "event");
    g_autofree char *ts = g_date_time_format(g_date_time_new_now_local(), "%T");
    JsonObject *x;

    if (opt_json || !ev) {
        g_autofree char *s = json_to_string(n, FALSE);

        printf("%s\n", s);
    } else if ((x = obj(o, "endpoint"))) {
        g_autofree char *dev = device_name(x);

        printf("%s %-17s %s %s\n", ts, ev, str(x, "id"), dev);
    } else if ((x = obj(o, "assignment"))) {
        printf("%s %-17s %s %s slot %" G_GINT64_FORMAT " %s gen %" G_GINT64_FORMAT
               "%s%s\n", ts, ev, str(x, "endpoint"), str(x, "vm"), num(x, "slot"),
               str(x, "bdf"), num(x, "generation"), str(o, "error") ? ": " : "",
               str(o, "error") ? str(o, "error") : "");
    } else if ((x = obj(o, "vm"))) {
        printf("%s %-17s %s (rc id %" G_GINT64_FORMAT ", %s)\n", ts, ev,
               str(x, "name"), num(x, "rc_id"), str(x, "mac"));
    } else {
        g_autofree char *s = json_to_string(n, FALSE);

        printf("%s %s\n", ts, s);
    }
    fflush(stdout);
}

/* Send @b, then print what comes until configd goes away. */
static int stream(JsonBuilder *b)
{
    Ctl c = { 0 };
    JsonNode *n;
    JsonObject *o;

    if (!ctl_connect(&c)) {
        g_object_unref(b);
        return EXIT_USAGE;
    }
    if (!ctl_send(&c, b)) {
        g_object_unref(b);
        return EXIT_USAGE;
    }
    g_object_unref(b);
    n = ctl_read(&c);
    if (!n) {
        fprintf(stderr, "vrcctl: configd closed the connection\n");
        return EXIT_USAGE;
    }
    o = json_node_get_object(n);
    if (!json_object_get_boolean_member(o, "ok")) {
        fprintf(stderr, "vrcctl: %s\n", json_object_get_string_member(
                json_object_get_object_member(o, "error"), "message"));
        return EXIT_REFUSED;
    }
    if (opt_json || json_node_get_node_type(json_object_get_member(o, "result"))
                    != JSON_NODE_NULL) {
        g_autofree char *s = json_to_string(n, FALSE);

        printf("%s\n", s);
        fflush(stdout);
    }
    json_node_unref(n);
    while ((n = ctl_read(&c))) {
        print_event(n);
        json_node_unref(n);
    }
    fprintf(stderr, "vrcctl: configd closed the connection\n");
    return EXIT_USAGE;
}

static int cmd_vm_register(const char *name)
{
    JsonBuilder *b;
    uint8_t m[6];

    if (!opt_mac || sscanf(opt_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1],
                           &m[2], &m[3], &m[4], &m[5]) != 6 ||
        opt_rc_id < 1 || opt_slots < 0) {
        return die_usage("vm-register NAME needs --mac MAC --rc-id N --slots N");
    }
    b = request("vm-register");
    add_str(b, "name", name);
    add_str(b, "mac", opt_mac);
    add_int(b, "rc_id", opt_rc_id);
    add_int(b, "slots", opt_slots);
    add_int(b, "pid", opt_pid ? opt_pid : getpid());
    return stream(b);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) err = NULL;
    GOptionEntry entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
          "configd's control socket (default " DEFAULT_SOCKET ")", "PATH" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
          "Print configd's JSON instead of tables", NULL },
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
          "events: keep printing events as they come", NULL },
        { "mac", 0, 0, G_OPTION_ARG_STRING, &opt_mac,
          "vm-register: the vrc's MAC", "MAC" },
        { "rc-id", 0, 0, G_OPTION_ARG_INT, &opt_rc_id,
          "vm-register: the vrc's rc id", "N" },
        { "slots", 0, 0, G_OPTION_ARG_INT, &opt_slots,
          "vm-register: hot-plug slots of the VM", "N" },
        { "pid", 0, 0, G_OPTION_ARG_INT, &opt_pid,
          "vm-register: the VM's pid (default: vrcctl's)", "PID" },
        { NULL }
    };
    const char *verb;

    setlocale(LC_ALL, "");
    ctx = g_option_context_new("COMMAND [ARGS]");
    g_option_context_set_summary(ctx,
        "Commands:\n"
        "  list                            endpoints discovered, their state and owner\n"
        "  show ENDPOINT                   one endpoint in detail\n"
        "  vms                             VMs registered and what they hold\n"
        "  attach ENDPOINT[.FN] VM [SLOT]  assign an endpoint function to a VM slot\n"
        "  detach ENDPOINT[.FN]            release it\n"
        "  events --follow                 print events as they happen\n"
        "  status                          configd's counters\n"
        "  vm-register NAME --mac M --rc-id N --slots N\n"
        "                                  register a VM and stay connected, printing\n"
        "                                  its events (what a QEMU with\n"
        "                                  -device vrc,configd=SOCKET does)\n"
        "\n"
        "ENDPOINT is the endpoint's MAC, optionally with .FN (default .0).\n"
        "Exit status: 0 done, 1 refused by configd, 2 usage error or no configd.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        return die_usage("%s", err->message);
    }
    if (argc < 2) {
        return die_usage("which command?");
    }
    verb = argv[1];
    if (!strcmp(verb, "list") && argc == 2) {
        return cmd_list();
    } else if (!strcmp(verb, "show") && argc == 3) {
        return cmd_show(argv[2]);
    } else if (!strcmp(verb, "vms") && argc == 2) {
        return cmd_vms();
    } else if (!strcmp(verb, "attach") && (argc == 4 || argc == 5)) {
        return cmd_attach(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    } else if (!strcmp(verb, "detach") && argc == 3) {
        return cmd_detach(argv[2]);
    } else if (!strcmp(verb, "events") && argc == 2) {
        if (!opt_follow) {
            return die_usage("events only follows: vrcctl events --follow");
        }
        return stream(request("events"));
    } else if (!strcmp(verb, "status") && argc == 2) {
        return cmd_status();
    } else if (!strcmp(verb, "vm-register") && argc == 3) {
        return cmd_vm_register(argv[2]);
    }
    return die_usage("unknown command or wrong arguments: %s", verb);
}
