/* certa merkle: RFC 6962 roots, inclusion and consistency proofs, and their
 * verification, for auditors and integrators working outside a validator.
 * Leaves come from a file with one leaf per line in hex (an empty line is a
 * zero-length leaf); proofs are JSON documents (docs/PROTOCOL.md, "Merkle
 * trees and proofs"). Exit codes: 0 ok / valid, 1 the proof does not verify,
 * 2 usage, 3 unreadable or malformed input. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "certa/merkle.h"
#include "certa/pool.h"
#include "cli.h"

static const char usage[] =
    "usage: certa merkle root [--threads N] FILE\n"
    "       certa merkle prove FILE INDEX\n"
    "       certa merkle consistency FILE OLD_SIZE\n"
    "       certa merkle verify-inclusion PROOF.json\n"
    "       certa merkle verify-consistency PROOF.json\n"
    "       certa merkle log --data DIR [--leaves]\n"
    "       certa merkle checkpoint sign --data DIR --genesis G --key PEM --name VALIDATOR\n"
    "       certa merkle checkpoint verify|merge --genesis G [--data DIR] FILE...\n"
    "       certa merkle checkpoint fetch --to ENDPOINTS [--genesis G] [--timeout-ms MS]\n"
    "       certa merkle tiles --data DIR --out TILES_DIR [--checkpoint NOTE]\n\n"
    "RFC 6962 / RFC 9162 Merkle trees (leaf = SHA-256(0x00 || bytes), node =\n"
    "SHA-256(0x01 || left || right)).\n"
    "FILE has one leaf per line, its bytes in hex (an empty line is a\n"
    "zero-length leaf, an empty file is the empty tree); '-' reads stdin.\n\n"
    "  root                prints the tree's root in hex (--threads N: 1..64\n"
    "                      threads, default 1; the root does not depend on it)\n"
    "  prove               prints the inclusion proof of leaf INDEX (from 0):\n"
    "                      {\"tree_size\", \"leaf_index\", \"leaf_hash\", \"root\", \"path\"}\n"
    "  consistency         prints the proof that the first OLD_SIZE leaves are a\n"
    "                      prefix of the whole file's tree:\n"
    "                      {\"old_size\", \"new_size\", \"old_root\", \"new_root\", \"path\"}\n"
    "  verify-inclusion    checks a proof printed by prove\n"
    "  verify-consistency  checks a proof printed by consistency\n"
    "  log                 the one tree over every event of a data directory's\n"
    "                      chain (leaf global_seq = the event's block leaf):\n"
    "                      'height H events N log_size S log_root HEX' after\n"
    "                      each block; --leaves prints every leaf in hex, one\n"
    "                      per line, a FILE for prove and consistency\n"
    "  checkpoint sign     a C2SP tlog-checkpoint of DIR's log at its last block,\n"
    "                      signed as a signed note by validator VALIDATOR (its\n"
    "                      sign.pem); origin certa/<chain name>/<chain id prefix>\n"
    "  checkpoint verify   each FILE a note of the same checkpoint: counts the\n"
    "                      genesis validators' good signatures, needs 2f+1;\n"
    "                      with --data, also the root against DIR's log\n"
    "  checkpoint merge    verify, then print one note with every good\n"
    "                      validator signature (what a witness or gateway serves)\n"
    "  checkpoint fetch    asks the validators (client endpoints, names or 'all')\n"
    "                      for the checkpoints each signed by itself at its\n"
    "                      checkpoint heights, and prints one note of the largest\n"
    "                      log size that 2f+1 of them signed alike, with their\n"
    "                      signatures; exit 1 when no size has a quorum\n"
    "  tiles               publishes DIR's log in the C2SP tlog-tiles layout\n"
    "                      under TILES_DIR (tile/L/N, tile/entries/N), resuming\n"
    "                      where the last run stopped; with --checkpoint, up to\n"
    "                      the note's size, whose root it must match, and the\n"
    "                      note is installed as TILES_DIR/checkpoint last\n"
    "Verification exits 0 when the proof holds, 1 (with the reason) when not,\n"
    "3 when the JSON is malformed.\n";

#define CMD "merkle"

/* ---- leaf files ---- */

