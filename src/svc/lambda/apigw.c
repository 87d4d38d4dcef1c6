/* HTTP APIs (API Gateway v2): the control plane under /v2/apis as the AWS CLI's
 * apigatewayv2 speaks it, and the data plane that routes a request on
 * <api-id>.execute-api.localhost or /apis/<api-id>/ to a function (Lambda proxy). */
#include <errno.h>
#include <event2/http.h> /* header lists (evkeyvalq) */
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "svc/lambda/api_int.h"
#include "proto/proto.h"
#include "svc/apigw/apigw.h"
#include "base/codec.h"
#include "integ/cors.h"
#include "integ/proxy.h"

/* Lambda's limit on a synchronous invocation's payload: a larger body makes an event
 * that no function could take. */
#define GW_MAX_BODY (6u * 1024 * 1024)

/* ---- Control plane ---- */

static void gw_error(struct front_req *req, enum apigw_err id, const char *msg)
{
	proto_reply_error(req, PROTO_REST_JSON, 0, &apigw_errors[id], NULL, msg);
}

/* The one place where the control plane turns an error into its reply: a service error
 * by its id in svc/apigw/errors.def; anything else (storage) is lambdad's fault. */
static void gw_reply_err(struct front_req *req, const struct err *e)
{
	if (e->svc > APIGW_ERR_NONE && e->svc < APIGW_ERR_COUNT)
		return gw_error(req, (enum apigw_err)e->svc, e->msg);
	log_error("apigw: %s", e->msg);
	gw_error(req, APIGW_ERR_INTERNAL, e->msg);
}

/* The request body as a JSON object, or NULL after a BadRequestException. */
static json_t *gw_body(struct front_req *req)
{
	struct evbuffer *b = front_req_body(req);
	size_t len = evbuffer_get_length(b);
	json_t *o = len ? json_loadb((const char *)evbuffer_pullup(b, -1), len, 0, NULL) : json_object();
	if (!json_is_object(o)) {
		json_decref(o);
		gw_error(req, APIGW_ERR_BAD_REQUEST, "Invalid request body: a JSON object is expected");
		return NULL;
	}
	return o;
}

/* Adds apiEndpoint to an API object: http://<id>.execute-api.localhost[:port], the port
 * being the one the client reached the control plane on. */
static json_t *with_endpoint(struct front_req *req, json_t *api)
{
	const char *host = front_req_header(req, "Host");
	const char *colon = host ? strrchr(host, ':') : NULL;
	const char *bracket = host ? strrchr(host, ']') : NULL;
	const char *port = colon && (!bracket || colon > bracket) ? colon : "";
	if (strspn(port + (port[0] == ':'), "0123456789") != strlen(port + (port[0] == ':')))
		port = "";
	const char *id = json_string_value(json_object_get(api, "apiId"));
	json_object_set_new(api, "apiEndpoint",
	                    json_sprintf("http://%s.execute-api.localhost%s", id ? id : "", port));
	return api;
}

static void reply_obj(struct api_req *r, int status, json_t *o, const struct err *e, bool is_api)
{
	if (!o)
		return gw_reply_err(r->req, e);
	api__reply_json(r->req, status, is_api ? with_endpoint(r->req, o) : o);
}

static void reply_items(struct api_req *r, json_t *arr, const struct err *e, bool is_api)
{
	if (!arr)
		return gw_reply_err(r->req, e);
	if (is_api) {
		size_t i;
		json_t *v;
		json_array_foreach(arr, i, v)
			with_endpoint(r->req, v);
	}
	api__reply_json(r->req, 200, json_pack("{s:o}", "items", arr));
}

/* The kind of a sub-resource operation's name (CreateIntegration, GetRoutes, ...), or -1. */
static int kind_of(const char *rest, bool *plural)
{
	static const char *const kind_name[] = {"Integration", "Route", "Stage"};
	for (int k = 0; k < (int)ARRAY_SIZE(kind_name); k++) {
		size_t n = strlen(kind_name[k]);
		if (strncmp(rest, kind_name[k], n) == 0 && (!rest[n] || strcmp(rest + n, "s") == 0)) {
			*plural = rest[n] == 's';
			return k;
		}
	}
	return -1;
}

/* The control plane's operations (apigw_ops): by the operation's name, with the apiId and
 * the sub-resource's id (integrationId, routeId, stageName) from the URI template. */
