/* The table of event source mappings: rows of the store's "esm.mappings" collection kept
 * in memory by UUID, their states and transitions, and the source kinds that pollers read. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esm/esm_int.h"
#include "metrics/metrics.h"

int64_t esm__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool esm_arn_function(const char *fn_arn, char *name, size_t size)
{
	const char *p = fn_arn ? strstr(fn_arn, ":function:") : NULL;
	if (!p)
		return false;
	p += strlen(":function:");
	size_t n = strcspn(p, ":");
	if (n == 0 || n >= size)
		return false;
	memcpy(name, p, n);
	name[n] = '\0';
	return true;
}

const struct esm_source_ops *esm_source_for(struct esm *e, const char *arn, void **ctx)
{
	for (size_t i = 0; arn && i < e->nsrc; i++) {
		const char *pre = e->src[i].ops->arn_prefix;
		if (strncmp(arn, pre, strlen(pre)) == 0) {
			if (ctx)
				*ctx = e->src[i].ctx;
			return e->src[i].ops;
		}
	}
	return NULL;
}

int esm_source_register(struct esm *e, const struct esm_source_ops *ops, void *ctx)
{
	for (size_t i = 0; i < e->nsrc; i++)
		if (strcmp(e->src[i].ops->kind, ops->kind) == 0)
			return -EEXIST;
	if (e->nsrc == ESM_SOURCES_MAX)
		return -ENOSPC;
	e->src[e->nsrc].ops = ops;
	e->src[e->nsrc].ctx = ctx;
	e->nsrc++;
	/* Mappings loaded before their source was known can run now. */
	for (size_t i = 0; i < map_count(&e->maps); i++) {
		struct esm_map *m = e->maps.ents[i].value;
		if (!m->src && (m->src = esm_source_for(e, m->source_arn, &m->src_ctx)) && e->started)
			event_active(m->apply, EV_TIMEOUT, 0);
	}
	return 0;
}

static uint32_t row_uint(const json_t *row, const char *key, uint32_t dflt)
{
	json_t *v = json_object_get(row, key);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint32_t)json_integer_value(v) : dflt;
}

static void apply_cb(evutil_socket_t fd, short what, void *arg);

/* Takes the settings of row (borrowed) into m; -EINVAL when its filter does not parse. */
static int map_take_row(struct esm_map *m, const json_t *row, struct err *errp)
{
	struct esm_filter *f = NULL;
	int r = esm_filter_new(json_object_get(row, "FilterCriteria"), &f, errp);
	if (r < 0)
		return r;
	const char *arn = json_string_value(json_object_get(row, "EventSourceArn"));
	char name[FN_NAME_MAX + 1];
	if (!arn ||
	    !esm_arn_function(json_string_value(json_object_get(row, "FunctionArn")), name, sizeof(name))) {
		esm_filter_free(f);
		return err_make(errp, EINVAL, "a mapping needs an EventSourceArn and a FunctionArn");
	}
	esm_filter_free(m->filter);
	m->filter = f;
	free(m->source_arn);
	m->source_arn = xstrdup(arn);
	snprintf(m->fn_name, sizeof(m->fn_name), "%s", name);
	const char *fa = json_string_value(json_object_get(row, "FunctionArn"));
	snprintf(m->fn_key, sizeof(m->fn_key), "%s", strstr(fa, ":function:") + strlen(":function:"));
	m->qualified = strchr(m->fn_key, ':') != NULL;
	m->batch_size = row_uint(row, "BatchSize", 10);
	if (m->batch_size == 0)
		m->batch_size = 1;
	m->window_ms = row_uint(row, "MaximumBatchingWindowInSeconds", 0) * 1000;
	m->max_conc = row_uint(json_object_get(row, "ScalingConfig"), "MaximumConcurrency", 0);
	m->report_failures = false;
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(row, "FunctionResponseTypes"), i, t) {
		if (json_is_string(t) && strcmp(json_string_value(t), "ReportBatchItemFailures") == 0)
			m->report_failures = true;
	}
	const char *state = json_string_value(json_object_get(row, "State"));
	m->enabled = state && strcmp(state, "Enabled") == 0;
	json_decref(m->row);
	m->row = json_deep_copy(row);
	m->src = esm_source_for(m->e, m->source_arn, &m->src_ctx);
	return 0;
}

static struct esm_map *mapping_new(struct esm *e, const char *uuid)
{
	struct esm_map *m = xcalloc(1, sizeof(*m));
	m->e = e;
	snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
	TAILQ_INIT(&m->workers);
	m->apply = evtimer_new(e->cfg.base, apply_cb, m);
	m->backoff_ms = ESM_THROTTLE_BASE_MS;
	return m;
}

static void mapping_free(struct esm_map *m)
{
	if (!m)
		return;
	event_free(m->apply);
	esm_filter_free(m->filter);
	json_decref(m->row);
	free(m->source_arn);
	free(m);
}

void esm__map_maybe_free(struct esm_map *m)
{
	if (m->deleted && m->nrefs == 0)
		mapping_free(m);
}

