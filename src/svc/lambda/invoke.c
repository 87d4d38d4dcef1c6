/* Invoke: RequestResponse, Event (the asynchronous queue) and DryRun; and
 * InvokeWithResponseStream, whose answer stream.c frames. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>

#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "base/codec.h"

#define SYNC_PAYLOAD_MAX 6291456u /* 6 MB */
#define CLIENT_CONTEXT_MAX 3583u

static void invoke_done_cb(const struct sched_result *res, void *arg)
{
	struct front_req *req = arg;
	if (res->system_error) /* lambdad failed (it is stopping), not the function: SDKs retry a 500 */
		return api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "lambdad is shutting down; retry");
	front_reply_header(req, "Content-Type", "application/json");
	front_reply_header(req, "x-amzn-RequestId", res->request_id);
	if (res->function_error)
		front_reply_header(req, "X-Amz-Function-Error", "Unhandled");
	if (res->log_tail) {
		autofree char *b64 = b64_encode(res->log_tail, res->log_tail_len);
		front_reply_header(req, "X-Amz-Log-Result", b64);
	}
	front_reply(req, 200, res->body);
}

/* An empty payload is {}; anything else must be JSON, or the request is answered 400
 * and false returned. */
static bool payload_json(struct front_req *req, struct evbuffer *payload)
{
	size_t plen = evbuffer_get_length(payload);
	if (plen == 0)
		return evbuffer_add(payload, "{}", 2), true;
	json_error_t je;
	json_t *o = json_loadb((const char *)evbuffer_pullup(payload, -1), plen, JSON_DECODE_ANY, &je);
	if (!o) {
		api__reply_error(req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
		                 "Could not parse request body into json: %s (line %d, column %d)", je.text,
		                 je.line, je.column);
		return false;
	}
	json_decref(o);
	return true;
}

/* Answers an Event invocation once the queue has stored it (status 0) or could not:
 * 202 with its request id and an empty body (InvokeAsync: {"Status":202}), or 500. */
static void accepted_reply(struct front_req *req, int status, const char *request_id, bool legacy)
{
	front_reply_header(req, "x-amzn-RequestId", request_id);
	if (status < 0)
		return api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "the event could not be stored");
	struct evbuffer *b = evbuffer_new();
	if (legacy) {
		front_reply_header(req, "Content-Type", "application/json");
		evbuffer_add_printf(b, "{\"Status\":202}");
		front_reply(req, 202, b);
	} else {
		front_reply(req, 202, b);
	}
	evbuffer_free(b);
}

static void event_accepted_cb(int status, const char *request_id, void *arg)
{
	accepted_reply(arg, status, request_id, false);
}

static void legacy_accepted_cb(int status, const char *request_id, void *arg)
{
	accepted_reply(arg, status, request_id, true);
}

/* Hands the request body to the queue (drained), answered by cb. */
static void enqueue(struct api *a, struct api_req *r, const char *name, struct evbuffer *payload,
                    async_accepted_cb cb)
{
	size_t len = evbuffer_get_length(payload);
	async_enqueue(a->async, name, len ? evbuffer_pullup(payload, -1) : NULL, len, cb, r->req);
	evbuffer_drain(payload, len);
}

/* The deprecated InvokeAsync (POST /2014-11-13/functions/{Name}/invoke-async/): an
 * Event invocation with a 256 KB limit, answered 202 {"Status":202}. */
void api__invoke_async(struct api *a, struct api_req *r)
{
	struct evbuffer *payload = front_req_body(r->req);
	if (evbuffer_get_length(payload) > ASYNC_LEGACY_PAYLOAD_MAX)
		return api__reply_error(r->req, LAMBDA_ERR_REQUEST_TOO_LARGE, NULL,
		                        "Request must be smaller than %u bytes for the InvokeAsync operation",
		                        ASYNC_LEGACY_PAYLOAD_MAX);
	char name[FN_NAME_MAX + 1];
	if (!api__lookup(a, r, api__param(r, "FunctionName"), name) || !payload_json(r->req, payload))
		return;
	enqueue(a, r, name, payload, legacy_accepted_cb);
}

/* Lambda's Reason for a throttle of the scheduler's (an enum sched_throttle). */
static const char *throttle_reason(int reason)
{
	return reason == SCHED_THROTTLE_RESERVED ? "ReservedFunctionConcurrentInvocationLimitExceeded"
	                                         : "ConcurrentInvocationLimitExceeded";
}

