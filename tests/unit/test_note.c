/* Checkpoint notes (engine/note.c): the text every validator and the CLI
 * sign, and a signature line that the note parser (tools/checkpoint_note.c)
 * reads back and Ed25519 verifies under the signer's key, with the
 * signed-note key id. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "checkpoint_note.h"
#include "note.h"

static certa_genesis g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
    strcpy(g.chain_name, "beijing e-licence/test");
    for (int i = 0; i < 32; i++)
        g.hash[i] = (uint8_t)(0xa0 + i);
}

TestSuite(note, .init = setup);

Test(note, body_is_three_lines)
{
    uint8_t root[32];
    memset(root, 0, sizeof root);
    char body[CERTA_NOTE_BODY_BYTES];
    size_t n = certa_note_body(&g, 89, root, body);
    /* the origin keeps [A-Za-z0-9._-]: the space and the slash become _ */
    const char *want = "certa/beijing_e-licence_test/a0a1a2a3a4a5a6a7\n89\n"
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    cr_assert_str_eq(body, want);
    cr_assert_eq(n, strlen(want));
    /* the largest size still fits */
    n = certa_note_body(&g, UINT64_MAX, root, body);
    cr_assert_eq(n, strlen(body));
    cr_assert(strstr(body, "\n18446744073709551615\n") != NULL);
}

Test(note, signature_line_verifies)
{
    certa_key *k = NULL;
    cr_assert_eq(certa_key_generate(&k, NULL), CERTA_OK);
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(k, pub);
    uint8_t root[32];
    for (int i = 0; i < 32; i++)
        root[i] = (uint8_t)i;
    char body[CERTA_NOTE_BODY_BYTES], line[CERTA_NOTE_SIG_LINE_BYTES];
    size_t bl = certa_note_body(&g, 1234, root, body);
    size_t ll = certa_note_sign_line(k, pub, "node2", body, bl, line, NULL);
    cr_assert_gt(ll, 0);
    cr_assert_eq(ll, strlen(line));
    cr_assert_eq(memcmp(line, "\xe2\x80\x94 node2 ", 10), 0);
    cr_assert_eq(line[ll - 1], '\n');

    char note[512];
    snprintf(note, sizeof note, "%s\n%s", body, line);
    static certa_note n;
    char err[128];
    cr_assert(certa_note_parse(note, strlen(note), &n, err, sizeof err), "%s", err);
    cr_assert_eq(n.size, 1234);
    cr_assert_eq(memcmp(n.root, root, 32), 0);
    cr_assert_eq(n.nsigs, 1);
    cr_assert_str_eq(n.sigs[0].name, "node2");
    uint8_t blob[4 + CERTA_SIGNATURE_BYTES], kid[4];
    cr_assert(certa_note_unb64(n.sigs[0].b64, strlen(n.sigs[0].b64), blob, sizeof blob));
    certa_note_key_id("node2", pub, kid);
    cr_assert_eq(memcmp(blob, kid, 4), 0);
    certa_pubkey *vk = NULL;
    cr_assert_eq(certa_pubkey_from_raw(pub, &vk, NULL), CERTA_OK);
    cr_assert(certa_verify(vk, (const uint8_t *)n.text, n.text_len, blob + 4));
    /* another size is another text: the signature does not carry over */
    char other[CERTA_NOTE_BODY_BYTES];
    size_t ol = certa_note_body(&g, 1235, root, other);
    cr_assert(!certa_verify(vk, (const uint8_t *)other, ol, blob + 4));
    certa_pubkey_free(vk);
    certa_key_free(k);
}
