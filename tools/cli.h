/* cli: what every `certa` subcommand shares: exit codes, usage errors and
 * the dispatch table's entry type. Each subcommand lives in tools/cmd_*.c as
 * `int certa_cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand),
 * prints its own --help and returns one of the exit codes below. */
#ifndef CERTA_TOOLS_CLI_H
#define CERTA_TOOLS_CLI_H

#include <stdio.h>

#include "certa/certa.h"

/* Exit codes, documented in docs/OPERATIONS.md. */
enum {
    CERTA_EXIT_OK = 0,      /* success */
    CERTA_EXIT_FAIL = 1,    /* the check or operation said no (bad proof, rejected, not committed) */
    CERTA_EXIT_USAGE = 2,   /* bad command line */
    CERTA_EXIT_ERROR = 3,   /* runtime error: unreadable file, malformed input, I/O */
};

typedef int (*certa_cmd_fn)(int argc, char **argv);

typedef struct certa_cmd {
    const char *name;
    certa_cmd_fn fn;
    const char *summary;
} certa_cmd;

/* Prints "certa NAME: msg" to stderr and returns CERTA_EXIT_USAGE. */
int certa_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "certa NAME: msg" to stderr and returns CERTA_EXIT_ERROR. */
int certa_fail(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* true when argv has -h or --help. */
int certa_wants_help(int argc, char **argv);

/* Parses a decimal unsigned integer in [min, max]; 0 on success, -1 when
 * malformed or out of range. */
int certa_parse_u64(const char *s, unsigned long long min,
                    unsigned long long max, unsigned long long *out);

/* Reads a whole file of at most max bytes ("-": standard input), NUL-
 * terminated; *len gets its length. NULL when unreadable or longer. */
char *certa_read_file(const char *path, size_t max, size_t *len);

/* The event log over the whole chain of data directory DIR (cmd_merkle_log.c):
 * its size and root at the last block (at_size UINT64_MAX) or when it has
 * exactly at_size events at a block's end. A CERTA_EXIT_ code; failures
 * are printed. */
int certa_merkle_log_root(const char *data, uint64_t at_size, uint64_t *size,
                          uint8_t root[32]);
/* The same walk handing every leaf (u16 integrator || u64 seq || event) to
 * each, numbered from 0, in log order; each returns false with err filled
 * to stop the walk, which then fails with that message. */
typedef bool (*certa_log_leaf_fn)(void *ctx, uint64_t index, const uint8_t *leaf, size_t len,
                                  char *err, size_t err_len);
int certa_merkle_log_each(const char *data, certa_log_leaf_fn each, void *ctx);

/* A C2SP checkpoint note against a genesis (cmd_merkle_checkpoint.c): true
 * when its origin is the chain's and 2f+1 distinct genesis validators
 * signed it (*good: how many; counted, when not NULL, marks the signature
 * lines counted); false with why naming the first fault (a validator's
 * signature that does not verify, the origin, too few). Lines of other
 * names or key ids (witnesses) are skipped. */
struct certa_note;
struct certa_genesis;
bool certa_note_quorum(const struct certa_genesis *g, const struct certa_note *n, uint32_t *good,
                       bool counted[], char *why, size_t why_len);

/* True when n carries a valid C2SP cosignature/v1 (Ed25519) by the witness
 * whose verifier key is vkey ("NAME+KEYID+base64(0x04 || public key)", as
 * `certa witness serve` prints it) (cmd_witness.c); false with why. */
bool certa_cosig_check(const char *vkey, const struct certa_note *n, char *why, size_t why_len);

/* Subcommands, each in tools/cmd_NAME.c. Declared weak so that the command
 * builds while a subcommand's module is still being written: the dispatcher
 * reports a missing one instead of failing to link. */
#define CERTA_CMD(name) int certa_cmd_##name(int argc, char **argv) __attribute__((weak))
CERTA_CMD(keygen);
CERTA_CMD(genesis);
CERTA_CMD(merkle);
CERTA_CMD(merkle_log); /* `certa merkle log`, in cmd_merkle_log.c */
CERTA_CMD(merkle_checkpoint); /* `certa merkle checkpoint`, in cmd_merkle_checkpoint.c */
CERTA_CMD(merkle_tiles); /* `certa merkle tiles`, in cmd_merkle_tiles.c */
CERTA_CMD(monitor);
CERTA_CMD(witness);
CERTA_CMD(verify_chain);
CERTA_CMD(dry_run);
CERTA_CMD(query);
CERTA_CMD(sim);
CERTA_CMD(node);
CERTA_CMD(up);
CERTA_CMD(submit);
CERTA_CMD(status);
CERTA_CMD(receipt);
CERTA_CMD(load);
CERTA_CMD(gateway);
CERTA_CMD(gov);
CERTA_CMD(code);
#undef CERTA_CMD

#endif
