/* Function URLs: the control plane (Create/Get/Update/Delete/ListFunctionUrlConfig(s))
 * and the data plane, an HTTP endpoint per function reached by host
 * (<url-id>.lambda-url.<region>.localhost) or by path (/lambda-url/<name>/...). */
#include <ctype.h>
#include <errno.h>
#include <event2/http.h> /* header lists (evkeyvalq) */
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "svc/lambda/api_int.h"
#include "base/clock.h"
#include "base/codec.h"
#include "integ/cors.h"
#include "integ/proxy.h"

#define FURL_BODY_MAX 6291456u /* 6 MB, Lambda's synchronous payload limit */
#define FURL_ID_LEN 32
#define PATH_PREFIX "/lambda-url/"

/* One function's URL configuration. */
struct furl {
	char *name;
	char id[FURL_ID_LEN + 1];
	char auth_type[8];    /* "NONE" (AWS_IAM is refused) */
	char invoke_mode[16]; /* "BUFFERED" | "RESPONSE_STREAM" */
	struct cors *cors;    /* as configured, or NULL: none */
	int64_t created_ms;   /* wall ms */
	int64_t modified_ms;
};

/* The configs, keyed twice: by function name (owning), and by url-id lower-cased (a host
 * name's case does not matter). */
struct furl_table {
	struct map by_name; /* struct furl (owned) */
	struct map by_id;   /* the same struct furl (borrowed) */
};

static void furl_del(struct furl *f)
{
	if (!f)
		return;
	free(f->name);
	cors_free(f->cors);
	free(f);
}

static void furl_del_cb(void *f)
{
	furl_del(f);
}

static struct furl *find_name(struct api *a, const char *name)
{
	return a->furls ? map_get(&a->furls->by_name, name) : NULL;
}

/* The id key of the len bytes at id: lower-cased, into key; false if len is not an id's. */
static bool id_key(const char *id, size_t len, char key[FURL_ID_LEN + 1])
{
	if (len != FURL_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		key[i] = (char)tolower((unsigned char)id[i]);
	key[len] = 0;
	return true;
}

static struct furl *find_id(struct api *a, const char *id, size_t len)
{
	char key[FURL_ID_LEN + 1];
	if (!a->furls || !id_key(id, len, key))
		return NULL;
	return map_get(&a->furls->by_id, key);
}

static void table_add(struct api *a, struct furl *f)
{
	if (!a->furls) {
		a->furls = xcalloc(1, sizeof(*a->furls));
		map_init(&a->furls->by_name, 0);
		map_init(&a->furls->by_id, 0);
	}
	char key[FURL_ID_LEN + 1];
	if (id_key(f->id, strlen(f->id), key))
		map_put(&a->furls->by_id, key, f, NULL);
	map_put(&a->furls->by_name, f->name, f, NULL);
}

static void table_remove(struct api *a, struct furl *f)
{
	char key[FURL_ID_LEN + 1];
	if (!a->furls || !map_del(&a->furls->by_name, f->name, NULL))
		return;
	if (id_key(f->id, strlen(f->id), key) && map_get(&a->furls->by_id, key) == f)
		map_del(&a->furls->by_id, key, NULL);
	furl_del(f);
}

void api__furl_free(struct api *a)
{
	if (!a->furls)
		return;
	map_fini(&a->furls->by_id, NULL);
	map_fini(&a->furls->by_name, furl_del_cb);
	free(a->furls);
	a->furls = NULL;
}

/* A new url-id: 32 random characters of [a-z0-9], as Lambda's look. */
static void new_id(struct api *a, char out[FURL_ID_LEN + 1])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	do {
		char hex[33];
		for (int half = 0; half < 2; half++) {
			random_hex32(hex);
			for (int i = 0; i < 16; i++) {
				unsigned v = 0;
				sscanf(hex + 2 * i, "%2x", &v);
				out[half * 16 + i] = alphabet[v % 36];
			}
		}
		out[FURL_ID_LEN] = 0;
	} while (find_id(a, out, FURL_ID_LEN));
}

/* ---------------------------------------------------------------- stored and API forms */

static char *to_stored(const struct furl *f)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "AuthType", f->auth_type, "InvokeMode",
	                      f->invoke_mode, "CreationTime", (json_int_t)f->created_ms, "LastModifiedTime",
	                      (json_int_t)f->modified_ms, "UrlId", f->id);
	if (f->cors)
		json_object_set(o, "Cors", cors_json(f->cors));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

