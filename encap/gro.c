/* SPDX-License-Identifier: MIT */
/* encap: cutting UDP GRO datagrams into frames (no syscalls). */
#include <errno.h>

#include "encap/gro.h"

int encap_gro_next(size_t total, size_t seg, size_t *pos, size_t max_frame,
                   size_t cap, struct encap_gro_slice *s)
{
    size_t left;

    s->off = *pos < total ? *pos : total;
    left = total - s->off;
    if (seg == 0) {
        s->len = 0;             /* truncated: the whole datagram, one drop */
        s->last = true;
        *pos = 0;
        return -EMSGSIZE;
    }
    s->len = left < seg ? left : seg;
    s->last = s->len == left;
    *pos = s->last ? 0 : s->off + s->len;
    return s->len > max_frame || s->len > cap ? -EMSGSIZE : 1;
}
