/* SPDX-License-Identifier: MIT */
/*
 * encap: read-ahead for a requester's small memory reads.
 *
 * A device that reads its rings in small pieces (an index, a ring entry, a
 * descriptor, each a few bytes) pays a full round trip per piece when its
 * memory is across a link.  This cache turns a small read that misses into
 * one round trip that fetches an aligned window around it, together with
 * the windows the device went on to read the last time it missed there,
 * so that the reads that follow are served from the fetch.  A read that is
 * not cached (too large) brings along what followed the last such read.
 *
 * Coherence, by construction: a value served from the cache is one the
 * device could have read with its own reads, issued in its order, at
 * instants inside the fetch.  This needs three things:
 *
 *  - The windows of one fetch are read by the memory's owner in the order
 *    given (each in ascending address order, each aligned word loaded
 *    once): the caller's fetch function must ensure it.  So each byte of a
 *    fetch has a place in time: (window, address), in lexicographic order.
 *  - Reads are served in non-decreasing fetch time: a read that would need
 *    a byte fetched before one the device already consumed since the
 *    fetch (an earlier window, or a lower address in the same window) is
 *    a miss, and starts a new fetch.  A read that is not cached (too large,
 *    or across a window boundary) is newer than everything: it drops the
 *    cache (the windows fetched with it are fetched after it).
 *  - The caller drops the cache (encap_ra_invalidate()) at every event
 *    after which the device may expect newer memory: anything the memory's
 *    owner tells the device (a request arriving, a doorbell), anything the
 *    device tells the owner (its writes, interrupts), resets, and any
 *    other event the device may react to.
 *
 * Nothing is cached across a failed fetch: the read is then made as asked,
 * and its result (success or error) is the caller's.
 *
 * One instance per requester; not thread-safe (the caller serialises).
 * Errors: negative values returned by the fetch function, passed through.
 */
#ifndef ENCAP_READAHEAD_H
#define ENCAP_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

/* Largest windows and fetch the cache takes. */
#define ENCAP_RA_MAX_WINDOW     4096
#define ENCAP_RA_MAX_WINDOWS    8
/*
 * Disjoint owned pieces the cache keeps (encap_ra_own()): a virtio NIC
 * owns each head descriptor of its two rings apart, up to 2 x 256, and a
 * ring's entries in one or two pieces.
 */
#define ENCAP_RA_MAX_OWNED      1024

struct encap_ra;

/* One range of a fetch. */
struct encap_ra_range {
    uint64_t addr;
    uint32_t len;
    void *buf;
    bool fill;      /* taken for owned bytes, after the fetch's own ranges */
};

/*
 * Read the @n ranges of @r from memory, in that order (see above), all in
 * one go: 0, or a negative value on failure (then nothing read is used).
 * A positive value k < n says only the first k ranges were read, in that
 * order (a copy made earlier served them, encap/push.h): the cache keeps
 * those.
 */
typedef int (*encap_ra_fetch_fn)(void *opaque, const struct encap_ra_range *r,
                                 unsigned n);

struct encap_ra_config {
    uint32_t window;        /* bytes, a power of two, 64..ENCAP_RA_MAX_WINDOW */
    uint32_t max_small;     /* reads of at most this many bytes are cached */
    unsigned max_windows;   /* windows per fetch, 1..ENCAP_RA_MAX_WINDOWS */
};

/* Counters, monotonic. */
struct encap_ra_stats {
    uint64_t hits;          /* reads served from the cache */
    uint64_t misses;        /* small reads that started a fetch */
    uint64_t lean;          /* ... of only what was asked: windows had
                               served nothing there lately */
    uint64_t windows;       /* windows fetched */
    uint64_t bytes;         /* bytes fetched for windows */
    uint64_t uncached;      /* reads passed through: large, or across windows */
    uint64_t invalidations; /* encap_ra_invalidate() calls that dropped data */
    uint64_t out_of_order;  /* misses on a cached byte, for fetch order */
    uint64_t errors;        /* fetches that failed */
    uint64_t owned_hits;    /* reads of owned bytes served from a copy */
    uint64_t own_full;      /* encap_ra_own() calls that found no room */
    uint64_t owned_windows; /* windows a fetch took for owned bytes no copy
                               served yet (part of @windows) */
};

/*
 * A cache that reads through @fetch(@opaque, ...).  NULL if @cfg is out of
 * range or memory is short.
 */
struct encap_ra *encap_ra_new(const struct encap_ra_config *cfg,
                              encap_ra_fetch_fn fetch, void *opaque);
void encap_ra_free(struct encap_ra *ra);

/*
 * Read @len bytes at @addr into @buf: from the cache, or through a fetch.
 * 0, or the fetch function's negative value.
 */
