/* genesis_write: creates a genesis directory for the default Beijing
 * catalogue (`certa genesis`): fresh validator and integrator keys,
 * genesis.json and one node.json per validator.
 *
 * The catalogue follows the 2020 pilot: the municipal government service
 * centre and the 16 district centres, 16 bureaus of which 11 offer 107
 * personal matters (using the 6 personal licence types) and 14 offer 168
 * company matters (using the business licence), the 7 licence types of the
 * first batch. Secrets go to files created with O_EXCL and mode 0600;
 * genesis.json is written last, through a temporary file and rename(), so a
 * directory with a genesis.json always has every key that genesis names.
 */
#include "certa/genesis.h"
#include "certa/codec.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define DEFAULT_CHAIN_NAME "beijing-e-licence"
#define PATHB 4096

/* ---- the default catalogue ---- */

#define LT(x) (1u << (x))
#define LT_ID LT(CERTA_LT_ID_CARD)
#define LT_HUKOU LT(CERTA_LT_HOUSEHOLD_REGISTER)
#define LT_RESIDENCE LT(CERTA_LT_RESIDENCE_PERMIT)
#define LT_DRIVING LT(CERTA_LT_DRIVING_LICENCE)
#define LT_MARRIAGE LT(CERTA_LT_MARRIAGE_CERTIFICATE)
#define LT_DIVORCE LT(CERTA_LT_DIVORCE_CERTIFICATE)
#define LT_BUSINESS LT(CERTA_LT_BUSINESS_LICENCE)

typedef struct bureau_def {
    const char *name;
    unsigned personal; /* personal matters offered */
    uint32_t personal_types;
    unsigned company; /* company matters offered */
    /* Names of the first matters of each kind; the rest are numbered. */
    const char *personal_names[2];
    const char *company_names[2];
} bureau_def;

/* 11 bureaus offer 107 personal matters, 14 offer 168 company matters. */
static const bureau_def bureaus[] = {
    {"Public Security Bureau", 14, LT_ID | LT_HUKOU | LT_RESIDENCE, 8,
     {"Household registration transfer", "Residence permit application"},
     {"Seal engraving record", "Security service company permit"}},
    {"Civil Affairs Bureau", 12, LT_ID | LT_HUKOU | LT_MARRIAGE | LT_DIVORCE, 10,
     {"Subsistence allowance application", "Elderly care subsidy"},
     {"Social organisation registration", "Elderly care institution filing"}},
    {"Human Resources and Social Security Bureau", 13,
     LT_ID | LT_HUKOU | LT_RESIDENCE, 16,
     {"Pension insurance transfer", "Unemployment benefit claim"},
     {"Employer social insurance registration", "Labour dispatch licence"}},
    {"Housing and Urban-Rural Development Commission", 11,
     LT_ID | LT_HUKOU | LT_MARRIAGE | LT_DIVORCE, 16,
     {"Public rental housing application", "Housing purchase eligibility"},
     {"Construction enterprise qualification", "Real estate agency filing"}},
    {"Health Commission", 10, LT_ID | LT_HUKOU | LT_MARRIAGE | LT_RESIDENCE, 12,
     {"Birth registration", "Physician practice registration"},
     {"Medical institution licence", "Public place hygiene licence"}},
    {"Education Commission", 9, LT_ID | LT_HUKOU | LT_RESIDENCE, 10,
     {"School enrolment for non-local children", "Teacher qualification"},
     {"Private school licence", "Training institution filing"}},
    {"Medical Security Bureau", 9, LT_ID | LT_HUKOU | LT_RESIDENCE, 8,
     {"Medical insurance enrolment", "Cross-region medical record filing"},
     {"Designated pharmacy agreement", "Employer medical insurance change"}},
    {"Transport Commission", 8, LT_ID | LT_DRIVING, 14,
     {"Taxi driver qualification", "Vehicle registration transfer"},
     {"Road transport operation permit", "Freight vehicle permit"}},
    {"Justice Bureau", 7, LT_ID | LT_HUKOU | LT_MARRIAGE | LT_DIVORCE, 6,
     {"Legal aid application", "Notarization of kinship"},
     {"Law firm registration", "Mediation organisation filing"}},
    {"Veterans Affairs Bureau", 7, LT_ID | LT_HUKOU, 0,
     {"Veteran preferential treatment", "Veteran resettlement"},
     {NULL, NULL}},
    {"Disabled Persons' Federation", 7, LT_ID | LT_HUKOU | LT_RESIDENCE, 0,
     {"Disability certificate application", "Rehabilitation subsidy"},
     {NULL, NULL}},
    {"Market Regulation Administration", 0, 0, 24, {NULL, NULL},
     {"Online sales record for medical devices", "Business licence change"}},
    {"Taxation Bureau", 0, 0, 12, {NULL, NULL},
     {"Tax registration", "Invoice application"}},
    {"Commerce Bureau", 0, 0, 10, {NULL, NULL},
     {"Foreign trade operator filing", "Single-purpose prepaid card filing"}},
    {"Ecology and Environment Bureau", 0, 0, 12, {NULL, NULL},
     {"Environmental impact approval", "Pollutant discharge permit"}},
    {"Culture and Tourism Bureau", 0, 0, 10, {NULL, NULL},
     {"Travel agency licence", "Performance venue filing"}},
};
#define BUREAU_COUNT (sizeof bureaus / sizeof bureaus[0])