typedef struct leaf_file {
    char *text;
    uint8_t *bytes;
    certa_merkle_leaf *leaves;
    size_t n;
} leaf_file;

static void leaf_file_free(leaf_file *f)
{
    free(f->text);
    free(f->bytes);
    free(f->leaves);
    memset(f, 0, sizeof *f);
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL)
        return certa_fail(CMD, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (buf == NULL) {
            if (fp != stdin)
                fclose(fp);
            return certa_fail(CMD, "%s: out of memory", path);
        }
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap + 1);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
    }
    int bad = ferror(fp);
    if (fp != stdin)
        fclose(fp);
    if (bad) {
        free(buf);
        return certa_fail(CMD, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CERTA_EXIT_OK;
}

/* Parses FILE into leaves; returns an exit code. */
static int leaf_file_load(const char *path, leaf_file *f)
{
    memset(f, 0, sizeof *f);
    size_t len = 0;
    int rc = read_all(path, &f->text, &len);
    if (rc != CERTA_EXIT_OK)
        return rc;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += f->text[i] == '\n';
    if (len > 0 && f->text[len - 1] != '\n')
        lines++; /* a last line without its newline */
    f->bytes = malloc(len / 2 + 1);
    f->leaves = calloc(lines + 1, sizeof *f->leaves);
    if (f->bytes == NULL || f->leaves == NULL) {
        leaf_file_free(f);
        return certa_fail(CMD, "%s: out of memory for %zu leaves", path, lines);
    }
    char *p = f->text, *end = f->text + len;
    size_t off = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl != NULL ? nl : end;
        if (stop > p && stop[-1] == '\r')
            stop--;
        *stop = '\0';
        size_t hex_len = (size_t)(stop - p);
        if (hex_len % 2 != 0 ||
            certa_hex_decode(p, f->bytes + off, hex_len / 2) != CERTA_OK) {
            size_t line = f->n + 1;
            leaf_file_free(f);
            return certa_fail(CMD, "%s line %zu: not hex (a leaf is an even "
                              "number of digits 0-9 a-f)", path, line);
        }
        f->leaves[f->n].data = f->bytes + off;
        f->leaves[f->n].len_bytes = hex_len / 2;
        f->n++;
        off += hex_len / 2;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    CERTA_ASSERT(f->n == lines);
    return CERTA_EXIT_OK;
}

/* Builds the whole tree of a leaf file; returns an exit code. */
static int tree_of(const leaf_file *f, certa_merkle_tree **t)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    uint8_t *lh = malloc(32 * f->n + 32);
    if (lh == NULL)
        return certa_fail(CMD, "out of memory for %zu leaf hashes", f->n);
    certa_err err = certa_merkle_leaf_hashes(NULL, f->leaves, f->n, lh, &ei);
    if (err == CERTA_OK)
        err = certa_merkle_tree_build(NULL, lh, f->n, t, &ei);
    free(lh);
    if (err != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    return CERTA_EXIT_OK;
}

/* ---- JSON ---- */

static json_t *hex_json(const uint8_t h[32])
{
    char hex[65];
    certa_hex_encode(h, 32, hex);
    return json_string(hex);
}

static int print_json(json_t *doc)
{
    if (doc == NULL)
        return certa_fail(CMD, "out of memory building JSON");
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc != 0)
        return certa_fail(CMD, "writing JSON failed");
    putchar('\n');
    return CERTA_EXIT_OK;
}

static json_t *path_json(const uint8_t (*path)[32], size_t len)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < len; i++)
        json_array_append_new(a, hex_json(path[i]));
    return a;
}

/* A proof document being read: every field must be known, present once and
 * well-typed; errors name the file and the field. */
typedef struct proof_doc {
    const char *file;
    json_t *root;
} proof_doc;

