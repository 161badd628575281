/* note: the event log's checkpoints as C2SP tlog-checkpoint notes in the
 * signed-note format (docs/PROTOCOL.md "Checkpoints"): their text and one
 * signer's line. What `certa merkle checkpoint sign` prints and what a
 * validator signs by itself at every checkpoint height are built here, so
 * that both sign the same bytes. Pure: no I/O.
 *
 *   <origin>\n<log size, decimal>\n<root, base64>\n
 *   \n
 *   — <signer name> <base64(key id (4) || Ed25519 signature (64))>\n
 */
#ifndef CERTA_NOTE_H
#define CERTA_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "certa/crypto.h"
#include "certa/error.h"
#include "certa/genesis.h"

#define CERTA_NOTE_ORIGIN_BYTES 160
/* origin (< 160), a 20-digit size, a 44-character root, three newlines */
#define CERTA_NOTE_BODY_BYTES 240
/* "— " (4 bytes), a name, a space, 92 characters of base64, a newline */
#define CERTA_NOTE_SIG_LINE_BYTES (4 + CERTA_NAME_BYTES + 1 + 92 + 2)

/* The origin line (no newline): "certa/" + chain_name (characters other
 * than [A-Za-z0-9._-] written '_') + "/" + the first 8 bytes of the chain
 * id in hex. */
void certa_note_origin(const certa_genesis *g, char out[CERTA_NOTE_ORIGIN_BYTES]);

/* The signed-note key id of an Ed25519 signer: the first 4 bytes of
 * SHA-256(name || "\n" || 0x01 || public key). */
void certa_note_key_id(const char *name, const uint8_t pub[CERTA_PUBKEY_BYTES],
                       uint8_t out[4]);

/* The checkpoint's text (the signed part: three lines, each with its
 * newline) for a log of size leaves with root; returns its length. */
size_t certa_note_body(const certa_genesis *g, uint64_t size,
                       const uint8_t root[CERTA_HASH_BYTES],
                       char out[CERTA_NOTE_BODY_BYTES]);

/* Signs body (len bytes) as signer name with key (whose public half is
 * pub) and writes the signature line, newline included, NUL-terminated;
 * returns its length, 0 on a signing failure (ei says why). */
size_t certa_note_sign_line(const certa_key *key, const uint8_t pub[CERTA_PUBKEY_BYTES],
                            const char *name, const char *body, size_t len,
                            char out[CERTA_NOTE_SIG_LINE_BYTES], certa_errinfo *ei);

#endif
