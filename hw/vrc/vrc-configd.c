/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrc: a VM's connection to configd (docs/configd.md, "Control socket").
 *
 * Every vrc with 'configd=PATH' is a slot of this VM at that configd.  Once
 * the machine is built, one connection per PATH registers the VM
 * (vm-register: name, pid, number of slots, rc id, the vrc's MAC) and stays
 * open for the VM's life.  configd answers with the assignments the VM
 * holds and later sends 'attached' and 'detached' events; each fills or
 * empties one slot (vrc-slot.c): attached opens a session with the
 * endpoint and hot-adds its function, detached removes it (the endpoint
 * has been released by then, so the session is over anyway).  If the
 * connection drops, the slots stay as they are, and the VM registers again
 * every second until configd is back.
 *
 * Main loop, BQL held.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qjson.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/sockets.h"
#include "qemu/timer.h"
#include "hw/boards.h"
#include "system/system.h"
#include "net/net.h"
#include "vrc.h"
#include "vrc-link.h"
#include "trace.h"

#define VRC_CONFIGD_RETRY_MS    1000
#define VRC_CONFIGD_LINE_MAX    (1024 * 1024)

typedef struct VRCConfigd {
    char *path;
    GPtrArray *ports;           /* VRCState *, in slot order */
    int fd;                     /* -1: not connected */
    GString *in;
    QEMUTimer *retry;
    Notifier machine_done;
    bool ready;                 /* the machine is built: slots are known */
    bool warned;                /* "configd is not running" said once */
    uint16_t rc_id;
    QTAILQ_ENTRY(VRCConfigd) next;
} VRCConfigd;

static QTAILQ_HEAD(, VRCConfigd) configds = QTAILQ_HEAD_INITIALIZER(configds);

static const char *vm_name(void)
{
    static char *name;

    if (!name) {
        name = qemu_get_vm_name() ? g_strdup(qemu_get_vm_name())
                                  : g_strdup_printf("vm-%d", (int)getpid());
    }
    return name;
}

static VRCState *port_of_slot(VRCConfigd *c, int64_t slot)
{
    for (unsigned i = 0; i < c->ports->len; i++) {
        VRCState *s = g_ptr_array_index(c->ports, i);

        if (s->configd_slot == slot) {
            return s;
        }
    }
    return NULL;
}

static void configd_close(VRCConfigd *c)
{
    if (c->fd >= 0) {
        qemu_set_fd_handler(c->fd, NULL, NULL, NULL);
        close(c->fd);
        c->fd = -1;
    }
    g_string_truncate(c->in, 0);
}

static bool configd_send(VRCConfigd *c, const char *line)
{
    size_t len = strlen(line), done = 0;

    while (done < len) {
        ssize_t n = send(c->fd, line + done, len - done, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            warn_report("vrc: configd at %s: %s; connecting again", c->path,
                        strerror(errno));
            configd_close(c);
            timer_mod(c->retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                      VRC_CONFIGD_RETRY_MS);
            return false;
        }
        done += n;
    }
    return true;
}

/* An assignment of ours: fill its slot (@attached) or empty it. */
static void configd_assignment(VRCConfigd *c, QDict *a, bool attached)
{
    const char *ep = qdict_get_try_str(a, "endpoint");
    const char *vm = qdict_get_try_str(a, "vm");
    int64_t slot = qdict_get_try_int(a, "slot", -1);
    Error *err = NULL;
    VRCState *s;
    MACAddr mac;

    if (g_strcmp0(vm, vm_name()) || !vrc_parse_mac(ep, true, &mac)) {
        return;
    }
    s = port_of_slot(c, slot);
    if (!s) {
        warn_report("vrc: configd %s endpoint %s in slot %" PRId64 ", which "
                    "this VM does not have", attached ? "attached" :
                    "detached", ep, slot);
        return;
    }
    trace_vrc_configd_assignment(DEVICE(s)->id ?: "", ep, attached);
    if (!attached) {
        if (s->slot.state != VRC_SLOT_STATE_EMPTY) {
            vrc_slot_detach(s, true, &err);
        }
    } else if (s->slot.state == VRC_SLOT_STATE_EMPTY) {
        vrc_slot_attach(s, &mac, true, &err);
    } else if (memcmp(&s->conf.peer, &mac, sizeof(mac))) {
        /* Another endpoint in a slot we still fill: the old one went. */
        if (vrc_slot_detach(s, true, &err)) {
            vrc_slot_attach(s, &mac, true, &err);
        }
    } else {
        s->slot.auto_reconnect = true;
    }
    if (err) {
        warn_reportf_err(err, "vrc: configd's %s of %s: ",
                         attached ? "attach" : "detach", ep);
    }
}

static void configd_message(VRCConfigd *c, QDict *d);

static void configd_line(VRCConfigd *c, const char *line)
{
    Error *err = NULL;
    QObject *obj = qobject_from_json(line, &err);
    QDict *d = qobject_to(QDict, obj);

    if (!d) {
        if (err) {
            warn_reportf_err(err, "vrc: configd at %s sent a line that is "
                             "not JSON: ", c->path);
        } else {
            warn_report("vrc: configd at %s sent JSON that is no object",
                        c->path);
        }
        qobject_unref(obj);
        return;
    }
    configd_message(c, d);
    qobject_unref(obj);
}

static void configd_message(VRCConfigd *c, QDict *d)
{
    const char *ev;

    ev = qdict_get_try_str(d, "event");
    if (ev) {
        QDict *a = qdict_get_qdict(d, "assignment");

        if (a && !strcmp(ev, "attached")) {
            configd_assignment(c, a, true);
        } else if (a && !strcmp(ev, "detached")) {
            configd_assignment(c, a, false);
        }
        return;
    }
    if (qdict_haskey(d, "ok") && !qdict_get_bool(d, "ok")) {
        QDict *e = qdict_get_qdict(d, "error");

        error_report("vrc: configd at %s refused: %s", c->path,
                     e ? qdict_get_try_str(e, "message") ?: "?" : "?");
        return;
    }
    /* The reply to vm-register: the assignments we hold already. */
    {
        QDict *r = qdict_get_qdict(d, "result");
        QList *as = r ? qdict_get_qlist(r, "assignments") : NULL;
        QListEntry *e;

        if (!as) {
            return;
        }
        QLIST_FOREACH_ENTRY(as, e) {
            QDict *a = qobject_to(QDict, qlist_entry_obj(e));
            const char *st = a ? qdict_get_try_str(a, "state") : NULL;

            if (a && !g_strcmp0(st, "active")) {
                configd_assignment(c, a, true);
            }
        }
    }
}

static void configd_read(void *opaque)
{
    VRCConfigd *c = opaque;
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        warn_report("vrc: configd at %s closed the connection; the slots "
                    "stay as they are, registering again when it is back",
                    c->path);
        configd_close(c);
        timer_mod(c->retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  VRC_CONFIGD_RETRY_MS);
        return;
    }
    g_string_append_len(c->in, buf, n);
    while ((nl = memchr(c->in->str, '\n', c->in->len))) {
        *nl = 0;
        configd_line(c, c->in->str);
        if (c->fd < 0) {
            return;
        }
        g_string_erase(c->in, 0, nl + 1 - c->in->str);
    }
    if (c->in->len > VRC_CONFIGD_LINE_MAX) {
        warn_report("vrc: configd at %s sent a line longer than %d bytes",
                    c->path, VRC_CONFIGD_LINE_MAX);
        configd_close(c);
        timer_mod(c->retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  VRC_CONFIGD_RETRY_MS);
    }
}