/* The poller follows the row: workers start or stop; the state becomes the stable one. */
static void apply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct esm_map *m = arg;
	m->state = m->enabled ? "Enabled" : "Disabled";
	if (!m->enabled) {
		esm__workers_stop(m);
		return;
	}
	if (!m->src) {
		log_warn("esm: %s: no source of %s in this server: not polled", m->uuid, m->source_arn);
		return;
	}
	if (m->nworkers == 0)
		esm__worker_add(m);
}

static int load_cb(const struct store_item *it, void *arg)
{
	struct esm *e = arg;
	json_error_t je;
	json_t *row = json_loadb(it->value, it->len, 0, &je);
	struct err er = {0};
	struct esm_map *m = mapping_new(e, it->key);
	if (!json_is_object(row) || map_take_row(m, row, &er) < 0) {
		log_error("store: event source mapping %s: %s (skipped)", it->key, row ? er.msg : je.text);
		json_decref(row);
		mapping_free(m);
		return 0;
	}
	json_decref(row);
	m->state = m->enabled ? "Enabled" : "Disabled";
	map_put(&e->maps, m->uuid, m, NULL);
	return 0;
}

static int sched_invoke_cb(void *ctx, const struct sched_invoke_args *a, struct err *errp)
{
	return sched_invoke(ctx, a, errp);
}

int esm_new(const struct esm_config *cfg, struct esm **out, struct err *errp)
{
	struct esm *e = xcalloc(1, sizeof(*e));
	e->cfg = *cfg;
	if (!e->cfg.invoke) {
		e->cfg.invoke = sched_invoke_cb;
		e->cfg.invoke_ctx = cfg->sched;
	}
	map_init(&e->maps, MAP_SORTED);
	TAILQ_INIT(&e->dead);
	int r = store_scan(e->cfg.store, ESM_COLL, NULL, NULL, 0, load_cb, e, errp);
	if (r < 0) {
		esm_free(e);
		return r;
	}
	log_info("esm: %zu event source mappings loaded", map_count(&e->maps));
	*out = e;
	return 0;
}

void esm_stop(struct esm *e)
{
	if (!e || e->stopped)
		return;
	e->stopped = true;
	for (size_t i = 0; i < map_count(&e->maps); i++)
		esm__workers_stop(e->maps.ents[i].value);
}

void esm_start(struct esm *e)
{
	e->started = true;
	for (size_t i = 0; i < map_count(&e->maps); i++) {
		struct esm_map *m = e->maps.ents[i].value;
		if (m->enabled)
			event_active(m->apply, EV_TIMEOUT, 0);
	}
}

void esm_free(struct esm *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < map_count(&e->maps); i++) {
		struct esm_map *m = e->maps.ents[i].value;
		m->deleted = true;
		esm__workers_stop(m);
	}
	/* Invocations in flight were answered by sched_stop (which runs first): every
	 * worker has ended, and is freed now with the mappings. */
	esm__workers_reap(e);
	for (size_t i = 0; i < map_count(&e->maps); i++) {
		struct esm_map *m = e->maps.ents[i].value;
		if (m->nrefs)
			log_error("esm: %s: a worker still invoking at shutdown", m->uuid);
		else
			mapping_free(m);
	}
	map_fini(&e->maps, NULL);
	for (size_t i = 0; i < e->nsrc; i++)
		if (e->src[i].ops->ctx_free)
			e->src[i].ops->ctx_free(e->src[i].ctx);
	free(e);
}

static int store_row(struct esm *e, const char *uuid, const json_t *row, struct err *errp)
{
	autofree char *txt = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
	return store_put(e->cfg.store, ESM_COLL, uuid, txt, strlen(txt), STORE_REV_ANY, NULL, errp);
}

int esm_put(struct esm *e, const json_t *row, const char *transitional, struct err *errp)
{
	const char *uuid = json_string_value(json_object_get(row, "UUID"));
	if (!uuid || strlen(uuid) != 36)
		return err_make(errp, EINVAL, "a mapping needs its UUID");
	struct esm_map *m = map_get(&e->maps, uuid);
	bool fresh = !m;
	if (fresh)
		m = mapping_new(e, uuid);
	/* Checked on a scratch mapping first, so that a bad row changes nothing. */
	struct esm_map probe = {.e = e};
	int r = map_take_row(&probe, row, errp);
	esm_filter_free(probe.filter);
	json_decref(probe.row);
	free(probe.source_arn);
	if (r == 0 && (r = store_row(e, uuid, row, errp)) == 0)
		r = store_commit(e->cfg.store, errp);
	if (r < 0) {
		if (fresh)
			mapping_free(m);
		return r;
	}
	map_take_row(m, row, NULL);
	if (fresh)
		map_put(&e->maps, m->uuid, m, NULL);
	m->state = transitional;
	if (e->started)
		event_active(m->apply, EV_TIMEOUT, 0);
	else
		m->state = m->enabled ? "Enabled" : "Disabled";
	return 0;
}

json_t *esm_get(struct esm *e, const char *uuid)
{
	struct esm_map *m = map_get(&e->maps, uuid);
	if (!m)
		return NULL;
	json_t *o = json_deep_copy(m->row);
	json_object_set_new(o, "State", json_string(m->state));
	return o;
}

