/* One environment's Runtime API server: the routes of the Lambda Runtime API over the
 * http/server engine, on the environment's own listener. A streamed response is taken
 * from the engine chunk by chunk as it arrives and may end in trailers. */
#include "rtapi/rtapi.h"
#include "http/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/codec.h"

#define PREFIX "/2018-06-01/runtime/"
#define BODY_MAX (4 * (uint64_t)RTAPI_MAX_RESPONSE) /* a buffered body; past the 6 MB limit on purpose */

struct rtapi {
	struct event_base *base;
	struct http_server *srv;
	const struct rtapi_ops *ops;
	void *arg;
	struct rtapi_sm sm;
	struct http_request *parked;     /* the waiting /next, if any */
	bool streaming;                  /* a streamed response is open (its request's body is being read) */
	struct http_request *stream_req; /* its request, while its body is read */
	char stream_id[64];
	bool dead;
};

/* ---- replies ---- */

static void reply_json(struct http_request *req, int code, const char *json)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, json, strlen(json));
	http_response_add_header(req, "Content-Type", "application/json");
	http_reply(req, code, b);
	evbuffer_free(b);
}

static void reply_error(struct http_request *req, int code, const char *type, const char *msg)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
	reply_json(req, code, body);
}

/* A request whose body is not read on: reply and close the connection after. */
static void reply_fatal(struct http_request *req, int code, const char *type, const char *msg)
{
	http_response_close(req);
	reply_error(req, code, type, msg);
}

/* ---- streamed responses ---- */

static void stream_end(struct rtapi *rt, const char *etype, struct evbuffer *ebody, bool truncated)
{
	char id[64];
	snprintf(id, sizeof(id), "%s", rt->stream_id);
	rt->streaming = false;
	rt->stream_req = NULL;
	rtapi_sm_stream_end(&rt->sm);
	rt->ops->stream_end_cb(rt->arg, id, etype, ebody, truncated);
}

/* Ends the open stream as cut short, with an error document saying why. */
static void stream_cut(struct rtapi *rt, const char *why)
{
	char doc[512];
	snprintf(doc, sizeof(doc), "{\"errorMessage\":\"%s\",\"errorType\":\"Runtime.TruncatedResponse\"}",
	         why);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, doc, strlen(doc));
	stream_end(rt, "Runtime.TruncatedResponse", b, true);
	evbuffer_free(b);
}

static void stream_data_cb(void *arg, struct http_request *req, const void *data, size_t len)
{
	struct rtapi *rt = arg;
	rt->ops->stream_chunk_cb(rt->arg, rt->stream_id, data, len);
}

/* The whole stream is in, trailers included: its outcome, then 202. */
static void stream_end_cb(void *arg, struct http_request *req)
{
	struct rtapi *rt = arg;
	const struct evkeyvalq *t = http_request_trailers(req);
	const char *etype = evhttp_find_header(t, "Lambda-Runtime-Function-Error-Type");
	const char *ebody64 = evhttp_find_header(t, "Lambda-Runtime-Function-Error-Body");
	struct evbuffer *b = evbuffer_new();
	if (etype || ebody64) {
		size_t n = 0;
		unsigned char *doc = ebody64 ? b64_decode(ebody64, strlen(ebody64), &n) : NULL;
		if (doc)
			evbuffer_add(b, doc, n);
		else
			evbuffer_add_printf(b,
			                    "{\"errorMessage\":\"the function failed while streaming its "
			                    "response\",\"errorType\":\"%s\"}",
			                    etype ? etype : "Unhandled");
		free(doc);
	}
	stream_end(rt, etype || ebody64 ? (etype ? etype : "Unhandled") : NULL, b, false);
	evbuffer_free(b);
	if (!rt->dead)
		reply_json(req, 202, "{\"status\":\"OK\"}");
}

