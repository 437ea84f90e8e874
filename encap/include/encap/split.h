/* SPDX-License-Identifier: MIT */
/*
 * encap: splitting requests and completions, and reassembling completions.
 *
 * What a requester and a completer need around the TLP codec: cut a memory
 * read or write of arbitrary byte address and length into legal requests
 * (at most Max Read Request Size / Max Payload Size each, never crossing a
 * 4 KiB boundary, with the right First/Last DW byte enables); cut the data
 * answering one read request into completions at the Read Completion
 * Boundary and by Max Payload Size, each with the right Byte Count and Lower
 * Address; and put the completions for one tag back together.
 *
 * Errors: see encap/err.h.  No allocation; the caller supplies arrays.
 */
#ifndef ENCAP_SPLIT_H
#define ENCAP_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "encap/err.h"
#include "encap/tlp.h"

/* One request piece of a byte range. */
struct encap_req_piece {
    uint64_t addr;          /* DW-aligned address for the TLP */
    uint32_t offset;        /* offset of the piece's first byte within the
                               caller's range */
    uint32_t bytes;         /* number of bytes of the caller's range covered */
    uint16_t len_dw;        /* Length field */
    uint8_t first_be;
    uint8_t last_be;
};

/*
 * Cut the byte range [@addr, @addr + @len) into memory requests of at most
 * @max_bytes each (MRRS for reads, MPS for writes; a multiple of 4 up to
 * 4096), none crossing a 4 KiB boundary.  Pieces are as large as the rules
 * allow; with a power of two, each stays inside its naturally aligned
 * @max_bytes block.
 * @len must be >= 1 (a zero-length read is built by hand).
 * Writes up to @max_pieces entries to @out and returns how many pieces the
 * range needs; if that is more than @max_pieces, returns -ENCAP_E_NOSPACE.
 * A range that runs past the top of the 64-bit space gives -ENCAP_E_FIELD
 * (one that ends exactly there is legal).
 */
int encap_split_request(uint64_t addr, uint32_t len, uint32_t max_bytes,
                        struct encap_req_piece *out, size_t max_pieces);

/* One completion piece answering a read request. */
struct encap_cpl_piece {
    uint32_t offset;        /* offset of the first byte returned, relative
                               to the first enabled byte of the request */
    uint32_t bytes;         /* bytes of the request satisfied by this piece */
    uint16_t len_dw;        /* Length field of the CplD */
    uint16_t byte_count;    /* Byte Count field: bytes remaining including
                               this piece */
    uint8_t lower_addr;     /* Lower Address field (7 bits) */
};

/*
 * Cut the completion of a memory read request into CplD pieces.
 * @addr: byte address of the first enabled byte of the request;
 * @len: number of bytes requested from there (from the request's Length and
 * byte enables);
 * @rcb: Read Completion Boundary, 64 or 128; @mps: Max Payload Size, a
 * multiple of 4 not below @rcb (not necessarily a power of two).
 * Every piece but the last ends on an @rcb-aligned address; no piece carries
 * more than @mps bytes of payload (counting the DW-rounding of the first and
 * last DW).  Uses as few pieces as those rules allow.
 * Returns the number of pieces or a negative enum encap_err
 * (-ENCAP_E_NOSPACE if more than @max_pieces are needed, -ENCAP_E_FIELD for
 * a range past the top of the 64-bit space).
 */
int encap_split_completion(uint64_t addr, uint32_t len, uint32_t rcb,
                           uint32_t mps, struct encap_cpl_piece *out,
                           size_t max_pieces);

/*
 * Bytes of a read request: given First/Last BE, Length and DW address,
 * the address of its first enabled byte and the count of bytes from there
 * to the last enabled byte (what a completer puts in the first Byte Count).
 * A zero-length read (Length 1, First BE 0) gives *len = 1 per the spec's
 * Byte Count rule.  Returns 0 or a negative enum encap_err.
 */
int encap_read_req_span(const struct encap_tlp *req, uint64_t *addr,
                        uint32_t *len);

/*
 * Reassembly of the completions for one outstanding memory read.
 * Initialise with the request's first enabled byte address and byte count,
 * then feed each CplD with that tag in arrival order.
 */
struct encap_reasm {
    uint64_t addr;          /* first enabled byte of the request */
    uint32_t len;           /* bytes requested */
    uint32_t received;      /* bytes placed so far */
    uint8_t *buf;           /* caller's buffer, @len bytes */
};

void encap_reasm_init(struct encap_reasm *r, uint64_t addr, uint32_t len,
                      uint8_t *buf);

/*
 * Place the data of completion @cpl (already decoded and validated).
 * Checks that the Byte Count equals the bytes still outstanding, that the
 * Lower Address is that of the next expected byte, that the payload covers
 * what the Byte Count and Length say, and the status is SC.
 * Returns 1 when the read is complete, 0 when more completions are due,
 * -ENCAP_E_REASM if the completion does not fit, or -ENCAP_E_FIELD for a
 * non-SC status (the read is over: the caller returns all-ones).
 */
int encap_reasm_feed(struct encap_reasm *r, const struct encap_tlp *cpl);

#endif
