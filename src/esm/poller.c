/* The poller of one mapping: workers, each with its own reader of the source, that long-poll
 * for records, drop (ack) those FilterCriteria rejects, gather a batch up to BatchSize or
 * the batching window, invoke the function synchronously through the scheduler, and ack
 * what succeeded and nack what failed (ReportBatchItemFailures). A worker that found records
 * starts another, up to the cap; one that found none while others run ends. Everything runs
 * on the loop; nothing blocks. */
#include <errno.h>
#include <event2/buffer.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esm/esm_int.h"

enum worker_state { W_IDLE, W_RECEIVING, W_INVOKING, W_DEAD };

struct esm_worker {
	TAILQ_ENTRY(esm_worker) link;
	struct esm_map *m;
	const struct esm_source_ops *src; /* the one its reader belongs to */
	void *reader;
	enum worker_state st;
	bool stopping;           /* end after the invocation in flight */
	struct esm_record *recs; /* gathered, not yet invoked or in the invocation */
	size_t n, cap;
	size_t invoked;        /* the first `invoked` of recs are in the invocation */
	int64_t window_end_ms; /* 0: no window open */
	struct event *timer;   /* the next step, a back-off, or the end */
};

static void step_cb(evutil_socket_t fd, short what, void *arg);

static void rec_done(struct esm_worker *w, struct esm_record *r, bool ok)
{
	if (ok)
		w->src->ack(w->reader, r);
	else
		w->src->nack(w->reader, r);
	if (w->src->token_free)
		w->src->token_free(r->token);
	json_decref(r->record);
	json_decref(r->match);
	memset(r, 0, sizeof(*r));
}

static void step_later(struct esm_worker *w, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
	evtimer_add(w->timer, &tv);
}

/* Ends w: its records go back to the source, the reader is closed on the next turn (never
 * inside one of the reader's own callbacks), and the mapping forgets it. */
static void worker_end(struct esm_worker *w)
{
	if (w->st == W_DEAD)
		return;
	w->st = W_DEAD;
	struct esm_map *m = w->m;
	TAILQ_REMOVE(&m->workers, w, link);
	m->nworkers--;
	TAILQ_INSERT_TAIL(&m->e->dead, w, link);
	evtimer_del(w->timer);
	event_active(w->timer, EV_TIMEOUT, 0);
}

static void worker_free(struct esm_worker *w)
{
	for (size_t i = 0; i < w->n; i++)
		rec_done(w, &w->recs[i], false);
	free(w->recs);
	w->src->close(w->reader);
	event_free(w->timer);
	struct esm_map *m = w->m;
	TAILQ_REMOVE(&m->e->dead, w, link);
	free(w);
	m->nrefs--;
	esm__map_maybe_free(m);
}

void esm__workers_reap(struct esm *e)
{
	struct esm_worker *w;
	while ((w = TAILQ_FIRST(&e->dead)))
		worker_free(w);
}

uint32_t esm__cap(struct esm_map *m)
{
	uint32_t cap = m->max_conc ? m->max_conc : ESM_CONCURRENCY_MAX;
	struct fn_scaling sc = registry_get_scaling(m->e->cfg.reg, m->fn_name);
	if (sc.reserved >= 0 && (uint32_t)sc.reserved < cap)
		cap = sc.reserved > 0 ? (uint32_t)sc.reserved : 1;
	return cap;
}

void esm__worker_add(struct esm_map *m)
{
	if (!m->enabled || m->deleted || !m->src || m->e->stopped || m->nworkers >= esm__cap(m))
		return;
	struct esm_worker *w = xcalloc(1, sizeof(*w));
	w->m = m;
	w->src = m->src;
	struct err e = {0};
	if (w->src->open(m->src_ctx, m->source_arn, &w->reader, &e) < 0) {
		free(w);
		if (e.code == ENOENT)
			esm__problem(m, e.msg);
		else
			log_warn("esm: %s: reader of %s: %s", m->uuid, m->source_arn, e.msg);
		return;
	}
	w->timer = evtimer_new(m->e->cfg.base, step_cb, w);
	TAILQ_INSERT_TAIL(&m->workers, w, link);
	m->nworkers++;
	m->nrefs++;
	event_active(w->timer, EV_TIMEOUT, 0);
}

void esm__workers_stop(struct esm_map *m)
{
	struct esm_worker *w, *next;
	for (w = TAILQ_FIRST(&m->workers); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->st == W_INVOKING)
			w->stopping = true;
		else
			worker_end(w);
	}
}

