/* SPDX-License-Identifier: MIT */
/*
 * vrc-pcapgen: write a pcap of known vrc frames, built with the encap
 * encoder, one or more per TLP type, for the dissector test and as fuzzing
 * seeds.  Usage: vrc-pcapgen OUT.pcap
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "encap/disc.h"
#include "encap/frame.h"
#include "encap/push.h"
#include "encap/seal.h"
#include "encap/tlp.h"

static const uint8_t vm_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t ep_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
static const struct encap_tlp_limits lim = { .mps = 4096 };
static const uint8_t payload[16] = {
    0x21, 0x40, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44,
    0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
};

static FILE *out;
static unsigned seq;

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = v >> (8 * i);
    }
}

static void write_record(const uint8_t *frame, size_t len)
{
    uint8_t h[16];

    put_le32(h, 1700000000 + seq);      /* ts_sec */
    put_le32(h + 4, 0);                 /* ts_usec */
    put_le32(h + 8, len);               /* incl_len */
    put_le32(h + 12, len);              /* orig_len */
    fwrite(h, 1, 16, out);
    fwrite(frame, 1, len, out);
}

static void header(struct encap_frame_hdr *h, uint8_t type)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->dst, ep_mac, 6);
    memcpy(h->src, vm_mac, 6);
    h->type = type;
    h->flags = type == ENCAP_FRAME_DATA ? ENCAP_F_SEQ | ENCAP_F_ACK : 0;
    h->rc_id = 0x0007;
    h->session = 0xbeef;
    h->epoch = 3;
    h->seq = type == ENCAP_FRAME_DATA ? seq : 0;
    h->ack = 0x100 + seq;
}

static int data_frame(const struct encap_tlp *tlps, int n, bool bad_crc)
{
    uint8_t buf[1514];
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    int len;

    header(&h, ENCAP_FRAME_DATA);
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    for (int i = 0; i < n; i++) {
        int r = encap_frame_add_tlp(&b, &tlps[i], &lim);
        if (r < 0) {
            fprintf(stderr, "vrc-pcapgen: TLP %d: %s\n", i, encap_strerror(r));
            return -1;
        }
    }
    len = encap_frame_finish(&b);
    if (bad_crc) {
        buf[len - 1] ^= 0xff;
    }
    write_record(buf, len);
    seq++;
    return 0;
}

/* @hseq: the header's seq, where a CTRL frame has one (ENCAP_F_DUP). */
static void payload_frame_seq(uint8_t type, uint16_t flags, uint32_t hseq,
                              const uint8_t *p, size_t n)
{
    uint8_t buf[128];
    struct encap_frame_builder b;
    struct encap_frame_hdr h;

    header(&h, type);
    h.flags |= flags;
    if (flags & ENCAP_F_DUP) {
        h.seq = hseq;
    }
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_payload(&b, p, n);
    write_record(buf, encap_frame_finish(&b));
    seq++;
}

static void payload_frame_flags(uint8_t type, uint16_t flags,
                                const uint8_t *p, size_t n)
{
    payload_frame_seq(type, flags, 0, p, n);
}

static void payload_frame(uint8_t type, const uint8_t *p, size_t n)
{
    payload_frame_flags(type, 0, p, n);
}

/*
 * Keyed frames (docs/protocol.md, section 7), under the pre-shared key
 * "vrc-pcapgen example key" and nonces 0x00..0x1f (vrc) and 0x20..0x3f
 * (endpoint): a HELLO, then DATA frame 1's MRd sealed under the
 * session's vrc-to-endpoint key with counter 5.
 */
