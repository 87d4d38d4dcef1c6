/* The asynchronous queue: acceptance through the store's group commit, the dispatcher
 * (through the scheduler, with throttle backoff), retries, event age and the end of
 * each event (success, destination, dead letter). */
#include "async/async_int.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/utf8.h"

static void kick(struct async *q, struct async_fn *f);
static void finish_failed(struct async *q, struct async_ev *ev, const char *condition);

/* ---- functions ---- */

static void unblock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct async_fn *f = arg;
	f->blocked_until_ms = 0;
	kick(f->q, f);
}

struct async_fn *async__fn_get(struct async *q, const char *name, bool create)
{
	if (!name)
		name = "";
	struct async_fn *f = map_get(&q->fns, name);
	if (f || !create)
		return f;
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->q = q;
	f->cfg.max_retries = -1;
	f->cfg.max_age_s = -1;
	f->backoff_ms = ASYNC_THROTTLE_BASE_MS;
	TAILQ_INIT(&f->ready);
	f->unblock = evtimer_new(q->base, unblock_cb, f);
	map_put(&q->fns, name, f, NULL);
	return f;
}

static void ev_free(struct async_ev *ev)
{
	if (!ev)
		return;
	free(ev->last_error);
	free(ev);
}

/* ---- the heap of waiting events (min on due_ms) and its timer ---- */

static void heap_swap(struct async *q, size_t i, size_t j)
{
	struct async_ev *t = q->heap[i];
	q->heap[i] = q->heap[j];
	q->heap[j] = t;
	q->heap[i]->heap_idx = i;
	q->heap[j]->heap_idx = j;
}

static void heap_up(struct async *q, size_t i)
{
	while (i > 0 && q->heap[(i - 1) / 2]->due_ms > q->heap[i]->due_ms) {
		heap_swap(q, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct async *q, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < q->heap_n && q->heap[l]->due_ms < q->heap[m]->due_ms)
			m = l;
		if (r < q->heap_n && q->heap[r]->due_ms < q->heap[m]->due_ms)
			m = r;
		if (m == i)
			return;
		heap_swap(q, i, m);
		i = m;
	}
}

static void heap_push(struct async *q, struct async_ev *ev)
{
	if (q->heap_n == q->heap_cap) {
		q->heap_cap = q->heap_cap ? 2 * q->heap_cap : 64;
		q->heap = xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
	}
	ev->state = ASYNC_EV_WAITING;
	ev->heap_idx = q->heap_n;
	q->heap[q->heap_n++] = ev;
	heap_up(q, ev->heap_idx);
}

static void heap_remove(struct async *q, struct async_ev *ev)
{
	size_t i = ev->heap_idx;
	q->heap_n--;
	if (i != q->heap_n) {
		q->heap[i] = q->heap[q->heap_n];
		q->heap[i]->heap_idx = i;
		heap_down(q, i);
		heap_up(q, i);
	}
}

static void timer_arm(struct async *q)
{
	if (q->heap_n == 0) {
		evtimer_del(q->timer);
		q->timer_at_ms = 0;
		return;
	}
	int64_t at = q->heap[0]->due_ms;
	if (at == q->timer_at_ms && evtimer_pending(q->timer, NULL))
		return;
	int64_t d = at - clock_wall_ms();
	if (d < 0)
		d = 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000 * 1000)};
	evtimer_add(q->timer, &tv);
	q->timer_at_ms = at;
}

static void make_ready(struct async *q, struct async_ev *ev)
{
	ev->state = ASYNC_EV_READY;
	TAILQ_INSERT_TAIL(&ev->fn->ready, ev, link);
	kick(q, ev->fn);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct async *q = arg;
	int64_t now = clock_wall_ms();
	q->timer_at_ms = 0;
	while (q->heap_n && q->heap[0]->due_ms <= now) {
		struct async_ev *ev = q->heap[0];
		heap_remove(q, ev);
		make_ready(q, ev);
	}
	timer_arm(q);
}

void async__ev_schedule(struct async *q, struct async_ev *ev)
{
	if (ev->due_ms <= clock_wall_ms()) {
		make_ready(q, ev);
	} else {
		heap_push(q, ev);
		timer_arm(q);
	}
}

