/* SPDX-License-Identifier: MIT */
/* relay-core: impairment decisions and the per-direction scheduler. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay-core.h"

uint64_t relay_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double relay_rng_unit(uint64_t *s)
{
    return (relay_rng_next(s) >> 11) * 0x1.0p-53;
}

uint64_t relay_rng_seed(uint64_t seed, unsigned dir)
{
    uint64_t s = seed ^ (0xa0761d6478bd642full * (dir + 1));

    return relay_rng_next(&s);
}

void relay_decide(uint64_t *rng, const struct relay_cfg *cfg, size_t len,
                  struct relay_action *a)
{
    /* Every draw is made whether or not it is used (see the header). */
    double loss = relay_rng_unit(rng);
    double dup = relay_rng_unit(rng);
    size_t bits = len > RELAY_ETH_HLEN ? (len - RELAY_ETH_HLEN) * 8 : 0;

    memset(a, 0, sizeof(*a));
    a->drop = loss < cfg->loss;
    a->copies = a->drop ? 0 : dup < cfg->dup ? 2 : 1;
    for (unsigned i = 0; i < RELAY_MAX_COPIES; i++) {
        struct relay_copy *c = &a->copy[i];
        double corrupt = relay_rng_unit(rng);
        uint64_t bit = relay_rng_next(rng);
        uint64_t jitter = relay_rng_next(rng);
        double hold = relay_rng_unit(rng);
        uint64_t j = cfg->jitter_ns < cfg->delay_ns ? cfg->jitter_ns
                                                    : cfg->delay_ns;

        c->flip_bit = corrupt < cfg->corrupt && bits ? (int64_t)(bit % bits)
                                                     : -1;
        c->delay_ns = cfg->delay_ns - j + (j ? jitter % (2 * j + 1) : 0);
        c->hold = hold < cfg->reorder;
        if (i >= a->copies) {
            memset(c, 0, sizeof(*c));
            c->flip_bit = -1;
        }
    }
}

bool relay_flip(uint8_t *frame, size_t len, int64_t bit)
{
    if (bit < 0 || len <= RELAY_ETH_HLEN ||
        (uint64_t)bit >= (len - RELAY_ETH_HLEN) * 8) {
        return false;
    }
    frame[RELAY_ETH_HLEN + bit / 8] ^= 0x80 >> (bit % 8);
    return true;
}

int relay_pool_init(struct relay_pool *p, unsigned slots, size_t slot_bytes)
{
    memset(p, 0, sizeof(*p));
    p->slots = calloc(slots ? slots : 1, sizeof(*p->slots));
    p->mem = malloc(((size_t)slots + 1) * slot_bytes);
    if (!p->slots || !p->mem) {
        free(p->slots);
        free(p->mem);
        return -ENOMEM;
    }
    p->scratch = p->mem + (size_t)slots * slot_bytes;
    p->slot_bytes = slot_bytes;
    p->size = slots;
    for (unsigned i = slots; i-- > 0;) {
        p->slots[i].buf = p->mem + (size_t)i * slot_bytes;
        p->slots[i].next = p->free;
        p->free = &p->slots[i];
    }
    return 0;
}

void relay_pool_free(struct relay_pool *p)
{
    free(p->slots);
    free(p->mem);
    memset(p, 0, sizeof(*p));
}

static struct relay_slot *slot_get(struct relay_pool *p)
{
    struct relay_slot *s = p->free;

    if (s) {
        p->free = s->next;
        s->next = NULL;
        if (++p->used > p->max_used) {
            p->max_used = p->used;
        }
    }
    return s;
}

static void slot_put(struct relay_pool *p, struct relay_slot *s)
{
    s->next = p->free;
    p->free = s;
    p->used--;
}

void relay_dir_init(struct relay_dir *d, const struct relay_cfg *cfg,
                    uint64_t rng_state, unsigned gap, uint64_t wait_ns,
                    struct relay_pool *pool, relay_emit_fn emit, void *opaque)
{
    memset(d, 0, sizeof(*d));
    d->cfg = *cfg;
    d->rng = rng_state;
    d->gap = gap ? gap : 1;
    d->wait_ns = wait_ns;
    d->pool = pool;
    d->emit = emit;
    d->opaque = opaque;
}

static void send_one(struct relay_dir *d, const uint8_t *buf, size_t len)
{
    if (d->emit(d->opaque, buf, len) < 0) {
        d->st.send_errors++;
    } else {
        d->st.sent++;
    }
}

/* Release the first held copy. */
static void release_head(struct relay_dir *d)
{
    struct relay_slot *s = d->held_head;

    d->held_head = s->next;
    if (!d->held_head) {
        d->held_tail = NULL;
    }
    if (s->passed) {
        d->st.reordered++;
    }
    send_one(d, s->buf, s->len);
    slot_put(d->pool, s);
}