static void gw_op(void *ctx, const struct svc_call *c)
{
	struct api *a = ctx;
	struct api_req rr = {.req = c->rq, .cmd = front_req_method(c->rq), .call = c};
	struct api_req *r = &rr;
	struct apigw *g = a->apigw;
	const char *op = c->op->name;
	const char *api_id = api__param(r, "apiId");
	struct err e = {0};
	json_t *in = NULL;
	if (strncmp(op, "Create", 6) == 0 || strncmp(op, "Update", 6) == 0) {
		if (!(in = gw_body(r->req)))
			return;
	}
	bool plural = false;
	const char *rest = op + (strncmp(op, "Get", 3) == 0 ? 3 : 6);
	int kind = kind_of(rest, &plural);
	static const char *const id_param[] = {"integrationId", "routeId", "stageName"};
	const char *sub = kind >= 0 ? api__param(r, id_param[kind]) : NULL;
	if (strcmp(op, "CreateApi") == 0) {
		reply_obj(r, 201, apigw_create_api(g, in, &e), &e, true);
	} else if (strcmp(op, "GetApis") == 0) {
		reply_items(r, apigw_list_apis(g), &e, true);
	} else if (strcmp(op, "GetApi") == 0) {
		reply_obj(r, 200, apigw_get_api(g, api_id, &e), &e, true);
	} else if (strcmp(op, "UpdateApi") == 0) {
		reply_obj(r, 200, apigw_update_api(g, api_id, in, &e), &e, true);
	} else if (strcmp(op, "DeleteApi") == 0) {
		if (apigw_delete_api(g, api_id, &e) < 0)
			gw_reply_err(r->req, &e);
		else
			api__reply_json(r->req, 204, NULL);
	} else if (strcmp(op, "DeleteCorsConfiguration") == 0) {
		if (apigw_delete_cors(g, api_id, &e) < 0)
			gw_reply_err(r->req, &e);
		else
			api__reply_json(r->req, 204, NULL);
	} else if (kind >= 0 && strncmp(op, "Create", 6) == 0) {
		reply_obj(r, 201, apigw_create(g, api_id, kind, in, &e), &e, false);
	} else if (kind >= 0 && plural) {
		reply_items(r, apigw_list(g, api_id, kind, &e), &e, false);
	} else if (kind >= 0 && strncmp(op, "Get", 3) == 0) {
		reply_obj(r, 200, apigw_get(g, api_id, kind, sub, &e), &e, false);
	} else if (kind >= 0 && strncmp(op, "Update", 6) == 0) {
		reply_obj(r, 200, apigw_update(g, api_id, kind, sub, in, &e), &e, false);
	} else if (kind >= 0 && strncmp(op, "Delete", 6) == 0) {
		if (apigw_delete(g, api_id, kind, sub, &e) < 0)
			gw_reply_err(r->req, &e);
		else
			api__reply_json(r->req, 204, NULL);
	} else {
		gw_error(r->req, APIGW_ERR_NOT_FOUND, apigw_svc.unknown_op_msg);
	}
	json_decref(in);
}

enum apigw_op {
#define OP(name, method, uri, status) APIGW_OP_##name,
#define IN(op, member, loc, wire)
#include "svc/apigw/ops.def"
#undef OP
#undef IN
	APIGW_OP_COUNT
};

/* Every operation of ops.def (handler NULL), then those lambdad serves: a later designator
 * of the same member overrides the earlier one. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct op apigw_ops[APIGW_OP_COUNT] = {
#define OP(n, m, tmpl, status) [APIGW_OP_##n] = {.name = #n, .method = FRONT_##m, .uri = tmpl},
#define IN(op, member, loc, wire)
#include "svc/apigw/ops.def"
#undef OP
#undef IN
    [APIGW_OP_CreateApi].handler = gw_op,
    [APIGW_OP_GetApis].handler = gw_op,
    [APIGW_OP_GetApi].handler = gw_op,
    [APIGW_OP_UpdateApi].handler = gw_op,
    [APIGW_OP_DeleteApi].handler = gw_op,
    [APIGW_OP_DeleteCorsConfiguration].handler = gw_op,
    [APIGW_OP_CreateIntegration].handler = gw_op,
    [APIGW_OP_GetIntegrations].handler = gw_op,
    [APIGW_OP_GetIntegration].handler = gw_op,
    [APIGW_OP_UpdateIntegration].handler = gw_op,
    [APIGW_OP_DeleteIntegration].handler = gw_op,
    [APIGW_OP_CreateRoute].handler = gw_op,
    [APIGW_OP_GetRoutes].handler = gw_op,
    [APIGW_OP_GetRoute].handler = gw_op,
    [APIGW_OP_UpdateRoute].handler = gw_op,
    [APIGW_OP_DeleteRoute].handler = gw_op,
    [APIGW_OP_CreateStage].handler = gw_op,
    [APIGW_OP_GetStages].handler = gw_op,
    [APIGW_OP_GetStage].handler = gw_op,
    [APIGW_OP_UpdateStage].handler = gw_op,
    [APIGW_OP_DeleteStage].handler = gw_op,
};
#pragma GCC diagnostic pop

const struct svc apigw_svc = {
    .name = "apigateway",
    .title = "API Gateway",
    .proto = PROTO_REST_JSON,
    .ops = apigw_ops,
    .nops = APIGW_OP_COUNT,
    .errors = apigw_errors,
    .nerrors = APIGW_ERR_COUNT,
    .err_unknown_op = APIGW_ERR_NOT_FOUND,
    .unknown_op_msg = "lambdad does not serve this API Gateway operation (HTTP APIs: apis, integrations, "
                      "routes and stages)",
    .err_bad_input = APIGW_ERR_BAD_REQUEST,
    .err_unavailable = APIGW_ERR_INTERNAL,
};

/* ---- Data plane ---- */

