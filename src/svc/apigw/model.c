/* The HTTP API model: validation of the control plane's JSON, ids, quick create, and
 * the resolution of a data-plane request to a stage, route and function (apigw.h). */
#include <errno.h>
#include <lambdad/cleanup.h>
#include <lambdad/log.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <string.h>

#include "svc/apigw/apigw_int.h"
#include "base/clock.h"
#include "base/codec.h"

#define CHILD_ID_LEN 7

static const char *const kind_coll[] = {"integrations", "routes", "stages"};
static const char *const kind_idkey[] = {"integrationId", "routeId", "stageName"};
static const char *const kind_label[] = {"Integration", "Route", "Stage"};

/* Random lower-case alphanumerics, as AWS's ids. */
static void gen_id(char *out, size_t len)
{
	char hex[33];
	random_hex32(hex);
	for (size_t i = 0; i < len && i < 16; i++) {
		unsigned v = 0;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[v % 36];
	}
	out[len] = '\0';
}

static json_t *now_iso(void)
{
	char ts[32];
	clock_fmt_iso(clock_wall_ms(), ts);
	return json_string(ts);
}

static struct gw_api *find(struct apigw *g, const char *id)
{
	return map_get(&g->apis, id);
}

bool apigw_has_api(struct apigw *g, const char *api_id)
{
	return find(g, api_id) != NULL;
}

static struct gw_api *find_or_err(struct apigw *g, const char *id, struct err *errp)
{
	struct gw_api *a = find(g, id);
	if (!a)
		err_svc(errp, APIGW_ERR_NOT_FOUND, "Invalid API identifier specified %s:%.64s", g->account,
		        id);
	return a;
}

/* Parses the routes and the CORS configuration of a->doc again for the data plane; what
 * does not parse (it was validated when stored) is left out. */
static void reindex(struct gw_api *a)
{
	struct err ce = {0};
	cors_free(a->cors);
	a->cors = NULL;
	json_t *cors = json_object_get(json_object_get(a->doc, "api"), "corsConfiguration");
	if (cors && cors_from_apigw(cors, &a->cors, &ce) < 0)
		log_warn("apigw: API %s: corsConfiguration: %s (ignored)", a->id, ce.msg);
	for (size_t i = 0; i < a->nroutes; i++) {
		apigw_rkey_fini(&a->rkeys[i]);
		free(a->rids[i]);
	}
	free(a->rkeys);
	free(a->rids);
	a->rkeys = NULL;
	a->rids = NULL;
	a->nroutes = 0;
	json_t *routes = json_object_get(a->doc, "routes");
	size_t n = json_object_size(routes);
	if (!n)
		return;
	a->rkeys = xcalloc(n, sizeof(*a->rkeys));
	a->rids = xcalloc(n, sizeof(*a->rids));
	const char *id;
	json_t *r;
	json_object_foreach(routes, id, r) {
		struct err e = {0};
		const char *key = json_string_value(json_object_get(r, "routeKey"));
		if (!key || apigw_rkey_parse(key, &a->rkeys[a->nroutes], &e) < 0) {
			log_warn("apigw: API %s route %s: %s (ignored)", a->id, id, e.msg);
			continue;
		}
		a->rids[a->nroutes++] = xstrdup(id);
	}
}

static void api_free(struct gw_api *a)
{
	if (!a)
		return;
	json_decref(a->doc);
	a->doc = NULL;
	reindex(a);
	free(a);
}

static void api_free_cb(void *a)
{
	api_free(a);
}

/* Commits doc (stolen) as a's state and makes it current; on failure a is unchanged. */
static int commit(struct apigw *g, struct gw_api *a, json_t *doc, struct err *errp)
{
	int r = apigw__db_put(g, a->id, a->created_ms, doc, errp);
	if (r < 0) {
		json_decref(doc);
		return r;
	}
	json_decref(a->doc);
	a->doc = doc;
	reindex(a);
	return 0;
}

/* Field helpers: each copies in[key] into o when it is present and valid, and returns
 * 0, or -EINVAL with APIGW_ERR_BAD_REQUEST and AWS's kind of message. */
static int take_str(json_t *o, json_t *in, const char *key, size_t min, size_t max, struct err *errp)
{
	json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) < min || json_string_length(v) > max)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST,
		               "Invalid input for %s: a string of %zu to %zu characters expected", key, min,
		               max);
	json_object_set(o, key, v);
	return 0;
}

