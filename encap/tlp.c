/* SPDX-License-Identifier: MIT */
/* encap: PCIe TLP header encode, decode and validation. */
#include <string.h>

#include "encap/tlp.h"
#include "wire.h"

/* Fmt field values (byte 0 bits 7:5). */
enum {
    FMT_3DW = 0,
    FMT_4DW = 1,
    FMT_3DW_DATA = 2,
    FMT_4DW_DATA = 3,
};

/* Header layouts. */
enum layout { L_MEM, L_IO, L_CFG, L_CPL, L_MSG };

/* One row per TLP type: its Type field, layout and whether it has data. */
static const struct tlp_format {
    const char *name;
    uint8_t type;       /* Type[4:0]; Msg: 10rrr with r from msg_routing */
    enum layout layout;
    bool data;
} formats[ENCAP_TLP__COUNT] = {
    [ENCAP_TLP_MRD]    = { "MRd",    0x00, L_MEM, false },
    [ENCAP_TLP_MWR]    = { "MWr",    0x00, L_MEM, true },
    [ENCAP_TLP_IORD]   = { "IORd",   0x02, L_IO,  false },
    [ENCAP_TLP_IOWR]   = { "IOWr",   0x02, L_IO,  true },
    [ENCAP_TLP_CFGRD0] = { "CfgRd0", 0x04, L_CFG, false },
    [ENCAP_TLP_CFGWR0] = { "CfgWr0", 0x04, L_CFG, true },
    [ENCAP_TLP_CFGRD1] = { "CfgRd1", 0x05, L_CFG, false },
    [ENCAP_TLP_CFGWR1] = { "CfgWr1", 0x05, L_CFG, true },
    [ENCAP_TLP_CPL]    = { "Cpl",    0x0a, L_CPL, false },
    [ENCAP_TLP_CPLD]   = { "CplD",   0x0a, L_CPL, true },
    [ENCAP_TLP_MSG]    = { "Msg",    0x10, L_MSG, false },
    [ENCAP_TLP_MSGD]   = { "MsgD",   0x10, L_MSG, true },
};

const char *encap_tlp_type_name(enum encap_tlp_type type)
{
    return (unsigned)type < ENCAP_TLP__COUNT ? formats[type].name : "?";
}

bool encap_tlp_has_data(enum encap_tlp_type type)
{
    return (unsigned)type < ENCAP_TLP__COUNT && formats[type].data;
}

/* Cpl and Msg without data: the Length field is reserved (sent as 0). */
static bool length_reserved(enum encap_tlp_type type)
{
    return type == ENCAP_TLP_CPL || type == ENCAP_TLP_MSG;
}

static bool is_4dw(const struct encap_tlp *t)
{
    enum layout l = formats[t->type].layout;

    return l == L_MSG || (l == L_MEM && t->addr64);
}

size_t encap_tlp_hdr_size(const struct encap_tlp *t)
{
    return is_4dw(t) ? 16 : 12;
}

size_t encap_tlp_size(const struct encap_tlp *t)
{
    return encap_tlp_hdr_size(t) +
           (encap_tlp_has_data(t->type) ? t->len_dw * 4u : 0);
}

/* First DW BE of a request whose enabled bytes end at the DW's last byte. */
static bool be_first_contig(unsigned be)
{
    return be == 0xf || be == 0xe || be == 0xc || be == 0x8;
}

static bool be_last_contig(unsigned be)
{
    return be == 0xf || be == 0x7 || be == 0x3 || be == 0x1;
}

static int check_be(const struct encap_tlp *t)
{
    if (t->first_be > 0xf || t->last_be > 0xf) {
        return -ENCAP_E_FIELD;
    }
    if (t->len_dw == 1) {
        return t->last_be ? -ENCAP_E_BE : 0;
    }
    if (!t->first_be || !t->last_be) {
        return -ENCAP_E_BE;
    }
    /* Non-contiguous enables only in QW-aligned 2 DW requests. */
    if ((t->len_dw >= 3 || (t->addr & 4)) &&
        (!be_first_contig(t->first_be) || !be_last_contig(t->last_be))) {
        return -ENCAP_E_BE;
    }
    return 0;
}

