/* Tests for engine/block.c: the committed block record's layout (byte for
 * byte as docs/PROTOCOL.md and the records validators already wrote),
 * round trip, every truncation and each malformed field refused with its
 * error, and the commit-certificate verifier refusing too few signers, a
 * duplicate, an unknown signer and a flipped signature, through genesis
 * keys (Ed25519) and through a host's own verifier. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/block.h"
#include "certa/crypto.h"
#include "certa/wire.h"

#define NV 4

static certa_key *vkeys[NV];
static certa_validator_info vinfo[NV];
static certa_genesis gen;
static certa_block_header hdr;
static uint8_t batch_a[40], batch_b[7];
static uint8_t *rec;
static size_t rec_len;

/* Signs the commit message of hdr (view 5) as validator v. */
static certa_commit_sig commit_sig(uint16_t v)
{
    uint8_t hash[CERTA_HASH_BYTES], msg[CERTA_COMMIT_MSG_BYTES];
    certa_header_hash(&hdr, hash);
    certa_block_commit_message(gen.hash, v, 5, hdr.height, hash, msg);
    certa_commit_sig s = {.validator = v};
    cr_assert_eq(certa_sign(vkeys[v], msg, sizeof msg, s.sig, NULL), CERTA_OK);
    return s;
}

static void setup(void)
{
    memset(&gen, 0, sizeof gen);
    for (int i = 0; i < NV; i++) {
        uint8_t seed[32];
        memset(seed, 0x60 + i, sizeof seed);
        cr_assert_eq(certa_key_from_seed(seed, &vkeys[i], NULL), CERTA_OK);
        memset(&vinfo[i], 0, sizeof vinfo[i]);
        snprintf(vinfo[i].name, sizeof vinfo[i].name, "bureau-%d", i);
        certa_key_public(vkeys[i], vinfo[i].sign_pub);
        cr_assert_eq(certa_pubkey_from_raw(vinfo[i].sign_pub, &vinfo[i].sign_key, NULL),
                     CERTA_OK);
    }
    gen.validator_count = NV;
    gen.f = 1;
    gen.validators = vinfo;
    memset(gen.hash, 0xc4, sizeof gen.hash);
    memset(&hdr, 0, sizeof hdr);
    hdr.height = 77;
    hdr.view = 5;
    hdr.timestamp_ms = 1710000000123ull;
    hdr.proposer = 1;
    hdr.event_count = 3;
    hdr.batch_count = 2;
    memset(hdr.prev_hash, 0x01, 32);
    memset(hdr.events_root, 0x02, 32);
    memset(hdr.prev_results_root, 0x03, 32);
    memset(hdr.state_digest, 0x04, 32);
    for (size_t i = 0; i < sizeof batch_a; i++)
        batch_a[i] = (uint8_t)(i * 7);
    memset(batch_b, 0xbe, sizeof batch_b);
    certa_block_batch batches[2] = {{3, 1001, batch_a, sizeof batch_a},
                                    {9, 42, batch_b, sizeof batch_b}};
    certa_commit_sig sigs[3] = {commit_sig(0), commit_sig(2), commit_sig(3)};
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_block_build(&hdr, 5, batches, 2, sigs, 3, &rec, &rec_len, &ei),
                 CERTA_OK, "%s", ei.msg);
}

static void teardown(void)
{
    free(rec);
    for (int i = 0; i < NV; i++) {
        certa_key_free(vkeys[i]);
        certa_pubkey_free(vinfo[i].sign_key);
    }
}

TestSuite(block, .init = setup, .fini = teardown);

/* The layout, written out by hand from docs/PROTOCOL.md (REC_BLOCK). */
Test(block, layout_byte_for_byte)
{
    uint8_t want[1024];
    size_t n = 0;
    want[n++] = 1;
    want[n++] = 0x81;
    certa_put_le64(want + n, 77), n += 8;
    certa_put_le64(want + n, 5), n += 8;
    certa_put_le64(want + n, 1710000000123ull), n += 8;
    certa_put_le16(want + n, 1), n += 2;
    certa_put_le32(want + n, 3), n += 4;
    certa_put_le32(want + n, 2), n += 4;
    for (int k = 1; k <= 4; k++)
        memset(want + n, k, 32), n += 32;
    certa_put_le64(want + n, 5), n += 8; /* commit view */
    certa_put_le32(want + n, 2), n += 4; /* batches */
    certa_put_le32(want + n, 10 + sizeof batch_a), n += 4;
    certa_put_le16(want + n, 3), n += 2;
    certa_put_le64(want + n, 1001), n += 8;
    memcpy(want + n, batch_a, sizeof batch_a), n += sizeof batch_a;
    certa_put_le32(want + n, 10 + sizeof batch_b), n += 4;
    certa_put_le16(want + n, 9), n += 2;
    certa_put_le64(want + n, 42), n += 8;
    memcpy(want + n, batch_b, sizeof batch_b), n += sizeof batch_b;
    certa_put_le16(want + n, 3), n += 2;
    const uint16_t who[3] = {0, 2, 3};
    for (int i = 0; i < 3; i++) {
        certa_commit_sig s = commit_sig(who[i]);
        certa_put_le16(want + n, who[i]), n += 2;
        memcpy(want + n, s.sig, 64), n += 64;
    }
    cr_assert_eq(rec_len, n);
    cr_assert_eq(memcmp(rec, want, n), 0);
}

