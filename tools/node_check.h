/* node_check: `certa node --check`, a validator's pre-flight check. */
#ifndef CERTA_TOOLS_NODE_CHECK_H
#define CERTA_TOOLS_NODE_CHECK_H

#include <stdint.h>

/* Default free-space threshold under which --check warns (MiB). */
#define CERTA_NODE_CHECK_MIN_FREE_MB 1024u

/* Checks config (a node.json) and everything the validator would open from
 * it, without starting it: genesis, keys (readable, of the right type,
 * matching genesis, mode 0600), data directory (exists or can be created,
 * writable, free space), and the peer, client and metrics ports (binds and
 * releases them). Prints what the validator would run and every problem,
 * each naming its file and field. Returns an exit code: 0 no error
 * (warnings allowed), 1 at least one error, 3 config unreadable. */
int certa_node_check(const char *config, uint64_t min_free_mb);

#endif
