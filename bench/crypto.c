/* bench_crypto: which OpenSSL 3 path hashes small inputs fastest, and how
 * many Ed25519 signatures one core signs and verifies per second.
 *
 * The limit is measured in the same run: bulk SHA-256 over 1 MiB gives the
 * cost of one 64-byte compression; a 65-byte Merkle node hash (0x01 || two
 * 32-byte children) needs 2 compressions and a 129-byte event leaf
 * (0x00 || 128 bytes) needs 3. Each small-input path is reported in ns per
 * hash and as the ratio limit / measured (1.0 = as fast as raw
 * compressions). Each round measures the limit and every path (~0.1 s
 * each); figures are medians over 5 rounds.
 * Inputs are chained (each hash feeds the next message) so that no call can
 * be skipped.
 * Also the cost of one trial of an offline code search against a rules-2
 * commitment by someone who holds the salt (docs/OPERATIONS.md "Codes and
 * QR"): format the 8 digits, SHA-256(SHA-256(salt || code)), compare; and
 * the 10^8 codes at that cost on one core. Usage: bench_crypto [--rounds N]
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "certa/codec.h"
#include "certa/crypto.h"

#define ROUND_NS 100000000.0 /* ~0.1 s per measurement */
#define ROUNDS_MAX 15

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*hash_fn)(const uint8_t *msg, size_t len, uint8_t out[32]);

static EVP_MD *fetched_md;
static EVP_MD_CTX *reused_ctx;

static void h_oneshot(const uint8_t *m, size_t len, uint8_t out[32])
{
    SHA256(m, len, out);
}

static void h_evp_fetched(const uint8_t *m, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(reused_ctx, fetched_md, NULL) != 1 ||
        EVP_DigestUpdate(reused_ctx, m, len) != 1 ||
        EVP_DigestFinal_ex(reused_ctx, out, &n) != 1)
        abort();
}

static void h_evp_digest(const uint8_t *m, size_t len, uint8_t out[32])
{
    if (EVP_Digest(m, len, out, NULL, EVP_sha256(), NULL) != 1)
        abort();
}

static void h_low_level(const uint8_t *m, size_t len, uint8_t out[32])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, m, len);
    SHA256_Final(out, &c);
}

static void h_certa(const uint8_t *m, size_t len, uint8_t out[32])
{
    certa_sha256(m, len, out);
}

/* ns per call of fn over len-byte chained messages, over ~ROUND_NS. */
static double time_hash(hash_fn fn, size_t len)
{
    uint8_t msg[256] = {1};
    uint8_t out[32] = {0};
    double t0 = now_ns();
    long done = 0;
    while (now_ns() - t0 < ROUND_NS) {
        for (int i = 0; i < 1000; i++) {
            fn(msg, len, out);
            memcpy(msg + 1, out, 32);
        }
        done += 1000;
    }
    return (now_ns() - t0) / (double)done;
}

/* MB/s of SHA-256 over a 1 MiB buffer (the compression limit), ~ROUND_NS. */
static double time_bulk(uint8_t *buf, size_t len)
{
    uint8_t out[32];
    double t0 = now_ns();
    long done = 0;
    while (now_ns() - t0 < ROUND_NS) {
        h_low_level(buf, len, out);
        buf[0] = out[0];
        done++;
    }
    return (double)done * (double)len / ((now_ns() - t0) / 1e9) / 1e6;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void time_ed25519(int rounds, double *sign_per_s, double *verify_per_s)
{
    certa_key *k = NULL;
    certa_pubkey *pk = NULL;
    uint8_t pub[32], msg[32] = {7}, sig[64];
    if (certa_key_generate(&k, NULL) != CERTA_OK)
        abort();
    certa_key_public(k, pub);
    if (certa_pubkey_from_raw(pub, &pk, NULL) != CERTA_OK)
        abort();
    double s[ROUNDS_MAX], v[ROUNDS_MAX];
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        long done = 0;
        while (now_ns() - t0 < ROUND_NS) {
            if (certa_sign(k, msg, sizeof msg, sig, NULL) != CERTA_OK)
                abort();
            msg[0] = sig[0];
            done++;
        }
        s[r] = (double)done / ((now_ns() - t0) / 1e9);
        if (certa_sign(k, msg, sizeof msg, sig, NULL) != CERTA_OK)
            abort();
        t0 = now_ns();
        done = 0;
        while (now_ns() - t0 < ROUND_NS) {
            if (!certa_verify(pk, msg, sizeof msg, sig))
                abort(); /* only valid signatures: the path batches take */
            done++;
        }
        v[r] = (double)done / ((now_ns() - t0) / 1e9);
    }
    qsort(s, (size_t)rounds, sizeof s[0], cmp_double);
    qsort(v, (size_t)rounds, sizeof v[0], cmp_double);
    *sign_per_s = s[rounds / 2];
    *verify_per_s = v[rounds / 2];
    certa_pubkey_free(pk);
    certa_key_free(k);
}