typedef struct centre_def {
    const char *name;
    const char *slug; /* integrator name: counter-<slug> */
    uint16_t counters;
} centre_def;

/* Centre ids are 1 (municipal) then 2..17 in this order. Counter numbers are
 * a demo assumption sized roughly by district population. */
static const centre_def centres[] = {
    {"Beijing Municipal Government Service Centre", "municipal", 100},
    {"Dongcheng District Government Service Centre", "dongcheng", 40},
    {"Xicheng District Government Service Centre", "xicheng", 40},
    {"Chaoyang District Government Service Centre", "chaoyang", 60},
    {"Fengtai District Government Service Centre", "fengtai", 40},
    {"Shijingshan District Government Service Centre", "shijingshan", 24},
    {"Haidian District Government Service Centre", "haidian", 60},
    {"Mentougou District Government Service Centre", "mentougou", 16},
    {"Fangshan District Government Service Centre", "fangshan", 30},
    {"Tongzhou District Government Service Centre", "tongzhou", 36},
    {"Shunyi District Government Service Centre", "shunyi", 32},
    {"Changping District Government Service Centre", "changping", 36},
    {"Daxing District Government Service Centre", "daxing", 36},
    {"Huairou District Government Service Centre", "huairou", 16},
    {"Pinggu District Government Service Centre", "pinggu", 16},
    {"Miyun District Government Service Centre", "miyun", 16},
    {"Yanqing District Government Service Centre", "yanqing", 16},
};
#define CENTRE_COUNT (sizeof centres / sizeof centres[0])

#define PERSONAL_MATTER_BASE 1000u /* personal matters are 1001.. */
#define COMPANY_MATTER_BASE 2000u  /* company matters are 2001.. */

/* Checkpoints are frequent: a view change carries the prepared blocks above
 * the last stable checkpoint in full, so K bounds its size (K = 8 blocks of
 * at most 1.5 MiB each keeps view-change messages and their WAL records
 * near 24 MiB, under the transport's and the WAL's record limits). */
static const certa_genesis_params default_params = {
    .checkpoint_interval = 8,
    .window_blocks = 32,
    .block_events_max = 8192,
    .block_timeout_ms = 10,
    .view_timeout_ms = 2000,
    .clock_skew_ms_max = 2000,
    .grant_window_ms_max = 24ull * 3600 * 1000,
    .code_attempts_max = 5,
    .replay_horizon_ms = CERTA_REPLAY_HORIZON_MS_DEFAULT,
    .replay_horizon_batches = CERTA_REPLAY_HORIZON_BATCHES_DEFAULT,
    .rules = 2,
};

/* ---- small file helpers ---- */

static certa_err pathf(char out[PATHB], certa_errinfo *ei, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static certa_err pathf(char out[PATHB], certa_errinfo *ei, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATHB, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATHB)
        return certa_errorf(ei, CERTA_E_ARG, "path too long: %s", out);
    return CERTA_OK;
}

static certa_err make_dir(const char *path, certa_errinfo *ei)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return CERTA_OK;
        return certa_errorf(ei, CERTA_E_IO, "%s: not a directory", path);
    }
    return certa_errorf(ei, CERTA_E_IO, "mkdir %s: %s", path, strerror(errno));
}