int encap_tlp_check(const struct encap_tlp *t,
                    const struct encap_tlp_limits *lim)
{
    const struct tlp_format *f;

    if ((unsigned)t->type >= ENCAP_TLP__COUNT) {
        return -ENCAP_E_FMT_TYPE;
    }
    f = &formats[t->type];
    if (t->td) {
        return -ENCAP_E_FMT_TYPE;       /* no ECRC support */
    }
    if (length_reserved(t->type)) {
        if (t->len_dw) {
            return -ENCAP_E_LENGTH;
        }
    } else if (t->len_dw < 1 || t->len_dw > 1024) {
        return -ENCAP_E_LENGTH;
    }
    if (t->tc > 7 || t->attr > 7 || t->tag > 1023) {
        return -ENCAP_E_FIELD;
    }
    if (f->data && t->len_dw * 4u > lim->mps) {
        return -ENCAP_E_MPS;
    }

    switch (f->layout) {
    case L_MEM:
        if (t->addr & 3) {
            return -ENCAP_E_ALIGN;
        }
        if (!t->addr64 && t->addr > UINT32_MAX) {
            return -ENCAP_E_FIELD;
        }
        if ((t->addr & 0xfff) + t->len_dw * 4u > 0x1000) {
            return -ENCAP_E_4K;
        }
        return check_be(t);
    case L_IO:
    case L_CFG:
        if (t->len_dw != 1) {
            return -ENCAP_E_LENGTH;
        }
        if (t->tc || t->attr) {
            return -ENCAP_E_FIELD;
        }
        if (f->layout == L_IO) {
            if (t->addr & 3) {
                return -ENCAP_E_ALIGN;
            }
            if (t->addr > UINT32_MAX) {
                return -ENCAP_E_FIELD;
            }
        } else if (t->reg > 4092 || (t->reg & 3)) {
            return -ENCAP_E_FIELD;
        }
        return check_be(t);
    case L_CPL:
        if (t->status != ENCAP_CPL_SC && t->status != ENCAP_CPL_UR &&
            t->status != ENCAP_CPL_CRS && t->status != ENCAP_CPL_CA) {
            return -ENCAP_E_FIELD;
        }
        if (t->byte_count < 1 || t->byte_count > 4096 ||
            t->lower_addr > 0x7f) {
            return -ENCAP_E_FIELD;
        }
        return 0;
    case L_MSG:
        if (t->msg_routing > ENCAP_MSG_ROUTE_GATHER) {
            return -ENCAP_E_FIELD;
        }
        return 0;
    }
    return -ENCAP_E_FMT_TYPE;
}

int encap_tlp_encode(const struct encap_tlp *t,
                     const struct encap_tlp_limits *lim,
                     uint8_t *buf, size_t size)
{
    const struct tlp_format *f;
    size_t hdr, total;
    int r = encap_tlp_check(t, lim);
    uint8_t fmt;

    if (r < 0) {
        return r;
    }
    f = &formats[t->type];
    hdr = encap_tlp_hdr_size(t);
    total = encap_tlp_size(t);
    if (size < total) {
        return -ENCAP_E_NOSPACE;
    }
    fmt = (hdr == 16 ? FMT_4DW : FMT_3DW) | (f->data ? FMT_3DW_DATA : 0);

    /* DW0 */
    buf[0] = fmt << 5 | (f->layout == L_MSG ? f->type | t->msg_routing
                                            : f->type);
    buf[1] = ((t->tag >> 9) & 1) << 7 | (t->tc & 7) << 4 |
             ((t->tag >> 8) & 1) << 3 | ((t->attr >> 2) & 1) << 2 |
             (t->th ? 1 : 0);
    buf[2] = (t->td ? 0x80 : 0) | (t->ep ? 0x40 : 0) | (t->attr & 3) << 4 |
             ((t->len_dw >> 8) & 3);
    buf[3] = t->len_dw & 0xff;

    switch (f->layout) {
    case L_CPL:
        wire_put16(buf + 4, t->target_id);
        buf[6] = t->status << 5 | (t->bcm ? 0x10 : 0) |
                 ((t->byte_count >> 8) & 0xf);
        buf[7] = t->byte_count & 0xff;
        wire_put16(buf + 8, t->requester_id);
        buf[10] = t->tag & 0xff;
        buf[11] = t->lower_addr & 0x7f;
        break;
    default:
        wire_put16(buf + 4, t->requester_id);
        buf[6] = t->tag & 0xff;
        buf[7] = f->layout == L_MSG ? t->msg_code
                                    : (t->last_be << 4 | t->first_be);
        if (f->layout == L_CFG) {
            buf[8] = t->target_id >> 8;
            buf[9] = t->target_id & 0xff;
            buf[10] = (t->reg >> 8) & 0xf;
            buf[11] = t->reg & 0xfc;
        } else if (f->layout == L_MSG) {
            wire_put32(buf + 8, t->msg_hi >> 32);
            wire_put32(buf + 12, (uint32_t)t->msg_hi);
        } else if (hdr == 16) {
            wire_put32(buf + 8, t->addr >> 32);
            wire_put32(buf + 12, (uint32_t)t->addr);
        } else {
            wire_put32(buf + 8, (uint32_t)t->addr);
        }
        break;
    }
    if (f->data) {
        memcpy(buf + hdr, t->data, t->len_dw * 4u);
    }
    return total;
}

/* Map Fmt/Type to our type; -1 if we do not carry it. */
static int classify(uint8_t fmt, uint8_t type)
{
    bool data = fmt & 2;

    if ((type & 0x18) == 0x10) {        /* Msg: 10rrr, 4 DW only */
        if (!(fmt & 1)) {
            return -1;
        }
        return data ? ENCAP_TLP_MSGD : ENCAP_TLP_MSG;
    }
    for (int i = 0; i < ENCAP_TLP__COUNT; i++) {
        const struct tlp_format *f = &formats[i];
        if (f->layout == L_MSG || f->type != type || f->data != data) {
            continue;
        }
        /* Only memory requests may have a 4 DW header. */
        if ((fmt & 1) && f->layout != L_MEM) {
            return -1;
        }
        return i;
    }
    return -1;
}

