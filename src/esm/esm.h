/* Event source mappings at run time: the durable table of mappings (the store's
 * "esm.mappings" collection, one JSON row per UUID) and one poller per enabled mapping,
 * on the loop, reading its source through a struct esm_source_ops (SQS today; the
 * Kinesis and DynamoDB stream sources plug in the same way), filtering, batching, and
 * invoking the function synchronously through the scheduler. The Lambda API's handlers
 * (svc/lambda/esm.c) validate requests and call the functions below. */
#ifndef LAMBDAD_ESM_H
#define LAMBDAD_ESM_H

#include <event2/event.h>
#include <jansson.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"
#include "sched/sched.h"
#include "store/store.h"

#define ESM_COLL "esm.mappings"
#define ESM_CONCURRENCY_MAX 1000   /* concurrent batches of one mapping without MaximumConcurrency */
#define ESM_PAYLOAD_MAX (6u << 20) /* bytes of one invoke's event */
#define ESM_LONG_POLL_MS 20000     /* a receive waits this long for its first record */
#define ESM_THROTTLE_BASE_MS 100   /* first back-off after a throttle, doubling */
#define ESM_THROTTLE_MAX_MS 10000

/* ---- Sources ---- */

/* One record read from a source. The source fills it; the poller owns the array and the
 * records, and hands each record back exactly once through ack or nack. */
struct esm_record {
	char id[128];       /* its item identifier (SQS: messageId; streams: sequence number) */
	json_t *record;     /* owned: the record as the function receives it in "Records" */
	json_t *match;      /* owned or NULL: what FilterCriteria matches (SQS: body parsed as
	                     * JSON when it is JSON); NULL: record itself */
	void *token;        /* the source's own (a receipt handle), for ack/nack */
	int64_t arrived_ms; /* when the source got it (SQS: SentTimestamp), 0: unknown */
};

/* A receive ended: status 0 with n records (recs owned by the callee, n may be 0 when the
 * wait ran out), or a negative errno: -ENOENT when the source no longer exists (reason: a
 * StateTransitionReason for the mapping), anything else a failure to retry. Runs on the
 * loop, never inside the call to receive. */
typedef void (*esm_receive_cb)(void *arg, int status, struct esm_record *recs, size_t n, const char *reason);

struct esm_source_ops {
	const char *kind;       /* "sqs" */
	const char *arn_prefix; /* the EventSourceArn that names this kind: "arn:aws:sqs:" */
	/* Whether arn names a source that exists: 0, or -ENOENT / -EINVAL with the message
	 * AWS gives (the API answers InvalidParameterValueException with it). */
	int (*check)(void *ctx, const char *arn, struct err *errp);
	/* How long (s) a record received from arn stays hidden from other readers (SQS: the
	 * queue's VisibilityTimeout), or -1 when the source does not hide records. NULL: -1. */
	int64_t (*lease_s)(void *ctx, const char *arn);
	/* A reader of arn for one worker of a mapping: 0 and *reader, or a negative errno. */
	int (*open)(void *ctx, const char *arn, void **reader, struct err *errp);
	/* Receives up to max records, waiting up to wait_ms for the first; cb(arg, ...) runs
	 * once, later. One receive at a time per reader. 0, or a negative errno (no cb). */
	int (*receive)(void *reader, size_t max, int64_t wait_ms, esm_receive_cb cb, void *arg);
	/* The record was processed or filtered out: delete it from the source. */
	void (*ack)(void *reader, struct esm_record *r);
	/* The record failed: leave it to the source's retry rule (SQS: it reappears after its
	 * visibility timeout). */
	void (*nack)(void *reader, struct esm_record *r);
	/* Frees a record's token (after ack or nack). NULL: nothing to free. */
	void (*token_free)(void *token);
	/* Cancels the receive in flight (its cb never runs) and frees the reader. */
	void (*close)(void *reader);
	/* Frees the ctx given to esm_source_register, in esm_free. NULL: the caller's. */
	void (*ctx_free)(void *ctx);
};

/* ---- The table of mappings ---- */

struct esm;

struct esm_config {
	struct event_base *base;
	struct store *store;  /* borrowed; outlives the esm */
	struct registry *reg; /* borrowed: the functions, looked up at each batch */
	struct sched *sched;  /* borrowed; invoke below uses it */
	/* How a batch is invoked: sched_invoke(ctx, args, errp) unless a test sets it. */
	int (*invoke)(void *ctx, const struct sched_invoke_args *a, struct err *errp);
	void *invoke_ctx;
};

