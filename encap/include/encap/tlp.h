/* SPDX-License-Identifier: MIT */
/*
 * encap: PCIe Transaction Layer Packet encode/decode.
 *
 * Follows the header layout of the PCI Express Base Specification (rev 4.0+,
 * section 2.2): DW0 Fmt/Type, T9, TC, T8, Attr[2], LN, TH, TD, EP, Attr[1:0],
 * AT, Length; then the type-specific DWs.  Everything on the wire is
 * big-endian, as in the specification's byte numbering; nothing here casts a
 * buffer to a struct.
 *
 * Errors: see encap/err.h (negative enum encap_err).
 * Thread safety: all functions are pure; no global state.
 */
#ifndef ENCAP_TLP_H
#define ENCAP_TLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encap/err.h"

enum encap_tlp_type {
    ENCAP_TLP_MRD,       /* Fmt 000/001 Type 00000 */
    ENCAP_TLP_MWR,       /* Fmt 010/011 Type 00000 */
    ENCAP_TLP_IORD,      /* Fmt 000 Type 00010 */
    ENCAP_TLP_IOWR,      /* Fmt 010 Type 00010 */
    ENCAP_TLP_CFGRD0,    /* Fmt 000 Type 00100 */
    ENCAP_TLP_CFGWR0,    /* Fmt 010 Type 00100 */
    ENCAP_TLP_CFGRD1,    /* Fmt 000 Type 00101 */
    ENCAP_TLP_CFGWR1,    /* Fmt 010 Type 00101 */
    ENCAP_TLP_CPL,       /* Fmt 000 Type 01010 */
    ENCAP_TLP_CPLD,      /* Fmt 010 Type 01010 */
    ENCAP_TLP_MSG,       /* Fmt 001 Type 10rrr */
    ENCAP_TLP_MSGD,      /* Fmt 011 Type 10rrr */
    ENCAP_TLP__COUNT
};

/* Completion status (Cpl/CplD DW1 bits 7:5 of byte 6). */
enum encap_cpl_status {
    ENCAP_CPL_SC = 0,    /* Successful Completion */
    ENCAP_CPL_UR = 1,    /* Unsupported Request */
    ENCAP_CPL_CRS = 2,   /* Configuration Request Retry Status */
    ENCAP_CPL_CA = 4,    /* Completer Abort */
};

/* Message codes we carry (byte 7 of a Msg/MsgD header). */
enum encap_msg_code {
    ENCAP_MSG_ASSERT_INTA = 0x20,
    ENCAP_MSG_ASSERT_INTB = 0x21,
    ENCAP_MSG_ASSERT_INTC = 0x22,
    ENCAP_MSG_ASSERT_INTD = 0x23,
    ENCAP_MSG_DEASSERT_INTA = 0x24,
    ENCAP_MSG_DEASSERT_INTB = 0x25,
    ENCAP_MSG_DEASSERT_INTC = 0x26,
    ENCAP_MSG_DEASSERT_INTD = 0x27,
    ENCAP_MSG_VENDOR_TYPE1 = 0x7f,  /* Vendor_Defined Type 1: receivers that
                                       do not know it discard it silently */
};

/*
 * vrc's own Vendor_Defined Type 1 messages: Vendor ID 0x1234 in header
 * bytes 10-11, the message in bytes 12-15.  Hot reset: broadcast from the
 * root complex to what is below the port (a Secondary Bus Reset, or the
 * VM's reset); the endpoint resets its function as a link hot reset would.
 */
#define ENCAP_VDM_VENDOR_ID     0x1234
#define ENCAP_VDM_HOT_RESET     0x48525354u     /* "HRST" */
/*
 * A doorbell's reads (encap/push.h), local to the link (routing 100b):
 * HINT from the endpoint, PUSH from the root complex, each a MsgD whose
 * payload encap_push_encode() writes.
 */
#define ENCAP_VDM_HINT          0x48494e54u     /* "HINT" */
#define ENCAP_VDM_PUSH          0x50555348u     /* "PUSH" */

