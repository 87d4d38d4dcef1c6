/* The invoke path: execution environments per function, warm reuse, cold starts,
 * timeouts, crashes and the logs of each invocation. */
#ifndef LAMBDAD_SCHED_H
#define LAMBDAD_SCHED_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <lambdad/err.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"
#include "store/store.h"

struct sched;

struct sched_config {
	const char *logs_dir;
	int64_t keep_alive_ms;		/* idle environments are reaped after this */
	uint32_t account_concurrency;	/* invocations in flight at most */
	int64_t init_timeout_ms;	/* a runtime must ask for its first event within this */
	const char *region;
	const char *account;
};

/* What an invocation ended with, handed to its callback once. */
struct sched_result {
	bool function_error;		/* answer with X-Amz-Function-Error: Unhandled */
	struct evbuffer *body;		/* borrowed: drain it during the callback */
	const char *log_tail;		/* last 4 KB of the invocation's log, when asked */
	size_t log_tail_len;
	const char *request_id;
};
typedef void (*sched_done_cb)(const struct sched_result *res, void *arg);

struct sched_invoke_args {
	struct fn_config *cfg;		/* borrowed; the scheduler takes its own reference */
	struct evbuffer *payload;	/* drained into the invocation */
	const char *client_context;	/* decoded JSON text or NULL */
	bool want_tail;
	sched_done_cb cb;
	void *arg;
};

int sched_new(struct event_base *base, struct store *store, const struct sched_config *cfg, struct sched **out,
	      struct err *errp);
/* Kills every environment; pending invocations are answered with a ServiceException body. */
void sched_free(struct sched *s);

/* Starts an invocation; cb runs exactly once, later, on the loop. Returns 0, or
 * -EAGAIN when a concurrency limit is reached (nothing was started). */
int sched_invoke(struct sched *s, const struct sched_invoke_args *a, struct err *errp);

/* The function now has configuration cur (NULL: deleted): idle environments of
 * other revisions are killed at once, busy ones when their invocation ends. */
void sched_function_changed(struct sched *s, const char *name, const struct fn_config *cur);

/* Writes buffered log lines of a function (all functions if name is NULL). */
void sched_flush_logs(struct sched *s, const char *name);

/* Counts for metrics and tests. */
struct sched_counts {
	uint32_t envs;		/* live environments */
	uint32_t idle;
	uint32_t inflight;	/* invocations not yet answered */
	uint64_t cold_starts;
	uint64_t warm_starts;
};
void sched_counts(const struct sched *s, struct sched_counts *c);

#endif
