/* Asynchronous invocation (InvocationType Event): a durable queue of events per
 * function, delivered through the scheduler with Lambda's retries, event age,
 * destinations and dead letters; what still fails is kept, never dropped. */
#ifndef LAMBDAD_ASYNC_H
#define LAMBDAD_ASYNC_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"
#include "registry/registry.h"
#include "sched/sched.h"
#include "store/store.h"

struct async;

struct async_config {
	struct store *store; /* borrowed, outlives the queue: the queue "async.events" and the
	                      * collections "async.failed", "async.failed_payload", "async.configs" */
	const char *region;
	const char *account;
	int64_t retry_delays_ms[2]; /* before the 1st and 2nd retry; 0: Lambda's (60 s, 120 s), or
	                             * $LAMBDAD_ASYNC_RETRY_DELAYS ("1s,2s") when set */
};

/* Opens the queue and starts delivering what it holds (events accepted before a
 * crash or restart included). reg and sc are borrowed and outlive it. */
int async_new(struct event_base *base, struct sched *sc, struct registry *reg, const struct async_config *cfg,
              struct async **out, struct err *errp);
/* Stops delivering; every accepted event stays in the queue. The scheduler must have
 * answered every invocation it started for the queue (sched_free runs first). Events
 * accepted but not yet durable are committed (store_flush); their callbacks are not
 * called (the HTTP server is gone). NULL is a no-op. */
void async_free(struct async *q);
/* Parses two durations "D1,D2" (each a number with ms, s, m or h; a bare number is
 * seconds; at most 24 h), the retry delays of --async-retry-delays and
 * $LAMBDAD_ASYNC_RETRY_DELAYS. Returns 0 or -EINVAL. */
int async_parse_delays(const char *s, int64_t out[2]);
/* Shutdown: starts no more deliveries (invocations in flight still finish and their
 * outcomes are recorded). Idempotent. */
void async_stop(struct async *q);

/* Limits of an Event invocation's payload (bytes). */
#define ASYNC_PAYLOAD_MAX 1048576u       /* Invoke with InvocationType Event: 1 MB */
#define ASYNC_LEGACY_PAYLOAD_MAX 262144u /* the deprecated InvokeAsync: 256 KB */

/* The outcome of async_enqueue: status 0 once the event is durable (the caller answers
 * 202), or a negative errno when it could not be stored (500 ServiceException);
 * request_id is the event's (borrowed for the call). */
typedef void (*async_accepted_cb)(int status, const char *request_id, void *arg);
/* Accepts an event for function name (it must exist) with payload (len bytes, copied;
 * a JSON text of at most ASYNC_PAYLOAD_MAX bytes, checked by the caller; empty: "{}"),
 * committed with the store's current group (one transaction per loop pass), and calls
 * cb(status, request id, arg) once: after the group is durable, or, when the event
 * cannot even be written, before returning. arg is borrowed until then. */
void async_enqueue(struct async *q, const char *name, const void *payload, size_t len, async_accepted_cb cb,
                   void *arg);

/* The function was deleted: its event invoke config goes, and its queued events move
 * to lambdad's dead-letter store (reason: the function was deleted). */
void async_function_deleted(struct async *q, const char *name);

/* ---- Event invoke config (Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s)) ----
 * Errors are -EINVAL with a service error of svc/lambda/errors.h (INVALID_PARAMETER_VALUE,
 * VALIDATION, RESOURCE_NOT_FOUND when the function has no config), or -EIO
 * (ServiceException), with a message. Results are owned JSON in Lambda's FunctionEventInvokeConfig shape. */

/* Put (replace = true: fields absent from body are reset) or Update (replace = false:
 * absent fields are kept; RESOURCE_NOT_FOUND when the function has none) the config of name from
 * request body. Committed before return. */
int async_config_put(struct async *q, const char *name, json_t *body, bool replace, json_t **out,
                     struct err *errp);
/* The config of name, or RESOURCE_NOT_FOUND. */
int async_config_get(struct async *q, const char *name, json_t **out, struct err *errp);
/* Deletes the config of name (committed before return), or RESOURCE_NOT_FOUND. */
int async_config_delete(struct async *q, const char *name, struct err *errp);