/* Message routing r[2:0] (low three bits of Type). */
enum encap_msg_routing {
    ENCAP_MSG_ROUTE_RC = 0,       /* routed to Root Complex */
    ENCAP_MSG_ROUTE_ADDR = 1,     /* routed by address */
    ENCAP_MSG_ROUTE_ID = 2,       /* routed by ID */
    ENCAP_MSG_ROUTE_BCAST = 3,    /* broadcast from Root Complex */
    ENCAP_MSG_ROUTE_LOCAL = 4,    /* local, terminate at receiver (INTx) */
    ENCAP_MSG_ROUTE_GATHER = 5,   /* gathered and routed to Root Complex */
};

/* Attr bits as stored in struct encap_tlp.attr. */
#define ENCAP_ATTR_NS   0x1   /* No Snoop, Attr[0] */
#define ENCAP_ATTR_RO   0x2   /* Relaxed Ordering, Attr[1] */
#define ENCAP_ATTR_IDO  0x4   /* ID-based Ordering, Attr[2] */

#define ENCAP_TLP_MAX_HDR     16      /* 4 DW */
#define ENCAP_TLP_MAX_DATA    4096    /* 1024 DW */
#define ENCAP_TLP_MAX_SIZE    (ENCAP_TLP_MAX_HDR + ENCAP_TLP_MAX_DATA)

/* A Bus/Device/Function number as carried in Requester/Completer IDs. */
#define ENCAP_BDF(bus, dev, fn) \
    ((uint16_t)(((bus) & 0xff) << 8 | ((dev) & 0x1f) << 3 | ((fn) & 7)))

/*
 * One TLP in host form.  Fields that a type does not use must be zero when
 * encoding and are zeroed by decoding.
 */
struct encap_tlp {
    enum encap_tlp_type type;
    bool addr64;            /* MRd/MWr: 4 DW header with a 64-bit address.
                               Msg/MsgD and Cfg/IO/Cpl ignore it. */
    uint8_t tc;             /* Traffic Class, 0..7 */
    uint8_t attr;           /* ENCAP_ATTR_* */
    bool th;                /* TLP Processing Hints present */
    bool td;                /* TLP Digest present: not supported, must be 0 */
    bool ep;                /* poisoned */
    uint16_t len_dw;        /* Length in DW, 1..1024 (1024 is 0 on the
                               wire).  Cpl and Msg carry no data and their
                               Length field is reserved: len_dw is 0 and
                               is sent as 0. */
    uint16_t requester_id;  /* requests, Cpl/CplD (DW2), Msg */
    uint16_t tag;           /* 10-bit: Tag[9] is DW0 bit 23, Tag[8] bit 19 */
    uint8_t first_be;       /* requests: First DW BE, 4 bits */
    uint8_t last_be;        /* requests: Last DW BE, 4 bits */
    uint64_t addr;          /* MRd/MWr/IORd/IOWr: byte address of the first
                               DW (low 2 bits zero) */
    uint16_t target_id;     /* CfgRd/Wr: Bus/Dev/Fn the request is for;
                               Cpl/CplD: Completer ID */
    uint16_t reg;           /* CfgRd/Wr: register byte offset 0..4092, DW
                               aligned (Ext Register Number and Register
                               Number together) */
    uint8_t status;         /* Cpl/CplD: enum encap_cpl_status */
    bool bcm;               /* Cpl/CplD: Byte Count Modified */
    uint16_t byte_count;    /* Cpl/CplD: 1..4096 (4096 is 0 on the wire) */
    uint8_t lower_addr;     /* Cpl/CplD: Lower Address, 7 bits */
    uint8_t msg_code;       /* Msg/MsgD: enum encap_msg_code */
    uint8_t msg_routing;    /* Msg/MsgD: enum encap_msg_routing */
    uint64_t msg_hi;        /* Msg/MsgD: header bytes 8..15 as a big-endian
                               number (address or ID for routed messages,
                               zero for INTx) */
    const uint8_t *data;    /* payload, len_dw * 4 bytes, for types that
                               carry data; decode points it into the input
                               buffer (no copy) */
};