/* ---- acceptance ---- */

static void delete_event(struct async *q, struct async_ev *ev);

/* The store's group holding ev is durable (status 0) or failed: ev is answered (unless
 * the queue is being freed) and queued, or forgotten. */
static void accepted_cb(int status, void *arg)
{
	struct async_ev *ev = arg;
	struct async_fn *f = ev->fn;
	struct async *q = f->q;
	TAILQ_REMOVE(&q->fresh, ev, link);
	async_accepted_cb cb = ev->cb;
	ev->cb = NULL;
	if (cb && !q->freeing)
		cb(status, ev->id, ev->cb_arg);
	if (status == 0) {
		async__ev_schedule(q, ev);
	} else {
		/* Refused: a rolled-back group left no item; after a failed fdatasync the item
		 * may be there, and goes, so a refused event is not delivered later. */
		log_error("async: %s: event %s was not stored (%s): refused", f->name, ev->id,
		          strerror(-status));
		delete_event(q, ev);
		f->depth--;
		f->accepted--;
		ev_free(ev);
	}
}

struct async_ev *async__ev_insert(struct async *q, struct async_fn *f, const char *id, const void *payload,
                                  size_t len, struct err *errp)
{
	struct async_ev *ev = xcalloc(1, sizeof(*ev));
	if (id)
		snprintf(ev->id, sizeof(ev->id), "%s", id);
	else
		uuid_v4(ev->id);
	ev->fn = f;
	ev->accepted_ms = ev->due_ms = clock_wall_ms();
	autofree char *attrs = async__store_attrs(ev);
	if (store_qappend(q->st, ASYNC_QUEUE, len ? payload : "", len, attrs, ev->due_ms, &ev->rc, errp) <
	    0) {
		free(ev);
		return NULL;
	}
	ev->state = ASYNC_EV_NEW;
	TAILQ_INSERT_TAIL(&q->fresh, ev, link);
	f->depth++;
	f->accepted++;
	store_group_wait(q->st, accepted_cb, ev);
	return ev;
}

void async_enqueue(struct async *q, const char *name, const void *payload, size_t len, async_accepted_cb cb,
                   void *arg)
{
	const void *p = len ? payload : (const void *)"{}";
	struct err e = {0};
	struct async_ev *ev = async__ev_insert(q, async__fn_get(q, name, true), NULL, p, len ? len : 2, &e);
	if (!ev) {
		log_error("async: %s: %s", name, e.msg);
		char id[37];
		uuid_v4(id);
		cb(-EIO, id, arg);
		return;
	}
	ev->cb = cb;
	ev->cb_arg = arg;
}

/* Removes ev's item from the queue (its end), in the group. */
static void delete_event(struct async *q, struct async_ev *ev)
{
	struct err e = {0};
	if (store_qack(q->st, ASYNC_QUEUE, &ev->rc, &e) == -EIO)
		log_error("async: %s", e.msg);
}

/* ---- the dispatcher ---- */

static void kick(struct async *q, struct async_fn *f)
{
	if (!f->kicked) {
		f->kicked = true;
		TAILQ_INSERT_TAIL(&q->kick_list, f, kick_link);
	}
	event_active(q->kick_ev, EV_TIMEOUT, 0);
}

static void done_cb(const struct sched_result *res, void *arg);

/* The function's dispatch waits: a throttle (or a failure to start) backs it off,
 * 1 s doubling to 5 min; the end of one of its own invocations lifts it sooner. */
static void block_fn(struct async_fn *f, int64_t now)
{
	f->blocked_until_ms = now + f->backoff_ms;
	struct timeval tv = {(time_t)(f->backoff_ms / 1000), (suseconds_t)(f->backoff_ms % 1000 * 1000)};
	evtimer_add(f->unblock, &tv);
	f->backoff_ms = f->backoff_ms * 2 > ASYNC_THROTTLE_MAX_MS ? ASYNC_THROTTLE_MAX_MS : f->backoff_ms * 2;
}

