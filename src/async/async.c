/* The asynchronous queue: group-committed acceptance, the dispatcher (through the
 * scheduler, with throttle backoff), retries, event age and the end of each event
 * (success, destination, dead letter). */
#include "async/async_int.h"

#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/codec.h"

static void kick(struct async *q, struct afn *f);
static void finish_failed(struct async *q, struct aev *ev, const char *condition);

/* ---- functions ---- */

static unsigned name_hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % AFN_BUCKETS;
}

static void unblock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct afn *f = arg;
	f->blocked_until_ms = 0;
	kick(f->q, f);
}

struct afn *afn_get(struct async *q, const char *name, bool create)
{
	if (!name)
		name = "";
	unsigned b = name_hash(name);
	for (struct afn *f = q->fns[b]; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	if (!create)
		return NULL;
	struct afn *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->q = q;
	f->cfg.max_retries = -1;
	f->cfg.max_age_s = -1;
	f->backoff_ms = ASYNC_THROTTLE_BASE_MS;
	TAILQ_INIT(&f->ready);
	f->unblock = evtimer_new(q->base, unblock_cb, f);
	f->next = q->fns[b];
	q->fns[b] = f;
	return f;
}

static void aev_free(struct aev *ev)
{
	if (!ev)
		return;
	free(ev->last_error);
	free(ev);
}

/* ---- the heap of waiting events (min on due_ms) and its timer ---- */

static void heap_swap(struct async *q, size_t i, size_t j)
{
	struct aev *t = q->heap[i];
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

static void heap_push(struct async *q, struct aev *ev)
{
	if (q->heap_n == q->heap_cap) {
		q->heap_cap = q->heap_cap ? 2 * q->heap_cap : 64;
		q->heap = xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
	}
	ev->state = AEV_WAITING;
	ev->heap_idx = q->heap_n;
	q->heap[q->heap_n++] = ev;
	heap_up(q, ev->heap_idx);
}

static void heap_remove(struct async *q, struct aev *ev)
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

static void make_ready(struct async *q, struct aev *ev)
{
	ev->state = AEV_READY;
	TAILQ_INSERT_TAIL(&ev->fn->ready, ev, link);
	kick(q, ev->fn);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct async *q = arg;
	int64_t now = clock_wall_ms();
	q->timer_at_ms = 0;
	while (q->heap_n && q->heap[0]->due_ms <= now) {
		struct aev *ev = q->heap[0];
		heap_remove(q, ev);
		make_ready(q, ev);
	}
	timer_arm(q);
}

/* Puts a committed event where it belongs: ready now, or waiting for its time. */
static void aev_schedule(struct async *q, struct aev *ev)
{
	if (ev->due_ms <= clock_wall_ms()) {
		make_ready(q, ev);
	} else {
		heap_push(q, ev);
		timer_arm(q);
	}
}

/* ---- the group transaction ---- */

int atxn_begin(struct async *q)
{
	if (q->in_txn)
		return 0;
	char *emsg = NULL;
	if (sqlite3_exec(q->db, "BEGIN", NULL, NULL, &emsg) != SQLITE_OK) {
		log_error("async: BEGIN: %s", emsg ? emsg : "?");
		sqlite3_free(emsg);
		return -EIO;
	}
	q->in_txn = true;
	q->txn_failed = false;
	/* Runs after the callbacks already active in this loop pass: one commit for all
	 * that this pass accepted. */
	event_active(q->commit_ev, EV_TIMEOUT, 0);
	return 0;
}

int atxn_step(struct async *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_error("async: write failed: %s", sqlite3_errmsg(q->db));
		q->txn_failed = true;
		return -EIO;
	}
	return 0;
}

static void reply_accepted(struct aev *ev, bool ok)
{
	struct evhttp_request *req = ev->req;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();
	evhttp_add_header(h, "x-amzn-RequestId", ev->id);
	if (!ok) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "X-Amzn-ErrorType", "ServiceException");
		evbuffer_add_printf(b,
		                    "{\"Type\":\"Service\",\"message\":\"the event could not be stored\"}");
		evhttp_send_reply(req, 500, "Internal Server Error", b);
	} else if (ev->legacy) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add_printf(b, "{\"Status\":202}");
		evhttp_send_reply(req, 202, "Accepted", b);
	} else {
		evhttp_send_reply(req, 202, "Accepted", b);
	}
	evbuffer_free(b);
	ev->req = NULL;
}

