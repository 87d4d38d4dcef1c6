/* The tag and code signing config id checks of the Lambda API (svc/lambda/tags.c, csc.c):
 * AWS's limits at their edges (50 tags, keys 1-128 and values 0-256 characters counted
 * as characters, not bytes), its character set, the reserved aws: prefix in any case, and
 * the error each refusal is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "svc/lambda/api_int.h"

/* api__tags_check of the JSON text; the service error (0 when accepted). */
static int check_tags(const char *json, char *msg)
{
	json_t *t = json_loads(json, 0, NULL);
	assert_non_null(t);
	struct err e = {0};
	int r = api__tags_check(t, &e);
	json_decref(t);
	if (msg)
		strcpy(msg, e.msg);
	if (r == 0)
		return 0;
	assert_int_equal(r, -EINVAL);
	return e.svc;
}

static json_t *repeat_obj(const char *unit, size_t n, const char *value)
{
	char key[1024] = "";
	for (size_t i = 0; i < n; i++)
		strcat(key, unit);
	return json_pack("{s:s}", key, value);
}

static int check_obj(json_t *t)
{
	struct err e = {0};
	int r = api__tags_check(t, &e);
	json_decref(t);
	return r == 0 ? 0 : e.svc;
}

static void test_accepted(void **state)
{
	(void)state;
	assert_int_equal(check_tags("{}", NULL), 0);
	assert_int_equal(check_tags("{\"team\":\"core\",\"empty\":\"\"}", NULL), 0);
	assert_int_equal(check_tags("{\"a b_c.d:e/f=g+h-i@j\":\"x y:z/=+-@._\"}", NULL), 0);
	/* Letters of other scripts are letters: \p{L}. */
	assert_int_equal(check_tags("{\"\xc3\xa9quipe\":\"\xe6\x97\xa5\xe6\x9c\xac\"}", NULL), 0);
	/* "aws" without the colon, or the prefix elsewhere, is an ordinary key. */
	assert_int_equal(check_tags("{\"awsx\":\"1\",\"my:aws:\":\"aws:ok\"}", NULL), 0);
}

static void test_lengths(void **state)
{
	(void)state;
	assert_int_equal(check_obj(repeat_obj("k", 128, "v")), 0);
	assert_int_equal(check_obj(repeat_obj("k", 129, "v")), LAMBDA_ERR_VALIDATION);
	/* 128 two-byte characters are 128 characters. */
	assert_int_equal(check_obj(repeat_obj("\xc3\xa9", 128, "v")), 0);
	assert_int_equal(check_obj(repeat_obj("\xc3\xa9", 129, "v")), LAMBDA_ERR_VALIDATION);
	json_t *v = repeat_obj("v", 256, "");
	const char *k = json_object_iter_key(json_object_iter(v));
	json_t *t = json_pack("{s:s}", "k", k);
	json_decref(v);
	assert_int_equal(check_obj(t), 0);
	v = repeat_obj("v", 257, "");
	t = json_pack("{s:s}", "k", json_object_iter_key(json_object_iter(v)));
	json_decref(v);
	char msg[512];
	assert_int_equal(check_obj(t), LAMBDA_ERR_VALIDATION);
	assert_int_equal(check_tags("{\"\":\"v\"}", msg), LAMBDA_ERR_VALIDATION);
	assert_non_null(strstr(msg, "greater than or equal to 1"));
}

static void test_count(void **state)
{
	(void)state;
	json_t *t = json_object();
	char k[16];
	for (int i = 0; i < API_TAGS_MAX; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		json_object_set_new(t, k, json_string("v"));
	}
	struct err e = {0};
	assert_int_equal(api__tags_check(t, &e), 0);
	json_object_set_new(t, "one-more", json_string("v"));
	assert_int_equal(api__tags_check(t, &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "Number of tags exceeds resource tag limit"));
	json_decref(t);
}

static void test_refused(void **state)
{
	(void)state;
	char msg[512];
	assert_int_equal(check_tags("{\"aws:x\":\"1\"}", msg), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(msg, "aws:"));
	assert_int_equal(check_tags("{\"AwS:x\":\"1\"}", NULL), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_int_equal(check_tags("{\"bad!key\":\"1\"}", msg), LAMBDA_ERR_VALIDATION);
	assert_non_null(strstr(msg, "Map keys must satisfy constraint"));
	assert_int_equal(check_tags("{\"k\":\"semi;colon\"}", msg), LAMBDA_ERR_VALIDATION);
	assert_non_null(strstr(msg, "Map value must satisfy constraint"));
	assert_int_equal(check_tags("{\"k\":1}", NULL), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_int_equal(check_tags("[\"k\"]", NULL), LAMBDA_ERR_INVALID_PARAMETER_VALUE);
}

static void test_csc_id(void **state)
{
	(void)state;
	assert_true(api__csc_id_valid("csc-0123456789abcdef0"));
	assert_false(api__csc_id_valid("csc-0123456789abcdef"));   /* 16 */
	assert_false(api__csc_id_valid("csc-0123456789abcdef01")); /* 18 */
	assert_false(api__csc_id_valid("csc-0123456789ABCDEF0"));
	assert_false(api__csc_id_valid("cs-00123456789abcdef0"));
	assert_false(api__csc_id_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted), cmocka_unit_test(test_lengths), cmocka_unit_test(test_count),
	    cmocka_unit_test(test_refused),  cmocka_unit_test(test_csc_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
