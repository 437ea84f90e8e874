/* SPDX-License-Identifier: MIT */
/* encap: read-ahead for a requester's small memory reads. */
#include <stdlib.h>
#include <string.h>

#include "encap/readahead.h"

/* Windows whose sequel is remembered (see struct ra_record). */
#define RA_RECORDS  16

/*
 * What the requester read after a miss in window @key, the last time:
 * its steps until the cache was dropped.  A step is a read in another
 * window than the cached read before it, or at a lower address in the same
 * one (it needs a later copy of that window).  A miss in @key fetches @key
 * and then these windows, in this order.  A miss with no step before the
 * drop leaves the steps of the one before (a ring's index read again only
 * to find it empty does not forget what follows a doorbell).
 */
struct ra_record {
    uint64_t key;
    uint64_t win[ENCAP_RA_MAX_WINDOWS - 1];
    unsigned n;
    uint64_t prev[ENCAP_RA_MAX_WINDOWS - 1];    /* while open: before */
    unsigned prev_n;
    bool used;
    bool open;                  /* being written: a miss since the last drop */
    uint64_t stamp;             /* for replacement: last miss in @key */
    bool hit;                   /* the last fetch for @key served a hit */
    unsigned dry;               /* fetches for @key in a row that did not */
};

/*
 * A fetch with nothing predicted after it, for a key whose last RA_DRY
 * fetches served no read (a device that writes back each descriptor it
 * reads, as e1000e does), reads only what was asked: a window nobody reads
 * only costs bytes.  Every RA_PROBE-th one fetches the window again, in
 * case the device changed its ways.
 */
#define RA_DRY      2
#define RA_PROBE    8

/*
 * Ownership (encap_ra_own()): byte ranges the requester owns, each since
 * a position, disjoint; and copies of windows kept past a drop of the
 * cache for their owned bytes, each with the position of its copy.  An
 * owned byte is served from a copy made after it became owned: from then
 * until it is given back, nobody writes it.
 *
 * A position orders copies in time: window @i of the fetch at tick @t is
 * at t * RA_SEQ + i (the peer copies a fetch's windows in order, each in
 * ascending address order).  Ownership since a tick of its own comes after
 * every copy made before; ownership since a read (encap_ra_mark()) starts
 * at that read's window and address, so what its window holds above that
 * address was copied after it.
 */
#define RA_OWNED    ENCAP_RA_MAX_OWNED
#define RA_HELD     64
#define RA_SEQ      ENCAP_RA_MAX_WINDOWS

struct ra_owned {
    uint64_t start, end;
    uint64_t since;             /* a position */
    uint64_t since_addr;        /* copies at @since: bytes above this only */
    bool settled;               /* a copy that serves it was seen (fill) */
};

struct ra_held {
    uint64_t win;
    uint64_t at;                /* the position of the copy; 0: slot free */
};

struct encap_ra {
    struct encap_ra_config cfg;
    encap_ra_fetch_fn fetch;
    void *opaque;

    /* The last fetch: @n windows, in the order they were read; from
     * @n_lead on, windows taken for owned bytes (ra_fill_owned()). */
    unsigned n, n_lead;
    uint64_t win[ENCAP_RA_MAX_WINDOWS];
    uint8_t *data;              /* max_windows * window bytes */
    /*
     * The fetch time of the latest byte the device consumed: window @cur,
     * address @cur_addr.  Only bytes at or after it may be served.
     */
    unsigned cur;
    uint64_t cur_addr;

    /* The last cached read, for telling steps. */
    bool last_valid;
    uint64_t last_win, last_addr;

    struct ra_record rec[RA_RECORDS];
    struct ra_record *fetch_rec;    /* the record of the last fetch's key */
    uint64_t clock;