static int keyed_frames(const struct encap_tlp *tlp)
{
    static const char psk[] = "vrc-pcapgen example key";
    const struct encap_ctrl hello = {
        .op = ENCAP_CTRL_HELLO, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
    };
    struct encap_session_ctx ctx = { .rc_id = 7, .session = 0xbeef, .epoch = 3 };
    struct encap_session_keys k;
    struct encap_frame_builder b;
    struct encap_frame_hdr h;
    struct encap_aead *a;
    uint8_t key[ENCAP_SHA256_LEN], body[ENCAP_HELLO_KEYED_LEN] = { 0 };
    uint8_t ni[ENCAP_NONCE_LEN], nr[ENCAP_NONCE_LEN], buf[256], out[256];
    int len;

    for (int i = 0; i < ENCAP_NONCE_LEN; i++) {
        ni[i] = i;
        nr[i] = 0x20 + i;
    }
    header(&h, ENCAP_FRAME_CTRL);
    encap_ctrl_encode(&hello, body, sizeof(body));
    memcpy(body + ENCAP_CTRL_LEN, ni, sizeof(ni));
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    encap_frame_add_payload(&b, body, sizeof(body));
    len = encap_frame_finish(&b);
    encap_hello_key((const uint8_t *)psk, sizeof(psk) - 1, key);
    encap_hello_sign(buf, len, key, NULL);
    write_record(buf, len);
    seq++;

    memcpy(ctx.initiator_mac, vm_mac, 6);
    memcpy(ctx.responder_mac, ep_mac, 6);
    encap_session_keys((const uint8_t *)psk, sizeof(psk) - 1, ni, nr, &ctx, &k);
    a = encap_aead_new(k.i2r);
    header(&h, ENCAP_FRAME_DATA);
    encap_frame_begin(&b, buf, sizeof(buf), &h);
    if (!a || encap_frame_add_tlp(&b, tlp, &lim) < 0) {
        encap_aead_free(a);
        return -1;
    }
    len = encap_frame_finish(&b);
    len = encap_frame_seal(a, ENCAP_DIR_I2R, 5, buf, len, out, sizeof(out));
    encap_aead_free(a);
    if (len < 0) {
        return -1;
    }
    write_record(out, len);
    seq++;
    return 0;
}

