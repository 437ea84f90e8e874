/* SPDX-License-Identifier: MIT */
/*
 * encap: the cryptography of authenticated sessions, a small interface
 * over nettle (HKDF, HMAC) and GnuTLS (the AEAD); no primitive is
 * implemented here.
 *
 *  - HKDF with HMAC-SHA256 (RFC 5869): extract and expand.
 *  - HMAC-SHA256, for the handshake's proofs of the key.
 *  - AEAD: AES-128-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit
 *    tag.  Chosen over ChaCha20-Poly1305 for speed where vrc runs: with
 *    AES-NI and PCLMULQDQ (x86_64) or the ARMv8 crypto extensions, nettle
 *    3.8 sealed a 1500-byte frame about ten times faster than its ChaCha20-
 *    Poly1305, and GnuTLS's AES-GCM, used here, seals and opens one in
 *    about half nettle's time (docs/protocol.md, section 7.6).  The nonces
 *    are counters, never random, so GCM's nonce-size limits do not apply;
 *    a session's keys live for one epoch only.
 *
 * Errors: negative enum encap_err (ENCAP_E_AUTH when a tag does not
 * verify, ENCAP_E_FIELD for a length out of range).  Thread safety: an
 * encap_aead may be used by one thread at a time; the rest is pure.
 */
#ifndef ENCAP_CRYPTO_H
#define ENCAP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/err.h"

#define ENCAP_SHA256_LEN     32
#define ENCAP_AEAD_KEY_LEN   16      /* AES-128 */
#define ENCAP_AEAD_NONCE_LEN 12
#define ENCAP_AEAD_TAG_LEN   16

/* HKDF-Extract(salt, ikm) -> @prk (RFC 5869, 2.2).  @salt may be NULL. */
void encap_hkdf_extract(const uint8_t *salt, size_t salt_len,
                        const uint8_t *ikm, size_t ikm_len,
                        uint8_t prk[ENCAP_SHA256_LEN]);

/*
 * HKDF-Expand(prk, info, L) -> @okm of @okm_len bytes (RFC 5869, 2.3).
 * Returns 0, or -ENCAP_E_FIELD if @okm_len > 255 * 32.
 */
int encap_hkdf_expand(const uint8_t prk[ENCAP_SHA256_LEN],
                      const uint8_t *info, size_t info_len,
                      uint8_t *okm, size_t okm_len);

/* HMAC-SHA256 of @data under @key. */
void encap_hmac_sha256(const uint8_t *key, size_t key_len,
                       const uint8_t *data, size_t len,
                       uint8_t out[ENCAP_SHA256_LEN]);

/* Compare @n bytes in time that does not depend on where they differ. */
bool encap_ct_equal(const void *a, const void *b, size_t n);

/* Overwrite @n bytes with zeros in a way the compiler does not elide. */
void encap_wipe(void *p, size_t n);

/* An AEAD key, ready to seal and open (opaque). */
struct encap_aead;

/* A context for @key (ENCAP_AEAD_KEY_LEN bytes); NULL if out of memory. */
struct encap_aead *encap_aead_new(const uint8_t *key);
/* Wipe and free; NULL is fine. */
void encap_aead_free(struct encap_aead *a);

/*
 * Encrypt @len bytes from @in to @out and append the tag: @out receives
 * @len + ENCAP_AEAD_TAG_LEN bytes.  @ad (associated data) is authenticated
 * only.  @in and @out may be the same buffer, not otherwise overlapping.
 */
void encap_aead_seal(struct encap_aead *a,
                     const uint8_t nonce[ENCAP_AEAD_NONCE_LEN],
                     const uint8_t *ad, size_t ad_len,
                     const uint8_t *in, size_t len, uint8_t *out);

/*
 * Check and decrypt @len bytes (ciphertext then tag) from @in into @out
 * (@len - ENCAP_AEAD_TAG_LEN bytes).  Returns 0, -ENCAP_E_AUTH if the tag
 * does not verify (then @out is zeroed: nothing unverified is left in it),
 * or -ENCAP_E_SHORT if @len is shorter than a tag.
 */
int encap_aead_open(struct encap_aead *a,
                    const uint8_t nonce[ENCAP_AEAD_NONCE_LEN],
                    const uint8_t *ad, size_t ad_len,
                    const uint8_t *in, size_t len, uint8_t *out);

#endif
