/* libFuzzer target: certa_genesis_parse over arbitrary bytes. It must
 * either refuse with an error message or return a genesis whose invariants
 * hold (n = 3f+1 >= 4, sorted unique ids, resolvable references), and never
 * crash, leak or read out of bounds. Seeds: tests/fuzz/corpus/genesis/. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "certa/genesis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    certa_genesis *g = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_genesis_parse((const char *)data, size, "fuzz.json", &g, &ei);
    if (e != CERTA_OK) {
        CERTA_ASSERT(g == NULL);
        CERTA_ASSERT(ei.code == e && ei.msg[0] != '\0');
        return 0;
    }
    CERTA_ASSERT(g != NULL);
    CERTA_ASSERT(g->validator_count >= 4 && g->validator_count == 3 * g->f + 1);
    for (uint32_t i = 1; i < g->matter_count; i++)
        CERTA_ASSERT(g->matters[i - 1].id < g->matters[i].id);
    for (uint32_t i = 1; i < g->centre_count; i++)
        CERTA_ASSERT(g->centres[i - 1].id < g->centres[i].id);
    for (uint32_t i = 0; i < g->matter_count; i++) {
        CERTA_ASSERT(certa_genesis_bureau(g, g->matters[i].bureau) != NULL);
        CERTA_ASSERT((g->matters[i].licence_types & ~g->licence_type_mask) == 0);
    }
    for (uint32_t i = 0; i < g->integrator_count; i++)
        if (g->integrators[i].role == CERTA_ROLE_COUNTER)
            CERTA_ASSERT(certa_genesis_centre(g, g->integrators[i].centre) != NULL);
    certa_genesis_free(g);
    return 0;
}