int main(int argc, char **argv)
{
    /* One TLP per frame, in this order (frames 1..13). */
    const struct encap_tlp tlps[] = {
        { .type = ENCAP_TLP_MRD, .len_dw = 1, .requester_id = 0x0100,
          .tag = 0x2a5, .first_be = 0xf, .addr = 0xfebc0010 },
        { .type = ENCAP_TLP_MRD, .addr64 = true, .len_dw = 32, .tc = 3,
          .attr = ENCAP_ATTR_RO, .requester_id = 0x0300, .tag = 0x105,
          .first_be = 0xf, .last_be = 0xf, .addr = 0x123456789abcde00ull },
        { .type = ENCAP_TLP_MWR, .len_dw = 1, .requester_id = 0x0300,
          .first_be = 0xf, .addr = 0xfee00000, .data = payload },
        { .type = ENCAP_TLP_MWR, .addr64 = true, .len_dw = 4, .ep = true,
          .requester_id = 0x0300, .tag = 9, .first_be = 0xe, .last_be = 0x7,
          .addr = 0x100000040ull, .data = payload },
        { .type = ENCAP_TLP_IORD, .len_dw = 1, .requester_id = 0x0010,
          .tag = 1, .first_be = 0x3, .addr = 0xc010 },
        { .type = ENCAP_TLP_IOWR, .len_dw = 1, .requester_id = 0x0010,
          .tag = 2, .first_be = 0xf, .addr = 0xc014, .data = payload },
        { .type = ENCAP_TLP_CFGRD0, .len_dw = 1, .requester_id = 0x0010,
          .tag = 3, .first_be = 0xf, .target_id = 0x0200, .reg = 0x10 },
        { .type = ENCAP_TLP_CFGWR0, .len_dw = 1, .requester_id = 0x0010,
          .tag = 4, .first_be = 0x3, .target_id = 0x0201, .reg = 0x104,
          .data = payload },
        { .type = ENCAP_TLP_CFGRD1, .len_dw = 1, .requester_id = 0x0010,
          .tag = 5, .first_be = 0xf, .target_id = 0x05ff, .reg = 0xffc },
        { .type = ENCAP_TLP_CFGWR1, .len_dw = 1, .requester_id = 0x0010,
          .tag = 6, .first_be = 0xf, .target_id = 0x0300, .data = payload },
        { .type = ENCAP_TLP_CPL, .target_id = 0x0200, .status = ENCAP_CPL_UR,
          .byte_count = 4, .requester_id = 0x0010, .tag = 0x3ff },
        { .type = ENCAP_TLP_CPLD, .len_dw = 2, .target_id = 0x0200,
          .byte_count = 0x123, .requester_id = 0x0008, .tag = 0x2a5,
          .lower_addr = 0x44, .data = payload },
        { .type = ENCAP_TLP_MSG, .requester_id = 0x0300,
          .msg_code = ENCAP_MSG_ASSERT_INTA,
          .msg_routing = ENCAP_MSG_ROUTE_LOCAL },
    };
    const struct encap_ctrl hello = {
        .op = ENCAP_CTRL_HELLO, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
    };
    const struct encap_ctrl ping = { .op = ENCAP_CTRL_PING, .cookie = 0xcafef00d };
    const struct encap_ctrl nak = {
        .op = ENCAP_CTRL_NAK, .max_frame = 1514, .mps = 1024, .mrrs = 4096,
    };
    const struct encap_disc announce = {
        .op = ENCAP_DISC_ANNOUNCE, .vendor_id = 0x8086, .device_id = 0x10d3,
        .class_rev = 0x02000000, .functions = 1, .interval_ms = 1000,
    };
    const struct encap_disc assign = {
        .op = ENCAP_DISC_ASSIGN, .rc_id = 7,
        .owner_mac = { 0x02, 0, 0, 0, 0, 0x0a }, .bdf = 0x0300,
        .generation = 1, .xid = 1,
    };
    uint8_t p[ENCAP_DISC_LEN];
    uint8_t gh[24] = {
        0xd4, 0xc3, 0xb2, 0xa1,     /* magic, microseconds, little-endian */
        0x02, 0x00, 0x04, 0x00,     /* version 2.4 */
        0, 0, 0, 0, 0, 0, 0, 0,     /* thiszone, sigfigs */
        0xff, 0xff, 0x00, 0x00,     /* snaplen 65535 */
        0x01, 0x00, 0x00, 0x00,     /* LINKTYPE_ETHERNET */
    };

    if (argc != 2) {
        fprintf(stderr, "usage: vrc-pcapgen OUT.pcap\n");
        return 2;
    }
    out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fwrite(gh, 1, sizeof(gh), out);
    for (size_t i = 0; i < sizeof(tlps) / sizeof(tlps[0]); i++) {
        if (data_frame(&tlps[i], 1, false) < 0) {
            return 1;
        }
    }
    /* frame 14: three TLPs batched; frame 15: a corrupted CRC */
    if (data_frame(&tlps[0], 3, false) < 0 || data_frame(&tlps[6], 1, true) < 0) {
        return 1;
    }
    /* frames 16..19: CTRL HELLO, CTRL PING, DISC ANNOUNCE, DISC ASSIGN */
    encap_ctrl_encode(&hello, p, sizeof(p));
    payload_frame(ENCAP_FRAME_CTRL, p, ENCAP_CTRL_LEN);
    encap_ctrl_encode(&ping, p, sizeof(p));
    payload_frame(ENCAP_FRAME_CTRL, p, ENCAP_CTRL_LEN);
    encap_disc_encode(&announce, p, sizeof(p));
    payload_frame(ENCAP_FRAME_DISC, p, ENCAP_DISC_LEN);
    encap_disc_encode(&assign, p, sizeof(p));
    payload_frame(ENCAP_FRAME_DISC, p, ENCAP_DISC_LEN);
    /*
     * frame 20: CTRL NAK, ack 0x113 (0x100 + 19), with a selective-ack
     * block of 16 bits: frames 0x114, 0x116 and 0x11f are held.
     */
    encap_ctrl_encode(&nak, p, sizeof(p));
    memcpy(p + ENCAP_CTRL_LEN, (const uint8_t[]){ 0, 16, 0, 0, 0xa0, 0x10 }, 6);
    payload_frame_flags(ENCAP_FRAME_CTRL, ENCAP_F_ACK, p, ENCAP_CTRL_LEN + 6);
    /* frames 21, 22: a keyed HELLO and a sealed DATA frame */
    if (keyed_frames(&tlps[0]) < 0) {
        fprintf(stderr, "vrc-pcapgen: sealing failed\n");
        return 1;
    }
    /* frame 23: the signed ASSIGN of docs/protocol.md 5.4's example */
    {
        static const char psk[] = "vrc-disc example key";
        const uint8_t cfg[6] = { 0x02, 0, 0, 0, 0, 0x0a };
        const uint8_t ep[6] = { 0x02, 0x76, 0x72, 0, 0, 1 };
        const struct encap_disc sa = {
            .op = ENCAP_DISC_ASSIGN, .rc_id = 7,
            .owner_mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
            .bdf = 0x0100, .generation = 5, .xid = 0x11223344,
        };
        struct encap_disc_key dk;
        uint8_t buf[ENCAP_DISC_FRAME_MAX];

        encap_disc_key_init(&dk, (const uint8_t *)psk, sizeof(psk) - 1);
        write_record(buf, encap_disc_frame_signed(ep, cfg, false, &sa, &dk,
                                                  UINT64_C(1700000000000000),
                                                  buf, sizeof(buf)));
        seq++;
    }
    /*
     * frames 24, 25: request credit (docs/protocol.md, 4.1): a HELLO_ACK
     * with feature CREDIT and a credit of 64, an ACK with request limit
     * 0x80000010
     */
    {
        const struct encap_ctrl hello_ack = {
            .op = ENCAP_CTRL_HELLO_ACK, .max_frame = 1514, .mps = 1024,
            .mrrs = 4096, .features = ENCAP_CTRL_F_CREDIT, .credit = 64,
        };
        const struct encap_ctrl ack = {
            .op = ENCAP_CTRL_ACK, .max_frame = 1514, .mps = 1024,
            .mrrs = 4096, .limit = 0x80000010,
        };

        encap_ctrl_encode(&hello_ack, p, sizeof(p));
        payload_frame_flags(ENCAP_FRAME_CTRL, ENCAP_F_RESP, p, ENCAP_CTRL_LEN);
        encap_ctrl_encode(&ack, p, sizeof(p));
        memcpy(p + ENCAP_CTRL_LEN, (const uint8_t[]){ 0, 0, 0, 0 }, 4);
        payload_frame_flags(ENCAP_FRAME_CTRL, ENCAP_F_RESP | ENCAP_F_ACK, p,
                            ENCAP_CTRL_LEN + 4);
    }
    /* frame 26: an ACK that answers a duplicate of DATA frame 1234 */
    {
        const struct encap_ctrl ack = {
            .op = ENCAP_CTRL_ACK, .max_frame = 1514, .mps = 1024,
            .mrrs = 4096,
        };

        encap_ctrl_encode(&ack, p, sizeof(p));
        memcpy(p + ENCAP_CTRL_LEN, (const uint8_t[]){ 0, 0, 0, 0 }, 4);
        payload_frame_seq(ENCAP_FRAME_CTRL,
                          ENCAP_F_RESP | ENCAP_F_ACK | ENCAP_F_DUP, 1234, p,
                          ENCAP_CTRL_LEN + 4);
    }
    /*
     * frame 27: a doorbell's PUSH (encap/push.h): a MsgD Vendor_Defined
     * Type 1 with the ring's index window and a descriptor, ahead of the
     * doorbell MWr it names
     */
    {
        static uint8_t win[256 + 16], pl[ENCAP_PUSH_HDR +
                                         2 * ENCAP_PUSH_RANGE_LEN + 272];
        uint8_t bell[4] = { 0x16 };
        struct encap_push push = {
            .key = 0xfe403818, .writes = 42, .reads = 7, .n = 2,
            .bell_be = 0x0f, .bell_dw = 1, .data = win,
            .r = { { 0x1aec3100, 256 }, { 0x1ff60110, 16 } },
        };
        struct encap_tlp t[2];
        int len;

        for (unsigned i = 0; i < sizeof(win); i++) {
            win[i] = i;
        }
        memcpy(push.bell, bell, sizeof(bell));
        len = encap_push_encode(&push, true, pl, sizeof(pl));
        encap_tlp_vdm(&t[0], 0x0000, ENCAP_MSG_ROUTE_LOCAL, ENCAP_VDM_PUSH,
                      pl, len / 4);
        t[1] = (struct encap_tlp) {
            .type = ENCAP_TLP_MWR, .len_dw = 1, .first_be = 0xf,
            .addr = push.key, .data = bell,
        };
        if (len < 0 || data_frame(t, 2, false) < 0) {
            return 1;
        }
    }
    /*
     * frame 28: a HINT with a chase (encap/push.h), endpoint to vrc: after
     * the doorbell, the transmit ring's windows, and the buffer the
     * descriptor before the tail points at
     */
    {
        static uint8_t pl[ENCAP_PUSH_HDR + 2 * ENCAP_PUSH_RANGE_LEN +
                          ENCAP_PUSH_CHASE_LEN];
        struct encap_push hint = {
            .key = 0xfe403818, .n = 2,
            .r = { { 0x1aec3100, 256 }, { 0x1aec3200, 256 } },
            .chase = { .on = true, .base = 0x1aec30f0, .stride = 16,
                       .small = 64, .len_at = 8, .align = 8 },
        };
        struct encap_tlp t;
        int len = encap_push_encode(&hint, false, pl, sizeof(pl));

        encap_tlp_vdm(&t, 0x0100, ENCAP_MSG_ROUTE_LOCAL, ENCAP_VDM_HINT,
                      pl, len / 4);
        if (len < 0 || data_frame(&t, 1, false) < 0) {
            return 1;
        }
    }
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    printf("%u frames written to %s\n", seq, argv[1]);
    return 0;
}
