/* Tests for engine/crypto.c: SHA-256 vectors, Ed25519 round trips and
 * rejection of tampered messages and signatures, PEM files with mode 0600. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certa/crypto.h"

#include <zmq.h>

static void hex32(const uint8_t *h, char *out) { certa_hex_encode(h, 32, out); }

Test(crypto, sha256_vectors)
{
    uint8_t h[32];
    char hex[65];
    certa_sha256("", 0, h);
    hex32(h, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    certa_sha256("abc", 3, h);
    hex32(h, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    certa_sha256_ctx c;
    certa_sha256_init(&c);
    certa_sha256_update(&c, "a", 1);
    certa_sha256_update(&c, "bc", 2);
    certa_sha256_final(&c, h);
    hex32(h, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(crypto, ed25519_rfc8032_vector1)
{
    /* RFC 8032 section 7.1, TEST 1: empty message. */
    uint8_t seed[32], pub[32], sig[64];
    char hex[129];
    certa_hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
    certa_key *k = NULL;
    cr_assert_eq(certa_key_from_seed(seed, &k, NULL), CERTA_OK);
    certa_key_public(k, pub);
    hex32(pub, hex);
    cr_assert_str_eq(hex, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    cr_assert_eq(certa_sign(k, (const uint8_t *)"", 0, sig, NULL), CERTA_OK);
    certa_hex_encode(sig, 64, hex);
    cr_assert_str_eq(hex, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                          "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    certa_key_free(k);
}

/* The strict rules (docs/PROTOCOL.md): the identity point as public key and
 * as R with S = 0 satisfies the verification equation for every message,
 * so a lenient verifier accepts this "signature" of anything; certa refuses
 * it (small-order key and R), and a non-canonical S (S + L) likewise. */
Test(crypto, ed25519_small_order_and_noncanonical_refused)
{
    uint8_t ident[32] = {1}, sig[64] = {1};
    certa_pubkey *pk = NULL;
    cr_assert_eq(certa_pubkey_from_raw(ident, &pk, NULL), CERTA_OK);
    cr_assert(!certa_verify(pk, (const uint8_t *)"any", 3, sig));
    certa_pubkey_free(pk);

    /* RFC 8032 TEST 1 with L added to S: the same point, S not reduced */
    uint8_t pub[32], good[64], l[32];
    certa_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pub, 32);
    certa_hex_decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                     good, 64);
    /* L = 2^252 + 27742317777372353535851937790883648493, little-endian */
    certa_hex_decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", l, 32);
    cr_assert_eq(certa_pubkey_from_raw(pub, &pk, NULL), CERTA_OK);
    cr_assert(certa_verify(pk, (const uint8_t *)"", 0, good));
    uint8_t bad[64];
    memcpy(bad, good, 64);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = bad[32 + i] + l[i] + carry;
        bad[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    cr_assert_eq(carry, 0u);
    cr_assert(!certa_verify(pk, (const uint8_t *)"", 0, bad));
    certa_pubkey_free(pk);
}

Test(crypto, sign_verify_and_tamper)
{
    certa_key *k = NULL;
    cr_assert_eq(certa_key_generate(&k, NULL), CERTA_OK);
    uint8_t pub[32], sig[64];
    certa_key_public(k, pub);
    certa_pubkey *pk = NULL;
    cr_assert_eq(certa_pubkey_from_raw(pub, &pk, NULL), CERTA_OK);
    uint8_t msg[100];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)i;
    cr_assert_eq(certa_sign(k, msg, sizeof msg, sig, NULL), CERTA_OK);
    cr_assert(certa_verify(pk, msg, sizeof msg, sig));
    for (size_t bit = 0; bit < 8 * sizeof msg; bit += 37) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert(!certa_verify(pk, msg, sizeof msg, sig), "bit %zu", bit);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < 512; bit += 13) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert(!certa_verify(pk, msg, sizeof msg, sig), "sig bit %zu", bit);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    certa_pubkey_free(pk);
    certa_key_free(k);
}

Test(crypto, pem_file_mode_and_reload)
{
    char dir[] = "/tmp/certa-crypto-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/k.pem", dir);
    certa_key *k = NULL, *k2 = NULL;
    cr_assert_eq(certa_key_generate(&k, NULL), CERTA_OK);
    cr_assert_eq(certa_key_save_pem(k, path, NULL), CERTA_OK);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    certa_errinfo ei;
    cr_assert_eq(certa_key_save_pem(k, path, &ei), CERTA_E_EXISTS);
    cr_assert_eq(certa_key_load_pem(path, &k2, NULL), CERTA_OK);
    uint8_t a[32], b[32];
    certa_key_public(k, a);
    certa_key_public(k2, b);
    cr_assert_eq(memcmp(a, b, 32), 0);
    cr_assert_eq(certa_key_load_pem("/nonexistent/k.pem", &k2, &ei), CERTA_E_IO);
    cr_assert_not_null(strstr(ei.msg, "/nonexistent/k.pem"));
    certa_key_free(k);
    certa_key_free(k2);
    unlink(path);
    rmdir(dir);
}

/* The CURVE key pairs `certa genesis` writes are what ZeroMQ derives: the
 * public half libzmq computes from the secret equals ours, and both decode
 * as Z85. */
Test(crypto, curve_keypair_matches_libzmq)
{
    for (int i = 0; i < 16; i++) {
        char pub[CERTA_CURVE_KEY_Z85_BYTES], sec[CERTA_CURVE_KEY_Z85_BYTES];
        certa_errinfo ei;
        cr_assert_eq(certa_curve_keypair(pub, sec, &ei), CERTA_OK, "%s", ei.msg);
        cr_assert_eq(strlen(pub), 40);
        cr_assert_eq(strlen(sec), 40);
        uint8_t raw[32];
        cr_assert_not_null(zmq_z85_decode(raw, pub));
        cr_assert_not_null(zmq_z85_decode(raw, sec));
        char derived[CERTA_CURVE_KEY_Z85_BYTES];
        cr_assert_eq(zmq_curve_public(derived, sec), 0);
        cr_assert_str_eq(derived, pub);
        char pub2[CERTA_CURVE_KEY_Z85_BYTES], sec2[CERTA_CURVE_KEY_Z85_BYTES];
        cr_assert_eq(certa_curve_keypair(pub2, sec2, &ei), CERTA_OK);
        cr_assert_str_neq(sec2, sec);
    }
}
