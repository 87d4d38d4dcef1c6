/* The Lambda API's context and its edge: the listener and the front it serves, loading the
 * registry at start, and the replies and error mapping every handler shares. */
#include <errno.h>
#include <event2/http.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "front/transport_http.h"
#include "proto/proto.h"
#include "svc/lambda/api_int.h"
#include "async/async.h"
#include "svc/apigw/apigw.h"
#include "esm/esm.h"
#include "svc/lambda/metrics.h"
#include "base/clock.h"
#include "base/codec.h"

#define API_MAX_BODY (80 * 1024 * 1024)

void api__add_request_id(struct front_req *req)
{
	proto_request_id(req);
}

void api__reply_json(struct front_req *req, int status, json_t *o)
{
	proto_reply(req, PROTO_REST_JSON, status, o);
}

void api__reply_error(struct front_req *req, enum lambda_err e, json_t *extra, const char *fmt, ...)
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
void api__reply_err(struct front_req *req, const struct err *e)
{
	if (e->svc > LAMBDA_ERR_NONE && e->svc < LAMBDA_ERR_COUNT)
		return api__reply_error(req, (enum lambda_err)e->svc, NULL, "%s", e->msg);
	switch (e->code) {
	case EINVAL:
	case EPERM:
	case EFBIG:
		return api__reply_error(req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL, "%s", e->msg);
	default:
		log_error("api: %s", e->msg);
		return api__reply_error(req, LAMBDA_ERR_SERVICE, NULL, "%s", e->msg);
	}
}

json_t *api__body_json(struct front_req *req)
{
	char why[512];
	json_t *o = proto_body_json(req, why, sizeof(why));
	if (!o)
		api__reply_error(req, LAMBDA_ERR_INVALID_REQUEST_CONTENT, NULL,
		                 "Could not parse request body into json: %s", why);
	return o;
}

int api__max_items(struct api_req *r, long def, long hi, long *out)
{
	const char *max = front_req_query(r->req, "MaxItems");
	*out = def;
	if (!max)
		return 0;
	char *end;
	*out = strtol(max, &end, 10);
	if (!*max || *end || *out < 1 || *out > hi) {
		api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL,
		                 "1 validation error detected: Value '%.20s' at 'maxItems' failed to satisfy "
		                 "constraint: Member must have value between 1 and %ld",
		                 max, hi);
		return -1;
	}
	return 0;
}

bool api__full_match(const char *s, const char *re)
{
	regex_t rx;
	autofree char *anchored = xasprintf("^(%s)$", re);
	if (regcomp(&rx, anchored, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

int api__str_member(json_t *body, const char *key, const char *field, bool required, const char **out,
                    struct err *errp)
{
	json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		return err_svc(errp, LAMBDA_ERR_VALIDATION,
		               "1 validation error detected: Value null at '%s' failed to satisfy "
		               "constraint: Member must not be null",
		               field);
	}
	if (!json_is_string(v))
		return err_svc(errp, LAMBDA_ERR_INVALID_PARAMETER_VALUE, "%s must be a string", key);
	*out = json_string_value(v);
	return 0;
}

json_t *api__parse_body(struct evbuffer **body, char *why, size_t whylen)
{
	json_t *o = proto_buf_json(*body, why, whylen);
	evbuffer_free(steal_ptr(body));
	return o;
}

void api__not_found(struct api *a, struct front_req *req, const char *name, const char *qual)
{
	autofree char *arn = fn_arn(name, a->region, a->account);
	api__reply_error(req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL, "Function not found: %s%s%s", arn,
	                 qual[0] ? ":" : "", qual);
}

int api__parse_ref(struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE])
{
	struct err e = {0};
	if (fn_parse_ref(ref, name, qual, &e) < 0) {
		api__reply_err(r->req, &e);
		return -1;
	}
	const char *q = front_req_query(r->req, "Qualifier");
	if (q && qual[0] && strcmp(q, qual) != 0) {
		api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "The derived qualifier from the function name does not match the specified qualifier.");
		return -1;
	}
	if (q && !qual[0])
		snprintf(qual, FN_QUAL_SIZE, "%s", q);
	return 0;
}

struct fn_config *api__lookup(struct api *a, struct api_req *r, const char *ref, char name[FN_NAME_MAX + 1])
{
	char qual[FN_QUAL_SIZE];
	if (api__parse_ref(r, ref, name, qual) < 0)
		return NULL;
	struct fn_config *c = registry_get(a->reg, name);
	/* Versions and aliases come later: only $LATEST exists. */
	if (!c || (qual[0] && strcmp(qual, FN_LATEST) != 0)) {
		api__not_found(a, r->req, name, qual);
		return NULL;
	}
	return c;
}

