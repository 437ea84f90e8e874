/* SPDX-License-Identifier: MIT */
/* encap: a doorbell's first reads, pushed with it (encap/push.h). */
#include <string.h>

#include "encap/err.h"
#include "encap/push.h"
#include "wire.h"

/*
 * Payload, big-endian:
 *   0  key (8)      8  writes (4)      12  reads (4)
 *   16 n (1), bell_be (1), bell_dw (1), flags (1), reserved (4)
 *   24 bell (8)
 *   32 n x { addr (8), len (4), reserved (4) }
 *   if flags bit 0: a chase { base (8), stride (2), small (2), len (2),
 *   len_at (1), align (1) }
 *   then, in a PUSH, the ranges' bytes in order; zeros to a DW multiple.
 */
#define PUSH_F_CHASE    0x01

size_t encap_push_data_len(const struct encap_push *p)
{
    size_t len = 0;

    for (unsigned i = 0; i < p->n && i < ENCAP_PUSH_MAX_RANGES; i++) {
        len += p->r[i].len;
    }
    return len;
}

/* Payload bytes of @n ranges, a chase if @chase, and @data bytes. */
static size_t push_bytes(unsigned n, bool chase, size_t data)
{
    size_t len = ENCAP_PUSH_HDR + (size_t)n * ENCAP_PUSH_RANGE_LEN + data;

    if (chase) {
        len += ENCAP_PUSH_CHASE_LEN;
    }
    return (len + 3) & ~(size_t)3;
}

size_t encap_push_size(const struct encap_push *p, bool with_data)
{
    return push_bytes(p->n, p->chase.on,
                      with_data ? encap_push_data_len(p) : 0);
}

bool encap_push_fits(unsigned n, size_t data_len, size_t cap)
{
    return n <= ENCAP_PUSH_MAX_RANGES && data_len <= ENCAP_PUSH_MAX_DATA &&
           push_bytes(n, false, data_len) <= cap;
}

/* [@addr, @addr + @len) lies in @r. */
static bool range_holds(const struct encap_push_range *r, uint64_t addr,
                        uint64_t len)
{
    return addr >= r->addr && len <= r->len && addr - r->addr <= r->len - len;
}

static int push_check(const struct encap_push *p)
{
    if (p->n > ENCAP_PUSH_MAX_RANGES || p->bell_dw > 2) {
        return -ENCAP_E_FIELD;
    }
    for (unsigned i = 0; i < p->n; i++) {
        if (!p->r[i].len || p->r[i].len > ENCAP_PUSH_MAX_DATA ||
            p->r[i].addr + p->r[i].len < p->r[i].addr) {
            return -ENCAP_E_FIELD;
        }
    }
    if (encap_push_data_len(p) > ENCAP_PUSH_MAX_DATA) {
        return -ENCAP_E_LENGTH;
    }
    if (p->chase.on &&
        (!p->chase.stride || p->chase.stride > ENCAP_CHASE_MAX_STRIDE ||
         p->chase.len > ENCAP_PUSH_MAX_DATA ||
         p->chase.align > ENCAP_CHASE_MAX_ALIGN ||
         (p->chase.len_at != ENCAP_CHASE_NO_LEN &&
          (p->chase.len_at < -64 || p->chase.len_at > 63)))) {
        return -ENCAP_E_FIELD;
    }
    return 0;
}