void api__reply_invoke_refused(struct front_req *req, int rc, const struct err *e)
{
	if (rc == -EAGAIN) {
		front_reply_header(req, "Retry-After", "1");
		return api__reply_error(
		    req, LAMBDA_ERR_TOO_MANY_REQUESTS,
		    json_pack("{s:s, s:s}", "Reason", throttle_reason(e->reason), "retryAfterSeconds", "1"),
		    "Rate Exceeded.");
	}
	api__reply_err(req, e);
}

/* Invoke, or InvokeWithResponseStream (stream: no Event type, and the answer is an event
 * stream). */
static void invoke(struct api *a, struct api_req *r, bool stream)
{
	const char *type = front_req_header(r->req, "X-Amz-Invocation-Type");
	if (!type)
		type = "RequestResponse";
	static const char *const types[] = {"Event", "RequestResponse", "DryRun", NULL};
	static const char *const stream_types[] = {"RequestResponse", "DryRun", NULL};
	static const char *const logtypes[] = {"Tail", "None", NULL};
	const char *const *allowed = stream ? stream_types : types;
	struct err ve = {0};
	const char *logtype = front_req_header(r->req, "X-Amz-Log-Type");
	if (err_svc_enum(&ve, LAMBDA_ERR_VALIDATION, "invocationType", type, allowed) < 0 ||
	    (logtype && err_svc_enum(&ve, LAMBDA_ERR_VALIDATION, "logType", logtype, logtypes) < 0))
		return api__reply_err(r->req, &ve);
	struct evbuffer *payload = front_req_body(r->req);
	size_t plen = evbuffer_get_length(payload);
	bool event = strcmp(type, "Event") == 0;
	if (plen > (event ? ASYNC_PAYLOAD_MAX : SYNC_PAYLOAD_MAX))
		return api__reply_error(
		    r->req, LAMBDA_ERR_REQUEST_TOO_LARGE, NULL,
		    "Request must be smaller than %u bytes for the InvokeFunction operation",
		    event ? ASYNC_PAYLOAD_MAX : SYNC_PAYLOAD_MAX);
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	const char *executed = FN_LATEST;
	/* An alias's weights pick the version here, once per invocation. */
	struct fn_config *c =
	    api__lookup_qual(a, r, api__param(r, "FunctionName"), name, qual, true, &executed);
	if (!c)
		return;
	front_reply_header(r->req, "X-Amz-Executed-Version", executed);
	if (strcmp(type, "DryRun") == 0)
		return api__reply_json(r->req, 204, NULL);
	if (!payload_json(r->req, payload))
		return;
	/* Answered 202 once the event is committed with this loop pass's group. The client
	 * context and the log tail apply to synchronous invocations only, as on Lambda. */
	if (event) {
		/* Queued under "name:qualifier" for a version or an alias: its own event invoke
		 * config, and an alias's weights pick the version at each attempt. */
		autofree char *key =
		    qual[0] && strcmp(qual, FN_LATEST) != 0 ? xasprintf("%s:%s", name, qual) : xstrdup(name);
		return enqueue(a, r, key, payload, event_accepted_cb);
	}
	autofree char *ctx = NULL;
	const char *ctx64 = front_req_header(r->req, "X-Amz-Client-Context");
	if (ctx64) {
		size_t n;
		ctx = (char *)(strlen(ctx64) <= CLIENT_CONTEXT_MAX ? b64_decode(ctx64, strlen(ctx64), &n)
		                                                   : NULL);
		json_t *o = ctx ? (ctx = xrealloc(ctx, n + 1), ctx[n] = 0, json_loads(ctx, 0, NULL)) : NULL;
		bool ok = json_is_object(o);
		json_decref(o);
		if (!ok)
			return api__reply_error(
			    r->req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
			    "Client context must be a base64-encoded JSON object of at most %u bytes",
			    CLIENT_CONTEXT_MAX);
	}
	autofree char *invoked = qual[0] ? fn_arn_qualified(name, qual, a->region, a->account) : NULL;
	struct sched_invoke_args args = {
	    .cfg = c,
	    .invoked_arn = invoked,
	    .payload = payload,
	    .client_context = ctx,
	    .want_tail = logtype && strcmp(logtype, "Tail") == 0,
	    .cb = invoke_done_cb,
	    .arg = r->req,
	};
	if (stream)
		return api__invoke_events(a, r->req, &args);
	struct err e = {0};
	int rc = sched_invoke(a->sched, &args, &e);
	if (rc < 0)
		api__reply_invoke_refused(r->req, rc, &e);
}

void api__invoke(struct api *a, struct api_req *r)
{
	invoke(a, r, false);
}

void api__invoke_with_response_stream(struct api *a, struct api_req *r)
{
	invoke(a, r, true);
}
