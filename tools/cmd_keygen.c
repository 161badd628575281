/* certa keygen: writes a new Ed25519 private key as PEM with mode 0600 and
 * prints its public key in hex (what genesis.json records). */
#include <string.h>

#include "certa/crypto.h"
#include "cli.h"

static const char usage[] =
    "usage: certa keygen --out FILE\n\n"
    "Generates an Ed25519 key, writes it to FILE as PEM (PKCS#8) with mode\n"
    "0600 and prints the public key in hex. FILE must not exist.\n";

int certa_cmd_keygen(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else
            return certa_usage_error("keygen", "unexpected argument '%s'", argv[i]);
    }
    if (out == NULL)
        return certa_usage_error("keygen", "--out FILE is required");

    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_key *k = NULL;
    if (certa_key_generate(&k, &ei) != CERTA_OK ||
        certa_key_save_pem(k, out, &ei) != CERTA_OK) {
        certa_key_free(k);
        return certa_fail("keygen", "%s", certa_errmsg(&ei));
    }
    uint8_t pub[CERTA_PUBKEY_BYTES];
    char hex[2 * CERTA_PUBKEY_BYTES + 1];
    certa_key_public(k, pub);
    certa_hex_encode(pub, sizeof pub, hex);
    printf("%s\n", hex);
    certa_key_free(k);
    return CERTA_EXIT_OK;
}