/* Loads the stored mappings (no poller starts before esm_start). Returns 0 and an owned
 * *out, or a negative errno with a message. */
int esm_new(const struct esm_config *cfg, struct esm **out, struct err *errp);
/* Registers a source kind (ops borrowed, outliving e; ctx borrowed, or owned when ops has
 * ctx_free). 0, or -EEXIST / -ENOSPC (ctx still the caller's). */
int esm_source_register(struct esm *e, const struct esm_source_ops *ops, void *ctx);
/* Starts the pollers of the enabled mappings (once the sources are registered). */
void esm_start(struct esm *e);
/* Shutdown: every poller stops (receives cancelled; invocations in flight end and their
 * records are acked or nacked as usual); nothing polls again. Idempotent; NULL ok. */
void esm_stop(struct esm *e);
/* esm_stop, then frees e; call it after sched_stop, which answers the invocations in
 * flight. NULL is a no-op. Stops every poller (receives cancelled, the records of invocations in flight are
 * left to their source) and frees e. NULL is a no-op. */
void esm_free(struct esm *e);

/* The source kind of arn (borrowed ops, ctx in *ctx), or NULL when none is registered. */
const struct esm_source_ops *esm_source_for(struct esm *e, const char *arn, void **ctx);

/* Stores row (a complete EventSourceMappingConfiguration, borrowed; its UUID names it
 * and its "State" is Enabled or Disabled) durably and applies it: the poller starts, stops
 * or takes the new settings; until it has, Get shows transitional (Creating, Updating,
 * Enabling, Disabling). Returns 0, -EINVAL with a message when its FilterCriteria or a field
 * is wrong, or -EIO when the store failed (nothing changed). */
int esm_put(struct esm *e, const json_t *row, const char *transitional, struct err *errp);
/* The row of uuid with its current State and StateTransitionReason (owned), or NULL. */
json_t *esm_get(struct esm *e, const char *uuid);
/* Whether uuid is in a transitional state (another change is under way). */
bool esm_busy(struct esm *e, const char *uuid);
/* Deletes uuid durably and stops its poller: 0 and the last row in State Deleting in
 * *last (owned), -ENOENT, or -EIO. */
int esm_delete(struct esm *e, const char *uuid, json_t **last, struct err *errp);
/* The mappings after marker (NULL: from the first), in UUID order, whose EventSourceArn
 * is source_arn and whose FunctionArn's function is fn_name (either NULL: any): up to max
 * rows appended to out (owned by it); returns the UUID to continue after (owned) when
 * more match, else NULL. */
char *esm_list(struct esm *e, const char *marker, const char *source_arn, const char *fn_name, size_t max,
               json_t *out);
/* The UUID (borrowed) of a mapping of source_arn to function fn_name other than except,
 * or NULL. */
const char *esm_find(struct esm *e, const char *source_arn, const char *fn_name, const char *except);

/* Counters of one mapping since the server started (metrics and tests). */
struct esm_stats {
	uint64_t batches;   /* invocations answered */
	uint64_t records;   /* records delivered to the function */
	uint64_t filtered;  /* records dropped by FilterCriteria (acked) */
	uint64_t failures;  /* records nacked after a failed invocation or a partial failure */
	uint64_t throttles; /* invocations refused by a concurrency limit (retried) */
	int64_t lag_ms;     /* age of the oldest record of the last batch invoked */
	uint32_t workers;   /* concurrent batches now (receiving or invoking) */
};
/* 0 and *st, or -ENOENT. */
int esm_stats_get(struct esm *e, const char *uuid, struct esm_stats *st);

/* The per-mapping series of GET /metrics (metrics_collect_fn's shape; arg: the esm):
 * batches, records, filtered, failures, throttles, workers and the polling lag, by uuid
 * and function. */
struct metrics_scrape;
void esm_metrics_collect(struct metrics_scrape *s, void *arg);

/* The function name of a FunctionArn ("arn:aws:lambda:r:a:function:NAME[:qual]"), written
 * to name (at most size bytes); false when fn_arn is not of that shape. */
bool esm_arn_function(const char *fn_arn, char *name, size_t size);

#endif
