/* SPDX-License-Identifier: MIT */
/*
 * encap: DISC, the discovery and assignment payload spoken between configd
 * and endpoints (docs/protocol.md section 5, DISC version 2).
 *
 * Layout (72 bytes, then an optional tag; all fields big-endian):
 *    0 op            1 version (2)    2 rc id           4 owner MAC (6)
 *   10 BDF          12 vendor id     14 device id      16 class/rev
 *   20 state        24 flags         26 function       27 functions
 *   28 subsys vendor 30 subsys id    32 generation (8) 40 xid
 *   44 interval (ms) 46 acked op     47 status         48 serial (8)
 *   56 BARs (6 x {log2 size, flags}) 68 tag length     70 reserved
 *   72 tag (tag length bytes, with flag AUTH: see below)
 *
 * Signed frames (docs/protocol.md 5.4): with a DISC key (derived from the
 * link's pre-shared key) flag AUTH is set, tag length is 24 and the tag is
 *   72 time (8, microseconds since the Unix epoch, the sender's clock)
 *   80 MAC (16): HMAC-SHA256 under the DISC key of frame bytes 0..117
 *      (Ethernet and vrc headers, the 72 bytes above and the time), truncated
 * A keyed receiver takes only signed frames whose MAC verifies and whose
 * time is within ENCAP_DISC_WINDOW_US of its own clock; an unkeyed one
 * takes only unsigned frames.
 *
 * Errors: the encap convention (encap/err.h): 0 or a byte count, or the
 * negative of an enum encap_err.  Plain values, no global state.
 */
#ifndef ENCAP_DISC_H
#define ENCAP_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/crypto.h"
#include "encap/err.h"

#define ENCAP_DISC_VERSION      2
#define ENCAP_DISC_LEN          72      /* fixed part; the tag follows */
#define ENCAP_DISC_TAG_MAX      256
#define ENCAP_DISC_BARS         6
#define ENCAP_DISC_INTERVAL_MIN 100     /* heartbeat interval, ms */
#define ENCAP_DISC_INTERVAL_MAX 60000
#define ENCAP_DISC_MAC_LEN      16
#define ENCAP_DISC_TAG_LEN      (8 + ENCAP_DISC_MAC_LEN)  /* time, MAC */
#define ENCAP_DISC_WINDOW_US    (30 * UINT64_C(1000000)) /* freshness, +-30 s */
/* Largest DISC frame: headers, fixed part, tag, CRC (138 bytes). */
#define ENCAP_DISC_FRAME_MAX    (14 + 24 + ENCAP_DISC_LEN + ENCAP_DISC_TAG_LEN + 4)

enum encap_disc_op {
    ENCAP_DISC_SOLICIT = 1,   /* configd asks endpoints to announce */
    ENCAP_DISC_ANNOUNCE = 2,  /* endpoint describes a function (heartbeat) */
    ENCAP_DISC_ASSIGN = 3,    /* configd binds a function to a root complex */
    ENCAP_DISC_RELEASE = 4,   /* configd unbinds it */
    ENCAP_DISC_ACK = 5,       /* endpoint: outcome of an ASSIGN/RELEASE */
};

enum encap_disc_state {
    ENCAP_DISC_FREE = 0,
    ENCAP_DISC_ASSIGNED = 1,
};

enum encap_disc_status {
    ENCAP_DISC_OK = 0,
    ENCAP_DISC_STALE = 1,     /* generation not newer than the one held */
    ENCAP_DISC_NO_FUNCTION = 2,
    ENCAP_DISC_REFUSED = 3,   /* bad owner or BDF */
};

#define ENCAP_DISC_F_AUTH   0x0001  /* an authentication tag follows */

/* BAR summary flags (byte 1 of each entry). */
#define ENCAP_DISC_BAR_IO       0x01
#define ENCAP_DISC_BAR_64       0x02
#define ENCAP_DISC_BAR_PREFETCH 0x04

struct encap_disc_bar {
    uint8_t log2_size;      /* 0: not implemented; else 4..63 */
    uint8_t flags;          /* ENCAP_DISC_BAR_* */
};