    uint64_t tick;
    uint64_t fetch_at;              /* the tick of the last fetch */
    /* The window of the last fetch if it was lean, since the last drop. */
    bool lean_valid;
    uint64_t lean_win;
    /* Where the copy that served the last read was: its position, and
     * the read's address in it. */
    bool read_valid;
    uint64_t read_seq, read_addr;
    /* encap_ra_mark(): the position of the read it marked. */
    bool mark_valid;
    uint64_t mark_seq, mark_addr;
    struct ra_owned own[RA_OWNED];
    unsigned n_own;
    /* Every owned byte is in [@own_lo, @own_hi) (a bound, not exact). */
    uint64_t own_lo, own_hi;
    struct ra_held held[RA_HELD];
    uint8_t *held_data;             /* RA_HELD * window bytes */

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
    ra->held_data = malloc((size_t)cfg->window * RA_HELD);
    if (!ra->data || !ra->held_data) {
        free(ra->data);
        free(ra->held_data);
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
        free(ra->held_data);
        free(ra);
    }
}

/* ---- ownership ---- */

static bool ra_drop(struct encap_ra *ra);
static struct ra_record *ra_find(struct encap_ra *ra, uint64_t key);

/* The position of window @i of the last fetch. */
static uint64_t ra_seq(const struct encap_ra *ra, unsigned i)
{
    return ra->fetch_at * RA_SEQ + i;
}

/* A copy made at position @at holds the current value of byte @pos of
 * owned piece @o: it was made after @o became owned. */
static bool ra_copy_serves(const struct ra_owned *o, uint64_t pos,
                           uint64_t at)
{
    return o->since < at || (o->since == at && pos > o->since_addr);
}

/* Some byte of [@addr, @end) may be owned: within the bound. */
static bool ra_near_owned(const struct encap_ra *ra, uint64_t addr,
                          uint64_t end)
{
    return ra->n_own && addr < ra->own_hi && ra->own_lo < end;
}

/* Every byte of [@addr, @addr + @len) owned since before a copy at @at. */
static bool ra_owned(const struct encap_ra *ra, uint64_t addr, uint64_t len,
                     uint64_t at)
{
    uint64_t pos = addr, end = addr + len;

    if (!ra_near_owned(ra, addr, end)) {
        return false;
    }
    while (pos < end) {
        unsigned i;

        for (i = 0; i < ra->n_own; i++) {
            const struct ra_owned *o = &ra->own[i];

            if (o->start <= pos && pos < o->end &&
                ra_copy_serves(o, pos, at)) {
                pos = o->end;
                break;
            }
        }
        if (i == ra->n_own) {
            return false;
        }
    }
    return true;
}

/* Some byte of window @win may be owned since before a copy at @at. */
static bool ra_any_owned(const struct encap_ra *ra, uint64_t win, uint64_t at)
{
    uint64_t end = win + ra->cfg.window;

    if (!ra_near_owned(ra, win, end)) {
        return false;
    }
    for (unsigned i = 0; i < ra->n_own; i++) {
        const struct ra_owned *o = &ra->own[i];

        if (o->start < end && win < o->end && o->since <= at) {
            return true;
        }
    }
    return false;
}

/* Keep a copy of @win (made at position @at, its bytes at @data). */
static void ra_hold(struct encap_ra *ra, uint64_t win, uint64_t at,
                    const uint8_t *data)
{
    struct ra_held *slot = NULL;

    for (unsigned i = 0; i < RA_HELD; i++) {
        struct ra_held *h = &ra->held[i];

        if (h->at && h->win == win) {
            if (h->at >= at) {
                return;
            }
            slot = h;
            break;
        }
        if (!slot || !h->at || (slot->at && h->at < slot->at)) {
            slot = h;
        }
    }
    slot->win = win;
    slot->at = at;
    memcpy(ra->held_data + (size_t)(slot - ra->held) * ra->cfg.window, data,
           ra->cfg.window);
}

/* The windows of the last fetch that hold owned bytes outlive it. */
static void ra_hold_fetch(struct encap_ra *ra)
{
    if (!ra->n_own) {
        return;
    }
    for (unsigned i = 0; i < ra->n; i++) {
        if (ra->win[i] != UINT64_MAX &&
            ra_any_owned(ra, ra->win[i], ra_seq(ra, i))) {
            ra_hold(ra, ra->win[i], ra_seq(ra, i),
                    ra->data + (size_t)i * ra->cfg.window);
        }
    }
}