static int take_bool(json_t *o, json_t *in, const char *key, struct err *errp)
{
	json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid input for %s: a boolean expected", key);
	json_object_set(o, key, v);
	return 0;
}

static int take_obj(json_t *o, json_t *in, const char *key, struct err *errp)
{
	json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid input for %s: an object expected", key);
	json_object_set_new(o, key, json_deep_copy(v));
	return 0;
}

/* corsConfiguration, validated as cors.h says; stored as the known fields given. */
static int take_cors(json_t *o, json_t *in, struct err *errp)
{
	json_t *v = json_object_get(in, "corsConfiguration");
	struct cors *c = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (cors_from_apigw(v, &c, errp) < 0)
		return err_as_svc(errp, APIGW_ERR_BAD_REQUEST);
	json_object_set_new(o, "corsConfiguration", json_deep_copy(cors_json(c)));
	cors_free(c);
	return 0;
}

/* A map of string values, with keys of [A-Za-z0-9_] when names_strict. */
static int take_str_map(json_t *o, json_t *in, const char *key, bool names_strict, struct err *errp)
{
	json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid input for %s: a map of strings expected",
		               key);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!json_is_string(x) || json_string_length(x) > 2048)
			return err_svc(errp, APIGW_ERR_BAD_REQUEST,
			               "Invalid input for %s: the value of %.64s must be a string", key, k);
		if (names_strict && (!k[0] || strlen(k) > 64 ||
		                     strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                               "0123456789_") != strlen(k)))
			return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid input for %s: bad name %.64s",
			               key, k);
	}
	json_object_set_new(o, key, json_deep_copy(v));
	return 0;
}

int apigw_parse_uri(const char *uri, char name[FN_NAME_MAX + 1], char qual[FN_QUAL_SIZE], struct err *errp)
{
	static const char gw_path[] = ":lambda:path/2015-03-31/functions/";
	autofree char *ref = NULL;
	const char *p = strstr(uri, gw_path);
	if (strncmp(uri, "arn:aws:apigateway:", 19) == 0 && p) {
		p += strlen(gw_path);
		const char *end = strstr(p, "/invocations");
		if (!end || end[strlen("/invocations")])
			return err_svc(errp, APIGW_ERR_BAD_REQUEST,
			               "Invalid integration URI specified: %.200s", uri);
		ref = xstrndup(p, (size_t)(end - p));
	} else {
		ref = xstrdup(uri);
	}
	struct err e = {0};
	if (fn_parse_ref(ref, name, qual, &e) < 0)
		return err_svc(
		    errp, APIGW_ERR_BAD_REQUEST,
		    "Invalid integration URI specified: %.200s (a Lambda function ARN is expected: %s)", uri,
		    e.msg);
	return 0;
}

static int apply_api(json_t *o, json_t *in, bool create, struct err *errp)
{
	if (take_str(o, in, "name", 1, 128, errp) < 0 || take_str(o, in, "description", 0, 1024, errp) < 0 ||
	    take_str(o, in, "version", 1, 64, errp) < 0 || take_cors(o, in, errp) < 0 ||
	    take_bool(o, in, "disableExecuteApiEndpoint", errp) < 0 ||
	    take_bool(o, in, "disableSchemaValidation", errp) < 0)
		return -EINVAL;
	const char *rse = json_string_value(json_object_get(in, "routeSelectionExpression"));
	if (rse && strcmp(rse, "$request.method $request.path") != 0)
		return err_svc(
		    errp, APIGW_ERR_BAD_REQUEST,
		    "Unsupported route selection expression for HTTP API: %.100s (only $request.method "
		    "$request.path)",
		    rse);
	if (!create)
		return 0;
	if (take_str_map(o, in, "tags", false, errp) < 0)
		return -EINVAL;
	const char *proto = json_string_value(json_object_get(in, "protocolType"));
	if (!proto)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "ProtocolType is required");
	if (strcmp(proto, "WEBSOCKET") == 0)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST,
		               "WebSocket APIs are not supported by lambdad; use protocolType HTTP");
	if (strcmp(proto, "HTTP") != 0)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid protocol type %.32s: expected HTTP",
		               proto);
	if (!json_object_get(o, "name"))
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Name is required");
	json_object_set_new(o, "protocolType", json_string("HTTP"));
	json_object_set_new(o, "apiKeySelectionExpression", json_string("$request.header.x-api-key"));
	json_object_set_new(o, "routeSelectionExpression", json_string("$request.method $request.path"));
	if (!json_object_get(o, "disableExecuteApiEndpoint"))
		json_object_set_new(o, "disableExecuteApiEndpoint", json_false());
	if (!json_object_get(o, "tags"))
		json_object_set_new(o, "tags", json_object());
	json_object_set_new(o, "createdDate", now_iso());
	return 0;
}

