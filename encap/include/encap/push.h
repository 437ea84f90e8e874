/* SPDX-License-Identifier: MIT */
/*
 * encap: a doorbell's first reads, pushed with it.
 *
 * A device that is told "there is work" by a register write (a doorbell)
 * answers by reading memory: a ring's index, then its entries.  Across a
 * link that first read is a round trip the memory's side could have
 * spared: it sends the doorbell, so it can send the bytes the device will
 * read along with it, copied after the guest's writes that the doorbell
 * announces.
 *
 * Three pieces, all carried in vrc's Vendor_Defined Type 1 messages
 * (encap/tlp.h):
 *
 *  - HINT, device side to memory side: "after your write to @key, I read
 *    these ranges, in this order" (the first fetch of its read-ahead after
 *    that doorbell; sent when it differs from the last one told).
 *  - PUSH, memory side to device side, just before the doorbell to @key:
 *    the hinted ranges' bytes, read in order, each in ascending address
 *    order (as a fetch is, encap/readahead.h), after the doorbell's
 *    writes, and the numbers of the device side's memory writes applied
 *    and memory reads answered before the copy (@writes, @reads).
 *  - An offer (struct encap_offer), device side: a PUSH armed until the
 *    doorbell it comes with, then able to serve the device's fetches
 *    instead of the link.
 *
 * Coherence.  A push is a fetch the memory's side made when the doorbell
 * left.  It serves only if it would have been a valid one then:
 *  - every memory write of the device before it that touches a pushed
 *    range was applied before the copy: @writes counts the writes the
 *    memory side had applied, those sent since are in the device side's
 *    log (struct encap_wlog, in this session, as both sides count them),
 *    and none of them overlaps a pushed range;
 *  - it is newer than every copy the device already consumed: every read
 *    the device side sent in the session was answered before the copy
 *    (@reads equals the count it sent; the memory side counts the reads it
 *    answered before and after its copy, and sends nothing if they
 *    differ);
 *  - nothing the device may react to came between: the next request after
 *    the PUSH is its doorbell, the MWr to @key with the bytes it names (a
 *    doorbell from another vCPU that overtook it would not carry the
 *    writes made for it); any other request, a write of the device
 *    (other than an interrupt message, which the guest cannot read back),
 *    a reset or the link going down drop the offer;
 *  - it serves the device's fetches after the doorbell while each finds
 *    a prefix of its ranges in the push, in the push's order, after the
 *    ranges served before (a byte served comes from no earlier copy than
 *    one served before it); the first fetch that goes to the link drops
 *    it (its bytes are newer);
 *  - it expires (@ttl_ns after the doorbell), so a device that polls
 *    memory is not served an old copy later.
 *
 * A chase.  A device often reads next what the doorbell's first read
 * points at (a NIC's descriptor, then its buffer).  The device side
 * learns where the pointer sits from the doorbell's value (a ring's tail:
 * entry = base + stride x tail) and tells it in the HINT; the memory side
 * then follows the pointer in its copy and pushes those bytes as one more
 * range.  A wrong guess costs bytes, never data: a push serves only the
 * addresses the device reads, by the rules above.
 *
 * Pure: times are arguments, no I/O.  Errors: negative enum encap_err.
 */
#ifndef ENCAP_PUSH_H
#define ENCAP_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/readahead.h"
#include "encap/tlp.h"

#define ENCAP_PUSH_MAX_RANGES   ENCAP_RA_MAX_WINDOWS
/* Bytes a push carries at most (a VDM's payload fits in one TLP). */
#define ENCAP_PUSH_MAX_DATA     2048
#define ENCAP_PUSH_HDR          32      /* key, counts, n, the doorbell */
#define ENCAP_PUSH_RANGE_LEN    16      /* addr, len, reserved */
#define ENCAP_PUSH_CHASE_LEN    16      /* base, stride, small, len, ... */
/* Doorbells remembered at once (hints, chases). */
#define ENCAP_HINTS             16

struct encap_push_range {
    uint64_t addr;
    uint32_t len;               /* 1..ENCAP_PUSH_MAX_DATA */
};

/*
 * A chase (HINT): the pointer is the little-endian u64 at @base + @stride
 * x v, v the doorbell's first payload DW (little-endian), in the pushed
 * copy; it points at @len bytes, or at as many as the little-endian u16
 * @len_at bytes after the pointer says (@len_at ENCAP_CHASE_NO_LEN: @len).
 * Those bytes are pushed as they are, or, if they are at most @small
 * bytes, rounded out to 2^@align (the device side fetches a small read
 * with the window around it).
 */