/* The last read was served from the copy at position @at, address @addr. */
static void ra_read_at(struct encap_ra *ra, uint64_t at, uint64_t addr)
{
    ra->read_valid = true;
    ra->read_seq = at;
    ra->read_addr = addr;
}

/* Serve @len bytes at @addr of window @win if they are owned and a copy
 * fetched since holds them. */
static bool ra_serve_owned(struct encap_ra *ra, uint64_t win, uint64_t addr,
                           void *buf, uint32_t len)
{
    const uint8_t *src = NULL;
    struct ra_record *rc;
    uint64_t at = 0;

    if (!ra->n_own) {
        return false;
    }
    for (unsigned i = 0; i < ra->n && !src; i++) {
        if (ra->win[i] == win && ra_owned(ra, addr, len, ra_seq(ra, i))) {
            src = ra->data + (size_t)i * ra->cfg.window;
            at = ra_seq(ra, i);
        }
    }
    for (unsigned i = 0; i < RA_HELD && !src; i++) {
        const struct ra_held *h = &ra->held[i];

        if (h->at && h->win == win && ra_owned(ra, addr, len, h->at)) {
            src = ra->held_data + (size_t)i * ra->cfg.window;
            at = h->at;
        }
    }
    if (!src) {
        return false;
    }
    memcpy(buf, src + (addr - win), len);
    ra->st.owned_hits++;
    ra_read_at(ra, at, addr);
    rc = ra_find(ra, win);
    if (rc) {
        /* The window serves: fetch it whole next time too (not lean). */
        rc->hit = true;
        rc->dry = 0;
    }
    return true;
}

/* Own [@addr, @addr + @len) since position @since (@since_addr). */
static void ra_own_since(struct encap_ra *ra, uint64_t addr, uint64_t len,
                         uint64_t since, uint64_t since_addr)
{
    uint64_t pos = addr, end = addr + len;

    /* What is owned already stays owned since when it was. */
    while (pos < end) {
        uint64_t gap_end = end;
        bool inside = false;

        for (unsigned i = 0; i < ra->n_own; i++) {
            const struct ra_owned *o = &ra->own[i];

            if (o->start <= pos && pos < o->end) {
                pos = o->end;
                inside = true;
                break;
            }
            if (o->start > pos && o->start < gap_end) {
                gap_end = o->start;
            }
        }
        if (inside) {
            continue;
        }
        if (ra->n_own == RA_OWNED) {
            ra->st.own_full++;      /* not owned: only not cached */
            return;
        }
        if (!ra->n_own || pos < ra->own_lo) {
            ra->own_lo = pos;
        }
        if (!ra->n_own || gap_end > ra->own_hi) {
            ra->own_hi = gap_end;
        }
        ra->own[ra->n_own++] = (struct ra_owned) {
            .start = pos, .end = gap_end, .since = since,
            .since_addr = since_addr,
        };
        pos = gap_end;
    }
}

void encap_ra_own(struct encap_ra *ra, uint64_t addr, uint64_t len)
{
    if (!len || addr + len < addr) {
        return;
    }
    /* The driver wrote them before it handed them over: what was fetched
     * before is older than that (a doorbell drops the cache too). */
    ra_drop(ra);
    ra_own_since(ra, addr, len, ++ra->tick * RA_SEQ, 0);
}

void encap_ra_mark(struct encap_ra *ra)
{
    ra->mark_valid = ra->read_valid;
    ra->mark_seq = ra->read_seq;
    ra->mark_addr = ra->read_addr;
}

void encap_ra_own_marked(struct encap_ra *ra, uint64_t addr, uint64_t len)
{
    if (!len || addr + len < addr) {
        return;
    }
    if (!ra->mark_valid) {
        /* Where the marked read came from is not known: as of now. */
        encap_ra_own(ra, addr, len);
        return;
    }
    ra_own_since(ra, addr, len, ra->mark_seq, ra->mark_addr);
}