/* Creates path (which must not exist) with mode, writes len bytes, fsyncs. */
static certa_err write_new(const char *path, const void *data, size_t len,
                           mode_t mode, certa_errinfo *ei)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return certa_errorf(ei, errno == EEXIST ? CERTA_E_EXISTS : CERTA_E_IO,
                            "%s: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            unlink(path);
            return certa_errorf(ei, CERTA_E_IO, "write %s: %s", path,
                                strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int err = errno;
        unlink(path);
        return certa_errorf(ei, CERTA_E_IO, "sync %s: %s", path, strerror(err));
    }
    return CERTA_OK;
}

/* With --force, files about to be written are removed first; otherwise an
 * existing one stops the run (O_EXCL) rather than silently replacing a key. */
static certa_err clear_for(const certa_genesis_opts *o, const char *path,
                           certa_errinfo *ei)
{
    if (!o->force)
        return CERTA_OK;
    if (unlink(path) == 0 || errno == ENOENT)
        return CERTA_OK;
    return certa_errorf(ei, CERTA_E_IO, "remove %s: %s", path, strerror(errno));
}

/* ---- JSON building ---- */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    CERTA_ASSERT(n <= 64);
    certa_hex_encode(b, n, hex);
    return json_string(hex);
}

static json_t *catalogue_json(json_t *root)
{
    json_t *lts = json_array();
    for (unsigned i = 0; i < CERTA_LT_KNOWN_COUNT; i++)
        json_array_append_new(lts, json_pack("{s:i, s:s}", "id", (json_int_t)i,
                                             "name", certa_licence_type_name(i)));
    json_object_set_new(root, "licence_types", lts);

    json_t *bs = json_array();
    for (size_t i = 0; i < BUREAU_COUNT; i++)
        json_array_append_new(bs, json_pack("{s:i, s:s}", "id", (json_int_t)(i + 1),
                                            "name", bureaus[i].name));
    json_object_set_new(root, "bureaus", bs);

    json_t *cs = json_array();
    for (size_t i = 0; i < CENTRE_COUNT; i++)
        json_array_append_new(cs, json_pack("{s:i, s:s, s:i}", "id",
                                            (json_int_t)(i + 1), "name",
                                            centres[i].name, "counters",
                                            (json_int_t)centres[i].counters));
    json_object_set_new(root, "centres", cs);

    json_t *ms = json_array();
    unsigned next_personal = PERSONAL_MATTER_BASE + 1;
    unsigned next_company = COMPANY_MATTER_BASE + 1;
    for (int company = 0; company <= 1; company++) {
        for (size_t b = 0; b < BUREAU_COUNT; b++) {
            const bureau_def *d = &bureaus[b];
            unsigned count = company ? d->company : d->personal;
            uint32_t types = company ? LT_BUSINESS : d->personal_types;
            const char *const *names =
                company ? d->company_names : d->personal_names;
            for (unsigned k = 0; k < count; k++) {
                char name[CERTA_NAME_BYTES];
                if (k < 2 && names[k] != NULL)
                    snprintf(name, sizeof name, "%s", names[k]);
                else
                    snprintf(name, sizeof name, "%.36s %s matter %u", d->name,
                             company ? "company" : "personal", k + 1);
                json_t *lt = json_array();
                for (unsigned t = 0; t < CERTA_LT_KNOWN_COUNT; t++)
                    if (types & (1u << t))
                        json_array_append_new(lt, json_string(certa_licence_type_name(t)));
                unsigned id = company ? next_company++ : next_personal++;
                json_array_append_new(
                    ms, json_pack("{s:i, s:i, s:s, s:s, s:o}", "id",
                                  (json_int_t)id, "bureau", (json_int_t)(b + 1),
                                  "kind", company ? "company" : "personal",
                                  "name", name, "licence_types", lt));
            }
        }
    }
    json_object_set_new(root, "matters", ms);
    return root;
}

/* A growing text buffer; ok turns false on the first allocation failure. */
typedef struct tbuf {
    char *p;
    size_t len, cap;
    bool ok;
} tbuf;