#define ENCAP_CHASE_NO_LEN      (-128)
#define ENCAP_CHASE_MAX_ALIGN   12
#define ENCAP_CHASE_MAX_STRIDE  4096

struct encap_chase {
    bool on;
    uint64_t base;
    uint16_t stride;            /* 1..ENCAP_CHASE_MAX_STRIDE */
    uint16_t small;
    uint16_t len;               /* 0..ENCAP_PUSH_MAX_DATA */
    int8_t len_at;              /* -64..63, or ENCAP_CHASE_NO_LEN */
    uint8_t align;              /* 0..ENCAP_CHASE_MAX_ALIGN */
};

struct encap_push {
    uint64_t key;               /* the doorbell: its MWr's address */
    uint32_t writes;            /* PUSH: device writes applied before */
    uint32_t reads;             /* PUSH: device reads answered before */
    /* PUSH: the doorbell MWr's byte enables (first | last << 4), and its
     * payload: @bell_dw (1 or 2) DWs in @bell, bytes in address order */
    uint8_t bell_be;
    uint8_t bell_dw;
    uint8_t bell[8];
    unsigned n;
    struct encap_push_range r[ENCAP_PUSH_MAX_RANGES];
    const uint8_t *data;        /* PUSH: the ranges' bytes, concatenated */
    struct encap_chase chase;   /* HINT: what the first read points at */
};

/* Payload bytes of @p (a DW multiple), with its data or without. */
size_t encap_push_size(const struct encap_push *p, bool with_data);
/* Bytes of data @p's ranges hold. */
size_t encap_push_data_len(const struct encap_push *p);
/*
 * Does a PUSH of @n ranges holding @data_len bytes (no chase) stay within
 * the limits above and @cap payload bytes?
 */
bool encap_push_fits(unsigned n, size_t data_len, size_t cap);
/*
 * Write @p's payload into @buf (@cap bytes): its size, or -ENCAP_E_*
 * (ranges out of bounds, too much data, @cap too small).
 */
int encap_push_encode(const struct encap_push *p, bool with_data,
                      uint8_t *buf, size_t cap);
/* Parse a payload; @p->data points into @buf.  0 or -ENCAP_E_*. */
int encap_push_decode(const uint8_t *buf, size_t len, bool with_data,
                      struct encap_push *p);
/* Two hints name the same ranges, in the same order, and chase alike. */
bool encap_push_same(const struct encap_push *a, const struct encap_push *b);

/*
 * The memory side: where @p->chase leads for a doorbell of value @v, in
 * the copy @p holds (@p->n ranges, @p->data): the range to push into @r.
 * False if the pointer or its length is not in the copy, or the range
 * would be empty, wrap, or exceed ENCAP_PUSH_MAX_DATA.
 */
bool encap_chase_target(const struct encap_push *p, uint32_t v,
                        struct encap_push_range *r);

/*
 * The device side: did a read of @len bytes at @addr take its address
 * from @data (@dlen bytes read at @daddr)?  If a naturally aligned
 * little-endian u64 there equals @addr: true, its address in @at, and in
 * @len_at where a little-endian u16 near it equals @len (the nearest
 * after it first), or ENCAP_CHASE_NO_LEN.
 */
bool encap_chase_find(const uint8_t *data, uint32_t dlen, uint64_t daddr,
                      uint64_t addr, uint32_t len, uint64_t *at, int *len_at);

/*
 * The keys of a table by doorbell (chases, hints): a few doorbells are live
 * at once (a NIC's transmit and receive, an NVMe queue pair); the one
 * least recently used goes first.
 */
struct encap_bells {
    uint64_t key[ENCAP_HINTS];
    uint64_t stamp[ENCAP_HINTS];        /* 0: free */
    uint64_t clock;
};

/*
 * The device side's chases, learnt by doorbell from what encap_chase_find()
 * saw: after the doorbell @key of value @v, the device read @len bytes at
 * the address the u64 at @at held.  Two steps that agree on one stride
 * (three doorbells whose pointers sit at base + stride x v) make a chase;
 * it stays while what is seen agrees with it or gives no other stride (a
 * ring's wrap).
 */
