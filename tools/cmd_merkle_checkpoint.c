/* certa merkle checkpoint: signed checkpoints of the event log over the
 * whole chain (certa merkle log) in the C2SP tlog-checkpoint and
 * signed-note formats, so that tools outside certa (Go's sumdb/note, a
 * witness) can check them:
 *
 *   <origin>\n<log size, decimal>\n<root, base64>\n\n
 *   — <validator name> <base64(key id (4) || Ed25519 signature (64))>\n ...
 *
 * The origin names the chain ("certa/<chain name>/<first 8 bytes of the
 * chain id, hex>"). Each validator signs the log its own block log holds;
 * a checkpoint holds when 2f+1 validators of the genesis signed the same
 * text. The key id is the first 4 bytes of SHA-256(name || "\n" || 0x01 ||
 * public key), the signature is over the note's text (the first three
 * lines with their newlines), as signed-note defines for Ed25519.
 * Invariant: a signature line is counted only for a genesis validator, with
 * its key id, at most once per validator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certa/crypto.h"
#include "certa/genesis.h"
#include "checkpoint_fetch.h"
#include "endpoints.h"
#include "checkpoint_note.h"
#include "../engine/note.h"
#include "cli.h"

#define CMD "merkle"
#define NOTE_BYTES_MAX 65536

static const certa_validator_info *validator_named(const certa_genesis *g, const char *name,
                                                   size_t len)
{
    for (uint32_t i = 0; i < g->validator_count; i++)
        if (strlen(g->validators[i].name) == len && memcmp(g->validators[i].name, name, len) == 0)
            return &g->validators[i];
    return NULL;
}

static int cmd_sign(const char *data, const char *gpath, const char *kpath, const char *name)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    if (certa_genesis_load(gpath, &g, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    certa_key *k = NULL;
    if (certa_key_load_pem(kpath, &k, &ei) != CERTA_OK) {
        certa_genesis_free(g);
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    }
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(k, pub);
    const certa_validator_info *v = validator_named(g, name, strlen(name));
    int rc = CERTA_EXIT_OK;
    if (v == NULL || memcmp(v->sign_pub, pub, CERTA_PUBKEY_BYTES) != 0) {
        rc = certa_fail(CMD, "checkpoint: %s is not the signing key of validator '%s' in %s",
                        kpath, name, gpath);
        goto out;
    }
    uint64_t size = 0;
    uint8_t root[CERTA_HASH_BYTES];
    if ((rc = certa_merkle_log_root(data, UINT64_MAX, &size, root)) != CERTA_EXIT_OK)
        goto out;
    char text[CERTA_NOTE_BODY_BYTES], line[CERTA_NOTE_SIG_LINE_BYTES];
    size_t tl = certa_note_body(g, size, root, text);
    if (certa_note_sign_line(k, pub, name, text, tl, line, &ei) == 0) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
        goto out;
    }
    printf("%s\n%s", text, line);
out:
    certa_key_free(k);
    certa_genesis_free(g);
    return rc;
}

/* Checks FILES (one or more notes of the same text, e.g. each validator's)
 * against genesis: their signature lines together must hold a quorum
 * (certa_note_quorum); with data, also their root against that log.
 * Prints the merged note when merge is set. */
