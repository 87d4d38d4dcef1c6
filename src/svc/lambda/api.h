/* The Lambda API front: routes HTTP requests to one handler per operation. */
#ifndef LAMBDAD_API_H
#define LAMBDAD_API_H

#include <event2/event.h>
#include <lambdad/err.h>
#include <stdint.h>

#include "registry/fn.h"
#include "sched/sched.h"
#include "store/store.h"

struct front_req;
struct svc;

struct api_config {
	const char *region;
	const char *account;
	const char *logs_dir;
	uint32_t account_concurrency;
	int64_t async_retry_delays_ms[2]; /* 0: Lambda's */
	/* The front's check of every request before its handler (--auth); NULL: none. */
	void (*verify)(void *arg, struct front_req *rq, const struct svc *s,
	               void (*done)(struct front_req *, void *), void *done_arg);
	void *verify_arg;
};

struct api;

/* Loads the registry from the store and prepares the handlers. */
int api_new(struct event_base *base, struct store *st, struct sched *sc, const struct api_config *cfg,
            struct api **out, struct err *errp);
void api_free(struct api *a);
/* Serves the API on host:port (0: any free port, see api_port). Returns 0 or a negative errno. */
int api_listen(struct api *a, const char *host, uint16_t port, struct err *errp);
/* Serves fd, a listening socket made elsewhere (inside a sandbox: taken, closed on
 * failure), as the API's own port; returns a handle for api_unserve_listener or NULL.
 * arg is the api (the shape of struct sandbox_api's calls). */
void *api_serve_listener(void *arg, int fd);
/* Closes what api_serve_listener returned (NULL is a no-op); open connections stay. */
void api_unserve_listener(void *arg, void *handle);
/* The port api_listen bound (a borrowed api): the one the kernel chose when it was given 0. */
uint16_t api_port(const struct api *a);
/* Shutdown: closes the listening socket, so new connections are refused, and answers
 * every later request on a connection already open with 503 ServiceException
 * ("lambdad is shutting down") and closes it. Replies to requests already accepted
 * (invocations in flight) still go out. Idempotent. */
void api_stop_accepting(struct api *a);
/* CreateFunction and UpdateFunctionCode requests accepted and not answered yet (their
 * code on the worker pool, or waiting for an earlier deploy): shutdown waits for them
 * as for invocations in flight. */
unsigned api_deploys_in_flight(const struct api *a);
/* The front of the API's port (borrowed), for other services to join (front_add). */
struct front *api_front(struct api *a);
/* The registry of GET /metrics (borrowed), for other services' collectors. */
struct metrics *api_metrics(struct api *a);

#endif
