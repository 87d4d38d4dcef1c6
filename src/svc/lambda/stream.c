/* InvokeMode RESPONSE_STREAM: relays what a function streams to its HTTP client as it
 * comes, with the status, headers and cookies of its HTTP prelude. */
#include <errno.h>
#include <event2/http.h> /* header lists (evkeyvalq) */
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "integ/proxy.h"
#include "svc/lambda/api_int.h"

/* What awslambda.HttpResponseStream.from() sets: the stream starts with a JSON prelude
 * {statusCode, headers, cookies} and 8 NUL bytes, then the body. */
#define PRELUDE_CTYPE "application/vnd.awslambda.http-integration-response"
#define PRELUDE_SEP_LEN 8
#define PRELUDE_MAX (64 * 1024) /* a longer "prelude" is taken as body */
/* Back-pressure: past HIGH_WATER bytes queued for a slow client the function's stream is
 * paused (the runtime blocks writing it), and resumed once they fall to LOW_WATER. */
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)

struct stream_ctx {
	struct api *a;
	struct front_req *req;  /* NULL once answered */
	struct evkeyvalq extra; /* headers to add (a copy), x-amzn-RequestId included */
	struct evbuffer *pre;   /* bytes held until the prelude is whole */
	bool started;           /* the status and headers went out */
	bool paused;            /* the function's stream waits for the client to drain */
	char request_id[64];
};

static void stream_ctx_free(struct stream_ctx *x)
{
	evhttp_clear_headers(&x->extra);
	evbuffer_free(x->pre);
	free(x);
}

/* The function's stream goes on (paused false) or waits for the client (true). */
static void pause_stream(struct stream_ctx *x, bool paused)
{
	if (x->paused == paused)
		return;
	x->paused = paused;
	sched_stream_pause(x->a->sched, x->request_id, paused);
}

/* The client closed its connection: what the function still sends is dropped (the
 * front drops it), and the request is answered at the end as always. */
static void client_closed_cb(struct front_req *rq, void *arg)
{
	log_debug("api: streaming client went away");
	pause_stream(arg, false);
}

static void drained_cb(struct front_req *rq, void *arg)
{
	pause_stream(arg, false);
}

static void add_extra(struct stream_ctx *x)
{
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &x->extra, next)
		front_reply_header_set(x->req, kv->key, kv->value);
}

/* Replies the integration's answer e in one piece (before any byte went out). */
static void reply_error(struct stream_ctx *x, enum proxy_error e)
{
	proxy_error_reply(x->req, e, &x->extra);
	x->req = NULL;
}

/* Hop-by-hop and framing headers are lambdad's to set, not the function's. */
static bool header_allowed(const char *name)
{
	static const char *const deny[] = {"content-length", "transfer-encoding", "connection", "keep-alive",
	                                   "trailer",        "upgrade",           "te"};
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
		if (strcasecmp(name, deny[i]) == 0)
			return false;
	return true;
}

/* Starts the chunked reply with the prelude's status, headers and cookies (prelude
 * NULL: 200 with content_type). Returns false if the prelude is not one. */
static bool start_reply(struct stream_ctx *x, json_t *prelude, const char *content_type)
{
	int code = 200;
	if (prelude) {
		json_t *sc = json_object_get(prelude, "statusCode");
		if (json_is_integer(sc) && json_integer_value(sc) >= 100 && json_integer_value(sc) <= 599)
			code = (int)json_integer_value(sc);
		else if (sc && !json_is_null(sc))
			return false;
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(prelude, "headers"), k, v) {
			char num[64];
			const char *val = json_is_string(v) ? json_string_value(v) : NULL;
			if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
				if (json_is_integer(v))
					snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
				else if (json_is_real(v))
					snprintf(num, sizeof(num), "%g", json_real_value(v));
				else
					snprintf(num, sizeof(num), "%s", json_is_true(v) ? "true" : "false");
				val = num;
			}
			if (val && header_allowed(k))
				front_reply_header(x->req, k, val);
		}
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(prelude, "cookies"), i, c)
			if (json_is_string(c))
				front_reply_header(x->req, "Set-Cookie", json_string_value(c));
	}
	if (!front_reply_header_get(x->req, "Content-Type"))
		front_reply_header(x->req, "Content-Type",
		                   prelude ? "application/octet-stream" : content_type);
	add_extra(x);
	front_reply_start(x->req, code);
	x->started = true;
	return true;
}

static void send_chunk(struct stream_ctx *x, const void *data, size_t len)
{
	front_reply_chunk(x->req, data, len);
	if (!x->paused && front_reply_pending(x->req) > HIGH_WATER) {
		pause_stream(x, true);
		front_reply_on_drain(x->req, LOW_WATER, drained_cb, x);
	}
}

