/* SPDX-License-Identifier: MIT */
/* encap (private): frame parsing shared by frame.c and seal.c. */
#ifndef ENCAP_FRAME_INT_H
#define ENCAP_FRAME_INT_H

#include <stdbool.h>

#include "encap/frame.h"

/*
 * encap_frame_parse(), with the CRC check optional: a frame just opened
 * (encap_frame_open) was checked as a whole, tag and CRC, before.
 */
int frame_parse(const uint8_t *buf, size_t len, struct encap_frame_view *v,
                bool check_crc);

#endif
