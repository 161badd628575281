/* checkpoint_fetch: see checkpoint_fetch.h. Each validator's answer is
 * parsed as JSON, each of its notes as a signed note; a note that does not
 * parse, names another chain or carries a bad signature counts for
 * nothing (certa_note_quorum checks every line it counts). Memory is
 * bounded: at most CERTA_TOOL_ENDPOINTS_MAX answers of at most FETCH_NOTES
 * notes each. */
#include "checkpoint_fetch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/certa.h"
#include "certa/client.h"
#include "checkpoint_note.h"
#include "cli.h"

#define FETCH_NOTES 16u /* per validator: what a validator keeps */
#define ANSWER_BYTES_MAX (64u * 1024u)

typedef struct fetched_note {
    uint32_t from; /* validator index */
    uint64_t height;
    certa_note n;
} fetched_note;

/* The notes of one answer whose signer is the validator that answered. */
static uint32_t take_notes(const certa_genesis *g, uint32_t from, const char *body, size_t len,
                           fetched_note *out, uint32_t cap)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    json_t *a = json_object_get(doc, "checkpoints");
    uint32_t n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it) {
        if (n == cap || i >= FETCH_NOTES)
            break;
        const char *text = json_string_value(json_object_get(it, "note"));
        json_t *h = json_object_get(it, "height");
        char err[128];
        fetched_note *f = &out[n];
        if (text == NULL || !json_is_integer(h) ||
            !certa_note_parse(text, strlen(text), &f->n, err, sizeof err) || f->n.nsigs != 1 ||
            strcmp(f->n.sigs[0].name, g->validators[from].name) != 0)
            continue;
        f->from = from;
        f->height = (uint64_t)json_integer_value(h);
        n++;
    }
    json_decref(doc);
    return n;
}

certa_err certa_checkpoint_fetch(const certa_genesis *g, const certa_tool_endpoints *eps,
                                 uint32_t timeout_ms, certa_checkpoint_fetched *out,
                                 certa_errinfo *ei)
{
    memset(out, 0, sizeof *out);
    certa_tool_answer ans[CERTA_TOOL_ENDPOINTS_MAX];
    certa_cp_query q = {.kind = CERTA_QUERY_CHECKPOINT};
    certa_err qe = certa_tool_query_all(eps, &q, timeout_ms, ANSWER_BYTES_MAX, ans, ei);
    if (qe != CERTA_OK)
        return qe;
    for (uint32_t i = 0; i < eps->count; i++)
        out->answered += ans[i].body != NULL && ans[i].body[0] == CERTA_QUERY_CHECKPOINT;
    if (out->answered == 0) {
        certa_tool_answers_free(ans, eps->count);
        return certa_errorf(ei, CERTA_E_NET, "checkpoint: none of the %u validators asked "
                            "answered within %u ms", eps->count, timeout_ms);
    }
    size_t cap = (size_t)eps->count * FETCH_NOTES;
    fetched_note *fs = calloc(cap, sizeof *fs);
    certa_note *m = calloc(1, sizeof *m);
    if (fs == NULL || m == NULL) {
        certa_tool_answers_free(ans, eps->count);
        free(fs);
        free(m);
        return certa_errorf(ei, CERTA_E_NOMEM, "checkpoint: out of memory");
    }
    uint32_t nf = 0;
    for (uint32_t i = 0; i < eps->count; i++)
        if (ans[i].body != NULL && ans[i].body[0] == CERTA_QUERY_CHECKPOINT)
            nf += take_notes(g, eps->validator[i], (const char *)ans[i].body + 1,
                             ans[i].len - 1, fs + nf, (uint32_t)(cap - nf));
    certa_tool_answers_free(ans, eps->count);
    /* for each distinct text, largest size first: its signers' lines
     * together, kept when they hold a quorum */
    uint32_t best_good = 0;
    bool found = false;
    for (uint32_t k = 0; k < nf && !found; k++) {
        uint32_t top = UINT32_MAX;
        for (uint32_t j = 0; j < nf; j++)
            if (fs[j].from != UINT32_MAX &&
                (top == UINT32_MAX || fs[j].n.size > fs[top].n.size))
                top = j;
        if (top == UINT32_MAX)
            break;
        memset(m, 0, sizeof *m);
        *m = fs[top].n;
        m->nsigs = 0;
        uint64_t height = fs[top].height;
        for (uint32_t j = 0; j < nf; j++) {
            if (fs[j].from == UINT32_MAX || fs[j].n.size != fs[top].n.size)
                continue;
            if (strcmp(fs[j].n.text, m->text) != 0) {
                if (out->conflicts++ == 0)
                    snprintf(out->conflict, sizeof out->conflict,
                             "size %llu: %s signed another root than %s",
                             (unsigned long long)fs[j].n.size, fs[j].n.sigs[0].name,
                             fs[top].n.sigs[0].name);
                continue;
            }
            bool dup = false;
            for (uint32_t s = 0; s < m->nsigs; s++)
                dup = dup || strcmp(m->sigs[s].name, fs[j].n.sigs[0].name) == 0;
            if (!dup && m->nsigs < CERTA_NOTE_SIGS_MAX)
                m->sigs[m->nsigs++] = fs[j].n.sigs[0];
            fs[j].from = UINT32_MAX; /* this text is decided now */
        }
        bool counted[CERTA_NOTE_SIGS_MAX] = {false};
        uint32_t good = 0;
        char why[256];
        if (certa_note_quorum(g, m, &good, counted, why, sizeof why)) {
            int n = snprintf(out->note, sizeof out->note, "%s\n", m->text);
            for (uint32_t s = 0; s < m->nsigs && n > 0 && (size_t)n < sizeof out->note; s++)
                if (counted[s])
                    n += snprintf(out->note + n, sizeof out->note - (size_t)n,
                                  CERTA_NOTE_DASH " %s %s\n", m->sigs[s].name, m->sigs[s].b64);
            CERTA_ASSERT(n > 0 && (size_t)n < sizeof out->note);
            out->len = (size_t)n;
            out->size = m->size;
            out->height = height;
            out->signers = good;
            found = true;
        } else if (good > best_good) {
            best_good = good;
        }
    }
    free(fs);
    free(m);
    if (!found)
        return certa_errorf(ei, CERTA_E_NOTFOUND, "checkpoint: %u of %u validators answered; "
                            "no log size has %u signatures alike (the best had %u)",
                            out->answered, eps->count, 2 * g->f + 1, best_good);
    return CERTA_OK;
}