static void put(tbuf *t, const char *s)
{
    size_t n = strlen(s);
    if (!t->ok)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (t->len + n + 1 > cap)
            cap *= 2;
        char *q = realloc(t->p, cap);
        if (q == NULL) {
            t->ok = false;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

static void put_json(tbuf *t, const json_t *v, size_t flags)
{
    char *s = json_dumps(v, flags | JSON_ENCODE_ANY);
    if (s == NULL) {
        t->ok = false;
        return;
    }
    put(t, s);
    free(s);
}

/* genesis.json laid out for people: one top-level field per line, one array
 * element per line. These exact bytes are what the chain id hashes. */
static char *dump_genesis(const json_t *root)
{
    tbuf t = {.ok = true};
    const char *key;
    json_t *v;
    size_t i = 0, n = json_object_size(root);
    put(&t, "{\n");
    json_object_foreach((json_t *)root, key, v) {
        put(&t, "  \""); /* keys are this file's own plain ASCII names */
        put(&t, key);
        put(&t, "\": ");
        if (json_is_array(v)) {
            size_t k;
            json_t *e;
            put(&t, "[\n");
            json_array_foreach(v, k, e) {
                put(&t, "    ");
                put_json(&t, e, 0);
                put(&t, k + 1 < json_array_size(v) ? ",\n" : "\n");
            }
            put(&t, "  ]");
        } else {
            put_json(&t, v, 0);
        }
        put(&t, ++i < n ? ",\n" : "\n");
    }
    put(&t, "}\n");
    if (!t.ok) {
        free(t.p);
        return NULL;
    }
    return t.p;
}

static certa_err write_key(const certa_genesis_opts *o, const char *path,
                           uint8_t pub[CERTA_PUBKEY_BYTES], certa_errinfo *ei)
{
    certa_key *k = NULL;
    certa_err e = clear_for(o, path, ei);
    if (e == CERTA_OK)
        e = certa_key_generate(&k, ei);
    if (e == CERTA_OK)
        e = certa_key_save_pem(k, path, ei);
    if (e == CERTA_OK)
        certa_key_public(k, pub);
    certa_key_free(k);
    return e;
}

static certa_err write_node(const certa_genesis_opts *o, uint32_t k,
                            json_t *validators, certa_errinfo *ei)
{
    char dir[PATHB], path[PATHB];
    certa_err e;
    if ((e = pathf(dir, ei, "%s/node%u", o->dir, k)) != CERTA_OK ||
        (e = make_dir(dir, ei)) != CERTA_OK)
        return e;

    uint8_t sign_pub[CERTA_PUBKEY_BYTES];
    if ((e = pathf(path, ei, "%s/sign.pem", dir)) != CERTA_OK ||
        (e = write_key(o, path, sign_pub, ei)) != CERTA_OK)
        return e;

    char curve_pub[CERTA_CURVE_KEY_Z85_BYTES], curve_sec[CERTA_CURVE_KEY_Z85_BYTES];
    if ((e = certa_curve_keypair(curve_pub, curve_sec, ei)) != CERTA_OK)
        return e;
    char line[48];
    snprintf(line, sizeof line, "%s\n", curve_sec);
    if ((e = pathf(path, ei, "%s/curve.key", dir)) == CERTA_OK &&
        (e = clear_for(o, path, ei)) == CERTA_OK)
        e = write_new(path, line, strlen(line), 0600, ei);
    memset(curve_sec, 0, sizeof curve_sec);
    memset(line, 0, sizeof line);
    if (e != CERTA_OK)
        return e;

    unsigned port = o->base_port + 10u * k;
    char peer[CERTA_ENDPOINT_BYTES], client[CERTA_ENDPOINT_BYTES],
        metrics[CERTA_ENDPOINT_BYTES];
    snprintf(peer, sizeof peer, "tcp://%s:%u", o->host, port);
    snprintf(client, sizeof client, "tcp://%s:%u", o->host, port + 1);
    snprintf(metrics, sizeof metrics, "http://%s:%u/metrics", o->host, port + 2);
    char name[CERTA_NAME_BYTES];
    snprintf(name, sizeof name, "node%u", k);
    json_t *sp = hex_json(sign_pub, sizeof sign_pub);
    json_array_append_new(
        validators,
        json_pack("{s:s, s:o, s:s, s:s, s:s, s:s}", "name", name, "sign_pub",
                  sp, "curve_pub", curve_pub, "peer_endpoint", peer,
                  "client_endpoint", client, "metrics_endpoint", metrics));

    json_t *node = json_pack(
        "{s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "version", 1,
        "genesis", "../genesis.json", "validator_index", (json_int_t)k,
        "sign_key", "sign.pem", "curve_key", "curve.key", "data_dir", "data",
        "peer_bind", peer, "client_bind", client, "metrics_host", o->host,
        "metrics_port", (json_int_t)(port + 2));
    char *text = json_dumps(node, JSON_INDENT(2));
    json_decref(node);
    if (text == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "node%u/node.json", k);
    size_t tl = strlen(text);
    char *with_nl = realloc(text, tl + 2);
    if (with_nl == NULL) {
        free(text);
        return certa_errorf(ei, CERTA_E_NOMEM, "node%u/node.json", k);
    }
    with_nl[tl] = '\n';
    with_nl[tl + 1] = '\0';
    if ((e = pathf(path, ei, "%s/node.json", dir)) == CERTA_OK &&
        (e = clear_for(o, path, ei)) == CERTA_OK)
        e = write_new(path, with_nl, tl + 1, 0644, ei);
    free(with_nl);
    return e;
}

static certa_err write_integrators(const certa_genesis_opts *o, json_t *list,
                                   certa_errinfo *ei)
{
    char dir[PATHB], path[PATHB];
    certa_err e;
    if ((e = pathf(dir, ei, "%s/integrators", o->dir)) != CERTA_OK ||
        (e = make_dir(dir, ei)) != CERTA_OK)
        return e;
    static const struct {
        const char *name;
        const char *role;
    } fixed[] = {{"app", "app"}, {"library", "library"}, {"admin", "admin"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint8_t pub[CERTA_PUBKEY_BYTES];
        if ((e = pathf(path, ei, "%s/%s.pem", dir, fixed[i].name)) != CERTA_OK ||
            (e = write_key(o, path, pub, ei)) != CERTA_OK)
            return e;
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "name",
                                              fixed[i].name, "role",
                                              fixed[i].role, "pub",
                                              hex_json(pub, sizeof pub)));
    }
    for (size_t c = 0; c < CENTRE_COUNT; c++) {
        char name[CERTA_NAME_BYTES];
        uint8_t pub[CERTA_PUBKEY_BYTES];
        snprintf(name, sizeof name, "counter-%s", centres[c].slug);
        if ((e = pathf(path, ei, "%s/%s.pem", dir, name)) != CERTA_OK ||
            (e = write_key(o, path, pub, ei)) != CERTA_OK)
            return e;
        json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:o}", "name",
                                              name, "role", "counter", "centre",
                                              (json_int_t)(c + 1), "pub",
                                              hex_json(pub, sizeof pub)));
    }
    /* the council's other admins last: the indexes above never move */
    for (uint32_t m = 2; m <= o->council; m++) {
        char name[CERTA_NAME_BYTES];
        uint8_t pub[CERTA_PUBKEY_BYTES];
        snprintf(name, sizeof name, "admin-%u", m);
        if ((e = pathf(path, ei, "%s/%s.pem", dir, name)) != CERTA_OK ||
            (e = write_key(o, path, pub, ei)) != CERTA_OK)
            return e;
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "name", name, "role",
                                              "admin", "pub", hex_json(pub, sizeof pub)));
    }
    return CERTA_OK;
}

