/* merkle_hash: the SHA-256 kernels under engine/merkle.c (internal).
 *
 * RFC 6962 hashes have fixed shapes: a leaf is SHA-256(0x00 || data), a node
 * SHA-256(0x01 || left || right) = exactly two 64-byte blocks. These kernels
 * build the padded blocks themselves and feed them straight to a compression
 * function, two independent messages at a time, so that nothing but the
 * compressions costs. Two back ends: SHA-NI (x86 SHA extensions, chosen at
 * run time by CPUID) and a portable one through OpenSSL's SHA256_Transform.
 * On CPUs with AVX-512, whole levels (20 or more leaves or nodes) go through
 * 16-lane kernels instead, 32 messages per pass.
 */
#ifndef CERTA_MERKLE_HASH_H
#define CERTA_MERKLE_HASH_H

#include "certa/merkle.h"

/* Where leaf i's bytes are: split[i] when split != NULL, leaves[i] when
 * leaves != NULL, else the fixed size leaf at base + i * leaf_bytes. */
typedef struct certa_mh_src {
    const certa_merkle_split_leaf *split; /* when set, leaf i is split[i] */
    const certa_merkle_leaf *leaves;
    const uint8_t *base;
    size_t leaf_bytes;
} certa_mh_src;

/* out[i] = leaf hash of leaf first+i, for i < count (out: count*32 bytes). */
void certa_mh_leaf_hashes(const certa_mh_src *src, size_t first, size_t count,
                          uint8_t *out);

/* out[i] = node(in[2i], in[2i+1]) for i < pairs; in and out are arrays of
 * 32-byte hashes and out may equal in (in-place level reduction). */
void certa_mh_nodes(const uint8_t *in, size_t pairs, uint8_t *out);

/* Back end selection: "avx512+sha-ni" (16-lane AVX-512 kernels for whole
 * levels, SHA-NI for the rest), "sha-ni", or "portable" (no AVX-512 either).
 * The force functions are for tests and benchmarks; call them only while no
 * hashing runs. force_narrow(true) turns the AVX-512 kernels off. */
const char *certa_mh_backend(void);
bool certa_mh_have_shani(void);
bool certa_mh_have_wide(void);
void certa_mh_force_portable(bool on);
void certa_mh_force_narrow(bool on);

#endif