int encap_push_encode(const struct encap_push *p, bool with_data,
                      uint8_t *buf, size_t cap)
{
    size_t size, off;
    int r = push_check(p);

    if (r < 0) {
        return r;
    }
    size = encap_push_size(p, with_data);
    if (size > cap) {
        return -ENCAP_E_NOSPACE;
    }
    memset(buf, 0, size);
    wire_put64(buf, p->key);
    wire_put32(buf + 8, p->writes);
    wire_put32(buf + 12, p->reads);
    buf[16] = p->n;
    buf[17] = p->bell_be;
    buf[18] = p->bell_dw;
    buf[19] = p->chase.on ? PUSH_F_CHASE : 0;
    memcpy(buf + 24, p->bell, 8);
    off = ENCAP_PUSH_HDR;
    for (unsigned i = 0; i < p->n; i++, off += ENCAP_PUSH_RANGE_LEN) {
        wire_put64(buf + off, p->r[i].addr);
        wire_put32(buf + off + 8, p->r[i].len);
    }
    if (p->chase.on) {
        wire_put64(buf + off, p->chase.base);
        wire_put16(buf + off + 8, p->chase.stride);
        wire_put16(buf + off + 10, p->chase.small);
        wire_put16(buf + off + 12, p->chase.len);
        buf[off + 14] = (uint8_t)p->chase.len_at;
        buf[off + 15] = p->chase.align;
        off += ENCAP_PUSH_CHASE_LEN;
    }
    if (with_data) {
        memcpy(buf + off, p->data, encap_push_data_len(p));
    }
    return (int)size;
}

int encap_push_decode(const uint8_t *buf, size_t len, bool with_data,
                      struct encap_push *p)
{
    size_t off = ENCAP_PUSH_HDR;
    int r;

    memset(p, 0, sizeof(*p));
    if (len < ENCAP_PUSH_HDR) {
        return -ENCAP_E_SHORT;
    }
    p->key = wire_get64(buf);
    p->writes = wire_get32(buf + 8);
    p->reads = wire_get32(buf + 12);
    p->n = buf[16];
    p->bell_be = buf[17];
    p->bell_dw = buf[18];
    memcpy(p->bell, buf + 24, 8);
    if (p->n > ENCAP_PUSH_MAX_RANGES || p->bell_dw > 2) {
        return -ENCAP_E_FIELD;
    }
    if (len < ENCAP_PUSH_HDR + (size_t)p->n * ENCAP_PUSH_RANGE_LEN) {
        return -ENCAP_E_SHORT;
    }
    for (unsigned i = 0; i < p->n; i++, off += ENCAP_PUSH_RANGE_LEN) {
        p->r[i].addr = wire_get64(buf + off);
        p->r[i].len = wire_get32(buf + off + 8);
    }
    if (buf[19] & PUSH_F_CHASE) {
        if (len - off < ENCAP_PUSH_CHASE_LEN) {
            return -ENCAP_E_SHORT;
        }
        p->chase = (struct encap_chase) {
            .on = true,
            .base = wire_get64(buf + off),
            .stride = wire_get16(buf + off + 8),
            .small = wire_get16(buf + off + 10),
            .len = wire_get16(buf + off + 12),
            .len_at = (int8_t)buf[off + 14],
            .align = buf[off + 15],
        };
        off += ENCAP_PUSH_CHASE_LEN;
    }
    r = push_check(p);
    if (r < 0) {
        return r;
    }
    if (with_data) {
        if (len - off < encap_push_data_len(p)) {
            return -ENCAP_E_SHORT;
        }
        p->data = buf + off;
    }
    return 0;
}

static bool chase_same(const struct encap_chase *a, const struct encap_chase *b)
{
    return a->on == b->on &&
           (!a->on || (a->base == b->base && a->stride == b->stride &&
                       a->small == b->small && a->len == b->len &&
                       a->len_at == b->len_at && a->align == b->align));
}

bool encap_push_same(const struct encap_push *a, const struct encap_push *b)
{
    if (a->key != b->key || a->n != b->n || !chase_same(&a->chase, &b->chase)) {
        return false;
    }
    for (unsigned i = 0; i < a->n; i++) {
        if (a->r[i].addr != b->r[i].addr || a->r[i].len != b->r[i].len) {
            return false;
        }
    }
    return true;
}

/* ---- chases ---- */

