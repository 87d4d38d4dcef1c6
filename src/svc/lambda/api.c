/* The API front: the HTTP listener, the router and the replies every handler shares. */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "front/transport_evhttp.h"
#include "proto/proto.h"
#include "svc/lambda/api_int.h"
#include "http/status.h"
#include "async/async.h"
#include "svc/apigw/apigw.h"
#include "base/codec.h"

#define API_MAX_BODY (80 * 1024 * 1024)

void api_add_request_id(struct front_req *req)
{
	proto_request_id(req);
}

void api_reply_json(struct front_req *req, int status, json_t *o)
{
	proto_reply(req, PROTO_REST_JSON, status, o);
}

void api_reply_error(struct front_req *req, enum lambda_err e, json_t *extra, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	proto_reply_error(req, PROTO_REST_JSON, PROTO_ERR_TYPE_FIELD, &lambda_errors[e], extra, msg);
}

/* The one place where the Lambda API turns an error into its reply: a service error by
 * its id; the request-shaped errnos of the modules below the API (the store refusing a
 * code package) as InvalidParameterValueException; anything else is lambdad's fault. */
void api_reply_err(struct front_req *req, const struct err *e)
{
	if (e->svc > LAMBDA_ERR_NONE && e->svc < LAMBDA_ERR_COUNT)
		return api_reply_error(req, (enum lambda_err)e->svc, NULL, "%s", e->msg);
	switch (e->code) {
	case EINVAL:
	case EPERM:
	case EFBIG:
		return api_reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s", e->msg);
	default:
		log_error("api: %s", e->msg);
		return api_reply_error(req, LAMBDA_ERR_SERVICE, NULL, "%s", e->msg);
	}
}

json_t *api_body_json(struct front_req *req)
{
	char why[512];
	json_t *o = proto_body_json(req, why, sizeof(why));
	if (!o)
		api_reply_error(req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
		                "Could not parse request body into json: %s", why);
	return o;
}

void api_not_found(struct api *a, struct front_req *req, const char *name, const char *qual)
{
	autofree char *arn = fn_arn(name, a->region, a->account);
	api_reply_error(req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL, "Function not found: %s%s%s", arn,
	                qual[0] ? ":" : "", qual);
}

int api_parse_ref(struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1], char qual[130])
{
	struct err e = {0};
	if (fn_parse_ref(ref, name, qual, &e) < 0) {
		api_reply_err(r->req, &e);
		return -1;
	}
	const char *q = front_req_query(r->req, "Qualifier");
	if (q && qual[0] && strcmp(q, qual) != 0) {
		api_reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "The derived qualifier from the function name does not match the specified qualifier.");
		return -1;
	}
	if (q && !qual[0])
		snprintf(qual, 130, "%s", q);
	return 0;
}

struct fn_config *api_lookup(struct api *a, struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1])
{
	char qual[130];
	if (api_parse_ref(r, ref, name, qual) < 0)
		return NULL;
	struct fn_config *c = registry_get(a->reg, name);
	/* Versions and aliases come later: only $LATEST exists. */
	if (!c || (qual[0] && strcmp(qual, "$LATEST") != 0)) {
		api_not_found(a, r->req, name, qual);
		return NULL;
	}
	return c;
}