struct load_ctx {
	struct api *a;
	json_t *drop; /* names whose rows go after the scan */
};

static int load_cb(const struct store_item *it, void *arg)
{
	struct load_ctx *ctx = arg;
	struct api *a = ctx->a;
	const char *name = it->key;
	json_t *o = json_loads(it->value, 0, NULL);
	const char *url_id = json_string_value(json_object_get(o, "UrlId"));
	if (!url_id)
		url_id = "";
	const char *auth = json_string_value(json_object_get(o, "AuthType"));
	const char *mode = json_string_value(json_object_get(o, "InvokeMode"));
	if (!o || !auth || !mode || strlen(url_id) != FURL_ID_LEN || !registry_resolve(a->reg, name, 0.0)) {
		log_warn("store: function URL of %s is unreadable or its function is gone (dropped)", name);
		json_decref(o);
		json_array_append_new(ctx->drop, json_string(name));
		return 0;
	}
	struct furl *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	snprintf(f->id, sizeof(f->id), "%s", url_id);
	snprintf(f->auth_type, sizeof(f->auth_type), "%s", auth);
	snprintf(f->invoke_mode, sizeof(f->invoke_mode), "%s", mode);
	struct err e = {0};
	if (cors_from_furl(json_object_get(o, "Cors"), &f->cors, &e) < 0)
		log_warn("store: the Cors of %s's function URL is unreadable (dropped): %s", name, e.msg);
	f->created_ms = json_integer_value(json_object_get(o, "CreationTime"));
	f->modified_ms = json_integer_value(json_object_get(o, "LastModifiedTime"));
	table_add(a, f);
	json_decref(o);
	return 0;
}

int api__furl_load(struct api *a, struct err *errp)
{
	struct load_ctx ctx = {a, json_array()};
	int r = store_scan(a->store, "function_urls", NULL, NULL, 0, load_cb, &ctx, errp);
	size_t i;
	json_t *v;
	json_array_foreach(ctx.drop, i, v) {
		if (r == 0)
			r = store_del(a->store, "function_urls", json_string_value(v), STORE_REV_ANY, errp);
	}
	if (r == 0 && json_array_size(ctx.drop))
		r = store_commit(a->store, errp);
	json_decref(ctx.drop);
	if (r == 0 && a->furls)
		log_info("registry: %zu function URLs loaded", map_count(&a->furls->by_name));
	return r;
}

void api__furl_function_deleted(struct api *a, const char *name)
{
	struct furl *f = find_name(a, name);
	if (!f)
		return;
	struct err e = {0};
	if (store_del(a->store, "function_urls", name, STORE_REV_ANY, &e) < 0 ||
	    store_commit(a->store, &e) < 0)
		log_error("api: function URL of deleted function %s: %s", name, e.msg);
	table_remove(a, f);
}

static json_t *api_form(struct api *a, const struct furl *f, bool with_modified)
{
	char created[32], modified[32];
	clock_fmt_iso(f->created_ms, created);
	clock_fmt_iso(f->modified_ms, modified);
	autofree char *arn = fn_arn(f->name, a->region, a->account);
	autofree char *url = xasprintf("http://%s.lambda-url.%s.localhost:%u/", f->id, a->region, a->port);
	json_t *o =
	    json_pack("{s:s, s:s, s:s}", "FunctionUrl", url, "FunctionArn", arn, "AuthType", f->auth_type);
	if (f->cors)
		json_object_set(o, "Cors", cors_json(f->cors));
	json_object_set_new(o, "CreationTime", json_string(created));
	if (with_modified)
		json_object_set_new(o, "LastModifiedTime", json_string(modified));
	json_object_set_new(o, "InvokeMode", json_string(f->invoke_mode));
	return o;
}

/* ---------------------------------------------------------------- validation */

/* Replies ValidationException about field and returns -1. */
static int invalid(struct api_req *r, const char *value, const char *field, const char *constraint)
{
	api__reply_error(
	    r->req, LAMBDA_ERR_VALIDATION, NULL,
	    "1 validation error detected: Value '%.200s' at '%s' failed to satisfy constraint: %s", value,
	    field, constraint);
	return -1;
}

/* Validates a Cors object (cors.h); *out gets the configuration, NULL when c is absent
 * or null. Replies ValidationException and returns -1 when a field is invalid. */