static void gather(struct esm_worker *w, struct esm_record *recs, size_t n)
{
	struct esm_map *m = w->m;
	for (size_t i = 0; i < n; i++) {
		struct esm_record *r = &recs[i];
		if (!esm_filter_match(m->filter, r->match ? r->match : r->record)) {
			m->st.filtered++;
			/* Filtered out: deleted from the source, as Lambda does. */
			struct esm_record tmp = *r;
			rec_done(w, &tmp, true);
			continue;
		}
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 16;
			w->recs = xrealloc(w->recs, w->cap * sizeof(*w->recs));
		}
		w->recs[w->n++] = *r;
	}
}

static void receive_cb(void *arg, int status, struct esm_record *recs, size_t n, const char *reason)
{
	struct esm_worker *w = arg;
	struct esm_map *m = w->m;
	if (w->st == W_DEAD) {
		/* Ended while the receive was under way: the records go back. */
		for (size_t i = 0; i < n; i++)
			rec_done(w, &recs[i], false);
		free(recs);
		return;
	}
	w->st = W_IDLE;
	if (status == -ENOENT) {
		free(recs);
		esm__problem(m, reason ? reason : "PROBLEM: the event source no longer exists");
		return;
	}
	if (status < 0) {
		free(recs);
		log_warn("esm: %s: receive from %s failed (%d): retried", m->uuid, m->source_arn, status);
		step_later(w, 1000);
		return;
	}
	gather(w, recs, n);
	free(recs);
	int64_t now = esm__now_ms();
	if (n > 0) {
		if (m->window_ms && !w->window_end_ms)
			w->window_end_ms = now + m->window_ms;
		/* Records are there: one more concurrent batch, unless throttles say the function
		 * has no room. As Lambda, up to ESM_SCALE_START at once, then one more every
		 * ESM_SCALE_STEP_MS (300 a minute) while records keep coming. */
		if (now >= m->throttled_until_ms &&
		    (m->nworkers < ESM_SCALE_START || now - m->scaled_ms >= ESM_SCALE_STEP_MS)) {
			m->scaled_ms = now;
			esm__worker_add(m);
		}
	} else if (w->n == 0 && m->nworkers > 1) {
		worker_end(w); /* the queue is empty: scale down */
		return;
	}
	event_active(w->timer, EV_TIMEOUT, 0);
}

/* Invokes the first records of w that fit in one payload. */
static void invoke(struct esm_worker *w);

static void step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct esm_worker *w = arg;
	struct esm_map *m = w->m;
	if (w->st == W_DEAD) {
		worker_free(w);
		return;
	}
	if (w->st != W_IDLE)
		return;
	if (w->stopping || !m->enabled || m->e->stopped) {
		worker_end(w);
		return;
	}
	int64_t now = esm__now_ms();
	bool full = w->n >= m->batch_size;
	bool window_over = !m->window_ms || (w->window_end_ms && now >= w->window_end_ms);
	if (w->n > 0 && (full || window_over)) {
		invoke(w);
		return;
	}
	int64_t wait = ESM_LONG_POLL_MS;
	if (w->n > 0 && w->window_end_ms)
		wait = w->window_end_ms - now;
	w->st = W_RECEIVING;
	int r = w->src->receive(w->reader, m->batch_size - w->n, wait, receive_cb, w);
	if (r < 0) {
		w->st = W_IDLE;
		log_warn("esm: %s: receive: %d (retried)", m->uuid, r);
		step_later(w, 1000);
	}
}

/* Which of the n invoked records failed, from the function's answer. */
static void failures(struct esm_worker *w, const struct sched_result *res, bool *failed, size_t n)
{
	struct esm_map *m = w->m;
	bool all = res->function_error;
	if (!all && m->report_failures) {
		size_t len = evbuffer_get_length(res->body);
		const char *txt = (const char *)evbuffer_pullup(res->body, -1);
		json_t *o = len ? json_loadb(txt, len, JSON_DECODE_ANY, NULL) : NULL;
		if (len && !o) {
			all = true; /* not JSON: the whole batch failed */
		} else if (json_is_object(o)) {
			json_t *list = json_object_get(o, "batchItemFailures");
			if (list && !json_is_null(list) && !json_is_array(list))
				all = true;
			size_t i;
			json_t *it;
			json_array_foreach(list, i, it) {
				const char *id = json_string_value(json_object_get(it, "itemIdentifier"));
				size_t j = 0;
				if (id && *id)
					while (j < n && strcmp(w->recs[j].id, id) != 0)
						j++;
				if (!id || !*id || j == n) {
					all = true; /* malformed or unknown: the whole batch failed */
					break;
				}
				failed[j] = true;
			}
		}
		json_decref(o);
	}
	for (size_t i = 0; all && i < n; i++)
		failed[i] = true;
}