/* Receiver limits used by decode (and by encode, so we never send what a
 * receiver would reject). */
struct encap_tlp_limits {
    uint16_t mps;           /* Max Payload Size in bytes: 128..4096 */
};

/* True if the type carries a data payload. */
bool encap_tlp_has_data(enum encap_tlp_type type);

/* Header size in bytes (12 or 16) that encode will produce for @t. */
size_t encap_tlp_hdr_size(const struct encap_tlp *t);

/* Total size in bytes that encode will produce for @t. */
size_t encap_tlp_size(const struct encap_tlp *t);

/* Short name of a TLP type: "MRd", "MWr", "CfgRd0", "CplD", ... */
const char *encap_tlp_type_name(enum encap_tlp_type type);

/*
 * Validate @t against the rules a receiver enforces (see encap_tlp_decode).
 * Returns 0 or a negative enum encap_err.
 */
int encap_tlp_check(const struct encap_tlp *t,
                    const struct encap_tlp_limits *lim);

/*
 * Encode @t into @buf.  Validates first (encap_tlp_check).
 * Returns the number of bytes written, or a negative enum encap_err
 * (-ENCAP_E_NOSPACE if @size is too small).
 */
int encap_tlp_encode(const struct encap_tlp *t,
                     const struct encap_tlp_limits *lim,
                     uint8_t *buf, size_t size);

/*
 * Decode exactly @len bytes of @buf as one TLP into @t and validate it.
 * @t->data points into @buf.  Rejects (negative enum encap_err):
 *  - ENCAP_E_SHORT     fewer bytes than the header needs
 *  - ENCAP_E_FMT_TYPE  unknown Fmt/Type, TLP prefixes, TD=1 (no ECRC support)
 *  - ENCAP_E_LENGTH    @len != header + Length*4 (data types) or header
 *                      (no-data types); Cfg/IO with Length != 1
 *  - ENCAP_E_4K        MRd/MWr whose address range crosses a 4 KiB boundary
 *  - ENCAP_E_BE        First/Last DW BE illegal for the Length (Length 1
 *                      with Last BE != 0; Length > 1 with a zero BE;
 *                      non-contiguous BEs where the spec forbids them;
 *                      Cfg/IO with Last BE != 0)
 *  - ENCAP_E_MPS       payload larger than @lim->mps
 *  - ENCAP_E_ALIGN     reserved low address bits set
 *  - ENCAP_E_FIELD     Cfg/IO with TC or Attr != 0, reserved completion
 *                      status, Msg routing not one of those listed, ...
 */
int encap_tlp_decode(const uint8_t *buf, size_t len,
                     const struct encap_tlp_limits *lim,
                     struct encap_tlp *t);

/*
 * Whether the encoded TLP at @buf (@len bytes) is a request in the sense of
 * the link's request credit (encap/link.h): anything but a completion, by
 * its Type field alone (Cpl, CplD and their locked forms are not; any other
 * Type is, whether or not the TLP decodes).  The link counts the TLPs it
 * delivers this way; an application that counts its requests_done() with
 * it counts the same ones.
 */
bool encap_tlp_is_request(const uint8_t *buf, size_t len);

/*
 * Fill @t with vrc's Vendor_Defined Type 1 message @code from @requester:
 * a MsgD of @len_dw DWs at @data if @data, else a Msg.
 */
void encap_tlp_vdm(struct encap_tlp *t, uint16_t requester, uint8_t routing,
                   uint32_t code, const void *data, uint16_t len_dw);
/* The code of vrc's Vendor_Defined message @t, or 0 if it is none. */
uint32_t encap_tlp_vdm_code(const struct encap_tlp *t);

/* Fill @t with vrc's hot reset message (ENCAP_VDM_HOT_RESET) from @requester. */
void encap_tlp_hot_reset(struct encap_tlp *t, uint16_t requester);
/* Is @t (decoded) that message? */
bool encap_tlp_is_hot_reset(const struct encap_tlp *t);

#endif
