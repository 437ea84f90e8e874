/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrcctl: reading pci.ids.  The format: "vvvv  Vendor" at the start of a
 * line, "\tdddd  Device" under it, "\t\tssss ssss  Subsystem" under that;
 * then "C cc  Class" with "\tss  Subclass" lines.  Comments start with '#'.
 */
#include <stdlib.h>
#include <string.h>

#include "pciids.h"

/* Vendor id; vendor << 16 | device; class << 8 | subclass (base class
 * alone: 0x10000 | class). */
enum { K_VENDOR, K_DEVICE, K_CLASS, K__COUNT };
static GHashTable *names[K__COUNT];

static void add(guint kind, guint id, const char *name)
{
    g_hash_table_insert(names[kind], GUINT_TO_POINTER(id), g_strdup(name));
}

static void load(void)
{
    const char *path = g_getenv("VRC_PCI_IDS");
    g_autofree char *text = NULL;
    guint vendor = 0, base = 0;
    gboolean in_class = FALSE;
    char *line, *save = NULL;

    for (int k = 0; k < K__COUNT; k++) {
        names[k] = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                         g_free);
    }
    if (!g_file_get_contents(path ? path : PCIIDS_PATH, &text, NULL, NULL)) {
        return;
    }
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *end;
        guint id;

        if (line[0] == '#' || line[0] == 0) {
            continue;
        }
        if (line[0] == 'C' && line[1] == ' ') {
            base = strtoul(line + 2, &end, 16);
            in_class = TRUE;
            add(K_CLASS, 0x10000 | base, g_strstrip(end));
            continue;
        }
        if (line[0] != '\t') {
            id = strtoul(line, &end, 16);
            if (end - line != 4) {
                in_class = FALSE;
                continue;
            }
            in_class = FALSE;
            vendor = id;
            add(K_VENDOR, id, g_strstrip(end));
        } else if (line[1] != '\t') {
            id = strtoul(line + 1, &end, 16);
            if (in_class) {
                add(K_CLASS, base << 8 | id, g_strstrip(end));
            } else if (end - line == 5) {
                add(K_DEVICE, vendor << 16 | id, g_strstrip(end));
            }
        }
    }
}

static const char *lookup(guint kind, guint id)
{
    if (!names[0]) {
        load();
    }
    return g_hash_table_lookup(names[kind], GUINT_TO_POINTER(id));
}

const char *pciids_vendor(guint vendor)
{
    return lookup(K_VENDOR, vendor);
}

const char *pciids_device(guint vendor, guint device)
{
    return lookup(K_DEVICE, vendor << 16 | device);
}

const char *pciids_class(guint class24)
{
    guint cc = class24 >> 8;

    return lookup(K_CLASS, cc) ?: lookup(K_CLASS, 0x10000 | cc >> 8);
}
