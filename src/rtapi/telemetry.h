/* The Telemetry API's subscriptions and delivery for one environment (owned by its
 * rtapi). Events go to each subscriber's HTTP listener inside the sandbox in batches. */
#ifndef LAMBDAD_RTAPI_TELEMETRY_H
#define LAMBDAD_RTAPI_TELEMETRY_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TELEM_SUBS_MAX 10

/* Event types (the subscription's "types"). */
enum {
	TELEM_PLATFORM = 1,
	TELEM_FUNCTION = 2,
	TELEM_EXTENSION = 4,
};

struct telem;

/* Makes a socket that can reach the sandbox's loopback: returns it (owned by the
 * caller), or -EINPROGRESS with cb(cb_arg, fd or -errno) to come on the loop, or a
 * negative errno. */
typedef int (*telem_socket_fn)(void *arg, void (*cb)(void *cb_arg, int fd), void *cb_arg);

struct telem *telem_new(struct event_base *base); /* owned */
void telem_free(struct telem *t);                 /* NULL is a no-op */
void telem_set_socket_fn(struct telem *t, telem_socket_fn fn, void *arg);
/* PUT /2022-07-01/telemetry (or /2020-08-15/logs with logs_api) of extension ext_id
 * with body: 200, or 400 with msg saying which field is wrong. A new subscription of
 * the same extension replaces its old one. */
int telem_subscribe(struct telem *t, const char *ext_id, bool logs_api, const char *body, size_t len,
                    char *msg, size_t msglen);
/* An event of type (TELEM_*) named name ("platform.start", "function") with record
 * (taken) for the subscribers of its type. */
void telem_emit(struct telem *t, unsigned type, const char *name, json_t *record);
/* Init is over: its platform events are no longer kept for late subscribers. */
void telem_init_over(struct telem *t);
/* Sends what is queued now, without waiting for timeoutMs. */
void telem_flush(struct telem *t);
bool telem_subscribed(const struct telem *t);
/* Whether events are queued or a batch is on its way. */
bool telem_pending(const struct telem *t);

#endif
