/* SPDX-License-Identifier: MIT */
/*
 * encap: keyed sessions on the wire (docs/protocol.md, section 7): the
 * key schedule, the proofs of the key in HELLO/HELLO_ACK, sealing and
 * opening frames, and the replay window.
 *
 * A keyed session speaks protocol version 2.  HELLO and HELLO_ACK carry a
 * 64-byte CTRL payload: the 16 bytes of version 1, the sender's random
 * nonce (32 bytes) and a MAC (16 bytes).  Every other frame is sealed:
 * flag ENCAP_F_SEALED, and the payload becomes
 *     counter (8) | AES-128-GCM ciphertext of the plaintext payload | tag (16)
 * with the Ethernet and vrc headers and the counter as associated data.
 * The CRC-32C stays, over the sealed frame.
 *
 * Errors: negative enum encap_err.  Pure functions apart from the aead
 * contexts and replay windows the caller owns.
 */
#ifndef ENCAP_SEAL_H
#define ENCAP_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/crypto.h"
#include "encap/frame.h"

#define ENCAP_VERSION_KEYED  2
#define ENCAP_F_SEALED       0x0008  /* header flag: the payload is sealed */
#define ENCAP_SEAL_CTR_LEN   8
#define ENCAP_SEAL_OVERHEAD  (ENCAP_SEAL_CTR_LEN + ENCAP_AEAD_TAG_LEN)
#define ENCAP_NONCE_LEN      32      /* handshake nonce of each side */
#define ENCAP_HELLO_MAC_LEN  16
#define ENCAP_HELLO_KEYED_LEN (ENCAP_CTRL_LEN + ENCAP_NONCE_LEN + \
                               ENCAP_HELLO_MAC_LEN)  /* 64 */
#define ENCAP_PSK_MIN        16
#define ENCAP_PSK_MAX        256
#define ENCAP_SEAL_CTR_MAX   ((UINT64_C(1) << 63) - 1)
#define ENCAP_REPLAY_WINDOW  1024

/* Direction of a sealed frame (bit 63 of the nonce's counter field). */
enum encap_dir {
    ENCAP_DIR_I2R = 0,      /* vrc (initiator) to endpoint */
    ENCAP_DIR_R2I = 1,      /* endpoint to vrc */
};

/* The keys of one session (one epoch) and the responder's proof key. */
struct encap_session_keys {
    uint8_t i2r[ENCAP_AEAD_KEY_LEN];
    uint8_t r2i[ENCAP_AEAD_KEY_LEN];
    uint8_t ack[ENCAP_SHA256_LEN];      /* MAC key of HELLO_ACK */
};

/* What a session's keys are bound to, besides the nonces. */
struct encap_session_ctx {
    uint16_t rc_id;
    uint16_t session;
    uint32_t epoch;
    uint8_t initiator_mac[6];
    uint8_t responder_mac[6];
};

/* The MAC key of HELLO, from the pre-shared key alone. */
void encap_hello_key(const uint8_t *psk, size_t psk_len,
                     uint8_t key[ENCAP_SHA256_LEN]);

/* The session keys from the pre-shared key, both nonces and @ctx. */
void encap_session_keys(const uint8_t *psk, size_t psk_len,
                        const uint8_t ni[ENCAP_NONCE_LEN],
                        const uint8_t nr[ENCAP_NONCE_LEN],
                        const struct encap_session_ctx *ctx,
                        struct encap_session_keys *k);

/*
 * Turn a finished version 1 CTRL HELLO or HELLO_ACK frame whose payload
 * is ENCAP_HELLO_KEYED_LEN bytes (the MAC field any value) into a keyed
 * one: version 2, the MAC under @key over the frame up to the MAC (and,
 * for HELLO_ACK, the initiator's nonce @ni first; NULL for HELLO), CRC
 * recomputed.  Returns 0 or -ENCAP_E_LENGTH.
 */
int encap_hello_sign(uint8_t *frame, size_t len, const uint8_t *key,
                     const uint8_t *ni);
/*
 * Check the MAC of a received keyed HELLO/HELLO_ACK (version, CRC and
 * lengths checked first).  0, -ENCAP_E_AUTH or a framing error.
 */
int encap_hello_verify(const uint8_t *frame, size_t len, const uint8_t *key,
                       const uint8_t *ni);

/*
 * Seal the finished version 1 frame @in (@len bytes, CRC included) into
 * @out (@cap bytes, at least @len + ENCAP_SEAL_OVERHEAD): version 2, flag
 * SEALED, counter @ctr (<= ENCAP_SEAL_CTR_MAX), payload encrypted, tag,
 * CRC.  Returns the sealed length, -ENCAP_E_NOSPACE, or -ENCAP_E_FIELD
 * (@ctr too large, or @in already has the SEALED flag).
 */
int encap_frame_seal(struct encap_aead *a, enum encap_dir dir, uint64_t ctr,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/*
 * Open the sealed frame @in into @out (@cap bytes) and parse it: @v
 * describes the plaintext frame (a version 1 frame, its CRC field 0: the
 * tag covered everything) as encap_frame_parse() would, and @ctr is its
 * counter.  Checks length, EtherType, version 2, flag SEALED, CRC, then the
 * tag, then the plaintext as encap_frame_parse() does.  Returns the opened
 * length, -ENCAP_E_AUTH, or the framing error.
 */
int encap_frame_open(struct encap_aead *a, enum encap_dir dir,
                     const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     uint64_t *ctr, struct encap_frame_view *v);

/*
 * Framing checks of a version 2 frame (length, EtherType, version, payload
 * length, CRC); 0 or the error.  The header is not otherwise parsed.
 */
int encap_frame_check_keyed(const uint8_t *in, size_t len);

/* Sliding replay window over the counters of one direction. */
struct encap_replay {
    uint64_t top;           /* highest counter accepted */
    bool any;               /* anything accepted yet */
    uint64_t bits[ENCAP_REPLAY_WINDOW / 64];  /* bit (top - c) % W: seen */
};

void encap_replay_reset(struct encap_replay *w);
/*
 * Accept counter @ctr (and remember it) or refuse it: -ENCAP_E_REPLAY if
 * it was accepted before or is ENCAP_REPLAY_WINDOW or more below the
 * highest accepted.  Call only for frames whose tag verified.
 */
int encap_replay_check(struct encap_replay *w, uint64_t ctr);

#endif