bool esm_busy(struct esm *e, const char *uuid)
{
	struct esm_map *m = map_get(&e->maps, uuid);
	return m && strcmp(m->state, "Enabled") != 0 && strcmp(m->state, "Disabled") != 0;
}

int esm_delete(struct esm *e, const char *uuid, json_t **last, struct err *errp)
{
	struct esm_map *m = map_get(&e->maps, uuid);
	if (!m)
		return -ENOENT;
	int r = store_del(e->cfg.store, ESM_COLL, uuid, STORE_REV_ANY, errp);
	if (r == 0)
		r = store_commit(e->cfg.store, errp);
	if (r < 0)
		return r;
	*last = json_deep_copy(m->row);
	json_object_set_new(*last, "State", json_string("Deleting"));
	map_del(&e->maps, uuid, NULL);
	m->deleted = true;
	m->enabled = false;
	event_del(m->apply);
	esm__workers_stop(m);
	esm__map_maybe_free(m);
	return 0;
}

char *esm_list(struct esm *e, const char *marker, const char *source_arn, const char *fn_name, size_t max,
               json_t *out)
{
	size_t i = 0, n = map_count(&e->maps);
	if (marker && *marker) {
		/* The first UUID after the marker, in the order of the table. */
		while (i < n && strcmp(e->maps.ents[i].key, marker) <= 0)
			i++;
	}
	size_t taken = 0;
	for (; i < n; i++) {
		struct esm_map *m = e->maps.ents[i].value;
		if (source_arn && strcmp(m->source_arn, source_arn) != 0)
			continue;
		if (fn_name && strcmp(m->fn_name, fn_name) != 0)
			continue;
		if (taken == max)
			return xstrdup(e->maps.ents[i - 1].key);
		json_array_append_new(out, esm_get(e, m->uuid));
		taken++;
	}
	return NULL;
}

const char *esm_find(struct esm *e, const char *source_arn, const char *fn_name, const char *except)
{
	for (size_t i = 0; i < map_count(&e->maps); i++) {
		struct esm_map *m = e->maps.ents[i].value;
		if (strcmp(m->source_arn, source_arn) == 0 && strcmp(m->fn_name, fn_name) == 0 &&
		    (!except || strcmp(m->uuid, except) != 0))
			return m->uuid;
	}
	return NULL;
}

int esm_stats_get(struct esm *e, const char *uuid, struct esm_stats *st)
{
	struct esm_map *m = map_get(&e->maps, uuid);
	if (!m)
		return -ENOENT;
	*st = m->st;
	st->workers = m->nworkers;
	return 0;
}

void esm__problem(struct esm_map *m, const char *reason)
{
	if (!m->enabled || m->deleted)
		return;
	log_warn("esm: %s stops: %s", m->uuid, reason);
	m->enabled = false;
	m->state = "Disabled";
	json_object_set_new(m->row, "State", json_string("Disabled"));
	json_object_set_new(m->row, "StateTransitionReason", json_string(reason));
	struct err er = {0};
	/* Joins the open group: durable at the end of this loop pass, no wait needed. */
	if (store_row(m->e, m->uuid, m->row, &er) < 0)
		log_error("esm: %s: %s", m->uuid, er.msg);
	esm__workers_stop(m);
}

void esm_metrics_collect(struct metrics_scrape *s, void *arg)
{
	struct esm *e = arg;
	static const struct {
		const char *name;
		enum metrics_type type;
		const char *help;
	} fam[] = {
	    {"lambdad_esm_batches_total", METRICS_COUNTER, "Batches a mapping's function answered."},
	    {"lambdad_esm_records_total", METRICS_COUNTER, "Records delivered to a mapping's function."},
	    {"lambdad_esm_filtered_total", METRICS_COUNTER, "Records FilterCriteria dropped (deleted)."},
	    {"lambdad_esm_failures_total", METRICS_COUNTER,
	     "Records left to their source after a failed invocation or a reported item failure."},
	    {"lambdad_esm_throttles_total", METRICS_COUNTER,
	     "Invocations refused by a concurrency limit (retried)."},
	    {"lambdad_esm_workers", METRICS_GAUGE,
	     "Concurrent batches of a mapping now (receiving or invoking)."},
	    {"lambdad_esm_polling_lag_seconds", METRICS_GAUGE,
	     "Age of the oldest record of the last batch a mapping invoked."},
	};
	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		metrics_family(s, fam[k].name, fam[k].type, fam[k].help);
		for (size_t i = 0; i < map_count(&e->maps); i++) {
			const struct esm_map *m = e->maps.ents[i].value;
			uint64_t v[] = {m->st.batches,  m->st.records,   m->st.filtered,
			                m->st.failures, m->st.throttles, m->nworkers};
			struct metrics_label l[] = {{"uuid", m->uuid}, {"function", m->fn_name}};
			if (k < sizeof(v) / sizeof(v[0]))
				metrics_sample_u64(s, l, 2, v[k]);
			else
				metrics_sample_f(s, l, 2, (double)m->st.lag_ms / 1000.0);
		}
	}
}
