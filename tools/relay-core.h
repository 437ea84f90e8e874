/* SPDX-License-Identifier: MIT */
/*
 * relay-core: what vrc-relay does to the frames it carries, without the
 * sockets.
 *
 * Two parts:
 *  - relay_decide(): the impairment decision for one frame, a pure function
 *    of a PRNG state (splitmix64, advanced by a fixed number of draws per
 *    frame whatever the rates are) and the configuration of its direction.
 *  - struct relay_dir: one direction of the relay.  It applies the decisions
 *    (drop, duplicate, flip a bit, delay, hold back for reordering) and hands
 *    the frames to an emit callback, holding frames in slots of a fixed pool
 *    shared by both directions.  Time is a caller-supplied nanosecond clock,
 *    so tests drive it with a fake one.
 *
 * Not thread-safe: one thread drives both directions.
 */
#ifndef VRC_RELAY_CORE_H
#define VRC_RELAY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_ETH_HLEN    14
#define RELAY_MAX_COPIES  2     /* a frame and its duplicate */
#define RELAY_DRAWS       (2 + 4 * RELAY_MAX_COPIES)   /* PRNG draws a frame */

enum relay_dir_id { RELAY_A2B = 0, RELAY_B2A = 1 };

/* splitmix64: next 64-bit value of the generator whose state is *@s. */
uint64_t relay_rng_next(uint64_t *s);
/* A double uniform in [0, 1) (53 bits). */
double relay_rng_unit(uint64_t *s);
/* The starting state of direction @dir for a run of seed @seed. */
uint64_t relay_rng_seed(uint64_t seed, unsigned dir);

/* The impairments of one direction.  Rates are probabilities in 0..1. */
struct relay_cfg {
    double loss;            /* drop the frame */
    double dup;             /* send it twice */
    double reorder;         /* hold a copy back (see relay_dir) */
    double corrupt;         /* flip one bit of a copy past the Ethernet header */
    uint64_t delay_ns;      /* fixed delay of every copy */
    uint64_t jitter_ns;     /* delay varies uniformly by +- this (<= delay) */
};

struct relay_copy {
    int64_t flip_bit;       /* bit to flip, counted from the first byte after
                               the Ethernet header (bit 0 = its MSB); -1: none */
    uint64_t delay_ns;
    bool hold;
};

struct relay_action {
    bool drop;
    unsigned copies;        /* 0 when dropped, 1, or 2 when duplicated */
    struct relay_copy copy[RELAY_MAX_COPIES];
};

/*
 * Decide what happens to a frame of @len bytes.  Draws exactly RELAY_DRAWS
 * values from *@rng, so the decisions for the n-th frame of a direction
 * depend only on the seed and n (and @len for the bit position), not on the
 * rates of other impairments.
 */
void relay_decide(uint64_t *rng, const struct relay_cfg *cfg, size_t len,
                  struct relay_action *a);

/* Flip bit @bit (as in struct relay_copy) of @frame; false if out of range. */
bool relay_flip(uint8_t *frame, size_t len, int64_t bit);

/* Frames kept for later: delayed or held back. */
struct relay_slot {
    struct relay_slot *next;
    uint64_t due;           /* delayed: release time; held: deadline */
    unsigned gap;           /* held: frames still to let pass */
    unsigned passed;        /* held: frames sent since it was held */
    bool hold;              /* delayed: hold it back when it is due */
    size_t len;
    uint8_t *buf;
};

struct relay_pool {
    struct relay_slot *slots;
    struct relay_slot *free;
    uint8_t *mem;
    uint8_t *scratch;       /* one frame: a corrupted copy sent at once */
    size_t slot_bytes;
    unsigned size;
    unsigned used, max_used;
};

/* A pool of @slots frames of up to @slot_bytes each.  0 or -ENOMEM. */
int relay_pool_init(struct relay_pool *p, unsigned slots, size_t slot_bytes);
void relay_pool_free(struct relay_pool *p);

struct relay_stats {
    uint64_t in;            /* frames taken in for impairment */
    uint64_t passed;        /* frames forwarded untouched (not impaired) */
    uint64_t sent;          /* frames handed on: copies, duplicates and
                               corrupted ones included, passed ones not */
    uint64_t dropped;       /* lost on purpose (--loss) */
    uint64_t duplicated;    /* frames sent twice */
    uint64_t corrupted;     /* copies sent with a bit flipped */
    uint64_t held;          /* copies held back (--reorder) */
    uint64_t reordered;     /* held copies that later frames overtook */
    uint64_t pool_full;     /* no free slot: a delayed copy was dropped,
                               a held one sent in order */
    uint64_t send_errors;   /* the emit callback failed: frame lost */
};

/* Send one frame; 0 or -errno. */
typedef int (*relay_emit_fn)(void *opaque, const uint8_t *frame, size_t len);

/*
 * One direction.  A delayed copy waits in a FIFO (jitter never lets a copy
 * overtake the one ahead of it).  A copy to be held back is kept when it
 * would be sent and released after @gap later frames of its direction have
 * been sent, or @wait_ns after it was held, whichever comes first.
 */
struct relay_dir {
    struct relay_cfg cfg;
    uint64_t rng;
    unsigned gap;
    uint64_t wait_ns;
    struct relay_pool *pool;
    relay_emit_fn emit;
    void *opaque;
    struct relay_slot *dq_head, *dq_tail;       /* delayed, by due time */
    struct relay_slot *held_head, *held_tail;   /* held, in hold order */
    uint64_t last_due;
    struct relay_stats st;
};

void relay_dir_init(struct relay_dir *d, const struct relay_cfg *cfg,
                    uint64_t rng_state, unsigned gap, uint64_t wait_ns,
                    struct relay_pool *pool, relay_emit_fn emit, void *opaque);

/* A frame of @len (<= pool slot_bytes) bytes came in at @now: impair it. */
void relay_dir_input(struct relay_dir *d, const uint8_t *frame, size_t len,
                     uint64_t now);
/* A frame to forward untouched (not subject to impairment). */
void relay_dir_pass(struct relay_dir *d, const uint8_t *frame, size_t len);
/* Send what is due at @now. */
void relay_dir_run(struct relay_dir *d, uint64_t now);
/* When something is next due (ns), or UINT64_MAX if nothing waits. */
uint64_t relay_dir_next_due(const struct relay_dir *d);
/* Send everything still waiting, in order (at exit). */
void relay_dir_flush(struct relay_dir *d);
/* Frames waiting in this direction. */
unsigned relay_dir_waiting(const struct relay_dir *d);

#endif
