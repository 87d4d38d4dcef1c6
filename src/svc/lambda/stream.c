/* Streamed invocations: one relay of what a function streams to its client as it comes,
 * with back-pressure, in two framings. A function URL's (InvokeMode RESPONSE_STREAM): the
 * status, headers and cookies of the function's HTTP prelude, then the body as chunks.
 * InvokeWithResponseStream's: event-stream messages, a PayloadChunk for each piece and an
 * InvokeComplete at the end. */
#include <errno.h>
#include <event2/http.h> /* header lists (evkeyvalq) */
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "base/codec.h"
#include "base/utf8.h"
#include "integ/proxy.h"
#include "proto/eventstream.h"
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

struct stream_ctx;
/* How a relay's answer is framed: the function URL's or the event stream's. */
struct framing {
	/* A piece of the function's stream (data borrowed), the client still there. */
	void (*piece)(struct stream_ctx *x, const char *content_type, const void *data, size_t len);
	/* The invocation ended: answers the rest (x->req NULL after). */
	void (*done)(struct stream_ctx *x, const struct sched_result *res);
	/* sched_invoke refused to start it (rc, *e): answers in one piece (x->req NULL after). */
	void (*refused)(struct stream_ctx *x, int rc, const struct err *e);
};

struct stream_ctx {
	struct api *a;
	const struct framing *fr;
	struct front_req *req;  /* NULL once answered */
	struct evkeyvalq extra; /* headers to add (a copy), x-amzn-RequestId included */
	struct evbuffer *pre;   /* function URL: bytes held until the prelude is whole */
	struct evbuffer *msg;   /* event stream: the message being framed */
	bool started;           /* the status and headers went out */
	bool paused;            /* the function's stream waits for the client to drain */
	char request_id[64];
};

