/* What the asynchronous queue's own files share: the queue, its functions and events,
 * and how they are kept in the store (async_store.c). */
#ifndef LAMBDAD_ASYNC_INT_H
#define LAMBDAD_ASYNC_INT_H

#include <lambdad/map.h>
#include <sys/queue.h>

#include "async/async.h"
#include "store/store.h"

/* The store's names: the queue of pending events and the collections of the
 * dead-letter store (meta and payload, key "<function>/<request id>") and the configs. */
#define ASYNC_QUEUE "async.events"
#define ASYNC_FAILED "async.failed"
#define ASYNC_FAILED_PAYLOAD "async.failed_payload"
#define ASYNC_CONFIGS "async.configs"

#define ASYNC_TARGETS_MAX 8
#define ASYNC_LAT_SAMPLES 1024
#define ASYNC_ERROR_MAX 4096 /* bytes of a failure's body kept as its last error */
#define ASYNC_RETRIES_DEFAULT 2
#define ASYNC_AGE_DEFAULT_S 21600
#define ASYNC_THROTTLE_BASE_MS 1000  /* throttles and system errors: 1 s, doubling ... */
#define ASYNC_THROTTLE_MAX_MS 300000 /* ... up to 5 min */

enum async_ev_state { ASYNC_EV_WAITING, ASYNC_EV_READY, ASYNC_EV_INFLIGHT, ASYNC_EV_NEW };

/* One accepted event, in memory; its payload stays in the store (the queue item of rc,
 * whose attributes are the event's fields below as JSON: async__ev_attrs). */
struct async_ev {
	char id[37];
	struct async_fn *fn;
	int64_t accepted_ms;       /* wall clock: the event's age counts from here */
	int64_t due_ms;            /* wall clock: not delivered before */
	uint32_t attempts;         /* invocations that answered (approximateInvokeCount) */
	char *last_error;          /* the last failure's body (JSON text) or NULL */
	char executed_version[12]; /* the version the last attempt ran ("" before one) */
	enum async_ev_state state;
	size_t heap_idx;            /* ASYNC_EV_WAITING: index in q->heap */
	TAILQ_ENTRY(async_ev) link; /* ASYNC_EV_READY: in fn->ready; ASYNC_EV_NEW: in q->fresh */
	struct store_receipt rc;    /* the store's queue item */
	async_accepted_cb cb;       /* ASYNC_EV_NEW from Invoke: told after the commit */
	void *cb_arg;
};
TAILQ_HEAD(async_ev_list, async_ev);

/* The event invoke config of a function (AWS's FunctionEventInvokeConfig). */
struct async_cfg {
	bool present;
	int32_t max_retries; /* -1: not set (2) */
	int32_t max_age_s;   /* -1: not set (21600) */
	char *on_success;    /* destination ARNs, NULL when not set */
	char *on_failure;
	int64_t modified_ms;
};

/* A function the queue knows of: its config, queue and counters. */
struct async_fn {
	char *name;
	struct async_cfg cfg;
	struct async_ev_list ready; /* due, waiting for the scheduler */
	uint32_t depth;             /* events not finished: waiting, ready, in flight */
	uint32_t inflight;
	int64_t blocked_until_ms; /* throttled: no dispatch before (wall) */
	int64_t backoff_ms;       /* the next throttle backoff */
	struct event *unblock;    /* fires at blocked_until_ms */
	bool kicked;              /* in q->kick_list */
	TAILQ_ENTRY(async_fn) kick_link;
	struct async *q;
	/* Since the server started. */
	uint64_t accepted, delivered, retries, throttles, dropped_by_age, dead_lettered;
	uint32_t failed_stored;             /* rows in lambdad's dead-letter store now */
	uint32_t lat_ms[ASYNC_LAT_SAMPLES]; /* accepted -> successful answer, a ring */
	uint64_t lat_n;
};
TAILQ_HEAD(async_fn_list, async_fn);

struct async_target {
	const struct async_target_ops *ops;
	void *arg;
};

struct async {
	struct event_base *base;
	struct sched *sc;
	struct registry *reg;
	char *region;
	char *account;
	int64_t delays_ms[2];
	int64_t age_unit_ms; /* one second of MaximumEventAgeInSeconds (tests shorten it) */
	bool stopping;
	bool freeing; /* async_free: committed events are not answered */
	struct store *st;
	/* Accepted events wait for the store's group commit (store_group_wait, one waiter
	 * each), then are answered and queued. */
	struct async_ev_list fresh; /* accepted, not yet durable */
	/* Waiting events, a min-heap on due_ms, and the timer for its top. */
	struct async_ev **heap;
	size_t heap_n, heap_cap;
	struct event *timer;
	int64_t timer_at_ms;
	struct map fns;                 /* struct async_fn by name (owned), in name order */
	struct async_fn_list kick_list; /* functions to dispatch on the next kick */
	struct event *kick_ev;
	struct async_target targets[ASYNC_TARGETS_MAX];
	size_t ntargets;
};

/* async.c */
struct async_fn *async__fn_get(struct async *q, const char *name, bool create);
/* Appends a new event for fn with payload (copied) to the store's queue, in the open
 * group; it is queued here once the group is durable. id NULL: a new request id;
 * accepted_ms 0: now. Returns the event (owned by q) or NULL with a message. */
struct async_ev *async__ev_insert(struct async *q, struct async_fn *f, const char *id, const void *payload,
                                  size_t len, struct err *errp);
/* Puts a loaded (durable) event where it belongs: ready now, or waiting for its time. */
void async__ev_schedule(struct async *q, struct async_ev *ev);

/* async_store.c */
/* Loads configs, pending events and the dead-letter counts into memory. */
int async__store_load(struct async *q, struct err *errp);
/* The payload of ev (owned, NUL-terminated, *len without the NUL) or NULL. */
char *async__store_payload(struct async *q, const struct async_ev *ev, size_t *len);
/* The queue item attributes of ev (owned JSON text). */
char *async__store_attrs(const struct async_ev *ev);
/* Writes ev's row of lambdad's dead-letter store (payload: plen bytes) in the group.
 * Returns 0 or -EIO. */
int async__store_put_failed(struct async *q, const struct async_ev *ev, const char *condition,
                            const char *reason, const char *payload, size_t plen);
/* Writes (c non-NULL) or deletes the config of name in the group. Returns 0 or -EIO. */
int async__store_put_config(struct async *q, const char *name, const struct async_cfg *c, struct err *errp);
/* The key of a dead-letter row: "<function>/<request id>" (owned). */
char *async__store_failed_key(const char *fn, const char *id);

/* async_config.c */
void async__cfg_fini(struct async_cfg *c);
int32_t async__cfg_max_retries(const struct async_cfg *c);
int64_t async__cfg_max_age_ms(const struct async *q, const struct async_cfg *c);

/* async_target.c */
void async__target_builtin(struct async *q);
/* The service of an ARN ("lambda", "sqs", ...) in svc (at most 15 chars), or -EINVAL
 * when arn is not arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE. */
int async__target_service(const char *arn, char svc[16]);
/* Whether arn is a valid target for use (its service registered and allowed for it). */
int async__target_check(struct async *q, const char *arn, unsigned use, struct err *errp);
int async__target_deliver(struct async *q, const char *arn, unsigned use, const struct async_target_msg *m,
                          struct err *errp);

#endif
