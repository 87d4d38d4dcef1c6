/* Invocations: from sched_invoke to the one callback that answers them, through the
 * Runtime API's events (delivery, response, error, stream), the timeout, and the
 * errors Lambda reports for each way an invocation can fail. */
#include <errno.h>
#include <jansson.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/codec.h"
#include "sched/sched_int.h"

static void make_trace_id(char out[96])
{
	char h[33], p[33];
	random_hex32(h);
	random_hex32(p);
	snprintf(out, 96, "Root=1-%08lx-%.24s;Parent=%.16s;Sampled=0", (unsigned long)time(NULL), h, p);
}

struct invocation *sched__inv_new(struct sched *s, struct fn_pool *pool, const struct sched_invoke_args *a)
{
	struct invocation *inv = xcalloc(1, sizeof(*inv));
	inv->s = s;
	inv->pool = pool;
	inv->cfg = fn_config_ref(a->cfg);
	if (a->request_id)
		snprintf(inv->request_id, sizeof(inv->request_id), "%s", a->request_id);
	else
		uuid_v4(inv->request_id);
	make_trace_id(inv->trace_id);
	inv->payload = evbuffer_new();
	evbuffer_add_buffer(inv->payload, a->payload);
	inv->client_context = xstrdup(a->client_context);
	inv->invoked_arn = xstrdup(a->invoked_arn);
	inv->want_tail = a->want_tail;
	logs_tail_init(&inv->tail);
	inv->cb = a->cb;
	inv->stream_cb = a->stream_cb;
	inv->arg = a->arg;
	s->inflight++;
	pool->inflight++;
	pool->fn->fn_inflight++;
	inv->unreserved = pool->fn->sc.reserved < 0;
	if (inv->unreserved)
		s->unreserved_inflight++;
	sched__count_invoke(pool);
	return inv;
}

static void inv_free(struct invocation *inv)
{
	inv->s->memory_mb -= inv->mem_mb;
	if (inv->timer)
		event_free(inv->timer);
	if (inv->payload)
		evbuffer_free(inv->payload);
	if (inv->sbuf)
		evbuffer_free(inv->sbuf);
	free(inv->content_type);
	free(inv->client_context);
	free(inv->invoked_arn);
	logs_tail_fini(&inv->tail);
	fn_config_unref(inv->cfg);
	free(inv);
}

/* Delivery to now; a timed-out invocation lasted its whole timeout, as Lambda reports
 * it (the timer may fire a hair early by the clock the start was taken with). */
static double inv_duration_ms(const struct invocation *inv)
{
	if (!inv->delivered)
		return 0.0;
	double ms = (double)(clock_mono_us() - inv->start_us) / 1000.0;
	double limit = (double)inv->cfg->timeout_s * 1000.0;
	return inv->timed_out && ms < limit ? limit : ms;
}

/* Ends an invocation: END and REPORT lines, the callback, and the environment
 * goes back to the pool (or away). body is drained by the callback. */
void sched__inv_finish(struct invocation *inv, bool function_error, struct evbuffer *body)
{
	struct env *e = inv->env;
	struct sched *s = inv->s;
	if (e) {
		sched__env_drain_output(e);
		sched__env_flush_partial_line(e);
		sched__report(e, inv, inv_duration_ms(inv));
		e->inv = NULL;
	}
	if (inv->timer)
		event_del(inv->timer);
	s->inflight--;
	struct fn_pool *pool = inv->pool;
	pool->inflight--;
	pool->fn->fn_inflight--;
	if (inv->unreserved)
		s->unreserved_inflight--;
	double ms = inv_duration_ms(inv);
	pool->st.invocations++;
	if (function_error)
		pool->st.errors++;
	if (inv->timed_out)
		pool->st.timeouts++;
	sched__hist_observe(&pool->st.duration, ms);
	if (inv->cold) {
		pool->st.cold_starts++;
		sched__hist_observe(&pool->st.init_duration, inv->init_ms);
	}
	struct sched_result res = {.function_error = function_error,
	                           .system_error = inv->system_error,
	                           .body = body,
	                           .request_id = inv->request_id,
	                           .executed_version = fn_version(inv->cfg),
	                           .streamed = inv->streamed,
	                           .content_type = inv->content_type};
	if (inv->want_tail)
		res.log_tail = logs_tail_get(&inv->tail, &res.log_tail_len);
	inv->cb(&res, inv->arg);
	inv_free(inv);
	if (e && e->state != ENV_DEAD) {
		bool stale = e->pool->cfg && strcmp(e->pool->cfg->revision_id, e->cfg->revision_id) != 0;
		if (e->retire || stale || (sched__pool_keep_alive_ms(e->pool) == 0 && !e->provisioned))
			sched__env_kill(e);
		else
			sched__env_make_idle(e);
	}
}

