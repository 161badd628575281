/* Tests for engine/receipt.c: a receipt built from a fake block (real
 * event encoding, real RFC 6962 proof, real Ed25519 commit signatures)
 * verifies against an in-memory genesis, survives the binary and JSON round
 * trips, and every tampered field fails with the reason naming it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "certa/certa.h"
#include "certa/crypto.h"
#include "certa/merkle.h"
#include "certa/state.h" /* result codes and the result leaf */
#include "receipt_json.h" /* engine-private: the json_t form */

#define NV 4
#define NEV 5

static certa_key *vkeys[NV];
static certa_validator_info vinfo[NV];
static certa_integrator_info iinfo[3];
static certa_genesis gen;
static certa_receipt good;
static uint8_t evbytes[NEV][CERTA_EVENT_BYTES_MAX];
static size_t evlen[NEV];

static void make_event(int i, uint8_t *out, size_t *len)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = CERTA_EV_CONFIRM;
    memset(ev.grant_id, 0x10 + i, sizeof ev.grant_id);
    ev.centre = 1;
    ev.counter = (uint16_t)(1 + i);
    memset(ev.evidence, 0xe0 + i, sizeof ev.evidence);
    certa_errinfo ei;
    cr_assert_eq(certa_event_encode(&ev, out, CERTA_EVENT_BYTES_MAX, len, &ei), CERTA_OK,
                 "%s", ei.msg);
}

/* A block of NEV events from integrator `integ`, batch seq `seq`, committed
 * by validators 0, 1 and 3 of keys; *out is the receipt of leaf 2. */
static void build_receipt(certa_key **keys, uint16_t integ, uint64_t seq, certa_receipt *out)
{
    memset(out, 0, sizeof *out);
    uint8_t leaf_hashes[NEV][32];
    for (int i = 0; i < NEV; i++) {
        make_event(i, evbytes[i], &evlen[i]);
        uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
        size_t ll = certa_leaf_encode(integ, seq, evbytes[i], evlen[i], leaf, sizeof leaf);
        certa_merkle_leaf_hash(leaf, ll, leaf_hashes[i]);
    }
    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(NULL, &leaf_hashes[0][0], NEV, &t, NULL), CERTA_OK);
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = 12;
    h.view = 3;
    h.timestamp_ms = 1700000000000ull;
    h.proposer = 3;
    h.event_count = NEV;
    h.batch_count = 1;
    memset(h.prev_hash, 0xaa, 32);
    certa_merkle_tree_root(t, h.events_root);
    cr_assert_eq(certa_header_encode(&h, out->header), CERTA_OK);
    out->integrator = integ;
    out->seq = seq;
    out->leaf_index = 2;
    out->result = CERTA_RESULT_OK;
    memcpy(out->event, evbytes[2], evlen[2]);
    out->event_len = (uint16_t)evlen[2];
    size_t pl = 0;
    cr_assert_eq(certa_merkle_tree_inclusion(t, 2, out->path, &pl, NULL), CERTA_OK);
    out->path_len = (uint8_t)pl;
    certa_merkle_tree_free(t);
    out->cert.view = 3;
    out->cert.height = 12;
    certa_sha256(out->header, CERTA_HEADER_BYTES, out->cert.block_hash);
    uint8_t msg[CERTA_COMMIT_MSG_BYTES];
    static const uint16_t who[] = { 0, 1, 3 };
    out->cert.count = 3;
    for (int i = 0; i < 3; i++) {
        certa_block_commit_message(gen.hash, who[i], out->cert.view, out->cert.height,
                             out->cert.block_hash, msg);
        out->cert.sigs[i].validator = who[i];
        cr_assert_eq(certa_sign(keys[who[i]], msg, sizeof msg, out->cert.sigs[i].sig, NULL),
                     CERTA_OK);
    }
}

static void setup(void)
{
    memset(&gen, 0, sizeof gen);
    for (int i = 0; i < NV; i++) {
        uint8_t seed[32];
        memset(seed, 0x40 + i, sizeof seed);
        cr_assert_eq(certa_key_from_seed(seed, &vkeys[i], NULL), CERTA_OK);
        memset(&vinfo[i], 0, sizeof vinfo[i]);
        snprintf(vinfo[i].name, sizeof vinfo[i].name, "bureau-%d", i);
        certa_key_public(vkeys[i], vinfo[i].sign_pub);
        cr_assert_eq(certa_pubkey_from_raw(vinfo[i].sign_pub, &vinfo[i].sign_key, NULL),
                     CERTA_OK);
    }
    memset(iinfo, 0, sizeof iinfo);
    gen.validator_count = NV;
    gen.f = 1;
    gen.validators = vinfo;
    gen.integrator_count = 3;
    gen.integrators = iinfo;

    build_receipt(vkeys, 2, 9, &good);
}

