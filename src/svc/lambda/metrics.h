/* GET /metrics: the scheduler's counts in the Prometheus text exposition format 0.0.4.
 * The formatter is pure, so unit tests can check its text without a server. */
#ifndef LAMBDAD_API_METRICS_H
#define LAMBDAD_API_METRICS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What one function did, as sched_foreach_fn reports it. */
struct metrics_fn {
	const char *name; /* borrowed */
	struct sched_fn_stats st;
};

/* Appends the exposition to out: one # HELP and # TYPE per metric family, the families
 * in a fixed order and, within each, the total over all functions (no function label)
 * followed by one series per function in the order of fns. Totals of per-function
 * metrics are sums over fns; c supplies the server-wide warm starts, evictions and
 * memory. Histograms are in seconds with cumulative buckets. Never fails. */
void metrics_render(struct evbuffer *out, const struct sched_counts *c, const struct metrics_fn *fns,
                    size_t nfns, uint32_t account_concurrency);

#endif