static void configd_register(void *opaque)
{
    VRCConfigd *c = opaque;
    VRCState *s0;
    Error *err = NULL;
    uint8_t mac[6];
    g_autofree char *macs = NULL;
    g_autofree char *line = NULL;
    g_autoptr(GString) name = g_string_new(NULL);
    unsigned slots = 0;

    if (c->fd >= 0 || !c->ready || !c->ports->len) {
        return;                 /* no slot left: nothing to register */
    }
    s0 = g_ptr_array_index(c->ports, 0);
    c->fd = unix_connect(c->path, &err);
    if (c->fd < 0) {
        if (!c->warned) {
            warn_reportf_err(err, "vrc: configd is not running at %s; trying "
                             "every second: ", c->path);
            c->warned = true;
        } else {
            error_free(err);
        }
        timer_mod(c->retry, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                  VRC_CONFIGD_RETRY_MS);
        return;
    }
    c->warned = false;
    qemu_socket_set_nonblock(c->fd);
    qemu_set_fd_handler(c->fd, configd_read, NULL, c);
    vrc_link_own_mac(s0->link, mac);
    macs = qemu_mac_strdup_printf(mac);
    /* The name is the user's: escape it as a JSON string. */
    for (const char *p = vm_name(); *p; p++) {
        if (*p == '"' || *p == '\\') {
            g_string_append_c(name, '\\');
        }
        if ((unsigned char)*p < 0x20) {
            g_string_append_printf(name, "\\u%04x", *p);
        } else {
            g_string_append_c(name, *p);
        }
    }
    for (unsigned i = 0; i < c->ports->len; i++) {
        VRCState *s = g_ptr_array_index(c->ports, i);

        slots = MAX(slots, (unsigned)s->configd_slot + 1);
    }
    line = g_strdup_printf("{\"id\": 1, \"cmd\": \"vm-register\", \"name\": "
                           "\"%s\", \"mac\": \"%s\", \"rc_id\": %u, "
                           "\"slots\": %u, \"pid\": %d}\n", name->str, macs,
                           c->rc_id, slots, (int)getpid());
    trace_vrc_configd_register(c->path, vm_name(), slots);
    configd_send(c, line);
}