void encap_ra_give_back(struct encap_ra *ra, uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;

    if (!len || end < addr || !ra_near_owned(ra, addr, end)) {
        return;
    }
    for (unsigned i = 0; i < ra->n_own;) {
        struct ra_owned *o = &ra->own[i];

        if (o->end <= addr || end <= o->start) {
            i++;
            continue;
        }
        if (o->start < addr && end < o->end) {
            /* The middle goes: two pieces, or none if there is no room. */
            if (ra->n_own < RA_OWNED) {
                ra->own[ra->n_own++] = (struct ra_owned) {
                    .start = end, .end = o->end, .since = o->since,
                    .since_addr = o->since_addr,
                };
                o->end = addr;
                i++;
                continue;
            }
        } else if (o->start < addr) {
            o->end = addr;
            i++;
            continue;
        } else if (end < o->end) {
            o->start = end;
            i++;
            continue;
        }
        *o = ra->own[--ra->n_own];
    }
}

void encap_ra_give_back_all(struct encap_ra *ra)
{
    ra->n_own = 0;
    ra->mark_valid = false;
    memset(ra->held, 0, sizeof(ra->held));
}

/* The cache goes; the records being written are complete. */
static bool ra_drop(struct encap_ra *ra)
{
    bool had = ra->n;

    ra_hold_fetch(ra);

    ra->n = 0;
    ra->lean_valid = false;
    ra->last_valid = false;     /* the next read is a step */
    for (unsigned i = 0; i < RA_RECORDS; i++) {
        struct ra_record *rc = &ra->rec[i];

        if (rc->open && !rc->n && rc->prev_n) {
            memcpy(rc->win, rc->prev, rc->prev_n * sizeof(rc->win[0]));
            rc->n = rc->prev_n;
        }
        rc->open = false;
    }
    return had;
}

bool encap_ra_invalidate(struct encap_ra *ra)
{
    bool had = ra_drop(ra);

    if (had) {
        ra->st.invalidations++;
    }
    return had;
}

void encap_ra_get_stats(const struct encap_ra *ra, struct encap_ra_stats *st)
{
    *st = ra->st;
}

static struct ra_record *ra_find(struct encap_ra *ra, uint64_t key)
{
    for (unsigned i = 0; i < RA_RECORDS; i++) {
        if (ra->rec[i].used && ra->rec[i].key == key) {
            return &ra->rec[i];
        }
    }
    return NULL;
}

/* Note a read served at @addr in window @win: a step, for open records. */
static void ra_step(struct encap_ra *ra, uint64_t win, uint64_t addr)
{
    if (!ra->last_valid || win != ra->last_win || addr < ra->last_addr) {
        for (unsigned i = 0; i < RA_RECORDS; i++) {
            struct ra_record *rc = &ra->rec[i];

            if (rc->open && rc->n < ra->cfg.max_windows - 1) {
                rc->win[rc->n++] = win;
            }
        }
    }
    ra->last_valid = true;
    ra->last_win = win;
    ra->last_addr = addr;
}

/* A miss in @win: start (or go on with) its record. */
static struct ra_record *ra_open(struct encap_ra *ra, uint64_t win)
{
    struct ra_record *rc = ra_find(ra, win);

    if (!rc) {
        /* A free record, else the one missed in longest ago, closed first. */
        for (unsigned i = 0; i < RA_RECORDS; i++) {
            struct ra_record *c = &ra->rec[i];

            if (!c->used) {
                rc = c;
                break;
            }
            if (!rc || (rc->open && !c->open) ||
                (rc->open == c->open && c->stamp < rc->stamp)) {
                rc = c;
            }
        }
        if (ra->fetch_rec == rc) {
            ra->fetch_rec = NULL;
        }
        *rc = (struct ra_record) { .used = true, .key = win };
    }
    if (!rc->open) {
        /* Not already written since the last drop: write it afresh. */
        memcpy(rc->prev, rc->win, rc->n * sizeof(rc->win[0]));
        rc->prev_n = rc->n;
        rc->n = 0;
        rc->open = true;
    }
    rc->stamp = ++ra->clock;
    return rc;
}

/*
 * A read that is not cached (too large, or across windows): it is newer
 * than anything cached, so the cache goes; but what the requester read
 * after such a read last time comes with it, fetched after it (a
 * descriptor, its buffer, the next descriptor).  The record of reads
 * after an uncached one has this key, which is no window's.
 */