static int apply_integration(json_t *doc, json_t *o, json_t *in, bool create, struct err *errp)
{
	const char *type = json_string_value(json_object_get(in, "integrationType"));
	if (create && !type)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "IntegrationType is required");
	if (type && strcmp(type, "AWS_PROXY") != 0)
		return err_svc(
		    errp, APIGW_ERR_BAD_REQUEST,
		    "Integration type %.32s is not supported by lambdad: HTTP APIs integrate functions "
		    "(AWS_PROXY)",
		    type);
	if (take_str(o, in, "integrationUri", 1, 2048, errp) < 0 ||
	    take_str(o, in, "description", 0, 1024, errp) < 0 ||
	    take_str(o, in, "integrationMethod", 1, 64, errp) < 0 ||
	    take_str(o, in, "credentialsArn", 1, 2048, errp) < 0 ||
	    take_obj(o, in, "requestParameters", errp) < 0 || take_obj(o, in, "responseParameters", errp) < 0)
		return -EINVAL;
	const char *uri = json_string_value(json_object_get(o, "integrationUri"));
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (!uri)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST,
		               "IntegrationUri is required for AWS_PROXY integrations");
	if (apigw_parse_uri(uri, name, qual, errp) < 0)
		return err_as_svc(errp, APIGW_ERR_BAD_REQUEST);
	json_t *pfv = json_object_get(in, "payloadFormatVersion");
	if (pfv) {
		const char *v = json_string_value(pfv);
		if (!v || (strcmp(v, "1.0") != 0 && strcmp(v, "2.0") != 0))
			return err_svc(errp, APIGW_ERR_BAD_REQUEST,
			               "Invalid payload format version: expected 1.0 or 2.0");
		json_object_set(o, "payloadFormatVersion", pfv);
	} else if (create) {
		return err_svc(
		    errp, APIGW_ERR_BAD_REQUEST,
		    "PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs (1.0 or 2.0)");
	}
	json_t *to = json_object_get(in, "timeoutInMillis");
	if (to && !json_is_null(to)) {
		if (!json_is_integer(to) || json_integer_value(to) < 50 || json_integer_value(to) > 30000)
			return err_svc(errp, APIGW_ERR_BAD_REQUEST,
			               "Invalid timeoutInMillis: between 50 and 30000 expected");
		json_object_set(o, "timeoutInMillis", to);
	}
	const char *ct = json_string_value(json_object_get(in, "connectionType"));
	if (ct && strcmp(ct, "INTERNET") != 0)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST,
		               "Connection type %.32s is not supported by lambdad", ct);
	if (create) {
		json_object_set_new(o, "integrationType", json_string("AWS_PROXY"));
		json_object_set_new(o, "connectionType", json_string("INTERNET"));
		if (!json_object_get(o, "integrationMethod"))
			json_object_set_new(o, "integrationMethod", json_string("POST"));
		if (!json_object_get(o, "timeoutInMillis"))
			json_object_set_new(o, "timeoutInMillis", json_integer(APIGW_TIMEOUT_DEFAULT_MS));
	}
	return 0;
}