/* @p's copy of the @len bytes at @addr, if one range holds them. */
static const uint8_t *push_copy_at(const struct encap_push *p, uint64_t addr,
                                   uint32_t len)
{
    size_t off = 0;

    for (unsigned i = 0; i < p->n; off += p->r[i].len, i++) {
        if (range_holds(&p->r[i], addr, len)) {
            return p->data + off + (addr - p->r[i].addr);
        }
    }
    return NULL;
}

bool encap_chase_target(const struct encap_push *p, uint32_t v,
                        struct encap_push_range *r)
{
    const struct encap_chase *c = &p->chase;
    uint64_t at = c->base + (uint64_t)c->stride * v, ptr, mask, start, end;
    const uint8_t *q;
    uint32_t len = c->len;

    if (!c->on || !p->data || c->align > ENCAP_CHASE_MAX_ALIGN) {
        return false;
    }
    q = push_copy_at(p, at, 8);
    if (!q) {
        return false;
    }
    ptr = wire_le64(q);
    if (c->len_at != ENCAP_CHASE_NO_LEN) {
        q = push_copy_at(p, at + (uint64_t)(int64_t)c->len_at, 2);
        if (!q) {
            return false;
        }
        len = wire_le16(q);
    }
    if (!len || len > ENCAP_PUSH_MAX_DATA || ptr + len < ptr) {
        return false;
    }
    mask = len <= c->small ? ((uint64_t)1 << c->align) - 1 : 0;
    start = ptr & ~mask;
    end = (ptr + len - 1) | mask;       /* the last byte */
    if (end == UINT64_MAX || end - start >= ENCAP_PUSH_MAX_DATA) {
        return false;
    }
    *r = (struct encap_push_range) { start, (uint32_t)(end - start + 1) };
    return true;
}

bool encap_chase_find(const uint8_t *data, uint32_t dlen, uint64_t daddr,
                      uint64_t addr, uint32_t len, uint64_t *at, int *len_at)
{
    for (uint32_t o = (uint32_t)(-daddr & 7); o + 8 <= dlen; o += 8) {
        if (wire_le64(data + o) != addr) {
            continue;
        }
        *at = daddr + o;
        *len_at = ENCAP_CHASE_NO_LEN;
        /* The length, nearest after the pointer first, then before it. */
        for (int d = 8; d <= 62 && o + d + 2 <= dlen && len <= 0xffff;
             d += 2) {
            if (wire_le16(data + o + d) == len) {
                *len_at = d;
                return true;
            }
        }
        for (int d = -2; d >= -64 && (int)o + d >= 0 && len <= 0xffff;
             d -= 2) {
            if (wire_le16(data + o + d) == len) {
                *len_at = d;
                return true;
            }
        }
        return true;
    }
    return false;
}

/* ---- tables by doorbell ---- */

/* @key's slot in @b, or -1. */
static int bells_find(const struct encap_bells *b, uint64_t key)
{
    for (unsigned i = 0; i < ENCAP_HINTS; i++) {
        if (b->stamp[i] && b->key[i] == key) {
            return i;
        }
    }
    return -1;
}

/*
 * @key's slot in @b, used now: its own, or else the free or least
 * recently used one, given to @key (*@fresh then true).
 */
static unsigned bells_take(struct encap_bells *b, uint64_t key, bool *fresh)
{
    int own = bells_find(b, key);
    unsigned slot = 0;

    *fresh = own < 0;
    if (own >= 0) {
        slot = own;
    } else {
        for (unsigned i = 1; i < ENCAP_HINTS; i++) {
            if (b->stamp[i] < b->stamp[slot]) {
                slot = i;
            }
        }
    }
    b->key[slot] = key;
    b->stamp[slot] = ++b->clock;
    return slot;
}

/* ---- the device side's chases ---- */