static void route(struct api *a, struct api_req *r)
{
	const char *v = r->nsegs > 0 ? r->segs[0] : "";
	const char *coll = r->nsegs > 1 ? r->segs[1] : "";
	enum front_method m = r->cmd;
	int n = r->nsegs;
	if (strcmp(v, "2015-03-31") == 0 && strcmp(coll, "functions") == 0) {
		if (n == 2) {
			if (m == FRONT_POST)
				return api_create_function(a, r);
			if (m == FRONT_GET)
				return api_list_functions(a, r);
		} else if (n == 3) {
			if (m == FRONT_GET)
				return api_get_function(a, r, false);
			if (m == FRONT_DELETE)
				return api_delete_function(a, r);
		} else if (n == 4) {
			const char *op = r->segs[3];
			if (strcmp(op, "configuration") == 0 && m == FRONT_GET)
				return api_get_function(a, r, true);
			if (strcmp(op, "configuration") == 0 && m == FRONT_PUT)
				return api_update_configuration(a, r);
			if (strcmp(op, "code") == 0 && m == FRONT_PUT)
				return api_update_code(a, r);
			if (strcmp(op, "invocations") == 0 && m == FRONT_POST)
				return api_invoke(a, r);
		}
	} else if ((strcmp(v, "2017-10-31") == 0 || strcmp(v, "2019-09-30") == 0) &&
	           strcmp(coll, "functions") == 0 && n == 4) {
		const char *op = r->segs[3];
		if (strcmp(op, "concurrency") == 0) {
			if (m == FRONT_PUT && v[3] == '7')
				return api_put_concurrency(a, r);
			if (m == FRONT_DELETE && v[3] == '7')
				return api_delete_concurrency(a, r);
			if (m == FRONT_GET && v[3] == '9')
				return api_get_concurrency(a, r);
		} else if (strcmp(op, "provisioned-concurrency") == 0 && v[3] == '9') {
			return api_provisioned_concurrency(a, r);
		}
	} else if (strcmp(v, "2019-09-25") == 0 && strcmp(coll, "functions") == 0 && n >= 4 &&
	           strcmp(r->segs[3], "event-invoke-config") == 0) {
		if (n == 4)
			return api_event_invoke_config(a, r);
		if (n == 5 && strcmp(r->segs[4], "list") == 0 && m == FRONT_GET)
			return api_list_event_invoke_configs(a, r);
	} else if (strcmp(v, "2021-10-31") == 0 && strcmp(coll, "functions") == 0 && n == 4) {
		if (strcmp(r->segs[3], "url") == 0)
			return api_function_url(a, r);
		if (strcmp(r->segs[3], "urls") == 0 && m == FRONT_GET)
			return api_list_function_urls(a, r);
	} else if (strcmp(v, "v2") == 0 && strcmp(coll, "apis") == 0) {
		return api_apigw(a, r);
	} else if (strcmp(v, "metrics") == 0 && n == 1 && m == FRONT_GET) {
		return api_metrics(a, r);
	} else if (strcmp(v, "2014-11-13") == 0 && strcmp(coll, "functions") == 0 && n == 4 &&
	           strcmp(r->segs[3], "invoke-async") == 0 && m == FRONT_POST) {
		return api_invoke_async(a, r);
	} else if (strcmp(v, "2016-08-19") == 0 && strcmp(coll, "account-settings") == 0 && n == 2 &&
	           m == FRONT_GET) {
		return api_account_settings(a, r);
	} else if (strcmp(v, "lambdad") == 0 && strcmp(coll, "v1") == 0) {
		if (n == 5 && strcmp(r->segs[2], "functions") == 0) {
			const char *op = r->segs[4];
			if (strcmp(op, "logs") == 0 && m == FRONT_GET)
				return api_ext_logs(a, r);
			if (strcmp(op, "prewarm") == 0 && m == FRONT_POST)
				return api_ext_prewarm(a, r);
			if (strcmp(op, "keep-alive") == 0)
				return api_ext_keep_alive(a, r);
		}
		if (n == 6 && strcmp(r->segs[2], "functions") == 0 && strcmp(r->segs[4], "events") == 0)
			return api_ext_events(a, r);
		if (n == 4 && strcmp(r->segs[2], "code") == 0 && m == FRONT_GET)
			return api_ext_code(a, r);
	}
	api_reply_error(r->req, LAMBDA_ERR_UNKNOWN_OPERATION, NULL, "No operation at %s %s",
	                m == FRONT_GET      ? "GET"
	                : m == FRONT_POST   ? "POST"
	                : m == FRONT_PUT    ? "PUT"
	                : m == FRONT_DELETE ? "DELETE"
	                                    : "?",
	                front_req_uri(r->req));
}

/* A request that arrives while the server drains (on a connection accepted before):
 * 503 with the AWS error shape, and the connection closes, so the client's retry
 * opens a new one, which is refused. */
static void reply_draining(struct front_req *req)
{
	front_reply_header(req, "Connection", "close");
	api_reply_error(req, LAMBDA_ERR_SHUTTING_DOWN, NULL, "lambdad is shutting down");
}

