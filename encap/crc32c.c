/* SPDX-License-Identifier: MIT */
/* encap: CRC-32C (Castagnoli), the frame integrity check. */
#include <stddef.h>
#include <stdint.h>

#include "encap/frame.h"

/*
 * Slice-by-8 tables for the reflected polynomial 0x82F63B78, generated on
 * first use.  Where the CPU has SSE4.2 the crc32 instruction is used
 * instead, and where it has VPCLMULQDQ, folding by carry-less
 * multiplication (crc_select() says what each costs).
 */
static uint32_t crc_table[8][256];

static void crc_table_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82F63B78u & -(c & 1));
        }
        crc_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
                              crc_table[0][crc_table[t - 1][i] & 0xff];
        }
    }
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        /* Little-endian load assembled bytewise: no alignment or aliasing
         * assumptions, and the compiler turns it into one load. */
        uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
                      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        lo ^= crc;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    }
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;

    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return (uint32_t)c;
}

/*
 * Three streams at once.  The crc32 instruction takes 3 cycles, and most
 * CPUs can start one every cycle: one chain of it leaves the unit idle
 * much of the time.  So each round runs three chains over three blocks
 * of STRIPE bytes, the second and third from 0, and joins them after:
 * the register is linear, so the CRC of A then B is the CRC of B from 0
 * XOR the CRC of A moved on by len(B) zero bytes (crc_shift).
 */
#define STRIPE 128

/* Moving a register on by STRIPE zero bytes, one table per input byte. */
static uint32_t stripe_shift[4][256];

/* The image of @v under the linear map whose columns are @m. */
static uint32_t gf2_apply(const uint32_t m[32], uint32_t v)
{
    uint32_t r = 0;

    for (int i = 0; v; i++, v >>= 1) {
        r ^= (v & 1) ? m[i] : 0;
    }
    return r;
}

static void stripe_shift_init(void)
{
    uint32_t op[32], sq[32];

    /* One zero bit into the reflected register: shift right, and the
     * polynomial comes in when the bit shifted out was set. */
    op[0] = 0x82F63B78u;
    for (int i = 1; i < 32; i++) {
        op[i] = 1u << (i - 1);
    }
    /* Squared until it moves on by STRIPE zero bytes (a power of 2). */
    for (unsigned bits = 1; bits < STRIPE * 8; bits *= 2) {
        for (int i = 0; i < 32; i++) {
            sq[i] = gf2_apply(op, op[i]);
        }
        memcpy(op, sq, sizeof(op));
    }
    for (int b = 0; b < 4; b++) {
        for (uint32_t v = 0; v < 256; v++) {
            stripe_shift[b][v] = gf2_apply(op, v << (8 * b));
        }
    }
}

static uint32_t crc_shift(uint32_t c)
{
    return stripe_shift[0][c & 0xff] ^ stripe_shift[1][(c >> 8) & 0xff] ^
           stripe_shift[2][(c >> 16) & 0xff] ^ stripe_shift[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw3(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c0 = crc;

    /* Unaligned loads (memcpy) cost nothing extra here: no prologue. */
    while (len >= 3 * STRIPE) {
        uint64_t c1 = 0, c2 = 0;

        for (size_t i = 0; i < STRIPE; i += 8) {
            uint64_t v0, v1, v2;

            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + STRIPE + i, 8);
            memcpy(&v2, p + 2 * STRIPE + i, 8);
            c0 = __builtin_ia32_crc32di(c0, v0);
            c1 = __builtin_ia32_crc32di(c1, v1);
            c2 = __builtin_ia32_crc32di(c2, v2);
        }
        c0 = crc_shift(crc_shift((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * STRIPE;
        len -= 3 * STRIPE;
    }
    return crc32c_hw((uint32_t)c0, p, len);
}

/*
 * Carry-less multiplication (PCLMULQDQ), folding.  The message is a
 * polynomial over GF(2) and its CRC is that polynomial times x^32 mod P;
 * any shorter polynomial congruent to it mod P has the same CRC.  Folding
 * replaces a 128-bit block A that stands d bits before block B by
 * A * x^d mod P (two 64x33-bit products, at most 97 bits) added into B.
 * In the reflected bit order the low half of a register holds the higher
 * powers, so it is multiplied by x^(d+32) and the high half by x^(d-32),
 * each reduced mod P and reflected (fold_key()).  Blocks fold in
 * parallel, 128 bytes at a time; then into one, and the crc32 instruction
 * takes that block's 16 bytes from 0, and the tail.
 */
struct fold_keys {
    uint64_t lo, hi;            /* for the low and high halves */
};

static struct fold_keys fold_by_1024, fold_by_512, fold_by_128;

/* x^e mod P, in the reflected order, shifted left by one: the product of
 * two reflected operands comes out one bit short of the reflected product. */
static uint64_t fold_key(unsigned e)
{
    uint32_t r = 0x80000000u;       /* x^0, reflected */

    for (unsigned i = 0; i < e; i++) {
        r = (r >> 1) ^ (0x82F63B78u & -(r & 1));
    }
    return (uint64_t)r << 1;
}

static void fold_keys_init(void)
{
    fold_by_1024 = (struct fold_keys) { fold_key(1024 + 32),
                                        fold_key(1024 - 32) };
    fold_by_512 = (struct fold_keys) { fold_key(512 + 32), fold_key(512 - 32) };
    fold_by_128 = (struct fold_keys) { fold_key(128 + 32), fold_key(128 - 32) };
}

__attribute__((target("pclmul,sse4.2")))
static inline __m128i fold(__m128i a, __m128i k, __m128i b)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00),
                                       _mm_clmulepi64_si128(a, k, 0x11)), b);
}

