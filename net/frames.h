/* frames: receiving one whole ZeroMQ multipart message (internal to net/).
 *
 * The peer transport and the client protocol both read messages of a known
 * small frame count from ROUTER and DEALER sockets without blocking. A
 * multipart message is delivered whole or not at all, so a message is
 * either all there or absent.
 */
#ifndef CERTA_NET_FRAMES_H
#define CERTA_NET_FRAMES_H

#include <zmq.h>

/* Receives the next whole message waiting on sock (ZMQ_DONTWAIT), keeping
 * its first cap frames in f[0..cap) and closing the rest. Returns the
 * message's frame count, which exceeds cap when frames were dropped, or 0
 * when no message is waiting. The caller closes what was kept, with
 * certa_frames_close(f, returned count, cap). */
int certa_frames_recv(void *sock, zmq_msg_t *f, int cap);

/* Closes the frames kept by certa_frames_recv: f[0..min(frames, cap)). */
void certa_frames_close(zmq_msg_t *f, int frames, int cap);

#endif