static int check_cors(struct api_req *r, json_t *c, struct cors **out)
{
	struct err e = {0};
	if (cors_from_furl(c, out, &e) < 0) {
		api__reply_error(r->req, LAMBDA_ERR_VALIDATION, NULL, "%s", e.msg);
		return -1;
	}
	return 0;
}

static int check_auth(struct api_req *r, json_t *v, bool required)
{
	if (!v || json_is_null(v))
		return required ? invalid(r, "null", "authType", "Member must not be null") : 0;
	const char *s = json_string_value(v);
	if (!s || (strcmp(s, "NONE") != 0 && strcmp(s, "AWS_IAM") != 0))
		return invalid(r, s ? s : "(not a string)", "authType",
		               "Member must satisfy enum value set: [AWS_IAM, NONE]");
	if (strcmp(s, "AWS_IAM") == 0) {
		api__reply_error(
		    r->req, LAMBDA_ERR_INVALID_PARAMETER_VALUE, NULL,
		    "AuthType AWS_IAM is not supported by lambdad yet: it does not verify SigV4 "
		    "signatures on function URL requests, and refuses the setting rather than accept "
		    "requests unchecked. Use AuthType NONE.");
		return -1;
	}
	return 0;
}

static int check_mode(struct api_req *r, json_t *v)
{
	if (!v || json_is_null(v))
		return 0;
	const char *s = json_string_value(v);
	if (!s || (strcmp(s, "BUFFERED") != 0 && strcmp(s, "RESPONSE_STREAM") != 0))
		return invalid(r, s ? s : "(not a string)", "invokeMode",
		               "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]");
	return 0;
}

/* The longest key of a function URL: "name:alias". */
#define FURL_KEY_SIZE (FN_NAME_MAX + 1 + FN_QUAL_SIZE)

/* Resolves {Name} and Qualifier: function URLs live on $LATEST (no qualifier) or an
 * alias (which must exist). key gets the URL's key in the table and the store: the
 * function's name, or "name:alias". Replies and returns NULL on failure. */
