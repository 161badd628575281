/* config: loads a validator's node.json and its key files.
 *
 * Paths are resolved against node.json's own directory. Secrets (sign.pem,
 * curve.key) must not be readable by group or others, like ssh private keys:
 * a validator refuses to start with a key that may have leaked. Every error
 * names the file and the field.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#define CONFIG_BYTES_MAX (64u * 1024u)

/* Joins base_dir and rel unless rel is absolute. */
static certa_err resolve(const char *file, const char *field,
                         const char *base_dir, const char *rel, char *out,
                         certa_errinfo *ei)
{
    int n;
    if (rel[0] == '/' || base_dir[0] == '\0')
        n = snprintf(out, CERTA_PATH_BYTES, "%s", rel);
    else
        n = snprintf(out, CERTA_PATH_BYTES, "%s/%s", base_dir, rel);
    if (n < 0 || (size_t)n >= CERTA_PATH_BYTES)
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: %s: path too long", file,
                            field);
    return CERTA_OK;
}

static certa_err cfg_str(const char *file, const json_t *root, const char *key,
                         char *out, size_t cap, certa_errinfo *ei)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL)
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: %s: missing", file, key);
    if (!json_is_string(v))
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: %s: expected a string",
                            file, key);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 || len >= cap || strlen(s) != len)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: %s: expected 1 to %zu characters", file, key,
                            cap - 1);
    memcpy(out, s, len + 1);
    return CERTA_OK;
}

static certa_err cfg_uint(const char *file, const json_t *root, const char *key,
                          json_int_t max, json_int_t *out, certa_errinfo *ei)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL)
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: %s: missing", file, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > max)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: %s: expected an integer from 0 to %lld", file,
                            key, (long long)max);
    *out = json_integer_value(v);
    return CERTA_OK;
}

static certa_err parse(const char *file, const json_t *root, const char *dir,
                       certa_node_config *c, certa_errinfo *ei)
{
    static const char *const keys[] = {
        "version",   "genesis",     "validator_index", "sign_key",
        "curve_key", "data_dir",    "peer_bind",       "client_bind",
        "metrics_host", "metrics_port", NULL};
    if (!json_is_object(root))
        return certa_errorf(ei, CERTA_E_CONFIG, "%s: expected a JSON object",
                            file);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        bool ok = false;
        for (size_t i = 0; keys[i] != NULL && !ok; i++)
            ok = strcmp(key, keys[i]) == 0;
        if (!ok)
            return certa_errorf(ei, CERTA_E_CONFIG, "%s: %s: unknown field",
                                file, key);
    }
    json_int_t version = 0, index = 0, port = 0;
    char rel[CERTA_PATH_BYTES];
    certa_err e;
    if ((e = cfg_uint(file, root, "version", INT32_MAX, &version, ei)) != CERTA_OK)
        return e;
    if (version != CERTA_NODE_CONFIG_VERSION)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: version: %lld is not supported (%d)", file,
                            (long long)version, CERTA_NODE_CONFIG_VERSION);
    if ((e = cfg_uint(file, root, "validator_index", CERTA_VALIDATORS_MAX - 1,
                      &index, ei)) != CERTA_OK ||
        (e = cfg_uint(file, root, "metrics_port", 65535, &port, ei)) != CERTA_OK)
        return e;
    c->validator_index = (uint32_t)index;
    c->metrics_port = (uint16_t)port;
    static const struct {
        const char *key;
        size_t off;
    } paths[] = {
        {"genesis", offsetof(certa_node_config, genesis_path)},
        {"sign_key", offsetof(certa_node_config, sign_key_path)},
        {"curve_key", offsetof(certa_node_config, curve_key_path)},
        {"data_dir", offsetof(certa_node_config, data_dir)},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *dst = (char *)c + paths[i].off;
        if ((e = cfg_str(file, root, paths[i].key, rel, sizeof rel, ei)) !=
                CERTA_OK ||
            (e = resolve(file, paths[i].key, dir, rel, dst, ei)) != CERTA_OK)
            return e;
    }
    if ((e = cfg_str(file, root, "peer_bind", c->peer_bind, sizeof c->peer_bind,
                     ei)) != CERTA_OK ||
        (e = cfg_str(file, root, "client_bind", c->client_bind,
                     sizeof c->client_bind, ei)) != CERTA_OK ||
        (e = cfg_str(file, root, "metrics_host", c->metrics_host,
                     sizeof c->metrics_host, ei)) != CERTA_OK)
        return e;
    if (strncmp(c->peer_bind, "tcp://", 6) != 0)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: peer_bind: '%s' must start with tcp://", file,
                            c->peer_bind);
    if (strncmp(c->client_bind, "tcp://", 6) != 0)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: client_bind: '%s' must start with tcp://",
                            file, c->client_bind);
    if (strcmp(c->peer_bind, c->client_bind) == 0)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: client_bind: same endpoint as peer_bind", file);
    return CERTA_OK;
}

