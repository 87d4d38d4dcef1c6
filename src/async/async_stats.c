/* lambdad's own dead-letter store (list, replay), per-function statistics and the
 * Prometheus metrics of the queue. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdlib.h>
#include <string.h>

#include "async/async_int.h"
#include "base/clock.h"
#include "metrics/metrics.h"

static json_t *iso(int64_t ms)
{
	char ts[32];
	clock_fmt_iso(ms, ts);
	return json_string(ts);
}

/* One row of name's dead-letter store, parsed. */
struct failed_row {
	char *id;
	json_t *meta; /* {condition, reason, last_error, attempts, accepted_ms, failed_ms, payload_bytes} */
	int64_t failed_ms;
};

struct failed_rows {
	struct failed_row *v;
	size_t n, cap;
	size_t prefix_len;
};

static int failed_cb(const struct store_item *it, void *arg)
{
	struct failed_rows *rows = arg;
	json_t *meta = json_loads(it->value, 0, NULL);
	if (!meta)
		return 0;
	if (rows->n == rows->cap) {
		rows->cap = rows->cap ? 2 * rows->cap : 16;
		rows->v = xrealloc(rows->v, rows->cap * sizeof(*rows->v));
	}
	rows->v[rows->n++] = (struct failed_row){xstrdup(it->key + rows->prefix_len), meta,
	                                         json_integer_value(json_object_get(meta, "failed_ms"))};
	return 0;
}

static int by_failed(const void *x, const void *y)
{
	const struct failed_row *a = x, *b = y;
	if (a->failed_ms != b->failed_ms)
		return a->failed_ms < b->failed_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

static void failed_rows_fini(struct failed_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		free(rows->v[i].id);
		json_decref(rows->v[i].meta);
	}
	free(rows->v);
}

/* name's kept events, oldest failure first. */
static int failed_rows(struct async *q, const char *name, struct failed_rows *rows, struct err *errp)
{
	autofree char *prefix = async__store_failed_key(name, "");
	*rows = (struct failed_rows){.prefix_len = strlen(prefix)};
	int r = store_scan(q->st, ASYNC_FAILED, prefix, NULL, 0, failed_cb, rows, errp);
	if (r < 0) {
		failed_rows_fini(rows);
		return r;
	}
	if (rows->n)
		qsort(rows->v, rows->n, sizeof(*rows->v), by_failed);
	return 0;
}

json_t *async_failed_list(struct async *q, const char *name, struct err *errp)
{
	struct failed_rows rows;
	if (failed_rows(q, name, &rows, errp) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < rows.n; i++) {
		json_t *m = rows.v[i].meta;
		const char *str = json_string_value(json_object_get(m, "condition"));
		const char *reason = json_string_value(json_object_get(m, "reason"));
		json_array_append_new(
		    a, json_pack(
		           "{s:s, s:s, s:s, s:s, s:s?, s:i, s:o, s:o, s:I}", "RequestId", rows.v[i].id,
		           "FunctionName", name, "Condition", str ? str : "", "Reason", reason ? reason : "",
		           "LastError", json_string_value(json_object_get(m, "last_error")),
		           "ApproximateInvokeCount", (int)json_integer_value(json_object_get(m, "attempts")),
		           "AcceptedAt", iso(json_integer_value(json_object_get(m, "accepted_ms"))),
		           "FailedAt", iso(rows.v[i].failed_ms), "PayloadBytes",
		           json_integer_value(json_object_get(m, "payload_bytes"))));
	}
	failed_rows_fini(&rows);
	return a;
}

int async_failed_payload(struct async *q, const char *name, const char *id, char **payload, size_t *len,
                         struct err *errp)
{
	autofree char *key = async__store_failed_key(name, id);
	return store_get(q->st, ASYNC_FAILED_PAYLOAD, key, payload, len, NULL, errp);
}