static void done_cb(const struct sched_result *res, void *arg)
{
	struct esm_worker *w = arg;
	struct esm_map *m = w->m;
	size_t n = w->invoked;
	w->invoked = 0;
	w->st = W_IDLE;
	bool *failed = xcalloc(n ? n : 1, sizeof(bool));
	if (res->system_error) {
		for (size_t i = 0; i < n; i++)
			failed[i] = true;
		w->stopping = true;
	} else {
		failures(w, res, failed, n);
		m->st.batches++;
	}
	size_t nfail = 0;
	for (size_t i = 0; i < n; i++) {
		nfail += failed[i];
		rec_done(w, &w->recs[i], !failed[i]);
	}
	free(failed);
	m->st.failures += res->system_error ? 0 : nfail;
	memmove(w->recs, w->recs + n, (w->n - n) * sizeof(*w->recs));
	w->n -= n;
	if (!w->n)
		w->window_end_ms = 0;
	if (w->stopping || !m->enabled || m->deleted || m->e->stopped) {
		worker_end(w);
		return;
	}
	/* Function errors lower the mapping's concurrency (not partial failures, as Lambda). */
	if (res->function_error && m->nworkers > 1 && w->n == 0) {
		worker_end(w);
		return;
	}
	event_active(w->timer, EV_TIMEOUT, 0);
}

static void invoke(struct esm_worker *w)
{
	struct esm_map *m = w->m;
	struct fn_config *cfg = registry_resolve(m->e->cfg.reg, m->fn_key, drand48());
	if (!cfg) {
		char reason[200];
		snprintf(reason, sizeof(reason), "PROBLEM: Function not found: %s",
		         json_string_value(json_object_get(m->row, "FunctionArn")));
		esm__problem(m, reason);
		return;
	}
	/* As many records as fit in BatchSize and the payload limit (at least one). */
	json_t *list = json_array();
	size_t k = 0, bytes = 16;
	for (; k < w->n && k < m->batch_size; k++) {
		size_t sz = json_dumpb(w->recs[k].record, NULL, 0, JSON_COMPACT) + 1;
		if (k > 0 && bytes + sz > ESM_PAYLOAD_MAX)
			break;
		bytes += sz;
		json_array_append(list, w->recs[k].record);
	}
	json_t *ev = json_pack("{s:o}", "Records", list);
	autofree char *txt = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, txt, strlen(txt));
	struct sched_invoke_args a = {
	    .cfg = cfg,
	    .payload = b,
	    .invoked_arn = m->qualified ? json_string_value(json_object_get(m->row, "FunctionArn")) : NULL,
	    .cb = done_cb,
	    .arg = w,
	};
	struct err e = {0};
	w->invoked = k;
	w->st = W_INVOKING;
	int r = m->e->cfg.invoke(m->e->cfg.invoke_ctx, &a, &e);
	evbuffer_free(b);
	if (r < 0) {
		w->invoked = 0;
		w->st = W_IDLE;
		int64_t delay = m->backoff_ms;
		if (r == -EAGAIN) {
			/* A throttle: the records stay with the worker and the invoke is retried;
			 * the mapping does not grow meanwhile. */
			m->st.throttles++;
			m->throttled_until_ms = esm__now_ms() + delay;
			m->backoff_ms =
			    m->backoff_ms * 2 > ESM_THROTTLE_MAX_MS ? ESM_THROTTLE_MAX_MS : m->backoff_ms * 2;
		} else {
			log_warn("esm: %s: invoke of %s not started: %s (retried)", m->uuid, m->fn_name,
			         e.msg);
			delay = 1000;
		}
		step_later(w, delay);
		return;
	}
	m->backoff_ms = ESM_THROTTLE_BASE_MS;
	m->st.records += k;
	int64_t oldest = 0;
	for (size_t i = 0; i < k; i++)
		if (w->recs[i].arrived_ms && (!oldest || w->recs[i].arrived_ms < oldest))
			oldest = w->recs[i].arrived_ms;
	if (oldest)
		m->st.lag_ms = esm__now_ms() - oldest;
}
