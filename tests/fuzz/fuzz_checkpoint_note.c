/* Fuzz target: the checkpoint note parser (tools/checkpoint_note.c), which
 * reads validators' and witnesses' signed notes. It never crashes or reads
 * past its input; an accepted note has a non-empty origin, 1..64 signature
 * lines, and written back (text, blank line, "— NAME B64" lines) parses to
 * the same fields. The same bytes read as a tlog-tiles entry bundle
 * (certa_bundle_next) give leaves that lie inside the input, one after
 * another, and stop at its end or where a leaf is cut short. Read as a
 * witness's add-checkpoint request (certa_witness_request_parse), they
 * give at most 63 proof hashes and a note, or a reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    size_t pos = 0, leaf_len, count = 0;
    const uint8_t *leaf;
    while (certa_bundle_next(data, size, &pos, &leaf, &leaf_len)) {
        CERTA_ASSERT(leaf == data + pos - leaf_len && pos <= size && leaf_len <= 65535);
        count++;
    }
    CERTA_ASSERT(pos <= size && (pos == size || size - pos < 2 ||
                                 ((size_t)data[pos] << 8 | data[pos + 1]) > size - pos - 2));
    CERTA_ASSERT(count <= size / 2);
    static certa_note a, b;
    char err[256];
    static uint8_t proof[CERTA_WITNESS_PROOF_MAX][32];
    size_t nproof = 99;
    uint64_t old;
    err[0] = '\0';
    if (certa_witness_request_parse((const char *)data, size, &old, proof, &nproof, &a, err,
                                    sizeof err))
        CERTA_ASSERT(nproof <= CERTA_WITNESS_PROOF_MAX && a.nsigs >= 1);
    else
        CERTA_ASSERT(err[0] != '\0');
    if (!certa_note_parse((const char *)data, size, &a, err, sizeof err)) {
        CERTA_ASSERT(err[0] != '\0');
        return 0;
    }
    CERTA_ASSERT(a.origin[0] != '\0' && a.nsigs >= 1 && a.nsigs <= CERTA_NOTE_SIGS_MAX);
    CERTA_ASSERT(a.text_len < sizeof a.text && a.text[a.text_len] == '\0');
    static char out[CERTA_NOTE_TEXT_MAX + 1 + CERTA_NOTE_SIGS_MAX * (2 * CERTA_NOTE_LINE_MAX)];
    size_t n = 0;
    memcpy(out, a.text, a.text_len), n += a.text_len;
    out[n++] = '\n';
    for (uint32_t i = 0; i < a.nsigs; i++) {
        int k = snprintf(out + n, sizeof out - n, "%s %s %s\n", CERTA_NOTE_DASH, a.sigs[i].name,
                         a.sigs[i].b64);
        CERTA_ASSERT(k > 0 && (size_t)k < sizeof out - n);
        n += (size_t)k;
    }
    CERTA_ASSERT(certa_note_parse(out, n, &b, err, sizeof err));
    CERTA_ASSERT(b.size == a.size && b.nsigs == a.nsigs && b.text_len == a.text_len &&
                 memcmp(b.root, a.root, 32) == 0 && strcmp(b.origin, a.origin) == 0 &&
                 memcmp(b.text, a.text, a.text_len) == 0);
    for (uint32_t i = 0; i < a.nsigs; i++)
        CERTA_ASSERT(strcmp(a.sigs[i].name, b.sigs[i].name) == 0 &&
                     strcmp(a.sigs[i].b64, b.sigs[i].b64) == 0);
    return 0;
}