/*
 * Send a copy now; @s is its slot or NULL.  The held copies it overtakes
 * count it, and those that have let enough frames pass follow it.  Held
 * copies are released in the order they were held: deadlines and remaining
 * gaps both grow along the list.
 */
static void send_overtaking(struct relay_dir *d, const uint8_t *buf,
                            size_t len, struct relay_slot *s)
{
    send_one(d, buf, len);
    if (s) {
        slot_put(d->pool, s);
    }
    for (struct relay_slot *h = d->held_head; h; h = h->next) {
        h->passed++;
        if (h->gap) {
            h->gap--;
        }
    }
    while (d->held_head && d->held_head->gap == 0) {
        release_head(d);
    }
}

/* A copy is ready to leave at @now: hold it back or send it. */
static void egress(struct relay_dir *d, const uint8_t *buf, size_t len,
                   bool hold, struct relay_slot *s, uint64_t now)
{
    if (hold) {
        if (!s && (s = slot_get(d->pool)) != NULL) {
            memcpy(s->buf, buf, len);
            s->len = len;
        }
        if (s) {
            s->next = NULL;
            s->due = now + d->wait_ns;
            s->gap = d->gap;
            s->passed = 0;
            s->hold = false;
            if (d->held_tail) {
                d->held_tail->next = s;
            } else {
                d->held_head = s;
            }
            d->held_tail = s;
            d->st.held++;
            return;
        }
        d->st.pool_full++;      /* sent in order instead */
    }
    send_overtaking(d, buf, len, s);
}

void relay_dir_input(struct relay_dir *d, const uint8_t *frame, size_t len,
                     uint64_t now)
{
    struct relay_action a;

    d->st.in++;
    relay_decide(&d->rng, &d->cfg, len, &a);
    if (a.drop) {
        d->st.dropped++;
        return;
    }
    if (a.copies > 1) {
        d->st.duplicated++;
    }
    for (unsigned i = 0; i < a.copies; i++) {
        const struct relay_copy *c = &a.copy[i];
        const uint8_t *buf = frame;
        bool flip = c->flip_bit >= 0;

        if (c->delay_ns || d->dq_head) {
            /* Behind the delayed ones (FIFO), even if its own delay is 0. */
            struct relay_slot *s = slot_get(d->pool);
            uint64_t due = now + c->delay_ns;

            if (!s) {
                d->st.pool_full++;
                continue;
            }
            memcpy(s->buf, frame, len);
            s->len = len;
            if (flip && relay_flip(s->buf, len, c->flip_bit)) {
                d->st.corrupted++;
            }
            s->due = due > d->last_due ? due : d->last_due;
            d->last_due = s->due;
            s->hold = c->hold;
            s->next = NULL;
            if (d->dq_tail) {
                d->dq_tail->next = s;
            } else {
                d->dq_head = s;
            }
            d->dq_tail = s;
            continue;
        }
        if (flip) {
            memcpy(d->pool->scratch, frame, len);
            if (relay_flip(d->pool->scratch, len, c->flip_bit)) {
                d->st.corrupted++;
                buf = d->pool->scratch;
            }
        }
        egress(d, buf, len, c->hold, NULL, now);
    }
}

void relay_dir_pass(struct relay_dir *d, const uint8_t *frame, size_t len)
{
    if (d->emit(d->opaque, frame, len) < 0) {
        d->st.send_errors++;
    } else {
        d->st.passed++;
    }
}

void relay_dir_run(struct relay_dir *d, uint64_t now)
{
    for (;;) {
        if (d->held_head && d->held_head->due <= now) {
            release_head(d);
        } else if (d->dq_head && d->dq_head->due <= now) {
            struct relay_slot *s = d->dq_head;

            d->dq_head = s->next;
            if (!d->dq_head) {
                d->dq_tail = NULL;
            }
            egress(d, s->buf, s->len, s->hold, s, now);
        } else {
            break;
        }
    }
}

uint64_t relay_dir_next_due(const struct relay_dir *d)
{
    uint64_t t = UINT64_MAX;

    if (d->held_head) {
        t = d->held_head->due;
    }
    if (d->dq_head && d->dq_head->due < t) {
        t = d->dq_head->due;
    }
    return t;
}

void relay_dir_flush(struct relay_dir *d)
{
    while (d->dq_head) {
        struct relay_slot *s = d->dq_head;

        d->dq_head = s->next;
        send_overtaking(d, s->buf, s->len, s);
    }
    d->dq_tail = NULL;
    while (d->held_head) {
        release_head(d);
    }
}

unsigned relay_dir_waiting(const struct relay_dir *d)
{
    unsigned n = 0;

    for (const struct relay_slot *s = d->dq_head; s; s = s->next) {
        n++;
    }
    for (const struct relay_slot *s = d->held_head; s; s = s->next) {
        n++;
    }
    return n;
}