/* A record the consensus codec wrote before this module existed (the
 * seed of the core's fuzz target) decodes and re-encodes unchanged. */
Test(block, older_record_unchanged)
{
    const char *src = getenv("CERTA_SOURCE_DIR");
    cr_assert_not_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/pbft_msg/block-record", src);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    certa_block b;
    cr_assert_eq(certa_block_decode(buf, n, &b, NULL), CERTA_OK);
    cr_assert_eq(b.hdr.height, 4);
    cr_assert_eq(b.batch_count, 1);
    cr_assert_eq(b.sig_count, 1);
    uint8_t out[4096];
    size_t len = 0;
    cr_assert_eq(certa_block_encode(&b, out, sizeof out, &len, NULL), CERTA_OK);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(out, buf, n), 0);
}

Test(block, round_trip)
{
    certa_block b;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert(certa_block_is_record(rec, rec_len));
    cr_assert_eq(certa_block_decode(rec, rec_len, &b, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(memcmp(&b.hdr, &hdr, sizeof hdr), 0);
    cr_assert_eq(b.commit_view, 5);
    cr_assert_eq(b.batch_count, 2);
    cr_assert_eq(b.sig_count, 3);
    cr_assert(b.rec == rec && b.rec_len == rec_len);
    size_t pos = 0;
    certa_block_batch x;
    cr_assert(certa_block_next(&b, &pos, &x));
    cr_assert(x.integrator == 3 && x.seq == 1001 && x.len == sizeof batch_a);
    cr_assert_eq(memcmp(x.bytes, batch_a, sizeof batch_a), 0);
    cr_assert(x.bytes > rec && x.bytes < rec + rec_len); /* borrowed, not copied */
    cr_assert(certa_block_next(&b, &pos, &x));
    cr_assert(x.integrator == 9 && x.seq == 42 && x.len == sizeof batch_b);
    cr_assert(!certa_block_next(&b, &pos, &x));
    uint8_t out[1024];
    size_t len = 0;
    cr_assert_eq(certa_block_encoded_len(&b), rec_len);
    cr_assert_eq(certa_block_encode(&b, out, sizeof out, &len, NULL), CERTA_OK);
    cr_assert(len == rec_len && memcmp(out, rec, len) == 0);
    cr_assert_eq(certa_block_encode(&b, out, rec_len - 1, &len, NULL), CERTA_E_LIMIT);
}

Test(block, every_truncation_refused)
{
    certa_block b;
    for (size_t cut = 0; cut < rec_len; cut++) {
        certa_errinfo ei;
        certa_errinfo_clear(&ei);
        cr_assert_eq(certa_block_decode(rec, cut, &b, &ei), CERTA_E_TRUNCATED,
                     "prefix %zu: %s", cut, ei.msg);
        cr_assert(strncmp(ei.msg, "block record: ", 14) == 0, "%s", ei.msg);
        cr_assert(b.rec == NULL && b.batch_count == 0);
    }
    uint8_t *longer = malloc(rec_len + 1);
    memcpy(longer, rec, rec_len);
    longer[rec_len] = 0;
    cr_assert_eq(certa_block_decode(longer, rec_len + 1, &b, NULL), CERTA_E_TRAILING);
    free(longer);
}

/* Decodes a copy of rec with one byte at `at` set to v. */
static certa_err decode_with(size_t at, uint8_t v, char *msg, size_t cap)
{
    uint8_t *c = malloc(rec_len);
    memcpy(c, rec, rec_len);
    c[at] = v;
    certa_block b;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_block_decode(c, rec_len, &b, &ei);
    snprintf(msg, cap, "%s", ei.msg);
    free(c);
    return e;
}

Test(block, malformed_fields_refused)
{
    char m[CERTA_ERRINFO_MSG_BYTES];
    size_t batches_at = 2 + CERTA_BLOCK_HEADER_BYTES + 8;
    size_t sigs_at = rec_len - 2 - 3 * CERTA_BLOCK_SIG_BYTES;
    cr_assert_eq(decode_with(0, 2, m, sizeof m), CERTA_E_BAD_VERSION);
    cr_assert_eq(decode_with(1, 0x82, m, sizeof m), CERTA_E_BAD_KIND);
    cr_assert(!certa_block_is_record((const uint8_t[]){1, 0x82}, 2));
    /* 65536 + 2 batches: past the limit */
    cr_assert_eq(decode_with(batches_at + 2, 1, m, sizeof m), CERTA_E_TOO_LONG, "%s", m);
    cr_assert_not_null(strstr(m, "batches"), "%s", m);
    /* a batch item shorter than its integrator and seq prefix */
    cr_assert_eq(decode_with(batches_at + 4, 9, m, sizeof m), CERTA_E_TRUNCATED, "%s", m);
    /* 65 signatures: more than validators can exist */
    cr_assert_eq(decode_with(sigs_at, 65, m, sizeof m), CERTA_E_TOO_LONG, "%s", m);
    /* signers 0, 2, 2: not strictly ascending */
    cr_assert_eq(decode_with(sigs_at + 2 + 2 * CERTA_BLOCK_SIG_BYTES, 2, m, sizeof m),
                 CERTA_E_NONCANONICAL, "%s", m);
    cr_assert_not_null(strstr(m, "ascending"), "%s", m);
}

static certa_err verify_cert(const certa_commit_cert *c, const char *needle)
{
    certa_block_keyset ks;
    certa_block_keyset_genesis(&gen, &ks);
    cr_assert_eq(ks.quorum, 3);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_block_cert_verify(c, &ks, &ei);
    if (needle != NULL) {
        cr_assert(strncmp(ei.msg, "commit: ", 8) == 0, "%s", ei.msg);
        cr_assert_not_null(strstr(ei.msg, needle), "%s", ei.msg);
    }
    return e;
}

static void block_cert(certa_commit_cert *c)
{
    certa_block b;
    cr_assert_eq(certa_block_decode(rec, rec_len, &b, NULL), CERTA_OK);
    uint8_t hash[CERTA_HASH_BYTES];
    certa_header_hash(&b.hdr, hash);
    certa_block_cert(&b, hash, c);
    cr_assert(c->count == 3 && c->view == 5 && c->height == 77);
}

Test(block, certificate_verifies)
{
    certa_commit_cert c;
    block_cert(&c);
    cr_assert_eq(verify_cert(&c, NULL), CERTA_OK);
}

Test(block, bad_certificates_refused)
{
    certa_commit_cert good, c;
    block_cert(&good);
    c = good; /* too few signers */
    c.count = 2;
    cr_assert_eq(verify_cert(&c, "2 signatures, a quorum of this genesis is 3"),
                 CERTA_E_BAD_SIGNATURE);
    c = good; /* the same signer twice: 0, 2, 2 */
    c.sigs[2] = c.sigs[1];
    cr_assert_eq(verify_cert(&c, "validator 2 signs twice"), CERTA_E_BAD_SIGNATURE);
    c = good; /* a signer the genesis does not have */
    c.sigs[2].validator = NV;
    cr_assert_eq(verify_cert(&c, "is by validator 4, genesis has 4"), CERTA_E_BAD_SIGNATURE);
    c = good; /* one signature bit flipped */
    c.sigs[1].sig[17] ^= 0x08;
    cr_assert_eq(verify_cert(&c, "validator 2 (bureau-2) does not verify"),
                 CERTA_E_BAD_SIGNATURE);
    c = good; /* signed for another height */
    c.height++;
    cr_assert_eq(verify_cert(&c, "does not verify"), CERTA_E_BAD_SIGNATURE);
    c = good; /* signed by validator 3 but claimed by validator 1 */
    c.sigs[1].validator = 1;
    cr_assert_eq(verify_cert(&c, "validator 1 (bureau-1) does not verify"),
                 CERTA_E_BAD_SIGNATURE);
}

/* A host's verifier (the consensus core's pluggable crypto): the same
 * rules, each signature asked of it once, with the commit message. */
static int calls;
static bool host_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                        const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    (void)ctx;
    calls++;
    return len == CERTA_COMMIT_MSG_BYTES && certa_get_le16(msg + 34) == signer &&
           certa_verify(vinfo[signer].sign_key, msg, len, sig);
}

Test(block, host_verifier)
{
    certa_commit_cert c;
    block_cert(&c);
    certa_block_keyset ks;
    memset(&ks, 0, sizeof ks);
    memcpy(ks.chain_id, gen.hash, CERTA_HASH_BYTES);
    ks.n = NV;
    ks.quorum = 3;
    ks.verify = host_verify;
    calls = 0;
    cr_assert_eq(certa_block_cert_verify(&c, &ks, NULL), CERTA_OK);
    cr_assert_eq(calls, 3);
    ks.quorum = 4; /* a quorum the certificate does not reach: no call at all */
    calls = 0;
    cr_assert_eq(certa_block_cert_verify(&c, &ks, NULL), CERTA_E_BAD_SIGNATURE);
    cr_assert_eq(calls, 0);
    ks.quorum = 3;
    c.sigs[0].sig[0] ^= 1;
    cr_assert_eq(certa_block_cert_verify(&c, &ks, NULL), CERTA_E_BAD_SIGNATURE);
}

Test(block, build_refuses_unordered_signers)
{
    certa_commit_sig sigs[2] = {commit_sig(2), commit_sig(0)};
    uint8_t *out = NULL;
    size_t len = 0;
    cr_assert_eq(certa_block_build(&hdr, 5, NULL, 0, sigs, 2, &out, &len, NULL), CERTA_E_ARG);
    cr_assert_null(out);
}
