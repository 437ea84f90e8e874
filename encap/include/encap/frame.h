/* SPDX-License-Identifier: MIT */
/*
 * encap: the Ethernet frame that carries TLPs between a vrc and an endpoint.
 *
 * Layout (docs/protocol.md has every byte):
 *   Ethernet header   14 bytes: dst MAC, src MAC, EtherType 0x88B5
 *   vrc header        24 bytes: version, type, flags, rc id, session, epoch,
 *                               seq, ack, payload length, record count
 *   payload           DATA: TLP records (4-byte record header + TLP);
 *                     CTRL: struct encap_ctrl; DISC: struct encap_disc
 *                     (encap/disc.h)
 *   CRC-32C            4 bytes over everything from the Ethernet dst MAC to
 *                     the end of the payload
 *   padding           anything after the CRC is ignored (minimum frame size)
 * All fields big-endian.
 *
 * Errors: see encap/err.h.  Thread safety: builders and views are plain
 * values owned by the caller; no global state (the CRC table is const).
 */
#ifndef ENCAP_FRAME_H
#define ENCAP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/err.h"
#include "encap/tlp.h"

#define ENCAP_ETHERTYPE      0x88B5   /* IEEE 802 local experimental 1 */
#define ENCAP_VERSION        1
#define ENCAP_ETH_HLEN       14
#define ENCAP_HDR_LEN        24       /* vrc header after the Ethernet one */
#define ENCAP_REC_HLEN       4        /* per-TLP record header */
#define ENCAP_CRC_LEN        4
#define ENCAP_FRAME_OVERHEAD (ENCAP_ETH_HLEN + ENCAP_HDR_LEN + ENCAP_CRC_LEN)
#define ENCAP_MAX_RECORDS    255

enum encap_frame_type {
    ENCAP_FRAME_DATA = 1,   /* TLP records, sequenced */
    ENCAP_FRAME_CTRL = 2,   /* link control: hello, ack, nak, bye */
    ENCAP_FRAME_DISC = 3,   /* discovery and assignment (configd) */
};

/* Header flags. */
#define ENCAP_F_ACK   0x0001  /* the ack field is valid */
#define ENCAP_F_SEQ   0x0002  /* the frame is sequenced (seq valid): DATA */
#define ENCAP_F_RESP  0x0004  /* the frame was sent by the endpoint side */
/* 0x0008 is ENCAP_F_SEALED (encap/seal.h). */
#define ENCAP_F_DUP   0x0010  /* ACK/NAK: answers a DATA frame the sender
                                 already held; seq is that frame's */
#define ENCAP_F_RESENT 0x0020 /* DATA: a copy sent again, not the first;
                                 ACK/NAK with DUP: the duplicate was one */
#define ENCAP_F_KNOWN (ENCAP_F_ACK | ENCAP_F_SEQ | ENCAP_F_RESP | ENCAP_F_DUP | \
                       ENCAP_F_RESENT)

struct encap_frame_hdr {
    uint8_t dst[6];
    uint8_t src[6];
    uint8_t type;           /* enum encap_frame_type */
    uint16_t flags;         /* ENCAP_F_* */
    uint16_t rc_id;         /* identity of the VM-side root complex */
    uint16_t session;       /* link/session identifier */
    uint32_t epoch;         /* incremented when a side restarts the session */
    uint32_t seq;           /* sequence number of this frame (DATA) */
    uint32_t ack;           /* next sequence number expected from the peer */
};

/*
 * Building a frame.  begin() reserves the headers; add_*() append records or
 * the payload; finish() writes the headers (from b->hdr, which the caller may
 * change up to that point, e.g. to stamp seq/ack) and the CRC.
 */
struct encap_frame_builder {
    struct encap_frame_hdr hdr;
    uint8_t *buf;
    size_t cap;             /* bytes usable, excluding the CRC */
    size_t len;             /* bytes written so far */
    unsigned count;         /* records added */
};

/*
 * Start a frame in @buf of @size bytes (the link MTU plus 14: the largest
 * frame we may send).  Returns 0 or -ENCAP_E_NOSPACE.
 */
int encap_frame_begin(struct encap_frame_builder *b, uint8_t *buf,
                      size_t size, const struct encap_frame_hdr *hdr);

/* Room left for one more TLP in this frame, in TLP bytes (0 if none). */
size_t encap_frame_room(const struct encap_frame_builder *b);

/* Encode @t as a new record.  -ENCAP_E_NOSPACE if it does not fit. */
int encap_frame_add_tlp(struct encap_frame_builder *b,
                        const struct encap_tlp *t,
                        const struct encap_tlp_limits *lim);

/* Append an already encoded TLP of @len bytes as a new record. */
int encap_frame_add_raw(struct encap_frame_builder *b,
                        const uint8_t *tlp, size_t len);