static void teardown(void)
{
    for (int i = 0; i < NV; i++) {
        certa_key_free(vkeys[i]);
        certa_pubkey_free(vinfo[i].sign_key);
    }
}

TestSuite(receipt, .init = setup, .fini = teardown);

static void expect_fail(const certa_receipt *r, certa_err code, const char *prefix,
                        const char *needle)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_receipt_verify(r, &gen, false, &ei);
    cr_assert_eq(e, code, "got %s: %s", certa_strerror(e), ei.msg);
    cr_assert_eq(strncmp(ei.msg, prefix, strlen(prefix)), 0, "%s", ei.msg);
    if (needle != NULL)
        cr_assert_not_null(strstr(ei.msg, needle), "%s", ei.msg);
}

Test(receipt, commit_message_layout)
{
    uint8_t hash[32], m[CERTA_COMMIT_MSG_BYTES];
    memset(hash, 0x5a, 32);
    uint8_t chain[32];
    memset(chain, 0xc1, 32);
    certa_block_commit_message(chain, 0x0203, 0x0102, 0x0a0b, hash, m);
    cr_assert_eq(CERTA_COMMIT_MSG_BYTES, 84);
    cr_assert_eq(memcmp(m, chain, 32), 0);
    cr_assert_eq(m[32], 1);    /* version */
    cr_assert_eq(m[33], 4);    /* COMMIT */
    cr_assert_eq(m[34], 0x03); /* validator, little-endian */
    cr_assert_eq(m[35], 0x02);
    cr_assert_eq(m[36], 0x02); /* view */
    cr_assert_eq(m[37], 0x01);
    cr_assert_eq(m[44], 0x0b); /* height */
    cr_assert_eq(m[45], 0x0a);
    cr_assert_eq(m[51], 0);
    cr_assert_eq(memcmp(m + 52, hash, 32), 0);
}

