/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for encap/crypto.h and encap/seal.h: HKDF-SHA256 against
 * RFC 5869, AES-128-GCM against the GCM specification's test cases
 * (McGrew and Viega, test cases 2 and 4), frame sealing, HELLO proofs and
 * the replay window; and the cost of sealing and opening a frame.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "encap/crypto.h"
#include "encap/seal.h"

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;

    for (; s[0] && s[1]; s += 2) {
        out[n++] = g_ascii_xdigit_value(s[0]) << 4 | g_ascii_xdigit_value(s[1]);
    }
    return n;
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    g_autofree char *h = g_malloc(2 * len + 1);

    for (size_t i = 0; i < len; i++) {
        sprintf(h + 2 * i, "%02x", got[i]);
    }
    g_assert_cmpstr(h, ==, want);
}

/* RFC 5869 appendix A, test cases 1 and 3. */
static void test_hkdf(void)
{
    uint8_t ikm[22], salt[13], info[10], prk[32], okm[42];

    memset(ikm, 0x0b, sizeof(ikm));
    for (int i = 0; i < 13; i++) {
        salt[i] = i;
    }
    for (int i = 0; i < 10; i++) {
        info[i] = 0xf0 + i;
    }
    encap_hkdf_extract(salt, sizeof(salt), ikm, sizeof(ikm), prk);
    assert_hex(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    g_assert_cmpint(encap_hkdf_expand(prk, info, sizeof(info), okm, 42), ==, 0);
    assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56"
                        "ecc4c5bf34007208d5b887185865");

    encap_hkdf_extract(NULL, 0, ikm, sizeof(ikm), prk);
    assert_hex(prk, 32, "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
    encap_hkdf_extract((const uint8_t *)"", 0, ikm, sizeof(ikm), prk);
    assert_hex(prk, 32, "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
    g_assert_cmpint(encap_hkdf_expand(prk, NULL, 0, okm, 42), ==, 0);
    assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f"
                        "3c738d2d9d201395faa4b61a96c8");
    g_assert_cmpint(encap_hkdf_expand(prk, NULL, 0, okm, 255 * 32 + 1), ==,
                    -ENCAP_E_FIELD);
}

/* RFC 4231 test case 2 ("Jefe"). */
static void test_hmac(void)
{
    uint8_t mac[32];
    const char *msg = "what do ya want for nothing?";

    encap_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)msg,
                      strlen(msg), mac);
    assert_hex(mac, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void gcm_case(const char *key, const char *iv, const char *pt,
                     const char *ad, const char *ct_tag)
{
    uint8_t k[16], n[12], p[64], a[32], out[80], back[64];
    size_t plen = unhex(pt, p), alen = unhex(ad, a);
    struct encap_aead *aead;

    unhex(key, k);
    unhex(iv, n);
    aead = encap_aead_new(k);
    g_assert_nonnull(aead);
    encap_aead_seal(aead, n, a, alen, p, plen, out);
    assert_hex(out, plen + 16, ct_tag);
    g_assert_cmpint(encap_aead_open(aead, n, a, alen, out, plen + 16, back), ==, 0);
    g_assert_cmpmem(back, plen, p, plen);
    /* Any bit flipped, in the ciphertext, the tag or the AD: refused. */
    out[plen + 15] ^= 1;
    memset(back, 0xaa, sizeof(back));
    g_assert_cmpint(encap_aead_open(aead, n, a, alen, out, plen + 16, back), ==,
                    -ENCAP_E_AUTH);
    for (size_t i = 0; i < plen; i++) {
        g_assert_cmpuint(back[i], ==, 0);       /* nothing unverified left */
    }
    out[plen + 15] ^= 1;
    if (alen) {
        a[0] ^= 0x80;
        g_assert_cmpint(encap_aead_open(aead, n, a, alen, out, plen + 16, back),
                        ==, -ENCAP_E_AUTH);
    }
    g_assert_cmpint(encap_aead_open(aead, n, a, alen, out, 15, back), ==,
                    -ENCAP_E_SHORT);
    encap_aead_free(aead);
}

static void test_gcm(void)
{
    /* Test case 2: zero key, zero IV, one zero block. */
    gcm_case("00000000000000000000000000000000", "000000000000000000000000",
             "00000000000000000000000000000000", "",
             "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
    /* Test case 4: 60 bytes of plaintext, 20 of associated data. */
    gcm_case("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
             "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
             "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
             "feedfacedeadbeeffeedfacedeadbeefabaddad2",
             "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
             "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
             "5bc94fbc3221a5db94fae95ae7121a47");
}

static const uint8_t vm_mac[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t ep_mac[6] = { 2, 0, 0, 0, 0, 0x0b };
static const struct encap_tlp_limits lim = { .mps = 4096 };

/* A DATA frame of MWr TLPs of @payload bytes in all (records included). */
static int data_frame(uint8_t *buf, size_t size, size_t payload, uint32_t seq)
{
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_DATA, .flags = ENCAP_F_SEQ | ENCAP_F_ACK,
        .rc_id = 7, .session = 0xbeef, .epoch = 3, .seq = seq, .ack = 9,
    };
    uint8_t data[4096];

    memcpy(h.dst, ep_mac, 6);
    memcpy(h.src, vm_mac, 6);
    memset(data, 0x5a, sizeof(data));
    encap_frame_begin(&b, buf, size, &h);
    while (payload >= ENCAP_REC_HLEN + 16) {
        size_t dw = MIN((payload - ENCAP_REC_HLEN - 12) / 4, 256);
        struct encap_tlp t = {
            .type = ENCAP_TLP_MWR, .len_dw = dw, .first_be = 0xf,
            .last_be = dw > 1 ? 0xf : 0, .addr = 0x10000, .data = data,
        };

        g_assert_cmpint(encap_frame_add_tlp(&b, &t, &lim), ==, 0);
        payload -= ENCAP_REC_HLEN + 12 + dw * 4;
    }
    return encap_frame_finish(&b);
}

static void test_seal_open(void)
{
    uint8_t key[16] = { 1, 2, 3 }, plain[1514], sealed[1600], back[1600];
    struct encap_aead *a = encap_aead_new(key);
    struct encap_frame_view v;
    uint64_t ctr = 0;
    int n = data_frame(plain, 1514 - ENCAP_SEAL_OVERHEAD, 1400, 5), s, o;

    s = encap_frame_seal(a, ENCAP_DIR_I2R, 77, plain, n, sealed, sizeof(sealed));
    g_assert_cmpint(s, ==, n + ENCAP_SEAL_OVERHEAD);
    g_assert_cmpuint(sealed[14], ==, 2);
    g_assert_cmpuint(sealed[16] << 8 | sealed[17], ==,
                     ENCAP_F_SEQ | ENCAP_F_ACK | ENCAP_F_SEALED);
    g_assert_cmpint(encap_frame_parse(sealed, s, &v), ==, -ENCAP_E_VERSION);
    /* The payload is encrypted: its first record is not in clear. */
    g_assert_cmpint(memcmp(sealed + 46, plain + 38, 16), !=, 0);
    o = encap_frame_open(a, ENCAP_DIR_I2R, sealed, s, back, sizeof(back), &ctr,
                         &v);
    g_assert_cmpint(o, ==, n);
    g_assert_cmpuint(ctr, ==, 77);
    g_assert_cmpmem(back, o - 4, plain, n - 4);
    g_assert_cmpuint(v.hdr.seq, ==, 5);
    g_assert_cmpuint(v.count, >, 1);
    g_assert_true(v.payload == back + 38);
    /* The other direction's nonce: refused. */
    g_assert_cmpint(encap_frame_open(a, ENCAP_DIR_R2I, sealed, s, back,
                                     sizeof(back), &ctr, &v), ==, -ENCAP_E_AUTH);
    /* Any header byte changed (CRC fixed up to get past it): refused. */
    for (int off = 0; off < 46; off++) {
        uint8_t f[1600];
        uint32_t crc;

        if (off == 12 || off == 13 || off == 14 || off == 34 || off == 35) {
            continue;                   /* EtherType, version, length */
        }
        memcpy(f, sealed, s);
        f[off] ^= off == 17 ? 0x01 : 0x40;
        crc = encap_crc32c(0, f, s - 4);
        f[s - 4] = crc >> 24;
        f[s - 3] = crc >> 16;
        f[s - 2] = crc >> 8;
        f[s - 1] = crc;
        g_assert_cmpint(encap_frame_open(a, ENCAP_DIR_I2R, f, s, back,
                                         sizeof(back), &ctr, &v), ==, -ENCAP_E_AUTH);
    }
    /* Without the SEALED flag, or corrupted: no. */
    sealed[s - 1] ^= 1;
    g_assert_cmpint(encap_frame_open(a, ENCAP_DIR_I2R, sealed, s, back,
                                     sizeof(back), &ctr, &v), ==, -ENCAP_E_CRC);
    g_assert_cmpint(encap_frame_seal(a, ENCAP_DIR_I2R, ENCAP_SEAL_CTR_MAX + 1,
                                     plain, n, sealed, sizeof(sealed)), ==,
                    -ENCAP_E_FIELD);
    g_assert_cmpint(encap_frame_seal(a, ENCAP_DIR_I2R, 1, plain, n, sealed,
                                     n + 23), ==, -ENCAP_E_NOSPACE);
    encap_aead_free(a);
}

static void test_hello_mac(void)
{
    uint8_t psk[32] = "0123456789abcdef0123456789abcde";
    uint8_t hk[32], buf[128], ni[32];
    struct encap_frame_builder b;
    struct encap_frame_hdr h = {
        .type = ENCAP_FRAME_CTRL, .rc_id = 7, .session = 0x1234, .epoch = 9,
    };
    struct encap_ctrl c = { .op = ENCAP_CTRL_HELLO, .max_frame = 1514,
                            .mps = 1024, .mrrs = 4096 };
    uint8_t body[ENCAP_HELLO_KEYED_LEN] = { 0 };
    int n;

    memset(ni, 0x11, sizeof(ni));
    memcpy(h.dst, ep_mac, 6);
    memcpy(h.src, vm_mac, 6);
    encap_ctrl_encode(&c, body, sizeof(body));
    memcpy(body + ENCAP_CTRL_LEN, ni, 32);
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_payload(&b, body, sizeof(body));
    n = encap_frame_finish(&b);
    encap_hello_key(psk, sizeof(psk), hk);
    g_assert_cmpint(encap_hello_sign(buf, n, hk, NULL), ==, 0);
    g_assert_cmpint(encap_hello_verify(buf, n, hk, NULL), ==, 0);
    /* Another key, or a nonce required that is not there: refused. */
    g_assert_cmpint(encap_hello_verify(buf, n, hk, ni), ==, -ENCAP_E_AUTH);
    hk[0] ^= 1;
    g_assert_cmpint(encap_hello_verify(buf, n, hk, NULL), ==, -ENCAP_E_AUTH);
    hk[0] ^= 1;
    /* A bit of the nonce changed (CRC intact): refused. */
    g_assert_cmpint(encap_hello_sign(buf, n, hk, NULL), ==, 0);
    buf[38 + 20] ^= 4;
    {
        uint32_t crc = encap_crc32c(0, buf, n - 4);
        buf[n - 4] = crc >> 24;
        buf[n - 3] = crc >> 16;
        buf[n - 2] = crc >> 8;
        buf[n - 1] = crc;
    }
    g_assert_cmpint(encap_hello_verify(buf, n, hk, NULL), ==, -ENCAP_E_AUTH);
}

/* Session keys: both directions differ, and every input matters. */
static void test_session_keys(void)
{
    uint8_t psk[16] = "sixteen byte key", ni[32] = { 1 }, nr[32] = { 2 };
    struct encap_session_ctx ctx = { .rc_id = 7, .session = 1, .epoch = 2 };
    struct encap_session_keys k1, k2;

    memcpy(ctx.initiator_mac, vm_mac, 6);
    memcpy(ctx.responder_mac, ep_mac, 6);
    encap_session_keys(psk, sizeof(psk), ni, nr, &ctx, &k1);
    g_assert_cmpint(memcmp(k1.i2r, k1.r2i, 16), !=, 0);
    ctx.epoch++;
    encap_session_keys(psk, sizeof(psk), ni, nr, &ctx, &k2);
    g_assert_cmpint(memcmp(k1.i2r, k2.i2r, 16), !=, 0);
    ctx.epoch--;
    nr[31] ^= 1;
    encap_session_keys(psk, sizeof(psk), ni, nr, &ctx, &k2);
    g_assert_cmpint(memcmp(k1.r2i, k2.r2i, 16), !=, 0);
    g_assert_cmpint(memcmp(k1.ack, k2.ack, 32), !=, 0);
    nr[31] ^= 1;
    encap_session_keys(psk, sizeof(psk), ni, nr, &ctx, &k2);
    g_assert_cmpmem(&k1, sizeof(k1), &k2, sizeof(k2));
}

/*
 * The key schedule of docs/protocol.md (7.3) for the example that
 * tools/vrc-pcapgen uses; the values were computed from the text with an
 * independent HKDF (Python's hmac and hashlib).
 */
static void test_key_schedule_golden(void)
{
    static const char psk[] = "vrc-pcapgen example key";
    struct encap_session_ctx ctx = { .rc_id = 7, .session = 0xbeef, .epoch = 3 };
    struct encap_session_keys k;
    uint8_t hk[32], ni[32], nr[32];

    for (int i = 0; i < 32; i++) {
        ni[i] = i;
        nr[i] = 0x20 + i;
    }
    memcpy(ctx.initiator_mac, vm_mac, 6);
    memcpy(ctx.responder_mac, ep_mac, 6);
    encap_hello_key((const uint8_t *)psk, strlen(psk), hk);
    assert_hex(hk, 32, "1edc89597510a2fa3c53a1ee572278a663b14101ef82df27dd8735d6a473f9fa");
    encap_session_keys((const uint8_t *)psk, strlen(psk), ni, nr, &ctx, &k);
    assert_hex(k.i2r, 16, "ef44811a267664c48bd8c5a802bd5bde");
    assert_hex(k.r2i, 16, "5b06e8eae8bf8ca112a7a40ce05cf0eb");
    assert_hex(k.ack, 32, "065f4126ec989d2eef40edffe3c7f913525e30d0cac17bbbd2052b9b9e66c772");

    /*
     * vrc-pcapgen's sealed frame: an MRd (tag 0x2a5, 0xfebc0010) in DATA
     * seq 21, ack 0x115, counter 5, under k.i2r.  Python's AES-GCM opens
     * it with the nonce and associated data of section 7.4.
     */
    {
        const struct encap_tlp t = {
            .type = ENCAP_TLP_MRD, .len_dw = 1, .requester_id = 0x0100,
            .tag = 0x2a5, .first_be = 0xf, .addr = 0xfebc0010,
        };
        struct encap_frame_hdr h = {
            .type = ENCAP_FRAME_DATA, .flags = ENCAP_F_SEQ | ENCAP_F_ACK,
            .rc_id = 7, .session = 0xbeef, .epoch = 3, .seq = 21, .ack = 0x115,
        };
        struct encap_frame_builder b;
        struct encap_aead *a = encap_aead_new(k.i2r);
        uint8_t buf[128], out[128];
        int n;

        memcpy(h.dst, ep_mac, 6);
        memcpy(h.src, vm_mac, 6);
        encap_frame_begin(&b, buf, sizeof(buf), &h);
        g_assert_cmpint(encap_frame_add_tlp(&b, &t, &lim), ==, 0);
        n = encap_frame_finish(&b);
        n = encap_frame_seal(a, ENCAP_DIR_I2R, 5, buf, n, out, sizeof(out));
        assert_hex(out, n, "02000000000b02000000000a88b50201000b0007beef00000003"
                           "000000150000011500280100" "0000000000000005"
                           "a2b9971c3f3ac0f79c0a478f43e0fcd5"
                           "b210276be66228b084f29868251942e6" "5b8df72f");
        encap_aead_free(a);
    }
}

static void test_replay(void)
{
    struct encap_replay w;

    encap_replay_reset(&w);
    g_assert_cmpint(encap_replay_check(&w, 0), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 0), ==, -ENCAP_E_REPLAY);
    g_assert_cmpint(encap_replay_check(&w, 5), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 3), ==, 0);     /* late, new */
    g_assert_cmpint(encap_replay_check(&w, 3), ==, -ENCAP_E_REPLAY);
    g_assert_cmpint(encap_replay_check(&w, 5), ==, -ENCAP_E_REPLAY);
    g_assert_cmpint(encap_replay_check(&w, 4), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 1028), ==, 0);
    /* 5 is now 1023 below the top: still in the window, and seen. */
    g_assert_cmpint(encap_replay_check(&w, 5), ==, -ENCAP_E_REPLAY);
    g_assert_cmpint(encap_replay_check(&w, 6), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 4), ==, -ENCAP_E_REPLAY);  /* too old */
    g_assert_cmpint(encap_replay_check(&w, 1028 + 5000), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 1028 + 5000 - 1), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 1028 + 5000 - 1023), ==, 0);
    g_assert_cmpint(encap_replay_check(&w, 1028 + 5000 - 1024), ==,
                    -ENCAP_E_REPLAY);
    g_assert_cmpint(encap_replay_check(&w, 1028), ==, -ENCAP_E_REPLAY);
    /* Every counter in a shuffled run: each once. */
    encap_replay_reset(&w);
    for (uint64_t i = 0; i < 10000; i++) {
        uint64_t c = i ^ 0x3f;      /* reordered within blocks of 64 */
        g_assert_cmpint(encap_replay_check(&w, c), ==, 0);
        g_assert_cmpint(encap_replay_check(&w, c), ==, -ENCAP_E_REPLAY);
    }
}

