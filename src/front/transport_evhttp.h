/* The transport seam (front.h) over libevent's evhttp: a listener that hands each request
 * to a front_handler_cb as a front_req and carries its answer out. */
#ifndef LAMBDAD_FRONT_TRANSPORT_EVHTTP_H
#define LAMBDAD_FRONT_TRANSPORT_EVHTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <lambdad/err.h>
#include <stddef.h>
#include <stdint.h>

#include "front/front.h"

struct front_evhttp;

/* Listens on host:port (TCP_NODELAY) and calls cb(rq, arg) for each request read whole; a
 * body over max_body bytes is answered 413 by evhttp without cb. Returns 0 with *out
 * (owned), or -EADDRINUSE / -ENOMEM with a message. base, cb and arg outlive it. */
int front_evhttp_new(struct event_base *base, const char *host, uint16_t port, size_t max_body,
                     front_handler_cb cb, void *arg, struct front_evhttp **out, struct err *errp);
/* The port h listens on (the kernel's pick when it was asked for port 0). */
uint16_t front_evhttp_port(const struct front_evhttp *h);
/* Closes the listening socket: new connections are refused; connections already open
 * still carry requests and answers. Idempotent. */
void front_evhttp_stop_accepting(struct front_evhttp *h);
/* Closes every connection and frees h (NULL is a no-op). Requests not answered yet must
 * not be answered afterwards. */
void front_evhttp_free(struct front_evhttp *h);

#endif