/* The ids of name's kept events (owned array of owned strings, *n of them). */
static char **all_failed_ids(struct async *q, const char *name, size_t *n)
{
	struct failed_rows rows;
	*n = 0;
	if (failed_rows(q, name, &rows, NULL) < 0)
		return NULL;
	char **ids = xcalloc(rows.n + 1, sizeof(*ids));
	for (size_t i = 0; i < rows.n; i++)
		ids[i] = steal_ptr(&rows.v[i].id);
	*n = rows.n;
	failed_rows_fini(&rows);
	return ids;
}

/* Moves id's kept event back to f's queue in the group: 0, 1 when name has no such
 * event, or -EIO. */
static int replay_one(struct async *q, struct async_fn *f, const char *id, struct err *errp)
{
	if (strlen(id) > 36 || strchr(id, '/'))
		return 1;
	autofree char *key = async__store_failed_key(f->name, id);
	autofree char *payload = NULL;
	size_t plen = 0;
	int rc = store_get(q->st, ASYNC_FAILED_PAYLOAD, key, &payload, &plen, NULL, errp);
	if (rc == -ENOENT)
		return 1;
	/* Back in the queue with its request id, attempts and age afresh; out of the
	 * dead-letter store in the same group. */
	if (rc < 0 || !async__ev_insert(q, f, id, payload, plen, errp) ||
	    store_del(q->st, ASYNC_FAILED, key, STORE_REV_ANY, errp) < 0 ||
	    store_del(q->st, ASYNC_FAILED_PAYLOAD, key, STORE_REV_ANY, errp) < 0)
		return -EIO;
	if (f->failed_stored)
		f->failed_stored--;
	return 0;
}

