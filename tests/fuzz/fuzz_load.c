/* libFuzzer target for the load tools' parsers of untrusted input. The first
 * byte picks one: 0 the trace file validator (the checksum is recomputed
 * over the input first, so that mutations reach the record checks), 1 the
 * batch receipt counter the replayer applies to validator answers, 2 the
 * scenario JSON parser. Each must refuse with a message or accept input
 * whose invariants hold, and never crash, leak or read out of bounds.
 * Seeds: tests/fuzz/corpus/load/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "net_transport.h"
#include "scenario.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_trace(const uint8_t *in, size_t len)
{
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return;
    memcpy(buf, in, len);
    if (len >= CERTA_HASH_BYTES)
        certa_sha256(buf, len - CERTA_HASH_BYTES, buf + len - CERTA_HASH_BYTES);
    certa_load_trace *t = NULL;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_err e = certa_load_trace_open_mem(buf, len, &t, &ei);
    if (e != CERTA_OK) {
        CERTA_ASSERT(t == NULL && ei.msg[0] != '\0');
        free(buf);
        return;
    }
    const certa_load_trace_info *info = certa_load_trace_get_info(t);
    size_t pos = CERTA_LOAD_TRACE_HEADER_BYTES;
    certa_load_trace_rec r;
    uint64_t n = 0, events = 0, last = 0;
    while (certa_load_trace_next(t, &pos, &r)) {
        CERTA_ASSERT(r.batch >= buf && r.batch + r.batch_bytes <= buf + len);
        CERTA_ASSERT(r.at_us >= last && r.expected_rejects <= r.events);
        last = r.at_us;
        events += r.events;
        n++;
    }
    CERTA_ASSERT(n == info->records && events == info->events);
    certa_load_trace_close(t);
    free(buf);
}

static void fuzz_receipt(const uint8_t *in, size_t len)
{
    uint32_t counts[CERTA_LOAD_REASONS_MAX] = {0}, entries = 0;
    char names[CERTA_LOAD_REASONS_MAX][CERTA_LOAD_REASON_NAME_BYTES];
    memset(names, 0, sizeof names);
    if (certa_load_receipt_count(in, len, counts, names, &entries, NULL) != CERTA_OK)
        return;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < CERTA_LOAD_REASONS_MAX; i++) {
        sum += counts[i];
        CERTA_ASSERT(memchr(names[i], '\0', CERTA_LOAD_REASON_NAME_BYTES) != NULL);
    }
    CERTA_ASSERT(sum == entries && entries >= 1 && entries <= 4096);
}

static void fuzz_scenario(const uint8_t *in, size_t len)
{
    char *text = malloc(len + 1);
    if (text == NULL)
        return;
    memcpy(text, in, len);
    text[len] = '\0';
    certa_load_scenario s;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_load_scenario_parse(text, "fuzz.json", &s, &ei) == CERTA_OK) {
        CERTA_ASSERT(s.group_count >= 1 && s.peak_hour < 24 && s.hourly[s.peak_hour] == 1.0);
        CERTA_ASSERT(s.expired_share + s.revoke_before_share <= 1.0);
        certa_load_summary m;
        certa_load_scenario_summarize(&s, 1.0, &m);
        CERTA_ASSERT(m.counters >= m.centres);
    } else {
        CERTA_ASSERT(ei.msg[0] != '\0');
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_trace(data + 1, size - 1);
        break;
    case 1:
        fuzz_receipt(data + 1, size - 1);
        break;
    default:
        fuzz_scenario(data + 1, size - 1);
        break;
    }
    return 0;
}
