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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "base/codec.h"
#include "rtapi/telemetry.h"

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
	/* Extensions: each one's parked event/next, the function they are told of, and
	 * the SHUTDOWN event once it is sent. */
	struct http_request *ext_parked[RTAPI_EXT_MAX];
	char *fn_name, *fn_version, *fn_handler, *fn_account;
	char shutdown_reason[16];
	int64_t shutdown_deadline_ms;
	struct telem *telem; /* Telemetry API subscriptions */
};

static void ext_ready_changed(struct rtapi *rt, bool was_ready, bool was_busy);

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
	/* With extensions, the runtime waits until they are ready too (the end of init,
	 * or their part of the last invocation). */
	if (rtapi_sm_ready(&rt->sm))
		rt->ops->next_cb(rt->arg);
}

/* ---- the Extensions API ---- */

#define EXT_PREFIX "/2020-01-01/extension/"

static void ext_reply_error(struct http_request *req, int code, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void ext_reply_error(struct http_request *req, int code, const char *type, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A message quoting what the extension sent may not be UTF-8 (or be cut inside a
	 * character): it then says only what failed. */
	json_t *o = json_pack("{s:s, s:s}", "errorMessage", msg, "errorType", type);
	if (!o)
		o = json_pack("{s:s, s:s}", "errorMessage", "the request was refused (its text is not UTF-8)",
		              "errorType", type);
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply_json(req, code, txt);
	free(txt);
}

static void reply_json_obj(struct http_request *req, int code, json_t *o)
{
	if (!o) {
		reply_error(req, 500, "ServiceException", "the answer could not be encoded");
		return;
	}
	char *txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply_json(req, code, txt);
	free(txt);
}

/* The extension that sent req (Lambda-Extension-Identifier), or -1 after answering. */
static int ext_of(struct rtapi *rt, struct http_request *req)
{
	const char *id = http_request_header(req, "Lambda-Extension-Identifier");
	if (!id || !*id) {
		ext_reply_error(req, 403, "Extension.MissingHeader",
		                "Missing Lambda-Extension-Identifier header");
		return -1;
	}
	int i = rtapi_sm_ext_find(&rt->sm, id);
	if (i < 0)
		ext_reply_error(req, 403, "Extension.UnknownExtensionIdentifier", "Unknown extension %.64s",
		                id);
	return i;
}

static void handle_ext_register(struct rtapi *rt, struct http_request *req)
{
	const char *name = http_request_header(req, "Lambda-Extension-Name");
	if (!name || !*name)
		return ext_reply_error(req, 400, "Extension.MissingHeader",
		                       "Missing Lambda-Extension-Name header");
	bool printable = true;
	for (const char *p = name; *p; p++)
		printable = printable && *p > ' ' && *p < 0x7f && *p != '/';
	if (strlen(name) >= sizeof(rt->sm.ext[0].name) || !printable)
		return ext_reply_error(req, 400, "Extension.InvalidExtensionName",
		                       "Lambda-Extension-Name must be the extension's file name, "
		                       "under 64 printable characters");
	struct evbuffer *b = http_request_body(req);
	size_t len = evbuffer_get_length(b);
	json_error_t je;
	json_t *o = json_loadb((const char *)evbuffer_pullup(b, -1), len, 0, &je);
	json_t *evs = json_object_get(o, "events");
	if (!json_is_object(o) || (evs && !json_is_array(evs))) {
		json_decref(o);
		return ext_reply_error(req, 400, "InvalidRequestFormat",
		                       "the body must be a JSON object {\"events\": [...]}");
	}
	unsigned events = 0;
	size_t k;
	json_t *v;
	json_array_foreach(evs, k, v) {
		const char *e = json_string_value(v);
		if (e && strcmp(e, "INVOKE") == 0)
			events |= RTAPI_EXT_INVOKE;
		else if (e && strcmp(e, "SHUTDOWN") == 0)
			events |= RTAPI_EXT_SHUTDOWN;
		else {
			ext_reply_error(req, 400, "Extension.InvalidEventType",
			                "events: %.40s is not INVOKE or SHUTDOWN", e ? e : "(not a string)");
			json_decref(o);
			return;
		}
	}
	json_decref(o);
	if (rt->sm.state != RTAPI_INIT || rt->sm.shutdown)
		return ext_reply_error(req, 403, "Extension.RegistrationClosed",
		                       "extensions register during the Init phase only");
	if (rt->sm.n_ext >= RTAPI_EXT_MAX)
		return ext_reply_error(req, 403, "Extension.TooManyExtensions",
		                       "at most %d extensions register", RTAPI_EXT_MAX);
	char id[37];
	uuid_v4(id);
	if (rtapi_sm_ext_register(&rt->sm, name, events, id) != 200)
		return ext_reply_error(req, 403, "Extension.InvalidExtensionName",
		                       "an extension named %s is registered already", name);
	http_response_add_header(req, "Lambda-Extension-Identifier", id);
	reply_json_obj(req, 200,
	               json_pack("{s:s, s:s, s:s, s:s}", "functionName", rt->fn_name ? rt->fn_name : "",
	                         "functionVersion", rt->fn_version ? rt->fn_version : "$LATEST", "handler",
	                         rt->fn_handler ? rt->fn_handler : "", "accountId",
	                         rt->fn_account ? rt->fn_account : ""));
}

static void ext_next_close_cb(void *arg, struct http_request *req)
{
	struct rtapi *rt = arg;
	for (unsigned i = 0; i < rt->sm.n_ext; i++)
		if (rt->ext_parked[i] == req) {
			rt->ext_parked[i] = NULL;
			rtapi_sm_ext_unpark(&rt->sm, (int)i);
		}
}

/* Answers extension i's parked event/next with ev (taken). */
static void ext_send(struct rtapi *rt, int i, json_t *ev)
{
	struct http_request *req = rt->ext_parked[i];
	rt->ext_parked[i] = NULL;
	http_request_set_close_cb(req, NULL, NULL);
	char eid[37];
	uuid_v4(eid);
	http_response_add_header(req, "Lambda-Extension-Event-Identifier", eid);
	reply_json_obj(req, 200, ev);
}

static json_t *shutdown_event(const struct rtapi *rt)
{
	return json_pack("{s:s, s:s, s:I}", "eventType", "SHUTDOWN", "shutdownReason", rt->shutdown_reason,
	                 "deadlineMs", (json_int_t)rt->shutdown_deadline_ms);
}

static void handle_ext_next(struct rtapi *rt, struct http_request *req)
{
	int i = ext_of(rt, req);
	if (i < 0)
		return;
	bool was_ready = rtapi_sm_ready(&rt->sm), was_busy = rtapi_sm_ext_busy(&rt->sm);
	int code = rtapi_sm_ext_next(&rt->sm, i);
	if (code == 400)
		return ext_reply_error(req, 400, "Extension.InvalidExtensionState",
		                       "another event/next of %s is already waiting", rt->sm.ext[i].name);
	rt->ext_parked[i] = req;
	http_request_set_close_cb(req, ext_next_close_cb, rt);
	if (code == 1) { /* SHUTDOWN was owed to it */
		rt->sm.ext[i].parked = false;
		ext_send(rt, i, shutdown_event(rt));
		return;
	}
	ext_ready_changed(rt, was_ready, was_busy);
}

static void handle_ext_error(struct rtapi *rt, struct http_request *req, bool init)
{
	int i = ext_of(rt, req);
	if (i < 0)
		return;
	int code = init ? rtapi_sm_ext_init_error(&rt->sm, i) : rtapi_sm_ext_exit_error(&rt->sm, i);
	if (code != 202)
		return ext_reply_error(req, 403, "Extension.InvalidExtensionState",
		                       "init/error after the Init phase");
	const char *etype = http_request_header(req, "Lambda-Extension-Function-Error-Type");
	char name[64];
	snprintf(name, sizeof(name), "%s", rt->sm.ext[i].name);
	if (rt->ops->ext_error_cb)
		rt->ops->ext_error_cb(rt->arg, name, init, etype && *etype ? etype : "Extension.Unknown");
	if (!rt->dead)
		reply_json(req, 202, "{\"status\":\"OK\"}");
}

/* After an extension's event/next: the last busy one is done (ext_done_cb), and the
 * environment may be ready for an event now (next_cb). */
static void ext_ready_changed(struct rtapi *rt, bool was_ready, bool was_busy)
{
	if (was_busy && !rtapi_sm_ext_busy(&rt->sm) && rt->ops->ext_done_cb) {
		rt->ops->ext_done_cb(rt->arg);
		if (rt->dead)
			return;
	}
	if (!was_ready && rtapi_sm_ready(&rt->sm))
		rt->ops->next_cb(rt->arg);
}

/* PUT /2022-07-01/telemetry or /2020-08-15/logs. */
static void handle_subscribe(struct rtapi *rt, struct http_request *req, bool logs_api)
{
	int i = ext_of(rt, req);
	if (i < 0)
		return;
	struct evbuffer *b = http_request_body(req);
	char msg[256];
	int code =
	    telem_subscribe(rt->telem, rt->sm.ext[i].id, logs_api, (const char *)evbuffer_pullup(b, -1),
	                    evbuffer_get_length(b), msg, sizeof(msg));
	if (code != 200)
		return ext_reply_error(req, code, "ValidationError", "%s", msg);
	struct evbuffer *ok = evbuffer_new();
	evbuffer_add(ok, "OK", 2);
	http_reply(req, 200, ok);
	evbuffer_free(ok);
}

/* Extensions and the Telemetry API: whether path is theirs (then req was answered). */
static bool dispatch_ext(struct rtapi *rt, struct http_request *req, const char *path, const char *method)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	if (strncmp(path, EXT_PREFIX, strlen(EXT_PREFIX)) == 0) {
		const char *p = path + strlen(EXT_PREFIX);
		if (strcmp(p, "register") == 0 && post)
			handle_ext_register(rt, req);
		else if (strcmp(p, "event/next") == 0 && get)
			handle_ext_next(rt, req);
		else if (strcmp(p, "init/error") == 0 && post)
			handle_ext_error(rt, req, true);
		else if (strcmp(p, "exit/error") == 0 && post)
			handle_ext_error(rt, req, false);
		else
			reply_error(req, 404, "NotFound", "unknown path");
		return true;
	}
	bool telemetry = strcmp(path, "/2022-07-01/telemetry") == 0;
	if (telemetry || strcmp(path, "/2020-08-15/logs") == 0) {
		if (strcmp(method, "PUT") != 0)
			reply_error(req, 405, "MethodNotAllowed", "use PUT");
		else
			handle_subscribe(rt, req, !telemetry);
		return true;
	}
	return false;
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
	if (r == R_NONE && !http_request_body_overflow(req) &&
	    dispatch_ext(rt, req, http_request_path(req), method))
		return;
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
	rt->telem = telem_new(base);
	/* Any Content-Length up to the stream limit is read: a response over 6 MB is
	 * refused with 413 once read, and the connection goes on. */
	struct http_server_cfg cfg = {.body_max = RTAPI_MAX_STREAM};
	rt->srv = http_server_new(base, &cfg, &server_ops, rt);
	if (listen_fd >= 0) { /* else connections come through rtapi_serve_fd only */
		int r = http_server_listen_fd(rt->srv, listen_fd, errp);
		if (r < 0) {
			http_server_free(rt->srv);
			telem_free(rt->telem);
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
	return rt->parked != NULL && !rt->dead && rtapi_sm_ready(&rt->sm);
}

void rtapi_set_function(struct rtapi *rt, const struct rtapi_function *fn)
{
	free(rt->fn_name);
	free(rt->fn_version);
	free(rt->fn_handler);
	free(rt->fn_account);
	rt->fn_name = xstrdup(fn->name);
	rt->fn_version = xstrdup(fn->version);
	rt->fn_handler = xstrdup(fn->handler);
	rt->fn_account = xstrdup(fn->account);
}

void rtapi_set_socket_fn(struct rtapi *rt,
                         int (*fn)(void *arg, void (*cb)(void *cb_arg, int fd), void *cb_arg), void *arg)
{
	telem_set_socket_fn(rt->telem, fn, arg);
}

void rtapi_telemetry(struct rtapi *rt, unsigned type, const char *name, json_t *record)
{
	if (!rtapi_telemetry_wanted(rt) || (!telem_subscribed(rt->telem) && type != TELEM_PLATFORM)) {
		json_decref(record);
		return;
	}
	telem_emit(rt->telem, type, name, record);
}

bool rtapi_telemetry_wanted(const struct rtapi *rt)
{
	/* During init, with extensions to come, platform events are kept for them. */
	return !rt->dead &&
	       (telem_subscribed(rt->telem) || (rt->sm.state == RTAPI_INIT && rt->sm.ext_expected > 0));
}

bool rtapi_telemetry_flush(struct rtapi *rt)
{
	if (rt->dead || !telem_pending(rt->telem))
		return false;
	telem_flush(rt->telem);
	return telem_pending(rt->telem);
}

void rtapi_expect_extensions(struct rtapi *rt, unsigned n)
{
	rt->sm.ext_expected = n > RTAPI_EXT_MAX ? RTAPI_EXT_MAX : n;
}

void rtapi_ext_exited(struct rtapi *rt, const char *name)
{
	if (rt->dead)
		return;
	bool was_ready = rtapi_sm_ready(&rt->sm), was_busy = rtapi_sm_ext_busy(&rt->sm);
	bool init = rt->sm.state == RTAPI_INIT && !rt->sm.shutdown;
	int i = -1;
	for (unsigned k = 0; k < rt->sm.n_ext; k++)
		if (strcmp(rt->sm.ext[k].name, name) == 0)
			i = (int)k;
	if (i >= 0) {
		if (rt->ext_parked[i]) {
			http_request_set_close_cb(rt->ext_parked[i], NULL, NULL);
			rt->ext_parked[i] = NULL;
		}
		rtapi_sm_ext_gone(&rt->sm, i);
	}
	if (!rt->sm.shutdown && rt->ops->ext_error_cb) {
		if (init)
			rt->sm.state = RTAPI_FAILED;
		rt->ops->ext_error_cb(rt->arg, name, init, "Extension.Crash");
		if (rt->dead)
			return;
	}
	if (i >= 0)
		ext_ready_changed(rt, was_ready, was_busy);
}

bool rtapi_ext_busy(const struct rtapi *rt)
{
	return rtapi_sm_ext_busy(&rt->sm);
}

bool rtapi_wants_shutdown(const struct rtapi *rt)
{
	return !rt->dead && rtapi_sm_wants_shutdown(&rt->sm);
}

unsigned rtapi_shutdown(struct rtapi *rt, const char *reason, int64_t deadline_ms)
{
	if (rt->dead || rt->sm.shutdown)
		return 0;
	snprintf(rt->shutdown_reason, sizeof(rt->shutdown_reason), "%s", reason);
	rt->shutdown_deadline_ms = deadline_ms;
	telem_flush(rt->telem); /* what is queued goes before the end */
	unsigned n = rtapi_sm_shutdown(&rt->sm);
	for (unsigned i = 0; i < rt->sm.n_ext; i++)
		if (rt->ext_parked[i] && rtapi_sm_ext_take_shutdown(&rt->sm, (int)i) == 0)
			ext_send(rt, (int)i, shutdown_event(rt));
	return n;
}

int rtapi_deliver(struct rtapi *rt, const struct rtapi_event *ev)
{
	struct http_request *req = rt->parked;
	struct http_request *ext_reqs[RTAPI_EXT_MAX] = {0};
	memcpy(ext_reqs, rt->ext_parked, sizeof(ext_reqs));
	if (!req || rt->dead || rtapi_sm_deliver(&rt->sm, ev->request_id) < 0)
		return -EAGAIN;
	telem_init_over(rt->telem);
	/* The extensions registered for INVOKE hear of it first (the state machine has
	 * marked them busy). */
	for (unsigned i = 0; i < rt->sm.n_ext; i++) {
		if (!(rt->sm.ext[i].events & RTAPI_EXT_INVOKE) || !ext_reqs[i])
			continue;
		rt->ext_parked[i] = ext_reqs[i];
		ext_send(rt, (int)i,
		         json_pack("{s:s, s:I, s:s, s:s, s:{s:s, s:s}}", "eventType", "INVOKE", "deadlineMs",
		                   (json_int_t)ev->deadline_ms, "requestId", ev->request_id,
		                   "invokedFunctionArn", ev->function_arn, "tracing", "type",
		                   "X-Amzn-Trace-Id", "value", ev->trace_id));
	}
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
	struct rtapi *rt = arg;
	free(rt->fn_name);
	free(rt->fn_version);
	free(rt->fn_handler);
	free(rt->fn_account);
	free(rt);
}

void rtapi_free(struct rtapi *rt)
{
	if (!rt || rt->dead)
		return;
	rt->dead = true;
	rt->parked = NULL;
	memset(rt->ext_parked, 0, sizeof(rt->ext_parked));
	http_server_free(rt->srv);
	telem_free(rt->telem);
	rt->telem = NULL;
	/* rt may be on the stack of the callback that called this: freed on the next turn. */
	struct timeval zero = {0, 0};
	event_base_once(rt->base, -1, EV_TIMEOUT, deferred_free_cb, rt, &zero);
}