static int doc_load(const char *file, const char *const *fields,
                    size_t nfields, proof_doc *d)
{
    json_error_t je;
    d->file = file;
    d->root = strcmp(file, "-") == 0
                  ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &je)
                  : json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (d->root == NULL)
        return certa_fail(CMD, "%s line %d column %d: %s", file, je.line,
                          je.column, je.text);
    if (!json_is_object(d->root)) {
        json_decref(d->root);
        return certa_fail(CMD, "%s: a proof must be a JSON object", file);
    }
    const char *key;
    json_t *v;
    json_object_foreach(d->root, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < nfields; i++)
            known = known || strcmp(key, fields[i]) == 0;
        if (!known) {
            int rc = certa_fail(CMD, "%s: unknown field \"%s\"", file, key);
            json_decref(d->root);
            return rc;
        }
    }
    (void)v;
    return CERTA_EXIT_OK;
}

static int doc_u64(const proof_doc *d, const char *field, uint64_t *out)
{
    json_t *v = json_object_get(d->root, field);
    if (v == NULL)
        return certa_fail(CMD, "%s: field \"%s\" is missing", d->file, field);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return certa_fail(CMD, "%s: field \"%s\" must be an integer >= 0",
                          d->file, field);
    *out = (uint64_t)json_integer_value(v);
    return CERTA_EXIT_OK;
}

static int hash_of(const proof_doc *d, const char *what, json_t *v,
                   uint8_t out[32])
{
    if (!json_is_string(v) ||
        certa_hex_decode(json_string_value(v), out, 32) != CERTA_OK)
        return certa_fail(CMD, "%s: %s must be 64 hex digits (a SHA-256 hash)",
                          d->file, what);
    return CERTA_EXIT_OK;
}

static int doc_hash(const proof_doc *d, const char *field, uint8_t out[32])
{
    json_t *v = json_object_get(d->root, field);
    if (v == NULL)
        return certa_fail(CMD, "%s: field \"%s\" is missing", d->file, field);
    char what[64];
    snprintf(what, sizeof what, "field \"%s\"", field);
    return hash_of(d, what, v, out);
}

static int doc_path(const proof_doc *d, size_t max, uint8_t (*path)[32],
                    size_t *len)
{
    json_t *v = json_object_get(d->root, "path");
    if (v == NULL)
        return certa_fail(CMD, "%s: field \"path\" is missing", d->file);
    if (!json_is_array(v))
        return certa_fail(CMD, "%s: field \"path\" must be an array of hashes",
                          d->file);
    if (json_array_size(v) > max)
        return certa_fail(CMD, "%s: field \"path\" has %zu hashes, at most %zu "
                          "are possible", d->file, json_array_size(v), max);
    *len = json_array_size(v);
    for (size_t i = 0; i < *len; i++) {
        char what[64];
        snprintf(what, sizeof what, "path[%zu]", i);
        int rc = hash_of(d, what, json_array_get(v, i), path[i]);
        if (rc != CERTA_EXIT_OK)
            return rc;
    }
    return CERTA_EXIT_OK;
}

/* ---- subcommands ---- */

static int cmd_root(int argc, char **argv)
{
    unsigned long long threads = 1;
    const char *file = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0) {
            if (i + 1 >= argc ||
                certa_parse_u64(argv[++i], 1, CERTA_POOL_THREADS_MAX, &threads) != 0)
                return certa_usage_error(CMD, "--threads needs a number in 1..%d",
                                         CERTA_POOL_THREADS_MAX);
        } else if (file == NULL) {
            file = argv[i];
        } else {
            return certa_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (file == NULL)
        return certa_usage_error(CMD, "root needs FILE");
    leaf_file f;
    int rc = leaf_file_load(file, &f);
    if (rc != CERTA_EXIT_OK)
        return rc;
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    certa_pool *pool = NULL;
    uint8_t root[32];
    certa_err err = threads > 1 ? certa_pool_create((unsigned)threads, &pool, &ei)
                                : CERTA_OK;
    if (err == CERTA_OK)
        err = certa_merkle_root_leaves(pool, f.leaves, f.n, root, &ei);
    certa_pool_destroy(pool);
    leaf_file_free(&f);
    if (err != CERTA_OK)
        return certa_fail(CMD, "%s", certa_errmsg(&ei));
    char hex[65];
    certa_hex_encode(root, 32, hex);
    printf("%s\n", hex);
    return CERTA_EXIT_OK;
}