void sched__inv_fail(struct invocation *inv, const char *type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s, s:s}", "errorType", type, "errorMessage", msg);
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, txt, strlen(txt));
	free(txt);
	sched__inv_finish(inv, true, b);
	evbuffer_free(b);
}

static void inv_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct invocation *inv = arg;
	struct env *e = inv->env;
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	inv->timed_out = true;
	if (e) {
		sched__env_drain_output(e);
		sched__env_logf(e, "%s %s Task timed out after %.2f seconds", ts, inv->request_id,
		                (double)inv->cfg->timeout_s);
		/* The environment is killed: a function that ran out of time is not reused. */
		e->retire = true;
		if (e->created)
			e->s->be.ops->signal(e->h, SIGKILL);
	}
	sched__inv_fail(inv, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds",
	                inv->request_id, (double)inv->cfg->timeout_s);
}

int sched__env_deliver(struct env *e)
{
	struct invocation *inv = e->inv;
	if (!inv || inv->delivered || !e->rt || !rtapi_ready(e->rt))
		return -EAGAIN;
	autofree char *arn = inv->invoked_arn ? xstrdup(inv->invoked_arn)
	                                      : fn_arn(inv->cfg->name, e->s->region, e->s->account);
	inv->deadline_ms = clock_wall_ms() + (int64_t)inv->cfg->timeout_s * 1000;
	struct rtapi_event ev = {
	    .request_id = inv->request_id,
	    .deadline_ms = inv->deadline_ms,
	    .function_arn = arn,
	    .trace_id = inv->trace_id,
	    .client_context = inv->client_context,
	    .payload = inv->payload,
	};
	sched__env_logf(e, "START RequestId: %s Version: %s", inv->request_id, fn_version(inv->cfg));
	inv->start_us = clock_mono_us();
	if (rtapi_deliver(e->rt, &ev) < 0)
		return -EAGAIN;
	inv->delivered = true;
	struct timeval tv = {.tv_sec = inv->cfg->timeout_s, .tv_usec = 0};
	inv->timer = evtimer_new(e->s->base, inv_timeout_cb, inv);
	evtimer_add(inv->timer, &tv);
	return 0;
}

/* ---- the Runtime API's events ---- */

static void rt_next_cb(void *arg)
{
	struct env *e = arg;
	if (!e->initialized) {
		e->initialized = true;
		evtimer_del(e->timer);
		/* Before its first event: the invocation phase runs under the limits that
		 * init was spared. */
		if (e->s->be.ops->init_done)
			e->s->be.ops->init_done(e->h);
		if (e->warm)
			e->pool->warm_failures = 0;
		if (e->inv)
			e->inv->init_ms = (double)(clock_mono_us() - e->created_us) / 1000.0;
	}
	if (e->state == ENV_STARTING) {
		if (e->inv) {
			e->state = ENV_BUSY;
		} else {
			sched__env_make_idle(e);
			return;
		}
	}
	if (e->state == ENV_BUSY)
		sched__env_deliver(e);
	else if (e->state == ENV_IDLE && e->freeze_ev && !e->frozen) {
		/* Idle, and now waiting: frozen shortly (freeze_cb). */
		struct timeval ftv = {0, SCHED_FREEZE_DELAY_MS * 1000};
		evtimer_add(e->freeze_ev, &ftv);
	}
}

static struct invocation *env_current(struct env *e, const char *request_id)
{
	if (!e->inv || !e->inv->delivered || strcmp(e->inv->request_id, request_id) != 0)
		return NULL;
	return e->inv;
}

static void rt_response_cb(void *arg, const char *request_id, struct evbuffer *body)
{
	struct invocation *inv = env_current(arg, request_id);
	if (inv)
		sched__inv_finish(inv, false, body);
}

/* A runtime's error body passes through when it is a JSON object; anything else
 * is wrapped so that the caller always gets {errorMessage, errorType}. */
static void finish_with_error_body(struct invocation *inv, const char *error_type, struct evbuffer *body)
{
	size_t len = evbuffer_get_length(body);
	const char *p = (const char *)evbuffer_pullup(body, -1);
	json_t *o = len ? json_loadb(p, len, 0, NULL) : NULL;
	if (json_is_object(o)) {
		json_decref(o);
		sched__inv_finish(inv, true, body);
		return;
	}
	json_decref(o);
	autofree char *msg = xstrndup(p ? p : "", len);
	sched__inv_fail(inv, error_type ? error_type : "Unhandled", "%s", msg);
}