struct fn_config *api__lookup_qual(struct api *a, struct api_req *r, const char *ref,
                                   char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE], bool pick,
                                   const char **executed)
{
	if (api__parse_ref(r, ref, name, qual) < 0)
		return NULL;
	struct fn_config *c = registry_get(a->reg, name);
	enum fn_qual_kind k = qual[0] ? fn_qual_kind(qual) : FN_QUAL_LATEST;
	const char *ver = qual;
	if (c && k == FN_QUAL_ALIAS) {
		struct fn_alias *al = registry_alias_get(a->reg, name, qual);
		/* drand48 is enough for routing: an alias's split is a fraction, not a secret. */
		ver = al ? (pick ? fn_alias_pick(al, drand48()) : al->version) : NULL;
		k = !ver ? FN_QUAL_BAD : strcmp(ver, FN_LATEST) == 0 ? FN_QUAL_LATEST : FN_QUAL_VERSION;
	}
	if (c && k == FN_QUAL_VERSION)
		c = registry_version_get(a->reg, name, ver);
	else if (k != FN_QUAL_LATEST)
		c = NULL;
	if (!c) {
		api__not_found(a, r->req, name, qual);
		return NULL;
	}
	if (executed)
		*executed = fn_version(c);
	return c;
}

struct fn_config *api__lookup_body(struct api *a, struct api_req *r, char name[FN_NAME_MAX + 1],
                                   json_t **body)
{
	struct fn_config *c = api__lookup(a, r, api__param(r, "FunctionName"), name);
	if (!c || !(*body = api__body_json(r->req)))
		return NULL;
	return c;
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
	return api__code_in_use(arg, hex);
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
	srand48((long)clock_wall_ms() ^ (long)getpid()); /* aliases' weighted routing */
	int r = api__deploys_new(a, errp);
	if (r < 0) {
		api_free(a);
		return r;
	}
	r = store_scan(st, "functions", NULL, NULL, 0, load_cb, a, errp);
	if (r < 0 || (r = api__versions_load(a, errp)) < 0) {
		api_free(a);
		return r;
	}
	if ((r = store_scan(st, "scaling", NULL, NULL, 0, load_scaling_cb, a, errp)) < 0) {
		api_free(a);
		return r;
	}
	if ((r = api__furl_load(a, errp)) < 0 || (r = api__provisioned_load(a, errp)) < 0) {
		api_free(a);
		return r;
	}
	/* Blobs no function refers to are leftovers of a crash mid-deploy. */
	store_gc_code(st, keep_code_cb, a);
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
	if ((r = apigw_new(st, a->account, &a->apigw, errp)) < 0) {
		api_free(a);
		return r;
	}
	if ((r = api__esm_new(a, errp)) < 0) {
		api_free(a);
		return r;
	}
	a->metrics = metrics_new();
	metrics_register(a->metrics, api_metrics_collect, a);
	metrics_register(a->metrics, async_metrics_collect, a->async);
	metrics_register(a->metrics, esm_metrics_collect, a->esm);
	a->front = front_new(&lambda_svc);
	api__front_add(a->front, a);
	front_set_verify(a->front, cfg->verify, cfg->verify_arg);
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	api__deploys_free(a); /* its last answers go through the front */
	front_http_free(a->http);
	front_free(a->front);
	metrics_free(a->metrics);
	esm_free(a->esm);
	async_free(a->async);
	api__furl_free(a);
	apigw_free(a->apigw);
	registry_free(a->reg);
	free(a->region);
	free(a->account);
	free(a->logs_dir);
	free(a);
}

int api_listen(struct api *a, const char *host, uint16_t port, struct err *errp)
{
	int r = front_http_new(a->base, host, port, API_MAX_BODY, front_dispatch, a->front, &a->http, errp);
	if (r < 0)
		return r;
	front_http_set_stream(a->http, front_wants_stream);
	/* Port 0: the kernel picked one; URLs the API hands out (function URLs) carry it. */
	a->port = front_http_port(a->http);
	return 0;
}

void *api_serve_listener(void *arg, int fd)
{
	struct api *a = arg;
	struct front_http_listener *l = NULL;
	struct err e = {0};
	if (!a->http) {
		close(fd);
		return NULL;
	}
	if (front_http_listen_fd(a->http, fd, &l, &e) < 0) {
		log_warn("api: cannot serve a sandbox's API socket: %s", e.msg);
		return NULL;
	}
	return l;
}

void api_unserve_listener(void *arg, void *handle)
{
	front_http_listener_free(handle);
}

struct front *api_front(struct api *a)
{
	return a->front;
}

struct metrics *api_metrics(struct api *a)
{
	return a->metrics;
}

uint16_t api_port(const struct api *a)
{
	return a->port;
}

void api_stop_accepting(struct api *a)
{
	a->draining = true;
	front_set_draining(a->front);
	/* Queued async events stay in the queue for the next start; nothing new is started. */
	async_stop(a->async);
	esm_stop(a->esm);
	front_http_stop_accepting(a->http);
}
