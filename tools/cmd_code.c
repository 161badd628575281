/* certa code: the values an app and a counter system compute for the code
 * and QR methods (docs/OPERATIONS.md "Codes and QR"), so that an integrator
 * can check its own implementation: a fresh secret, the grant's commitment
 * and the redeem's sealed proof. Nothing here talks to a validator. */
#include <openssl/rand.h>
#include <string.h>

#include "certa/codec.h"
#include "cli.h"

static const char usage[] =
    "usage: certa code new [--qr]\n"
    "       certa code commit --salt HEX [--code DIGITS] [--rules 1|2]\n"
    "       certa code proof --salt HEX [--code DIGITS]\n\n"
    "The code and QR methods' values (docs/OPERATIONS.md \"Codes and QR\"):\n"
    "  new     a fresh 16-byte salt (with --qr: a signing pad's challenge)\n"
    "          and, without --qr, an 8-digit code; prints them with the\n"
    "          grant's code_commit and the redeem's code_proof as JSON\n"
    "  commit  the grant's code_commit: rules 2 (the default)\n"
    "          SHA-256(SHA-256(salt || code)), rules 1 SHA-256(salt || code)\n"
    "  proof   the sealed redeem's code_proof, SHA-256(salt || code)\n\n"
    "  --salt HEX     32 hex digits (the holder's salt, or the pad's challenge)\n"
    "  --code DIGITS  exactly 8 digits; absent for a QR grant (8 zero bytes)\n"
    "  --rules N      the chain's rules version for commit (1 or 2)\n\n"
    "The salt stays in the holder's app until the moment of use: whoever\n"
    "holds it can search the 10^8 codes against the commitment.\n";

static void hex_line(const uint8_t *p, size_t n)
{
    char hex[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(p, n, hex);
    printf("%s\n", hex);
}

static int cmd_new(bool qr)
{
    uint8_t salt[CERTA_SALT_BYTES], r[4];
    char code[CERTA_CODE_DIGITS + 1] = {0};
    if (RAND_bytes(salt, sizeof salt) != 1)
        return certa_fail("code", "the random source failed");
    if (!qr) {
        /* uniform over 10^8: reject the top of the u32 range */
        uint32_t v;
        do {
            if (RAND_bytes(r, sizeof r) != 1)
                return certa_fail("code", "the random source failed");
            memcpy(&v, r, sizeof v);
        } while (v >= 4200000000u);
        snprintf(code, sizeof code, "%08u", v % 100000000u);
    }
    uint8_t commit[CERTA_HASH_BYTES], proof[CERTA_HASH_BYTES];
    certa_code_commit_sealed(salt, code, commit);
    certa_code_proof(salt, code, proof);
    char s_hex[2 * CERTA_SALT_BYTES + 1], c_hex[2 * CERTA_HASH_BYTES + 1],
        p_hex[2 * CERTA_HASH_BYTES + 1];
    certa_hex_encode(salt, sizeof salt, s_hex);
    certa_hex_encode(commit, sizeof commit, c_hex);
    certa_hex_encode(proof, sizeof proof, p_hex);
    if (qr)
        printf("{\"method\":\"qr\",\"challenge\":\"%s\",\"code_commit\":\"%s\","
               "\"code_proof\":\"%s\"}\n", s_hex, c_hex, p_hex);
    else
        printf("{\"method\":\"code\",\"salt\":\"%s\",\"code\":\"%s\",\"code_commit\":\"%s\","
               "\"code_proof\":\"%s\"}\n", s_hex, code, c_hex, p_hex);
    return CERTA_EXIT_OK;
}

int certa_cmd_code(int argc, char **argv)
{
    if (certa_wants_help(argc, argv) || argc < 2) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CERTA_EXIT_USAGE : CERTA_EXIT_OK;
    }
    const char *op = argv[1];
    bool qr = false;
    const char *salt_hex = NULL, *code_s = NULL;
    unsigned long long rules = 2;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--qr") == 0)
            qr = true;
        else if (strcmp(argv[i], "--salt") == 0 && i + 1 < argc)
            salt_hex = argv[++i];
        else if (strcmp(argv[i], "--code") == 0 && i + 1 < argc)
            code_s = argv[++i];
        else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 2, &rules) != 0)
                return certa_usage_error("code", "--rules: expected 1 or 2, got '%s'", argv[i]);
        } else
            return certa_usage_error("code", "unexpected argument '%s'", argv[i]);
    }
    if (strcmp(op, "new") == 0) {
        if (salt_hex != NULL || code_s != NULL)
            return certa_usage_error("code", "new makes its own salt and code");
        return cmd_new(qr);
    }
    if (strcmp(op, "commit") != 0 && strcmp(op, "proof") != 0)
        return certa_usage_error("code", "unknown operation '%s' (new, commit or proof)", op);
    if (qr)
        return certa_usage_error("code", "--qr goes with new; for a QR grant omit --code");
    uint8_t salt[CERTA_SALT_BYTES];
    if (salt_hex == NULL)
        return certa_usage_error("code", "--salt HEX is required");
    if (strlen(salt_hex) != 2 * CERTA_SALT_BYTES ||
        certa_hex_decode(salt_hex, salt, sizeof salt) != CERTA_OK)
        return certa_usage_error("code", "--salt: expected 32 hex digits");
    char code[CERTA_CODE_DIGITS] = {0};
    if (code_s != NULL) {
        bool ok = strlen(code_s) == CERTA_CODE_DIGITS;
        for (int i = 0; ok && i < CERTA_CODE_DIGITS; i++)
            ok = code_s[i] >= '0' && code_s[i] <= '9';
        if (!ok)
            return certa_usage_error("code", "--code: expected exactly 8 digits, got '%s'",
                                     code_s);
        memcpy(code, code_s, CERTA_CODE_DIGITS);
    }
    uint8_t out[CERTA_HASH_BYTES];
    if (strcmp(op, "proof") == 0)
        certa_code_proof(salt, code, out);
    else if (rules == 2)
        certa_code_commit_sealed(salt, code, out);
    else
        certa_code_commit(salt, code, out);
    hex_line(out, sizeof out);
    return CERTA_EXIT_OK;
}