static int cmd_prove(int argc, char **argv, bool consistency)
{
    const char *what = consistency ? "consistency" : "prove";
    if (argc != 4)
        return certa_usage_error(CMD, "%s needs FILE and %s", what,
                                 consistency ? "OLD_SIZE" : "INDEX");
    unsigned long long arg;
    if (certa_parse_u64(argv[3], 0, (unsigned long long)INT64_MAX, &arg) != 0)
        return certa_usage_error(CMD, "%s '%s' is not a number",
                                 consistency ? "OLD_SIZE" : "INDEX", argv[3]);
    leaf_file f;
    int rc = leaf_file_load(argv[2], &f);
    if (rc != CERTA_EXIT_OK)
        return rc;
    size_t n = f.n;
    if (consistency ? arg > n : arg >= n) {
        leaf_file_free(&f);
        if (consistency)
            return certa_fail(CMD, "OLD_SIZE %llu is larger than the tree (%zu "
                              "leaves in %s)", arg, n, argv[2]);
        return certa_fail(CMD, "INDEX %llu is not a leaf: %s has %zu leaves "
                          "(0..%zu)", arg, argv[2], n, n > 0 ? n - 1 : 0);
    }
    certa_merkle_tree *t = NULL;
    rc = tree_of(&f, &t);
    leaf_file_free(&f);
    if (rc != CERTA_EXIT_OK)
        return rc;
    uint8_t path[CERTA_MERKLE_CONSISTENCY_MAX][32];
    size_t len = 0;
    uint8_t root[32];
    certa_merkle_tree_root(t, root);
    json_t *doc = json_object();
    if (consistency) {
        certa_err pe = certa_merkle_tree_consistency(t, (size_t)arg, path, &len, NULL);
        CERTA_ASSERT(pe == CERTA_OK);
        uint8_t old_root[32];
        /* the old tree is the prefix: its root from the same leaf hashes */
        uint8_t *lh = malloc(32 * (size_t)arg + 32);
        if (lh == NULL || doc == NULL) {
            free(lh);
            json_decref(doc);
            certa_merkle_tree_free(t);
            return certa_fail(CMD, "out of memory");
        }
        for (size_t i = 0; i < (size_t)arg; i++)
            certa_merkle_tree_leaf(t, i, lh + 32 * i);
        certa_err err = certa_merkle_root_hashes(NULL, lh, (size_t)arg, old_root, NULL);
        free(lh);
        CERTA_ASSERT(err == CERTA_OK);
        json_object_set_new(doc, "old_size", json_integer((json_int_t)arg));
        json_object_set_new(doc, "new_size", json_integer((json_int_t)n));
        json_object_set_new(doc, "old_root", hex_json(old_root));
        json_object_set_new(doc, "new_root", hex_json(root));
    } else {
        certa_err pe = certa_merkle_tree_inclusion(t, (size_t)arg, path, &len, NULL);
        CERTA_ASSERT(pe == CERTA_OK);
        uint8_t leaf[32];
        certa_merkle_tree_leaf(t, (size_t)arg, leaf);
        json_object_set_new(doc, "tree_size", json_integer((json_int_t)n));
        json_object_set_new(doc, "leaf_index", json_integer((json_int_t)arg));
        json_object_set_new(doc, "leaf_hash", hex_json(leaf));
        json_object_set_new(doc, "root", hex_json(root));
    }
    json_object_set_new(doc, "path", path_json((const uint8_t(*)[32])path, len));
    certa_merkle_tree_free(t);
    return print_json(doc);
}