/* The event's function is gone: the event is kept in lambdad's dead-letter store. */
static void finish_gone(struct async *q, struct async_ev *ev)
{
	struct async_fn *f = ev->fn;
	size_t plen = 0;
	autofree char *payload = async__store_payload(q, ev, &plen);
	async__store_put_failed(q, ev, "FunctionDeleted",
	                        "the function was deleted while the event was queued; kept by lambdad",
	                        payload, plen);
	delete_event(q, ev);
	log_warn("async: %s: event %s kept in the dead-letter store: the function was deleted", f->name,
	         ev->id);
	f->failed_stored++;
	f->dead_lettered++;
	f->depth--;
	ev_free(ev);
}

static void dispatch_fn(struct async *q, struct async_fn *f)
{
	int64_t now = clock_wall_ms();
	struct async_ev *ev;
	while (!q->stopping && (ev = TAILQ_FIRST(&f->ready))) {
		if (f->blocked_until_ms > now)
			return; /* unblock_cb or an answer kicks it again */
		/* f->name is "name" or "name:qualifier" (a version or an alias, whose weights
		 * pick the version of each attempt). */
		struct fn_config *c = registry_resolve(q->reg, f->name, drand48());
		if (!c) {
			TAILQ_REMOVE(&f->ready, ev, link);
			finish_gone(q, ev);
			continue;
		}
		if (now - ev->accepted_ms >= async__cfg_max_age_ms(q, &f->cfg)) {
			TAILQ_REMOVE(&f->ready, ev, link);
			finish_failed(q, ev, "EventAgeExceeded");
			continue;
		}
		size_t len = 0;
		autofree char *p = async__store_payload(q, ev, &len);
		if (!p) {
			log_error("async: %s: event %s has no stored payload; forgotten", f->name, ev->id);
			TAILQ_REMOVE(&f->ready, ev, link);
			f->depth--;
			ev_free(ev);
			continue;
		}
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, p, len);
		autofree char *invoked = strchr(f->name, ':') ? fn_arn(f->name, q->region, q->account) : NULL;
		struct sched_invoke_args a = {.cfg = c,
		                              .payload = b,
		                              .request_id = ev->id,
		                              .cb = done_cb,
		                              .arg = ev,
		                              .invoked_arn = invoked};
		struct err e = {0};
		int rc = sched_invoke(q->sc, &a, &e);
		evbuffer_free(b);
		if (rc < 0) {
			if (rc == -EAGAIN)
				f->throttles++;
			else
				log_warn("async: %s: event %s not started: %s (retried)", f->name, ev->id,
				         e.msg);
			log_debug("async: %s throttled (%s): dispatch waits %lld ms", f->name, e.msg,
			          (long long)f->backoff_ms);
			block_fn(f, now);
			return;
		}
		f->backoff_ms = ASYNC_THROTTLE_BASE_MS;
		TAILQ_REMOVE(&f->ready, ev, link);
		ev->state = ASYNC_EV_INFLIGHT;
		f->inflight++;
	}
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct async *q = arg;
	struct async_fn *f;
	while ((f = TAILQ_FIRST(&q->kick_list))) {
		TAILQ_REMOVE(&q->kick_list, f, kick_link);
		f->kicked = false;
		dispatch_fn(q, f);
	}
}

/* ---- outcomes ---- */

/* Parses text as JSON; what is not JSON becomes a string. Owned. */
static json_t *as_json(const char *text, size_t len)
{
	if (!text)
		return json_null();
	json_t *o = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	return o ? o : json_stringn_nocheck(text, len);
}

