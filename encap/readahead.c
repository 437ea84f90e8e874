/* SPDX-License-Identifier: MIT */
/* encap: read-ahead for a requester's small memory reads. */
#include <stdlib.h>
#include <string.h>

#include "encap/readahead.h"

struct encap_ra {
    struct encap_ra_config cfg;
    encap_ra_fetch_fn fetch;
    void *opaque;

    /* The last fetch: @n windows, in the order they were read. */
    unsigned n;
    uint64_t win[ENCAP_RA_MAX_WINDOWS];
    uint8_t *data;              /* max_windows * window bytes */
    /*
     * The fetch time of the latest byte the device consumed: window @cur,
     * address @cur_addr.  Only bytes at or after it may be served.
     */
    unsigned cur;
    uint64_t cur_addr;

    /*
     * What to fetch with a miss: the device's last steps.  A step is a read
     * in another window than the cached read before it, or at a lower
     * address in the same one (it needs a later copy of that window).
     * Invalidations and uncached reads leave them be: a device that reads
     * one descriptor, then its buffer, then the next descriptor has one
     * step, not one per descriptor.
     */
    uint64_t steps[ENCAP_RA_MAX_WINDOWS];
    unsigned nsteps;            /* valid entries, oldest first */
    bool last_valid;
    uint64_t last_win, last_addr;

    struct encap_ra_stats st;
};

struct encap_ra *encap_ra_new(const struct encap_ra_config *cfg,
                              encap_ra_fetch_fn fetch, void *opaque)
{
    struct encap_ra *ra;

    if (!fetch || cfg->window < 64 || cfg->window > ENCAP_RA_MAX_WINDOW ||
        (cfg->window & (cfg->window - 1)) || cfg->max_small > cfg->window ||
        cfg->max_windows < 1 || cfg->max_windows > ENCAP_RA_MAX_WINDOWS) {
        return NULL;
    }
    ra = calloc(1, sizeof(*ra));
    if (!ra) {
        return NULL;
    }
    ra->data = malloc((size_t)cfg->window * cfg->max_windows);
    if (!ra->data) {
        free(ra);
        return NULL;
    }
    ra->cfg = *cfg;
    ra->fetch = fetch;
    ra->opaque = opaque;
    return ra;
}

void encap_ra_free(struct encap_ra *ra)
{
    if (ra) {
        free(ra->data);
        free(ra);
    }
}

bool encap_ra_invalidate(struct encap_ra *ra)
{
    bool had = ra->n;

    if (had) {
        ra->st.invalidations++;
    }
    ra->n = 0;
    return had;
}

void encap_ra_get_stats(const struct encap_ra *ra, struct encap_ra_stats *st)
{
    *st = ra->st;
}

/* Note a read served at @addr in window @win. */
static void ra_step(struct encap_ra *ra, uint64_t win, uint64_t addr)
{
    unsigned max = ra->cfg.max_windows;

    if (!ra->last_valid || win != ra->last_win || addr < ra->last_addr) {
        if (ra->nsteps == max) {
            memmove(ra->steps, ra->steps + 1, (max - 1) * sizeof(ra->steps[0]));
            ra->nsteps--;
        }
        ra->steps[ra->nsteps++] = win;
    }
    ra->last_valid = true;
    ra->last_win = win;
    ra->last_addr = addr;
}

/* The read as asked, newer than anything cached: the cache goes. */
static int ra_uncached(struct encap_ra *ra, uint64_t addr, void *buf,
                       uint32_t len)
{
    struct encap_ra_range r = { .addr = addr, .len = len, .buf = buf };

    ra->n = 0;
    return ra->fetch(ra->opaque, &r, 1);
}

int encap_ra_read(struct encap_ra *ra, uint64_t addr, void *buf, uint32_t len)
{
    uint32_t wsize = ra->cfg.window;
    uint64_t win = addr & ~(uint64_t)(wsize - 1);
    struct encap_ra_range r[ENCAP_RA_MAX_WINDOWS];
    bool cached = false;
    unsigned n, first, last;
    int ret;

    if (!len || len > ra->cfg.max_small || addr - win + len > wsize) {
        ra->st.uncached++;
        return ra_uncached(ra, addr, buf, len);
    }

    /* The first copy of the window at or after the cursor. */
    for (unsigned i = 0; i < ra->n; i++) {
        if (ra->win[i] != win) {
            continue;
        }
        cached = true;
        if (i > ra->cur || (i == ra->cur && addr >= ra->cur_addr)) {
            memcpy(buf, ra->data + (size_t)i * wsize + (addr - win), len);
            ra->cur = i;
            ra->cur_addr = addr;
            ra->st.hits++;
            ra_step(ra, win, addr);
            return 0;
        }
    }
    if (cached) {
        ra->st.out_of_order++;
    }

    /*
     * A miss: this window first, then the device's last steps, oldest
     * first (where it went last time is where it is likely to go next).
     * A read that goes on with the last step (same window, forwards) is
     * that step: it is not fetched twice.
     */
    n = 0;
    r[n++] = (struct encap_ra_range) { .addr = win };
    last = ra->nsteps;
    if (last && ra->last_valid && win == ra->last_win &&
        addr >= ra->last_addr) {
        last--;
    }
    first = last > ra->cfg.max_windows - 1 ?
            last - (ra->cfg.max_windows - 1) : 0;
    for (unsigned i = first; i < last; i++) {
        r[n++] = (struct encap_ra_range) { .addr = ra->steps[i] };
    }
    for (unsigned i = 0; i < n; i++) {
        r[i].len = wsize;
        r[i].buf = ra->data + (size_t)i * wsize;
        ra->win[i] = r[i].addr;
    }
    ra->n = 0;
    ret = ra->fetch(ra->opaque, r, n);
    if (ret < 0) {
        /* Nothing of a failed fetch is kept; the read goes as asked. */
        ra->st.errors++;
        return ra_uncached(ra, addr, buf, len);
    }
    ra->st.misses++;
    ra->st.windows += n;
    ra->st.bytes += (uint64_t)n * wsize;
    ra->n = n;
    ra->cur = 0;
    ra->cur_addr = addr;
    memcpy(buf, ra->data + (addr - win), len);
    ra_step(ra, win, addr);
    return 0;
}