#define RA_KEY_UNCACHED     UINT64_MAX

static int ra_fetch(struct encap_ra *ra, uint64_t addr, void *buf,
                    uint32_t len, uint64_t key);

static int ra_uncached(struct encap_ra *ra, uint64_t addr, void *buf,
                       uint32_t len)
{
    ra->st.uncached++;
    ra_drop(ra);
    return ra_fetch(ra, addr, buf, len, RA_KEY_UNCACHED);
}

/* A kept copy of @win serves the bytes of @o in it. */
static bool ra_held_serves(const struct encap_ra *ra, uint64_t win,
                           const struct ra_owned *o)
{
    uint64_t first = o->start > win ? o->start : win;

    for (unsigned i = 0; i < RA_HELD; i++) {
        const struct ra_held *h = &ra->held[i];

        if (h->at && h->win == win && ra_copy_serves(o, first, h->at)) {
            return true;
        }
    }
    return false;
}

/*
 * Owned bytes that no copy serves yet are bytes the device will read: the
 * driver handed them over (a published descriptor) and leaves them be
 * until it gets them back.  A fetch with room left takes their windows
 * after the others, those owned longest first (in the order they were
 * handed over), and keeps them past drops as it keeps any copy of owned
 * bytes.  @r holds @n ranges; the windows taken go after them.  A piece
 * found served by a kept copy is settled and not looked at again.
 */
static unsigned ra_fill_owned(struct encap_ra *ra, struct encap_ra_range *r,
                              unsigned n)
{
    uint32_t wsize = ra->cfg.window;
    struct {
        uint64_t win, since;
    } pick[ENCAP_RA_MAX_WINDOWS];
    unsigned room = ra->cfg.max_windows - n, npick = 0;

    if (!room || !ra->n_own) {
        return n;
    }
    for (unsigned i = 0; i < ra->n_own; i++) {
        struct ra_owned *o = &ra->own[i];
        bool served = true;

        if (o->settled) {
            continue;
        }
        for (uint64_t w = o->start & ~(uint64_t)(wsize - 1); w < o->end;
             w += wsize) {
            unsigned j, at;

            if (ra_held_serves(ra, w, o)) {
                continue;
            }
            served = false;
            for (j = 0; j < n && (r[j].addr != w || r[j].len != wsize); j++) {
            }
            for (at = 0; j == n && at < npick && pick[at].win != w; at++) {
            }
            if (j < n || at < npick) {
                continue;       /* in this fetch already */
            }
            /* Sorted by @since, the earlier piece first on a tie. */
            for (at = npick; at > 0 && pick[at - 1].since > o->since; at--) {
            }
            if (at == room) {
                break;
            }
            if (npick == room) {
                npick--;
            }
            memmove(&pick[at + 1], &pick[at], (npick - at) * sizeof(pick[0]));
            pick[at].win = w;
            pick[at].since = o->since;
            npick++;
        }
        o->settled = served;
    }
    for (unsigned i = 0; i < npick; i++, n++) {
        r[n] = (struct encap_ra_range) {
            .addr = pick[i].win, .len = wsize,
            .buf = ra->data + (size_t)n * wsize, .fill = true,
        };
        ra->win[n] = pick[i].win;
    }
    ra->st.owned_windows += npick;
    return n;
}

/*
 * Fetch @len bytes at @addr into @buf, and with them, after them, the
 * windows recorded for @key; start writing @key's record.  For a miss,
 * @key is the read's window, which is then the fetch's first window.
 */
