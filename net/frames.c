/* frames: receiving one whole ZeroMQ multipart message (see frames.h). */
#include "frames.h"

#include <stdbool.h>

int certa_frames_recv(void *sock, zmq_msg_t *f, int cap)
{
    int k = 0;
    bool more = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break; /* none waiting (k == 0): a message is delivered whole */
        }
        more = zmq_msg_more(&m);
        if (k < cap)
            f[k] = m;
        else
            zmq_msg_close(&m);
        k++;
    }
    return k;
}

void certa_frames_close(zmq_msg_t *f, int frames, int cap)
{
    for (int i = 0; i < frames && i < cap; i++)
        zmq_msg_close(&f[i]);
}