/*
 * What a key costs per frame, sender and receiver together: without one,
 * finishing a frame (headers, CRC) and parsing it (CRC, records); with
 * one, that plus sealing and opening.  The best of several rounds, so
 * that other work on the machine counts as little as possible.
 */
static double per_frame_ns(bool keyed, struct encap_aead *a, uint8_t *plain,
                           int n)
{
    static uint8_t sealed[1600], back[1600];
    const unsigned iters = 2000;
    double best = 1e30;

    for (int round = 0; round < 9; round++) {
        gint64 t0 = g_get_monotonic_time();

        for (unsigned k = 0; k < iters; k++) {
            struct encap_frame_builder b = { .buf = plain, .len = n - 4 };
            struct encap_frame_view v;
            uint64_t ctr;

            g_assert_cmpint(encap_frame_parse(plain, n, &v), ==, 0);
            b.hdr = v.hdr;
            b.count = v.count;
            encap_frame_finish(&b);
            if (keyed) {
                int s = encap_frame_seal(a, ENCAP_DIR_I2R, k, plain, n, sealed,
                                         sizeof(sealed));

                g_assert_cmpint(encap_frame_open(a, ENCAP_DIR_I2R, sealed, s,
                                                 back, sizeof(back), &ctr,
                                                 &v), ==, n);
            }
        }
        best = MIN(best, (g_get_monotonic_time() - t0) * 1000.0 / iters);
    }
    return best;
}

