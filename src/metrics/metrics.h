/* The one metrics registry: every module's series reach GET /metrics through it, and
 * one renderer writes them in the Prometheus text exposition format 0.0.4.
 *
 * Modules register a collect callback, not long-lived series objects. The sources
 * (the scheduler's per-function stats, the async queues) already count on their own
 * hot paths in their own structures; a callback reads them at scrape time, so an
 * invocation pays nothing for metrics, nothing is counted twice, and per-function
 * series come and go with the functions (a deleted function simply is not reported:
 * no series to unregister, no stale label sets). The registry owns what the format
 * demands of the whole page: each family's # HELP and # TYPE once, all its samples
 * together even when two collectors add to it, label values escaped, histogram
 * buckets cumulative with +Inf, _sum and _count. */
#ifndef LAMBDAD_METRICS_H
#define LAMBDAD_METRICS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* One label of a sample: name="value". */
struct metrics_label {
	const char *name;  /* borrowed; [a-zA-Z_][a-zA-Z0-9_]*, not "le" */
	const char *value; /* borrowed; any bytes, escaped on output */
};

struct metrics;        /* the registry: collectors in registration order */
struct metrics_scrape; /* one scrape in progress: families and their samples */

/* Fills s with a module's samples (metrics_family, metrics_sample_*, metrics_hist). arg is
 * what was registered. Runs on the scrape's thread, within metrics_render. */
typedef void metrics_collect_fn(struct metrics_scrape *s, void *arg);

/* An empty registry, owned (free with metrics_free). Never fails (aborts on OOM). */
struct metrics *metrics_new(void);
/* Frees m (owned) and its registrations; NULL is a no-op. */
void metrics_free(struct metrics *m);
/* Adds fn with arg (borrowed: must outlive m or be unregistered first) to m's
 * collectors; they run in the order registered. */
void metrics_register(struct metrics *m, metrics_collect_fn *fn, void *arg);
/* Removes the registration of fn with arg, if any. */
void metrics_unregister(struct metrics *m, metrics_collect_fn *fn, void *arg);

/* Runs every collector of m (borrowed) and appends the exposition to out (borrowed):
 * the families in the order first declared, each as # HELP, # TYPE and its samples in
 * the order added. Never fails. */
void metrics_render(struct metrics *m, struct evbuffer *out);
/* Runs one collector into out, as metrics_render does for a registry holding only it
 * (for a module's unit tests). */
void metrics_render_one(metrics_collect_fn *fn, void *arg, struct evbuffer *out);

/* Makes name (borrowed: a string constant, [a-zA-Z_:][a-zA-Z0-9_:]*) the current family of
 * s, declaring it with type and help (borrowed, one line) on first use; a family declared
 * again with the same type adds to the first one's samples. A bad name or a second type
 * is a programming error and aborts. */
void metrics_family(struct metrics_scrape *s, const char *name, enum metrics_type type, const char *help);
/* Adds one sample to the current counter or gauge family: labels (borrowed, n of them,
 * may be NULL when n is 0) and the value, an integer printed exactly ... */
void metrics_sample_u64(struct metrics_scrape *s, const struct metrics_label *labels, size_t n, uint64_t v);
/* ... or a double printed with 17 significant digits (reads back as the same double). */
void metrics_sample_f(struct metrics_scrape *s, const struct metrics_label *labels, size_t n, double v);
/* Adds one histogram to the current histogram family, for the label set labels (borrowed,
 * n of them): bounds (nb upper bounds, increasing, in the family's unit) and counts
 * (nb + 1 per-bucket counts, not cumulative; the last is over the last bound). Writes
 * cumulative _bucket{le=...} series ending in le="+Inf", _sum (15 significant digits)
 * and _count, which equals the +Inf bucket. */
void metrics_hist(struct metrics_scrape *s, const struct metrics_label *labels, size_t n,
                  const double *bounds, size_t nb, const uint64_t *counts, double sum);

#endif