/* Adds the headers of extra (NULL: none) to req's answer. */
static void add_headers(struct front_req *req, const struct evkeyvalq *extra)
{
	const struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			front_reply_header(req, kv->key, kv->value);
}

/* An invocation on its way: answered by the function, or by the integration timeout
 * first (503), in which case the function's answer is dropped when it comes. */
struct gw_flight {
	struct front_req *req;
	struct event *timer;
	int version;
	bool answered;
	bool cors_on;           /* the API has a CORS configuration */
	struct evkeyvalq extra; /* the CORS headers of the answer */
};

static void flight_free(struct gw_flight *f)
{
	event_free(f->timer);
	evhttp_clear_headers(&f->extra);
	free(f);
}

static void flight_done_cb(const struct sched_result *res, void *arg)
{
	struct gw_flight *f = arg;
	if (!f->answered) {
		if (res->system_error)
			proxy_error_reply(f->req, PROXY_ERR_INTERNAL, &f->extra);
		else
			/* With a CORS configuration, the function's own CORS headers are dropped. */
			proxy_reply(f->req, f->version, res->function_error, res->body,
			            f->cors_on ? &f->extra : NULL, f->cors_on);
	}
	flight_free(f);
}

static void flight_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_flight *f = arg;
	f->answered = true;
	proxy_error_reply(f->req, PROXY_ERR_TIMEOUT, &f->extra);
}

/* The api-id of Host <api-id>.execute-api.<anything>[:port], into id; false when the
 * Host is not of that form. */
static bool host_api_id(const char *host, char *id, size_t idsz)
{
	const char *dot = strchr(host, '.');
	if (!dot || strncasecmp(dot, ".execute-api.", 13) != 0 || (size_t)(dot - host) >= idsz || dot == host)
		return false;
	for (size_t i = 0; i < (size_t)(dot - host); i++)
		id[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] - 'A' + 'a' : host[i]);
	id[dot - host] = '\0';
	return true;
}

/* A requestId like API Gateway's: 16 characters of base64. */
static void gw_request_id(char out[17])
{
	char hex[33];
	unsigned char raw[11];
	random_hex32(hex);
	for (int i = 0; i < 11; i++) {
		unsigned v = 0;
		sscanf(hex + 2 * i, "%2x", &v);
		raw[i] = (unsigned char)v;
	}
	autofree char *b = b64_encode(raw, sizeof(raw));
	snprintf(out, 17, "%s", b);
}

/* Routes req to its function; every answer carries extra (the CORS headers); cors_on:
 * the API has a CORS configuration. */
