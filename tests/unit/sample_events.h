/* Sample events of every kind for the codec and JSON tests and the fuzz
 * seed generator: fixed, valid, and distinct per seed value. */
#ifndef CERTA_TEST_SAMPLE_EVENTS_H
#define CERTA_TEST_SAMPLE_EVENTS_H

#include <string.h>

#include "certa/codec.h"

static inline void sample_fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* A valid event of the given kind; seed varies the ids and numbers. For
 * redeem, licences is the licence count (1..16). */
static inline certa_event sample_event(unsigned kind, uint8_t seed, unsigned licences)
{
    certa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = (uint8_t)kind;
    sample_fill(ev.grant_id, sizeof ev.grant_id, seed);
    switch (kind) {
    case CERTA_EV_GRANT:
        sample_fill(ev.holder_id, sizeof ev.holder_id, (uint8_t)(seed + 1));
        ev.licence_types = (1u << CERTA_LT_ID_CARD) | (1u << CERTA_LT_HOUSEHOLD_REGISTER);
        ev.centre = (uint16_t)(1 + seed % 17);
        ev.counter = (uint16_t)(seed % 5);
        ev.matter = 1000u + seed;
        ev.not_before_ms = 1700000000000ull + seed;
        ev.not_after_ms = ev.not_before_ms + 30ull * 60 * 1000;
        ev.max_uses = 1;
        ev.method = (uint8_t)(seed % 3);
        if (ev.method != CERTA_METHOD_DIRECT)
            sample_fill(ev.code_commit, sizeof ev.code_commit, (uint8_t)(seed + 2));
        break;
    case CERTA_EV_REDEEM:
        ev.centre = (uint16_t)(1 + seed % 17);
        ev.counter = (uint16_t)(1 + seed % 5);
        ev.matter = 1000u + seed;
        memcpy(ev.code, "12345678", 8);
        ev.code[7] = (char)('0' + seed % 10);
        sample_fill(ev.salt, sizeof ev.salt, (uint8_t)(seed + 3));
        ev.licence_count = (uint8_t)licences;
        for (unsigned i = 0; i < licences; i++) {
            sample_fill(ev.licences[i].id, sizeof ev.licences[i].id, (uint8_t)(seed + 10 + i));
            ev.licences[i].type = (uint8_t)(i % CERTA_LT_KNOWN_COUNT);
            sample_fill(ev.licences[i].digest, sizeof ev.licences[i].digest,
                        (uint8_t)(seed + 40 + i));
        }
        break;
    case CERTA_EV_CONFIRM:
    case CERTA_EV_SIGN:
    case CERTA_EV_PHOTO:
        ev.centre = (uint16_t)(1 + seed % 17);
        ev.counter = (uint16_t)(1 + seed % 5);
        sample_fill(ev.evidence, sizeof ev.evidence, (uint8_t)(seed + 4));
        break;
    case CERTA_EV_REVOKE:
        sample_fill(ev.holder_id, sizeof ev.holder_id, (uint8_t)(seed + 1));
        break;
    default:
        break;
    }
    return ev;
}

#endif
