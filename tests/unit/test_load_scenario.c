/* Tests for load/scenario.c: the built-in Beijing scenario loads and
 * its derived numbers follow from its inputs; malformed scenarios are
 * refused naming the field; JSON round trip; scale names. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

Test(load_scenario, beijing_loads_and_summarizes)
{
    certa_load_scenario s;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(certa_load_scenario_load("beijing", &s, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_str_eq(s.name, "beijing");
    cr_assert_eq(s.group_count, 3);
    cr_assert_eq(s.groups[1].count, 16);
    cr_assert_eq(s.peak_hour, 10);
    cr_assert_eq(s.start_hour, 10);
    certa_load_summary sum;
    certa_load_scenario_summarize(&s, 1.0, &sum);
    cr_assert_eq(sum.centres, 1 + 16 + 343);
    cr_assert_eq(sum.counters, 200 + 16 * 60 + 343 * 6);
    cr_assert_float_eq(sum.peak_cases_per_hour, sum.counters * 4.0, 1e-6);
    cr_assert(sum.peak_share > 0.1 && sum.peak_share < 0.2, "%f", sum.peak_share);
    cr_assert(sum.events_per_case > 5 && sum.events_per_case < 8, "%f", sum.events_per_case);
    certa_load_summary big;
    certa_load_scenario_summarize(&s, CERTA_LOAD_SCALE_COUNTRY, &big);
    cr_assert_float_eq(big.peak_events_per_s, sum.peak_events_per_s * 64.5, 1e-6);
}

Test(load_scenario, json_round_trip)
{
    certa_load_scenario a, b;
    cr_assert_eq(certa_load_scenario_load("beijing", &a, NULL), CERTA_OK);
    char *j = certa_load_scenario_to_json(&a);
    cr_assert_not_null(j);
    certa_errinfo ei;
    cr_assert_eq(certa_load_scenario_parse(j, "round trip", &b, &ei), CERTA_OK, "%s", ei.msg);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    free(j);
}

/* Replaces the first occurrence of from by to in the Beijing JSON. */
static char *mutate(const char *from, const char *to)
{
    const char *src = certa_load_scenario_beijing_json();
    const char *at = strstr(src, from);
    cr_assert_not_null(at, "fixture lacks %s", from);
    size_t n = strlen(src) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
    return out;
}

static void refused(const char *from, const char *to, const char *field)
{
    char *j = mutate(from, to);
    certa_load_scenario s;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_neq(certa_load_scenario_parse(j, "t.json", &s, &ei), CERTA_OK,
                  "accepted %s -> %s", from, to);
    cr_assert_not_null(strstr(ei.msg, field), "message '%s' lacks '%s'", ei.msg, field);
    free(j);
}

Test(load_scenario, malformed_scenarios_are_refused_by_field)
{
    refused("\"growth\": 1.0", "\"growth\": -1", "growth");
    refused("\"growth\": 1.0", "\"growht\": 1.0", "growht");
    refused("\"code\": 0.45", "\"code\": 0.55", "methods");
    refused("\"counters\": 60", "\"counters\": 0", "centres[1].counters");
    refused("\"open_hour\": 9, \"close_hour\": 17}", "\"open_hour\": 9, \"close_hour\": 8}",
            "close_hour");
    refused("0.8, 1.0, 0.9", "0.8, 0.95, 0.9", "hourly_profile");
    refused("[0.5, 0.35, 0.15, 0]", "[0.5, 0.35, 0.15]", "personal_licences");
    refused("\"grant_validity\": 7200", "\"grant_validity\": 100", "grant_validity");
    refused("\"app\": 100", "\"app\": \"x\"", "batching_ms.app");
    refused("{\n  \"name\"", "[\n  \"name\"", "line");
}

Test(load_scenario, scale_names)
{
    double d = 0;
    cr_assert_eq(certa_load_scale_parse("city10", &d), 0);
    cr_assert_float_eq(d, 10.0, 1e-12);
    cr_assert_eq(certa_load_scale_parse("country", &d), 0);
    cr_assert_float_eq(d, 64.5, 1e-12);
    cr_assert_eq(certa_load_scale_parse("2.5", &d), 0);
    cr_assert_float_eq(d, 2.5, 1e-12);
    cr_assert_eq(certa_load_scale_parse("0", &d), -1);
    cr_assert_eq(certa_load_scale_parse("x", &d), -1);
}

Test(load_scenario, file_load_and_missing_file)
{
    char path[] = "/tmp/certa-scenario-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(certa_load_scenario_beijing_json(), f);
    fclose(f);
    certa_load_scenario s;
    cr_assert_eq(certa_load_scenario_load(path, &s, NULL), CERTA_OK);
    remove(path);
    certa_errinfo ei;
    cr_assert_eq(certa_load_scenario_load(path, &s, &ei), CERTA_E_IO);
    cr_assert_not_null(strstr(ei.msg, path));
}