static void route(struct api *a, struct front_req *req, const char *api_id, const char *path,
                  const char *host, const char *rid, bool cors_on, const struct evkeyvalq *extra)
{
	struct apigw_target t;
	const char *method = front_req_method_name(req);
	if (apigw_resolve(a->apigw, api_id, method, path, &t) < 0)
		return proxy_error_reply(req, PROXY_ERR_NOT_FOUND, extra);
	if (!t.has_integration) {
		apigw_target_fini(&t);
		return proxy_error_reply(req, PROXY_ERR_NOT_FOUND, extra);
	}
	/* Only $LATEST exists; another qualifier names nothing the integration can call. */
	struct fn_config *cfg = registry_get(a->reg, t.fn_name);
	if (!cfg || (t.fn_qual[0] && strcmp(t.fn_qual, FN_LATEST) != 0)) {
		log_warn("apigw: API %s route %s: function %s%s%s does not exist", api_id, t.route_key,
		         t.fn_name, t.fn_qual[0] ? ":" : "", t.fn_qual);
		apigw_target_fini(&t);
		return proxy_error_reply(req, PROXY_ERR_INTERNAL, extra);
	}
	struct proxy_ctx ctx = {
	    .version = t.version,
	    .route_key = t.route_key,
	    .raw_path = path,
	    .path_params = t.path_params,
	    .stage = t.stage,
	    .api_id = api_id,
	    .domain_name = host ? host : "",
	    .domain_prefix = api_id,
	    .account = a->account,
	    .resource = t.resource,
	    .request_id = rid,
	    .stage_vars = t.stage_vars,
	};
	struct evbuffer *event = evbuffer_new();
	struct err e = {0};
	int r = proxy_event(req, &ctx, GW_MAX_BODY, event, &e);
	int version = t.version;
	uint32_t timeout_ms = t.timeout_ms;
	apigw_target_fini(&t);
	if (r < 0) {
		evbuffer_free(event);
		if (r == -E2BIG)
			return proxy_error_reply(req, PROXY_ERR_TOO_LARGE, extra);
		log_warn("apigw: API %s: %s", api_id, e.msg);
		return proxy_error_reply(req, PROXY_ERR_BAD_REQUEST, extra);
	}
	struct gw_flight *f = xcalloc(1, sizeof(*f));
	f->req = req;
	f->version = version;
	f->timer = evtimer_new(a->base, flight_timeout_cb, f);
	f->cors_on = cors_on;
	TAILQ_INIT(&f->extra);
	const struct evkeyval *kv;
	TAILQ_FOREACH(kv, extra, next)
		evhttp_add_header(&f->extra, kv->key, kv->value);
	struct sched_invoke_args args = {.cfg = cfg, .payload = event, .cb = flight_done_cb, .arg = f};
	r = sched_invoke(a->sched, &args, &e);
	evbuffer_free(event);
	if (r < 0) {
		flight_free(f);
		if (r == -EAGAIN)
			return proxy_error_reply(req, PROXY_ERR_THROTTLED, extra);
		log_error("apigw: API %s: %s", api_id, e.msg);
		return proxy_error_reply(req, PROXY_ERR_INTERNAL, extra);
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	evtimer_add(f->timer, &tv);
}

/* Serves a data-plane request for API api_id. With a CORS configuration, a preflight
 * is answered here whatever the routes, as API Gateway does, and every other answer to
 * an allowed origin carries the CORS headers, API Gateway's own errors included. */
static void serve(struct api *a, struct front_req *req, const char *api_id, const char *path,
                  const char *host)
{
	char rid[17];
	gw_request_id(rid);
	front_reply_header(req, "apigw-requestid", rid);
	const struct cors *cors = apigw_cors(a->apigw, api_id);
	const struct evkeyvalq *in = front_req_headers(req);
	struct evkeyvalq extra;
	TAILQ_INIT(&extra);
	int status = cors_preflight(cors, front_req_method_name(req), in, &extra);
	if (status) {
		add_headers(req, &extra);
		evhttp_clear_headers(&extra);
		front_reply(req, status, NULL);
		return;
	}
	cors_headers(cors, in, &extra);
	route(a, req, api_id, path, host, rid, cors != NULL, &extra);
	evhttp_clear_headers(&extra);
}

/* Whether req is for an HTTP API's data plane: Host <api-id>.execute-api.<...>, or a path
 * under /apis/. */
static bool gw_claims(void *ctx, const struct front_req *req)
{
	const char *host = front_req_header(req, "Host");
	const char *uri = front_req_uri(req);
	char id[APIGW_API_ID_LEN + 8];
	return (host && host_api_id(host, id, sizeof(id))) || (uri && strncmp(uri, "/apis/", 6) == 0);
}

static void gw_serve(void *ctx, struct front_req *req)
{
	struct api *a = ctx;
	const char *host = front_req_header(req, "Host");
	char id[APIGW_API_ID_LEN + 8];
	bool by_host = host && host_api_id(host, id, sizeof(id));
	const char *path = front_req_path(req);
	if (!path || path[0] != '/') {
		proxy_error_reply(req, PROXY_ERR_NOT_FOUND, NULL);
		return;
	}
	if (!by_host) {
		const char *p = path + 6;
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= sizeof(id)) {
			proxy_error_reply(req, PROXY_ERR_NOT_FOUND, NULL);
			return;
		}
		memcpy(id, p, len);
		id[len] = '\0';
		path = p[len] ? p + len : "/";
	}
	serve(a, req, id, path, host);
}

const struct svc lambda_execute_api_svc = {
    .name = "execute-api",
    .proto = PROTO_REST_JSON,
    .claims = gw_claims,
    .serve = gw_serve,
};
