/* Fuzz target for engine/block.c: decoding arbitrary bytes as a committed
 * block record never crashes or reads out of bounds; whatever decodes
 * re-encodes to the very same bytes (the encoding is canonical), its
 * batches walk to the end without a failure (the decoder checked them
 * all), and its certificate goes through the verifier (with a host
 * verifier standing in for Ed25519, so the fuzzer can reach both answers). */
#include <stdlib.h>
#include <string.h>

#include "certa/block.h"

/* A "signature" verifies when its first byte is the signer's index. */
static bool fake_verify(void *ctx, uint16_t signer, const uint8_t *msg, size_t len,
                        const uint8_t sig[CERTA_SIGNATURE_BYTES])
{
    (void)ctx;
    (void)msg;
    if (len != CERTA_COMMIT_MSG_BYTES)
        abort();
    return sig[0] == (uint8_t)signer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_block b;
    if (certa_block_decode(data, size, &b, NULL) != CERTA_OK)
        return 0;
    if (!certa_block_is_record(data, size) || certa_block_encoded_len(&b) != size)
        abort();
    uint8_t *out = malloc(size);
    size_t len = 0;
    if (out == NULL || certa_block_encode(&b, out, size, &len, NULL) != CERTA_OK ||
        len != size || memcmp(out, data, size) != 0)
        abort();
    free(out);
    size_t pos = 0;
    uint32_t n = 0;
    certa_block_batch x;
    while (certa_block_next(&b, &pos, &x)) {
        if (x.bytes < data || x.bytes + x.len > data + size)
            abort();
        n++;
    }
    if (n != b.batch_count || pos != b.batches_len)
        abort();
    static const uint8_t hash[CERTA_HASH_BYTES];
    certa_commit_cert cert;
    certa_block_cert(&b, hash, &cert);
    certa_block_keyset ks;
    memset(&ks, 0, sizeof ks);
    ks.n = 7;
    ks.quorum = 5;
    ks.verify = fake_verify;
    certa_err e = certa_block_cert_verify(&cert, &ks, NULL);
    if (e == CERTA_OK && (cert.count < ks.quorum || cert.sigs[cert.count - 1].validator >= ks.n))
        abort();
    return 0;
}