Test(receipt, good_receipt_verifies)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_receipt_verify(&good, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
    /* Every leaf of the block verifies with its own proof too: rebuild leaf 4. */
    certa_receipt r = good;
    r.result = 7;
    strcpy(r.reason, "grant revoked");
    cr_assert_eq(certa_receipt_verify(&r, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
}

Test(receipt, tampered_event_integrator_seq_index_proof)
{
    certa_receipt r = good;
    memcpy(r.event, evbytes[3], evlen[3]);
    r.event_len = (uint16_t)evlen[3];
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", "not leaf 2");

    r = good;
    r.event[r.event_len - 1] ^= 1;
    certa_errinfo ei;
    certa_err e = certa_receipt_verify(&r, &gen, false, &ei);
    cr_assert(e == CERTA_E_BAD_PROOF || strncmp(ei.msg, "event: ", 7) == 0, "%s", ei.msg);
    cr_assert_neq(e, CERTA_OK);

    r = good;
    r.event_len = 3; /* not a whole event */
    e = certa_receipt_verify(&r, &gen, false, &ei);
    cr_assert_neq(e, CERTA_OK);
    cr_assert_eq(strncmp(ei.msg, "event: ", 7), 0, "%s", ei.msg);

    r = good;
    r.integrator = 1;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", NULL);
    r.integrator = 3;
    expect_fail(&r, CERTA_E_NOTFOUND, "integrator: ", "3 integrators");

    r = good;
    r.seq = 10;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", NULL);

    r = good;
    r.leaf_index = 1;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", NULL);
    r.leaf_index = NEV;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", "leaf 5 of a block with 5 events");

    r = good;
    r.path[0][0] ^= 0x80;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", NULL);
    r = good;
    r.path_len--;
    expect_fail(&r, CERTA_E_BAD_PROOF, "proof: ", NULL);
}

Test(receipt, tampered_header_and_certificate)
{
    certa_receipt r = good;
    r.header[CERTA_HEADER_BYTES - 1] ^= 1; /* some header byte: hash changes */
    certa_errinfo ei;
    certa_err e = certa_receipt_verify(&r, &gen, false, &ei);
    cr_assert_neq(e, CERTA_OK);
    cr_assert(strncmp(ei.msg, "header: ", 8) == 0 ||
              strstr(ei.msg, "certificate signs block") != NULL, "%s", ei.msg);

    r = good;
    r.cert.height = 13;
    expect_fail(&r, CERTA_E_CHAIN, "commit: ", "height 13");

    r = good;
    r.cert.block_hash[0] ^= 1;
    expect_fail(&r, CERTA_E_CHAIN, "commit: ", "certificate signs block");

    /* hashes that differ only in their last byte: both printed whole, so
     * the message shows where they differ */
    r = good;
    r.cert.block_hash[CERTA_HASH_BYTES - 1] ^= 1;
    char want[65], have[65];
    uint8_t real[CERTA_HASH_BYTES];
    certa_hex_encode(r.cert.block_hash, CERTA_HASH_BYTES, want);
    certa_sha256(r.header, CERTA_HEADER_BYTES, real);
    certa_hex_encode(real, CERTA_HASH_BYTES, have);
    expect_fail(&r, CERTA_E_CHAIN, "commit: ", want);
    expect_fail(&r, CERTA_E_CHAIN, "commit: ", have);

    r = good;
    r.cert.view = 4; /* the signatures were over view 3 */
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "does not verify");

    r = good;
    r.cert.sigs[1].sig[10] ^= 4;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "validator 1 (bureau-1)");

    r = good;
    r.cert.sigs[1] = r.cert.sigs[0];
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "signs twice");

    r = good;
    r.cert.count = 2;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "quorum of this genesis is 3");

    r = good;
    r.cert.sigs[2].validator = 7;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "genesis has 4");

    /* A key outside genesis signing in validator 2's name. */
    certa_key *outsider = NULL;
    cr_assert_eq(certa_key_generate(&outsider, NULL), CERTA_OK);
    r = good;
    uint8_t msg[CERTA_COMMIT_MSG_BYTES];
    r.cert.sigs[2].validator = 2;
    certa_block_commit_message(gen.hash, 2, r.cert.view, r.cert.height, r.cert.block_hash, msg);
    cr_assert_eq(certa_sign(outsider, msg, sizeof msg, r.cert.sigs[2].sig, NULL), CERTA_OK);
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", "validator 2");
    certa_key_free(outsider);

    /* skip_cert trusts the signatures but still checks hash and height. */
    r = good;
    r.cert.sigs[0].sig[0] ^= 1;
    cr_assert_eq(certa_receipt_verify(&r, &gen, true, NULL), CERTA_OK);
    r.cert.height = 1;
    cr_assert_eq(certa_receipt_verify(&r, &gen, true, NULL), CERTA_E_CHAIN);
}

Test(receipt, ok_result_with_reason_fails)
{
    certa_receipt r = good;
    strcpy(r.reason, "sneaky");
    expect_fail(&r, CERTA_E_BAD_FIELD, "result: ", "sneaky");
}