static int ra_fetch(struct encap_ra *ra, uint64_t addr, void *buf,
                    uint32_t len, uint64_t key)
{
    uint32_t wsize = ra->cfg.window;
    struct encap_ra_range r[ENCAP_RA_MAX_WINDOWS];
    struct ra_record *rc = ra_find(ra, key);
    bool miss = key != RA_KEY_UNCACHED;
    uint64_t pred[ENCAP_RA_MAX_WINDOWS - 1];
    unsigned npred = 0, n = 0;
    int ret;

    /*
     * A miss between hits: the requester left the windows fetched for it
     * for another one (the next descriptor is elsewhere in the table).
     * What the fetch held after the window it skipped likely still comes,
     * with the new window where the skipped one was.
     */
    if (miss && ra->n && ra->cur + 1 < ra->n) {
        uint64_t skipped = ra->win[ra->cur + 1];

        for (unsigned i = ra->cur + 2; i < ra->n; i++) {
            pred[npred++] = ra->win[i] == skipped ? key : ra->win[i];
        }
    }
    if (!npred && rc) {
        /* Open with no step yet: the steps it will keep if none come. */
        bool before = rc->open && !rc->n;

        memcpy(pred, before ? rc->prev : rc->win,
               (before ? rc->prev_n : rc->n) * sizeof(pred[0]));
        npred = before ? rc->prev_n : rc->n;
    }
    if (rc) {
        rc->dry = rc->hit ? 0 : rc->dry + 1;
        rc->hit = false;
        /*
         * But a miss in the window a lean fetch just read, with no drop
         * between, shows the requester reads on in it (an index, then the
         * entries after it): this fetch takes the window whole.
         */
        if (!npred && rc->dry >= RA_DRY && rc->dry % RA_PROBE &&
            !(miss && ra->lean_valid && ra->lean_win == key)) {
            /* Lean: the read as asked, and nothing cached. */
            struct encap_ra_range one = {
                .addr = addr, .len = len, .buf = buf,
            };

            ra_hold_fetch(ra);
            ra->n = 0;
            ra->lean_valid = miss;
            ra->lean_win = key;
            ra->fetch_at = ++ra->tick;
            ret = ra->fetch(ra->opaque, &one, 1);
            if (ret < 0) {
                ra->st.errors++;
                ra_drop(ra);
                ra->read_valid = false;
                return ret;
            }
            ra->st.lean++;
            /* Nothing of it is kept: what comes later is after it. */
            ra_read_at(ra, ra_seq(ra, 0), addr);
            if (miss) {
                ra_step(ra, key, addr);
            }
            ra->fetch_rec = ra_open(ra, key);
            return 0;
        }
    }

    /* What the last fetch holds of owned memory outlives it. */
    ra_hold_fetch(ra);
    r[n++] = (struct encap_ra_range) {
        .addr = miss ? key : addr, .len = miss ? wsize : len,
        .buf = miss ? ra->data : buf,
    };
    ra->win[0] = miss ? key : RA_KEY_UNCACHED;
    for (unsigned i = 0; i < npred && n < ra->cfg.max_windows; i++) {
        r[n] = (struct encap_ra_range) {
            .addr = pred[i], .len = wsize,
            .buf = ra->data + (size_t)n * wsize,
        };
        ra->win[n++] = pred[i];
    }
    ra->n_lead = n;
    n = ra_fill_owned(ra, r, n);
    ra->n = 0;
    ra->lean_valid = false;
    ra->fetch_at = ++ra->tick;
    ret = ra->fetch(ra->opaque, r, n);
    if (ret < 0) {
        /* Nothing of a failed fetch is kept; the read goes as asked. */
        ra->st.errors++;
        ra_drop(ra);
        ra->read_valid = false;
        r[0] = (struct encap_ra_range) { .addr = addr, .len = len, .buf = buf };
        ret = ra->fetch(ra->opaque, r, 1);
        return ret < 0 ? ret : 0;
    }
    if (ret > 0 && (unsigned)ret < n) {
        /* Only the first ranges were read: the rest are not kept. */
        n = ret;
        ra->n_lead = ra->n_lead < n ? ra->n_lead : n;
    }
    ra->st.windows += n - !miss;
    ra->st.bytes += (uint64_t)(n - !miss) * wsize;
    ra->n = n;
    ra->cur = 0;
    ra->cur_addr = miss ? addr : 0;
    /* Uncached: the read is at the fetch's first place, its windows after. */
    ra_read_at(ra, ra_seq(ra, 0), addr);
    if (miss) {
        ra->st.misses++;
        memcpy(buf, ra->data + (addr - key), len);
        ra_step(ra, key, addr);
    }
    ra->fetch_rec = ra_open(ra, key);
    return 0;
}

