/* GET /metrics: the scheduler's counters, gauges and duration histograms, collected
 * into the metrics registry (metrics/metrics.h) at scrape time from memory (no disk,
 * no SQL); the registry also runs async's collector and renders the page. */
#include <inttypes.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "svc/lambda/metrics.h"
#include "base/codec.h"

/* Per-function counters and gauges; the unlabelled series is their sum over functions. */
static const struct {
	const char *name;
	enum metrics_type type; /* a counter or a gauge */
	const char *help;
	size_t off; /* in struct sched_fn_stats */
	bool u32;   /* a uint32_t there, else a uint64_t */
} fn_series[] = {
    {"lambdad_invocations_total", METRICS_COUNTER, "Invocations answered, successes and function errors.",
     offsetof(struct sched_fn_stats, invocations), false},
    {"lambdad_errors_total", METRICS_COUNTER,
     "Invocations answered with a function error, timeouts and runtime crashes included.",
     offsetof(struct sched_fn_stats, errors), false},
    {"lambdad_timeouts_total", METRICS_COUNTER, "Invocations stopped when the function's timeout passed.",
     offsetof(struct sched_fn_stats, timeouts), false},
    {"lambdad_throttles_total", METRICS_COUNTER,
     "Invocations refused with 429 because a concurrency limit was reached.",
     offsetof(struct sched_fn_stats, throttles), false},
    {"lambdad_cold_starts_total", METRICS_COUNTER, "Invocations answered by an environment started for them.",
     offsetof(struct sched_fn_stats, cold_starts), false},
    {"lambdad_concurrent_executions", METRICS_GAUGE,
     "Invocations in flight, waiting for an environment included.",
     offsetof(struct sched_fn_stats, concurrent), true},
    {"lambdad_provisioned_ready", METRICS_GAUGE, "Provisioned environments initialised and ready.",
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

void api_metrics_fill(struct metrics_scrape *s, const struct sched_counts *c, const struct metrics_fn *fns,
                      size_t nfns, uint32_t account_concurrency)
{
	for (size_t k = 0; k < ARRAY_SIZE(fn_series); k++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < nfns; i++)
			sum += series_at(&fns[i].st, k);
		metrics_family(s, fn_series[k].name, fn_series[k].type, fn_series[k].help);
		metrics_sample_u64(s, NULL, 0, sum);
		for (size_t i = 0; i < nfns; i++)
			metrics_sample_u64(s, &(struct metrics_label){"function", fns[i].name}, 1,
			                   series_at(&fns[i].st, k));
	}
	metrics_family(s, "lambdad_warm_starts_total", METRICS_COUNTER,
	               "Invocations given to an idle environment.");
	metrics_sample_u64(s, NULL, 0, c->warm_starts);
	metrics_family(s, "lambdad_evictions_total", METRICS_COUNTER,
	               "Idle environments stopped to make room under --max-memory.");
	metrics_sample_u64(s, NULL, 0, c->evictions);

	double bounds_s[SCHED_HIST_BUCKETS];
	for (unsigned i = 0; i < SCHED_HIST_BUCKETS; i++)
		bounds_s[i] = sched_hist_bounds_ms[i] / 1000.0;
	for (size_t k = 0; k < ARRAY_SIZE(fn_hists); k++) {
		metrics_family(s, fn_hists[k].name, METRICS_HISTOGRAM, fn_hists[k].help);
		for (size_t i = 0; i < nfns; i++) {
			struct sched_hist h;
			memcpy(&h, (const char *)&fns[i].st + fn_hists[k].off, sizeof(h));
			metrics_hist(s, &(struct metrics_label){"function", fns[i].name}, 1, bounds_s,
			             SCHED_HIST_BUCKETS, h.counts, h.sum_ms / 1000.0);
		}
	}

	metrics_family(s, "lambdad_environments", METRICS_GAUGE, "Live execution environments by state.");
	for (size_t k = 0; k < ARRAY_SIZE(env_states); k++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < nfns; i++)
			sum += u32_at(&fns[i].st, env_states[k].off);
		metrics_sample_u64(s, &(struct metrics_label){"state", env_states[k].state}, 1, sum);
	}
	for (size_t i = 0; i < nfns; i++)
		for (size_t k = 0; k < ARRAY_SIZE(env_states); k++) {
			struct metrics_label l[] = {{"function", fns[i].name},
			                            {"state", env_states[k].state}};
			metrics_sample_u64(s, l, ARRAY_SIZE(l), u32_at(&fns[i].st, env_states[k].off));
		}

	metrics_family(s, "lambdad_environment_memory_mb", METRICS_GAUGE,
	               "Sum of the MemorySize (MB) of live environments and of cold starts about to begin.");
	metrics_sample_u64(s, NULL, 0, c->memory_mb);
	metrics_family(s, "lambdad_account_concurrency_limit", METRICS_GAUGE,
	               "Invocations the account may have in flight (--account-concurrency).");
	metrics_sample_u64(s, NULL, 0, account_concurrency);
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

void api_metrics_collect(struct metrics_scrape *s, void *arg)
{
	struct api *a = arg;
	struct sched_counts c = {0};
	sched_counts(a->sched, &c);
	struct collect col = {0};
	sched_foreach_fn(a->sched, collect_cb, &col);
	if (col.n > 1)
		qsort(col.fns, col.n, sizeof(*col.fns), by_name);
	api_metrics_fill(s, &c, col.fns, col.n, a->account_concurrency);
	for (size_t i = 0; i < col.n; i++)
		free((char *)col.fns[i].name);
	free(col.fns);
}

void api__metrics(struct api *a, struct api_req *r)
{
	struct evbuffer *b = evbuffer_new();
	metrics_render(a->metrics, b);
	api__add_request_id(r->req);
	front_reply_header(r->req, "Content-Type", METRICS_CONTENT_TYPE);
	front_reply(r->req, 200, b);
	evbuffer_free(b);
}
