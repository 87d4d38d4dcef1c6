/* apigw/model and db: quick create, validation errors, stages and route resolution,
 * and that a reopened database has what was committed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/apigw/apigw.h"
#include "store/store.h"

static char dir[] = "/tmp/lambdad-test-apigw.XXXXXX";

/* The APIs live in a store on dir; opening and freeing both reopens the database. */
static struct store *gw_store;

static int gw_open(struct apigw **g, struct err *e)
{
	int r = store_new(dir, &gw_store, e);
	return r < 0 ? r : apigw_new(gw_store, "000000000000", g, e);
}

static void gw_free(struct apigw *g)
{
	apigw_free(g);
	store_free(gw_store);
	gw_store = NULL;
}

static json_t *js(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	assert_non_null(o);
	return o;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Creates from JSON text; returns the result (owned) or NULL with e set. */
static json_t *create(struct apigw *g, const char *api, int kind, const char *text, struct err *e)
{
	json_t *in = js(text);
	json_t *o = api ? apigw_create(g, api, kind, in, e) : apigw_create_api(g, in, e);
	json_decref(in);
	return o;
}

static void test_quick_create_and_resolve(void **state)
{
	struct apigw *g;
	struct err e = {0};
	assert_int_equal(gw_open(&g, &e), 0);
	json_t *api = create(g, NULL, 0,
	                     "{\"name\":\"q\",\"protocolType\":\"HTTP\","
	                     "\"target\":\"arn:aws:lambda:us-east-1:000000000000:function:fn1\"}",
	                     &e);
	assert_non_null(api);
	char id[16];
	snprintf(id, sizeof(id), "%s", str(api, "apiId"));
	assert_int_equal(strlen(id), APIGW_API_ID_LEN);
	assert_string_equal(str(api, "protocolType"), "HTTP");
	json_decref(api);
	struct apigw_target t;
	assert_int_equal(apigw_resolve(g, id, "PUT", "/any/thing", &t), 0);
	assert_string_equal(t.route_key, "$default");
	assert_string_equal(t.stage, "$default");
	assert_string_equal(t.fn_name, "fn1");
	assert_int_equal(t.version, 2);
	assert_int_equal(t.timeout_ms, APIGW_TIMEOUT_DEFAULT_MS);
	assert_true(t.has_integration);
	assert_null(t.path_params);
	apigw_target_fini(&t);
	assert_int_equal(apigw_resolve(g, "nosuchapi0", "GET", "/", &t), -ENOENT);

	/* A route with a 1.0 integration, a named stage with variables. */
	json_t *integ =
	    create(g, id, APIGW_INTEGRATIONS,
	           "{\"integrationType\":\"AWS_PROXY\",\"payloadFormatVersion\":\"1.0\","
	           "\"timeoutInMillis\":500,\"integrationUri\":\"arn:aws:apigateway:us-east-1:lambda:path/"
	           "2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn2/invocations\"}",
	           &e);
	assert_non_null(integ);
	char target[64];
	snprintf(target, sizeof(target), "{\"routeKey\":\"GET /items/{id}\",\"target\":\"integrations/%s\"}",
	         str(integ, "integrationId"));
	json_decref(integ);
	json_t *route = create(g, id, APIGW_ROUTES, target, &e);
	assert_non_null(route);
	json_decref(route);
	assert_null(create(g, id, APIGW_ROUTES, target, &e));
	assert_int_equal(e.svc, APIGW_ERR_CONFLICT);
	json_t *st =
	    create(g, id, APIGW_STAGES, "{\"stageName\":\"prod\",\"stageVariables\":{\"k\":\"v\"}}", &e);
	assert_non_null(st);
	json_decref(st);
	assert_int_equal(apigw_resolve(g, id, "GET", "/prod/items/7", &t), 0);
	assert_string_equal(t.stage, "prod");
	assert_int_equal(t.stage_prefix, 5);
	assert_string_equal(t.route_key, "GET /items/{id}");
	assert_string_equal(t.resource, "/items/{id}");
	assert_string_equal(t.fn_name, "fn2");
	assert_int_equal(t.version, 1);
	assert_int_equal(t.timeout_ms, 500);
	assert_string_equal(json_string_value(json_object_get(t.path_params, "id")), "7");
	assert_string_equal(json_string_value(json_object_get(t.stage_vars, "k")), "v");
	apigw_target_fini(&t);
	gw_free(g);

	/* Reopened: the same API answers the same way. */
	assert_int_equal(gw_open(&g, &e), 0);
	assert_true(apigw_has_api(g, id));
	assert_int_equal(apigw_resolve(g, id, "GET", "/prod/items/8", &t), 0);
	assert_string_equal(t.fn_name, "fn2");
	apigw_target_fini(&t);
	json_t *routes = apigw_list(g, id, APIGW_ROUTES, &e);
	assert_int_equal(json_array_size(routes), 2);
	json_decref(routes);
	assert_int_equal(apigw_delete_api(g, id, &e), 0);
	assert_false(apigw_has_api(g, id));
	assert_int_equal(apigw_delete_api(g, id, &e), -EINVAL);
	assert_int_equal(e.svc, APIGW_ERR_NOT_FOUND);
	gw_free(g);
	assert_int_equal(gw_open(&g, &e), 0);
	assert_false(apigw_has_api(g, id));
	gw_free(g);
}

static void test_validation(void **state)
{
	struct apigw *g;
	struct err e = {0};
	assert_int_equal(gw_open(&g, &e), 0);
	const char *bad_apis[] = {
	    "{\"name\":\"x\"}",
	    "{\"name\":\"x\",\"protocolType\":\"WEBSOCKET\"}",
	    "{\"protocolType\":\"HTTP\"}",
	    "{\"name\":\"x\",\"protocolType\":\"HTTP\",\"target\":\"arn:aws:lambda:us-east-1:000000000000:"
	    "bad\"}",
	    "{\"name\":\"x\",\"protocolType\":\"HTTP\",\"routeSelectionExpression\":\"$request.body."
	    "action\"}",
	};
	for (size_t i = 0; i < sizeof(bad_apis) / sizeof(bad_apis[0]); i++) {
		e.code = 0;
		json_t *o = create(g, NULL, 0, bad_apis[i], &e);
		if (o)
			fail_msg("accepted %s", bad_apis[i]);
		assert_int_equal(e.svc, APIGW_ERR_BAD_REQUEST);
	}
	json_t *api = create(g, NULL, 0, "{\"name\":\"v\",\"protocolType\":\"HTTP\"}", &e);
	assert_non_null(api);
	const char *id = str(api, "apiId");
	const char *bad_children[][2] = {
	    {"0", "{\"integrationType\":\"HTTP_PROXY\",\"integrationUri\":\"http://"
	          "x\",\"payloadFormatVersion\":\"1.0\"}"},
	    {"0", "{\"integrationType\":\"AWS_PROXY\",\"integrationUri\":\"fn\",\"payloadFormatVersion\":\"3."
	          "0\"}"},
	    {"0", "{\"integrationType\":\"AWS_PROXY\",\"integrationUri\":\"fn\"}"},
	    {"0",
	     "{\"integrationType\":\"AWS_PROXY\",\"integrationUri\":\"fn\",\"payloadFormatVersion\":\"2.0\","
	     "\"timeoutInMillis\":40000}"},
	    {"1", "{\"routeKey\":\"GET items\"}"},
	    {"1", "{\"routeKey\":\"GET /x\",\"target\":\"integrations/nope\"}"},
	    {"1", "{\"routeKey\":\"GET /x\",\"authorizationType\":\"JWT\"}"},
	    {"2", "{\"stageName\":\"bad name\"}"},
	    {"2", "{\"stageName\":\"s\",\"stageVariables\":{\"k\":1}}"},
	};
	for (size_t i = 0; i < sizeof(bad_children) / sizeof(bad_children[0]); i++) {
		e.code = 0;
		json_t *o = create(g, id, bad_children[i][0][0] - '0', bad_children[i][1], &e);
		if (o)
			fail_msg("accepted %s", bad_children[i][1]);
		assert_int_equal(e.svc, APIGW_ERR_BAD_REQUEST);
	}
	/* Nothing was half-created. */
	for (int k = 0; k < 3; k++) {
		json_t *l = apigw_list(g, id, k, &e);
		assert_int_equal(json_array_size(l), 0);
		json_decref(l);
	}
	assert_null(apigw_get(g, id, APIGW_ROUTES, "nope123", &e));
	assert_int_equal(e.svc, APIGW_ERR_NOT_FOUND);
	assert_null(apigw_list(g, "nosuchapi0", APIGW_ROUTES, &e));
	assert_int_equal(e.svc, APIGW_ERR_NOT_FOUND);
	/* No stage: nothing is served. */
	struct apigw_target t;
	assert_int_equal(apigw_resolve(g, id, "GET", "/", &t), -ENOENT);
	json_decref(api);
	gw_free(g);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quick_create_and_resolve),
	    cmocka_unit_test(test_validation),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