static int cmd_verify(int nfiles, char **files, const char *gpath, const char *data, bool merge)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    if (certa_genesis_load(gpath, &g, &ei) != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    static certa_note all, n;
    int rc = CERTA_EXIT_OK;
    char err[256];
    for (int fi = 0; fi < nfiles; fi++) {
        size_t len = 0;
        char *buf = certa_read_file(files[fi], NOTE_BYTES_MAX, &len);
        if (buf == NULL) {
            rc = certa_fail(CMD, "%s: unreadable or over %d bytes", files[fi], NOTE_BYTES_MAX);
            goto out;
        }
        bool ok = certa_note_parse(buf, len, fi == 0 ? &all : &n, err, sizeof err);
        free(buf);
        if (!ok) {
            rc = certa_fail(CMD, "%s: %s", files[fi], err);
            goto out;
        }
        if (fi == 0)
            continue;
        if (n.text_len != all.text_len || memcmp(n.text, all.text, n.text_len) != 0) {
            printf("checkpoint: %s is of another log state than %s\n", files[fi], files[0]);
            rc = CERTA_EXIT_FAIL;
            goto out;
        }
        /* the signature lines of all files as one note's, each line once */
        for (uint32_t s = 0; s < n.nsigs && all.nsigs < CERTA_NOTE_SIGS_MAX; s++) {
            bool dup = false;
            for (uint32_t k = 0; k < all.nsigs && !dup; k++)
                dup = strcmp(all.sigs[k].name, n.sigs[s].name) == 0 &&
                      strcmp(all.sigs[k].b64, n.sigs[s].b64) == 0;
            if (!dup)
                all.sigs[all.nsigs++] = n.sigs[s];
        }
    }
    uint32_t good = 0;
    bool counted[CERTA_NOTE_SIGS_MAX] = {false};
    char why[256];
    if (!certa_note_quorum(g, &all, &good, counted, why, sizeof why)) {
        printf("checkpoint: %s\n", why);
        rc = CERTA_EXIT_FAIL;
        goto out;
    }
    if (data != NULL) {
        uint64_t size;
        uint8_t root[CERTA_HASH_BYTES];
        if ((rc = certa_merkle_log_root(data, all.size, &size, root)) != CERTA_EXIT_OK)
            goto out;
        if (memcmp(root, all.root, CERTA_HASH_BYTES) != 0) {
            printf("checkpoint: root at size %llu differs from the log in %s\n",
                   (unsigned long long)all.size, data);
            rc = CERTA_EXIT_FAIL;
            goto out;
        }
    }
    if (merge) {
        fwrite(all.text, 1, all.text_len, stdout);
        putchar('\n');
        for (uint32_t i = 0; i < all.nsigs; i++)
            if (counted[i])
                printf("%s %s %s\n", CERTA_NOTE_DASH, all.sigs[i].name, all.sigs[i].b64);
    } else {
        printf("checkpoint ok: %s size %llu, %u of %u validators signed (quorum %u)%s\n",
               all.origin, (unsigned long long)all.size, good, g->validator_count,
               2 * g->f + 1, data ? ", root matches the log" : "");
    }
out:
    certa_genesis_free(g);
    return rc;
}

/* Fetches the validators' own checkpoints and prints the merged note. */
static int cmd_fetch(const char *to, const char *gpath, uint32_t timeout_ms)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_genesis *g = NULL;
    static certa_tool_endpoints eps;
    if (certa_genesis_load(certa_tool_genesis_path(gpath), &g, &ei) != CERTA_OK ||
        certa_tool_endpoints_resolve(g, to, &eps, &ei) != CERTA_OK) {
        certa_genesis_free(g);
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    }
    static certa_checkpoint_fetched f;
    certa_err e = certa_checkpoint_fetch(g, &eps, timeout_ms, &f, &ei);
    int rc = CERTA_EXIT_OK;
    if (f.conflicts > 0)
        fprintf(stderr, "merkle: checkpoint: %u conflicting signature(s): %s\n", f.conflicts,
                f.conflict);
    if (e == CERTA_E_NOTFOUND) {
        fprintf(stderr, "merkle: %s\n", certa_errmsg(&ei));
        rc = CERTA_EXIT_FAIL;
    } else if (e != CERTA_OK) {
        rc = certa_fail(CMD, "%s", certa_errmsg(&ei));
    } else {
        fwrite(f.note, 1, f.len, stdout);
        fprintf(stderr, "merkle: checkpoint of %llu leaves (block %llu) signed by %u of %u "
                "validators, %u answered\n", (unsigned long long)f.size,
                (unsigned long long)f.height, f.signers, g->validator_count, f.answered);
    }
    certa_genesis_free(g);
    return rc;
}