static struct fn_config *lookup(struct api *a, struct api_req *r, char name[FN_NAME_MAX + 1],
                                char key[FURL_KEY_SIZE])
{
	char qual[FN_QUAL_SIZE];
	if (api__parse_ref(r, api__param(r, "FunctionName"), name, qual) < 0)
		return NULL;
	if (qual[0]) {
		bool digits = strspn(qual, "0123456789") == strlen(qual);
		if (digits ||
		    strspn(qual, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
		        strlen(qual)) {
			invalid(r, qual, "qualifier",
			        "Member must satisfy regular expression pattern: "
			        "((?!^\\d+$)^[0-9a-zA-Z-_]+$)");
			return NULL;
		}
	}
	struct fn_config *c = registry_get(a->reg, name);
	if (!c || (qual[0] && !registry_alias_get(a->reg, name, qual))) {
		api__not_found(a, r->req, name, qual);
		return NULL;
	}
	snprintf(key, FURL_KEY_SIZE, "%s%s%s", name, qual[0] ? ":" : "", qual);
	return c;
}

static void not_found(struct api_req *r)
{
	api__reply_error(r->req, LAMBDA_ERR_RESOURCE_NOT_FOUND, NULL,
	                 "The resource you requested does not exist.");
}

static int persist(struct api *a, struct api_req *r, const struct furl *f)
{
	autofree char *txt = to_stored(f);
	struct err e = {0};
	if (store_put(a->store, "function_urls", f->name, txt, strlen(txt), STORE_REV_ANY, NULL, &e) < 0 ||
	    store_commit(a->store, &e) < 0) {
		api__reply_err(r->req, &e);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- control plane */

static void create_url(struct api *a, struct api_req *r, const char *name)
{
	autofree char *arn = fn_arn(name, a->region, a->account);
	if (find_name(a, name))
		return api__reply_error(
		    r->req, LAMBDA_ERR_RESOURCE_CONFLICT, NULL,
		    "Failed to create function url config for [functionArn = %s]. Error message:  "
		    "FunctionUrlConfig exists for this Lambda function",
		    arn);
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	struct cors *cors = NULL;
	if (check_auth(r, json_object_get(body, "AuthType"), true) < 0 ||
	    check_mode(r, json_object_get(body, "InvokeMode")) < 0 ||
	    check_cors(r, json_object_get(body, "Cors"), &cors) < 0) {
		json_decref(body);
		return;
	}
	struct furl *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	new_id(a, f->id);
	snprintf(f->auth_type, sizeof(f->auth_type), "%s",
	         json_string_value(json_object_get(body, "AuthType")));
	const char *mode = json_string_value(json_object_get(body, "InvokeMode"));
	snprintf(f->invoke_mode, sizeof(f->invoke_mode), "%s", mode ? mode : "BUFFERED");
	f->cors = cors;
	f->created_ms = f->modified_ms = clock_wall_ms();
	json_decref(body);
	if (persist(a, r, f) < 0) {
		furl_del(f);
		return;
	}
	table_add(a, f);
	log_info("api: function URL %s for %s", f->id, name);
	api__reply_json(r->req, 201, api_form(a, f, false));
}

static void update_url(struct api *a, struct api_req *r, struct furl *f)
{
	json_t *body = api__body_json(r->req);
	if (!body)
		return;
	struct cors *cors = NULL;
	json_t *cv = json_object_get(body, "Cors");
	if (check_auth(r, json_object_get(body, "AuthType"), false) < 0 ||
	    check_mode(r, json_object_get(body, "InvokeMode")) < 0 || check_cors(r, cv, &cors) < 0) {
		json_decref(body);
		return;
	}
	struct furl next = *f;
	const char *auth = json_string_value(json_object_get(body, "AuthType"));
	const char *mode = json_string_value(json_object_get(body, "InvokeMode"));
	if (auth)
		snprintf(next.auth_type, sizeof(next.auth_type), "%s", auth);
	if (mode)
		snprintf(next.invoke_mode, sizeof(next.invoke_mode), "%s", mode);
	if (cv)
		next.cors = cors;
	next.modified_ms = clock_wall_ms();
	json_decref(body);
	if (persist(a, r, &next) < 0) {
		cors_free(cors);
		return;
	}
	if (cv) {
		cors_free(f->cors);
		f->cors = cors;
	}
	memcpy(f->auth_type, next.auth_type, sizeof(f->auth_type));
	memcpy(f->invoke_mode, next.invoke_mode, sizeof(f->invoke_mode));
	f->modified_ms = next.modified_ms;
	api__reply_json(r->req, 200, api_form(a, f, true));
}

void api__function_url(struct api *a, struct api_req *r)
{
	char fname[FN_NAME_MAX + 1], name[FURL_KEY_SIZE];
	if (!lookup(a, r, fname, name))
		return;
	struct furl *f = find_name(a, name);
	switch (r->cmd) {
	case FRONT_POST:
		return create_url(a, r, name);
	case FRONT_GET:
		if (!f)
			return not_found(r);
		return api__reply_json(r->req, 200, api_form(a, f, true));
	case FRONT_PUT:
		if (!f)
			return not_found(r);
		return update_url(a, r, f);
	case FRONT_DELETE: {
		if (!f)
			return not_found(r);
		struct err e = {0};
		if (store_del(a->store, "function_urls", name, STORE_REV_ANY, &e) < 0 ||
		    store_commit(a->store, &e) < 0)
			return api__reply_err(r->req, &e);
		log_info("api: function URL %s of %s deleted", f->id, name);
		table_remove(a, f);
		return api__reply_json(r->req, 204, NULL);
	}
	default:
		return api__reply_error(r->req, LAMBDA_ERR_METHOD_NOT_ALLOWED, NULL,
		                        "The method is not allowed on a function URL config");
	}
}

void api__list_function_urls(struct api *a, struct api_req *r)
{
	char name[FN_NAME_MAX + 1], key[FURL_KEY_SIZE];
	if (!lookup(a, r, name, key))
		return;
	const char *mi = front_req_query(r->req, "MaxItems");
	if (mi) {
		char *end;
		long n = strtol(mi, &end, 10);
		if (*end || n < 1 || n > 50)
			return (void)invalid(r, mi, "maxItems",
			                     n < 1 ? "Member must have value greater than or equal to 1"
			                           : "Member must have value less than or equal to 50");
	}
	/* $LATEST's URL, then its aliases' in name order: one page (a function has few). */
	json_t *list = json_array();
	struct furl *f = find_name(a, name);
	if (f)
		json_array_append_new(list, api_form(a, f, true));
	for (size_t i = 0, n = registry_alias_count(a->reg, name); i < n; i++) {
		snprintf(key, sizeof(key), "%s:%s", name, registry_alias_at(a->reg, name, i)->name);
		if ((f = find_name(a, key)))
			json_array_append_new(list, api_form(a, f, true));
	}
	api__reply_json(r->req, 200, json_pack("{s:o}", "FunctionUrlConfigs", list));
}

/* ---------------------------------------------------------------- data plane */

/* The data plane's own errors (its error table): x-amzn-ErrorType and {"Message": ...}. */
enum furl_err {
	FURL_ERR_NONE,
	FURL_ERR_FORBIDDEN,
	FURL_ERR_TOO_LARGE,
	FURL_ERR_TOO_MANY,
	FURL_ERR_SERVICE,
	FURL_ERR_COUNT
};
static const struct svc_error furl_errors[FURL_ERR_COUNT] = {
    [FURL_ERR_FORBIDDEN] = {"AccessDeniedException", 403, true},
    [FURL_ERR_TOO_LARGE] = {"RequestEntityTooLargeException", 413, true},
    [FURL_ERR_TOO_MANY] = {"TooManyRequestsException", 429, true},
    [FURL_ERR_SERVICE] = {"ServiceException", 500, false},
};

/* Replies with the function URL error id and message; extra (NULL: none) are headers to
 * add (the CORS ones). */
static void url_error(struct front_req *req, enum furl_err id, const char *message,
                      const struct evkeyvalq *extra)
{
	struct evkeyval *kv;
	if (extra)
		TAILQ_FOREACH(kv, extra, next)
			front_reply_header(req, kv->key, kv->value);
	svc_reply_error(req, &lambda_furl_svc, id, NULL, "%s", message);
}

static void forbidden(struct front_req *req)
{
	url_error(req, FURL_ERR_FORBIDDEN, "Forbidden", NULL);
}

/* A buffered invocation in flight. */
struct furl_call {
	struct front_req *req;
	struct evkeyvalq extra; /* CORS headers */
	char request_id[37];
};

static void call_free(struct furl_call *c)
{
	evhttp_clear_headers(&c->extra);
	free(c);
}

/* The client may have gone away meanwhile: the answer is then dropped (front.h). */
static void furl_done_cb(const struct sched_result *res, void *arg)
{
	struct furl_call *c = arg;
	front_reply_header(c->req, "x-amzn-RequestId", c->request_id);
	proxy_reply(c->req, 2, res->function_error || res->system_error, res->body, &c->extra, false);
	call_free(c);
}

/* Serves a request for function URL f; raw_path is the path the function sees. */
static void serve(struct api *a, struct front_req *req, struct furl *f, const char *raw_path)
{
	/* f->name is the function's, or "name:alias" (the alias's weights pick the version). */
	struct fn_config *cfg = registry_resolve(a->reg, f->name, drand48());
	if (!cfg)
		return forbidden(req);
	autofree char *invoked = strchr(f->name, ':') ? fn_arn(f->name, a->region, a->account) : NULL;
	const struct evkeyvalq *in = front_req_headers(req);
	struct furl_call *c = xcalloc(1, sizeof(*c));
	c->req = req;
	TAILQ_INIT(&c->extra);
	uuid_v4(c->request_id);
	/* A CORS preflight is answered here when CORS is configured, as Lambda does. */
	int status = cors_preflight(f->cors, front_req_method_name(req), in, &c->extra);
	if (status) {
		struct evkeyval *kv;
		TAILQ_FOREACH(kv, &c->extra, next)
			front_reply_header(req, kv->key, kv->value);
		front_reply_header(req, "x-amzn-RequestId", c->request_id);
		front_reply(req, status, NULL);
		return call_free(c);
	}
	cors_headers(f->cors, in, &c->extra);
	char domain[128];
	snprintf(domain, sizeof(domain), "%s.lambda-url.%s.localhost", f->id, a->region);
	struct proxy_ctx ctx = {
	    .version = 2,
	    .route_key = "$default",
	    .raw_path = raw_path,
	    .stage = "$default",
	    .api_id = f->id,
	    .domain_name = domain,
	    .domain_prefix = f->id,
	    .account = "anonymous", /* what Lambda puts there for AuthType NONE */
	    .request_id = c->request_id,
	};
	struct evbuffer *event = evbuffer_new();
	struct err e = {0};
	int rc = proxy_event(req, &ctx, FURL_BODY_MAX, event, &e);
	if (rc == -E2BIG) {
		char msg[128];
		snprintf(msg, sizeof(msg),
		         "Request must be smaller than %u bytes for the InvokeFunction operation",
		         FURL_BODY_MAX);
		url_error(req, FURL_ERR_TOO_LARGE, msg, &c->extra);
	} else if (rc < 0) {
		url_error(req, FURL_ERR_SERVICE, e.msg, &c->extra);
	} else if (strcmp(f->invoke_mode, "RESPONSE_STREAM") == 0) {
		api__invoke_streaming(a, req, cfg, event, c->request_id, &c->extra);
	} else {
		struct sched_invoke_args args = {
		    .cfg = cfg,
		    .payload = event,
		    .invoked_arn = invoked,
		    .request_id = c->request_id,
		    .cb = furl_done_cb,
		    .arg = c,
		};
		rc = sched_invoke(a->sched, &args, &e);
		if (rc == 0) {
			evbuffer_free(event);
			return;
		}
		if (rc == -EAGAIN) {
			front_reply_header(req, "Retry-After", "1");
			url_error(req, FURL_ERR_TOO_MANY, "Rate Exceeded.", &c->extra);
		} else {
			log_error("api: function URL of %s: %s", f->name, e.msg);
			url_error(req, FURL_ERR_SERVICE, "Internal Server Error", &c->extra);
		}
	}
	evbuffer_free(event);
	call_free(c);
}

/* Whether req is for the function URL data plane: its path starts with /lambda-url/, or
 * its Host is <anything>.lambda-url.<...> (an unknown one is answered 403 by furl_serve). */
static bool furl_claims(void *ctx, const struct front_req *req)
{
	const char *uri = front_req_uri(req);
	const char *host = front_req_header(req, "Host");
	return (uri && strncmp(uri, PATH_PREFIX, strlen(PATH_PREFIX)) == 0) ||
	       (host && strstr(host, ".lambda-url."));
}

static void furl_serve(void *ctx, struct front_req *req)
{
	struct api *a = ctx;
	const char *uri = front_req_uri(req);
	if (uri && strncmp(uri, PATH_PREFIX, strlen(PATH_PREFIX)) == 0) {
		/* /lambda-url/<name>[/path][?query] */
		const char *p = uri + strlen(PATH_PREFIX);
		size_t n = strcspn(p, "/?");
		autofree char *name = xstrndup(p, n);
		const char *rest = p + n;
		autofree char *path = *rest == '/' ? xstrndup(rest, strcspn(rest, "?")) : xstrdup("/");
		struct furl *f = find_name(a, name);
		if (!f)
			forbidden(req);
		else
			serve(a, req, f, path);
		return;
	}
	const char *host = front_req_header(req, "Host");
	const char *mark = host ? strstr(host, ".lambda-url.") : NULL;
	if (!mark)
		return forbidden(req);
	/* <url-id>.lambda-url.<region>.localhost[:port] */
	const char *region = mark + strlen(".lambda-url.");
	size_t rlen = strlen(a->region);
	const char *tail = region + rlen;
	bool ours = strncasecmp(region, a->region, rlen) == 0 && strncasecmp(tail, ".localhost", 10) == 0 &&
	            (tail[10] == 0 || tail[10] == ':');
	struct furl *f = ours ? find_id(a, host, (size_t)(mark - host)) : NULL;
	if (!f)
		return forbidden(req);
	const char *path = uri ? uri : "/";
	if (strncasecmp(path, "http://", 7) == 0) /* absolute form */
		path = strchr(path + 7, '/') ? strchr(path + 7, '/') : "/";
	autofree char *raw = path[0] == '/' ? xstrndup(path, strcspn(path, "?")) : xstrdup("/");
	serve(a, req, f, raw);
}

const struct svc lambda_furl_svc = {
    .name = "lambda-url",
    .proto = PROTO_REST_JSON,
    .errors = furl_errors,
    .nerrors = FURL_ERR_COUNT,
    .err_too_large = FURL_ERR_TOO_LARGE,
    .err_flags = PROTO_ERR_MESSAGE_UPPER,
    .claims = furl_claims,
    .serve = furl_serve,
};