static int apply_route(json_t *doc, const char *self_id, json_t *o, json_t *in, bool create, struct err *errp)
{
	if (take_str(o, in, "routeKey", 1, APIGW_ROUTE_KEY_MAX, errp) < 0 ||
	    take_str(o, in, "operationName", 1, 64, errp) < 0 ||
	    take_obj(o, in, "requestParameters", errp) < 0 || take_bool(o, in, "apiKeyRequired", errp) < 0)
		return -EINVAL;
	const char *key = json_string_value(json_object_get(o, "routeKey"));
	if (!key)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "RouteKey is required");
	struct apigw_rkey k;
	if (apigw_rkey_parse(key, &k, errp) < 0)
		return err_as_svc(errp, APIGW_ERR_BAD_REQUEST);
	apigw_rkey_fini(&k);
	const char *id;
	json_t *r;
	json_object_foreach(json_object_get(doc, "routes"), id, r) {
		const char *other = json_string_value(json_object_get(r, "routeKey"));
		if ((!self_id || strcmp(id, self_id) != 0) && other && strcmp(other, key) == 0)
			return err_svc(errp, APIGW_ERR_CONFLICT,
			               "Route with key %s already exists for this API", key);
	}
	json_t *target = json_object_get(in, "target");
	if (target && !json_is_null(target)) {
		const char *t = json_string_value(target);
		if (!t || strncmp(t, "integrations/", 13) != 0 ||
		    !json_object_get(json_object_get(doc, "integrations"), t + 13))
			return err_svc(
			    errp, APIGW_ERR_BAD_REQUEST,
			    "Invalid target %.140s: integrations/<integrationId> of this API expected",
			    t ? t : "(not a string)");
		json_object_set(o, "target", target);
	}
	const char *auth = json_string_value(json_object_get(in, "authorizationType"));
	if (auth && strcmp(auth, "NONE") != 0)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST,
		               "Authorization type %.32s is not supported by lambdad: routes are open (NONE)",
		               auth);
	if (json_is_true(json_object_get(o, "apiKeyRequired")))
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "API keys are not supported for HTTP APIs");
	if (create) {
		json_object_set_new(o, "apiKeyRequired", json_false());
		json_object_set_new(o, "authorizationType", json_string("NONE"));
	}
	return 0;
}

static int apply_stage(json_t *doc, json_t *o, json_t *in, bool create, struct err *errp)
{
	if (create) {
		const char *name = json_string_value(json_object_get(in, "stageName"));
		if (!name)
			return err_svc(errp, APIGW_ERR_BAD_REQUEST, "StageName is required");
		size_t len = strlen(name);
		if (strcmp(name, "$default") != 0 &&
		    (len < 1 || len > 128 ||
		     strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len))
			return err_svc(
			    errp, APIGW_ERR_BAD_REQUEST,
			    "Stage name only allows a-zA-Z0-9_- (1 to 128 characters), or $default");
		if (json_object_get(json_object_get(doc, "stages"), name))
			return err_svc(errp, APIGW_ERR_CONFLICT, "Stage %s already exists", name);
		json_object_set_new(o, "stageName", json_string(name));
		if (take_str_map(o, in, "tags", false, errp) < 0)
			return -EINVAL;
	}
	if (take_bool(o, in, "autoDeploy", errp) < 0 || take_str(o, in, "description", 0, 1024, errp) < 0 ||
	    take_str_map(o, in, "stageVariables", true, errp) < 0 ||
	    take_obj(o, in, "defaultRouteSettings", errp) < 0 || take_obj(o, in, "routeSettings", errp) < 0 ||
	    take_obj(o, in, "accessLogSettings", errp) < 0 ||
	    take_str(o, in, "deploymentId", 1, 64, errp) < 0)
		return -EINVAL;
	if (create) {
		json_object_set_new(o, "createdDate", now_iso());
		if (!json_object_get(o, "autoDeploy"))
			json_object_set_new(o, "autoDeploy", json_false());
		if (!json_object_get(o, "defaultRouteSettings"))
			json_object_set_new(o, "defaultRouteSettings",
			                    json_pack("{s:b}", "detailedMetricsEnabled", 0));
		if (!json_object_get(o, "routeSettings"))
			json_object_set_new(o, "routeSettings", json_object());
		if (!json_object_get(o, "stageVariables"))
			json_object_set_new(o, "stageVariables", json_object());
		if (!json_object_get(o, "tags"))
			json_object_set_new(o, "tags", json_object());
	}
	json_object_set_new(o, "lastUpdatedDate", now_iso());
	return 0;
}

