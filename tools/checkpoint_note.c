/* checkpoint_note: see checkpoint_note.h. Every field is bounded: lines
 * longer than CERTA_NOTE_LINE_MAX, more than CERTA_NOTE_SIGS_MAX signature
 * lines or a text over CERTA_NOTE_TEXT_MAX bytes are refused, not cut. */
#include "checkpoint_note.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

bool certa_note_unb64(const char *in, size_t len, uint8_t *out, size_t want)
{
    uint8_t buf[80];
    if (want > 76 || len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof buf)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i + 2 >= len);
        if (!ok)
            return false;
    }
    int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
    size_t pad = (size_t)(in[len - 1] == '=') + (size_t)(in[len - 2] == '=');
    if (n < 0 || (size_t)n < pad || (size_t)n - pad != want)
        return false;
    memcpy(out, buf, want);
    return true;
}

/* The next line of [*p, end) without its newline; false when there is no
 * newline or the line is too long. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL || (size_t)(nl - *p) >= CERTA_NOTE_LINE_MAX)
        return false;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return true;
}

bool certa_note_parse(const char *buf, size_t len, certa_note *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    const char *p = buf, *end = buf + len, *l;
    size_t ll;
    /* 1: origin, non-empty, no control characters */
    if (!next_line(&p, end, &l, &ll) || ll == 0) {
        snprintf(err, errlen, "line 1: expected the origin");
        return false;
    }
    for (size_t i = 0; i < ll; i++)
        if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f) {
            snprintf(err, errlen, "line 1: a control character in the origin");
            return false;
        }
    memcpy(n->origin, l, ll);
    /* 2: size, decimal, no sign, no leading zero */
    if (!next_line(&p, end, &l, &ll) || ll == 0 || ll > 19 || (ll > 1 && l[0] == '0')) {
        snprintf(err, errlen, "line 2: expected the log size in decimal");
        return false;
    }
    for (size_t i = 0; i < ll; i++) {
        if (l[i] < '0' || l[i] > '9') {
            snprintf(err, errlen, "line 2: expected the log size in decimal");
            return false;
        }
        n->size = n->size * 10 + (uint64_t)(l[i] - '0');
    }
    /* 3: root */
    if (!next_line(&p, end, &l, &ll) || !certa_note_unb64(l, ll, n->root, 32)) {
        snprintf(err, errlen, "line 3: expected the root, base64 of 32 bytes");
        return false;
    }
    n->text_len = (size_t)(p - buf);
    if (n->text_len >= sizeof n->text) {
        snprintf(err, errlen, "the checkpoint's text is over %d bytes", CERTA_NOTE_TEXT_MAX);
        return false;
    }
    memcpy(n->text, buf, n->text_len);
    /* 4: blank (no extension lines are taken) */
    if (!next_line(&p, end, &l, &ll) || ll != 0) {
        snprintf(err, errlen, "line 4: expected a blank line after the checkpoint's text");
        return false;
    }
    const size_t dash = sizeof CERTA_NOTE_DASH - 1;
    for (unsigned line = 5; p < end; line++) {
        if (!next_line(&p, end, &l, &ll)) {
            snprintf(err, errlen, "line %u: no newline, or over %d bytes", line,
                     CERTA_NOTE_LINE_MAX - 1);
            return false;
        }
        const char *name = l + dash + 1;
        const char *sp = ll > dash + 1 ? memchr(name, ' ', (size_t)(l + ll - name)) : NULL;
        if (sp == NULL || memcmp(l, CERTA_NOTE_DASH, dash) != 0 || l[dash] != ' ' ||
            sp == name || (size_t)(sp - name) >= CERTA_NAME_BYTES ||
            (size_t)(l + ll - sp - 1) >= CERTA_NOTE_LINE_MAX || l + ll - sp - 1 == 0) {
            snprintf(err, errlen, "line %u: expected '%s NAME BASE64'", line, CERTA_NOTE_DASH);
            return false;
        }
        /* signed-note: a name is printable, without space or '+'; the
         * signature base64 */
        bool ok = true;
        for (const char *c = name; ok && c < sp; c++)
            ok = (unsigned char)*c > 0x20 && *c != 0x7f && *c != '+';
        for (const char *c = sp + 1; ok && c < l + ll; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                 (*c >= '0' && *c <= '9') || *c == '+' || *c == '/' || *c == '=';
        if (!ok) {
            snprintf(err, errlen, "line %u: a name must be printable without space or '+', "
                                  "a signature base64", line);
            return false;
        }
        if (n->nsigs == CERTA_NOTE_SIGS_MAX) {
            snprintf(err, errlen, "line %u: more than %d signatures", line, CERTA_NOTE_SIGS_MAX);
            return false;
        }
        memcpy(n->sigs[n->nsigs].name, name, (size_t)(sp - name));
        memcpy(n->sigs[n->nsigs].b64, sp + 1, (size_t)(l + ll - sp - 1));
        n->nsigs++;
    }
    if (n->nsigs == 0) {
        snprintf(err, errlen, "no signature line");
        return false;
    }
    return true;
}