static void stream_ctx_free(struct stream_ctx *x)
{
	evhttp_clear_headers(&x->extra);
	evbuffer_free(x->pre);
	evbuffer_free(x->msg);
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

static void furl_piece(struct stream_ctx *x, const char *content_type, const void *data, size_t len)
{
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

static void furl_done(struct stream_ctx *x, const struct sched_result *res)
{
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
}

static void furl_refused(struct stream_ctx *x, int rc, const struct err *e)
{
	if (rc != -EAGAIN)
		log_warn("api: streaming invoke %s: %s", x->request_id, e->msg);
	if (rc == -EAGAIN)
		front_reply_header(x->req, "Retry-After", "1");
	reply_error(x, rc == -EAGAIN ? PROXY_ERR_THROTTLED : PROXY_ERR_BAD_GATEWAY);
}

static const struct framing furl_framing = {.piece = furl_piece, .done = furl_done, .refused = furl_refused};

/* ---- InvokeWithResponseStream: the event stream ---- */

/* The status and headers of an event stream: 200, the event-stream content type, the
 * request id (X-Amz-Executed-Version is Invoke's, set before the invocation). */
static void es_start(struct stream_ctx *x)
{
	front_reply_header(x->req, "Content-Type", EVENTSTREAM_CONTENT_TYPE);
	add_extra(x);
	front_reply_start(x->req, 200);
	x->started = true;
}

/* Sends one event of the stream (the payload split where it passes a message's limit). */
static void es_event(struct stream_ctx *x, const char *type, const char *content_type, const void *data,
                     size_t len)
{
	const char *p = data;
	do {
		size_t n = len < EVENTSTREAM_PAYLOAD_MAX ? len : EVENTSTREAM_PAYLOAD_MAX;
		struct err e = {0};
		if (eventstream_event(x->msg, type, content_type, p, n, &e) < 0) {
			log_warn("api: %s event of %s: %s", type, x->request_id, e.msg);
			return;
		}
		size_t mlen = evbuffer_get_length(x->msg);
		send_chunk(x, evbuffer_pullup(x->msg, -1), mlen);
		evbuffer_drain(x->msg, mlen);
		p += n;
		len -= n;
	} while (len > 0);
}

static void es_piece(struct stream_ctx *x, const char *content_type, const void *data, size_t len)
{
	if (!x->started)
		es_start(x);
	if (len)
		es_event(x, "PayloadChunk", "application/octet-stream", data, len);
}

/* InvokeComplete's members: ErrorCode and ErrorDetails from the error document of a failed
 * invocation (its errorType and errorMessage; "Unhandled" and the document itself when it
 * has none), LogResult the log's tail in base64 when asked. Returns the JSON (owned). */
static json_t *es_complete(const struct sched_result *res)
{
	json_t *o = json_object();
	if (res->function_error || res->system_error) {
		size_t n = evbuffer_get_length(res->body);
		const char *text = n ? (const char *)evbuffer_pullup(res->body, -1) : "";
		json_t *doc = json_loadb(text, n, 0, NULL);
		json_t *type = json_object_get(doc, "errorType"), *msg = json_object_get(doc, "errorMessage");
		json_object_set_new(o, "ErrorCode",
		                    json_string(json_is_string(type) && json_string_length(type)
		                                    ? json_string_value(type)
		                                    : "Unhandled"));
		if (json_is_string(msg)) {
			json_object_set(o, "ErrorDetails", msg);
		} else {
			autofree char *raw = xstrndup(text, n);
			utf8_sanitize(raw); /* a NUL in the document ends it here */
			json_object_set_new(o, "ErrorDetails", json_string(raw));
		}
		json_decref(doc);
	}
	if (res->log_tail) {
		autofree char *b64 = b64_encode(res->log_tail, res->log_tail_len);
		json_object_set_new(o, "LogResult", json_string(b64));
	}
	return o;
}

static void es_done(struct stream_ctx *x, const struct sched_result *res)
{
	if (!x->started && res->system_error) {
		/* Nothing went out: lambdad's failure answers as Invoke's does (SDKs retry a 500). */
		api__reply_error(x->req, LAMBDA_ERR_SERVICE, NULL, "lambdad is shutting down; retry");
		x->req = NULL;
		return;
	}
	if (!x->started)
		es_start(x);
	/* A function that did not stream: its whole response is one PayloadChunk. */
	size_t n = evbuffer_get_length(res->body);
	if (!res->streamed && !res->function_error && !res->system_error && n)
		es_event(x, "PayloadChunk", "application/octet-stream", evbuffer_pullup(res->body, -1), n);
	json_t *o = es_complete(res);
	autofree char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	es_event(x, "InvokeComplete", "application/json", txt, strlen(txt));
	front_reply_end(x->req);
	x->req = NULL;
}

static void es_refused(struct stream_ctx *x, int rc, const struct err *e)
{
	api__reply_invoke_refused(x->req, rc, e);
	x->req = NULL;
}

static const struct framing es_framing = {.piece = es_piece, .done = es_done, .refused = es_refused};

/* ---- The relay ---- */

static void stream_piece_cb(void *arg, const char *content_type, const void *data, size_t len)
{
	struct stream_ctx *x = arg;
	if (!x->req || front_req_gone(x->req))
		return;
	x->fr->piece(x, content_type, data, len);
}

static void stream_done_cb(const struct sched_result *res, void *arg)
{
	struct stream_ctx *x = arg;
	x->fr->done(x, res);
	stream_ctx_free(x);
}

/* A relay of the invocation args (cb, stream_cb, arg and request_id set here) to req in
 * framing fr, with the headers extra (may be NULL) and x-amzn-RequestId request_id. */
static void relay(struct api *a, struct front_req *req, const struct framing *fr,
                  struct sched_invoke_args *args, const char *request_id, const struct evkeyvalq *extra)
{
	struct stream_ctx *x = xcalloc(1, sizeof(*x));
	x->a = a;
	x->fr = fr;
	x->req = req;
	x->pre = evbuffer_new();
	x->msg = evbuffer_new();
	snprintf(x->request_id, sizeof(x->request_id), "%s", request_id);
	TAILQ_INIT(&x->extra);
	const struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			evhttp_add_header(&x->extra, kv->key, kv->value);
	evhttp_add_header(&x->extra, "x-amzn-RequestId", request_id);
	args->request_id = x->request_id;
	args->cb = stream_done_cb;
	args->stream_cb = stream_piece_cb;
	args->arg = x;
	/* Before the invocation: a start that fails at once answers within sched_invoke. */
	front_req_on_close(req, client_closed_cb, x);
	struct err e = {0};
	int rc = sched_invoke(a->sched, args, &e);
	if (rc < 0) {
		fr->refused(x, rc, &e);
		stream_ctx_free(x);
	}
}

void api__invoke_streaming(struct api *a, struct front_req *req, struct fn_config *cfg,
                           struct evbuffer *event, const char *request_id, const struct evkeyvalq *extra)
{
	/* The invocation keeps the request id the event carries (requestContext.requestId). */
	struct sched_invoke_args args = {.cfg = cfg, .payload = event};
	relay(a, req, &furl_framing, &args, request_id, extra);
}

void api__invoke_events(struct api *a, struct front_req *req, struct sched_invoke_args *args)
{
	char id[37];
	uuid_v4(id);
	relay(a, req, &es_framing, args, id, NULL);
}