/* "council": admin, admin-2 .. admin-N, a majority of them to approve. */
static json_t *council_json(uint32_t n)
{
    json_t *members = json_array();
    json_array_append_new(members, json_string("admin"));
    for (uint32_t m = 2; m <= n; m++) {
        char name[CERTA_NAME_BYTES];
        snprintf(name, sizeof name, "admin-%u", m);
        json_array_append_new(members, json_string(name));
    }
    return json_pack("{s:o, s:i}", "members", members, "threshold", (json_int_t)(n / 2 + 1));
}

static certa_err check_opts(const certa_genesis_opts *o, certa_errinfo *ei)
{
    if (o->validators < 4 || o->validators % 3 != 1 ||
        o->validators > CERTA_VALIDATORS_MAX)
        return certa_errorf(ei, CERTA_E_ARG,
                            "--validators %u: PBFT needs n = 3f+1 >= 4 and at "
                            "most %u (4, 7, 10, ...)",
                            o->validators, CERTA_VALIDATORS_MAX);
    if (o->dir == NULL || o->dir[0] == '\0')
        return certa_errorf(ei, CERTA_E_ARG, "no output directory");
    if (o->council > CERTA_GENESIS_COUNCIL_MAX)
        return certa_errorf(ei, CERTA_E_ARG, "--council %u: at most %u members", o->council,
                            CERTA_GENESIS_COUNCIL_MAX);
    if (o->host == NULL || o->host[0] == '\0' || strlen(o->host) > 64 ||
        strpbrk(o->host, " /\t\n\"\\") != NULL)
        return certa_errorf(ei, CERTA_E_ARG, "--host '%s' is not a host name",
                            o->host != NULL ? o->host : "");
    unsigned last = o->base_port + 10u * (o->validators - 1) + 2;
    if (o->base_port < 1024 || last > 65535)
        return certa_errorf(ei, CERTA_E_ARG,
                            "--base-port %u: validator ports must fall in "
                            "1024..65535 (the last would be %u)",
                            o->base_port, last);
    return CERTA_OK;
}

