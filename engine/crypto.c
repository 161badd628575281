/* crypto: SHA-256 over OpenSSL 3, Ed25519 keys in OpenSSL, signatures
 * made and checked by libsodium.
 *
 * SHA-256 goes through the low-level SHA256_* functions (deprecated in
 * OpenSSL 3 but still the fastest path: no provider look-up per call, SHA-NI
 * underneath). Ed25519 keys are read, generated and written as OpenSSL
 * EVP_PKEYs (PEM files as `openssl` writes them), and each one also keeps
 * its raw form for libsodium, which signs and verifies: on this machine a
 * verify costs 46-56 us there against 103 us through EVP_DigestVerify (a fresh
 * EVP_MD_CTX per call, since Ed25519 contexts cannot be reset in OpenSSL
 * 3.0), and every validator verifies every batch and every vote.
 * libsodium's verify (1.0.18) is RFC 8032's with the strict checks: it
 * also refuses a non-canonical S or public key and a small-order public key
 * or R, which no honest signer produces; every validator runs the same
 * check, so the chain's verdicts stay deterministic (docs/PROTOCOL.md).
 * Invariant: no function here keeps a pointer to caller memory; secret
 * keys are wiped when freed.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "certa/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sodium.h>

_Static_assert(sizeof(certa_sha256_ctx) >= sizeof(SHA256_CTX),
               "certa_sha256_ctx too small for SHA256_CTX");

struct certa_key {
    EVP_PKEY *pkey;
    uint8_t pub[CERTA_PUBKEY_BYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES]; /* libsodium's: seed || pub */
};

/* Only the raw key: libsodium verifies (OpenSSL's EVP form of a public key
 * checked nothing more, it takes any 32 bytes). */
struct certa_pubkey {
    uint8_t raw[CERTA_PUBKEY_BYTES];
};

void certa_sha256(const void *data, size_t len, uint8_t out[CERTA_HASH_BYTES])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
}

void certa_sha256_init(certa_sha256_ctx *c)
{
    SHA256_Init((SHA256_CTX *)(void *)c);
}

void certa_sha256_update(certa_sha256_ctx *c, const void *data, size_t len)
{
    SHA256_Update((SHA256_CTX *)(void *)c, data, len);
}

void certa_sha256_final(certa_sha256_ctx *c, uint8_t out[CERTA_HASH_BYTES])
{
    SHA256_Final(out, (SHA256_CTX *)(void *)c);
}

bool certa_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

static certa_err ossl_fail(certa_errinfo *ei, certa_err code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "no detail";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return certa_errorf(ei, code, "%s: %s", what, buf);
}

/* libsodium is ready (sodium_init is idempotent and thread-safe). */
static bool sodium_ready(void)
{
    return sodium_init() >= 0;
}

static certa_err key_wrap(EVP_PKEY *pkey, certa_key **out, certa_errinfo *ei)
{
    certa_key *k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating a key");
    }
    size_t len = CERTA_PUBKEY_BYTES, seed_len = crypto_sign_SEEDBYTES;
    uint8_t seed[crypto_sign_SEEDBYTES], pub[crypto_sign_PUBLICKEYBYTES];
    if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) != 1 ||
        len != CERTA_PUBKEY_BYTES ||
        EVP_PKEY_get_raw_private_key(pkey, seed, &seed_len) != 1 ||
        seed_len != crypto_sign_SEEDBYTES) {
        EVP_PKEY_free(pkey);
        free(k);
        return ossl_fail(ei, CERTA_E_BAD_KEY, "reading the Ed25519 key");
    }
    /* the same key for libsodium: its secret key is derived from the seed */
    bool same = sodium_ready() && crypto_sign_seed_keypair(pub, k->sk, seed) == 0 &&
                memcmp(pub, k->pub, CERTA_PUBKEY_BYTES) == 0;
    OPENSSL_cleanse(seed, sizeof seed);
    if (!same) {
        EVP_PKEY_free(pkey);
        OPENSSL_cleanse(k->sk, sizeof k->sk);
        free(k);
        return certa_errorf(ei, CERTA_E_CRYPTO, "Ed25519 key: libsodium derives another "
                            "public key from its seed");
    }
    k->pkey = pkey;
    *out = k;
    return CERTA_OK;
}

certa_err certa_key_generate(certa_key **out, certa_errinfo *ei)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (pc == NULL || EVP_PKEY_keygen_init(pc) != 1 ||
        EVP_PKEY_keygen(pc, &pkey) != 1) {
        EVP_PKEY_CTX_free(pc);
        return ossl_fail(ei, CERTA_E_CRYPTO, "generating an Ed25519 key");
    }
    EVP_PKEY_CTX_free(pc);
    return key_wrap(pkey, out, ei);
}

/* Z85 (ZeroMQ RFC 32) of 32 bytes: big-endian 4-byte groups, 5 digits
 * base 85 each, most significant first. */
