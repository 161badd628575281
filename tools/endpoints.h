/* endpoints: shared by the client-side subcommands (submit, status, query):
 * loading the genesis named on the command line and resolving validator
 * client endpoints to their CURVE public keys. */
#ifndef CERTA_TOOLS_ENDPOINTS_H
#define CERTA_TOOLS_ENDPOINTS_H

#include "certa/client.h"
#include "certa/genesis.h"

#define CERTA_TOOL_ENDPOINTS_MAX 64u

typedef struct certa_tool_endpoints {
    uint32_t count;
    char endpoint[CERTA_TOOL_ENDPOINTS_MAX][CERTA_ENDPOINT_BYTES];
    const char *endpoints[CERTA_TOOL_ENDPOINTS_MAX];
    const char *server_keys[CERTA_TOOL_ENDPOINTS_MAX];
    uint32_t validator[CERTA_TOOL_ENDPOINTS_MAX];
} certa_tool_endpoints;

/* The genesis path to use: path when not NULL, else $CERTA_GENESIS, else
 * "genesis.json". */
const char *certa_tool_genesis_path(const char *path);

/* Splits a comma-separated list of client endpoints (or validator names,
 * or "all") and finds each one's validator in g. Fills ei naming the first
 * unknown endpoint and listing the known ones. */
certa_err certa_tool_endpoints_resolve(const certa_genesis *g, const char *list,
                                       certa_tool_endpoints *out,
                                       certa_errinfo *ei);

/* Client options for queries (idempotent) to eps: one in flight; on
 * silence the library asks the next validator of the list, each attempt
 * getting an equal share of timeout_ms, which bounds the whole. */
certa_client_opts certa_tool_query_opts(const certa_tool_endpoints *eps, uint32_t timeout_ms);

/* One endpoint's answer to certa_tool_query_all: the QUERY_RESULT body
 * (the kind byte, then the JSON document; malloc'ed), or body NULL and why
 * saying what came instead (the validator's error, no answer). */
typedef struct certa_tool_answer {
    uint8_t *body;
    size_t len;
    char why[CERTA_CP_ERROR_MSG_MAX + 1];
} certa_tool_answer;

/* Asks q of every endpoint of eps at once, one client each, within
 * timeout_ms; a body over body_max bytes counts as no answer. Every
 * client is polled in turn (a client sends only while it is polled), so a
 * validator that does not answer costs the others nothing. Fills
 * answers[0 .. eps->count); CERTA_OK, or the error opening a client (ei;
 * answers then hold nothing to free). */
certa_err certa_tool_query_all(const certa_tool_endpoints *eps, const certa_cp_query *q,
                               uint32_t timeout_ms, size_t body_max,
                               certa_tool_answer *answers, certa_errinfo *ei);
void certa_tool_answers_free(certa_tool_answer *answers, uint32_t n);

#endif
