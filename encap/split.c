/* SPDX-License-Identifier: MIT */
/* encap: request and completion splitting, completion reassembly. */
#include <stdbool.h>
#include <string.h>

#include "encap/split.h"

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Byte enables for bytes [lo, hi) of the DW at the 4-aligned @dw. */
static uint8_t be_for(uint64_t dw, uint64_t lo, uint64_t hi)
{
    uint8_t be = 0;

    for (unsigned i = 0; i < 4; i++) {
        if (dw + i >= lo && dw + i < hi) {
            be |= 1u << i;
        }
    }
    return be;
}

/*
 * Both splitters work in coordinates relative to the 4 KiB page that holds
 * @addr: every boundary they honour (DW, RCB, max_bytes up to 4 KiB) is a
 * divisor of 4 KiB, and a span that ends exactly at 2^64 (legal: the last
 * DW of the 64-bit space) would otherwise wrap "end" to 0.
 */
#define PAGE_MASK_4K 0xfffull

/* Does [addr, addr + len) run past the top of the 64-bit space? */
static bool wraps(uint64_t addr, uint32_t len)
{
    return len && len - 1 > UINT64_MAX - addr;
}

int encap_split_request(uint64_t addr, uint32_t len, uint32_t max_bytes,
                        struct encap_req_piece *out, size_t max_pieces)
{
    uint64_t base = addr & ~PAGE_MASK_4K;
    uint64_t pos = addr & PAGE_MASK_4K, end = pos + len;
    uint64_t start = pos;
    size_t n = 0;

    if (len == 0 || max_bytes < 4 || max_bytes % 4) {
        return -ENCAP_E_LENGTH;
    }
    if (wraps(addr, len)) {
        return -ENCAP_E_FIELD;
    }
    while (pos < end) {
        uint64_t dw = pos & ~3ull;
        /* The piece's DW range may not exceed max_bytes nor cross 4 KiB;
         * for a power of two, keeping it inside the aligned max_bytes block
         * gives both (for max_bytes <= 4096) and the largest legal pieces. */
        uint64_t block = max_bytes < 4096 ? max_bytes : 4096;
        uint64_t limit = (dw & ~(block - 1)) + block;

        if (block & (block - 1)) {
            /* Else max_bytes from the DW, up to the 4 KiB boundary. */
            uint64_t page_end = (dw & ~PAGE_MASK_4K) + 4096;

            limit = dw + block < page_end ? dw + block : page_end;
        }
        uint64_t stop = end < limit ? end : limit;
        uint64_t last_dw = (stop - 1) & ~3ull;

        if (n < max_pieces) {
            struct encap_req_piece *p = &out[n];
            p->addr = base + dw;
            p->offset = pos - start;
            p->bytes = stop - pos;
            p->len_dw = (last_dw - dw) / 4 + 1;
            p->first_be = be_for(dw, pos, stop);
            p->last_be = p->len_dw == 1 ? 0 : be_for(last_dw, pos, stop);
        }
        n++;
        pos = stop;
    }
    return n <= max_pieces ? (int)n : -ENCAP_E_NOSPACE;
}

int encap_split_completion(uint64_t addr, uint32_t len, uint32_t rcb,
                           uint32_t mps, struct encap_cpl_piece *out,
                           size_t max_pieces)
{
    uint64_t pos = addr & PAGE_MASK_4K, end = pos + len;
    uint64_t start = pos;
    size_t n = 0;

    if (len == 0 || (rcb != 64 && rcb != 128) || mps < rcb || mps % 4 ||
        wraps(addr, len)) {
        return -ENCAP_E_FIELD;
    }
    while (pos < end) {
        uint64_t dw = pos & ~3ull;
        uint64_t stop;

        /* Whole rest if its DW-rounded payload fits MPS. */
        if (((end + 3) & ~3ull) - dw <= mps) {
            stop = end;
        } else {
            /* Else end on the furthest RCB boundary within MPS of dw. */
            stop = (dw + mps) & ~(uint64_t)(rcb - 1);
            if (stop <= pos) {
                stop = (pos & ~(uint64_t)(rcb - 1)) + rcb;
            }
        }
        if (n < max_pieces) {
            struct encap_cpl_piece *p = &out[n];
            p->offset = pos - start;
            p->bytes = stop - pos;
            p->len_dw = (((stop + 3) & ~3ull) - dw) / 4;
            p->byte_count = end - pos;
            p->lower_addr = pos & 0x7f;
        }
        n++;
        pos = stop;
    }
    return n <= max_pieces ? (int)n : -ENCAP_E_NOSPACE;
}

int encap_read_req_span(const struct encap_tlp *req, uint64_t *addr,
                        uint32_t *len)
{
    unsigned first_lo, last_hi;

    if (req->len_dw == 1) {
        if (!req->first_be) {
            /* Zero-length read: Byte Count 1, at the DW address. */
            *addr = req->addr;
            *len = 1;
            return 0;
        }
        first_lo = __builtin_ctz(req->first_be);
        last_hi = 32 - __builtin_clz(req->first_be);
        *addr = req->addr + first_lo;
        *len = last_hi - first_lo;
        return 0;
    }
    if (!req->first_be || !req->last_be) {
        return -ENCAP_E_BE;
    }
    first_lo = __builtin_ctz(req->first_be);
    last_hi = 32 - __builtin_clz(req->last_be);
    *addr = req->addr + first_lo;
    *len = (req->len_dw - 1) * 4u + last_hi - first_lo;
    return 0;
}

void encap_reasm_init(struct encap_reasm *r, uint64_t addr, uint32_t len,
                      uint8_t *buf)
{
    r->addr = addr;
    r->len = len;
    r->received = 0;
    r->buf = buf;
}

int encap_reasm_feed(struct encap_reasm *r, const struct encap_tlp *cpl)
{
    uint64_t next = r->addr + r->received;
    uint32_t left = r->len - r->received;
    uint32_t lead, avail, take;

    if (cpl->status != ENCAP_CPL_SC) {
        return -ENCAP_E_FIELD;
    }
    if (cpl->type != ENCAP_TLP_CPLD || left == 0 ||
        cpl->byte_count != left || cpl->lower_addr != (next & 0x7f)) {
        return -ENCAP_E_REASM;
    }
    /* The payload starts at the DW that holds the Lower Address. */
    lead = next & 3;
    if (cpl->len_dw * 4u <= lead) {
        return -ENCAP_E_REASM;
    }
    avail = cpl->len_dw * 4u - lead;
    take = min32(avail, left);
    /* A piece that does not finish the read must end on a DW boundary of
     * its payload (it carries whole DWs up to an RCB boundary). */
    if (take < left && ((next + take) & 3)) {
        return -ENCAP_E_REASM;
    }
    memcpy(r->buf + r->received, cpl->data + lead, take);
    r->received += take;
    return r->received == r->len ? 1 : 0;
}