/*
 * The blocks folded into @x: fold in the rest 16 bytes at a time, then
 * CRC what is left from 0 (@x's bytes, then the tail).
 */
__attribute__((target("pclmul,sse4.2")))
static uint32_t fold_finish(__m128i x, __m128i k128, const uint8_t *p,
                            size_t len)
{
    uint64_t c;

    while (len >= 16) {
        x = fold(x, k128, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
    c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(x));
    c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(x, 1));
    return crc32c_hw((uint32_t)c, p, len);
}

/*
 * In 512-bit registers (VPCLMULQDQ): a register holds four blocks and one
 * instruction makes four products; two registers, folded by 1024 bits,
 * keep two chains of products going.  0x96 is a three-way XOR for
 * _mm512_ternarylogic_epi64().  (The same in 128-bit registers, four of
 * them, was slower than the crc32 chains on an AMD EPYC host: 113 ns for
 * a 1458-byte frame against 67.)
 */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))
static uint32_t crc32c_clmul512(uint32_t crc, const uint8_t *p, size_t len)
{
    __m512i k, x, y;
    __m128i k128, x0, lane[4];

    if (len < 256) {
        return crc32c_hw3(crc, p, len);
    }
    /* (set and store, not broadcast, cast or extract: GCC 12 warns that
     * those leave lanes undefined) */
    k = _mm512_set_epi64(fold_by_1024.hi, fold_by_1024.lo, fold_by_1024.hi,
                         fold_by_1024.lo, fold_by_1024.hi, fold_by_1024.lo,
                         fold_by_1024.hi, fold_by_1024.lo);
    x = _mm512_xor_si512(_mm512_loadu_si512(p),
                         _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, crc));
    y = _mm512_loadu_si512(p + 64);
    p += 128;
    len -= 128;
    while (len >= 128) {
        x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                      _mm512_clmulepi64_epi128(x, k, 0x11),
                                      _mm512_loadu_si512(p), 0x96);
        y = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(y, k, 0x00),
                                      _mm512_clmulepi64_epi128(y, k, 0x11),
                                      _mm512_loadu_si512(p + 64), 0x96);
        p += 128;
        len -= 128;
    }
    k = _mm512_set_epi64(fold_by_512.hi, fold_by_512.lo, fold_by_512.hi,
                         fold_by_512.lo, fold_by_512.hi, fold_by_512.lo,
                         fold_by_512.hi, fold_by_512.lo);
    x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                  _mm512_clmulepi64_epi128(x, k, 0x11),
                                  y, 0x96);
    if (len >= 64) {
        x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                      _mm512_clmulepi64_epi128(x, k, 0x11),
                                      _mm512_loadu_si512(p), 0x96);
        p += 64;
        len -= 64;
    }
    k128 = _mm_set_epi64x(fold_by_128.hi, fold_by_128.lo);
    _mm512_storeu_si512(lane, x);
    x0 = fold(fold(fold(lane[0], k128, lane[1]), k128, lane[2]), k128,
              lane[3]);
    return fold_finish(x0, k128, p, len);
}
#define HAVE_CRC32C_HW 1
#endif

typedef uint32_t (*crc_fn)(uint32_t, const uint8_t *, size_t);

static crc_fn crc_impl = crc32c_sw;
/* Every version this CPU runs, the table-driven one first. */
static crc_fn crc_impls[3] = { crc32c_sw };
static unsigned crc_nimpls = 1;

/*
 * Chosen once at load time, before any thread can call us: the last.  A
 * 1458-byte frame on an AMD EPYC host: table 700 ns, crc32 chains 67,
 * folding 35.
 */
__attribute__((constructor))
static void crc_select(void)
{
    crc_table_init();
#ifdef HAVE_CRC32C_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        stripe_shift_init();
        crc_impls[crc_nimpls++] = crc32c_hw3;
        if (__builtin_cpu_supports("pclmul") &&
            __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("vpclmulqdq")) {
            fold_keys_init();
            crc_impls[crc_nimpls++] = crc32c_clmul512;
        }
    }
#endif
    crc_impl = crc_impls[crc_nimpls - 1];
}

/* Any thread. */
uint32_t encap_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return ~crc_impl(~crc, buf, len);
}

/* Any thread. The table-driven version, whatever the CPU has. */
uint32_t encap_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
    return ~crc32c_sw(~crc, buf, len);
}

/* Any thread.  The versions this CPU runs (tests). */
unsigned encap_crc32c_impls(void)
{
    return crc_nimpls;
}

uint32_t encap_crc32c_impl(unsigned i, uint32_t crc, const void *buf,
                           size_t len)
{
    return ~crc_impls[i < crc_nimpls ? i : 0](~crc, buf, len);
}