bool encap_chaser_see(struct encap_chaser *c, uint64_t key, uint32_t v,
                      uint64_t at, uint32_t len, int len_at)
{
    bool fresh;
    unsigned slot = bells_take(&c->b, key, &fresh);
    struct encap_chase was;
    bool holds;

    if (fresh) {
        memset(&c->e[slot], 0, sizeof(c->e[slot]));
        c->e[slot].v = v;
        c->e[slot].at = at;
        return false;
    }
    was = c->e[slot].c;
    holds = was.on && was.base + (uint64_t)was.stride * v == at;
    if (!holds && v != c->e[slot].v) {
        /* The stride from the last one to this one, if whole. */
        int64_t dv = (int64_t)v - (int64_t)c->e[slot].v;
        int64_t dat = (int64_t)(at - c->e[slot].at);
        uint32_t step = 0;
        uint64_t base = 0;

        if (dat % dv == 0 && dat / dv >= 1 &&
            dat / dv <= ENCAP_CHASE_MAX_STRIDE) {
            step = (uint32_t)(dat / dv);
            base = at - (uint64_t)step * v;
        }
        if (step && step == c->e[slot].step && base == c->e[slot].step_base) {
            /* Two steps agree: a chase, new or moved. */
            c->e[slot].c = (struct encap_chase) {
                .on = true, .base = base, .stride = step,
                .len_at = ENCAP_CHASE_NO_LEN,
            };
            holds = true;
        }
        c->e[slot].step = step;
        c->e[slot].step_base = base;
    }
    c->e[slot].v = v;
    c->e[slot].at = at;
    if (holds) {
        struct encap_chase *ch = &c->e[slot].c;

        if (len_at != ENCAP_CHASE_NO_LEN) {
            ch->len_at = (int8_t)len_at;
        } else if (ch->len_at == ENCAP_CHASE_NO_LEN && len > ch->len) {
            ch->len = len < ENCAP_PUSH_MAX_DATA ? len : ENCAP_PUSH_MAX_DATA;
        }
    }
    return !chase_same(&was, &c->e[slot].c);
}

void encap_chaser_get(const struct encap_chaser *c, uint64_t key,
                      struct encap_chase *out)
{
    int slot = bells_find(&c->b, key);

    memset(out, 0, sizeof(*out));
    if (slot >= 0) {
        *out = c->e[slot].c;
    }
}

void encap_chaser_clear(struct encap_chaser *c)
{
    memset(c, 0, sizeof(*c));
}

/* ---- hints by doorbell ---- */

void encap_hints_put(struct encap_hints *h, const struct encap_push *p)
{
    bool fresh;
    unsigned slot;

    if (!p->n || p->n > ENCAP_PUSH_MAX_RANGES) {
        int own = bells_find(&h->b, p->key);

        if (own >= 0) {
            h->b.stamp[own] = 0;
        }
        return;
    }
    slot = bells_take(&h->b, p->key, &fresh);
    /* A hint is its key, ranges and chase: nothing of a push's copy. */
    h->p[slot] = (struct encap_push) {
        .key = p->key, .n = p->n, .chase = p->chase,
    };
    memcpy(h->p[slot].r, p->r, p->n * sizeof(p->r[0]));
}

bool encap_hints_get(const struct encap_hints *h, uint64_t key,
                     struct encap_push *p)
{
    int slot = bells_find(&h->b, key);

    if (slot < 0) {
        return false;
    }
    *p = h->p[slot];
    return true;
}

void encap_hints_clear(struct encap_hints *h)
{
    memset(h, 0, sizeof(*h));
}

/* ---- the device side's writes ---- */

void encap_wlog_reset(struct encap_wlog *w)
{
    w->count = 0;
}

void encap_wlog_add(struct encap_wlog *w, uint64_t addr, uint32_t len)
{
    w->w[w->count % ENCAP_WLOG].addr = addr;
    w->w[w->count % ENCAP_WLOG].len = len;
    w->count++;
}

