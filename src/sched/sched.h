/* The invoke path: execution environments per function, warm reuse, cold starts,
 * timeouts, crashes and the logs of each invocation. */
#ifndef LAMBDAD_SCHED_H
#define LAMBDAD_SCHED_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/fn.h"
#include "store/store.h"

struct sched;

struct sched_config {
	const char *logs_dir;
	int64_t keep_alive_ms;        /* idle environments are reaped after this */
	uint32_t account_concurrency; /* invocations in flight at most */
	uint32_t scale_per_10s;       /* new environments per function per 10 s (0: 1000) */
	uint64_t max_memory_mb;       /* sum of MemorySize of live environments (0: no bound) */
	int64_t init_timeout_ms;      /* a runtime must ask for its first event within this */
	const char *region;
	const char *account;
	/* The credentials each environment gets (--auth sigv4: the root key, borrowed, outliving
	 * the scheduler); NULL: placeholders a local endpoint in --auth none accepts. */
	const char *access_key_id, *secret_access_key;
};

/* What an invocation ended with, handed to its callback once. */
struct sched_result {
	bool function_error;   /* answer with X-Amz-Function-Error: Unhandled */
	bool system_error;     /* lambdad's failure, not the function's (it is stopping) */
	struct evbuffer *body; /* borrowed: drain it during the callback */
	const char *log_tail;  /* last 4 KB of the invocation's log, when asked */
	size_t log_tail_len;
	const char *request_id;
	const char *executed_version; /* the version that ran: its number, or $LATEST */
	bool streamed;                /* the runtime streamed its response (see stream_cb) */
	const char *content_type;     /* of a streamed response, else NULL */
};
typedef void (*sched_done_cb)(const struct sched_result *res, void *arg);
/* A piece of a streamed response, as the runtime sends it; data is borrowed for the
 * call. content_type is the runtime's Content-Type for the stream. */
typedef void (*sched_stream_cb)(void *arg, const char *content_type, const void *data, size_t len);

/* Environments are pooled per version: cfg->version picks the pool, and the functions
 * below that take a name take the pool's key, the function's name for $LATEST or
 * "name:N" for version N (see sched_pool_key). A function's reserved concurrency (set on
 * its name) bounds all its versions together. */
struct sched_invoke_args {
	struct fn_config *cfg;      /* borrowed; the scheduler takes its own reference */
	struct evbuffer *payload;   /* drained into the invocation */
	const char *client_context; /* decoded JSON text or NULL */
	/* The ARN the caller named (a version's or an alias's), the runtime's
	 * invokedFunctionArn; NULL: the function's unqualified ARN. */
	const char *invoked_arn;
	bool want_tail;
	const char *request_id; /* NULL: a new one; else kept (an async event's retries) */
	sched_done_cb cb;
	void *arg;
	/* NULL: a streamed response (Lambda-Runtime-Function-Response-Mode: streaming) is
	 * collected, up to 6 MB, and handed to cb as one body, as for an ordinary Invoke.
	 * Set: each piece of a streamed response goes to stream_cb(arg, ...) as it arrives,
	 * and cb then runs once at the end with streamed set and an empty body on success,
	 * or function_error set and the error document as body when the stream ended in
	 * an error (error trailers, the runtime cut it short or crashed, the timeout). A
	 * runtime that answers without streaming ends in cb with its body as usual. */
	sched_stream_cb stream_cb;
};

/* The pool key of cfg's version: "name" or "name:N" (owned). */
char *sched_pool_key(const struct fn_config *cfg);

/* A scheduler on base whose environments are sandboxes (sandbox_init done) of the code
 * in store (borrowed). Returns 0 and an owned *out, or a negative errno. */
int sched_new(struct event_base *base, struct store *store, const struct sched_config *cfg,
              struct sched **out, struct err *errp);
/* Shutdown: every invocation still pending is answered now (its cb runs with a
 * ServiceException body and system_error set) and every environment is killed; later
 * sched_invoke calls fail with -ESHUTDOWN. The scheduler holds no callback arg after
 * it, so its users may be freed in any order before sched_free. Idempotent. */
void sched_stop(struct sched *s);
/* sched_stop, then frees s. NULL is a no-op. */
void sched_free(struct sched *s);

