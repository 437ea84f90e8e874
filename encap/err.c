/* SPDX-License-Identifier: MIT */
/* encap: names of error codes. */
#include "encap/err.h"

static const char *const err_names[ENCAP_E__COUNT] = {
    [ENCAP_OK] = "ok",
    [ENCAP_E_SHORT] = "short",
    [ENCAP_E_FMT_TYPE] = "fmt-type",
    [ENCAP_E_LENGTH] = "length",
    [ENCAP_E_4K] = "4k-cross",
    [ENCAP_E_BE] = "byte-enables",
    [ENCAP_E_MPS] = "mps",
    [ENCAP_E_ALIGN] = "align",
    [ENCAP_E_FIELD] = "field",
    [ENCAP_E_NOSPACE] = "nospace",
    [ENCAP_E_VERSION] = "version",
    [ENCAP_E_ETHERTYPE] = "ethertype",
    [ENCAP_E_CRC] = "crc",
    [ENCAP_E_FRAME_TYPE] = "frame-type",
    [ENCAP_E_RECORD] = "record",
    [ENCAP_E_REASM] = "reasm",
    [ENCAP_E_DISC_OP] = "disc-op",
    [ENCAP_E_DISC_FN] = "disc-function",
    [ENCAP_E_DISC_OWNER] = "disc-owner",
    [ENCAP_E_DISC_GEN] = "disc-generation",
    [ENCAP_E_DISC_INTERVAL] = "disc-interval",
    [ENCAP_E_DISC_BAR] = "disc-bar",
    [ENCAP_E_DISC_AUTH] = "disc-auth",
    [ENCAP_E_AUTH] = "auth",
    [ENCAP_E_REPLAY] = "replay",
    [ENCAP_E_KEY] = "key-mismatch",
    [ENCAP_E_CREDIT] = "credit",
};

const char *encap_strerror(int err)
{
    if (err < 0) {
        err = -err;
    }
    if (err >= ENCAP_E__COUNT || !err_names[err]) {
        return "unknown";
    }
    return err_names[err];
}