/* Takes what is held in x->pre: the prelude once it is whole (then the bytes after it
 * as the first chunk). at_end: the stream is over, so a prelude that never completed
 * is body. Does nothing while more bytes are needed. */
static void take_prelude(struct stream_ctx *x, bool at_end)
{
	static const char sep[PRELUDE_SEP_LEN] = {0};
	size_t n = evbuffer_get_length(x->pre);
	struct evbuffer_ptr p = evbuffer_search(x->pre, sep, PRELUDE_SEP_LEN, NULL);
	if (p.pos < 0 && !at_end && n <= PRELUDE_MAX)
		return;
	const char *bytes = (const char *)evbuffer_pullup(x->pre, -1);
	json_t *prelude = p.pos >= 0 ? json_loadb(bytes, (size_t)p.pos, 0, NULL) : NULL;
	if (json_is_object(prelude) && start_reply(x, prelude, NULL)) {
		size_t skip = (size_t)p.pos + PRELUDE_SEP_LEN;
		send_chunk(x, bytes + skip, n - skip);
	} else {
		/* Not a prelude after all: everything is body. */
		start_reply(x, NULL, "application/octet-stream");
		send_chunk(x, bytes, n);
	}
	json_decref(prelude);
	evbuffer_drain(x->pre, n);
}

static void stream_piece_cb(void *arg, const char *content_type, const void *data, size_t len)
{
	struct stream_ctx *x = arg;
	if (!x->req || front_req_gone(x->req))
		return;
	if (x->started) {
		send_chunk(x, data, len);
		return;
	}
	if (strcasecmp(content_type, PRELUDE_CTYPE) != 0) {
		start_reply(x, NULL, content_type);
		send_chunk(x, data, len);
		return;
	}
	evbuffer_add(x->pre, data, len);
	take_prelude(x, false);
}

static void stream_done_cb(const struct sched_result *res, void *arg)
{
	struct stream_ctx *x = arg;
	if (!x->started && (res->function_error || res->system_error)) {
		reply_error(x, PROXY_ERR_BAD_GATEWAY);
	} else if (!x->started && !res->streamed) {
		/* The function answered without streaming: its response is the body. */
		front_reply_header(x->req, "Content-Type", "application/json");
		add_extra(x);
		front_reply(x->req, 200, res->body);
		x->req = NULL;
	} else {
		if (!x->started && res->content_type && strcasecmp(res->content_type, PRELUDE_CTYPE) == 0)
			take_prelude(x, true);
		else if (!x->started)
			start_reply(x, NULL,
			            res->content_type ? res->content_type : "application/octet-stream");
		/* A stream that failed midway ends here: the client has what was sent so far. */
		if (res->function_error)
			log_debug("api: a streamed response of %s ended in an error", res->request_id);
		front_reply_end(x->req);
		x->req = NULL;
	}
	stream_ctx_free(x);
}

void api__invoke_streaming(struct api *a, struct front_req *req, struct fn_config *cfg,
                           struct evbuffer *event, const char *request_id, const struct evkeyvalq *extra)
{
	struct stream_ctx *x = xcalloc(1, sizeof(*x));
	x->a = a;
	x->req = req;
	x->pre = evbuffer_new();
	snprintf(x->request_id, sizeof(x->request_id), "%s", request_id);
	TAILQ_INIT(&x->extra);
	const struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			evhttp_add_header(&x->extra, kv->key, kv->value);
	/* The invocation keeps the request id the event carries (requestContext.requestId). */
	evhttp_add_header(&x->extra, "x-amzn-RequestId", request_id);
	struct sched_invoke_args args = {
	    .cfg = cfg,
	    .payload = event,
	    .request_id = request_id,
	    .cb = stream_done_cb,
	    .stream_cb = stream_piece_cb,
	    .arg = x,
	};
	/* Before the invocation: a start that fails at once answers within sched_invoke. */
	front_req_on_close(req, client_closed_cb, x);
	struct err e = {0};
	int rc = sched_invoke(a->sched, &args, &e);
	if (rc < 0) {
		if (rc != -EAGAIN)
			log_warn("api: streaming invoke of %s: %s", cfg->name, e.msg);
		if (rc == -EAGAIN)
			front_reply_header(req, "Retry-After", "1");
		reply_error(x, rc == -EAGAIN ? PROXY_ERR_THROTTLED : PROXY_ERR_BAD_GATEWAY);
		stream_ctx_free(x);
	}
}
