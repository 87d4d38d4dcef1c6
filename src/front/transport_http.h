/* The transport seam (front.h) over lambdad's own HTTP/1.1 engine (http/server.h): a
 * listener that hands each request, read whole (or streamed, when the stream hook says
 * so), to a front_handler_cb as a front_req and carries its answer out. */
#ifndef LAMBDAD_FRONT_TRANSPORT_HTTP_H
#define LAMBDAD_FRONT_TRANSPORT_HTTP_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#include "front/front.h"

struct front_http;

/* Listens on host:port (TCP_NODELAY; host NULL: no listener, connections come through
 * front_http_serve_fd only) and calls cb(rq, arg) for each request read whole; a
 * body over max_body bytes (0: 80 MiB) is answered 413 without cb (but see
 * front_http_set_stream), a method the front does not serve 501. Returns 0 with *out (owned), or -EADDRINUSE
 * / a negative errno with a message. base, cb and arg outlive it. */
int front_http_new(struct event_base *base, const char *host, uint16_t port, size_t max_body,
                   front_handler_cb cb, void *arg, struct front_http **out, struct err *errp);
/* From now on asks wants(probe, arg, &body_max) (cb's arg) of each request once its
 * headers are in: a request it wants streamed goes to cb at once (front_req_read_body
 * takes its body, at most its body_max bytes, or max_body); a body read whole is kept
 * within body_max and max_body. A body over its limit (declared, or found while read)
 * goes to cb as a refused request (front_req_refused, no body) for the 413; the client's
 * connection closes after it. NULL: every body read whole within max_body, a body over it
 * answered 413 in text (the default). */
void front_http_set_stream(struct front_http *h, front_stream_cb wants);
/* The port listened on (the one the kernel picked for port 0), 0 with no listener. */
uint16_t front_http_port(const struct front_http *h);
/* Tests and the fuzzer: serves the already-connected socket fd (taken) as if accepted.
 * Returns 0 or a negative errno (fd closed). */
int front_http_serve_fd(struct front_http *h, int fd);
/* One more listening socket whose connections h serves as its own port's. */
struct front_http_listener;
/* Accepts connections on lfd (a listening socket, taken; closed on failure) and serves
 * them as h's own: the API's port made inside a sandbox. Returns 0 with *out (owned:
 * front_http_listener_free), or a negative errno. front_http_free closes it too. */
int front_http_listen_fd(struct front_http *h, int lfd, struct front_http_listener **out, struct err *errp);
/* Closes the socket (connections already accepted stay) and frees l; NULL is a no-op. */
void front_http_listener_free(struct front_http_listener *l);
/* Closes the listening socket: new connections are refused; connections already open
 * still carry requests and answers. Idempotent. */
void front_http_stop_accepting(struct front_http *h);
/* Closes every connection and frees h (NULL is a no-op). Requests not answered yet may
 * still be answered afterwards: the answer is dropped; a streamed body being read ends
 * with FRONT_BODY_GONE. */
void front_http_free(struct front_http *h);

#endif