/* Answers and queues the events of the transaction that just ended (ok: committed). */
static void activate_fresh(struct async *q, bool ok, bool answer)
{
	struct aev *ev;
	while ((ev = TAILQ_FIRST(&q->fresh))) {
		TAILQ_REMOVE(&q->fresh, ev, link);
		if (ev->req && answer)
			reply_accepted(ev, ok);
		ev->req = NULL;
		if (ok) {
			aev_schedule(q, ev);
		} else {
			ev->fn->depth--;
			ev->fn->accepted--;
			aev_free(ev);
		}
	}
}

bool atxn_commit(struct async *q, bool answer)
{
	if (!q->in_txn)
		return true;
	char *emsg = NULL;
	bool ok = !q->txn_failed;
	if (ok && sqlite3_exec(q->db, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
		log_error("async: COMMIT failed: %s", emsg ? emsg : "?");
		sqlite3_free(emsg);
		ok = false;
	}
	if (!ok) {
		log_error("async: the group transaction is rolled back: its events are refused (500), and "
		          "outcomes of this pass will be delivered again after a restart");
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	}
	q->in_txn = false;
	activate_fresh(q, ok, answer);
	return ok;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
	atxn_commit(arg, true);
}

struct aev *aev_insert(struct async *q, struct afn *f, const char *id, const void *payload, size_t len,
                       struct err *errp)
{
	if (atxn_begin(q) < 0) {
		err_make(errp, EIO, "the async queue cannot open a transaction");
		return NULL;
	}
	struct aev *ev = xcalloc(1, sizeof(*ev));
	if (id)
		snprintf(ev->id, sizeof(ev->id), "%s", id);
	else
		uuid_v4(ev->id);
	ev->fn = f;
	ev->accepted_ms = ev->due_ms = clock_wall_ms();
	sqlite3_stmt *st = q->ins_ev;
	sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, len ? payload : "", (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ev->accepted_ms);
	sqlite3_bind_int64(st, 5, ev->due_ms);
	sqlite3_bind_int(st, 6, 0);
	if (atxn_step(q, st) < 0) {
		free(ev);
		err_make(errp, EIO, "the async queue cannot store the event: %s", sqlite3_errmsg(q->db));
		return NULL;
	}
	ev->state = AEV_NEW;
	TAILQ_INSERT_TAIL(&q->fresh, ev, link);
	f->depth++;
	f->accepted++;
	return ev;
}

void async_enqueue(struct async *q, const char *name, struct evbuffer *payload, struct evhttp_request *req,
                   bool legacy)
{
	size_t len = evbuffer_get_length(payload);
	const void *p = len ? (const void *)evbuffer_pullup(payload, -1) : (const void *)"{}";
	struct err e = {0};
	struct aev *ev = aev_insert(q, afn_get(q, name, true), NULL, p, len ? len : 2, &e);
	evbuffer_drain(payload, len);
	if (!ev) {
		log_error("async: %s: %s", name, e.msg);
		struct aev tmp = {.req = req};
		uuid_v4(tmp.id);
		reply_accepted(&tmp, false);
		return;
	}
	ev->req = req;
	ev->legacy = legacy;
}

/* ---- the dispatcher ---- */

static void kick(struct async *q, struct afn *f)
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
static void block_fn(struct afn *f, int64_t now)
{
	f->blocked_until_ms = now + f->backoff_ms;
	struct timeval tv = {(time_t)(f->backoff_ms / 1000), (suseconds_t)(f->backoff_ms % 1000 * 1000)};
	evtimer_add(f->unblock, &tv);
	f->backoff_ms = f->backoff_ms * 2 > ASYNC_THROTTLE_MAX_MS ? ASYNC_THROTTLE_MAX_MS : f->backoff_ms * 2;
}

/* The event's function is gone: the event is kept in lambdad's dead-letter store. */
static void finish_gone(struct async *q, struct aev *ev)
{
	struct afn *f = ev->fn;
	if (atxn_begin(q) == 0) {
		sqlite3_stmt *st = q->ins_failed;
		sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, clock_wall_ms());
		sqlite3_bind_int(st, 3, (int)ev->attempts);
		sqlite3_bind_text(st, 4, "FunctionDeleted", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5,
		                  "the function was deleted while the event was queued; kept by lambdad", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(st, 6, ev->last_error, -1, SQLITE_STATIC);
		atxn_step(q, st);
		sqlite3_bind_text(q->del_ev, 1, ev->id, -1, SQLITE_STATIC);
		atxn_step(q, q->del_ev);
	}
	log_warn("async: %s: event %s kept in the dead-letter store: the function was deleted", f->name,
	         ev->id);
	f->failed_stored++;
	f->dead_lettered++;
	f->depth--;
	aev_free(ev);
}

static void dispatch_fn(struct async *q, struct afn *f)
{
	int64_t now = clock_wall_ms();
	struct aev *ev;
	while (!q->stopping && (ev = TAILQ_FIRST(&f->ready))) {
		if (f->blocked_until_ms > now)
			return; /* unblock_cb or an answer kicks it again */
		struct fn_config *c = registry_get(q->reg, f->name);
		if (!c) {
			TAILQ_REMOVE(&f->ready, ev, link);
			finish_gone(q, ev);
			continue;
		}
		if (now - ev->accepted_ms >= acfg_max_age_ms(q, &f->cfg)) {
			TAILQ_REMOVE(&f->ready, ev, link);
			finish_failed(q, ev, "EventAgeExceeded");
			continue;
		}
		size_t len = 0;
		autofree char *p = adb_payload(q, ev->id, &len);
		if (!p) {
			log_error("async: %s: event %s has no stored payload; forgotten", f->name, ev->id);
			TAILQ_REMOVE(&f->ready, ev, link);
			f->depth--;
			aev_free(ev);
			continue;
		}
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, p, len);
		struct sched_invoke_args a = {
		    .cfg = c, .payload = b, .request_id = ev->id, .cb = done_cb, .arg = ev};
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
		ev->state = AEV_INFLIGHT;
		f->inflight++;
	}
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct async *q = arg;
	struct afn *f;
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
static char *make_record(struct async *q, struct aev *ev, const char *condition, const char *payload,
                         size_t plen, const char *resp, size_t rlen, bool function_error)
{
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	autofree char *arn = fn_arn(ev->fn->name, q->region, q->account);
	autofree char *qarn = xasprintf("%s:$LATEST", arn);
	json_t *o =
	    json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}, s:o}", "version", "1.0", "timestamp", ts,
	              "requestContext", "requestId", ev->id, "functionArn", qarn, "condition", condition,
	              "approximateInvokeCount", (int)ev->attempts, "requestPayload", as_json(payload, plen));
	if (resp) {
		json_t *rc = json_pack("{s:i, s:s}", "statusCode", 200, "executedVersion", "$LATEST");
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

/* Writes the row of lambdad's dead-letter store and removes the event, in the group
 * transaction. */
static void store_failed(struct async *q, struct aev *ev, const char *condition, const char *reason)
{
	if (atxn_begin(q) < 0)
		return;
	sqlite3_stmt *st = q->ins_failed;
	sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, clock_wall_ms());
	sqlite3_bind_int(st, 3, (int)ev->attempts);
	sqlite3_bind_text(st, 4, condition, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ev->last_error, -1, SQLITE_STATIC);
	atxn_step(q, st);
	ev->fn->failed_stored++;
}

