/* SPDX-License-Identifier: MIT */
/*
 * encap: error convention shared by every encap codec.
 *
 * Every encap function that can fail returns an int: a non-negative value on
 * success (0, or a byte/item count where the function says so) and the
 * negative of one of the enum encap_err values below on failure.  The codes
 * name the reason a receiver rejects a TLP or frame; encap_strerror() turns
 * one into a short stable name ("fmt-type", "4k-cross", ...) fit for logs,
 * counters and trace events.
 *
 * Transports (encap/transport.h) are a different layer and return -errno.
 */
#ifndef ENCAP_ERR_H
#define ENCAP_ERR_H

enum encap_err {
    ENCAP_OK = 0,
    ENCAP_E_SHORT,        /* buffer shorter than the header it must hold */
    ENCAP_E_FMT_TYPE,     /* unknown or unsupported Fmt/Type combination */
    ENCAP_E_LENGTH,       /* Length field disagrees with the bytes present,
                             or is illegal for the TLP type */
    ENCAP_E_4K,           /* memory request crosses a 4 KiB boundary */
    ENCAP_E_BE,           /* byte enables illegal for the length */
    ENCAP_E_MPS,          /* payload larger than Max Payload Size */
    ENCAP_E_ALIGN,        /* address not DW aligned / reserved bits set */
    ENCAP_E_FIELD,        /* a field value out of range (TC, attr, status,
                             byte count, message routing, ...) */
    ENCAP_E_NOSPACE,      /* output buffer too small */
    ENCAP_E_VERSION,      /* frame: unsupported protocol version */
    ENCAP_E_ETHERTYPE,    /* frame: not our EtherType */
    ENCAP_E_CRC,          /* frame: integrity check failed */
    ENCAP_E_FRAME_TYPE,   /* frame: unknown frame type */
    ENCAP_E_RECORD,       /* frame: TLP record malformed */
    ENCAP_E_REASM,        /* completion does not fit the outstanding read */
    ENCAP_E_DISC_OP,      /* DISC: unknown op */
    ENCAP_E_DISC_FN,      /* DISC: function index outside the functions */
    ENCAP_E_DISC_OWNER,   /* DISC: ASSIGN without a usable owner */
    ENCAP_E_DISC_GEN,     /* DISC: ASSIGN/RELEASE with generation 0 */
    ENCAP_E_DISC_INTERVAL,/* DISC: heartbeat interval out of range */
    ENCAP_E_DISC_BAR,     /* DISC: BAR summary malformed */
    ENCAP_E_DISC_AUTH,    /* DISC: tag flag/length wrong, or a tag we
                             cannot check */
    ENCAP_E_AUTH,         /* keyed session: tag or MAC does not verify, or
                             a frame that must be sealed is not */
    ENCAP_E_REPLAY,       /* keyed session: a sealing counter seen before,
                             or older than the replay window */
    ENCAP_E_KEY,          /* the peer speaks the keyed protocol and we
                             have no key, or the other way round */
    ENCAP_E_CREDIT,       /* link: the peer's request credit is used up (a
                             request TLP not queued: retry once the peer
                             has released some, after input or poll) */
    ENCAP_E__COUNT
};

/* Short stable name of an error code; accepts either sign. */
const char *encap_strerror(int err);

#endif
