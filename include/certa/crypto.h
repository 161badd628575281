/* crypto: SHA-256 and Ed25519 through OpenSSL 3, on its fastest paths.
 *
 * SHA-256: OpenSSL 3's one-shot SHA256() looks the digest up on every call
 * (several times the cost of the compressions); certa_sha256 uses the
 * low-level SHA256_Init/Update/Final path, measured fastest here.
 * Ed25519: keys are parsed once into opaque handles (an EVP_PKEY each) and
 * reused; signing and verifying never re-parse a key.
 * Secrets are wiped (OPENSSL_cleanse) when a key is freed.
 */
#ifndef CERTA_CRYPTO_H
#define CERTA_CRYPTO_H

#include "certa/certa.h"

/* SHA-256 of len bytes. Thread-safe, no allocation. */
void certa_sha256(const void *data, size_t len, uint8_t out[CERTA_HASH_BYTES]);

/* Incremental SHA-256; the context lives on the caller's stack. */
typedef struct certa_sha256_ctx {
    uint64_t opaque_[14]; /* holds an OpenSSL SHA256_CTX (112 bytes) */
} certa_sha256_ctx;
void certa_sha256_init(certa_sha256_ctx *c);
void certa_sha256_update(certa_sha256_ctx *c, const void *data, size_t len);
void certa_sha256_final(certa_sha256_ctx *c, uint8_t out[CERTA_HASH_BYTES]);

/* Constant-time equality for anything secret (codes, commitments, MACs). */
bool certa_ct_equal(const void *a, const void *b, size_t len);

/* An Ed25519 private key. Owned by the caller; free with certa_key_free. */
typedef struct certa_key certa_key;
/* An Ed25519 public key, parsed once for verifying. */
typedef struct certa_pubkey certa_pubkey;

certa_err certa_key_generate(certa_key **out, certa_errinfo *ei);

/* A new CURVE key pair (X25519, as ZeroMQ's CURVE security uses it), each
 * half as 40 Z85 characters + NUL (ZeroMQ RFC 32): what zmq_curve_keypair
 * makes, from OpenSSL's generator. Wipe secret_z85 after use. */
#define CERTA_CURVE_KEY_Z85_BYTES 41u /* 40 Z85 chars + NUL */
certa_err certa_curve_keypair(char public_z85[CERTA_CURVE_KEY_Z85_BYTES],
                              char secret_z85[CERTA_CURVE_KEY_Z85_BYTES],
                              certa_errinfo *ei);
/* PEM (PKCS#8) file. Save creates the file with mode 0600 and refuses to
 * overwrite an existing one. */
certa_err certa_key_load_pem(const char *path, certa_key **out, certa_errinfo *ei);
certa_err certa_key_save_pem(const certa_key *k, const char *path, certa_errinfo *ei);
/* Deterministic key from 32 seed bytes (tests, simulator, load generator). */
certa_err certa_key_from_seed(const uint8_t seed[32], certa_key **out,
                              certa_errinfo *ei);
void certa_key_public(const certa_key *k, uint8_t pub[CERTA_PUBKEY_BYTES]);
void certa_key_free(certa_key *k);

certa_err certa_sign(const certa_key *k, const uint8_t *msg, size_t len,
                     uint8_t sig[CERTA_SIGNATURE_BYTES], certa_errinfo *ei);

certa_err certa_pubkey_from_raw(const uint8_t raw[CERTA_PUBKEY_BYTES],
                                certa_pubkey **out, certa_errinfo *ei);
void certa_pubkey_raw(const certa_pubkey *pk, uint8_t raw[CERTA_PUBKEY_BYTES]);
void certa_pubkey_free(certa_pubkey *pk);
/* true iff sig is a valid signature of msg by pk. Thread-safe. */
bool certa_verify(const certa_pubkey *pk, const uint8_t *msg, size_t len,
                  const uint8_t sig[CERTA_SIGNATURE_BYTES]);

#endif