int encap_ra_read(struct encap_ra *ra, uint64_t addr, void *buf, uint32_t len);

/*
 * Drop everything cached (the prediction of what to fetch stays).  True
 * if there was anything.
 */
bool encap_ra_invalidate(struct encap_ra *ra);

/*
 * Ownership.  The requester owns [@addr, @addr + @len) from now until it
 * gives it back: the memory's owner does not write those bytes meanwhile
 * (a descriptor ring between the hardware's head and tail: the driver
 * writes a descriptor before it moves the tail past it, and again only
 * once the head has passed it).  An owned byte then keeps its value, so
 * a copy fetched after it became owned serves it at any time, in any
 * order, across encap_ra_invalidate(), until it is given back.  The
 * requester gives back what it writes, before it writes it, and
 * everything at a reset or when it learns the promise may no longer hold.
 * Bytes already owned stay owned since they were.  A promise that is
 * wrong serves stale data: it must be the device's, as real hardware that
 * prefetches descriptors relies on it.
 */
void encap_ra_own(struct encap_ra *ra, uint64_t addr, uint64_t len);

/*
 * Ownership that began at a read the requester made: the read of an index
 * that publishes what the owner wrote before it (a virtio ring's available
 * index).  encap_ra_mark() right after that read remembers where its value
 * was copied; encap_ra_own_marked() then owns bytes since then, without
 * dropping the cache: every copy made after the marked read holds their
 * current value, those of the same fetch included (its later windows, and
 * its window's bytes above the read).  If the marked read was not served
 * from the last fetch at its cursor (a lean or uncached read, a hit of
 * owned bytes), encap_ra_own_marked() is encap_ra_own().
 */
void encap_ra_mark(struct encap_ra *ra);
void encap_ra_own_marked(struct encap_ra *ra, uint64_t addr, uint64_t len);

void encap_ra_give_back(struct encap_ra *ra, uint64_t addr, uint64_t len);
void encap_ra_give_back_all(struct encap_ra *ra);

void encap_ra_get_stats(const struct encap_ra *ra, struct encap_ra_stats *st);

/*
 * Reads announced ahead.  A device about to read a list of ranges, one
 * read each, in order, with nothing in between (a disk transfer mapping
 * its scatter-gather list) has them all fetched in one go: one round trip
 * instead of one each.  Each read that then asks for exactly the next
 * bytes in that order is served from the copy; any other read, and any
 * event that drops a read-ahead cache, ends it (encap_soon_drop()).
 *
 * Coherence, as for the cache above: the ranges are read by the memory's
 * owner in the order given, each in ascending order, so every byte has a
 * place in time, and they are served in that order only.  The fetch is
 * newer than anything cached: the caller drops its read-ahead cache when
 * it fetches (and a cache fetch after it ends this, being a read that was
 * not served here).
 */
#define ENCAP_SOON_MAX_RANGES   256
#define ENCAP_SOON_MAX_BYTES    (1u << 20)

struct encap_soon_stats {
    uint64_t fetches;       /* lists fetched */
    uint64_t ranges;        /* ... their ranges */
    uint64_t bytes;         /* ... and bytes */
    uint64_t served;        /* reads served from a copy */
    uint64_t unused;        /* ranges fetched and never read */
    uint64_t errors;        /* fetches that failed */
};

struct encap_soon {
    unsigned n;             /* ranges fetched; 0: nothing to serve */
    unsigned next;          /* the range the next read must start ... */
    uint32_t next_off;      /* ... at this offset of */
    struct encap_ra_range r[ENCAP_SOON_MAX_RANGES];
    uint8_t *buf;           /* ENCAP_SOON_MAX_BYTES, allocated on first use */
    struct encap_soon_stats st;
};

void encap_soon_init(struct encap_soon *s);
void encap_soon_free(struct encap_soon *s);
/*
 * Fetch the longest prefix of @want (@n ranges) within the limits above
 * through @fetch (all of it, in order, in one call): the number of ranges
 * now ready to serve; 0 if none (nothing asked, the first range alone is
 * over the limits, no memory, or the fetch failed or read only part).
 * Whatever was ready before is dropped first.
 */
unsigned encap_soon_fetch(struct encap_soon *s, const struct encap_ra_range *want,
                          unsigned n, encap_ra_fetch_fn fetch, void *opaque);
/*
 * Serve a read of @len bytes at @addr if it is the next in order: true,
 * and @buf filled.  False otherwise, and what was ready is dropped.
 */
bool encap_soon_read(struct encap_soon *s, uint64_t addr, void *buf,
                     uint32_t len);
void encap_soon_drop(struct encap_soon *s);

#endif
