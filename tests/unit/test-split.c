/* SPDX-License-Identifier: MIT */
/* Unit tests for request/completion splitting and completion reassembly. */
#include <glib.h>
#include <string.h>

#include "encap/split.h"

static const struct encap_tlp_limits lim = { .mps = 4096 };

/* Pieces cover the range exactly, in order, within the rules. */
static void check_request_pieces(uint64_t addr, uint32_t len, uint32_t max,
                                 const struct encap_req_piece *p, int n)
{
    uint32_t covered = 0;

    g_assert_cmpint(n, >, 0);
    for (int i = 0; i < n; i++) {
        uint64_t first = addr + p[i].offset;
        struct encap_tlp t = {
            .type = ENCAP_TLP_MRD, .addr64 = true, .len_dw = p[i].len_dw,
            .first_be = p[i].first_be, .last_be = p[i].last_be,
            .addr = p[i].addr,
        };
        uint64_t span_addr;
        uint32_t span_len;

        g_assert_cmpuint(p[i].offset, ==, covered);
        g_assert_cmpuint(p[i].addr & 3, ==, 0);
        g_assert_cmpuint(p[i].len_dw * 4, <=, max);
        /* never crosses 4 KiB */
        g_assert_cmphex(p[i].addr >> 12, ==,
                        (p[i].addr + p[i].len_dw * 4 - 1) >> 12);
        /* a legal request whose enabled bytes are exactly the piece */
        g_assert_cmpint(encap_tlp_check(&t, &lim), ==, 0);
        g_assert_cmpint(encap_read_req_span(&t, &span_addr, &span_len), ==, 0);
        g_assert_cmphex(span_addr, ==, first);
        g_assert_cmpuint(span_len, ==, p[i].bytes);
        covered += p[i].bytes;
    }
    g_assert_cmpuint(covered, ==, len);
}

static void test_request(void)
{
    static const struct { uint64_t addr; uint32_t len, max; int pieces; } c[] = {
        { 0x1000, 4, 128, 1 },
        { 0x1001, 2, 128, 1 },          /* inside one DW: BE 0110 */
        { 0x1003, 2, 128, 1 },          /* two DWs: BE 1000 / 0001 */
        { 0x1000, 4096, 4096, 1 },      /* exactly one page */
        { 0x1004, 4096, 4096, 2 },      /* crosses a page */
        { 0x1003, 5000, 512, 10 },      /* 512-byte blocks 0x1000..0x2400 */
        { 0xffc, 8, 4096, 2 },          /* 4 KiB boundary inside */
        { 0x10000, 65536, 512, 128 },   /* 64 KiB / MRRS 512 */
        { 0x10000, 65536, 4096, 16 },
        { 0x7f, 1, 128, 1 },
        /* The last page of the 64-bit space: legal, and nothing wraps. */
        { 0xfffffffffffff000ull, 4096, 512, 8 },
        { 0xfffffffffffffffdull, 3, 128, 1 },
        /* An MPS that is not a power of two (1408 at MTU 1500): pieces of
         * max bytes from where they start, cut at each 4 KiB boundary. */
        { 0x1000, 4096, 1408, 3 },      /* 1408 + 1408 + 1280 */
        { 0x1004, 4096, 1408, 4 },      /* ... + the 4 bytes past 0x2000 */
        { 0x10000, 65536, 1408, 48 },
        { 0x1003, 5000, 192, 27 },     /* 22 up to 0x2000, 5 after */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(c); i++) {
        struct encap_req_piece p[256];
        int n = encap_split_request(c[i].addr, c[i].len, c[i].max, p, 256);

        g_assert_cmpint(n, ==, c[i].pieces);
        check_request_pieces(c[i].addr, c[i].len, c[i].max, p, n);
    }
    {
        struct encap_req_piece p[2];
        g_assert_cmpint(encap_split_request(0x1003, 5000, 512, p, 2), ==,
                        -ENCAP_E_NOSPACE);
        g_assert_cmpint(encap_split_request(0x1000, 0, 512, p, 2), ==,
                        -ENCAP_E_LENGTH);
        /* Past the top of the 64-bit space. */
        g_assert_cmpint(encap_split_request(0xfffffffffffffffcull, 8, 512, p,
                                            2), ==, -ENCAP_E_FIELD);
    }
    /* Byte enables, spelled out. */
    {
        struct encap_req_piece p[1];
        g_assert_cmpint(encap_split_request(0x1001, 2, 128, p, 1), ==, 1);
        g_assert_cmphex(p[0].first_be, ==, 0x6);
        g_assert_cmphex(p[0].last_be, ==, 0);
        g_assert_cmpint(encap_split_request(0x1003, 2, 128, p, 1), ==, 1);
        g_assert_cmphex(p[0].first_be, ==, 0x8);
        g_assert_cmphex(p[0].last_be, ==, 0x1);
        g_assert_cmpuint(p[0].len_dw, ==, 2);
    }
    /* Randomised. */
    {
        GRand *r = g_rand_new_with_seed(42);
        for (int i = 0; i < 5000; i++) {
            static struct encap_req_piece p[600];
            uint64_t addr = g_rand_int(r) | (uint64_t)g_rand_int_range(r, 0, 4) << 32;
            uint32_t len = g_rand_int_range(r, 1, 70000);
            uint32_t max = i % 2 ? 128u << g_rand_int_range(r, 0, 6)
                                 : 64u * g_rand_int_range(r, 2, 65);
            int n = encap_split_request(addr, len, max, p, 600);
            check_request_pieces(addr, len, max, p, n);
        }
        g_rand_free(r);
    }
}