certa_err certa_node_config_load(const char *path, certa_node_config *out,
                                 certa_errinfo *ei)
{
    CERTA_ASSERT(path != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (strlen(path) >= CERTA_PATH_BYTES)
        return certa_errorf(ei, CERTA_E_CONFIG, "config path too long");
    struct stat st;
    if (stat(path, &st) != 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)CONFIG_BYTES_MAX)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: not a regular file of at most %u bytes", path,
                            CONFIG_BYTES_MAX);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return certa_errorf(ei, CERTA_E_JSON, "%s: line %d column %d: %s", path,
                            jerr.line, jerr.column, jerr.text);
    char dir[CERTA_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        dir[0] = '\0';
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    certa_err e = parse(path, root, dir, out, ei);
    json_decref(root);
    if (e == CERTA_OK)
        snprintf(out->path, sizeof out->path, "%s", path);
    return e;
}

/* Refuses a secret that group or others may read. */
static certa_err check_private(const char *path, certa_errinfo *ei)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    if ((st.st_mode & 077) != 0)
        return certa_errorf(ei, CERTA_E_BAD_KEY,
                            "%s: mode %04o lets others read a secret key; run "
                            "chmod 600 %s",
                            path, (unsigned)(st.st_mode & 07777), path);
    return CERTA_OK;
}

certa_err certa_curve_secret_load(const char *path,
                                  char secret_z85[CERTA_CURVE_KEY_Z85_BYTES],
                                  char public_z85[CERTA_CURVE_KEY_Z85_BYTES],
                                  certa_errinfo *ei)
{
    certa_err e = check_private(path, ei);
    if (e != CERTA_OK)
        return e;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        return certa_errorf(ei, CERTA_E_IO, "%s: %s", path, strerror(errno));
    size_t len = (size_t)n;
    if (len == 41 && buf[40] == '\n')
        len = 40;
    uint8_t raw[32];
    bool ok = len == 40;
    if (ok) {
        memcpy(secret_z85, buf, 40);
        secret_z85[40] = '\0';
        ok = zmq_z85_decode(raw, secret_z85) != NULL;
    }
    memset(buf, 0, sizeof buf);
    memset(raw, 0, sizeof raw);
    if (!ok) {
        memset(secret_z85, 0, CERTA_CURVE_KEY_Z85_BYTES);
        return certa_errorf(ei, CERTA_E_BAD_KEY,
                            "%s: expected a 40-character Z85 CURVE secret key",
                            path);
    }
    if (public_z85 != NULL && zmq_curve_public(public_z85, secret_z85) != 0) {
        memset(secret_z85, 0, CERTA_CURVE_KEY_Z85_BYTES);
        return certa_errorf(ei, CERTA_E_CRYPTO, "%s: zmq_curve_public: %s",
                            path, zmq_strerror(zmq_errno()));
    }
    return CERTA_OK;
}

certa_err certa_node_keys_load(const certa_node_config *cfg,
                               const certa_genesis *g, certa_key **sign_out,
                               char curve_secret_out[CERTA_CURVE_KEY_Z85_BYTES],
                               certa_errinfo *ei)
{
    CERTA_ASSERT(cfg != NULL && g != NULL && sign_out != NULL);
    *sign_out = NULL;
    if (cfg->validator_index >= g->validator_count)
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: validator_index: %u but the genesis has %u "
                            "validators",
                            cfg->path, cfg->validator_index, g->validator_count);
    const certa_validator_info *v = &g->validators[cfg->validator_index];
    certa_key *k = NULL;
    certa_err e = check_private(cfg->sign_key_path, ei);
    if (e == CERTA_OK)
        e = certa_key_load_pem(cfg->sign_key_path, &k, ei);
    if (e != CERTA_OK)
        return e;
    uint8_t pub[CERTA_PUBKEY_BYTES];
    certa_key_public(k, pub);
    if (memcmp(pub, v->sign_pub, sizeof pub) != 0) {
        certa_key_free(k);
        return certa_errorf(ei, CERTA_E_CONFIG,
                            "%s: the key does not match genesis "
                            "validators[%u].sign_pub",
                            cfg->sign_key_path, cfg->validator_index);
    }
    char curve_pub[CERTA_CURVE_KEY_Z85_BYTES];
    e = certa_curve_secret_load(cfg->curve_key_path, curve_secret_out, curve_pub,
                                ei);
    if (e == CERTA_OK && strcmp(curve_pub, v->curve_pub) != 0) {
        memset(curve_secret_out, 0, CERTA_CURVE_KEY_Z85_BYTES);
        e = certa_errorf(ei, CERTA_E_CONFIG,
                         "%s: the key does not match genesis "
                         "validators[%u].curve_pub",
                         cfg->curve_key_path, cfg->validator_index);
    }
    if (e != CERTA_OK) {
        certa_key_free(k);
        return e;
    }
    *sign_out = k;
    return CERTA_OK;
}