static void test_cost(void)
{
    uint8_t key[16] = { 9 }, plain[1600];
    struct encap_aead *a = encap_aead_new(key);
    const size_t sizes[] = { 64, 1500 };

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        int n = data_frame(plain, sizes[i], sizes[i] - ENCAP_FRAME_OVERHEAD, 1);
        double off, on;

        g_assert_cmpint(n, >, 0);
        off = per_frame_ns(false, a, plain, n);
        on = per_frame_ns(true, a, plain, n);
        g_test_message("%4d-byte frame (%d sealed): key off %5.0f ns, key on "
                       "%5.0f ns (+%.0f ns for seal and open)",
                       n, n + ENCAP_SEAL_OVERHEAD, off, on, on - off);
    }
    encap_aead_free(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crypto/hkdf-rfc5869", test_hkdf);
    g_test_add_func("/crypto/hmac-rfc4231", test_hmac);
    g_test_add_func("/crypto/aes-gcm-spec", test_gcm);
    g_test_add_func("/crypto/seal-open", test_seal_open);
    g_test_add_func("/crypto/hello-mac", test_hello_mac);
    g_test_add_func("/crypto/session-keys", test_session_keys);
    g_test_add_func("/crypto/key-schedule-golden", test_key_schedule_golden);
    g_test_add_func("/crypto/replay-window", test_replay);
    g_test_add_func("/crypto/cost", test_cost);
    return g_test_run();
}