bool certa_bundle_next(const uint8_t *b, size_t blen, size_t *pos, const uint8_t **leaf,
                       size_t *len)
{
    CERTA_ASSERT(*pos <= blen);
    if (blen - *pos < 2)
        return false;
    size_t l = (size_t)b[*pos] << 8 | b[*pos + 1];
    if (blen - *pos - 2 < l)
        return false;
    *leaf = b + *pos + 2;
    *len = l;
    *pos += 2 + l;
    return true;
}

void certa_tile_index_path(uint64_t n, char *out, size_t cap)
{
    unsigned g[8];
    int k = 0;
    do {
        g[k++] = (unsigned)(n % 1000u);
        n /= 1000u;
    } while (n > 0);
    size_t pos = 0;
    if (cap > 0)
        out[0] = '\0';
    for (int i = k - 1; i >= 0 && pos < cap; i--)
        pos += (size_t)snprintf(out + pos, cap - pos, i > 0 ? "x%03u/" : "%03u", g[i]);
}

bool certa_witness_request_parse(const char *body, size_t len, uint64_t *old,
                                 uint8_t proof[][32], size_t *nproof, certa_note *n,
                                 char *why, size_t why_len)
{
    const char *p = body, *end = body + len;
    const char *nl = memchr(p, '\n', len);
    *nproof = 0;
    *old = 0;
    /* "old " and a decimal without sign or leading zero (but "0") */
    size_t digits = nl != NULL && nl - p > 4 ? (size_t)(nl - p) - 4 : 0;
    bool ok = digits > 0 && digits <= 20 && memcmp(p, "old ", 4) == 0 &&
              (digits == 1 || p[4] != '0');
    uint64_t v = 0;
    for (size_t i = 0; ok && i < digits; i++) {
        char c = p[4 + i];
        ok = c >= '0' && c <= '9' && v <= (UINT64_MAX - (uint64_t)(c - '0')) / 10;
        v = ok ? v * 10 + (uint64_t)(c - '0') : v;
    }
    if (!ok) {
        snprintf(why, why_len, "the first line must be \"old SIZE\"");
        return false;
    }
    *old = v;
    p = nl + 1;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            snprintf(why, why_len, "no blank line before the checkpoint");
            return false;
        }
        if (nl == p)
            break;
        if (*nproof == CERTA_WITNESS_PROOF_MAX ||
            !certa_note_unb64(p, (size_t)(nl - p), proof[*nproof], 32)) {
            snprintf(why, why_len, "proof line %zu: not a base64 hash (at most %d lines)",
                     *nproof + 1, CERTA_WITNESS_PROOF_MAX);
            return false;
        }
        (*nproof)++;
        p = nl + 1;
    }
    p++;
    char err[256];
    if (!certa_note_parse(p, (size_t)(end - p), n, err, sizeof err)) {
        snprintf(why, why_len, "checkpoint: %s", err);
        return false;
    }
    return true;
}
