/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<name>/):
 * a few small valid inputs of each format. Not part of the build; run from
 * the repository root after a build:
 *   cc -std=c17 -D_GNU_SOURCE -Iinclude -Iengine tests/fuzz/gen_seeds.c build/libcerta_engine.a \
 *      -lcrypto -ljansson -o /tmp/gen_seeds && /tmp/gen_seeds tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/sample_events.h"
#include "certa/block.h"
#include "certa/codec.h"
#include "certa/crypto.h"
#include "certa/merkle.h"
#include "certa/receipt.h"
#include "event_json.h" /* engine-private: the json_t form */

static void put(const char *dir, const char *sub, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ev as NAME.bin (binary) and NAME.json (as a counter system's). */
static void put_event(const char *dir, const char *name, const certa_event *ev)
{
    uint8_t buf[CERTA_EVENT_BYTES_MAX];
    size_t n = 0;
    char file[64];
    if (certa_event_encode(ev, buf, sizeof buf, &n, NULL) != CERTA_OK)
        exit(1);
    snprintf(file, sizeof file, "%s.bin", name);
    put(dir, "event", file, buf, n);
    json_t *o = certa_event_to_json(ev, "dongcheng-counter");
    char *text = json_dumps(o, JSON_COMPACT);
    snprintf(file, sizeof file, "%s.json", name);
    put(dir, "json_event", file, text, strlen(text));
    free(text);
    json_decref(o);
}

static const unsigned kinds[] = {CERTA_EV_GRANT, CERTA_EV_REDEEM, CERTA_EV_CONFIRM,
                                 CERTA_EV_SIGN,  CERTA_EV_PHOTO,  CERTA_EV_REVOKE};

static size_t batch(uint8_t *buf, size_t cap, unsigned count, const certa_key *k, uint64_t seq)
{
    certa_batch_builder bb;
    certa_batch_begin(&bb, buf, cap, 1, seq);
    for (unsigned i = 0; i < count; i++) {
        certa_event ev = sample_event(kinds[i % 6], (uint8_t)i, 1 + i % 3);
        if (certa_batch_add(&bb, &ev, NULL) != CERTA_OK)
            exit(1);
    }
    if (certa_batch_sign(&bb, k, NULL) != CERTA_OK)
        exit(1);
    return bb.len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char name[64];
    uint8_t buf[CERTA_EVENT_BYTES_MAX];

    for (unsigned i = 0; i < 6; i++) {
        certa_event ev = sample_event(kinds[i], (uint8_t)i, i == 1 ? 2 : 0);
        size_t n = 0;
        if (certa_event_encode(&ev, buf, sizeof buf, &n, NULL) != CERTA_OK)
            return 1;
        snprintf(name, sizeof name, "%s.bin", certa_event_kind_name(kinds[i]));
        put(dir, "event", name, buf, n);
        json_t *o = certa_event_to_json(&ev, i == 1 ? "dongcheng-counter" : NULL);
        char *text = json_dumps(o, JSON_COMPACT);
        snprintf(name, sizeof name, "%s.json", certa_event_kind_name(kinds[i]));
        put(dir, "json_event", name, text, strlen(text));
        free(text);
        json_decref(o);
    }
    certa_event ev = sample_event(CERTA_EV_REDEEM, 9, CERTA_REDEEM_LICENCES_MAX);
    size_t n = 0;
    certa_event_encode(&ev, buf, sizeof buf, &n, NULL);
    put(dir, "event", "redeem16.bin", buf, n);
    /* a sealed redeem (rules 2): the proof after the licences */
    ev = sample_event(CERTA_EV_REDEEM, 6, 2);
    memset(ev.code, 0, sizeof ev.code);
    memset(ev.salt, 0, sizeof ev.salt);
    certa_code_proof((const uint8_t *)"0123456789abcdef", "12345678", ev.code_proof);
    put_event(dir, "redeem_sealed", &ev);
    /* evidence naming its redeem: the 60-byte form */
    ev = sample_event(CERTA_EV_SIGN, 4, 0);
    ev.redeem = 2;
    put_event(dir, "sign_bound", &ev);
    const char *jsonl = "{\"kind\":\"tick\",\"time_ms\":1710000000500}\n\n"
                        "{\"kind\":\"revoke\",\"grant_id\":\"0f1e2d3c4b5a69788796a5b4c3d2e1f0\","
                        "\"holder_id\":\"9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1"
                        "e430635ab\"}\n";
    put(dir, "json_event", "lines.jsonl", jsonl, strlen(jsonl));

    uint8_t seed[32] = {7};
    certa_key *k = NULL;
    if (certa_key_from_seed(seed, &k, NULL) != CERTA_OK)
        return 1;
    static uint8_t b1[8192], b2[8192], blk[20000];
    size_t n1 = batch(b1, sizeof b1, 1, k, 1);
    size_t n2 = batch(b2, sizeof b2, 6, k, 2);
    put(dir, "batch", "one.bin", b1, n1);
    put(dir, "batch", "six.bin", b2, n2);

    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = 5;
    h.view = 1;
    h.timestamp_ms = 1710000000000ull;
    h.proposer = 1;
    sample_fill(h.prev_hash, 32, 1);
    sample_fill(h.events_root, 32, 2);
    certa_header_encode(&h, blk);
    put(dir, "header", "header.bin", blk, CERTA_HEADER_BYTES);
    h.batch_count = 2;
    h.event_count = 7;
    certa_header_encode(&h, blk);
    size_t end = certa_block_put_batch(blk, sizeof blk, CERTA_HEADER_BYTES, b1, n1);
    end = certa_block_put_batch(blk, sizeof blk, end, b2, n2);
    put(dir, "header", "block.bin", blk, end);

    /* committed block records: the two batches under a 3-signature
     * certificate, and a null block with one signature */
    certa_block_batch items[2] = {{1, 1, b1, n1}, {1, 2, b2, n2}};
    certa_commit_sig sigs[3];
    memset(sigs, 0, sizeof sigs);
    for (uint16_t i = 0; i < 3; i++) {
        sigs[i].validator = (uint16_t)(2 * i);
        sample_fill(sigs[i].sig, CERTA_SIGNATURE_BYTES, (uint8_t)(7 + i));
    }
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    if (certa_block_build(&h, 1, items, 2, sigs, 3, &rec, &rec_len, NULL) != CERTA_OK)
        return 1;
    put(dir, "block", "two-batches.bin", rec, rec_len);
    free(rec);
    h.batch_count = h.event_count = 0;
    if (certa_block_build(&h, 2, NULL, 0, sigs, 1, &rec, &rec_len, NULL) != CERTA_OK)
        return 1;
    put(dir, "block", "null-block.bin", rec, rec_len);
    free(rec);

    /* batch receipts: leaves 2..4 of a 7-event block, plain (version 2)
     * and with a result proof (version 3); the hashes need not verify */
    uint8_t lh[7][CERTA_HASH_BYTES];
    for (unsigned i = 0; i < 7; i++)
        sample_fill(lh[i], CERTA_HASH_BYTES, (uint8_t)(40 + i));
    certa_merkle_tree *t = NULL;
    if (certa_merkle_tree_build(NULL, lh[0], 7, &t, NULL) != CERTA_OK)
        return 1;
    h.batch_count = 2;
    h.event_count = 7;
    uint8_t hdr[CERTA_HEADER_BYTES];
    certa_header_encode(&h, hdr);
    static certa_commit_cert cert;
    cert.view = 1;
    cert.height = h.height;
    cert.count = 3;
    memcpy(cert.sigs, sigs, sizeof sigs);
    static uint8_t paths[3][CERTA_MERKLE_PATH_MAX][CERTA_HASH_BYTES];
    static uint8_t evs[3][CERTA_EVENT_BYTES_MAX];
    certa_receipt_entry en[3];
    for (unsigned i = 0; i < 3; i++) {
        size_t pl = 0, el = 0;
        certa_event e = sample_event(kinds[i], (uint8_t)i, 1);
        if (certa_merkle_tree_inclusion(t, 2 + i, paths[i], &pl, NULL) != CERTA_OK ||
            certa_event_encode(&e, evs[i], sizeof evs[i], &el, NULL) != CERTA_OK)
            return 1;
        en[i] = (certa_receipt_entry){
            .leaf_index = 2 + i, .result = i == 1 ? 11 : 0,
            .reason = i == 1 ? "code_mismatch" : NULL, .event = evs[i], .event_len = el,
            .path = (const uint8_t(*)[CERTA_HASH_BYTES])paths[i], .path_len = pl,
            .result_path = (const uint8_t(*)[CERTA_HASH_BYTES])paths[i], .result_path_len = pl};
    }
    certa_merkle_tree_free(t);
    h.height += CERTA_RESULTS_LAG_BLOCKS;
    uint8_t later[CERTA_HEADER_BYTES];
    certa_header_encode(&h, later);
    static certa_commit_cert later_cert;
    later_cert = cert;
    later_cert.height = h.height;
    certa_receipt_results rp = {later, &later_cert};
    size_t len = 0;
    if (certa_receipt_batch_encode(1, 2, hdr, &cert, en, 3, blk, sizeof blk, &len, NULL) !=
        CERTA_OK)
        return 1;
    put(dir, "receipt", "v2-three.bin", blk, len);
    if (certa_receipt_batch_encode_results(1, 2, hdr, &cert, en, 3, &rp, blk, sizeof blk, &len,
                                           NULL) != CERTA_OK)
        return 1;
    put(dir, "receipt", "v3-three.bin", blk, len);
    if (certa_receipt_batch_encode_results(1, 2, hdr, &cert, en + 1, 1, &rp, blk, sizeof blk,
                                           &len, NULL) != CERTA_OK)
        return 1;
    put(dir, "receipt", "v3-one.bin", blk, len);
    certa_key_free(k);
    return 0;
}