/*
 * Split the completion of [addr, addr+len) with rcb/mps, build each CplD,
 * encode and decode it, feed reassembly, compare the bytes.
 */
static int complete_and_reassemble(uint64_t addr, uint32_t len, uint32_t rcb,
                                   uint32_t mps)
{
    static uint8_t src[8192], dst[8192], wire[4200];
    struct encap_cpl_piece pc[200];
    struct encap_tlp_limits l = { .mps = mps };
    struct encap_reasm ra;
    int n, done = 0;

    for (uint32_t i = 0; i < sizeof(src); i++) {
        src[i] = i * 7 + 3;
    }
    memset(dst, 0, sizeof(dst));
    n = encap_split_completion(addr, len, rcb, mps, pc, 200);
    g_assert_cmpint(n, >, 0);
    encap_reasm_init(&ra, addr, len, dst);
    for (int i = 0; i < n; i++) {
        uint64_t first = addr + pc[i].offset;
        uint64_t end = first + pc[i].bytes;
        struct encap_tlp t = {
            .type = ENCAP_TLP_CPLD, .len_dw = pc[i].len_dw,
            .byte_count = pc[i].byte_count, .lower_addr = pc[i].lower_addr,
            /* source buffer indexed by address offset from addr & ~3 */
            .data = src + ((first & ~3ull) - (addr & ~3ull)),
        }, d;
        int w;

        g_assert_cmpuint(pc[i].byte_count, ==, len - pc[i].offset);
        g_assert_cmphex(pc[i].lower_addr, ==, first & 0x7f);
        g_assert_cmpuint(pc[i].len_dw * 4, <=, mps);
        if (i < n - 1) {
            g_assert_cmpuint(end % rcb, ==, 0);     /* ends on an RCB */
        }
        w = encap_tlp_encode(&t, &l, wire, sizeof(wire));
        g_assert_cmpint(w, >, 0);
        g_assert_cmpint(encap_tlp_decode(wire, w, &l, &d), ==, 0);
        done = encap_reasm_feed(&ra, &d);
        g_assert_cmpint(done, ==, i == n - 1 ? 1 : 0);
    }
    /* dst[k] holds the byte at addr + k, which is src[(addr & 3) + k] */
    g_assert_cmpmem(dst, len, src + (addr & 3), len);
    return n;
}

