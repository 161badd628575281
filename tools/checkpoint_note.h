/* checkpoint_note: parsing of C2SP tlog-checkpoint notes in the signed-note
 * format (docs/PROTOCOL.md "Checkpoints"), the input `certa merkle
 * checkpoint verify` takes from validators and witnesses. Pure: no I/O. */
#ifndef CERTA_CHECKPOINT_NOTE_H
#define CERTA_CHECKPOINT_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certa/genesis.h"

#define CERTA_NOTE_SIGS_MAX 64
#define CERTA_NOTE_TEXT_MAX 512
#define CERTA_NOTE_LINE_MAX 256
/* "—" (U+2014) and a space begin every signature line */
#define CERTA_NOTE_DASH "\xe2\x80\x94"

typedef struct certa_note {
    char text[CERTA_NOTE_TEXT_MAX]; /* the signed part, NUL-terminated */
    size_t text_len;
    char origin[CERTA_NOTE_LINE_MAX];
    uint64_t size;
    uint8_t root[32];
    struct {
        char name[CERTA_NAME_BYTES];
        char b64[CERTA_NOTE_LINE_MAX]; /* base64(key id || signature) */
    } sigs[CERTA_NOTE_SIGS_MAX];
    uint32_t nsigs;
} certa_note;

/* Parses len bytes (no NUL needed): three text lines (origin, decimal
 * size without sign or leading zero, base64 root of 32 bytes), a blank
 * line, then one or more "— NAME BASE64" lines, each ending in a newline.
 * False with err naming the line otherwise. */
bool certa_note_parse(const char *buf, size_t len, certa_note *n, char *err, size_t errlen);

/* Decodes standard base64 of exactly want (<= 76: a cosignature) bytes. */
bool certa_note_unb64(const char *in, size_t len, uint8_t *out, size_t want);

#define CERTA_WITNESS_PROOF_MAX 63 /* consistency proof lines (tlog-witness) */

/* Parses a tlog-witness add-checkpoint body: "old N\n", up to 63 lines of
 * base64 hashes, a blank line, then a checkpoint note (into n). False with
 * why naming the fault. */
bool certa_witness_request_parse(const char *body, size_t len, uint64_t *old,
                                 uint8_t proof[][32], size_t *nproof, certa_note *n,
                                 char *why, size_t why_len);

/* A tile's index N as tlog-tiles writes it in paths: elements of three
 * digits, all but the last prefixed with "x" (1234067: "x001/x234/067";
 * 5: "005"). At most 28 bytes with the NUL. */
void certa_tile_index_path(uint64_t n, char *out, size_t cap);

/* The next leaf of a C2SP tlog-tiles entry bundle (each leaf a big-endian
 * u16 length, then its bytes) at *pos: true with *leaf, *len and *pos
 * advanced past it; false at the end (*pos == blen) or where the bundle is
 * cut short (*pos < blen, left where the bad leaf starts). */
bool certa_bundle_next(const uint8_t *b, size_t blen, size_t *pos, const uint8_t **leaf,
                       size_t *len);

#endif
