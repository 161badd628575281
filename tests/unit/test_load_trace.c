/* Tests for load/trace.c: write then read back records and counts;
 * a flipped byte, a truncated file and a foreign file are refused; times
 * may not go backwards. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

static void tmp_path(char *buf, size_t cap)
{
    static int n;
    snprintf(buf, cap, "/tmp/certa-trace-%d-%d.trc", (int)getpid(), n++);
}

static void write_sample(const char *path, int records)
{
    certa_load_trace_info info = {.seed = 7, .start_unix_ms = 1700000000000ull,
                                  .scale_milli = 1000, .start_hour = 10, .hours = 1};
    snprintf(info.scenario, sizeof info.scenario, "beijing");
    memset(info.genesis_hash, 0xab, sizeof info.genesis_hash);
    certa_load_trace_writer *w = NULL;
    cr_assert_eq(certa_load_trace_create(path, &info, &w, NULL), CERTA_OK);
    uint8_t batch[300];
    for (int i = 0; i < records; i++) {
        memset(batch, i, sizeof batch);
        certa_load_trace_rec r = {.at_us = (uint64_t)i * 1000, .events = (uint32_t)(i % 5 + 1),
                                  .integrator = (uint16_t)(i % 3), .expected_rejects = i % 7 == 0,
                                  .batch = batch, .batch_bytes = (uint32_t)(100 + i % 200)};
        cr_assert_eq(certa_load_trace_append(w, &r, NULL), CERTA_OK);
    }
    certa_load_trace_intend(w, CERTA_LOAD_INTENT_BAD_CODE, 4);
    cr_assert_eq(certa_load_trace_finish(w, NULL), CERTA_OK);
}

Test(load_trace, round_trip)
{
    char path[128];
    tmp_path(path, sizeof path);
    write_sample(path, 1000);
    certa_load_trace *t = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_load_trace_open(path, &t, &ei), CERTA_OK, "%s", ei.msg);
    const certa_load_trace_info *in = certa_load_trace_get_info(t);
    cr_assert_eq(in->seed, 7);
    cr_assert_eq(in->records, 1000);
    cr_assert_eq(in->start_unix_ms, 1700000000000ull);
    cr_assert_str_eq(in->scenario, "beijing");
    cr_assert_eq(in->expected_by_intent[CERTA_LOAD_INTENT_BAD_CODE], 4);
    cr_assert_eq(in->last_at_us, 999000);
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    certa_load_trace_rec r;
    int i = 0;
    uint64_t events = 0;
    while (certa_load_trace_next(t, &pos, &r)) {
        cr_assert_eq(r.at_us, (uint64_t)i * 1000);
        cr_assert_eq(r.batch_bytes, 100 + i % 200);
        cr_assert_eq(r.integrator, i % 3);
        cr_assert_eq(r.batch[r.batch_bytes - 1], (uint8_t)i);
        events += r.events;
        i++;
    }
    cr_assert_eq(i, 1000);
    cr_assert_eq(events, in->events);
    certa_load_trace_close(t);
    remove(path);
}

static void corrupt_and_expect(long offset, certa_err want)
{
    char path[128];
    tmp_path(path, sizeof path);
    write_sample(path, 50);
    FILE *f = fopen(path, "r+b");
    fseek(f, offset, offset < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x01, f);
    fclose(f);
    certa_load_trace *t = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_load_trace_open(path, &t, &ei), want, "offset %ld: %s", offset, ei.msg);
    remove(path);
}

Test(load_trace, corruption_is_refused)
{
    corrupt_and_expect(0, CERTA_E_BAD_MAGIC);
    corrupt_and_expect(200, CERTA_E_CORRUPT);    /* inside a batch */
    corrupt_and_expect(130, CERTA_E_CORRUPT);    /* a record header */
    corrupt_and_expect(-1, CERTA_E_CORRUPT);     /* the checksum itself */
    corrupt_and_expect(-90, CERTA_E_CORRUPT);    /* the trailer's counts */
}

Test(load_trace, truncated_and_missing_files_are_refused)
{
    char path[128];
    tmp_path(path, sizeof path);
    write_sample(path, 50);
    struct stat st;
    stat(path, &st);
    cr_assert_eq(truncate(path, st.st_size - 10), 0);
    certa_load_trace *t = NULL;
    certa_errinfo ei;
    cr_assert_eq(certa_load_trace_open(path, &t, &ei), CERTA_E_CORRUPT);
    cr_assert_eq(truncate(path, 20), 0);
    cr_assert_eq(certa_load_trace_open(path, &t, &ei), CERTA_E_CORRUPT);
    remove(path);
    cr_assert_eq(certa_load_trace_open(path, &t, &ei), CERTA_E_IO);
}

Test(load_trace, time_may_not_go_backwards)
{
    char path[128];
    tmp_path(path, sizeof path);
    certa_load_trace_info info = {0};
    certa_load_trace_writer *w = NULL;
    cr_assert_eq(certa_load_trace_create(path, &info, &w, NULL), CERTA_OK);
    uint8_t b[8] = {0};
    certa_load_trace_rec r = {.at_us = 5000, .events = 1, .batch = b, .batch_bytes = 8};
    cr_assert_eq(certa_load_trace_append(w, &r, NULL), CERTA_OK);
    r.at_us = 4999;
    cr_assert_eq(certa_load_trace_append(w, &r, NULL), CERTA_E_ARG);
    certa_load_trace_abort(w);
    cr_assert_neq(access(path, F_OK), 0);
}
