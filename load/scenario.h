/* scenario: the city load model (what a city's counters produce per hour).
 *
 * A scenario describes service centres in groups (the municipal centre, the
 * district centres, the street-level centres) with counters per centre and
 * opening hours, an hourly arrival profile relative to the peak hour, the mix
 * of matters and licences, the events each case produces and the shares of
 * cases that go wrong on purpose (wrong code, revoked, expired, online only).
 * It is read from JSON (the format is in docs/LOAD.md) or taken from the
 * built-in `beijing` scenario, whose numbers are reasoned in docs/LOAD.md.
 * A loaded scenario is a plain value: no pointers, copyable, immutable.
 */
#ifndef CERTA_LOAD_SCENARIO_H
#define CERTA_LOAD_SCENARIO_H

#include "certa/certa.h"

#define CERTA_LOAD_GROUPS_MAX 16u
#define CERTA_LOAD_LICENCES_PER_CASE_MAX 4u
#define CERTA_LOAD_NAME_BYTES 64u
#define CERTA_LOAD_TEXT_BYTES 512u

/* Centres of one kind, all alike. */
typedef struct certa_load_centre_group {
    char kind[CERTA_LOAD_NAME_BYTES]; /* "municipal", "district", "street" */
    uint32_t count;                   /* centres in the group, >= 1 */
    uint32_t counters;                /* counters per centre, >= 1 */
    uint32_t open_hour;               /* first open hour, 0..23 */
    uint32_t close_hour;              /* first closed hour, open+1..24 */
} certa_load_centre_group;

typedef struct certa_load_scenario {
    char name[CERTA_LOAD_NAME_BYTES];
    char description[CERTA_LOAD_TEXT_BYTES];

    uint32_t group_count;
    certa_load_centre_group groups[CERTA_LOAD_GROUPS_MAX];

    /* Arrivals: at the peak hour every open counter serves
     * cases_per_counter_hour cases; hour h gets hourly[h] of that (the peak
     * hour has weight 1). elicence_share of counter cases use e-licences and
     * so reach the ledger. growth multiplies everything (future years). */
    double cases_per_counter_hour;
    double hourly[24];
    uint32_t peak_hour; /* derived: the hour with weight 1 (first one) */
    uint32_t start_hour; /* where a generated trace starts (default: peak) */
    double elicence_share;
    double growth;

    /* Matters and licences. */
    double company_share;     /* company matters, else personal */
    double matter_zipf_s;     /* popularity of matters: Zipf exponent, 0 = uniform */
    double personal_licences[CERTA_LOAD_LICENCES_PER_CASE_MAX]; /* P(1..4 licences) */
    double company_licences[CERTA_LOAD_LICENCES_PER_CASE_MAX];
    double method_code, method_qr, method_direct; /* shares, sum 1 */

    /* Events of a case and the shares that go wrong on purpose. */
    double confirm_share, sign_share, photo_share; /* of redeemed cases */
    double wrong_code_share;    /* of code cases: one wrong code first */
    double revoke_after_share;  /* holder unbinds after the case: OK */
    double revoke_before_share; /* holder revokes before the counter redeems */
    double expired_share;       /* grant sent after its window closed */
    double online_only_share;   /* extra grants made online, never redeemed */

    /* Timing inside a case (seconds of trace time). */
    uint32_t redeem_after_grant_s_min, redeem_after_grant_s_max;
    uint32_t step_gap_s_min, step_gap_s_max; /* between later steps */
    uint32_t revoke_after_s_max;             /* after the last step */
    uint32_t grant_validity_s;               /* not_after - grant time */

    /* Batching by the integrators (trace time). */
    uint32_t app_batch_ms;     /* holder-app gateway */
    uint32_t counter_batch_ms; /* each centre's counter system */
} certa_load_scenario;

/* Numbers derived from a scenario, for docs and the `describe` command. */
typedef struct certa_load_summary {
    uint32_t centres;
    uint32_t counters;
    double peak_cases_per_hour;  /* counter cases at the peak hour, on the ledger */
    double day_cases;            /* counter cases over the whole day */
    double peak_share;           /* peak hour / day */
    double events_per_case;      /* expected events per counter case (incl. online share) */
    double peak_events_per_hour;
    double peak_events_per_s;
    double expected_reject_share; /* of all events */
} certa_load_summary;

/* Scale factors named in docs/LOAD.md. */
#define CERTA_LOAD_SCALE_CITY10 10.0
/* China (1,411.78 M, 2020 census) over Beijing (21.89 M, 2020 census). */
#define CERTA_LOAD_SCALE_COUNTRY 64.5

/* Loads a scenario: "beijing" (built in) or a JSON file path. Unknown keys,
 * wrong types and out-of-range values are refused naming the field. */
certa_err certa_load_scenario_load(const char *name_or_path,
                                   certa_load_scenario *out, certa_errinfo *ei);
/* Parses scenario JSON text; `origin` names it in errors. */
certa_err certa_load_scenario_parse(const char *json, const char *origin,
                                    certa_load_scenario *out, certa_errinfo *ei);
/* The built-in Beijing scenario's JSON text (static, never NULL). */
const char *certa_load_scenario_beijing_json(void);

/* Parses a scale: a positive number, "city" (1), "city10" (10) or
 * "country" (64.5). Returns -1 when malformed. */
int certa_load_scale_parse(const char *s, double *out);

/* Writes the scenario as JSON (the same format the parser reads). */
char *certa_load_scenario_to_json(const certa_load_scenario *s);

void certa_load_scenario_summarize(const certa_load_scenario *s, double scale,
                                   certa_load_summary *out);

/* Expected counter cases arriving at one centre of group g during hour h
 * (before scale). 0 when the centre is closed. */
double certa_load_scenario_rate(const certa_load_scenario *s, uint32_t g,
                                uint32_t hour);

#endif