struct encap_chaser {
    struct encap_bells b;
    struct {
        uint32_t v;             /* the last one seen */
        uint64_t at;
        uint64_t step_base;     /* the stride the last two gave, if any */
        uint32_t step;
        struct encap_chase c;
    } e[ENCAP_HINTS];
};

/* True if @key's chase changed. */
bool encap_chaser_see(struct encap_chaser *c, uint64_t key, uint32_t v,
                      uint64_t at, uint32_t len, int len_at);
/* @key's chase into @out (off if none). */
void encap_chaser_get(const struct encap_chaser *c, uint64_t key,
                      struct encap_chase *out);
void encap_chaser_clear(struct encap_chaser *c);

/*
 * Hints by doorbell: the memory side's table of what to push, and the
 * device side's of what it told.
 */
struct encap_hints {
    struct encap_bells b;
    struct encap_push p[ENCAP_HINTS];   /* data unused */
};

/* Remember @p for @p->key (no ranges: forget the key). */
void encap_hints_put(struct encap_hints *h, const struct encap_push *p);
/* The hint for @key into @p (data NULL): false if there is none. */
bool encap_hints_get(const struct encap_hints *h, uint64_t key,
                     struct encap_push *p);
void encap_hints_clear(struct encap_hints *h);

/*
 * The device side's memory writes, as sent: the last ENCAP_WLOG of them
 * by number (the count a PUSH carries), so that a push made before some
 * of them arrived still serves if none of them touch what it holds.
 */
#define ENCAP_WLOG      256

struct encap_wlog {
    uint32_t count;             /* writes sent */
    struct {
        uint64_t addr;
        uint32_t len;
    } w[ENCAP_WLOG];
};

void encap_wlog_reset(struct encap_wlog *w);
void encap_wlog_add(struct encap_wlog *w, uint64_t addr, uint32_t len);
/*
 * Might a write sent after the first @p->writes have changed @p's ranges
 * before the copy?  True if one of them overlaps a range, or they are no
 * longer all in the log, or @p counts more writes than were sent.
 */
bool encap_wlog_stale(const struct encap_wlog *w, const struct encap_push *p);

enum encap_offer_state {
    ENCAP_OFFER_NONE,
    ENCAP_OFFER_ARMED,          /* waiting for its doorbell */
    ENCAP_OFFER_LIVE,           /* may serve the next fetch */
};

struct encap_offer_stats {
    uint64_t pushes;            /* PUSH messages armed or refused */
    uint64_t stale;             /* refused: a device write it may miss, or
                                   older than a copy the device read */
    uint64_t overtaken;         /* armed, device writes on their way then */
    uint64_t served;            /* fetches served, whole or a prefix */
    uint64_t ranges;            /* ranges served */
    uint64_t partial;           /* fetches served a prefix of */
    uint64_t later;             /* fetches served after the first */
    uint64_t missed;            /* live offers that served no fetch */
};

struct encap_offer {
    enum encap_offer_state state;
    struct encap_push p;
    uint8_t data[ENCAP_PUSH_MAX_DATA];
    unsigned next;              /* live: the first range not yet passed */
    size_t next_off;            /* its offset in @data */
    bool served_any;
    int64_t expires;
    int64_t ttl_ns;
    struct encap_offer_stats st;
};

void encap_offer_init(struct encap_offer *o, int64_t ttl_ns);
/*
 * A PUSH arrived; @w: the device's writes sent this session, @reads_sent:
 * its reads (all answered: a device side that may have reads outstanding
 * passes those too).
 */
void encap_offer_push(struct encap_offer *o, const struct encap_push *p,
                      const struct encap_wlog *w, uint32_t reads_sent);
/*
 * Any other request @t arrived.  The PUSH's own doorbell makes an armed
 * offer live; anything else drops it.
 */
void encap_offer_request(struct encap_offer *o, const struct encap_tlp *t,
                         int64_t now);
/* The device wrote memory, was reset, or the link changed. */
void encap_offer_drop(struct encap_offer *o);
/*
 * A fetch of @n ranges (encap_ra_fetch_fn's): copy the longest prefix
 * of them that the live offer holds, in order after what it served
 * before, and return its length.  0: none, the fetch goes to the link,
 * and the offer is used up (as is one still armed: a fetch before its
 * doorbell is newer).  Otherwise the offer stays live for the next fetch:
 * the ranges after the prefix are not read (encap_ra_fetch_fn).
 */
unsigned encap_offer_serve(struct encap_offer *o,
                           const struct encap_ra_range *r, unsigned n,
                           int64_t now);

#endif