/* ---- lambdad's own dead-letter store and statistics ---- */

/* The events of name kept in lambdad's dead-letter store, oldest first: an owned JSON
 * array of {RequestId, FunctionName, Condition, Reason, LastError, ApproximateInvokeCount,
 * AcceptedAt, FailedAt, PayloadBytes}. NULL with -EIO on a store failure. */
json_t *async_failed_list(struct async *q, const char *name, struct err *errp);
/* The payload of name's kept event id: 0 and an owned *payload of *len bytes
 * (NUL-terminated, the NUL not counted), -ENOENT when there is no such event, or -EIO. */
int async_failed_payload(struct async *q, const char *name, const char *id, char **payload, size_t *len,
                         struct err *errp);
/* Delivers again the kept events of name whose request ids are in ids (n of them; all
 * kept events when n is 0): each goes back to the function's queue with its request id,
 * attempts and age starting afresh, and leaves the store in the same transaction.
 * Returns an owned {Replayed: [...], NotFound: [...]} or NULL with -EIO. */
json_t *async_failed_replay(struct async *q, const char *name, const char *const *ids, size_t n,
                            struct err *errp);
/* Statistics of name since the server started, and its queue now: an owned object
 * {FunctionName, QueueDepth, InFlight, OldestEventAgeSeconds, Accepted, Delivered,
 * Retries, Throttles, DroppedByAge, DeadLettered, FailedStored, DeliveryLatencyMs{p50,p99,n}}. */
json_t *async_stats(struct async *q, const char *name);
/* The collector (metrics/metrics.h) of the async queues, arg the struct async (borrowed):
 * per function (label function=, the functions sorted by name, after the unlabelled
 * whole-server series: sums, the oldest age their maximum),
 * gauges lambdad_async_queue_depth, lambdad_async_inflight,
 * lambdad_async_oldest_event_age_seconds, lambdad_async_failed_stored, and counters
 * lambdad_async_accepted_total, _delivered_total, _retries_total, _throttles_total,
 * _dropped_by_age_total, _dead_lettered_total. */
void async_metrics_collect(struct metrics_scrape *s, void *arg);

/* ---- Targets: where destination records and dead letters go ----
 *
 * A target is a service named by the ARN's third field (arn:aws:SERVICE:...). The queue
 * and topic issues plug in by registering their service ("sqs", "sns"); until then the
 * built-in entries for sqs, sns, events and s3 refuse delivery with -ENOTSUP, and the
 * event is kept in lambdad's dead-letter store with a reason that says so. "lambda" is
 * built in: an asynchronous invocation (enqueue) of the function in the ARN.
 *
 * deliver runs on the loop and writes to the store in the same group as the event's
 * outcome, so the record and the outcome are committed together (one store, no rule
 * for other databases); -errno with a message means not delivered, and the event is
 * kept in lambdad's dead-letter store with that message as the reason. */
enum async_target_use {
	ASYNC_USE_ON_SUCCESS = 1, /* DestinationConfig.OnSuccess */
	ASYNC_USE_ON_FAILURE = 2, /* DestinationConfig.OnFailure */
	ASYNC_USE_DLQ = 4,        /* DeadLetterConfig.TargetArn */
};

struct async_target_msg {
	const char *function_name; /* the source function */
	const char *request_id;    /* the source event's */
	const char *body;          /* a destination record, or the event's payload (DLQ) */
	size_t len;
	const char *error_code;    /* DLQ message attributes ErrorCode, ErrorMessage; NULL */
	const char *error_message; /* for destinations */
};

struct async_target_ops {
	const char *service; /* "lambda", "sqs", "sns", "events", "s3" */
	unsigned uses;       /* the async_target_use bits this service may serve (AWS's rules) */
	int (*deliver)(void *arg, const char *arn, const struct async_target_msg *m, struct err *errp);
};

/* Registers (or replaces) the target for ops->service; ops and arg are borrowed and
 * must outlive q. */
void async_target_register(struct async *q, const struct async_target_ops *ops, void *arg);

#endif
