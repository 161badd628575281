/* zap: ZAP handler thread for CURVE servers (see zap.h for the policy).
 * Invariant: the handler never blocks on anything but its REP socket, and
 * a malformed ZAP request (not possible from libzmq itself) is answered 500
 * rather than dropped, so a handshake never hangs on us. */
#include "zap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_FRAMES_MAX 8

struct certa_zap {
    void *rep;
    pthread_t thread;
    uint32_t count;
    uint8_t (*keys)[32];
    pthread_mutex_t mu;
    uint64_t refused;
    char last_refused[41];
};

static void reply(void *rep, zmq_msg_t *req, const char *code,
                  const char *text, const char *user)
{
    /* version, request id echoed, status code, status text, user id, metadata */
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, zmq_msg_data(&req[1]), zmq_msg_size(&req[1]), ZMQ_SNDMORE);
    zmq_send(rep, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

static void handle(certa_zap *z, zmq_msg_t *req, int frames)
{
    /* 0 version, 1 request id, 2 domain, 3 address, 4 identity,
     * 5 mechanism, 6 client key */
    if (frames < 6 || !frame_is(&req[0], "1.0")) {
        if (frames >= 2)
            reply(z->rep, req, "500", "malformed ZAP request", "");
        return;
    }
    if (frame_is(&req[2], CERTA_ZAP_DOMAIN_CLIENT)) {
        reply(z->rep, req, "200", "OK", "client");
        return;
    }
    if (!frame_is(&req[2], CERTA_ZAP_DOMAIN_PEER) || !frame_is(&req[5], "CURVE") ||
        frames < 7 || zmq_msg_size(&req[6]) != 32) {
        reply(z->rep, req, "400", "unknown domain or mechanism", "");
        return;
    }
    const uint8_t *key = zmq_msg_data(&req[6]);
    for (uint32_t i = 0; i < z->count; i++) {
        if (memcmp(z->keys[i], key, 32) == 0) {
            char user[16];
            snprintf(user, sizeof user, "%u", i);
            reply(z->rep, req, "200", "OK", user);
            return;
        }
    }
    pthread_mutex_lock(&z->mu);
    z->refused++;
    zmq_z85_encode(z->last_refused, key, 32);
    pthread_mutex_unlock(&z->mu);
    reply(z->rep, req, "400", "CURVE key not in the validator set", "");
}

static void *zap_main(void *arg)
{
    certa_zap *z = arg;
    for (;;) {
        zmq_msg_t req[ZAP_FRAMES_MAX];
        int frames = 0;
        bool more = true, term = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z->rep, 0) < 0) {
                zmq_msg_close(&m);
                if (zmq_errno() == ETERM) {
                    term = true;
                    break;
                }
                continue;
            }
            more = zmq_msg_more(&m);
            if (frames < ZAP_FRAMES_MAX)
                req[frames++] = m;
            else
                zmq_msg_close(&m);
        }
        if (!term)
            handle(z, req, frames);
        for (int i = 0; i < frames; i++)
            zmq_msg_close(&req[i]);
        if (term)
            break;
    }
    int linger = 0;
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(z->rep);
    z->rep = NULL;
    return NULL;
}

certa_err certa_zap_start(void *zmq_ctx, const uint8_t (*allowed)[32],
                          uint32_t count, certa_zap **out, certa_errinfo *ei)
{
    CERTA_ASSERT(zmq_ctx != NULL && out != NULL);
    certa_zap *z = calloc(1, sizeof *z);
    if (z == NULL)
        return certa_errorf(ei, CERTA_E_NOMEM, "allocating the ZAP handler");
    z->count = count;
    if (count > 0) {
        z->keys = calloc(count, 32);
        if (z->keys == NULL) {
            free(z);
            return certa_errorf(ei, CERTA_E_NOMEM, "allocating the ZAP key set");
        }
        memcpy(z->keys, allowed, (size_t)count * 32);
    }
    pthread_mutex_init(&z->mu, NULL);
    z->rep = zmq_socket(zmq_ctx, ZMQ_REP);
    if (z->rep == NULL || zmq_bind(z->rep, "inproc://zeromq.zap.01") != 0) {
        certa_err e = certa_errorf(ei, CERTA_E_NET, "binding the ZAP handler: %s",
                                   zmq_strerror(zmq_errno()));
        if (z->rep != NULL)
            zmq_close(z->rep);
        free(z->keys);
        free(z);
        return e;
    }
    if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
        zmq_close(z->rep);
        free(z->keys);
        free(z);
        return certa_errorf(ei, CERTA_E_NET, "starting the ZAP thread");
    }
    *out = z;
    return CERTA_OK;
}

uint64_t certa_zap_refused(certa_zap *z, char last_key_z85[41])
{
    pthread_mutex_lock(&z->mu);
    uint64_t n = z->refused;
    if (last_key_z85 != NULL)
        memcpy(last_key_z85, z->last_refused, 41);
    pthread_mutex_unlock(&z->mu);
    return n;
}

void certa_zap_stop(certa_zap *z)
{
    if (z == NULL)
        return;
    pthread_join(z->thread, NULL);
    pthread_mutex_destroy(&z->mu);
    free(z->keys);
    free(z);
}
