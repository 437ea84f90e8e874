/* SPDX-License-Identifier: MIT */
/* The tools' --key-file: a pre-shared key in base64, as QEMU's
 * -object secret,format=base64 and configd read it. */
#ifndef VRC_TOOLS_KEYFILE_H
#define VRC_TOOLS_KEYFILE_H

#include "encap/disc.h"

/*
 * Read the key at @path and derive the DISC key from it into @key.
 * 0, or -1 after saying why on stderr, prefixed with @prog.
 */
int keyfile_disc_key(const char *prog, const char *path,
                     struct encap_disc_key *key);

#endif
