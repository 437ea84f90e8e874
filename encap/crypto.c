/* SPDX-License-Identifier: MIT */
/*
 * encap: HKDF-SHA256 and HMAC-SHA256 over nettle; AES-128-GCM over GnuTLS,
 * whose AES-GCM seals a full frame in about half nettle 3.8's time
 * (docs/performance.md).
 */
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/hkdf.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "encap/crypto.h"

struct encap_aead {
    gnutls_aead_cipher_hd_t h;
};

void encap_hkdf_extract(const uint8_t *salt, size_t salt_len,
                        const uint8_t *ikm, size_t ikm_len,
                        uint8_t prk[ENCAP_SHA256_LEN])
{
    static const uint8_t zeros[ENCAP_SHA256_LEN];
    struct hmac_sha256_ctx h;

    /* RFC 5869: no salt is a salt of HashLen zeros. */
    if (!salt) {
        salt = zeros;
        salt_len = sizeof(zeros);
    }
    hmac_sha256_set_key(&h, salt_len, salt);
    hkdf_extract(&h, (nettle_hash_update_func *)hmac_sha256_update,
                 (nettle_hash_digest_func *)hmac_sha256_digest,
                 SHA256_DIGEST_SIZE, ikm_len, ikm, prk);
    encap_wipe(&h, sizeof(h));
}

int encap_hkdf_expand(const uint8_t prk[ENCAP_SHA256_LEN],
                      const uint8_t *info, size_t info_len,
                      uint8_t *okm, size_t okm_len)
{
    struct hmac_sha256_ctx h;

    if (okm_len > 255 * ENCAP_SHA256_LEN) {
        return -ENCAP_E_FIELD;
    }
    hmac_sha256_set_key(&h, ENCAP_SHA256_LEN, prk);
    hkdf_expand(&h, (nettle_hash_update_func *)hmac_sha256_update,
                (nettle_hash_digest_func *)hmac_sha256_digest,
                SHA256_DIGEST_SIZE, info_len, info, okm_len, okm);
    encap_wipe(&h, sizeof(h));
    return 0;
}

void encap_hmac_sha256(const uint8_t *key, size_t key_len,
                       const uint8_t *data, size_t len,
                       uint8_t out[ENCAP_SHA256_LEN])
{
    struct hmac_sha256_ctx h;

    hmac_sha256_set_key(&h, key_len, key);
    hmac_sha256_update(&h, len, data);
    hmac_sha256_digest(&h, SHA256_DIGEST_SIZE, out);
    encap_wipe(&h, sizeof(h));
}

bool encap_ct_equal(const void *a, const void *b, size_t n)
{
    return memeql_sec(a, b, n);
}

void encap_wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;

    while (n--) {
        *v++ = 0;
    }
}

struct encap_aead *encap_aead_new(const uint8_t *key)
{
    struct encap_aead *a = malloc(sizeof(*a));
    gnutls_datum_t k = {
        .data = (unsigned char *)key, .size = ENCAP_AEAD_KEY_LEN,
    };

    if (a && gnutls_aead_cipher_init(&a->h, GNUTLS_CIPHER_AES_128_GCM,
                                     &k) < 0) {
        free(a);
        a = NULL;
    }
    return a;
}

void encap_aead_free(struct encap_aead *a)
{
    if (a) {
        gnutls_aead_cipher_deinit(a->h);    /* wipes the key schedule */
        free(a);
    }
}

void encap_aead_seal(struct encap_aead *a,
                     const uint8_t nonce[ENCAP_AEAD_NONCE_LEN],
                     const uint8_t *ad, size_t ad_len,
                     const uint8_t *in, size_t len, uint8_t *out)
{
    size_t out_len = len + ENCAP_AEAD_TAG_LEN;

    /*
     * Fails only on arguments this file gets right (sizes, buffer room);
     * should it fail, the frame goes out with a zero tag, and the peer
     * drops and counts it as it does any forgery.
     */
    if (gnutls_aead_cipher_encrypt(a->h, nonce, ENCAP_AEAD_NONCE_LEN, ad,
                                   ad_len, ENCAP_AEAD_TAG_LEN, in, len, out,
                                   &out_len) < 0) {
        memset(out, 0, len + ENCAP_AEAD_TAG_LEN);
    }
}

int encap_aead_open(struct encap_aead *a,
                    const uint8_t nonce[ENCAP_AEAD_NONCE_LEN],
                    const uint8_t *ad, size_t ad_len,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    size_t plen, out_len;

    if (len < ENCAP_AEAD_TAG_LEN) {
        return -ENCAP_E_SHORT;
    }
    plen = out_len = len - ENCAP_AEAD_TAG_LEN;
    if (gnutls_aead_cipher_decrypt(a->h, nonce, ENCAP_AEAD_NONCE_LEN, ad,
                                   ad_len, ENCAP_AEAD_TAG_LEN, in, len, out,
                                   &out_len) < 0) {
        memset(out, 0, plen);
        return -ENCAP_E_AUTH;
    }
    return 0;
}
