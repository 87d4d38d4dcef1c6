/* GET /metrics: the scheduler's counters, gauges and duration histograms in the
 * Prometheus text format, built from memory in one buffer (no disk, no SQL). */
#include <inttypes.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "svc/lambda/metrics.h"
#include "base/codec.h"

/* Per-function counters and gauges; the unlabelled series is their sum over functions. */
static const struct {
	const char *name;
	const char *type; /* "counter" or "gauge" */
	const char *help;
	size_t off; /* in struct sched_fn_stats */
	bool u32;   /* a uint32_t there, else a uint64_t */
} fn_series[] = {
    {"lambdad_invocations_total", "counter", "Invocations answered, successes and function errors.",
     offsetof(struct sched_fn_stats, invocations), false},
    {"lambdad_errors_total", "counter",
     "Invocations answered with a function error, timeouts and runtime crashes included.",
     offsetof(struct sched_fn_stats, errors), false},
    {"lambdad_timeouts_total", "counter", "Invocations stopped when the function's timeout passed.",
     offsetof(struct sched_fn_stats, timeouts), false},
    {"lambdad_throttles_total", "counter",
     "Invocations refused with 429 because a concurrency limit was reached.",
     offsetof(struct sched_fn_stats, throttles), false},
    {"lambdad_cold_starts_total", "counter", "Invocations answered by an environment started for them.",
     offsetof(struct sched_fn_stats, cold_starts), false},
    {"lambdad_concurrent_executions", "gauge", "Invocations in flight, waiting for an environment included.",
     offsetof(struct sched_fn_stats, concurrent), true},
    {"lambdad_provisioned_ready", "gauge", "Provisioned environments initialised and ready.",
     offsetof(struct sched_fn_stats, provisioned_ready), true},
};

/* Per-function histograms, in milliseconds in the scheduler and in seconds here. */
static const struct {
	const char *name;
	const char *help;
	size_t off; /* of a struct sched_hist in struct sched_fn_stats */
} fn_hists[] = {
    {"lambdad_invocation_duration_seconds", "Time from handing the event to the runtime to the answer.",
     offsetof(struct sched_fn_stats, duration)},
    {"lambdad_init_duration_seconds",
     "Cold starts: time from the new sandbox to the runtime's first request.",
     offsetof(struct sched_fn_stats, init_duration)},
};

static const struct {
	const char *state;
	size_t off; /* of a uint32_t in struct sched_fn_stats */
} env_states[] = {
    {"starting", offsetof(struct sched_fn_stats, env_starting)},
    {"idle", offsetof(struct sched_fn_stats, env_idle)},
    {"busy", offsetof(struct sched_fn_stats, env_busy)},
};

static uint64_t u64_at(const struct sched_fn_stats *st, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)st + off, sizeof(v));
	return v;
}

static uint32_t u32_at(const struct sched_fn_stats *st, size_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)st + off, sizeof(v));
	return v;
}

/* The value of fn_series[k] in st. */
static uint64_t series_at(const struct sched_fn_stats *st, size_t k)
{
	return fn_series[k].u32 ? u32_at(st, fn_series[k].off) : u64_at(st, fn_series[k].off);
}

static void put_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with backslash, double quote and line feed escaped, as the format asks. */
static void put_label_value(struct evbuffer *out, const char *v)
{
	while (*v) {
		size_t n = strcspn(v, "\\\"\n");
		evbuffer_add(out, v, n);
		v += n;
		if (!*v)
			break;
		evbuffer_add(out, *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : "\\n", 2);
		v++;
	}
}

/* Writes "name{function="fn",key="val"} " (the braces only if there is a label);
 * fn and key may be NULL. The caller writes the value. */