int certa_cmd_merkle_checkpoint(int argc, char **argv)
{
    /* argv[1] is "checkpoint" */
    const char *op = argc > 2 ? argv[2] : NULL;
    const char *data = NULL, *gpath = NULL, *key = NULL, *name = NULL, *to = NULL;
    unsigned long long timeout_ms = 5000;
    char *files[CERTA_NOTE_SIGS_MAX];
    int nfiles = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--genesis") == 0 && i + 1 < argc)
            gpath = argv[++i];
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (certa_parse_u64(argv[++i], 1, 600000, &timeout_ms) != 0)
                return certa_usage_error(CMD, "checkpoint: --timeout-ms needs 1..600000");
        }
        else if (argv[i][0] != '-' && nfiles < CERTA_NOTE_SIGS_MAX)
            files[nfiles++] = argv[i];
        else
            return certa_usage_error(CMD, "checkpoint: unexpected argument '%s'", argv[i]);
    }
    if (op == NULL)
        return certa_usage_error(CMD, "checkpoint needs sign, verify, merge or fetch");
    if (strcmp(op, "fetch") == 0) {
        if (to == NULL || data != NULL || key != NULL || name != NULL || nfiles > 0)
            return certa_usage_error(CMD, "checkpoint fetch needs --to ENDPOINTS (and "
                                          "--genesis G, --timeout-ms MS) only");
        return cmd_fetch(to, gpath, (uint32_t)timeout_ms);
    }
    if (gpath == NULL)
        return certa_usage_error(CMD, "checkpoint %s needs --genesis FILE", op);
    if (strcmp(op, "sign") == 0) {
        if (data == NULL || key == NULL || name == NULL || nfiles > 0)
            return certa_usage_error(CMD, "checkpoint sign needs --data DIR --key PEM "
                                          "--name VALIDATOR and no files");
        return cmd_sign(data, gpath, key, name);
    }
    if (strcmp(op, "verify") == 0 || strcmp(op, "merge") == 0) {
        if (nfiles == 0 || key != NULL || name != NULL)
            return certa_usage_error(CMD, "checkpoint %s needs FILE... (and --data DIR to "
                                          "check the root)", op);
        return cmd_verify(nfiles, files, gpath, data, strcmp(op, "merge") == 0);
    }
    return certa_usage_error(CMD, "checkpoint: unknown operation '%s' (sign, verify, merge, "
                                  "fetch)",
                             op);
}

bool certa_note_quorum(const certa_genesis *g, const certa_note *n, uint32_t *good,
                       bool counted[], char *why, size_t why_len)
{
    char origin[CERTA_NOTE_ORIGIN_BYTES];
    certa_note_origin(g, origin);
    *good = 0;
    if (strcmp(origin, n->origin) != 0) {
        snprintf(why, why_len, "origin '%s' is not this chain's ('%s')", n->origin, origin);
        return false;
    }
    bool seen[256] = {false};
    for (uint32_t s = 0; s < n->nsigs; s++) {
        const char *nm = n->sigs[s].name, *b = n->sigs[s].b64;
        const certa_validator_info *v = validator_named(g, nm, strlen(nm));
        uint8_t blob[4 + CERTA_SIGNATURE_BYTES], kid[4];
        if (v == NULL)
            continue; /* a witness or another key: not counted */
        certa_note_key_id(nm, v->sign_pub, kid);
        uint32_t vi = (uint32_t)(v - g->validators);
        if (!certa_note_unb64(b, strlen(b), blob, sizeof blob) || memcmp(blob, kid, 4) != 0)
            continue;
        if (!certa_verify(v->sign_key, (const uint8_t *)n->text, n->text_len, blob + 4)) {
            snprintf(why, why_len, "the signature of %s does not verify", nm);
            return false;
        }
        if (vi < 256 && !seen[vi]) {
            seen[vi] = true;
            (*good)++;
            if (counted != NULL)
                counted[s] = true;
        }
    }
    if (*good < 2 * g->f + 1) {
        snprintf(why, why_len, "%u validator signature(s), a quorum is %u of %u", *good,
                 2 * g->f + 1, g->validator_count);
        return false;
    }
    return true;
}