/* The destination record Lambda sends (spec 5). resp NULL: no invocation answered. */
static char *make_record(struct async *q, struct async_ev *ev, const char *condition, const char *payload,
                         size_t plen, const char *resp, size_t rlen, bool function_error)
{
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	autofree char *arn = fn_arn(ev->fn->name, q->region, q->account);
	autofree char *qarn = strchr(ev->fn->name, ':') ? xstrdup(arn) : xasprintf("%s:$LATEST", arn);
	json_t *o =
	    json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:o}", "version", "1.0", "timestamp", ts,
	              "requestContext", "requestId", ev->id, "functionArn", qarn, "condition", condition,
	              "approximateInvokeCount", (int)ev->attempts, "requestPayload", as_json(payload, plen));
	if (resp) {
		json_t *rc = json_pack("{s:i, s:s}", "statusCode", 200, "executedVersion",
		                       ev->executed_version[0] ? ev->executed_version : FN_LATEST);
		if (function_error)
			json_object_set_new(rc, "functionError", json_string("Unhandled"));
		json_object_set_new(o, "responseContext", rc);
		json_object_set_new(o, "responsePayload", as_json(resp, rlen));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n + 1 >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

/* Writes the row of lambdad's dead-letter store (with ev's payload), in the group. */
static void store_failed(struct async *q, struct async_ev *ev, const char *condition, const char *reason)
{
	size_t plen = 0;
	autofree char *payload = async__store_payload(q, ev, &plen);
	async__store_put_failed(q, ev, condition, reason, payload, plen);
	ev->fn->failed_stored++;
}

/* The errorType and errorMessage of a failure body (borrowed from o) for DLQ attributes. */
static const char *error_message(json_t *o)
{
	const char *m = json_string_value(json_object_get(o, "errorMessage"));
	return m ? m : "";
}

/* The end of a failed event (RetriesExhausted or EventAgeExceeded): the OnFailure
 * destination and the DeadLetterConfig target each get it; what none took, or a
 * target refused, stays in lambdad's dead-letter store. */
static void finish_failed(struct async *q, struct async_ev *ev, const char *condition)
{
	struct async_fn *f = ev->fn;
	struct fn_config *c = registry_get(q->reg, f->name);
	const char *dlq = c && c->dlq_arn && c->dlq_arn[0] ? c->dlq_arn : NULL;
	const char *onf = f->cfg.present ? f->cfg.on_failure : NULL;
	char reason[2048] = "";
	size_t plen = 0;
	autofree char *payload = async__store_payload(q, ev, &plen);
	if (onf) {
		size_t rlen = ev->last_error ? strlen(ev->last_error) : 0;
		autofree char *rec = make_record(q, ev, condition, payload, plen, ev->last_error, rlen, true);
		struct async_target_msg m = {
		    .function_name = f->name, .request_id = ev->id, .body = rec, .len = strlen(rec)};
		struct err e = {0};
		if (async__target_deliver(q, onf, ASYNC_USE_ON_FAILURE, &m, &e) < 0)
			append(reason, sizeof(reason), "%s: OnFailure destination %s did not take it: %s",
			       condition, onf, e.msg);
	}
	if (dlq) {
		json_t *err = ev->last_error ? json_loads(ev->last_error, JSON_DECODE_ANY, NULL) : NULL;
		char msg[1025];
		snprintf(msg, sizeof(msg), "%s", err ? error_message(err) : condition);
		json_decref(err);
		struct async_target_msg m = {.function_name = f->name,
		                             .request_id = ev->id,
		                             .body = payload ? payload : "",
		                             .len = plen,
		                             .error_code = "200",
		                             .error_message = msg};
		struct err e = {0};
		if (async__target_deliver(q, dlq, ASYNC_USE_DLQ, &m, &e) < 0)
			append(reason, sizeof(reason), "%s%s: DeadLetterConfig target %s did not take it: %s",
			       reason[0] ? "; " : "", condition, dlq, e.msg);
	}
	if (!onf && !dlq)
		snprintf(reason, sizeof(reason),
		         "%s: no OnFailure destination or DeadLetterConfig; kept by lambdad", condition);
	f->dead_lettered++;
	if (strcmp(condition, "EventAgeExceeded") == 0)
		f->dropped_by_age++;
	if (reason[0])
		store_failed(q, ev, condition, reason);
	delete_event(q, ev);
	log_info("async: %s: event %s failed (%s after %u attempts)%s%s", f->name, ev->id, condition,
	         ev->attempts, reason[0] ? ": " : "", reason);
	f->depth--;
	ev_free(ev);
}

static void finish_success(struct async *q, struct async_ev *ev, const char *body, size_t blen)
{
	struct async_fn *f = ev->fn;
	const char *ons = f->cfg.present ? f->cfg.on_success : NULL;
	if (ons) {
		size_t plen = 0;
		autofree char *payload = async__store_payload(q, ev, &plen);
		autofree char *rec = make_record(q, ev, "Success", payload, plen, body, blen, false);
		struct async_target_msg m = {
		    .function_name = f->name, .request_id = ev->id, .body = rec, .len = strlen(rec)};
		struct err e = {0};
		if (async__target_deliver(q, ons, ASYNC_USE_ON_SUCCESS, &m, &e) < 0) {
			char reason[1024];
			snprintf(reason, sizeof(reason),
			         "Success: OnSuccess destination %s did not take the record: %s", ons, e.msg);
			log_warn("async: %s: event %s: %s", f->name, ev->id, reason);
			store_failed(q, ev, "Success", reason);
			f->dead_lettered++;
		}
	}
	delete_event(q, ev);
	f->delivered++;
	int64_t lat = clock_wall_ms() - ev->accepted_ms;
	f->lat_ms[f->lat_n++ % ASYNC_LAT_SAMPLES] = lat < 0            ? 0
	                                            : lat > UINT32_MAX ? UINT32_MAX
	                                                               : (uint32_t)lat;
	f->depth--;
	ev_free(ev);
}

static void done_cb(const struct sched_result *res, void *arg)
{
	struct async_ev *ev = arg;
	struct async_fn *f = ev->fn;
	struct async *q = f->q;
	f->inflight--;
	if (res->system_error) {
		/* Not delivered (lambdad is stopping): the event stays queued, in the store too. */
		q->stopping = true;
		ev->state = ASYNC_EV_READY;
		TAILQ_INSERT_HEAD(&f->ready, ev, link);
		return;
	}
	ev->attempts++;
	snprintf(ev->executed_version, sizeof(ev->executed_version), "%s",
	         res->executed_version ? res->executed_version : FN_LATEST);
	size_t blen = res->body ? evbuffer_get_length(res->body) : 0;
	const char *body = blen ? (const char *)evbuffer_pullup(res->body, -1) : "";
	if (!res->function_error) {
		finish_success(q, ev, body, blen);
	} else {
		free(ev->last_error);
		ev->last_error = xstrndup(body, blen < ASYNC_ERROR_MAX ? blen : ASYNC_ERROR_MAX);
		utf8_sanitize(ev->last_error);
		if ((int32_t)ev->attempts <= async__cfg_max_retries(&f->cfg)) {
			int64_t now = clock_wall_ms();
			int64_t due = now + q->delays_ms[ev->attempts >= 2 ? 1 : 0];
			int64_t expiry = ev->accepted_ms + async__cfg_max_age_ms(q, &f->cfg);
			ev->due_ms = due > expiry ? expiry : due;
			f->retries++;
			autofree char *attrs = async__store_attrs(ev);
			struct err e = {0};
			if (store_qchange(q->st, ASYNC_QUEUE, &ev->rc, ev->due_ms, attrs, &e) == -EIO)
				log_error("async: %s", e.msg);
			log_info("async: %s: event %s failed (attempt %u), retried in %lld ms", f->name,
			         ev->id, ev->attempts, (long long)(ev->due_ms - now));
			heap_push(q, ev);
			timer_arm(q);
		} else {
			finish_failed(q, ev, "RetriesExhausted");
		}
	}
	/* A slot of the function is free again: its dispatch goes on at once. */
	if (f->blocked_until_ms) {
		f->blocked_until_ms = 0;
		evtimer_del(f->unblock);
	}
	if (!TAILQ_EMPTY(&f->ready))
		kick(q, f);
}

void async_function_deleted(struct async *q, const char *name)
{
	struct async_fn *f = async__fn_get(q, name, false);
	if (!f)
		return;
	struct err e = {0};
	if (f->cfg.present && async__store_put_config(q, f->name, NULL, &e) < 0)
		log_error("async: %s", e.msg);
	async__cfg_fini(&f->cfg);
	struct async_ev *ev;
	while ((ev = TAILQ_FIRST(&f->ready))) {
		TAILQ_REMOVE(&f->ready, ev, link);
		finish_gone(q, ev);
	}
	for (size_t i = 0; i < q->heap_n;) {
		ev = q->heap[i];
		if (ev->fn != f) {
			i++;
			continue;
		}
		heap_remove(q, ev);
		finish_gone(q, ev);
		i = 0; /* the heap was reordered */
	}
	timer_arm(q);
}

/* ---- lifecycle ---- */

/* Parses "1s,2s" (each a number with ms, s, m or h; a bare number is seconds). */
int async_parse_delays(const char *s, int64_t out[2])
{
	const char *comma = strchr(s, ',');
	if (!comma)
		return -EINVAL;
	out[0] = clock_parse_duration_ms(s, (size_t)(comma - s));
	out[1] = clock_parse_duration_ms(comma + 1, strlen(comma + 1));
	for (int i = 0; i < 2; i++)
		if (out[i] < 0 || out[i] > 86400000)
			return -EINVAL;
	return 0;
}

int async_new(struct event_base *base, struct sched *sc, struct registry *reg, const struct async_config *cfg,
              struct async **out, struct err *errp)
{
	struct async *q = xcalloc(1, sizeof(*q));
	map_init(&q->fns, MAP_SORTED);
	q->base = base;
	q->sc = sc;
	q->reg = reg;
	q->region = xstrdup(cfg->region);
	q->account = xstrdup(cfg->account);
	q->delays_ms[0] = cfg->retry_delays_ms[0] > 0 ? cfg->retry_delays_ms[0] : 60000;
	q->delays_ms[1] = cfg->retry_delays_ms[1] > 0 ? cfg->retry_delays_ms[1] : 120000;
	const char *env = getenv("LAMBDAD_ASYNC_RETRY_DELAYS");
	int64_t d[2];
	if (env && *env && cfg->retry_delays_ms[0] == 0 && cfg->retry_delays_ms[1] == 0) {
		if (async_parse_delays(env, d) < 0) {
			int r =
			    err_make(errp, EINVAL,
			             "LAMBDAD_ASYNC_RETRY_DELAYS: not two durations (e.g. 1s,2s): %s", env);
			free(q->region);
			free(q->account);
			free(q);
			return r;
		}
		q->delays_ms[0] = d[0];
		q->delays_ms[1] = d[1];
	}
	/* Tests only: how long one second of MaximumEventAgeInSeconds lasts. */
	const char *unit = getenv("LAMBDAD_ASYNC_AGE_UNIT_MS");
	q->age_unit_ms = unit && atoll(unit) > 0 ? atoll(unit) : 1000;
	q->st = cfg->store;
	TAILQ_INIT(&q->fresh);
	TAILQ_INIT(&q->kick_list);
	q->kick_ev = event_new(base, -1, 0, kick_cb, q);
	q->timer = evtimer_new(base, timer_cb, q);
	async__target_builtin(q);
	int r;
	if ((r = async__store_load(q, errp)) < 0) {
		async_free(q);
		return r;
	}
	log_info("async: retry delays %lld ms, %lld ms", (long long)q->delays_ms[0],
	         (long long)q->delays_ms[1]);
	*out = q;
	return 0;
}

void async_stop(struct async *q)
{
	if (q)
		q->stopping = true;
}

void async_free(struct async *q)
{
	if (!q)
		return;
	q->stopping = true;
	/* Accepted events become durable, unanswered; accepted_cb runs for each of them. */
	q->freeing = true;
	if (q->st)
		store_flush(q->st);
	for (size_t i = 0; i < q->heap_n; i++)
		ev_free(q->heap[i]);
	free(q->heap);
	struct async_fn *f;
	MAP_FOREACH_VALUE(&q->fns, f) {
		/* sched_free answered every invocation before this runs. */
		LD_ASSERT(f->inflight == 0);
		struct async_ev *ev;
		while ((ev = TAILQ_FIRST(&f->ready))) {
			TAILQ_REMOVE(&f->ready, ev, link);
			ev_free(ev);
		}
		event_free(f->unblock);
		async__cfg_fini(&f->cfg);
		free(f->name);
		free(f);
	}
	map_fini(&q->fns, NULL);
	LD_ASSERT(TAILQ_EMPTY(&q->fresh));
	if (q->kick_ev)
		event_free(q->kick_ev);
	if (q->timer)
		event_free(q->timer);
	free(q->region);
	free(q->account);
	free(q);
}