struct encap_disc {
    uint8_t op;             /* enum encap_disc_op */
    uint16_t rc_id;         /* owner's rc id (ASSIGN: the one to serve) */
    uint8_t owner_mac[6];   /* owner's MAC (ASSIGN: the one to serve) */
    uint16_t bdf;           /* BDF of the function in the owner's VM */
    uint16_t vendor_id;     /* ANNOUNCE */
    uint16_t device_id;     /* ANNOUNCE */
    uint32_t class_rev;     /* ANNOUNCE: class code << 8 | revision */
    uint32_t state;         /* ANNOUNCE/ACK: enum encap_disc_state */
    uint16_t flags;         /* ENCAP_DISC_F_* */
    uint8_t function;       /* function index on this endpoint MAC */
    uint8_t functions;      /* ANNOUNCE: functions this MAC hosts */
    uint16_t subsys_vendor; /* ANNOUNCE */
    uint16_t subsys_id;     /* ANNOUNCE */
    uint64_t generation;    /* fencing token (protocol.md 5.2) */
    uint32_t xid;           /* transaction id, echoed by ACK/ANNOUNCE */
    uint16_t interval_ms;   /* ANNOUNCE: heartbeat interval */
    uint8_t acked_op;       /* ACK: ASSIGN or RELEASE */
    uint8_t status;         /* ACK: enum encap_disc_status */
    uint64_t serial;        /* ANNOUNCE: device serial number or 0 */
    struct encap_disc_bar bars[ENCAP_DISC_BARS];
    uint16_t tag_len;       /* bytes of tag (only with ENCAP_DISC_F_AUTH) */
    uint64_t time_us;       /* signed frames: the sender's time; else 0 */
};

/*
 * Encode @d into @buf (@size bytes).  Returns ENCAP_DISC_LEN (the tag,
 * when there is one, is the caller's to append) or -ENCAP_E_NOSPACE.
 * Nothing is validated: a test may encode what a receiver must reject.
 */
int encap_disc_encode(const struct encap_disc *d, uint8_t *buf, size_t size);

/*
 * Decode and check the DISC payload of @len bytes (the whole payload of
 * the frame, tag included).  Returns 0, or the reason it must be dropped:
 * -ENCAP_E_SHORT, _LENGTH, _VERSION, _DISC_OP, _DISC_FN, _DISC_OWNER,
 * _DISC_GEN, _DISC_INTERVAL, _DISC_BAR, _DISC_AUTH, _KEY, _FIELD
 * (docs/protocol.md section 5 says which rule each one is).  This is the
 * receiver without a key: a signed payload is -ENCAP_E_KEY (its MAC covers
 * the headers too: encap_disc_parse_frame_keyed() checks it).
 */
int encap_disc_decode(const uint8_t *buf, size_t len, struct encap_disc *d);

/*
 * A whole DISC frame: Ethernet and vrc headers (type DISC, ENCAP_F_RESP if
 * @from_endpoint) from @dst/@src, the payload @d, the CRC.  Returns the
 * frame length or a negative enum encap_err.
 */
int encap_disc_frame(const uint8_t dst[6], const uint8_t src[6],
                     bool from_endpoint, const struct encap_disc *d,
                     uint8_t *buf, size_t size);

/*
 * Parse a received frame and decode its DISC payload.  Returns 0; 1 if the
 * frame is valid but not DISC (not an error: DATA/CTRL frames share the
 * wire); or the negative reason for dropping it.  @src gets the sender MAC.
 * No key: encap_disc_parse_frame_keyed() with a NULL key.
 */
int encap_disc_parse_frame(const uint8_t *buf, size_t len, uint8_t src[6],
                           struct encap_disc *d);

/*
 * The DISC key: HKDF-Expand(HKDF-Extract("vrc psk v2", PSK), "vrc disc",
 * 32), from the same pre-shared key as the link (docs/protocol.md 7.3) but
 * under its own label, so it is never a session or handshake key.  A
 * plain value; wipe it with encap_disc_key_wipe() when done.
 */
struct encap_disc_key {
    uint8_t k[ENCAP_SHA256_LEN];
};

/*
 * Derive @key from @psk (@psk_len bytes, ENCAP_PSK_MIN..ENCAP_PSK_MAX of
 * encap/seal.h).  Returns 0 or -ENCAP_E_FIELD (length out of range).
 */
int encap_disc_key_init(struct encap_disc_key *key, const uint8_t *psk,
                        size_t psk_len);
void encap_disc_key_wipe(struct encap_disc_key *key);

