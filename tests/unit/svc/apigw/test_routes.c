/* apigw/route: route key parsing and API Gateway's choice of route (exact before
 * variables before greedy, a method before ANY, $default last), path parameters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/apigw/route.h"

struct table {
	struct apigw_rkey k[16];
	const char *src[16];
	size_t n;
};

static void add(struct table *t, const char *key)
{
	struct err e = {0};
	if (apigw_rkey_parse(key, &t->k[t->n], &e) != 0)
		fail_msg("parse %s: %s", key, e.msg);
	t->src[t->n++] = key;
}

static void fini(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		apigw_rkey_fini(&t->k[i]);
}

/* The key chosen for method and path, or "-" for none; params (if want_params is not
 * NULL) compared as compact JSON ("null" when there are none). */
static void expect(struct table *t, const char *method, const char *path, const char *want,
                   const char *want_params)
{
	json_t *params = NULL;
	int i = apigw_route_match(t->k, t->n, method, path, &params);
	const char *got = i < 0 ? "-" : t->src[i];
	if (strcmp(got, want) != 0)
		fail_msg("%s %s: chose [%s], expected [%s]", method, path, got, want);
	if (want_params) {
		char *txt = params ? json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS) : strdup("null");
		if (strcmp(txt, want_params) != 0)
			fail_msg("%s %s: params %s, expected %s", method, path, txt, want_params);
		free(txt);
	}
	json_decref(params);
}

static void test_parse(void **state)
{
	struct apigw_rkey k;
	struct err e = {0};
	assert_int_equal(apigw_rkey_parse("GET /items/{id}", &k, &e), 0);
	assert_string_equal(k.method, "GET");
	assert_int_equal(k.nsegs, 2);
	assert_int_equal(k.segs[0].kind, APIGW_SEG_LITERAL);
	assert_string_equal(k.segs[0].text, "items");
	assert_int_equal(k.segs[1].kind, APIGW_SEG_PARAM);
	assert_string_equal(k.segs[1].text, "id");
	apigw_rkey_fini(&k);
	assert_int_equal(apigw_rkey_parse("ANY /{proxy+}", &k, &e), 0);
	assert_int_equal(k.segs[0].kind, APIGW_SEG_GREEDY);
	assert_string_equal(k.segs[0].text, "proxy");
	apigw_rkey_fini(&k);
	assert_int_equal(apigw_rkey_parse("$default", &k, &e), 0);
	assert_true(k.is_default);
	apigw_rkey_fini(&k);
	assert_int_equal(apigw_rkey_parse("GET /", &k, &e), 0);
	assert_int_equal(k.nsegs, 0);
	apigw_rkey_fini(&k);
	const char *bad[] = {"GET",      "get /x",      "FETCH /x",  "GET x",         "GET /a//b",
	                     "GET /a/",  "GET /{p+}/x", "GET /a{b}", "GET /{}",       "GET /{a b}",
	                     "$Default", "GET  /x",     "/x",        "ANY /{proxy+}/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e.msg[0] = '\0';
		if (apigw_rkey_parse(bad[i], &k, &e) != -EINVAL)
			fail_msg("[%s] parsed", bad[i]);
		assert_true(e.msg[0] != '\0');
		assert_null(k.segs);
	}
}

static void test_priority(void **state)
{
	struct table t = {0};
	/* Added in an order that a first-match matcher would get wrong. */
	add(&t, "$default");
	add(&t, "ANY /{proxy+}");
	add(&t, "GET /items/{proxy+}");
	add(&t, "GET /items/{id}");
	add(&t, "GET /items/special");
	add(&t, "POST /items");
	add(&t, "ANY /items/{id}");
	add(&t, "GET /");
	expect(&t, "GET", "/items/special", "GET /items/special", "null");
	expect(&t, "GET", "/items/42", "GET /items/{id}", "{\"id\":\"42\"}");
	expect(&t, "GET", "/items/42/parts/7", "GET /items/{proxy+}", "{\"proxy\":\"42/parts/7\"}");
	/* No POST for /items/{id}: ANY on the same path beats a greedy path. */
	expect(&t, "DELETE", "/items/42", "ANY /items/{id}", "{\"id\":\"42\"}");
	expect(&t, "POST", "/items", "POST /items", "null");
	/* GET /items has no route of its own: the greedy ANY takes it. */
	expect(&t, "GET", "/items", "ANY /{proxy+}", "{\"proxy\":\"items\"}");
	expect(&t, "PUT", "/other/x/y", "ANY /{proxy+}", "{\"proxy\":\"other/x/y\"}");
	expect(&t, "GET", "/", "GET /", "null");
	/* A greedy variable needs at least one character: / is $default's. */
	expect(&t, "POST", "/", "$default", "null");
	/* An empty segment is no value for {id}, nor an empty rest for {proxy+}. */
	expect(&t, "GET", "/items/", "ANY /{proxy+}", "{\"proxy\":\"items/\"}");
	fini(&t);
}

static void test_no_default(void **state)
{
	struct table t = {0};
	add(&t, "GET /items/{id}");
	add(&t, "POST /items");
	expect(&t, "GET", "/items", "-", "null");
	expect(&t, "GET", "/items/1/x", "-", "null");
	expect(&t, "PUT", "/items/1", "-", "null");
	expect(&t, "HEAD", "/items/1", "-", "null");
	expect(&t, "GET", "/items/", "-", "null");
	expect(&t, "GET", "/nope", "-", "null");
	fini(&t);
	struct table u = {0};
	expect(&u, "GET", "/", "-", "null");
}

static void test_decoding(void **state)
{
	struct table t = {0};
	add(&t, "GET /files/{name}/raw");
	add(&t, "GET /caf\xc3\xa9/{proxy+}");
	add(&t, "GET /a/{x}/{y}");
	expect(&t, "GET", "/files/a%20b%2Fc/raw", "GET /files/{name}/raw", "{\"name\":\"a b/c\"}");
	expect(&t, "GET", "/caf%C3%A9/%E2%9C%93/b+c", "GET /caf\xc3\xa9/{proxy+}",
	       "{\"proxy\":\"\xe2\x9c\x93/b+c\"}");
	expect(&t, "GET", "/a/1/2", "GET /a/{x}/{y}", "{\"x\":\"1\",\"y\":\"2\"}");
	/* A malformed escape stays as it is; bytes that are not UTF-8 become '?'. */
	expect(&t, "GET", "/files/%zz%ff/raw", "GET /files/{name}/raw", "{\"name\":\"%zz?\"}");
	fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_priority),
	    cmocka_unit_test(test_no_default),
	    cmocka_unit_test(test_decoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