static void configd_machine_done(Notifier *n, void *opaque)
{
    VRCConfigd *c = container_of(n, VRCConfigd, machine_done);

    c->ready = true;
    configd_register(c);
}

static VRCConfigd *configd_get(const char *path)
{
    VRCConfigd *c;

    QTAILQ_FOREACH(c, &configds, next) {
        if (!strcmp(c->path, path)) {
            return c;
        }
    }
    c = g_new0(VRCConfigd, 1);
    c->path = g_strdup(path);
    c->ports = g_ptr_array_new();
    c->fd = -1;
    c->in = g_string_new(NULL);
    c->retry = timer_new_ms(QEMU_CLOCK_REALTIME, configd_register, c);
    c->machine_done.notify = configd_machine_done;
    QTAILQ_INSERT_TAIL(&configds, c, next);
    /* Registers at once if the machine is built already (hot-plugged). */
    qemu_add_machine_init_done_notifier(&c->machine_done);
    return c;
}

bool vrc_configd_add(VRCState *s, Error **errp)
{
    VRCConfigd *c = configd_get(s->configd);

    if (c->ready) {
        error_setg(errp, "a vrc with 'configd' must be there when the VM "
                   "starts: configd is told the VM's slots once");
        return false;
    }
    if (c->ports->len && c->rc_id != s->conf.rc_id) {
        error_setg(errp, "every vrc of one configd needs the same 'rc-id' "
                   "(the VM's identity): %u here, %u before", s->conf.rc_id,
                   c->rc_id);
        return false;
    }
    if (s->configd_slot < 0) {
        s->configd_slot = c->ports->len;
    }
    if (port_of_slot(c, s->configd_slot)) {
        error_setg(errp, "configd slot %d is taken by another vrc",
                   s->configd_slot);
        return false;
    }
    c->rc_id = s->conf.rc_id;
    g_ptr_array_add(c->ports, s);
    return true;
}

void vrc_configd_remove(VRCState *s)
{
    VRCConfigd *c;

    QTAILQ_FOREACH(c, &configds, next) {
        g_ptr_array_remove(c->ports, s);
    }
}