/* Quick create: the integration, route and stage of CreateApi with a target, into doc. */
static int quick_create(json_t *doc, json_t *in, struct err *errp)
{
	json_t *target = json_object_get(in, "target");
	if (!target || json_is_null(target))
		return 0;
	const char *uri = json_string_value(target);
	char name[FN_NAME_MAX + 1], qual[FN_QUAL_SIZE];
	if (!uri || apigw_parse_uri(uri, name, qual, errp) < 0)
		return err_svc(errp, APIGW_ERR_BAD_REQUEST, "Invalid target: a Lambda function ARN expected");
	const char *key = json_string_value(json_object_get(in, "routeKey"));
	if (!key)
		key = "$default";
	struct apigw_rkey k;
	if (apigw_rkey_parse(key, &k, errp) < 0)
		return err_as_svc(errp, APIGW_ERR_BAD_REQUEST);
	apigw_rkey_fini(&k);
	char iid[CHILD_ID_LEN + 1], rid[CHILD_ID_LEN + 1];
	gen_id(iid, CHILD_ID_LEN);
	gen_id(rid, CHILD_ID_LEN);
	json_object_set_new(json_object_get(doc, "integrations"), iid,
	                    json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "apiGatewayManaged", 1,
	                              "connectionType", "INTERNET", "integrationId", iid, "integrationMethod",
	                              "POST", "integrationType", "AWS_PROXY", "integrationUri", uri,
	                              "payloadFormatVersion", "2.0", "timeoutInMillis",
	                              APIGW_TIMEOUT_DEFAULT_MS));
	json_object_set_new(json_object_get(doc, "routes"), rid,
	                    json_pack("{s:b, s:b, s:s, s:s, s:s, s:s+}", "apiGatewayManaged", 1,
	                              "apiKeyRequired", 0, "authorizationType", "NONE", "routeId", rid,
	                              "routeKey", key, "target", "integrations/", iid));
	json_t *st = json_pack("{s:b}", "apiGatewayManaged", 1);
	json_t *stin = json_pack("{s:b, s:s}", "autoDeploy", 1, "stageName", "$default");
	int r = apply_stage(doc, st, stin, true, errp);
	LD_ASSERT(r == 0);
	json_decref(stin);
	json_object_set_new(json_object_get(doc, "stages"), "$default", st);
	return 0;
}

json_t *apigw_create_api(struct apigw *g, json_t *in, struct err *errp)
{
	json_t *o = json_object();
	if (apply_api(o, in, true, errp) < 0) {
		json_decref(o);
		return NULL;
	}
	struct gw_api *a = xcalloc(1, sizeof(*a));
	do
		gen_id(a->id, APIGW_API_ID_LEN);
	while (find(g, a->id));
	a->created_ms = clock_wall_ms();
	json_object_set_new(o, "apiId", json_string(a->id));
	json_t *doc = json_pack("{s:o, s:{}, s:{}, s:{}}", "api", o, "integrations", "routes", "stages");
	if (quick_create(doc, in, errp) < 0) {
		json_decref(doc);
		api_free(a);
		return NULL;
	}
	if (commit(g, a, doc, errp) < 0) {
		api_free(a);
		return NULL;
	}
	map_put(&g->apis, a->id, a, NULL);
	return json_deep_copy(json_object_get(a->doc, "api"));
}

const struct cors *apigw_cors(struct apigw *g, const char *api_id)
{
	struct gw_api *a = find(g, api_id);
	return a ? a->cors : NULL;
}

int apigw_delete_cors(struct apigw *g, const char *api_id, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	if (!a)
		return -EINVAL;
	json_t *doc = json_deep_copy(a->doc);
	json_object_del(json_object_get(doc, "api"), "corsConfiguration");
	return commit(g, a, doc, errp);
}

json_t *apigw_get_api(struct apigw *g, const char *api_id, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	return a ? json_deep_copy(json_object_get(a->doc, "api")) : NULL;
}

json_t *apigw_list_apis(struct apigw *g)
{
	json_t *arr = json_array();
	struct gw_api *a;
	MAP_FOREACH_VALUE(&g->apis, a)
		json_array_append_new(arr, json_deep_copy(json_object_get(a->doc, "api")));
	return arr;
}