Test(receipt, binary_round_trip_and_refusals)
{
    static uint8_t buf[16384];
    size_t len = 0;
    certa_errinfo ei;
    cr_assert_eq(certa_receipt_encode(&good, buf, sizeof buf, &len, &ei), CERTA_OK, "%s", ei.msg);
    static certa_receipt r;
    cr_assert_eq(certa_receipt_decode(buf, len, &r, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(memcmp(&r.cert, &good.cert, sizeof r.cert), 0);
    cr_assert_eq(r.event_len, good.event_len);
    cr_assert_eq(r.path_len, good.path_len);
    cr_assert_eq(certa_receipt_verify(&r, &gen, false, NULL), CERTA_OK);
    for (size_t cut = 0; cut < len; cut += 7)
        cr_assert_neq(certa_receipt_decode(buf, cut, &r, NULL), CERTA_OK, "cut %zu", cut);
    cr_assert_eq(certa_receipt_decode(buf, len + 1, &r, NULL), CERTA_E_TRAILING);
    cr_assert_eq(certa_receipt_encode(&good, buf, 100, &len, NULL), CERTA_E_LIMIT);

    /* Batch receipts share header and certificate and carry one range
     * proof: for every range of consecutive leaves of the block's tree, the
     * decoded receipts have exactly the tree's inclusion paths and verify. */
    uint8_t leaf_hashes[NEV][32];
    for (int i = 0; i < NEV; i++) {
        uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
        size_t ll = certa_leaf_encode(2, 9, evbytes[i], evlen[i], leaf, sizeof leaf);
        certa_merkle_leaf_hash(leaf, ll, leaf_hashes[i]);
    }
    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(NULL, &leaf_hashes[0][0], NEV, &t, NULL), CERTA_OK);
    static uint8_t paths[NEV][CERTA_RECEIPT_PATH_MAX][32];
    size_t plen[NEV];
    for (int i = 0; i < NEV; i++)
        cr_assert_eq(certa_merkle_tree_inclusion(t, (size_t)i, paths[i], &plen[i], NULL),
                     CERTA_OK);
    certa_merkle_tree_free(t);
    for (int first = 0; first < NEV; first++) {
        for (int cnt = 1; first + cnt <= NEV; cnt++) {
            certa_receipt_entry en[NEV];
            for (int i = 0; i < cnt; i++) {
                int k = first + i;
                en[i] = (certa_receipt_entry){ .leaf_index = (uint64_t)k,
                                               .result = (uint16_t)(i % 2 ? 5 : 0),
                                               .reason = i % 2 ? "code wrong" : NULL,
                                               .event = evbytes[k], .event_len = evlen[k],
                                               .path = (const uint8_t(*)[32])paths[k],
                                               .path_len = plen[k] };
            }
            cr_assert_eq(certa_receipt_batch_encode(2, 9, good.header, &good.cert, en,
                                                    (uint32_t)cnt, buf, sizeof buf, &len,
                                                    &ei), CERTA_OK, "%s", ei.msg);
            certa_receipt_batch b;
            cr_assert_eq(certa_receipt_batch_decode(buf, len, &b, &ei), CERTA_OK,
                         "[%d,+%d): %s", first, cnt, ei.msg);
            cr_assert_eq(b.entry_count, (uint32_t)cnt);
            size_t off = 0;
            int n = 0;
            while (certa_receipt_batch_next(&b, &off, &r)) {
                int k = first + n;
                cr_assert_eq(r.leaf_index, (uint64_t)k);
                cr_assert_eq(r.result, n % 2 ? 5 : 0);
                cr_assert_str_eq(r.reason, n % 2 ? "code wrong" : "");
                cr_assert_eq(r.path_len, plen[k], "[%d,+%d) leaf %d", first, cnt, k);
                cr_assert_eq(memcmp(r.path, paths[k], plen[k] * 32), 0, "[%d,+%d) leaf %d",
                             first, cnt, k);
                cr_assert_eq(certa_receipt_verify(&r, &gen, n > 0, &ei), CERTA_OK, "%s",
                             ei.msg);
                n++;
            }
            cr_assert_eq(n, cnt);
            certa_receipt_batch_free(&b);
            if (cnt > 1)
                cr_assert_eq(certa_receipt_decode(buf, len, &r, &ei), CERTA_E_BAD_FIELD);
            /* a damaged proof hash (the proof ends the receipt): the rebuilt
             * paths no longer verify */
            if (cnt < NEV) {
                buf[len - 1] ^= 1;
                cr_assert_eq(certa_receipt_batch_decode(buf, len, &b, &ei), CERTA_OK);
                off = 0;
                bool any_bad = false;
                while (certa_receipt_batch_next(&b, &off, &r))
                    any_bad |= certa_receipt_verify(&r, &gen, true, NULL) != CERTA_OK;
                cr_assert(any_bad, "[%d,+%d): a damaged proof went unnoticed", first, cnt);
                certa_receipt_batch_free(&b);
                buf[len - 1] ^= 1;
                /* one hash too few or too many is refused at decoding */
                cr_assert_neq(certa_receipt_decode(buf, len - 32, &r, NULL), CERTA_OK);
            }
            /* entries that are not consecutive leaves are refused */
            if (cnt > 1) {
                en[1].leaf_index += 1;
                cr_assert_eq(certa_receipt_batch_encode(2, 9, good.header, &good.cert, en,
                                                        (uint32_t)cnt, buf, sizeof buf,
                                                        &len, NULL), CERTA_E_ARG);
            }
        }
    }
}

/* The public text form: what an integrator without jansson reads and writes. */
Test(receipt, json_text_round_trip_and_refusals)
{
    char *text = certa_receipt_format_json(&good);
    cr_assert_not_null(text);
    cr_assert_null(strchr(text, '\n'));
    static certa_receipt r;
    certa_errinfo ei;
    cr_assert_eq(certa_receipt_parse_json(text, strlen(text), &r, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(certa_receipt_verify(&r, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(memcmp(r.path, good.path, good.path_len * 32u), 0);
    /* not JSON: the column; JSON but wrong: the field; both say "json: " */
    cr_assert_eq(certa_receipt_parse_json(text, strlen(text) - 1, &r, &ei), CERTA_E_JSON);
    cr_assert_eq(strncmp(ei.msg, "json: ", 6), 0, "%s", ei.msg);
    cr_assert_not_null(strstr(ei.msg, "column"), "%s", ei.msg);
    const char *bad = "{\"receipt\":1,\"extra\":true}";
    cr_assert_eq(certa_receipt_parse_json(bad, strlen(bad), &r, &ei), CERTA_E_JSON);
    cr_assert_eq(strncmp(ei.msg, "json: ", 6), 0, "%s", ei.msg);
    cr_assert_not_null(strstr(ei.msg, "\"extra\""), "%s", ei.msg);
    free(text);
}

Test(receipt, json_round_trip_and_refusals)
{
    json_t *j = certa_receipt_to_json(&good);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "height")), 12);
    char *text = json_dumps(j, JSON_COMPACT);
    static certa_receipt r;
    certa_errinfo ei;
    json_t *back = json_loads(text, 0, NULL);
    cr_assert_eq(certa_receipt_from_json(back, &r, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(certa_receipt_verify(&r, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(memcmp(r.path, good.path, good.path_len * 32u), 0);

    json_object_set_new(back, "extra", json_true());
    cr_assert_eq(certa_receipt_from_json(back, &r, &ei), CERTA_E_JSON);
    cr_assert_not_null(strstr(ei.msg, "\"extra\""), "%s", ei.msg);
    json_object_del(back, "extra");
    json_object_set_new(back, "height", json_integer(11));
    cr_assert_eq(certa_receipt_from_json(back, &r, &ei), CERTA_E_JSON);
    cr_assert_not_null(strstr(ei.msg, "\"height\""), "%s", ei.msg);
    json_object_set_new(back, "height", json_integer(12));
    json_object_set_new(back, "event", json_string("zz"));
    cr_assert_eq(certa_receipt_from_json(back, &r, &ei), CERTA_E_JSON);
    cr_assert_not_null(strstr(ei.msg, "\"event\""), "%s", ei.msg);
    json_decref(back);
    free(text);
    json_decref(j);
}

/* `certa receipt verify` end to end: a genesis written to disk, receipts
 * signed by its validators' keys, one good line, one tampered, one garbage. */
Test(receipt_cli, verify_names_the_failing_lines)
{
    const char *bin = getenv("CERTA_BIN");
    if (bin == NULL)
        cr_skip_test("CERTA_BIN is not set (ctest sets it)");
    char dir[] = "/tmp/certa-receipt-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    certa_genesis_opts go = { .validators = 4, .dir = dir, .base_port = 7000,
                              .host = "127.0.0.1" };
    certa_errinfo ei;
    cr_assert_eq(certa_genesis_write(&go, &ei), CERTA_OK, "%s", ei.msg);
    char path[256];
    certa_key *keys[NV];
    for (int i = 0; i < NV; i++) {
        snprintf(path, sizeof path, "%s/node%d/sign.pem", dir, i);
        cr_assert_eq(certa_key_load_pem(path, &keys[i], &ei), CERTA_OK, "%s", ei.msg);
    }
    /* The commit message names the chain: sign for the genesis on disk. */
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    certa_genesis *disk = NULL;
    cr_assert_eq(certa_genesis_load(path, &disk, &ei), CERTA_OK, "%s", ei.msg);
    memcpy(gen.hash, disk->hash, CERTA_HASH_BYTES);
    certa_genesis_free(disk);
    static certa_receipt r;
    build_receipt(keys, 0, 4, &r);
    snprintf(path, sizeof path, "%s/receipts.jsonl", dir);
    FILE *f = fopen(path, "w");
    json_t *j = certa_receipt_to_json(&r);
    json_dumpf(j, f, JSON_COMPACT);
    fputc('\n', f);
    json_decref(j);
    r.cert.sigs[1].sig[5] ^= 1;
    j = certa_receipt_to_json(&r);
    json_dumpf(j, f, JSON_COMPACT);
    fputs("\n\n{\"receipt\": 1}\n", f);
    json_decref(j);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s receipt verify --quiet --genesis %s/genesis.json %s", bin,
             dir, path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit %d: %s", WEXITSTATUS(st), out);
    cr_assert_null(strstr(out, "line 1:"), "%s", out);
    cr_assert_not_null(strstr(out, "line 2: commit: signature of validator 1 (node1) does not verify"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "line 4: json: field \"integrator\": missing"), "%s", out);
    cr_assert_not_null(strstr(out, "3 receipts, 1 verified, 2 failed"), "%s", out);

    /* The good line alone passes. */
    f = fopen(path, "w");
    build_receipt(keys, 0, 4, &r);
    j = certa_receipt_to_json(&r);
    json_dumpf(j, f, JSON_COMPACT);
    fputc('\n', f);
    json_decref(j);
    fclose(f);
    cr_assert_eq(system(cmd), 0);
    for (int i = 0; i < NV; i++)
        certa_key_free(keys[i]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- result proofs (binary version 3, JSON version 2) ---- */

/* The results of the NEV events of good's block: leaf i = u8 result || u8
 * kind (every event is a confirm). */
static const uint8_t block_results[NEV] = { 0, 11, 0, 6, 0 };

/* Header 16 (= 12 + LAG) committing those results, certified by 0, 2, 3;
 * paths of every result leaf into paths (room for NEV). */
static void build_results(certa_key **keys, uint8_t header[CERTA_HEADER_BYTES],
                          certa_commit_cert *cert,
                          uint8_t (*paths)[CERTA_RECEIPT_PATH_MAX][32], size_t *plen)
{
    uint8_t leaf_hashes[NEV][32];
    for (int i = 0; i < NEV; i++) {
        uint8_t leaf[CERTA_RESULT_LEAF_BYTES];
        certa_result_leaf(CERTA_EV_CONFIRM, block_results[i], leaf);
        certa_merkle_leaf_hash(leaf, sizeof leaf, leaf_hashes[i]);
    }
    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(NULL, &leaf_hashes[0][0], NEV, &t, NULL), CERTA_OK);
    certa_block_header h;
    memset(&h, 0, sizeof h);
    h.height = 12 + CERTA_RESULTS_LAG_BLOCKS;
    h.view = 3;
    h.timestamp_ms = 1700000004000ull;
    h.event_count = 1;
    h.batch_count = 1;
    memset(h.prev_hash, 0xbb, 32);
    memset(h.events_root, 0xcc, 32);
    memset(h.state_digest, 0xdd, 32);
    certa_merkle_tree_root(t, h.prev_results_root);
    cr_assert_eq(certa_header_encode(&h, header), CERTA_OK);
    for (int i = 0; i < NEV; i++)
        cr_assert_eq(certa_merkle_tree_inclusion(t, (size_t)i, paths[i], &plen[i], NULL),
                     CERTA_OK);
    certa_merkle_tree_free(t);
    memset(cert, 0, sizeof *cert);
    cert->view = 3;
    cert->height = h.height;
    certa_sha256(header, CERTA_HEADER_BYTES, cert->block_hash);
    static const uint16_t who[] = { 0, 2, 3 };
    cert->count = 3;
    for (int i = 0; i < 3; i++) {
        uint8_t msg[CERTA_COMMIT_MSG_BYTES];
        certa_block_commit_message(gen.hash, who[i], cert->view, cert->height,
                                   cert->block_hash, msg);
        cert->sigs[i].validator = who[i];
        cr_assert_eq(certa_sign(keys[who[i]], msg, sizeof msg, cert->sigs[i].sig, NULL),
                     CERTA_OK);
    }
}

static uint8_t rpaths[NEV][CERTA_RECEIPT_PATH_MAX][32];
static size_t rplen[NEV];

/* good (leaf 2) with its result proof. */
static void proven(certa_receipt *r)
{
    *r = good;
    build_results(vkeys, r->result_header, &r->result_cert, rpaths, rplen);
    r->has_result_proof = true;
    r->result = block_results[2];
    memcpy(r->result_path, rpaths[2], rplen[2] * 32);
    r->result_path_len = (uint8_t)rplen[2];
}

Test(receipt, result_proof_verifies_and_alterations_name_the_part)
{
    static certa_receipt r;
    proven(&r);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_receipt_verify(&r, &gen, false, &ei), CERTA_OK, "%s", ei.msg);

    /* another result than the committed one (same kind, and every code) */
    for (unsigned code = 1; code < CERTA_R_COUNT; code++) {
        proven(&r);
        r.result = (uint16_t)code;
        snprintf(r.reason, sizeof r.reason, "%s", certa_result_name(code));
        expect_fail(&r, CERTA_E_BAD_PROOF, "result proof: path: ", "is not leaf 2");
    }
    proven(&r);
    r.result = 300;
    snprintf(r.reason, sizeof r.reason, "big");
    expect_fail(&r, CERTA_E_BAD_PROOF, "result proof: path: ", "has no result leaf");

    proven(&r);
    r.result_path[0][7] ^= 1;
    expect_fail(&r, CERTA_E_BAD_PROOF, "result proof: path: ", NULL);
    proven(&r);
    r.result_path_len--;
    expect_fail(&r, CERTA_E_BAD_PROOF, "result proof: path: ", NULL);

    proven(&r);
    r.result_cert.sigs[1].sig[3] ^= 1;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "result proof: commit: ", "validator 2");
    proven(&r);
    r.result_cert.count = 2;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "result proof: commit: ", NULL);
    proven(&r);
    r.result_cert = r.cert; /* the block's own certificate: another header */
    expect_fail(&r, CERTA_E_CHAIN, "result proof: commit: ", NULL);

    /* a certified header at the wrong height (its own certificate is good) */
    proven(&r);
    certa_block_header h;
    cr_assert_eq(certa_header_decode(r.result_header, CERTA_HEADER_BYTES, &h, NULL), CERTA_OK);
    h.height--;
    cr_assert_eq(certa_header_encode(&h, r.result_header), CERTA_OK);
    expect_fail(&r, CERTA_E_CHAIN, "result proof: header: ", "committed at 16");
    proven(&r);
    r.result_header[0] ^= 0xff;
    expect_fail(&r, CERTA_E_BAD_MAGIC, "result proof: header: ", NULL);

    /* the block part is still checked first */
    proven(&r);
    r.cert.sigs[0].sig[0] ^= 1;
    expect_fail(&r, CERTA_E_BAD_SIGNATURE, "commit: ", NULL);
}

Test(receipt, result_proof_binary_and_json_round_trips)
{
    static certa_receipt r, back;
    proven(&r);
    static uint8_t buf[32768];
    size_t len = 0, len2 = 0;
    certa_errinfo ei;
    cr_assert_eq(certa_receipt_encode(&r, buf, sizeof buf, &len, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(buf[4], CERTA_RECEIPT_VERSION_RESULTS);
    cr_assert_eq(certa_receipt_decode(buf, len, &back, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert(back.has_result_proof);
    cr_assert_eq(back.result_path_len, r.result_path_len);
    cr_assert_eq(memcmp(back.result_path, r.result_path, r.result_path_len * 32u), 0);
    cr_assert_eq(memcmp(&back.result_cert, &r.result_cert, sizeof r.result_cert), 0);
    cr_assert_eq(certa_receipt_verify(&back, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
    for (size_t cut = 0; cut < len; cut += 5)
        cr_assert_neq(certa_receipt_decode(buf, cut, &back, NULL), CERTA_OK, "cut %zu", cut);
    cr_assert_eq(certa_receipt_decode(buf, len + 1, &back, NULL), CERTA_E_TRAILING);
    /* the version 2 form of the same receipt is still read and verified */
    r.has_result_proof = false;
    cr_assert_eq(certa_receipt_encode(&r, buf, sizeof buf, &len2, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(buf[4], CERTA_RECEIPT_VERSION);
    cr_assert_eq(certa_receipt_decode(buf, len2, &back, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert(!back.has_result_proof);
    cr_assert_eq(certa_receipt_verify(&back, &gen, false, &ei), CERTA_OK, "%s", ei.msg);

    /* JSON: version 2 with "result_proof", version 1 without */
    proven(&r);
    char *text = certa_receipt_format_json(&r);
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, "\"receipt\":2"), "%s", text);
    cr_assert_eq(certa_receipt_parse_json(text, strlen(text), &back, &ei), CERTA_OK, "%s",
                 ei.msg);
    cr_assert(back.has_result_proof);
    cr_assert_eq(certa_receipt_verify(&back, &gen, false, &ei), CERTA_OK, "%s", ei.msg);
    char *v1 = strdup(text);
    v1[strstr(v1, "\"receipt\":2") - v1 + 10] = '1';
    cr_assert_eq(certa_receipt_parse_json(v1, strlen(v1), &back, &ei), CERTA_E_JSON);
    cr_assert_not_null(strstr(ei.msg, "result_proof"), "%s", ei.msg);
    free(v1);
    free(text);
    r.has_result_proof = false;
    text = certa_receipt_format_json(&r);
    cr_assert_not_null(strstr(text, "\"receipt\":1"), "%s", text);
    cr_assert_null(strstr(text, "result_proof"), "%s", text);
    text[strstr(text, "\"receipt\":1") - text + 10] = '2';
    cr_assert_eq(certa_receipt_parse_json(text, strlen(text), &back, &ei), CERTA_E_JSON);
    cr_assert_not_null(strstr(ei.msg, "result_proof"), "%s", ei.msg);
    free(text);
}

Test(receipt, result_proof_batch_ranges)
{
    /* every range of consecutive leaves: one results range proof rebuilds
     * each entry's result path exactly */
    static uint8_t header[CERTA_HEADER_BYTES];
    static certa_commit_cert cert;
    build_results(vkeys, header, &cert, rpaths, rplen);
    uint8_t leaf_hashes[NEV][32];
    for (int i = 0; i < NEV; i++) {
        uint8_t leaf[CERTA_LEAF_PREFIX_BYTES + CERTA_EVENT_BYTES_MAX];
        size_t ll = certa_leaf_encode(2, 9, evbytes[i], evlen[i], leaf, sizeof leaf);
        certa_merkle_leaf_hash(leaf, ll, leaf_hashes[i]);
    }
    certa_merkle_tree *t = NULL;
    cr_assert_eq(certa_merkle_tree_build(NULL, &leaf_hashes[0][0], NEV, &t, NULL), CERTA_OK);
    static uint8_t paths[NEV][CERTA_RECEIPT_PATH_MAX][32];
    size_t plen[NEV];
    for (int i = 0; i < NEV; i++)
        cr_assert_eq(certa_merkle_tree_inclusion(t, (size_t)i, paths[i], &plen[i], NULL),
                     CERTA_OK);
    certa_merkle_tree_free(t);
    certa_receipt_results rp = {header, &cert};
    static uint8_t buf[32768];
    static certa_receipt r;
    for (int first = 0; first < NEV; first++)
        for (int cnt = 1; first + cnt <= NEV; cnt++) {
            certa_receipt_entry en[NEV];
            for (int i = 0; i < cnt; i++) {
                int k = first + i;
                en[i] = (certa_receipt_entry){
                    .leaf_index = (uint64_t)k, .result = block_results[k],
                    .reason = block_results[k] ? certa_result_name(block_results[k]) : NULL,
                    .event = evbytes[k], .event_len = evlen[k],
                    .path = (const uint8_t(*)[32])paths[k], .path_len = plen[k],
                    .result_path = (const uint8_t(*)[32])rpaths[k],
                    .result_path_len = rplen[k] };
            }
            size_t len = 0;
            certa_errinfo ei;
            cr_assert_eq(certa_receipt_batch_encode_results(2, 9, good.header, &good.cert, en,
                                                            (uint32_t)cnt, &rp, buf,
                                                            sizeof buf, &len, &ei),
                         CERTA_OK, "%s", ei.msg);
            certa_receipt_batch b;
            cr_assert_eq(certa_receipt_batch_decode(buf, len, &b, &ei), CERTA_OK, "%s",
                         ei.msg);
            size_t off = 0;
            int n = 0;
            while (certa_receipt_batch_next(&b, &off, &r)) {
                int k = first + n;
                cr_assert_eq(r.result_path_len, rplen[k]);
                cr_assert_eq(memcmp(r.result_path, rpaths[k], rplen[k] * 32), 0);
                cr_assert_eq(certa_receipt_verify(&r, &gen, false, &ei), CERTA_OK,
                             "[%d,+%d) leaf %d: %s", first, cnt, k, ei.msg);
                n++;
            }
            cr_assert_eq(n, cnt);
            certa_receipt_batch_free(&b);
            if (cnt < NEV) { /* the results proof ends the receipt: damage it */
                buf[len - 1] ^= 1;
                cr_assert_eq(certa_receipt_batch_decode(buf, len, &b, &ei), CERTA_OK);
                off = 0;
                bool any_bad = false;
                while (certa_receipt_batch_next(&b, &off, &r)) {
                    certa_err e = certa_receipt_verify(&r, &gen, true, &ei);
                    if (e != CERTA_OK) {
                        any_bad = true;
                        cr_assert_eq(strncmp(ei.msg, "result proof: path: ", 20), 0, "%s",
                                     ei.msg);
                    }
                }
                cr_assert(any_bad, "[%d,+%d): a damaged results proof went unnoticed",
                          first, cnt);
                certa_receipt_batch_free(&b);
                buf[len - 1] ^= 1;
                cr_assert_neq(certa_receipt_batch_decode(buf, len - 32, &b, NULL), CERTA_OK);
            }
        }
}