/* Append @len bytes of non-record payload (CTRL/DISC frames). */
int encap_frame_add_payload(struct encap_frame_builder *b,
                            const uint8_t *p, size_t len);

/* Write headers and CRC.  Returns the frame length in bytes. */
int encap_frame_finish(struct encap_frame_builder *b);

/*
 * Rewrite the ack field (and flags |= ENCAP_F_ACK | @flags) of a finished
 * frame in place and recompute its CRC: for retransmitting a frame with a
 * fresh ack (and ENCAP_F_RESENT).
 */
int encap_frame_restamp(uint8_t *frame, size_t len, uint32_t ack,
                        uint16_t flags);

/* A parsed, verified frame. */
struct encap_frame_view {
    struct encap_frame_hdr hdr;
    unsigned count;             /* records (DATA) */
    const uint8_t *payload;
    size_t payload_len;
};

/*
 * Parse and verify @len bytes received.  Checks, in this order: length,
 * EtherType, version, CRC, frame type, payload length, and for DATA frames
 * that the records exactly fill the payload with legal record headers.
 * Returns 0 or a negative enum encap_err.  The TLPs themselves are not
 * decoded: use encap_frame_next_tlp() and encap_tlp_decode().
 */
int encap_frame_parse(const uint8_t *buf, size_t len,
                      struct encap_frame_view *v);

/* Iterating over the records of a parsed DATA frame. */
struct encap_rec_iter {
    const uint8_t *p;
    const uint8_t *end;
};

void encap_frame_records(const struct encap_frame_view *v,
                         struct encap_rec_iter *it);

/* Next record: 1 and (@tlp, @len) set, or 0 at the end. */
int encap_frame_next_tlp(struct encap_rec_iter *it, const uint8_t **tlp,
                         size_t *len);

/* CTRL payload. */
enum encap_ctrl_op {
    ENCAP_CTRL_HELLO = 1,     /* VM side opens a session (new epoch) */
    ENCAP_CTRL_HELLO_ACK = 2, /* endpoint accepts; parameters agreed */
    ENCAP_CTRL_ACK = 3,       /* standalone acknowledgement */
    ENCAP_CTRL_NAK = 4,       /* gap seen: resend from hdr.ack */
    ENCAP_CTRL_BYE = 5,       /* session closed */
    ENCAP_CTRL_PING = 6,      /* keepalive / raw round-trip probe */
    ENCAP_CTRL_PONG = 7,
};
#define ENCAP_CTRL_LEN 16

/* HELLO/HELLO_ACK features. */
#define ENCAP_CTRL_F_CREDIT 0x00000001  /* the sender limits its peer's
                                           requests: credit is valid, and so
                                           is the limit of its ACK, NAK,
                                           PING and PONG */

/*
 * Offsets 8 and 12 mean one thing in HELLO/HELLO_ACK and another in the
 * other ops (docs/protocol.md, section 4).
 */
struct encap_ctrl {
    uint8_t op;             /* enum encap_ctrl_op */
    uint16_t max_frame;     /* largest frame the sender accepts (bytes) */
    uint16_t mps;           /* Max Payload Size (bytes) */
    uint16_t mrrs;          /* Max Read Request Size (bytes) */
    union {                 /* offset 8 */
        uint32_t features;  /* HELLO, HELLO_ACK: ENCAP_CTRL_F_*; 0 if none */
        uint32_t limit;     /* ACK, NAK, PING, PONG of a side that set
                               CREDIT: request TLPs its peer may have sent
                               this session (serial); 0 otherwise */
    };
    union {                 /* offset 12 */
        uint32_t cookie;    /* PING/PONG echo value; 0 in ACK, NAK, BYE */
        uint32_t credit;    /* HELLO, HELLO_ACK with CREDIT: the sender's
                               request credit, its peer's first limit */
    };
};

int encap_ctrl_encode(const struct encap_ctrl *c, uint8_t *buf, size_t size);
int encap_ctrl_decode(const uint8_t *buf, size_t len, struct encap_ctrl *c);

/* DISC payload: encap/disc.h. */

/*
 * CRC-32C (Castagnoli, reflected, init and final xor 0xffffffff) of @buf,
 * continuing from @crc (0 to start).  Uses SSE4.2's crc32 instruction and
 * carry-less multiplication where the CPU has them.
 */
uint32_t encap_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same, always table-driven (for tests and benchmarks). */
uint32_t encap_crc32c_portable(uint32_t crc, const void *buf, size_t len);
/*
 * How many versions this CPU runs (table, crc32 instruction, carry-less
 * multiply; encap_crc32c() uses the last), and the CRC by version @i.
 */
unsigned encap_crc32c_impls(void);
uint32_t encap_crc32c_impl(unsigned i, uint32_t crc, const void *buf,
                           size_t len);

#endif
