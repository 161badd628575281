/* Tests for engine/error.c: every code has its own message, context
 * messages take precedence, and certa_errorf returns the code it records. */
#include <criterion/criterion.h>
#include <string.h>

#include "certa/error.h"

/* Every published code; keep in step with include/certa/error.h. */
static const certa_err codes[] = {
    CERTA_E_NOMEM, CERTA_E_ARG, CERTA_E_IO, CERTA_E_NOTFOUND, CERTA_E_EXISTS,
    CERTA_E_LIMIT, CERTA_E_BUSY, CERTA_E_STATE, CERTA_E_INTERNAL,
    CERTA_E_UNSUPPORTED, CERTA_E_NOSPACE, CERTA_E_TIMEOUT, CERTA_E_TRUNCATED,
    CERTA_E_TRAILING, CERTA_E_BAD_VERSION, CERTA_E_BAD_KIND, CERTA_E_BAD_ENUM,
    CERTA_E_RESERVED, CERTA_E_TOO_LONG, CERTA_E_BAD_MAGIC, CERTA_E_NONCANONICAL,
    CERTA_E_BAD_FIELD, CERTA_E_JSON, CERTA_E_HEX, CERTA_E_CRYPTO,
    CERTA_E_BAD_SIGNATURE, CERTA_E_BAD_KEY, CERTA_E_GENESIS, CERTA_E_CONFIG,
    CERTA_E_BAD_PROOF, CERTA_E_BAD_INDEX, CERTA_E_CORRUPT, CERTA_E_TORN,
    CERTA_E_CHAIN, CERTA_E_READONLY, CERTA_E_SNAPSHOT, CERTA_E_TIME,
    CERTA_E_PBFT, CERTA_E_NET, CERTA_E_PROTOCOL, CERTA_E_REFUSED, CERTA_E_TOO_OLD,
};

Test(error, every_code_has_a_distinct_message)
{
    size_t n = sizeof codes / sizeof codes[0];
    cr_assert_str_eq(certa_strerror(CERTA_OK), "success");
    cr_assert_str_eq(certa_strerror((certa_err)799), "unknown error");
    for (size_t i = 0; i < n; i++) {
        const char *m = certa_strerror(codes[i]);
        cr_assert_not_null(m);
        cr_assert_str_neq(m, "unknown error", "code %d", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(m, certa_strerror(codes[j]), "codes %d and %d",
                              codes[i], codes[j]);
    }
}

Test(error, context_message)
{
    certa_errinfo ei;
    certa_errinfo_clear(&ei);
    cr_assert_eq(ei.code, CERTA_OK);
    cr_assert_str_eq(certa_errmsg(&ei), "success");
    cr_assert_eq(certa_errorf(&ei, CERTA_E_GENESIS, "%s: %s: bad", "g.json", "params"),
                 CERTA_E_GENESIS);
    cr_assert_eq(ei.code, CERTA_E_GENESIS);
    cr_assert_str_eq(certa_errmsg(&ei), "g.json: params: bad");
    /* No context: the code's fixed message. NULL errinfo is allowed. */
    ei.msg[0] = '\0';
    cr_assert_str_eq(certa_errmsg(&ei), "invalid genesis");
    cr_assert_eq(certa_errorf(NULL, CERTA_E_IO, "x"), CERTA_E_IO);
    cr_assert_str_eq(certa_errmsg(NULL), "unknown error");
    /* Long context is truncated, never overflows. */
    char big[2 * CERTA_ERRINFO_MSG_BYTES];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    certa_errorf(&ei, CERTA_E_ARG, "%s", big);
    cr_assert_eq(strlen(ei.msg), CERTA_ERRINFO_MSG_BYTES - 1);
}