certa_err certa_genesis_write(const certa_genesis_opts *o, certa_errinfo *ei)
{
    CERTA_ASSERT(o != NULL);
    certa_err e = check_opts(o, ei);
    if (e != CERTA_OK)
        return e;
    char gpath[PATHB], tmp[PATHB];
    if ((e = pathf(gpath, ei, "%s/genesis.json", o->dir)) != CERTA_OK ||
        (e = pathf(tmp, ei, "%s/genesis.json.tmp", o->dir)) != CERTA_OK)
        return e;
    struct stat st;
    if (!o->force && stat(gpath, &st) == 0)
        return certa_errorf(ei, CERTA_E_EXISTS,
                            "%s exists; pass --force to replace it with a new "
                            "chain (new keys for every validator and "
                            "integrator)",
                            gpath);
    if ((e = make_dir(o->dir, ei)) != CERTA_OK)
        return e;

    uint64_t now_ms = o->genesis_time_ms;
    if (now_ms == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    }
    const certa_genesis_params *p = &default_params;
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(CERTA_GENESIS_VERSION));
    json_object_set_new(root, "chain_name", json_string(DEFAULT_CHAIN_NAME));
    json_object_set_new(root, "genesis_time_ms", json_integer((json_int_t)now_ms));
    json_object_set_new(
        root, "params",
        json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:i, s:I, s:i, s:i}",
                  "checkpoint_interval", (json_int_t)p->checkpoint_interval,
                  "window_blocks", (json_int_t)p->window_blocks,
                  "block_events_max", (json_int_t)p->block_events_max,
                  "block_timeout_ms", (json_int_t)p->block_timeout_ms,
                  "view_timeout_ms", (json_int_t)p->view_timeout_ms,
                  "clock_skew_ms_max", (json_int_t)p->clock_skew_ms_max,
                  "grant_window_ms_max", (json_int_t)p->grant_window_ms_max,
                  "code_attempts_max", (json_int_t)p->code_attempts_max,
                  "replay_horizon_ms", (json_int_t)p->replay_horizon_ms,
                  "replay_horizon_batches", (json_int_t)p->replay_horizon_batches,
                  "rules", (json_int_t)p->rules));
    json_t *validators = json_array();
    json_t *integrators = json_array();
    json_object_set_new(root, "validators", validators);
    json_object_set_new(root, "integrators", integrators);
    catalogue_json(root);

    for (uint32_t k = 0; k < o->validators && e == CERTA_OK; k++)
        e = write_node(o, k, validators, ei);
    if (e == CERTA_OK)
        e = write_integrators(o, integrators, ei);
    if (e == CERTA_OK && o->council > 0)
        json_object_set_new(root, "council", council_json(o->council));
    char *text = NULL;
    if (e == CERTA_OK) {
        text = dump_genesis(root);
        if (text == NULL)
            e = certa_errorf(ei, CERTA_E_NOMEM, "%s: formatting", gpath);
    }
    json_decref(root);
    if (e == CERTA_OK) {
        unlink(tmp);
        e = write_new(tmp, text, strlen(text), 0644, ei);
    }
    if (e == CERTA_OK && rename(tmp, gpath) != 0) {
        e = certa_errorf(ei, CERTA_E_IO, "rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
    }
    if (e == CERTA_OK) {
        /* The rename is durable only once the directory is synced. */
        int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            e = certa_errorf(ei, CERTA_E_IO, "sync %s: %s", o->dir,
                             strerror(errno));
        if (dfd >= 0)
            close(dfd);
    }
    if (e == CERTA_OK) {
        /* What we wrote must load: the writer and the parser agree. */
        certa_genesis *g = NULL;
        e = certa_genesis_parse(text, strlen(text), gpath, &g, ei);
        CERTA_ASSERT(e != CERTA_OK || g->validator_count == o->validators);
        certa_genesis_free(g);
    }
    free(text);
    return e;
}