/* The stream's body ended early; the engine replies (400 or 413) after, if it can. */
static void stream_abort_cb(void *arg, struct http_request *req, enum http_abort why, const char *msg)
{
	struct rtapi *rt = arg;
	char text[256];
	switch (why) {
	case HTTP_ABORT_CLOSED:
		stream_cut(rt, "the runtime closed the connection before the end of the streamed response");
		break;
	case HTTP_ABORT_TOO_LARGE:
		stream_cut(rt, "the streamed response exceeded the maximum allowed size");
		break;
	case HTTP_ABORT_MALFORMED:
		snprintf(text, sizeof(text), "the streamed response was malformed: %s", msg);
		stream_cut(rt, text);
		break;
	}
}

static const struct http_body_ops stream_ops = {
    .data_cb = stream_data_cb,
    .end_cb = stream_end_cb,
    .abort_cb = stream_abort_cb,
};

/* ---- the routes ---- */

/* The parked /next's connection went away. */
static void next_close_cb(void *arg, struct http_request *req)
{
	struct rtapi *rt = arg;
	if (rt->parked == req) {
		rt->parked = NULL;
		rtapi_sm_unpark(&rt->sm);
	}
}

static void handle_next(struct rtapi *rt, struct http_request *req)
{
	int code = rtapi_sm_next(&rt->sm);
	if (code) {
		reply_error(req, code, "InvalidStateTransition",
		            rt->sm.state == RTAPI_FAILED ? "the environment reported an init error"
		                                         : "another /next is already waiting");
		return;
	}
	rt->parked = req;
	http_request_set_close_cb(req, next_close_cb, rt);
	rt->ops->next_cb(rt->arg);
}

