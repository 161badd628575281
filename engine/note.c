/* note: checkpoint notes of the event log (see note.h). The text is built
 * in one place so that the CLI and every validator sign the same bytes;
 * a note signed by 2f+1 validators is only as good as their agreeing on
 * them.
 * Invariant: the body is exactly three lines, each ending in '\n', and
 * never longer than CERTA_NOTE_BODY_BYTES - 1. */
#include "note.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "certa/certa.h"

void certa_note_origin(const certa_genesis *g, char out[CERTA_NOTE_ORIGIN_BYTES])
{
    CERTA_ASSERT(g != NULL && out != NULL);
    char name[CERTA_NAME_BYTES];
    size_t k = 0;
    /* the origin is one line of a URL-like name: keep [A-Za-z0-9._-] */
    for (const char *p = g->chain_name; *p != '\0' && k + 1 < sizeof name; p++)
        name[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                   (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
                                   *p == '_'
                               ? *p
                               : '_');
    name[k] = '\0';
    char id[17];
    certa_hex_encode(g->hash, 8, id);
    snprintf(out, CERTA_NOTE_ORIGIN_BYTES, "certa/%s/%s", name, id);
}

void certa_note_key_id(const char *name, const uint8_t pub[CERTA_PUBKEY_BYTES],
                       uint8_t out[4])
{
    certa_sha256_ctx c;
    uint8_t h[CERTA_HASH_BYTES];
    certa_sha256_init(&c);
    certa_sha256_update(&c, name, strlen(name));
    certa_sha256_update(&c, "\n\x01", 2);
    certa_sha256_update(&c, pub, CERTA_PUBKEY_BYTES);
    certa_sha256_final(&c, h);
    memcpy(out, h, 4);
}

size_t certa_note_body(const certa_genesis *g, uint64_t size,
                       const uint8_t root[CERTA_HASH_BYTES],
                       char out[CERTA_NOTE_BODY_BYTES])
{
    char origin[CERTA_NOTE_ORIGIN_BYTES], root64[48];
    certa_note_origin(g, origin);
    int rl = EVP_EncodeBlock((unsigned char *)root64, root, CERTA_HASH_BYTES);
    CERTA_ASSERT(rl == 44);
    int n = snprintf(out, CERTA_NOTE_BODY_BYTES, "%s\n%llu\n%s\n", origin,
                     (unsigned long long)size, root64);
    CERTA_ASSERT(n > 0 && (size_t)n < CERTA_NOTE_BODY_BYTES);
    return (size_t)n;
}

size_t certa_note_sign_line(const certa_key *key, const uint8_t pub[CERTA_PUBKEY_BYTES],
                            const char *name, const char *body, size_t len,
                            char out[CERTA_NOTE_SIG_LINE_BYTES], certa_errinfo *ei)
{
    CERTA_ASSERT(key != NULL && name != NULL && body != NULL && out != NULL);
    CERTA_ASSERT(strlen(name) < CERTA_NAME_BYTES);
    uint8_t blob[4 + CERTA_SIGNATURE_BYTES];
    certa_note_key_id(name, pub, blob);
    if (certa_sign(key, (const uint8_t *)body, len, blob + 4, ei) != CERTA_OK)
        return 0;
    char sig64[96];
    int sl = EVP_EncodeBlock((unsigned char *)sig64, blob, (int)sizeof blob);
    CERTA_ASSERT(sl == 92);
    /* "—" is U+2014, three bytes in UTF-8 */
    int n = snprintf(out, CERTA_NOTE_SIG_LINE_BYTES, "\xe2\x80\x94 %s %s\n", name, sig64);
    CERTA_ASSERT(n > 0 && (size_t)n < CERTA_NOTE_SIG_LINE_BYTES);
    return (size_t)n;
}