json_t *apigw_update_api(struct apigw *g, const char *api_id, json_t *in, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	if (!a)
		return NULL;
	if (json_object_get(in, "target") || json_object_get(in, "routeKey")) {
		err_svc(errp, APIGW_ERR_BAD_REQUEST,
		        "UpdateApi with a target or routeKey is not supported by lambdad");
		return NULL;
	}
	json_t *doc = json_deep_copy(a->doc);
	if (apply_api(json_object_get(doc, "api"), in, false, errp) < 0) {
		json_decref(doc);
		return NULL;
	}
	if (commit(g, a, doc, errp) < 0)
		return NULL;
	return json_deep_copy(json_object_get(a->doc, "api"));
}

int apigw_delete_api(struct apigw *g, const char *api_id, struct err *errp)
{
	struct gw_api *a = find(g, api_id);
	if (a) {
		int r = apigw__db_del(g, api_id, errp);
		if (r < 0)
			return r;
		map_del(&g->apis, api_id, NULL);
		api_free(a);
		return 0;
	}
	return err_svc(errp, APIGW_ERR_NOT_FOUND, "Invalid API identifier specified %s:%.64s", g->account,
	               api_id);
}

static json_t *child_or_err(json_t *doc, enum apigw_kind kind, const char *id, struct err *errp)
{
	json_t *c = json_object_get(json_object_get(doc, kind_coll[kind]), id);
	if (!c)
		err_svc(errp, APIGW_ERR_NOT_FOUND, "Invalid %s identifier specified %.130s", kind_label[kind],
		        id);
	return c;
}

json_t *apigw_create(struct apigw *g, const char *api_id, enum apigw_kind kind, json_t *in, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	if (!a)
		return NULL;
	json_t *doc = json_deep_copy(a->doc);
	json_t *o = json_object();
	char id[CHILD_ID_LEN + 1] = "";
	int r;
	if (kind == APIGW_STAGES) {
		r = apply_stage(doc, o, in, true, errp);
	} else {
		do
			gen_id(id, CHILD_ID_LEN);
		while (json_object_get(json_object_get(doc, kind_coll[kind]), id));
		json_object_set_new(o, kind_idkey[kind], json_string(id));
		r = kind == APIGW_ROUTES ? apply_route(doc, NULL, o, in, true, errp)
		                         : apply_integration(doc, o, in, true, errp);
	}
	if (r < 0) {
		json_decref(o);
		json_decref(doc);
		return NULL;
	}
	const char *key = json_string_value(json_object_get(o, kind_idkey[kind]));
	json_object_set_new(json_object_get(doc, kind_coll[kind]), key, json_incref(o));
	json_decref(o);
	if (commit(g, a, doc, errp) < 0)
		return NULL;
	return json_deep_copy(json_object_get(json_object_get(a->doc, kind_coll[kind]), key));
}

json_t *apigw_get(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	json_t *c = a ? child_or_err(a->doc, kind, id, errp) : NULL;
	return c ? json_deep_copy(c) : NULL;
}

json_t *apigw_list(struct apigw *g, const char *api_id, enum apigw_kind kind, struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	if (!a)
		return NULL;
	json_t *arr = json_array();
	const char *id;
	json_t *c;
	json_object_foreach(json_object_get(a->doc, kind_coll[kind]), id, c)
		json_array_append_new(arr, json_deep_copy(c));
	return arr;
}

json_t *apigw_update(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id, json_t *in,
                     struct err *errp)
{
	struct gw_api *a = find_or_err(g, api_id, errp);
	if (!a || !child_or_err(a->doc, kind, id, errp))
		return NULL;
	json_t *doc = json_deep_copy(a->doc);
	json_t *o = json_object_get(json_object_get(doc, kind_coll[kind]), id);
	int r = kind == APIGW_STAGES   ? apply_stage(doc, o, in, false, errp)
	        : kind == APIGW_ROUTES ? apply_route(doc, id, o, in, false, errp)
	                               : apply_integration(doc, o, in, false, errp);
	if (r < 0) {
		json_decref(doc);
		return NULL;
	}
	if (commit(g, a, doc, errp) < 0)
		return NULL;
	return json_deep_copy(json_object_get(json_object_get(a->doc, kind_coll[kind]), id));
}