static void rt_error_cb(void *arg, const char *request_id, const char *error_type, struct evbuffer *body)
{
	struct env *e = arg;
	struct invocation *inv = env_current(e, request_id);
	if (!inv)
		return;
	sched__env_drain_output(e);
	finish_with_error_body(inv, error_type, body);
}

static void rt_init_error_cb(void *arg, const char *error_type, struct evbuffer *body)
{
	struct env *e = arg;
	struct invocation *inv = e->inv;
	e->retire = true;
	sched__env_drain_output(e);
	if (inv) {
		e->initialized = true;
		evtimer_del(e->timer);
		inv->init_ms = (double)(clock_mono_us() - e->created_us) / 1000.0;
		snprintf(inv->report_error, sizeof(inv->report_error), "%s",
		         error_type ? error_type : "Runtime.Unknown");
		sched__env_logf(
		    e, "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s",
		    inv->init_ms, error_type ? error_type : "Runtime.Unknown");
		finish_with_error_body(inv, error_type, body);
	} else {
		sched__env_kill(e);
	}
}

static void rt_too_large_cb(void *arg, const char *request_id)
{
	struct invocation *inv = env_current(arg, request_id);
	if (!inv)
		return;
	snprintf(inv->report_error, sizeof(inv->report_error), "Function.ResponseSizeTooLarge");
	sched__inv_fail(inv, "Function.ResponseSizeTooLarge",
	                "Response payload size exceeded maximum allowed payload size (%u bytes).",
	                RTAPI_MAX_RESPONSE);
}

/* A streamed response began: the invocation is answered piece by piece from now on. */
static void rt_stream_begin_cb(void *arg, const char *request_id, const char *content_type)
{
	struct invocation *inv = env_current(arg, request_id);
	if (!inv || inv->streamed)
		return;
	inv->streamed = true;
	inv->content_type = xstrdup(content_type);
	if (!inv->stream_cb)
		inv->sbuf = evbuffer_new();
}

static void rt_stream_chunk_cb(void *arg, const char *request_id, const void *data, size_t len)
{
	struct invocation *inv = env_current(arg, request_id);
	if (!inv || !inv->streamed)
		return;
	if (inv->stream_cb) {
		inv->stream_cb(inv->arg, inv->content_type, data, len);
		return;
	}
	/* Collected for an ordinary Invoke: past 6 MB the rest is read and dropped, and
	 * the invocation fails at the stream's end. */
	if (inv->sbuf_over)
		return;
	if (evbuffer_get_length(inv->sbuf) + len > RTAPI_MAX_RESPONSE) {
		inv->sbuf_over = true;
		evbuffer_drain(inv->sbuf, evbuffer_get_length(inv->sbuf));
		return;
	}
	evbuffer_add(inv->sbuf, data, len);
}

static void rt_stream_end_cb(void *arg, const char *request_id, const char *error_type,
                             struct evbuffer *error_body, bool truncated)
{
	struct env *e = arg;
	struct invocation *inv = env_current(e, request_id);
	if (!inv || !inv->streamed)
		return;
	/* A runtime that dropped its connection mid-stream is not given another event. */
	if (truncated)
		e->retire = true;
	sched__env_drain_output(e);
	if (error_type) {
		finish_with_error_body(inv, error_type, error_body);
		return;
	}
	if (inv->sbuf_over) {
		sched__inv_fail(inv, "Function.ResponseSizeTooLarge",
		                "Response payload size exceeded maximum allowed payload size (%u bytes).",
		                RTAPI_MAX_RESPONSE);
		return;
	}
	if (inv->sbuf) {
		sched__inv_finish(inv, false, inv->sbuf);
		return;
	}
	struct evbuffer *empty = evbuffer_new();
	sched__inv_finish(inv, false, empty);
	evbuffer_free(empty);
}

int sched_stream_pause(struct sched *s, const char *request_id, bool paused)
{
	struct env *e;
	TAILQ_FOREACH(e, &s->envs, all_link) {
		struct invocation *inv = e->rt ? env_current(e, request_id) : NULL;
		if (inv && inv->streamed)
			return rtapi_stream_pause(e->rt, paused);
	}
	return -ENOENT;
}

const struct rtapi_ops sched__rtapi_ops = {
    .next_cb = rt_next_cb,
    .response_cb = rt_response_cb,
    .error_cb = rt_error_cb,
    .init_error_cb = rt_init_error_cb,
    .too_large_cb = rt_too_large_cb,
    .stream_begin_cb = rt_stream_begin_cb,
    .stream_chunk_cb = rt_stream_chunk_cb,
    .stream_end_cb = rt_stream_end_cb,
};
