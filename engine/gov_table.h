/* gov_table: the governed tables inside a licence state (engine/gov.c),
 * as the state's rules and the ledger read them. The public contract
 * (change types, queries) is include/certa/gov.h.
 *
 * Two copies of the tables: `cur`, what the events of the block being
 * applied see, and `next`, which the changes approved in that block edit;
 * end_block makes next current. Outside a block both are equal. Pure: no
 * clock, no I/O; every answer is a function of the genesis and the chain.
 */
#ifndef CERTA_ENGINE_GOV_TABLE_H
#define CERTA_ENGINE_GOV_TABLE_H

#include "certa/gov.h"

typedef struct certa_gov certa_gov;

/* NULL when out of memory. */
certa_gov *gov_create(const certa_genesis *g);
void gov_free(certa_gov *v);

/* ---- what events see (the current tables) */
/* NULL when idx names no integrator (removed ones are returned). */
const certa_gov_integrator *gov_integrator(const certa_gov *v, uint32_t idx);
uint32_t gov_integrator_count(const certa_gov *v);
uint16_t gov_counters(const certa_gov *v, uint16_t centre);
/* Counter in range, not closed, and its centre open. */
bool gov_counter_open(const certa_gov *v, uint16_t centre, uint16_t counter);
/* The centre exists (genesis or centre_add) and is not closed. */
bool gov_centre_open(const certa_gov *v, uint16_t centre);
/* As certa_state_centre_count and certa_state_centre_at. */
uint32_t gov_centre_count(const certa_gov *v);
bool gov_centre_at(const certa_gov *v, uint32_t i, certa_gov_centre *out);
uint64_t gov_param(const certa_gov *v, unsigned param);
/* As certa_state_catalogue_count and certa_state_catalogue_at. */
uint32_t gov_catalogue_count(const certa_gov *v);
bool gov_catalogue_at(const certa_gov *v, uint32_t i, uint16_t *centre, uint32_t *matter,
                      uint32_t *allowed, uint32_t *required);
/* As certa_state_catalogue. */
bool gov_catalogue(const certa_gov *v, uint16_t centre, uint32_t matter, uint32_t *allowed,
                   uint32_t *required);
void gov_council(const certa_gov *v, certa_gov_council *out);
uint32_t gov_proposal_count(const certa_gov *v);
const certa_gov_proposal *gov_proposal_at(const certa_gov *v, uint32_t i);
/* Changes in force so far (a generation: it grows with every change that
 * takes effect), for hosts that copy the tables. */
uint64_t gov_generation(const certa_gov *v);

/* ---- applying: a GOVERN event of integrator (its role and status already
 * checked by the state) in block `height` at block time now_ms */
certa_result gov_apply(certa_gov *v, uint64_t height, uint64_t now_ms, uint16_t integrator,
                       const certa_event *ev);
/* The block ended: the changes it approved are in force from the next. */
void gov_end_block(certa_gov *v);

/* SHA-256 over the current tables and the open proposals (cached until
 * they change). */
void gov_digest(certa_gov *v, uint8_t out[CERTA_HASH_BYTES]);

/* ---- snapshots: a canonical byte form of everything above */
/* malloc'ed bytes in *out (length *len); false when out of memory. */
bool gov_serialize(const certa_gov *v, uint8_t **out, size_t *len);
/* Replaces v's content with the serialized form; false (v unchanged) when
 * it does not parse or breaks an invariant. */
bool gov_deserialize(certa_gov *v, const uint8_t *in, size_t len);

#endif