static void z85_encode32(const uint8_t in[32], char out[CERTA_CURVE_KEY_Z85_BYTES])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    _Static_assert(sizeof digits == 86, "Z85 has 85 digits");
    for (size_t g = 0; g < 8; g++) {
        uint32_t v = (uint32_t)in[4 * g] << 24 | (uint32_t)in[4 * g + 1] << 16 |
                     (uint32_t)in[4 * g + 2] << 8 | (uint32_t)in[4 * g + 3];
        for (int k = 4; k >= 0; k--) {
            out[5 * g + (size_t)k] = digits[v % 85u];
            v /= 85u;
        }
    }
    out[40] = '\0';
}

certa_err certa_curve_keypair(char public_z85[CERTA_CURVE_KEY_Z85_BYTES],
                              char secret_z85[CERTA_CURVE_KEY_Z85_BYTES],
                              certa_errinfo *ei)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    if (pc == NULL || EVP_PKEY_keygen_init(pc) != 1 || EVP_PKEY_keygen(pc, &pkey) != 1) {
        EVP_PKEY_CTX_free(pc);
        return ossl_fail(ei, CERTA_E_CRYPTO, "generating a CURVE (X25519) key");
    }
    EVP_PKEY_CTX_free(pc);
    uint8_t pub[32], sec[32];
    size_t pl = sizeof pub, sl = sizeof sec;
    bool ok = EVP_PKEY_get_raw_public_key(pkey, pub, &pl) == 1 && pl == 32 &&
              EVP_PKEY_get_raw_private_key(pkey, sec, &sl) == 1 && sl == 32;
    EVP_PKEY_free(pkey);
    if (ok) {
        z85_encode32(pub, public_z85);
        z85_encode32(sec, secret_z85);
    }
    OPENSSL_cleanse(sec, sizeof sec);
    if (!ok)
        return ossl_fail(ei, CERTA_E_CRYPTO, "reading a CURVE (X25519) key");
    return CERTA_OK;
}

certa_err certa_key_from_seed(const uint8_t seed[32], certa_key **out,
                              certa_errinfo *ei)
{
    EVP_PKEY *pkey =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (pkey == NULL)
        return ossl_fail(ei, CERTA_E_BAD_KEY, "Ed25519 key from seed");
    return key_wrap(pkey, out, ei);
}

certa_err certa_key_load_pem(const char *path, certa_key **out, certa_errinfo *ei)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey == NULL) {
        ERR_clear_error();
        return certa_errorf(ei, CERTA_E_BAD_KEY,
                            "%s: not a PEM private key", path);
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        return certa_errorf(ei, CERTA_E_BAD_KEY, "%s: not an Ed25519 key", path);
    }
    return key_wrap(pkey, out, ei);
}

certa_err certa_key_save_pem(const certa_key *k, const char *path,
                             certa_errinfo *ei)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return certa_errorf(ei, errno == EEXIST ? CERTA_E_EXISTS : CERTA_E_IO,
                            "%s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    }
    int ok = PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (ok != 1) {
        ERR_clear_error();
        unlink(path);
        return certa_errorf(ei, CERTA_E_IO, "%s: writing the key failed", path);
    }
    return CERTA_OK;
}

void certa_key_public(const certa_key *k, uint8_t pub[CERTA_PUBKEY_BYTES])
{
    CERTA_ASSERT(k != NULL);
    memcpy(pub, k->pub, CERTA_PUBKEY_BYTES);
}

void certa_key_free(certa_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey); /* OpenSSL cleanses the private key on free */
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

certa_err certa_sign(const certa_key *k, const uint8_t *msg, size_t len,
                     uint8_t sig[CERTA_SIGNATURE_BYTES], certa_errinfo *ei)
{
    CERTA_ASSERT(k != NULL && k->pkey != NULL);
    unsigned long long sig_len = 0;
    if (crypto_sign_detached(sig, &sig_len, msg, len, k->sk) != 0 ||
        sig_len != CERTA_SIGNATURE_BYTES)
        return certa_errorf(ei, CERTA_E_CRYPTO, "Ed25519 sign failed");
    return CERTA_OK;
}

certa_err certa_pubkey_from_raw(const uint8_t raw[CERTA_PUBKEY_BYTES],
                                certa_pubkey **out, certa_errinfo *ei)
{
    if (!sodium_ready())
        return certa_errorf(ei, CERTA_E_CRYPTO, "libsodium does not start");
    certa_pubkey *pk = calloc(1, sizeof *pk);
    if (pk == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating a public key");
    memcpy(pk->raw, raw, CERTA_PUBKEY_BYTES);
    *out = pk;
    return CERTA_OK;
}

void certa_pubkey_raw(const certa_pubkey *pk, uint8_t raw[CERTA_PUBKEY_BYTES])
{
    CERTA_ASSERT(pk != NULL);
    memcpy(raw, pk->raw, CERTA_PUBKEY_BYTES);
}

void certa_pubkey_free(certa_pubkey *pk)
{
    free(pk);
}

bool certa_verify(const certa_pubkey *pk, const uint8_t *msg, size_t len,
                  const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    CERTA_ASSERT(pk != NULL);
    return crypto_sign_verify_detached(sig, msg, len, pk->raw) == 0;
}
