/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vrcctl: vendor, device and class names from pci.ids, as lspci shows them. */
#ifndef CONFIGD_PCIIDS_H
#define CONFIGD_PCIIDS_H

#include <glib.h>

/* Debian's pci.ids package; $VRC_PCI_IDS overrides it. */
#define PCIIDS_PATH "/usr/share/misc/pci.ids"

/* Names, or NULL when unknown (or the file is missing).  Loaded once. */
const char *pciids_vendor(guint vendor);
const char *pciids_device(guint vendor, guint device);
/* @class24: base class, subclass, prog-if; the subclass name or base name. */
const char *pciids_class(guint class24);

#endif