static void test_completion(void)
{
    /* The number of pieces is the fewest the rules allow. */
    g_assert_cmpint(complete_and_reassemble(0x1000, 4, 64, 128), ==, 1);
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 64, 4096), ==, 1);
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 64, 256), ==, 16);
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 128, 1024), ==, 4);
    /* Unaligned start: first piece ends on the first RCB within MPS. */
    g_assert_cmpint(complete_and_reassemble(0x1003, 5, 64, 128), ==, 1);
    g_assert_cmpint(complete_and_reassemble(0x1010, 256, 64, 128), ==, 3);
    g_assert_cmpint(complete_and_reassemble(0x1010, 256, 128, 128), ==, 3);
    g_assert_cmpint(complete_and_reassemble(0x103e, 2, 64, 128), ==, 1);
    g_assert_cmpint(complete_and_reassemble(0x1fff, 1, 64, 128), ==, 1);
    /* Ending exactly at 2^64 (the fuzzer found this wrapping to none). */
    g_assert_cmpint(complete_and_reassemble(0xfffffffffffffff0ull, 16, 64, 128),
                    ==, 1);
    g_assert_cmpint(complete_and_reassemble(0xffffffffffffff03ull, 253, 64, 128),
                    ==, 2);
    /* Crossing a 4 KiB boundary (a completion may) */
    g_assert_cmpint(complete_and_reassemble(0x1f00, 512, 64, 4096), ==, 1);
    /* An MPS that is not a power of two: a 4 KiB read in 3 CplDs, not 4. */
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 64, 1408), ==, 3);
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 128, 1408), ==, 3);
    g_assert_cmpint(complete_and_reassemble(0x1010, 4096, 64, 1408), ==, 3);
    g_assert_cmpint(complete_and_reassemble(0x1000, 4096, 128, 1344), ==, 4);
    for (uint32_t off = 0; off < 130; off += 3) {
        for (uint32_t len = 1; len < 4097; len += 97) {
            complete_and_reassemble(0x2000 + off, len, 64, 1408);
            complete_and_reassemble(0x2000 + off, len, 128, 1408);
            complete_and_reassemble(0x2000 + off, len, 64, 192);
        }
    }
    for (uint32_t off = 0; off < 130; off++) {
        for (uint32_t len = 1; len < 700; len += 37) {
            complete_and_reassemble(0x2000 + off, len, 64, 128);
            complete_and_reassemble(0x2000 + off, len, 128, 256);
        }
    }
    {
        struct encap_cpl_piece pc[2];
        g_assert_cmpint(encap_split_completion(0, 4096, 64, 128, pc, 2), ==,
                        -ENCAP_E_NOSPACE);
        g_assert_cmpint(encap_split_completion(0, 64, 32, 128, pc, 2), ==,
                        -ENCAP_E_FIELD);
        g_assert_cmpint(encap_split_completion(0xfffffffffffffffcull, 8, 64,
                                               128, pc, 2), ==, -ENCAP_E_FIELD);
    }
}

static void test_span(void)
{
    struct encap_tlp t = { .type = ENCAP_TLP_MRD, .len_dw = 1, .addr = 0x100 };
    uint64_t a;
    uint32_t l;

    t.first_be = 0;                     /* zero-length read */
    g_assert_cmpint(encap_read_req_span(&t, &a, &l), ==, 0);
    g_assert_cmphex(a, ==, 0x100);
    g_assert_cmpuint(l, ==, 1);
    t.first_be = 0x6;
    g_assert_cmpint(encap_read_req_span(&t, &a, &l), ==, 0);
    g_assert_cmphex(a, ==, 0x101);
    g_assert_cmpuint(l, ==, 2);
    t.len_dw = 3;
    t.first_be = 0xc;
    t.last_be = 0x1;
    g_assert_cmpint(encap_read_req_span(&t, &a, &l), ==, 0);
    g_assert_cmphex(a, ==, 0x102);
    g_assert_cmpuint(l, ==, 2 + 4 + 1);
}

static void test_reasm_reject(void)
{
    uint8_t buf[64], data[64] = { 0 };
    struct encap_reasm r;
    struct encap_tlp c = {
        .type = ENCAP_TLP_CPLD, .len_dw = 16, .byte_count = 64,
        .lower_addr = 0x40, .data = data,
    };

    encap_reasm_init(&r, 0x1040, 64, buf);
    c.byte_count = 60;                  /* wrong byte count */
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, -ENCAP_E_REASM);
    c.byte_count = 64;
    c.lower_addr = 0x44;                /* wrong lower address */
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, -ENCAP_E_REASM);
    c.lower_addr = 0x40;
    c.status = ENCAP_CPL_UR;            /* not successful */
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, -ENCAP_E_FIELD);
    c.status = ENCAP_CPL_SC;
    c.len_dw = 8;                       /* a partial piece not ending on a DW */
    c.lower_addr = 0x40;
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, 0);
    g_assert_cmpuint(r.received, ==, 32);
    c.byte_count = 32;
    c.lower_addr = 0x60;
    c.len_dw = 16;                      /* more data than outstanding: fine */
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, 1);
    /* overrun: nothing outstanding any more */
    g_assert_cmpint(encap_reasm_feed(&r, &c), ==, -ENCAP_E_REASM);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/split/request", test_request);
    g_test_add_func("/split/completion", test_completion);
    g_test_add_func("/split/span", test_span);
    g_test_add_func("/split/reasm-reject", test_reasm_reject);
    return g_test_run();
}