int encap_tlp_decode(const uint8_t *buf, size_t len,
                     const struct encap_tlp_limits *lim,
                     struct encap_tlp *t)
{
    const struct tlp_format *f;
    uint8_t fmt;
    size_t hdr;
    int type;

    memset(t, 0, sizeof(*t));
    if (len < 12) {
        return -ENCAP_E_SHORT;
    }
    fmt = buf[0] >> 5;
    if (fmt > FMT_4DW_DATA) {
        return -ENCAP_E_FMT_TYPE;       /* TLP prefixes */
    }
    type = classify(fmt, buf[0] & 0x1f);
    if (type < 0) {
        return -ENCAP_E_FMT_TYPE;
    }
    f = &formats[type];
    hdr = (fmt & 1) ? 16 : 12;
    if (len < hdr) {
        return -ENCAP_E_SHORT;
    }

    t->type = type;
    t->tag = (buf[1] >> 7) << 9 | ((buf[1] >> 3) & 1) << 8;
    t->tc = (buf[1] >> 4) & 7;
    t->attr = ((buf[1] >> 2) & 1) << 2 | ((buf[2] >> 4) & 3);
    t->th = buf[1] & 1;
    t->td = buf[2] >> 7;
    t->ep = (buf[2] >> 6) & 1;
    t->len_dw = length_reserved(type) ? 0 : ((buf[2] & 3) << 8 | buf[3]) ?: 1024;

    if (len != hdr + (f->data ? t->len_dw * 4u : 0)) {
        return -ENCAP_E_LENGTH;
    }
    if (t->td) {
        return -ENCAP_E_FMT_TYPE;
    }

    switch (f->layout) {
    case L_CPL:
        t->target_id = wire_get16(buf + 4);
        t->status = buf[6] >> 5;
        t->bcm = (buf[6] >> 4) & 1;
        t->byte_count = ((buf[6] & 0xf) << 8 | buf[7]) ?: 4096;
        t->requester_id = wire_get16(buf + 8);
        t->tag |= buf[10];
        t->lower_addr = buf[11] & 0x7f;
        break;
    case L_MSG:
        t->requester_id = wire_get16(buf + 4);
        t->tag |= buf[6];
        t->msg_code = buf[7];
        t->msg_routing = buf[0] & 7;
        t->msg_hi = (uint64_t)wire_get32(buf + 8) << 32 | wire_get32(buf + 12);
        break;
    default:
        t->requester_id = wire_get16(buf + 4);
        t->tag |= buf[6];
        t->last_be = buf[7] >> 4;
        t->first_be = buf[7] & 0xf;
        if (f->layout == L_CFG) {
            t->target_id = wire_get16(buf + 8);
            t->reg = (buf[10] & 0xf) << 8 | (buf[11] & 0xfc);
            if (buf[11] & 3) {
                return -ENCAP_E_ALIGN;
            }
        } else if (hdr == 16) {
            t->addr64 = true;
            t->addr = (uint64_t)wire_get32(buf + 8) << 32 | wire_get32(buf + 12);
        } else {
            t->addr = wire_get32(buf + 8);
        }
        break;
    }
    if (f->data) {
        t->data = buf + hdr;
    }
    return encap_tlp_check(t, lim);
}

void encap_tlp_vdm(struct encap_tlp *t, uint16_t requester, uint8_t routing,
                   uint32_t code, const void *data, uint16_t len_dw)
{
    memset(t, 0, sizeof(*t));
    t->type = data ? ENCAP_TLP_MSGD : ENCAP_TLP_MSG;
    t->requester_id = requester;
    t->msg_code = ENCAP_MSG_VENDOR_TYPE1;
    t->msg_routing = routing;
    t->msg_hi = (uint64_t)ENCAP_VDM_VENDOR_ID << 32 | code;
    t->data = data;
    t->len_dw = data ? len_dw : 0;
}

uint32_t encap_tlp_vdm_code(const struct encap_tlp *t)
{
    if ((t->type != ENCAP_TLP_MSG && t->type != ENCAP_TLP_MSGD) ||
        t->msg_code != ENCAP_MSG_VENDOR_TYPE1 ||
        (t->msg_hi >> 32 & 0xffff) != ENCAP_VDM_VENDOR_ID) {
        return 0;
    }
    return (uint32_t)t->msg_hi;
}

void encap_tlp_hot_reset(struct encap_tlp *t, uint16_t requester)
{
    encap_tlp_vdm(t, requester, ENCAP_MSG_ROUTE_BCAST, ENCAP_VDM_HOT_RESET,
                  NULL, 0);
}

bool encap_tlp_is_hot_reset(const struct encap_tlp *t)
{
    return t->type == ENCAP_TLP_MSG &&
           encap_tlp_vdm_code(t) == ENCAP_VDM_HOT_RESET;
}

bool encap_tlp_is_request(const uint8_t *buf, size_t len)
{
    /* Type 0101x: Cpl/CplD (01010), CplLk/CplDLk (01011). */
    return len < 1 || (buf[0] & 0x1e) != 0x0a;
}