static int cmd_verify_inclusion(int argc, char **argv)
{
    if (argc != 3)
        return certa_usage_error(CMD, "verify-inclusion needs one JSON file");
    static const char *const fields[] = {"tree_size", "leaf_index", "leaf_hash",
                                         "root", "path"};
    proof_doc d;
    int rc = doc_load(argv[2], fields, 5, &d);
    if (rc != CERTA_EXIT_OK)
        return rc;
    uint64_t size = 0, index = 0;
    uint8_t leaf[32], root[32], path[CERTA_MERKLE_PATH_MAX][32];
    size_t len = 0;
    if ((rc = doc_u64(&d, "tree_size", &size)) != CERTA_EXIT_OK ||
        (rc = doc_u64(&d, "leaf_index", &index)) != CERTA_EXIT_OK ||
        (rc = doc_hash(&d, "leaf_hash", leaf)) != CERTA_EXIT_OK ||
        (rc = doc_hash(&d, "root", root)) != CERTA_EXIT_OK ||
        (rc = doc_path(&d, CERTA_MERKLE_PATH_MAX, path, &len)) != CERTA_EXIT_OK) {
        json_decref(d.root);
        return rc;
    }
    json_decref(d.root);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_merkle_verify_inclusion(index, size, leaf, (const uint8_t(*)[32])path,
                                      len, root, &ei) != CERTA_OK) {
        fprintf(stderr, "certa merkle: inclusion proof does not verify: %s\n",
                certa_errmsg(&ei));
        return CERTA_EXIT_FAIL;
    }
    printf("valid: leaf %llu is in the tree of size %llu\n",
           (unsigned long long)index, (unsigned long long)size);
    return CERTA_EXIT_OK;
}

static int cmd_verify_consistency(int argc, char **argv)
{
    if (argc != 3)
        return certa_usage_error(CMD, "verify-consistency needs one JSON file");
    static const char *const fields[] = {"old_size", "new_size", "old_root",
                                         "new_root", "path"};
    proof_doc d;
    int rc = doc_load(argv[2], fields, 5, &d);
    if (rc != CERTA_EXIT_OK)
        return rc;
    uint64_t old_size = 0, new_size = 0;
    uint8_t old_root[32], new_root[32], path[CERTA_MERKLE_CONSISTENCY_MAX][32];
    size_t len = 0;
    if ((rc = doc_u64(&d, "old_size", &old_size)) != CERTA_EXIT_OK ||
        (rc = doc_u64(&d, "new_size", &new_size)) != CERTA_EXIT_OK ||
        (rc = doc_hash(&d, "old_root", old_root)) != CERTA_EXIT_OK ||
        (rc = doc_hash(&d, "new_root", new_root)) != CERTA_EXIT_OK ||
        (rc = doc_path(&d, CERTA_MERKLE_CONSISTENCY_MAX, path, &len)) !=
            CERTA_EXIT_OK) {
        json_decref(d.root);
        return rc;
    }
    json_decref(d.root);
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    if (certa_merkle_verify_consistency(old_size, new_size, old_root, new_root,
                                        (const uint8_t(*)[32])path, len,
                                        &ei) != CERTA_OK) {
        fprintf(stderr, "certa merkle: consistency proof does not verify: %s\n",
                certa_errmsg(&ei));
        return CERTA_EXIT_FAIL;
    }
    printf("valid: the tree of size %llu is a prefix of the tree of size %llu\n",
           (unsigned long long)old_size, (unsigned long long)new_size);
    return CERTA_EXIT_OK;
}

int certa_cmd_merkle(int argc, char **argv)
{
    if (certa_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return CERTA_EXIT_OK;
    }
    if (argc < 2)
        return certa_usage_error(CMD, "missing action (root, prove, consistency, "
                                 "verify-inclusion, verify-consistency, log, checkpoint, tiles)");
    const char *action = argv[1];
    if (strcmp(action, "root") == 0)
        return cmd_root(argc, argv);
    if (strcmp(action, "prove") == 0)
        return cmd_prove(argc, argv, false);
    if (strcmp(action, "consistency") == 0)
        return cmd_prove(argc, argv, true);
    if (strcmp(action, "verify-inclusion") == 0)
        return cmd_verify_inclusion(argc, argv);
    if (strcmp(action, "verify-consistency") == 0)
        return cmd_verify_consistency(argc, argv);
    if (strcmp(action, "log") == 0)
        return certa_cmd_merkle_log(argc, argv);
    if (strcmp(action, "checkpoint") == 0)
        return certa_cmd_merkle_checkpoint(argc, argv);
    if (strcmp(action, "tiles") == 0)
        return certa_cmd_merkle_tiles(argc, argv);
    return certa_usage_error(CMD, "unknown action '%s'", action);
}