/* Why sched_invoke throttled: errp->reason with -EAGAIN. Lambda names them in the Reason
 * of its TooManyRequestsException. */
enum sched_throttle {
	SCHED_THROTTLE_ACCOUNT = 1, /* the account's concurrency (or --max-memory) is used up:
	                             * ConcurrentInvocationLimitExceeded */
	SCHED_THROTTLE_RESERVED,    /* the function's reserved concurrency is in use:
	                             * ReservedFunctionConcurrentInvocationLimitExceeded */
};

/* Starts an invocation; cb runs exactly once, later, on the loop, with a->arg (opaque to
 * the scheduler, held until then). Returns 0, or -EAGAIN when a limit is reached
 * (nothing was started): errp->reason is then an enum sched_throttle and errp->msg a
 * message for people; -ESHUTDOWN after sched_stop. */
int sched_invoke(struct sched *s, const struct sched_invoke_args *a, struct err *errp);
/* Back-pressure on the streamed response of invocation request_id (one with stream_cb):
 * paused, no stream_cb comes and the runtime blocks writing its stream (its timeout still
 * runs); resumed, the stream goes on. Returns 0, or -ENOENT when no such stream is open. */
int sched_stream_pause(struct sched *s, const char *request_id, bool paused);

/* The scaling settings of function name (see struct fn_scaling); called at startup for
 * every function that has some, and on every change. Provisioned environments are
 * started (or stopped) to match, with cfg (borrowed; the scheduler takes its own reference; NULL when the
 * function is gone). */
void sched_set_scaling(struct sched *s, const char *name, struct fn_config *cfg, const struct fn_scaling *sc);

/* Starts up to n environments of cfg now, initialised and idle (pre-warming); they
 * live for the keep-alive like any idle one (each takes a reference to cfg). Returns how many were started
 * (limits and --max-memory may start fewer). */
uint32_t sched_prewarm(struct sched *s, struct fn_config *cfg, uint32_t n);

/* Provisioned environments of name that are initialised and ready now. */
uint32_t sched_provisioned_ready(const struct sched *s, const char *name);

/* The function now has configuration cur (borrowed; the scheduler takes its own
 * reference; NULL: deleted): idle environments of
 * other revisions are killed at once, busy ones when their invocation ends. */
void sched_function_changed(struct sched *s, const char *name, struct fn_config *cur);

/* Writes buffered log lines of a function (all functions if name is NULL). */
void sched_flush_logs(struct sched *s, const char *name);

/* Counts for metrics and tests. */
struct sched_counts {
	uint32_t envs; /* live environments */
	uint32_t idle;
	uint32_t inflight; /* invocations not yet answered */
	uint64_t cold_starts;
	uint64_t warm_starts;
	uint64_t throttles;
	uint64_t evictions; /* idle environments stopped to make room (--max-memory) */
	uint64_t memory_mb; /* sum of MemorySize of live environments */
};
void sched_counts(const struct sched *s, struct sched_counts *c);

/* Upper bounds (ms) of the duration histograms' buckets; the last bucket is +Inf. */
#define SCHED_HIST_BUCKETS 14
extern const double sched_hist_bounds_ms[SCHED_HIST_BUCKETS];

struct sched_hist {
	uint64_t counts[SCHED_HIST_BUCKETS + 1]; /* per bucket, not cumulative; [last] = +Inf */
	uint64_t n;
	double sum_ms;
};

/* What one function did since the server started, and what it has now. */
struct sched_fn_stats {
	uint64_t invocations; /* answered: successes and errors */
	uint64_t errors;      /* function errors, timeouts and crashes included */
	uint64_t throttles;
	uint64_t timeouts;
	uint64_t cold_starts;
	struct sched_hist duration;      /* delivery to answer */
	struct sched_hist init_duration; /* cold starts: sandbox to the first /next */
	uint32_t concurrent;             /* invocations in flight */
	uint32_t env_starting;
	uint32_t env_idle;
	uint32_t env_busy;
	uint32_t provisioned_ready;
};
/* Calls cb for every function the scheduler has seen, in no particular order. */
void sched_foreach_fn(const struct sched *s,
                      void (*cb)(const char *name, const struct sched_fn_stats *st, void *arg), void *arg);

/* Shutdown: invocations in flight and waiting for an environment. */
uint32_t sched_inflight(const struct sched *s);

#endif
