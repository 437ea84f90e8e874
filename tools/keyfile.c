/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "encap/crypto.h"
#include "encap/seal.h"
#include "keyfile.h"

int keyfile_disc_key(const char *prog, const char *path,
                     struct encap_disc_key *key)
{
    char text[1024];
    uint8_t psk[ENCAP_PSK_MAX];
    FILE *f = fopen(path, "rb");
    size_t len;
    int n;

    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    n = encap_psk_from_base64(text, len, psk, sizeof(psk));
    encap_wipe(text, sizeof(text));
    if (n < 0) {
        fprintf(stderr, "%s: %s: not a key of %d to %d bytes in base64\n",
                prog, path, ENCAP_PSK_MIN, ENCAP_PSK_MAX);
        return -1;
    }
    encap_disc_key_init(key, psk, n);
    encap_wipe(psk, sizeof(psk));
    return 0;
}