int apigw_delete(struct apigw *g, const char *api_id, enum apigw_kind kind, const char *id, struct err *errp)
{
	struct gw_api *a = find(g, api_id);
	if (!a)
		return err_svc(errp, APIGW_ERR_NOT_FOUND, "Invalid API identifier specified %s:%.64s",
		               g->account, api_id);
	if (!json_object_get(json_object_get(a->doc, kind_coll[kind]), id))
		return err_svc(errp, APIGW_ERR_NOT_FOUND, "Invalid %s identifier specified %.130s",
		               kind_label[kind], id);
	json_t *doc = json_deep_copy(a->doc);
	json_object_del(json_object_get(doc, kind_coll[kind]), id);
	return commit(g, a, doc, errp);
}

int apigw_resolve(struct apigw *g, const char *api_id, const char *method, const char *path,
                  struct apigw_target *t)
{
	memset(t, 0, sizeof(*t));
	struct gw_api *a = find(g, api_id);
	if (!a)
		return -ENOENT;
	json_t *stages = json_object_get(a->doc, "stages");
	json_t *stage = NULL;
	const char *seg = path[0] == '/' ? path + 1 : path;
	size_t len = strcspn(seg, "/");
	char name[129];
	if (len > 0 && len < sizeof(name)) {
		memcpy(name, seg, len);
		name[len] = '\0';
		if (strcmp(name, "$default") != 0 && (stage = json_object_get(stages, name)))
			t->stage_prefix = (size_t)(seg - path) + len;
	}
	if (!stage && !(stage = json_object_get(stages, "$default")))
		return -ENOENT;
	t->stage = json_string_value(json_object_get(stage, "stageName"));
	json_t *vars = json_object_get(stage, "stageVariables");
	t->stage_vars = json_object_size(vars) ? vars : NULL;
	const char *rpath = path + t->stage_prefix;
	int i = apigw_route_match(a->rkeys, a->nroutes, method, rpath[0] ? rpath : "/", &t->path_params);
	if (i < 0)
		return -ENOENT;
	json_t *route = json_object_get(json_object_get(a->doc, "routes"), a->rids[i]);
	t->route_key = json_string_value(json_object_get(route, "routeKey"));
	t->resource = a->rkeys[i].is_default ? t->route_key : t->route_key + strlen(a->rkeys[i].method) + 1;
	const char *target = json_string_value(json_object_get(route, "target"));
	json_t *integ = target && strncmp(target, "integrations/", 13) == 0
	                    ? json_object_get(json_object_get(a->doc, "integrations"), target + 13)
	                    : NULL;
	const char *uri = json_string_value(json_object_get(integ, "integrationUri"));
	if (uri && apigw_parse_uri(uri, t->fn_name, t->fn_qual, NULL) == 0) {
		t->has_integration = true;
		const char *v = json_string_value(json_object_get(integ, "payloadFormatVersion"));
		t->version = v && strcmp(v, "1.0") == 0 ? 1 : 2;
		json_int_t to = json_integer_value(json_object_get(integ, "timeoutInMillis"));
		t->timeout_ms = to > 0 ? (uint32_t)to : APIGW_TIMEOUT_DEFAULT_MS;
	}
	return 0;
}

void apigw_target_fini(struct apigw_target *t)
{
	json_decref(t->path_params);
	t->path_params = NULL;
}

static int load_cb(struct apigw *g, const char *id, int64_t created_ms, json_t *doc)
{
	if (strlen(id) != APIGW_API_ID_LEN || !json_is_object(json_object_get(doc, "api")) ||
	    !json_is_object(json_object_get(doc, "integrations")) ||
	    !json_is_object(json_object_get(doc, "routes")) ||
	    !json_is_object(json_object_get(doc, "stages")) || find(g, id))
		return -1;
	struct gw_api *a = xcalloc(1, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->created_ms = created_ms;
	a->doc = json_incref(doc);
	reindex(a);
	map_put(&g->apis, a->id, a, NULL);
	return 0;
}

int apigw_new(struct store *st, const char *account, struct apigw **out, struct err *errp)
{
	struct apigw *g = xcalloc(1, sizeof(*g));
	g->st = st;
	g->account = xstrdup(account);
	map_init(&g->apis, 0);
	int r = apigw__db_load(g, load_cb, errp);
	if (r < 0) {
		apigw_free(g);
		return r;
	}
	log_info("apigw: %zu HTTP APIs loaded", map_count(&g->apis));
	*out = g;
	return 0;
}

void apigw_free(struct apigw *g)
{
	if (!g)
		return;
	map_fini(&g->apis, api_free_cb);
	free(g->account);
	free(g);
}