static void put_series(struct evbuffer *out, const char *name, const char *suffix, const char *fn,
                       const char *key, const char *val)
{
	evbuffer_add_printf(out, "%s%s", name, suffix);
	if (!fn && !key) {
		evbuffer_add(out, " ", 1);
		return;
	}
	evbuffer_add(out, "{", 1);
	if (fn) {
		evbuffer_add(out, "function=\"", 10);
		put_label_value(out, fn);
		evbuffer_add(out, "\"", 1);
	}
	if (key) {
		evbuffer_add_printf(out, "%s%s=\"", fn ? "," : "", key);
		put_label_value(out, val);
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add(out, "} ", 2);
}

static void put_u64(struct evbuffer *out, uint64_t v)
{
	evbuffer_add_printf(out, "%" PRIu64 "\n", v);
}

/* The buckets are cumulative; +Inf and _count are both the sum of every bucket, so
 * the exposition stays consistent whatever the scheduler's n says. */
static void put_hist(struct evbuffer *out, const char *name, const char *fn, const struct sched_hist *h)
{
	uint64_t cum = 0;
	char le[32];
	for (unsigned i = 0; i <= SCHED_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		if (i < SCHED_HIST_BUCKETS)
			snprintf(le, sizeof(le), "%.15g", sched_hist_bounds_ms[i] / 1000.0);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_series(out, name, "_bucket", fn, "le", le);
		put_u64(out, cum);
	}
	put_series(out, name, "_sum", fn, NULL, NULL);
	evbuffer_add_printf(out, "%.15g\n", h->sum_ms / 1000.0);
	put_series(out, name, "_count", fn, NULL, NULL);
	put_u64(out, cum);
}

void metrics_render(struct evbuffer *out, const struct sched_counts *c, const struct metrics_fn *fns,
                    size_t nfns, uint32_t account_concurrency)
{
	for (size_t k = 0; k < ARRAY_SIZE(fn_series); k++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < nfns; i++)
			sum += series_at(&fns[i].st, k);
		put_family(out, fn_series[k].name, fn_series[k].type, fn_series[k].help);
		put_series(out, fn_series[k].name, "", NULL, NULL, NULL);
		put_u64(out, sum);
		for (size_t i = 0; i < nfns; i++) {
			put_series(out, fn_series[k].name, "", fns[i].name, NULL, NULL);
			put_u64(out, series_at(&fns[i].st, k));
		}
	}
	put_family(out, "lambdad_warm_starts_total", "counter", "Invocations given to an idle environment.");
	put_series(out, "lambdad_warm_starts_total", "", NULL, NULL, NULL);
	put_u64(out, c->warm_starts);
	put_family(out, "lambdad_evictions_total", "counter",
	           "Idle environments stopped to make room under --max-memory.");
	put_series(out, "lambdad_evictions_total", "", NULL, NULL, NULL);
	put_u64(out, c->evictions);

	for (size_t k = 0; k < ARRAY_SIZE(fn_hists); k++) {
		put_family(out, fn_hists[k].name, "histogram", fn_hists[k].help);
		for (size_t i = 0; i < nfns; i++) {
			struct sched_hist h;
			memcpy(&h, (const char *)&fns[i].st + fn_hists[k].off, sizeof(h));
			put_hist(out, fn_hists[k].name, fns[i].name, &h);
		}
	}

	put_family(out, "lambdad_environments", "gauge", "Live execution environments by state.");
	for (size_t k = 0; k < ARRAY_SIZE(env_states); k++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < nfns; i++)
			sum += u32_at(&fns[i].st, env_states[k].off);
		put_series(out, "lambdad_environments", "", NULL, "state", env_states[k].state);
		put_u64(out, sum);
	}
	for (size_t i = 0; i < nfns; i++)
		for (size_t k = 0; k < ARRAY_SIZE(env_states); k++) {
			put_series(out, "lambdad_environments", "", fns[i].name, "state",
			           env_states[k].state);
			put_u64(out, u32_at(&fns[i].st, env_states[k].off));
		}

	put_family(out, "lambdad_environment_memory_mb", "gauge",
	           "Sum of the MemorySize (MB) of live environments and of cold starts about to begin.");
	put_series(out, "lambdad_environment_memory_mb", "", NULL, NULL, NULL);
	put_u64(out, c->memory_mb);
	put_family(out, "lambdad_account_concurrency_limit", "gauge",
	           "Invocations the account may have in flight (--account-concurrency).");
	put_series(out, "lambdad_account_concurrency_limit", "", NULL, NULL, NULL);
	put_u64(out, account_concurrency);
}

/* What sched_foreach_fn reports, copied: the names are owned here. */
struct collect {
	struct metrics_fn *fns;
	size_t n, cap;
};

static void collect_cb(const char *name, const struct sched_fn_stats *st, void *arg)
{
	struct collect *col = arg;
	if (col->n == col->cap) {
		col->cap = col->cap ? 2 * col->cap : 16;
		col->fns = xrealloc(col->fns, col->cap * sizeof(*col->fns));
	}
	col->fns[col->n++] = (struct metrics_fn){.name = xstrdup(name), .st = *st};
}

static int by_name(const void *x, const void *y)
{
	return strcmp(((const struct metrics_fn *)x)->name, ((const struct metrics_fn *)y)->name);
}

void api_metrics(struct api *a, struct api_req *r)
{
	struct sched_counts c = {0};
	sched_counts(a->sched, &c);
	struct collect col = {0};
	sched_foreach_fn(a->sched, collect_cb, &col);
	if (col.n > 1)
		qsort(col.fns, col.n, sizeof(*col.fns), by_name);

	struct evbuffer *b = evbuffer_new();
	metrics_render(b, &c, col.fns, col.n, a->account_concurrency);
	async_metrics_render(a->async, b);
	for (size_t i = 0; i < col.n; i++)
		free((char *)col.fns[i].name);
	free(col.fns);

	api_add_request_id(r->req);
	front_reply_header(r->req, "Content-Type", METRICS_CONTENT_TYPE);
	front_reply(r->req, 200, b);
	evbuffer_free(b);
}