/*
 * encap_disc_frame(), signed under @key at time @now_us (microseconds since
 * the Unix epoch): flag AUTH and tag length ENCAP_DISC_TAG_LEN are set
 * whatever @d says, and the time and MAC appended.  @key NULL: exactly
 * encap_disc_frame().  Returns the frame length (ENCAP_DISC_FRAME_MAX when
 * signed) or a negative enum encap_err.
 */
int encap_disc_frame_signed(const uint8_t dst[6], const uint8_t src[6],
                            bool from_endpoint, const struct encap_disc *d,
                            const struct encap_disc_key *key, uint64_t now_us,
                            uint8_t *buf, size_t size);

/*
 * encap_disc_parse_frame() for a receiver holding @key (NULL: none), at
 * its time @now_us.  Besides the checks of encap_disc_decode(), with a key:
 * unsigned frames -ENCAP_E_KEY, a MAC that does not verify -ENCAP_E_AUTH,
 * a time more than ENCAP_DISC_WINDOW_US away from @now_us -ENCAP_E_REPLAY;
 * without a key: signed frames -ENCAP_E_KEY.  @d->time_us is the sender's
 * time of a signed frame.
 */
int encap_disc_parse_frame_keyed(const uint8_t *buf, size_t len,
                                 const struct encap_disc_key *key,
                                 uint64_t now_us, uint8_t src[6],
                                 struct encap_disc *d);

/*
 * The pre-shared key from the text of a key file in the format of QEMU's
 * `-object secret,format=base64,file=...`: standard base64 (RFC 4648,
 * with padding), newlines allowed anywhere, nothing else.  Writes the
 * decoded key to @psk (@cap bytes, ENCAP_PSK_MAX is enough).  Returns its
 * length, -ENCAP_E_FIELD (not base64) or -ENCAP_E_LENGTH (the key is not
 * ENCAP_PSK_MIN..ENCAP_PSK_MAX bytes).
 */
int encap_psk_from_base64(const char *text, size_t len, uint8_t *psk,
                          size_t cap);

/*
 * The endpoint side of the generation rule (docs/protocol.md 5.2), for the
 * vrc-endpoint machine and tools/vrc-epsim to share: the ownership of one
 * endpoint function.
 */
struct encap_disc_owner {
    uint64_t generation;    /* G: 0 until the first ASSIGN or RELEASE */
    bool assigned;
    uint16_t rc_id;         /* with assigned: the owner */
    uint8_t mac[6];
    uint16_t bdf;
};

enum encap_disc_verdict {
    ENCAP_DISC_APPLIED = 0,     /* g > G: taken, G := g */
    ENCAP_DISC_REPEATED = 1,    /* g == G, same request: a retry, no change */
    ENCAP_DISC_REFUSED_STALE = 2, /* stale: nothing changes, count it */
};

/*
 * Apply the decoded ASSIGN or RELEASE @req to @o and fill @ack, the ACK to
 * send back (op, acked op, xid, function, status, and @o's state after).
 * Returns the verdict.  *@end_session is set when a session opened under
 * the previous owner must end (BYE, reset as a hot reset does) before the
 * ACK goes out: the function was assigned and is now released, or
 * assigned to another rc id, MAC or BDF.  Whether @req->function exists is
 * the caller's to check first (ACK status ENCAP_DISC_NO_FUNCTION).
 */
enum encap_disc_verdict encap_disc_apply(struct encap_disc_owner *o,
                                         const struct encap_disc *req,
                                         struct encap_disc *ack,
                                         bool *end_session);

/*
 * May a CTRL HELLO from @mac, with @rc_id in its vrc header, open a session
 * with this function?  Once the function has a generation (G > 0): only
 * from the owner of G, never while it is free.  G == 0 (never assigned):
 * true, and the caller applies its version 1 rules (first HELLO, or its
 * `peer` property).
 */
bool encap_disc_hello_allowed(const struct encap_disc_owner *o,
                              const uint8_t mac[6], uint16_t rc_id);

/* Drops counted by reason, for receivers. */
struct encap_disc_stats {
    uint64_t rx;                        /* DISC payloads accepted */
    uint64_t drops[ENCAP_E__COUNT];     /* by -encap_disc_decode() value */
};

/* Count the outcome @rc of a decode (0 or negative). */
void encap_disc_count(struct encap_disc_stats *s, int rc);

/* "SOLICIT", "ANNOUNCE", ... ("?" for others). */
const char *encap_disc_op_name(unsigned op);

#endif