json_t *async_failed_replay(struct async *q, const char *name, const char *const *ids, size_t n,
                            struct err *errp)
{
	size_t nall = 0;
	char **all = n ? NULL : all_failed_ids(q, name, &nall);
	const char *const *list = n ? ids : (const char *const *)all;
	size_t cnt = n ? n : nall;
	json_t *done = json_array(), *missing = json_array();
	struct async_fn *f = async__fn_get(q, name, true);
	int rc = 0;
	struct err e = {0};
	for (size_t i = 0; i < cnt && rc == 0; i++) {
		int one = replay_one(q, f, list[i], &e);
		if (one < 0)
			rc = one;
		json_array_append_new(one == 0 ? done : missing, json_string(list[i]));
	}
	for (size_t i = 0; i < nall; i++)
		free(all[i]);
	free(all);
	if (rc < 0 || store_commit(q->st, &e) < 0) {
		log_error("async: %s: replay: %s", name, e.msg);
		json_decref(done);
		json_decref(missing);
		err_make(errp, EIO, "the replay could not be stored");
		return NULL;
	}
	if (json_array_size(done))
		log_info("async: %s: %zu events replayed from the dead-letter store", name,
		         json_array_size(done));
	return json_pack("{s:o, s:o}", "Replayed", done, "NotFound", missing);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The oldest event of f not yet finished: its age in seconds (0 when none). */
static double oldest_age_s(struct async *q, const struct async_fn *f, int64_t now)
{
	int64_t oldest = 0;
	for (struct async_ev *ev = TAILQ_FIRST(&f->ready); ev; ev = TAILQ_NEXT(ev, link))
		if (!oldest || ev->accepted_ms < oldest)
			oldest = ev->accepted_ms;
	for (size_t i = 0; i < q->heap_n; i++)
		if (q->heap[i]->fn == f && (!oldest || q->heap[i]->accepted_ms < oldest))
			oldest = q->heap[i]->accepted_ms;
	return oldest && now > oldest ? (double)(now - oldest) / 1000.0 : 0.0;
}

json_t *async_stats(struct async *q, const char *name)
{
	struct async_fn zero = {0};
	struct async_fn *f = async__fn_get(q, name, false);
	if (!f)
		f = &zero;
	size_t n = f->lat_n < ASYNC_LAT_SAMPLES ? (size_t)f->lat_n : ASYNC_LAT_SAMPLES;
	uint32_t s[ASYNC_LAT_SAMPLES];
	memcpy(s, f->lat_ms, n * sizeof(s[0]));
	qsort(s, n, sizeof(s[0]), cmp_u32);
	json_t *lat = json_pack("{s:I, s:I, s:I}", "p50", (json_int_t)(n ? s[n / 2] : 0), "p99",
	                        (json_int_t)(n ? s[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0), "n",
	                        (json_int_t)n);
	return json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "FunctionName", name,
	                 "QueueDepth", (json_int_t)f->depth, "InFlight", (json_int_t)f->inflight,
	                 "OldestEventAgeSeconds", oldest_age_s(q, f, clock_wall_ms()), "Accepted",
	                 (json_int_t)f->accepted, "Delivered", (json_int_t)f->delivered, "Retries",
	                 (json_int_t)f->retries, "Throttles", (json_int_t)f->throttles, "DroppedByAge",
	                 (json_int_t)f->dropped_by_age, "DeadLettered", (json_int_t)f->dead_lettered,
	                 "FailedStored", (json_int_t)f->failed_stored, "DeliveryLatencyMs", lat);
}

/* Metric k of the table in async_metrics_collect for one function. */
static double afn_metric(struct async *q, const struct async_fn *f, size_t k, int64_t now)
{
	switch (k) {
	case 0:
		return f->depth;
	case 1:
		return f->inflight;
	case 2:
		return oldest_age_s(q, f, now);
	case 3:
		return f->failed_stored;
	case 4:
		return (double)f->accepted;
	case 5:
		return (double)f->delivered;
	case 6:
		return (double)f->retries;
	case 7:
		return (double)f->throttles;
	case 8:
		return (double)f->dropped_by_age;
	default:
		return (double)f->dead_lettered;
	}
}

void async_metrics_collect(struct metrics_scrape *s, void *arg)
{
	struct async *q = arg;
	/* In name order (the map is sorted). */
	size_t n = map_count(&q->fns);
	int64_t now = clock_wall_ms();
	static const struct {
		const char *name;
		enum metrics_type type;
		const char *help;
	} m[] = {
	    {"lambdad_async_queue_depth", METRICS_GAUGE,
	     "Accepted events not finished yet (waiting, ready or in flight)."},
	    {"lambdad_async_inflight", METRICS_GAUGE, "Events being invoked now."},
	    {"lambdad_async_oldest_event_age_seconds", METRICS_GAUGE,
	     "Age of the oldest event not finished yet."},
	    {"lambdad_async_failed_stored", METRICS_GAUGE, "Events kept in lambdad's own dead-letter store."},
	    {"lambdad_async_accepted_total", METRICS_COUNTER,
	     "Events accepted (202) or enqueued as destination records."},
	    {"lambdad_async_delivered_total", METRICS_COUNTER, "Events the function processed successfully."},
	    {"lambdad_async_retries_total", METRICS_COUNTER, "Retries after a function error or timeout."},
	    {"lambdad_async_throttles_total", METRICS_COUNTER,
	     "Deliveries throttled by a concurrency limit (backed off)."},
	    {"lambdad_async_dropped_by_age_total", METRICS_COUNTER,
	     "Events older than MaximumEventAgeInSeconds, not invoked again."},
	    {"lambdad_async_dead_lettered_total", METRICS_COUNTER,
	     "Events that failed for good (to OnFailure, the DLQ or lambdad's dead-letter store)."},
	};
	for (size_t k = 0; k < ARRAY_SIZE(m); k++) {
		metrics_family(s, m[k].name, m[k].type, m[k].help);
		/* The unlabelled series is the whole server (the oldest age: the maximum). */
		double total = 0;
		for (size_t i = 0; i < n; i++) {
			double v = afn_metric(q, map_value_at(&q->fns, i), k, now);
			total = k == 2 ? (v > total ? v : total) : total + v;
		}
		metrics_sample_f(s, NULL, 0, total);
		for (size_t i = 0; i < n; i++) {
			const struct async_fn *f = map_value_at(&q->fns, i);
			metrics_sample_f(s, &(struct metrics_label){"function", f->name}, 1,
			                 afn_metric(q, f, k, now));
		}
	}
}
