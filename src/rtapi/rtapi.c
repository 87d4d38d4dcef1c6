/* One environment's Runtime API server (libevent evhttp on the environment's own listener). */
#include "rtapi/rtapi.h"

#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/2018-06-01/runtime/"

struct rtapi {
	struct event_base *base;
	struct evhttp *http;
	const struct rtapi_ops *ops;
	void *arg;
	struct rtapi_sm sm;
	struct evhttp_request *parked;		/* the waiting /next, if any */
	struct evhttp_connection *parked_conn;
	bool dead;
};

static void reply_json(struct evhttp_request *req, int code, const char *reason, const char *json)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, json, strlen(json));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void reply_error(struct evhttp_request *req, int code, const char *type, const char *msg)
{
	char body[512];
	snprintf(body, sizeof(body), "{\"errorMessage\":\"%s\",\"errorType\":\"%s\"}", msg, type);
	const char *reason = code == 400 ? "Bad Request" : code == 403 ? "Forbidden" : code == 404 ? "Not Found"
			   : code == 413 ? "Payload Too Large" : code == 405 ? "Method Not Allowed" : "Error";
	reply_json(req, code, reason, body);
}

static void parked_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct rtapi *rt = arg;
	if (rt->parked_conn != conn)
		return;
	/* The request was detached from its connection by libevent; it is ours to free. */
	evhttp_request_free(rt->parked);
	rt->parked = NULL;
	rt->parked_conn = NULL;
	rtapi_sm_unpark(&rt->sm);
}

static void handle_next(struct rtapi *rt, struct evhttp_request *req)
{
	int code = rtapi_sm_next(&rt->sm);
	if (code) {
		reply_error(req, code, "InvalidStateTransition",
			    rt->sm.state == RTAPI_FAILED ? "the environment reported an init error"
							 : "another /next is already waiting");
		return;
	}
	rt->parked = req;
	rt->parked_conn = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(rt->parked_conn, parked_closed_cb, rt);
	rt->ops->next_cb(rt->arg);
}