/* ns per trial of a search over codes against a sealed commitment that no
 * code matches (so the loop runs for its whole length, ~ROUND_NS). */
static double time_code_trials(void)
{
    static const uint8_t salt[CERTA_SALT_BYTES] = {7, 1, 9, 2};
    uint8_t target[CERTA_HASH_BYTES], h[CERTA_HASH_BYTES];
    memset(target, 0xa5, sizeof target);
    unsigned long n = 0, found = 0;
    double t0 = now_ns(), t = t0;
    char code[CERTA_CODE_DIGITS + 1];
    while (t - t0 < ROUND_NS) {
        for (int k = 0; k < 4096; k++, n++) {
            snprintf(code, sizeof code, "%08lu", n % 100000000ul);
            certa_code_commit_sealed(salt, code, h);
            found += memcmp(h, target, sizeof h) == 0;
        }
        t = now_ns();
    }
    if (found != 0)
        abort();
    return (t - t0) / (double)n;
}

int main(int argc, char **argv)
{
    int rounds = 5;
    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = atoi(argv[2]);
    if (rounds < 1 || rounds > ROUNDS_MAX || (argc != 1 && argc != 3)) {
        fprintf(stderr, "usage: bench_crypto [--rounds 1..%d]\n", ROUNDS_MAX);
        return 2;
    }
    fetched_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    reused_ctx = EVP_MD_CTX_new();
    if (fetched_md == NULL || reused_ctx == NULL)
        abort();

    static const struct {
        const char *name;
        hash_fn fn;
    } paths[] = {
        {"SHA256() one-shot", h_oneshot},
        {"EVP_Digest(EVP_sha256())", h_evp_digest},
        {"EVP, digest fetched once, ctx reused", h_evp_fetched},
        {"SHA256_Init/Update/Final", h_low_level},
        {"certa_sha256", h_certa},
    };
    enum { PATHS = sizeof paths / sizeof paths[0] };
    static const size_t lens[2] = {65, 129};
    static const int blocks[2] = {2, 3};

    size_t bulk_len = 1u << 20;
    uint8_t *bulk = malloc(bulk_len);
    if (bulk == NULL)
        abort();
    for (size_t i = 0; i < bulk_len; i++)
        bulk[i] = (uint8_t)(i * 131u);

    /* Each round measures the limit and then every path, so that load from
     * other processes hits both sides of a ratio alike. */
    double mbs[ROUNDS_MAX], ns[PATHS][2][ROUNDS_MAX], ratio[PATHS][2][ROUNDS_MAX];
    for (int r = 0; r < rounds; r++) {
        mbs[r] = time_bulk(bulk, bulk_len);
        double ns_block = 64.0 / (mbs[r] * 1e6) * 1e9;
        for (int p = 0; p < PATHS; p++)
            for (int z = 0; z < 2; z++) {
                ns[p][z][r] = time_hash(paths[p].fn, lens[z]);
                ratio[p][z][r] = ns_block * blocks[z] / ns[p][z][r];
            }
    }
    free(bulk);
    double m = median(mbs, rounds);
    printf("bulk SHA-256 (SHA256_Update over 1 MiB): %.0f MB/s = %.1f ns per "
           "64-byte compression (median of %d rounds)\n\n",
           m, 64.0 / (m * 1e6) * 1e9, rounds);
    printf("%-38s %13s %7s %13s %7s\n", "path", "65 B ns/hash", "ratio",
           "129 B ns/hash", "ratio");
    for (int p = 0; p < PATHS; p++) {
        printf("%-38s", paths[p].name);
        for (int z = 0; z < 2; z++)
            printf(" %13.1f %7.2f", median(ns[p][z], rounds),
                   median(ratio[p][z], rounds));
        printf("\n");
    }
    printf("(ratio = limit / measured, per round then median; limit = 2 or 3 "
           "compressions at the bulk cost)\n\n");

    double sps = 0, vps = 0;
    time_ed25519(rounds, &sps, &vps);
    printf("Ed25519 (certa_sign / certa_verify, 32-byte message, 1 thread): "
           "sign %.0f/s, verify %.0f/s\n",
           sps, vps);

    double trial[ROUNDS_MAX];
    for (int r = 0; r < rounds; r++)
        trial[r] = time_code_trials();
    double tn = median(trial, rounds);
    printf("code search trial (8 digits, SHA-256(SHA-256(salt || code)), salt known, "
           "1 thread): %.1f ns; all 10^8 codes: %.1f s on one core; without the salt: "
           "2^128 salts times that\n",
           tn, tn * 1e8 / 1e9);

    EVP_MD_CTX_free(reused_ctx);
    EVP_MD_free(fetched_md);
    return 0;
}
