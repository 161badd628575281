/* certa error convention.
 *
 * Every fallible function returns a certa_err: CERTA_OK (0) on success, a
 * positive code otherwise. certa_strerror() gives the code's fixed message.
 * Functions that can say more (which file, field, line, peer, height) take an
 * optional certa_errinfo *; they fill it through certa_errorf() and return
 * the same code, so a caller that does not care passes NULL.
 *
 * One enum for all modules, grouped by module in ranges so that codes stay
 * stable when a module adds one. Never renumber a published code.
 */
#ifndef CERTA_ERROR_H
#define CERTA_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum certa_err {
    CERTA_OK = 0,

    /* general: 1..99 */
    CERTA_E_NOMEM = 1,        /* out of memory */
    CERTA_E_ARG = 2,          /* invalid argument */
    CERTA_E_IO = 3,           /* I/O error (errno in the context message) */
    CERTA_E_NOTFOUND = 4,     /* no such item */
    CERTA_E_EXISTS = 5,       /* already exists */
    CERTA_E_LIMIT = 6,        /* a configured limit would be exceeded */
    CERTA_E_BUSY = 7,         /* overloaded: retry later */
    CERTA_E_STATE = 8,        /* operation not valid in the current state */
    CERTA_E_INTERNAL = 9,     /* broken invariant (a bug) */
    CERTA_E_UNSUPPORTED = 10, /* not supported here */
    CERTA_E_NOSPACE = 11,     /* no space left on device */
    CERTA_E_TIMEOUT = 12,     /* deadline passed */

    /* codec: 100..199 */
    CERTA_E_TRUNCATED = 100,      /* input ends before the encoded length */
    CERTA_E_TRAILING = 101,       /* bytes after the end of the encoding */
    CERTA_E_BAD_VERSION = 102,    /* unknown format version */
    CERTA_E_BAD_KIND = 103,       /* unknown event kind */
    CERTA_E_BAD_ENUM = 104,       /* enum field out of range */
    CERTA_E_RESERVED = 105,       /* reserved bits or bytes not zero */
    CERTA_E_TOO_LONG = 106,       /* length or count past its hard limit */
    CERTA_E_BAD_MAGIC = 107,      /* wrong magic number */
    CERTA_E_NONCANONICAL = 108,   /* valid-looking but not the canonical encoding */
    CERTA_E_BAD_FIELD = 109,      /* field value not allowed (see context) */
    CERTA_E_JSON = 110,           /* malformed JSON (line and field in context) */
    CERTA_E_HEX = 111,            /* malformed hex string */

    /* crypto: 200..299 */
    CERTA_E_CRYPTO = 200,         /* the crypto library failed */
    CERTA_E_BAD_SIGNATURE = 201,  /* signature does not verify */
    CERTA_E_BAD_KEY = 202,        /* key file or key bytes malformed */

    /* genesis and configuration: 300..349 */
    CERTA_E_GENESIS = 300,        /* genesis invalid (field in context) */
    CERTA_E_CONFIG = 301,         /* node configuration invalid */

    /* merkle: 350..399 */
    CERTA_E_BAD_PROOF = 350,      /* proof does not verify */
    CERTA_E_BAD_INDEX = 351,      /* index or size out of range */

    /* store: 400..499 */
    CERTA_E_CORRUPT = 400,        /* checksum mismatch before the tail */
    CERTA_E_TORN = 401,           /* torn record at the tail */
    CERTA_E_CHAIN = 402,          /* header chain or Merkle root mismatch */
    CERTA_E_READONLY = 403,       /* data directory not writable */

    /* state machine: 500..599 */
    CERTA_E_SNAPSHOT = 500,       /* snapshot invalid or unreadable */
    CERTA_E_TIME = 501,           /* time would go backwards */

    /* pbft: 600..699 */
    CERTA_E_PBFT = 600,           /* consensus protocol violation */

    /* net and client protocol: 700..799 */
    CERTA_E_NET = 700,            /* transport error */
    CERTA_E_PROTOCOL = 701,       /* peer broke the wire protocol */
    CERTA_E_REFUSED = 702,        /* request refused by the validator */
    CERTA_E_TOO_OLD = 703,        /* batch seq outside the replay horizon: whether
                                   * it executed cannot be told */

    CERTA_E_MAX_ = 800
} certa_err;

/* Fixed message for a code; never NULL, "unknown error" for unknown codes. */
const char *certa_strerror(certa_err err);

#define CERTA_ERRINFO_MSG_BYTES 512

/* Context for an error: the code plus a sentence naming what failed. */
typedef struct certa_errinfo {
    certa_err code;
    char msg[CERTA_ERRINFO_MSG_BYTES];
} certa_errinfo;

/* Records code and a printf-style context in ei (when not NULL) and returns
 * code, so that `return certa_errorf(ei, CERTA_E_IO, "open %s: %s", ...)`
 * is the one-line way to fail. */
certa_err certa_errorf(certa_errinfo *ei, certa_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The message to show a user: the context when set, else certa_strerror. */
const char *certa_errmsg(const certa_errinfo *ei);

/* Resets ei to CERTA_OK with an empty message. */
void certa_errinfo_clear(certa_errinfo *ei);

#ifdef __cplusplus
}
#endif
#endif