static void handle_complete(struct rtapi *rt, struct evhttp_request *req, const char *id, bool is_error)
{
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	int code = rtapi_sm_complete(&rt->sm, id);
	if (code != 202) {
		reply_error(req, 403, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (!is_error && evbuffer_get_length(body) > RTAPI_MAX_RESPONSE) {
		char msg[160];
		snprintf(msg, sizeof(msg), "Exceeded maximum allowed payload size (%u bytes).", RTAPI_MAX_RESPONSE);
		reply_error(req, 413, "RequestEntityTooLarge", msg);
		rt->ops->too_large_cb(rt->arg, id);
		return;
	}
	const char *etype = evhttp_find_header(evhttp_request_get_input_headers(req),
					       "Lambda-Runtime-Function-Error-Type");
	char idcopy[64];
	snprintf(idcopy, sizeof(idcopy), "%s", id);
	/* Hand the body over before replying: the reply may flush the request. */
	if (is_error)
		rt->ops->error_cb(rt->arg, idcopy, etype, body);
	else
		rt->ops->response_cb(rt->arg, idcopy, body);
	reply_json(req, 202, "Accepted", "{\"status\":\"OK\"}");
}

static void handle_init_error(struct rtapi *rt, struct evhttp_request *req)
{
	if (rtapi_sm_init_error(&rt->sm) != 202) {
		reply_error(req, 403, "InvalidStateTransition", "init/error after initialization");
		return;
	}
	const char *etype = evhttp_find_header(evhttp_request_get_input_headers(req),
					       "Lambda-Runtime-Function-Error-Type");
	rt->ops->init_error_cb(rt->arg, etype, evhttp_request_get_input_buffer(req));
	reply_json(req, 202, "Accepted", "{\"status\":\"OK\"}");
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct rtapi *rt = arg;
	if (rt->dead) {
		reply_error(req, 410, "EnvironmentGone", "the environment is shutting down");
		return;
	}
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char path[256];
	size_t n = strcspn(uri, "?");
	if (n >= sizeof(path) || strncmp(uri, PREFIX, strlen(PREFIX)) != 0) {
		reply_error(req, 404, "NotFound", "unknown path");
		return;
	}
	memcpy(path, uri + strlen(PREFIX), n - strlen(PREFIX));
	path[n - strlen(PREFIX)] = 0;
	if (strcmp(path, "invocation/next") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			return reply_error(req, 405, "MethodNotAllowed", "use GET");
		return handle_next(rt, req);
	}
	if (strcmp(path, "init/error") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			return reply_error(req, 405, "MethodNotAllowed", "use POST");
		return handle_init_error(rt, req);
	}
	if (strncmp(path, "invocation/", 11) == 0) {
		char *id = path + 11;
		char *slash = strchr(id, '/');
		if (slash && slash != id && (strcmp(slash, "/response") == 0 || strcmp(slash, "/error") == 0)) {
			if (cmd != EVHTTP_REQ_POST)
				return reply_error(req, 405, "MethodNotAllowed", "use POST");
			bool is_error = strcmp(slash, "/error") == 0;
			*slash = 0;
			return handle_complete(rt, req, id, is_error);
		}
	}
	reply_error(req, 404, "NotFound", "unknown path");
}

int rtapi_new(struct event_base *base, int listen_fd, const struct rtapi_ops *ops, void *arg, struct rtapi **out,
	      struct err *errp)
{
	struct rtapi *rt = xcalloc(1, sizeof(*rt));
	rt->base = base;
	rt->ops = ops;
	rt->arg = arg;
	rtapi_sm_init(&rt->sm);
	rt->http = evhttp_new(base);
	if (!rt->http) {
		free(rt);
		return err_make(errp, ENOMEM, "evhttp_new");
	}
	/* Bodies past the limit are refused by us with the runtime API's 413, so let a
	 * little more than the limit through to the handler. */
	evhttp_set_max_body_size(rt->http, 4 * (ev_ssize_t)RTAPI_MAX_RESPONSE);
	evhttp_set_timeout(rt->http, 24 * 3600);
	evhttp_set_allowed_methods(rt->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						     EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(rt->http, request_cb, rt);
	if (!evhttp_accept_socket_with_handle(rt->http, listen_fd)) {
		evhttp_free(rt->http);
		free(rt);
		return err_make(errp, EIO, "cannot serve the runtime API socket");
	}
	*out = rt;
	return 0;
}

bool rtapi_ready(const struct rtapi *rt) { return rt->parked != NULL && !rt->dead; }

int rtapi_deliver(struct rtapi *rt, const struct rtapi_event *ev)
{
	if (!rt->parked || rtapi_sm_deliver(&rt->sm, ev->request_id) < 0)
		return -EAGAIN;
	struct evhttp_request *req = rt->parked;
	evhttp_connection_set_closecb(rt->parked_conn, NULL, NULL);
	rt->parked = NULL;
	rt->parked_conn = NULL;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char deadline[32];
	snprintf(deadline, sizeof(deadline), "%lld", (long long)ev->deadline_ms);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Lambda-Runtime-Aws-Request-Id", ev->request_id);
	evhttp_add_header(h, "Lambda-Runtime-Deadline-Ms", deadline);
	evhttp_add_header(h, "Lambda-Runtime-Invoked-Function-Arn", ev->function_arn);
	evhttp_add_header(h, "Lambda-Runtime-Trace-Id", ev->trace_id);
	if (ev->client_context)
		evhttp_add_header(h, "Lambda-Runtime-Client-Context", ev->client_context);
	if (ev->cognito_identity)
		evhttp_add_header(h, "Lambda-Runtime-Cognito-Identity", ev->cognito_identity);
	evhttp_send_reply(req, 200, "OK", ev->payload);
	return 0;
}

static void deferred_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rtapi *rt = arg;
	evhttp_free(rt->http);
	free(rt);
}

void rtapi_free(struct rtapi *rt)
{
	if (!rt || rt->dead)
		return;
	rt->dead = true;
	if (rt->parked_conn)
		evhttp_connection_set_closecb(rt->parked_conn, NULL, NULL);
	rt->parked = NULL;
	rt->parked_conn = NULL;
	struct timeval zero = {0, 0};
	event_base_once(rt->base, -1, EV_TIMEOUT, deferred_free_cb, rt, &zero);
}