int encap_ra_read(struct encap_ra *ra, uint64_t addr, void *buf, uint32_t len)
{
    uint32_t wsize = ra->cfg.window;
    uint64_t win = addr & ~(uint64_t)(wsize - 1);
    bool cached = false;

    if (!len || len > ra->cfg.max_small || addr - win + len > wsize) {
        return ra_uncached(ra, addr, buf, len);
    }

    /* The first copy of the window at or after the cursor. */
    for (unsigned i = 0; i < ra->n; i++) {
        if (ra->win[i] != win) {
            continue;
        }
        cached = true;
        if (i >= ra->n_lead && ra_serve_owned(ra, win, addr, buf, len)) {
            /* Taken for its owned bytes: served without moving the
             * cursor past the windows before it. */
            return 0;
        }
        if (i > ra->cur || (i == ra->cur && addr >= ra->cur_addr)) {
            memcpy(buf, ra->data + (size_t)i * wsize + (addr - win), len);
            ra->cur = i;
            ra->cur_addr = addr;
            ra_read_at(ra, ra_seq(ra, i), addr);
            ra->st.hits++;
            if (ra->fetch_rec) {
                ra->fetch_rec->hit = true;
            }
            ra_step(ra, win, addr);
            return 0;
        }
    }
    if (ra_serve_owned(ra, win, addr, buf, len)) {
        return 0;
    }
    if (cached) {
        ra->st.out_of_order++;
    }

    /*
     * A miss: this window first, then the windows the requester went on
     * to read the last time it missed here, in that order.
     */
    return ra_fetch(ra, addr, buf, len, win);
}

/* ---- reads announced ahead ---- */

void encap_soon_init(struct encap_soon *s)
{
    memset(s, 0, sizeof(*s));
}

void encap_soon_free(struct encap_soon *s)
{
    free(s->buf);
    s->buf = NULL;
    s->n = 0;
}

void encap_soon_drop(struct encap_soon *s)
{
    if (s->n) {
        s->st.unused += s->n - s->next;
    }
    s->n = 0;
}

unsigned encap_soon_fetch(struct encap_soon *s, const struct encap_ra_range *want,
                          unsigned n, encap_ra_fetch_fn fetch, void *opaque)
{
    uint64_t total = 0;
    unsigned k = 0;
    int r;

    encap_soon_drop(s);
    if (!s->buf && !(s->buf = malloc(ENCAP_SOON_MAX_BYTES))) {
        return 0;
    }
    while (k < n && k < ENCAP_SOON_MAX_RANGES && want[k].len &&
           total + want[k].len <= ENCAP_SOON_MAX_BYTES) {
        s->r[k] = (struct encap_ra_range) {
            .addr = want[k].addr, .len = want[k].len, .buf = s->buf + total,
        };
        total += want[k].len;
        k++;
    }
    if (!k) {
        return 0;
    }
    r = fetch(opaque, s->r, k);
    if (r != 0) {
        /* Failed, or a pushed copy served a prefix and the rest was not
         * read: nothing to serve. */
        s->st.errors += r < 0;
        return 0;
    }
    s->st.fetches++;
    s->st.ranges += k;
    s->st.bytes += total;
    s->n = k;
    s->next = 0;
    s->next_off = 0;
    return k;
}

bool encap_soon_read(struct encap_soon *s, uint64_t addr, void *buf,
                     uint32_t len)
{
    const struct encap_ra_range *r;

    if (!s->n) {
        return false;
    }
    r = &s->r[s->next];
    if (!len || addr != r->addr + s->next_off || len > r->len - s->next_off) {
        encap_soon_drop(s);
        return false;
    }
    memcpy(buf, (const uint8_t *)r->buf + s->next_off, len);
    s->st.served++;
    s->next_off += len;
    if (s->next_off == r->len) {
        s->next++;
        s->next_off = 0;
        if (s->next == s->n) {
            s->n = 0;
        }
    }
    return true;
}
