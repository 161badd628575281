/* error: the project-wide error codes and their messages.
 * Invariant: every code in certa_err has a message here. */
#include "certa/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *certa_strerror(certa_err err)
{
    switch (err) {
    case CERTA_OK: return "success";
    case CERTA_E_NOMEM: return "out of memory";
    case CERTA_E_ARG: return "invalid argument";
    case CERTA_E_IO: return "I/O error";
    case CERTA_E_NOTFOUND: return "not found";
    case CERTA_E_EXISTS: return "already exists";
    case CERTA_E_LIMIT: return "limit exceeded";
    case CERTA_E_BUSY: return "busy, retry later";
    case CERTA_E_STATE: return "operation not valid in this state";
    case CERTA_E_INTERNAL: return "internal error";
    case CERTA_E_UNSUPPORTED: return "not supported";
    case CERTA_E_NOSPACE: return "no space left on device";
    case CERTA_E_TIMEOUT: return "deadline passed";
    case CERTA_E_TRUNCATED: return "truncated input";
    case CERTA_E_TRAILING: return "trailing bytes after encoding";
    case CERTA_E_BAD_VERSION: return "unknown format version";
    case CERTA_E_BAD_KIND: return "unknown event kind";
    case CERTA_E_BAD_ENUM: return "enum value out of range";
    case CERTA_E_RESERVED: return "reserved bits set";
    case CERTA_E_TOO_LONG: return "length or count past its limit";
    case CERTA_E_BAD_MAGIC: return "bad magic number";
    case CERTA_E_NONCANONICAL: return "non-canonical encoding";
    case CERTA_E_BAD_FIELD: return "invalid field value";
    case CERTA_E_JSON: return "malformed JSON";
    case CERTA_E_HEX: return "malformed hex";
    case CERTA_E_CRYPTO: return "crypto library failure";
    case CERTA_E_BAD_SIGNATURE: return "bad signature";
    case CERTA_E_BAD_KEY: return "bad key";
    case CERTA_E_GENESIS: return "invalid genesis";
    case CERTA_E_CONFIG: return "invalid configuration";
    case CERTA_E_BAD_PROOF: return "proof does not verify";
    case CERTA_E_BAD_INDEX: return "index or size out of range";
    case CERTA_E_CORRUPT: return "corrupt record";
    case CERTA_E_TORN: return "torn record at tail";
    case CERTA_E_CHAIN: return "chain mismatch";
    case CERTA_E_READONLY: return "data directory not writable";
    case CERTA_E_SNAPSHOT: return "invalid snapshot";
    case CERTA_E_TIME: return "time would go backwards";
    case CERTA_E_PBFT: return "consensus protocol violation";
    case CERTA_E_NET: return "network transport error";
    case CERTA_E_PROTOCOL: return "wire protocol violation";
    case CERTA_E_REFUSED: return "request refused";
    case CERTA_E_TOO_OLD: return "sequence outside the replay horizon";
    case CERTA_E_MAX_: break;
    }
    return "unknown error";
}

certa_err certa_errorf(certa_errinfo *ei, certa_err code, const char *fmt, ...)
{
    if (ei != NULL) {
        va_list ap;
        ei->code = code;
        va_start(ap, fmt);
        vsnprintf(ei->msg, sizeof ei->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *certa_errmsg(const certa_errinfo *ei)
{
    if (ei == NULL)
        return "unknown error";
    if (ei->msg[0] != '\0')
        return ei->msg;
    return certa_strerror(ei->code);
}

void certa_errinfo_clear(certa_errinfo *ei)
{
    if (ei == NULL)
        return;
    ei->code = CERTA_OK;
    ei->msg[0] = '\0';
}