static void handle_complete(struct rtapi *rt, struct http_request *req, const char *id, bool is_error)
{
	struct evbuffer *body = http_request_body(req);
	int code = rtapi_sm_complete(&rt->sm, id);
	if (code != 202) {
		reply_error(req, 403, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (!is_error &&
	    (http_request_body_overflow(req) || evbuffer_get_length(body) > RTAPI_MAX_RESPONSE)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_RESPONSE);
		reply_error(req, 413, "RequestEntityTooLarge", msg);
		rt->ops->too_large_cb(rt->arg, id);
		return;
	}
	const char *etype = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
	char idcopy[64];
	snprintf(idcopy, sizeof(idcopy), "%s", id);
	if (is_error)
		rt->ops->error_cb(rt->arg, idcopy, etype, body);
	else
		rt->ops->response_cb(rt->arg, idcopy, body);
	if (!rt->dead)
		reply_json(req, 202, "{\"status\":\"OK\"}");
}

static void handle_init_error(struct rtapi *rt, struct http_request *req)
{
	if (rtapi_sm_init_error(&rt->sm) != 202) {
		reply_error(req, 403, "InvalidStateTransition", "init/error after initialization");
		return;
	}
	const char *etype = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
	rt->ops->init_error_cb(rt->arg, etype, http_request_body(req));
	if (!rt->dead)
		reply_json(req, 202, "{\"status\":\"OK\"}");
}

enum route { R_NONE, R_NEXT, R_INIT_ERROR, R_RESPONSE, R_ERROR };

/* Splits a path into a route and, for /invocation/{id}/..., the id (into id). */
static enum route route_of(const char *target, char *id, size_t idsize)
{
	size_t n = strlen(target);
	size_t pl = strlen(PREFIX);
	if (n >= 256 || n < pl || strncmp(target, PREFIX, pl) != 0)
		return R_NONE;
	char path[256];
	memcpy(path, target + pl, n - pl);
	path[n - pl] = 0;
	if (strcmp(path, "invocation/next") == 0)
		return R_NEXT;
	if (strcmp(path, "init/error") == 0)
		return R_INIT_ERROR;
	if (strncmp(path, "invocation/", 11) != 0)
		return R_NONE;
	char *s = path + 11;
	char *slash = strchr(s, '/');
	if (!slash || slash == s || (strcmp(slash, "/response") != 0 && strcmp(slash, "/error") != 0))
		return R_NONE;
	bool err = strcmp(slash, "/error") == 0;
	*slash = 0;
	snprintf(id, idsize, "%s", s);
	return err ? R_ERROR : R_RESPONSE;
}

/* A whole request is in: serve it. */
static void dispatch_cb(void *arg, struct http_request *req)
{
	struct rtapi *rt = arg;
	if (rt->dead)
		return reply_fatal(req, 410, "EnvironmentGone", "the environment is shutting down");
	char id[256] = "";
	enum route r = route_of(http_request_path(req), id, sizeof(id));
	const char *method = http_request_method(req);
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	if (r == R_NONE)
		return reply_error(req, 404, "NotFound", "unknown path");
	if (r == R_NEXT && !get)
		return reply_error(req, 405, "MethodNotAllowed", "use GET");
	if (r != R_NEXT && !post)
		return reply_error(req, 405, "MethodNotAllowed", "use POST");
	if (http_request_body_overflow(req) && r != R_RESPONSE)
		return reply_fatal(req, 413, "RequestEntityTooLarge", "request body too large");
	switch (r) {
	case R_NEXT:
		return handle_next(rt, req);
	case R_INIT_ERROR:
		return handle_init_error(rt, req);
	case R_RESPONSE:
	case R_ERROR:
		return handle_complete(rt, req, id, r == R_ERROR);
	default:
		return;
	}
}

static const struct http_body_ops buffered_ops = {.end_cb = dispatch_cb};

/* A streamed response's headers are in: open the stream, or refuse it (and close, as
 * its body is not read). Returns whether the body is to be read as a stream. */
static bool stream_open(struct rtapi *rt, struct http_request *req)
{
	char id[256] = "";
	if (rt->dead) {
		reply_fatal(req, 410, "EnvironmentGone", "the environment is shutting down");
		return false;
	}
	if (route_of(http_request_path(req), id, sizeof(id)) != R_RESPONSE ||
	    strcmp(http_request_method(req), "POST") != 0) {
		reply_fatal(req, 404, "NotFound", "streaming is for POST /invocation/{id}/response");
		return false;
	}
	if (strlen(id) >= sizeof(rt->stream_id) || rtapi_sm_stream_begin(&rt->sm, id) != 202) {
		reply_fatal(req, 403, "InvalidRequestID", "Invalid request ID");
		return false;
	}
	snprintf(rt->stream_id, sizeof(rt->stream_id), "%s", id);
	rt->streaming = true;
	const char *ct = http_request_header(req, "Content-Type");
	rt->ops->stream_begin_cb(rt->arg, rt->stream_id, ct && *ct ? ct : "application/octet-stream");
	return !rt->dead;
}

/* The header fields are in: the body is buffered (up to the route's limit) for the
 * route's handler, or relayed as a stream. */
static void request_cb(void *arg, struct http_request *req)
{
	struct rtapi *rt = arg;
	const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");
	if (mode && strcasecmp(mode, "streaming") == 0) {
		if (stream_open(rt, req)) {
			rt->stream_req = req;
			http_request_read_body(req, HTTP_BODY_STREAM, 0, &stream_ops, rt);
		}
		return;
	}
	char id[256];
	uint64_t limit =
	    route_of(http_request_path(req), id, sizeof(id)) == R_RESPONSE ? RTAPI_MAX_RESPONSE : BODY_MAX;
	http_request_read_body(req, HTTP_BODY_BUFFER, limit, &buffered_ops, rt);
}

/* What the engine refuses is answered in the Runtime API's error format. */
static void error_cb(void *arg, struct http_request *req, int status, enum http_error err, const char *msg)
{
	char text[160];
	if (err == HTTP_E_BODY_TOO_LARGE) {
		snprintf(text, sizeof(text), "Exceeded maximum allowed payload size (%u bytes).",
		         RTAPI_MAX_STREAM);
		msg = text;
	}
	reply_fatal(req, status, status == 413 ? "RequestEntityTooLarge" : "BadRequest", msg);
}

static const struct http_server_ops server_ops = {
    .request_cb = request_cb,
    .error_cb = error_cb,
};

/* ---- public ---- */

int rtapi_serve_fd(struct rtapi *rt, int fd)
{
	if (rt->dead) { /* the server may be gone already */
		close(fd);
		return -ESHUTDOWN;
	}
	return http_server_serve_fd(rt->srv, fd);
}

int rtapi_new(struct event_base *base, int listen_fd, const struct rtapi_ops *ops, void *arg,
              struct rtapi **out, struct err *errp)
{
	struct rtapi *rt = xcalloc(1, sizeof(*rt));
	rt->base = base;
	rt->ops = ops;
	rt->arg = arg;
	rtapi_sm_init(&rt->sm);
	/* Any Content-Length up to the stream limit is read: a response over 6 MB is
	 * refused with 413 once read, and the connection goes on. */
	struct http_server_cfg cfg = {.body_max = RTAPI_MAX_STREAM};
	rt->srv = http_server_new(base, &cfg, &server_ops, rt);
	if (listen_fd >= 0) { /* else connections come through rtapi_serve_fd only */
		int r = http_server_listen_fd(rt->srv, listen_fd, errp);
		if (r < 0) {
			http_server_free(rt->srv);
			free(rt);
			return err_wrap(errp, "cannot serve the runtime API socket");
		}
	}
	*out = rt;
	return 0;
}

int rtapi_stream_pause(struct rtapi *rt, bool paused)
{
	if (!rt->streaming || !rt->stream_req)
		return -ENOENT;
	http_request_pause_body(rt->stream_req, paused);
	return 0;
}

bool rtapi_ready(const struct rtapi *rt)
{
	return rt->parked != NULL && !rt->dead;
}

int rtapi_deliver(struct rtapi *rt, const struct rtapi_event *ev)
{
	struct http_request *req = rt->parked;
	if (!req || rt->dead || rtapi_sm_deliver(&rt->sm, ev->request_id) < 0)
		return -EAGAIN;
	rt->parked = NULL;
	http_request_set_close_cb(req, NULL, NULL);
	/* Header values come from lambdad, but the client context and identity from the
	 * caller: they were checked as JSON, whose text holds no raw CR or LF. */
	char deadline[32];
	snprintf(deadline, sizeof(deadline), "%lld", (long long)ev->deadline_ms);
	http_response_add_header(req, "Content-Type", "application/json");
	http_response_add_header(req, "Lambda-Runtime-Aws-Request-Id", ev->request_id);
	http_response_add_header(req, "Lambda-Runtime-Deadline-Ms", deadline);
	http_response_add_header(req, "Lambda-Runtime-Invoked-Function-Arn", ev->function_arn);
	http_response_add_header(req, "Lambda-Runtime-Trace-Id", ev->trace_id);
	if (ev->client_context)
		http_response_add_header(req, "Lambda-Runtime-Client-Context", ev->client_context);
	if (ev->cognito_identity)
		http_response_add_header(req, "Lambda-Runtime-Cognito-Identity", ev->cognito_identity);
	http_reply(req, 200, ev->payload);
	return 0;
}

static void deferred_free_cb(evutil_socket_t fd, short what, void *arg)
{
	free(arg);
}

void rtapi_free(struct rtapi *rt)
{
	if (!rt || rt->dead)
		return;
	rt->dead = true;
	rt->parked = NULL;
	http_server_free(rt->srv);
	/* rt may be on the stack of the callback that called this: freed on the next turn. */
	struct timeval zero = {0, 0};
	event_base_once(rt->base, -1, EV_TIMEOUT, deferred_free_cb, rt, &zero);
}
