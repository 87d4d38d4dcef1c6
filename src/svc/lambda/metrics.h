/* GET /metrics: the scheduler's series, as the collector api_metrics_collect gives
 * them to the metrics registry (metrics/metrics.h). The filling is pure, so unit tests
 * can check its text without a server. */
#ifndef LAMBDAD_API_METRICS_H
#define LAMBDAD_API_METRICS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"
#include "sched/sched.h"

/* What one function did, as sched_foreach_fn reports it. */
struct metrics_fn {
	const char *name; /* borrowed */
	struct sched_fn_stats st;
};

/* Adds the scheduler's families to s, in a fixed order and, within each, the total over
 * all functions (no function label) followed by one series per function in the order of
 * fns (borrowed). Totals of per-function metrics are sums over fns; c (borrowed) supplies
 * the server-wide warm starts, evictions and memory. Histograms are in seconds. Never fails. */
void api_metrics_fill(struct metrics_scrape *s, const struct sched_counts *c, const struct metrics_fn *fns,
                      size_t nfns, uint32_t account_concurrency);
/* The collector (metrics_collect_fn) of the Lambda service: arg is its struct api
 * (borrowed); reads the scheduler's counts and per-function stats, sorted by name. */
void api_metrics_collect(struct metrics_scrape *s, void *arg);

#endif