static void request_cb(struct front_req *req, void *arg)
{
	struct api *a = arg;
	if (a->draining) {
		reply_draining(req);
		return;
	}
	/* Function URLs and HTTP APIs are told apart by their Host or path prefix. */
	if (api_furl_front(a, req) || api_apigw_front(a, req))
		return;
	struct api_req r = {.req = req, .cmd = front_req_method(req)};
	const char *path = front_req_path(req);
	if (!path || path[0] != '/') {
		api_reply_error(req, LAMBDA_ERR_UNKNOWN_OPERATION, NULL, "malformed request path");
		return;
	}
	if (!front_req_query_ok(req)) {
		api_reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "malformed query string");
		return;
	}
	/* Split into decoded segments; an empty last segment (trailing '/') is dropped. */
	const char *p = path + 1;
	bool ok = true;
	while (*p && ok) {
		size_t len = strcspn(p, "/");
		if (r.nsegs == (int)ARRAY_SIZE(r.segs)) {
			ok = false;
			break;
		}
		autofree char *raw = xstrndup(p, len);
		size_t outlen;
		char *dec = evhttp_uridecode(raw, 0, &outlen);
		if (!dec || strlen(dec) != outlen) {
			free(dec);
			ok = false;
			break;
		}
		r.segs[r.nsegs++] = dec;
		p += len;
		if (*p == '/')
			p++;
	}
	if (!ok)
		api_reply_error(req, LAMBDA_ERR_UNKNOWN_OPERATION, NULL, "malformed request path");
	else
		route(a, &r);
	for (int i = 0; i < r.nsegs; i++)
		free(r.segs[i]);
}

static int load_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	struct err e = {0};
	struct fn_config *c = fn_config_from_stored(it->value, &e);
	if (!c) {
		log_error("store: function %s: %s (skipped)", it->key, e.msg);
		return 0;
	}
	registry_put(a->reg, c);
	return 0;
}

static int keep_code_cb(const char *hex, void *arg)
{
	return registry_code_in_use(arg, hex);
}

/* A stored scaling row: into the registry, and to the scheduler, which starts the
 * function's provisioned environments. A row without its function is ignored. */
static int load_scaling_cb(const struct store_item *it, void *arg)
{
	struct api *a = arg;
	const char *name = it->key;
	struct fn_config *c = registry_get(a->reg, name);
	if (!c) {
		log_warn("store: scaling settings of unknown function %s (ignored)", name);
		return 0;
	}
	struct fn_scaling sc = fn_scaling_from_stored(it->value);
	registry_set_scaling(a->reg, name, &sc);
	sched_set_scaling(a->sched, name, c, &sc);
	return 0;
}

int api_new(struct event_base *base, struct store *st, struct sched *sc, const struct api_config *cfg,
            struct api **out, struct err *errp)
{
	struct api *a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->store = st;
	a->sched = sc;
	a->reg = registry_new();
	a->region = xstrdup(cfg->region);
	a->account = xstrdup(cfg->account);
	a->logs_dir = xstrdup(cfg->logs_dir);
	a->account_concurrency = cfg->account_concurrency;
	int r = store_scan(st, "functions", NULL, NULL, 0, load_cb, a, errp);
	if (r < 0) {
		api_free(a);
		return r;
	}
	if ((r = store_scan(st, "scaling", NULL, NULL, 0, load_scaling_cb, a, errp)) < 0) {
		api_free(a);
		return r;
	}
	if ((r = furl_load(a, errp)) < 0) {
		api_free(a);
		return r;
	}
	/* Blobs no function refers to are leftovers of a crash mid-deploy. */
	store_gc_code(st, keep_code_cb, a->reg);
	log_info("registry: %zu functions loaded", registry_count(a->reg));
	struct async_config qcfg = {
	    .store = st,
	    .region = a->region,
	    .account = a->account,
	    .retry_delays_ms = {cfg->async_retry_delays_ms[0], cfg->async_retry_delays_ms[1]}};
	if ((r = async_new(base, sc, a->reg, &qcfg, &a->async, errp)) < 0) {
		api_free(a);
		return r;
	}
	if ((r = apigw_open(st, &a->apigw, errp)) < 0) {
		api_free(a);
		return r;
	}
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	front_evhttp_free(a->http);
	async_free(a->async);
	furl_free(a);
	apigw_free(a->apigw);
	registry_free(a->reg);
	free(a->region);
	free(a->account);
	free(a->logs_dir);
	free(a);
}

int api_listen(struct api *a, const char *host, uint16_t port, struct err *errp)
{
	int r = front_evhttp_new(a->base, host, port, API_MAX_BODY, request_cb, a, &a->http, errp);
	if (r < 0)
		return r;
	/* Port 0: the kernel picked one; URLs the API hands out (function URLs) carry it. */
	a->port = front_evhttp_port(a->http);
	return 0;
}

uint16_t api_port(const struct api *a)
{
	return a->port;
}

void api_stop_accepting(struct api *a)
{
	a->draining = true;
	/* Queued async events stay in the queue for the next start; nothing new is started. */
	async_stop(a->async);
	front_evhttp_stop_accepting(a->http);
}