bool encap_wlog_stale(const struct encap_wlog *w, const struct encap_push *p)
{
    uint32_t since = w->count - p->writes;  /* writes not in the copy */

    if (since > ENCAP_WLOG) {
        return true;
    }
    for (uint32_t c = p->writes; c != w->count; c++) {
        uint64_t a = w->w[c % ENCAP_WLOG].addr;
        uint64_t e = a + w->w[c % ENCAP_WLOG].len;

        for (unsigned i = 0; i < p->n; i++) {
            if (a < p->r[i].addr + p->r[i].len && p->r[i].addr < e) {
                return true;
            }
        }
    }
    return false;
}

/* ---- the device side's offer ---- */

void encap_offer_init(struct encap_offer *o, int64_t ttl_ns)
{
    memset(o, 0, sizeof(*o));
    o->ttl_ns = ttl_ns;
}

void encap_offer_drop(struct encap_offer *o)
{
    if (o->state == ENCAP_OFFER_LIVE && !o->served_any) {
        o->st.missed++;
    }
    o->state = ENCAP_OFFER_NONE;
}

void encap_offer_push(struct encap_offer *o, const struct encap_push *p,
                      const struct encap_wlog *w, uint32_t reads_sent)
{
    size_t len = encap_push_data_len(p);

    encap_offer_drop(o);
    o->st.pushes++;
    if (encap_wlog_stale(w, p) || p->reads != reads_sent) {
        /* A write of the device was on its way (the copy may miss it), or
         * the device read a copy made after this one. */
        o->st.stale++;
        return;
    }
    o->st.overtaken += p->writes != w->count;
    if (!p->n || !p->data || len > sizeof(o->data)) {
        return;
    }
    o->p = *p;
    memcpy(o->data, p->data, len);
    o->p.data = o->data;
    o->next = 0;
    o->next_off = 0;
    o->served_any = false;
    o->state = ENCAP_OFFER_ARMED;
}

/* @t is the MWr the push names: its address, byte enables and data. */
static bool offer_bell(const struct encap_offer *o, const struct encap_tlp *t)
{
    return t->type == ENCAP_TLP_MWR && t->addr == o->p.key &&
           t->len_dw == o->p.bell_dw && t->data &&
           (t->first_be | t->last_be << 4) == o->p.bell_be &&
           !memcmp(t->data, o->p.bell, t->len_dw * 4u);
}

void encap_offer_request(struct encap_offer *o, const struct encap_tlp *t,
                         int64_t now)
{
    if (o->state == ENCAP_OFFER_ARMED && offer_bell(o, t)) {
        o->state = ENCAP_OFFER_LIVE;
        o->expires = now + o->ttl_ns;
        return;
    }
    encap_offer_drop(o);
}

unsigned encap_offer_serve(struct encap_offer *o,
                           const struct encap_ra_range *r, unsigned n,
                           int64_t now)
{
    unsigned k = 0, j = o->next;
    size_t off = o->next_off;

    if (o->state != ENCAP_OFFER_LIVE) {
        /* Armed: this fetch comes before its doorbell, and is newer. */
        encap_offer_drop(o);
        return 0;
    }
    if (now > o->expires) {
        encap_offer_drop(o);
        return 0;
    }
    /*
     * Each range in a pushed range after the one the range before used
     * (in this fetch or an earlier one): the push copied its ranges in
     * order, so each range served is a later copy than the one before it,
     * as in a fetch.
     */
    for (; k < n; k++, off += o->p.r[j].len, j++) {
        while (j < o->p.n &&
               !range_holds(&o->p.r[j], r[k].addr, r[k].len)) {
            off += o->p.r[j].len;
            j++;
        }
        if (j == o->p.n) {
            break;
        }
        memcpy(r[k].buf, o->data + off + (r[k].addr - o->p.r[j].addr),
               r[k].len);
    }
    if (!k) {
        /* To the link: what it brings is newer than the copy. */
        encap_offer_drop(o);
        return 0;
    }
    /* The ranges after the prefix are not read: the copy may serve on. */
    o->next = j;
    o->next_off = off;
    o->st.served++;
    o->st.ranges += k;
    o->st.partial += k < n;
    o->st.later += o->served_any;
    o->served_any = true;
    return k;
}