static void delete_event(struct async *q, struct aev *ev)
{
	if (atxn_begin(q) < 0)
		return;
	sqlite3_bind_text(q->del_ev, 1, ev->id, -1, SQLITE_STATIC);
	atxn_step(q, q->del_ev);
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
static void finish_failed(struct async *q, struct aev *ev, const char *condition)
{
	struct afn *f = ev->fn;
	struct fn_config *c = registry_get(q->reg, f->name);
	const char *dlq = c && c->dlq_arn && c->dlq_arn[0] ? c->dlq_arn : NULL;
	const char *onf = f->cfg.present ? f->cfg.on_failure : NULL;
	char reason[2048] = "";
	size_t plen = 0;
	autofree char *payload = adb_payload(q, ev->id, &plen);
	if (onf) {
		size_t rlen = ev->last_error ? strlen(ev->last_error) : 0;
		autofree char *rec = make_record(q, ev, condition, payload, plen, ev->last_error, rlen, true);
		struct async_target_msg m = {
		    .function_name = f->name, .request_id = ev->id, .body = rec, .len = strlen(rec)};
		struct err e = {0};
		if (atarget_deliver(q, onf, ASYNC_USE_ON_FAILURE, &m, &e) < 0)
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
		if (atarget_deliver(q, dlq, ASYNC_USE_DLQ, &m, &e) < 0)
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
	aev_free(ev);
}

static void finish_success(struct async *q, struct aev *ev, const char *body, size_t blen)
{
	struct afn *f = ev->fn;
	const char *ons = f->cfg.present ? f->cfg.on_success : NULL;
	if (ons) {
		size_t plen = 0;
		autofree char *payload = adb_payload(q, ev->id, &plen);
		autofree char *rec = make_record(q, ev, "Success", payload, plen, body, blen, false);
		struct async_target_msg m = {
		    .function_name = f->name, .request_id = ev->id, .body = rec, .len = strlen(rec)};
		struct err e = {0};
		if (atarget_deliver(q, ons, ASYNC_USE_ON_SUCCESS, &m, &e) < 0) {
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
	aev_free(ev);
}

static void done_cb(const struct sched_result *res, void *arg)
{
	struct aev *ev = arg;
	struct afn *f = ev->fn;
	struct async *q = f->q;
	f->inflight--;
	if (res->system_error) {
		/* Not delivered (lambdad is stopping): the event stays queued, in the store too. */
		q->stopping = true;
		ev->state = AEV_READY;
		TAILQ_INSERT_HEAD(&f->ready, ev, link);
		return;
	}
	ev->attempts++;
	size_t blen = res->body ? evbuffer_get_length(res->body) : 0;
	const char *body = blen ? (const char *)evbuffer_pullup(res->body, -1) : "";
	if (!res->function_error) {
		finish_success(q, ev, body, blen);
	} else {
		free(ev->last_error);
		ev->last_error = xstrndup(body, blen < ASYNC_ERROR_MAX ? blen : ASYNC_ERROR_MAX);
		utf8_sanitize(ev->last_error);
		if ((int32_t)ev->attempts <= acfg_max_retries(&f->cfg)) {
			int64_t now = clock_wall_ms();
			int64_t due = now + q->delays_ms[ev->attempts >= 2 ? 1 : 0];
			int64_t expiry = ev->accepted_ms + acfg_max_age_ms(q, &f->cfg);
			ev->due_ms = due > expiry ? expiry : due;
			f->retries++;
			if (atxn_begin(q) == 0) {
				sqlite3_stmt *st = q->upd_ev;
				sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
				sqlite3_bind_int(st, 2, (int)ev->attempts);
				sqlite3_bind_int64(st, 3, ev->due_ms);
				sqlite3_bind_text(st, 4, ev->last_error, -1, SQLITE_STATIC);
				atxn_step(q, st);
			}
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
	struct afn *f = afn_get(q, name, false);
	if (!f)
		return;
	if (f->cfg.present && atxn_begin(q) == 0) {
		sqlite3_bind_text(q->del_cfg, 1, f->name, -1, SQLITE_STATIC);
		atxn_step(q, q->del_cfg);
	}
	acfg_fini(&f->cfg);
	struct aev *ev;
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
	TAILQ_INIT(&q->fresh);
	TAILQ_INIT(&q->kick_list);
	q->commit_ev = event_new(base, -1, 0, commit_cb, q);
	q->kick_ev = event_new(base, -1, 0, kick_cb, q);
	q->timer = evtimer_new(base, timer_cb, q);
	atarget_builtin(q);
	int r;
	if ((r = adb_open(q, cfg->data_dir, errp)) < 0 || (r = adb_load(q, errp)) < 0) {
		async_free(q);
		return r;
	}
	activate_fresh(q, true, false);
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
	if (q->db)
		atxn_commit(q, false);
	for (size_t i = 0; i < q->heap_n; i++)
		aev_free(q->heap[i]);
	free(q->heap);
	for (unsigned b = 0; b < AFN_BUCKETS; b++) {
		struct afn *f = q->fns[b];
		while (f) {
			struct afn *n = f->next;
			/* sched_free answered every invocation before this runs. */
			LD_ASSERT(f->inflight == 0);
			struct aev *ev;
			while ((ev = TAILQ_FIRST(&f->ready))) {
				TAILQ_REMOVE(&f->ready, ev, link);
				aev_free(ev);
			}
			event_free(f->unblock);
			acfg_fini(&f->cfg);
			free(f->name);
			free(f);
			f = n;
		}
	}
	struct aev *ev;
	while ((ev = TAILQ_FIRST(&q->fresh))) {
		TAILQ_REMOVE(&q->fresh, ev, link);
		aev_free(ev);
	}
	if (q->commit_ev)
		event_free(q->commit_ev);
	if (q->kick_ev)
		event_free(q->kick_ev);
	if (q->timer)
		event_free(q->timer);
	if (q->db)
		adb_close(q);
	free(q->region);
	free(q->account);
	free(q);
}
