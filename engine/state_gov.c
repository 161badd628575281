/* state_gov: the queries of the governed tables a state holds (part of
 * the state, see state_internal.h; the rules live in gov.c). Read between
 * blocks, like every query: the answers are the tables in force for the
 * next block.
 */
#include "state_internal.h"

uint32_t certa_state_integrator_count(const certa_state *s)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_integrator_count(s->gov);
}

bool certa_state_integrator(const certa_state *s, uint32_t idx, certa_gov_integrator *out)
{
    CERTA_ASSERT(s != NULL && out != NULL);
    const certa_gov_integrator *in = gov_integrator(s->gov, idx);
    if (in == NULL)
        return false;
    *out = *in;
    return true;
}

int certa_state_integrator_find(const certa_state *s, const char *name)
{
    CERTA_ASSERT(s != NULL && name != NULL);
    uint32_t n = gov_integrator_count(s->gov);
    for (uint32_t i = 0; i < n; i++)
        if (strncmp(gov_integrator(s->gov, i)->name, name, CERTA_NAME_BYTES) == 0)
            return (int)i;
    return -1;
}

void certa_state_council(const certa_state *s, certa_gov_council *out)
{
    CERTA_ASSERT(s != NULL && out != NULL);
    gov_council(s->gov, out);
}

uint32_t certa_state_proposal_count(const certa_state *s)
{
    CERTA_ASSERT(s != NULL && !s->in_block);
    return gov_proposal_count(s->gov);
}

bool certa_state_proposal(const certa_state *s, uint32_t i, certa_gov_proposal *out)
{
    CERTA_ASSERT(s != NULL && out != NULL);
    const certa_gov_proposal *p = gov_proposal_at(s->gov, i);
    if (p == NULL)
        return false;
    *out = *p;
    return true;
}

uint16_t certa_state_centre_counters(const certa_state *s, uint16_t centre)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_counters(s->gov, centre);
}

uint32_t certa_state_centre_count(const certa_state *s)
{
    CERTA_ASSERT(s != NULL);
    return gov_centre_count(s->gov);
}

bool certa_state_centre_at(const certa_state *s, uint32_t i, certa_gov_centre *out)
{
    CERTA_ASSERT(s != NULL && out != NULL);
    return gov_centre_at(s->gov, i, out);
}

bool certa_state_counter_open(const certa_state *s, uint16_t centre, uint16_t counter)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_counter_open(s->gov, centre, counter);
}

uint64_t certa_state_param(const certa_state *s, unsigned param)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_param(s->gov, param);
}

uint64_t certa_state_gov_generation(const certa_state *s)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_generation(s->gov);
}

bool certa_state_catalogue(const certa_state *s, uint16_t centre, uint32_t matter,
                           uint32_t *allowed, uint32_t *required)
{
    CERTA_ASSERT(s != NULL && allowed != NULL && required != NULL);
    return gov_catalogue(s->gov, centre, matter, allowed, required);
}

uint32_t certa_state_catalogue_count(const certa_state *s)
{
    CERTA_ASSERT(s != NULL && s->gov != NULL);
    return gov_catalogue_count(s->gov);
}

bool certa_state_catalogue_at(const certa_state *s, uint32_t i, uint16_t *centre,
                              uint32_t *matter, uint32_t *allowed, uint32_t *required)
{
    CERTA_ASSERT(s != NULL && centre != NULL && matter != NULL);
    return gov_catalogue_at(s->gov, i, centre, matter, allowed, required);
}
