/* svc/lambda/layers: layer and layer version ARNs, a function's Layers list and the layer
 * permission statement, parsed and checked as AWS does, with errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"

#define A "arn:aws:lambda:us-east-1:123456789012:layer:"

static void test_version_arn(void **state)
{
	(void)state;
	struct api_layer_ref r;
	struct err e = {0};
	assert_int_equal(api__layer_parse_version_arn(A "my-layer_1:42", &r, &e), 0);
	assert_string_equal(r.region, "us-east-1");
	assert_string_equal(r.account, "123456789012");
	assert_string_equal(r.name, "my-layer_1");
	assert_int_equal(r.version, 42);
	assert_int_equal(
	    api__layer_parse_version_arn("arn:aws-cn:lambda:cn-north-1:123456789012:layer:x:1", &r, &e), 0);
	assert_string_equal(r.region, "cn-north-1");
	static const char *const bad[] = {
	    A "x",                                              /* no version */
	    A "x:",                                             /* empty version */
	    A "x:1a",                                           /* not a number */
	    A "x:1:2",                                          /* a field too many */
	    A ":1",                                             /* no name */
	    A "sp ace:1",                                       /* a name out of the set */
	    "arn:aws:lambda:us-east-1:12345678901:layer:x:1",   /* an 11-digit account */
	    "arn:aws:lambda:us-east-1:123456789012:layr:x:1",   /* not "layer" */
	    "arn:aws:s3:us-east-1:123456789012:layer:x:1",      /* not lambda */
	    "arn:aws:lambda::123456789012:layer:x:1",           /* no region */
	    "x:aws:lambda:us-east-1:123456789012:layer:x:1",    /* not arn */
	    "arn:aws:lambda:us-east-1:123456789012:function:x", /* a function */
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (api__layer_parse_version_arn(bad[i], &r, &e) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(e.svc, LAMBDA_ERR_VALIDATION);
		assert_non_null(strstr(e.msg, "at 'arn'"));
	}
	/* 141 characters: over the model's 140. */
	char longarn[200];
	snprintf(longarn, sizeof(longarn), A "%0*d:1", 141 - (int)strlen(A) - 2, 0);
	assert_int_equal(strlen(longarn), 141);
	assert_int_equal(api__layer_parse_version_arn(longarn, &r, &e), -EINVAL);
}

static void test_layer_name(void **state)
{
	(void)state;
	struct api_layer_ref r;
	struct err e = {0};
	assert_int_equal(api__layer_parse_name("plain-name_2", &r, &e), 0);
	assert_string_equal(r.name, "plain-name_2");
	assert_string_equal(r.region, "");
	assert_int_equal(api__layer_parse_name(A "viaarn", &r, &e), 0);
	assert_string_equal(r.name, "viaarn");
	assert_string_equal(r.account, "123456789012");
	static const char *const bad[] = {"", "a b", "a/b", A "x:1", "arn:aws:lambda:us-east-1:1:layer:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (api__layer_parse_name(bad[i], &r, &e) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(e.msg, "at 'layerName'"));
	}
	char n140[141], n141[142];
	memset(n140, 'a', 140);
	n140[140] = 0;
	memset(n141, 'a', 141);
	n141[141] = 0;
	assert_int_equal(api__layer_parse_name(n140, &r, &e), 0);
	assert_int_equal(api__layer_parse_name(n141, &r, &e), -EINVAL);
}

/* api__layers_check on the JSON text list: its return, and the message's start. */
static int check(const char *list, const char *want_msg)
{
	json_t *l = json_loads(list, JSON_DECODE_ANY, NULL);
	struct api_layer_ref refs[API_LAYERS_MAX];
	size_t n = 99;
	struct err e = {0};
	int r = api__layers_check(l, refs, &n, &e);
	json_decref(l);
	if (want_msg && (r == 0 || !strstr(e.msg, want_msg)))
		fail_msg("%s: got %d [%s], want [%s]", list, r, e.msg, want_msg);
	return r == 0 ? (int)n : r;
}

static void test_layers_list(void **state)
{
	(void)state;
	assert_int_equal(check("[]", NULL), 0);
	assert_int_equal(check("[\"" A "a:1\", \"" A "b:2\"]", NULL), 2);
	assert_int_equal(check("[\"" A "a:1\",\"" A "b:1\",\"" A "c:1\",\"" A "d:1\",\"" A "e:1\"]", NULL),
	                 5);
	check("[\"" A "a:1\",\"" A "b:1\",\"" A "c:1\",\"" A "d:1\",\"" A "e:1\",\"" A "f:1\"]",
	      "Cannot reference more than 5 layers.");
	check("[\"" A "a:1\", \"" A "a:2\"]", "Two different versions of the same layer are not allowed");
	check("[\"" A "a:1\", 7]", "Layers[1] must be a layer version ARN");
	check("[\"nope\"]", "at 'layers' failed to satisfy constraint");
	check("\"" A "a:1\"", "Layers must be a list");
	/* The same name in another account is another layer. */
	assert_int_equal(check("[\"" A "a:1\", \"arn:aws:lambda:us-east-1:210987654321:layer:a:1\"]", NULL),
	                 2);
}

static json_t *statement(const char *body, struct err *e)
{
	json_t *b = json_loads(body, 0, NULL);
	assert_non_null(b);
	json_t *st = api__layer_statement(b, A "l:1", e);
	json_decref(b);
	return st;
}

static void test_statement(void **state)
{
	(void)state;
	struct err e = {0};
	json_t *st = statement(
	    "{\"StatementId\":\"s\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"123456789012\"}",
	    &e);
	json_t *want = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "Sid", "s", "Effect", "Allow", "Principal",
	                         "AWS", "arn:aws:iam::123456789012:root", "Action", "lambda:GetLayerVersion",
	                         "Resource", A "l:1");
	assert_true(json_equal(st, want));
	json_decref(want);
	json_decref(st);
	st = statement("{\"StatementId\":\"o\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"*\","
	               "\"OrganizationId\":\"o-abcdefghij\"}",
	               &e);
	assert_string_equal(json_string_value(json_object_get(st, "Principal")), "*");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(st, "Condition"), "StringEquals"), "aws:PrincipalOrgID")),
	    "o-abcdefghij");
	json_decref(st);
	st = statement("{\"StatementId\":\"r\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"arn:aws:"
	               "iam::123456789012:root\"}",
	               &e);
	assert_string_equal(json_string_value(json_object_get(json_object_get(st, "Principal"), "AWS")),
	                    "arn:aws:iam::123456789012:root");
	json_decref(st);
	static const char *const bad[][2] = {
	    {"{\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"*\"}", "Value null at 'statementId'"},
	    {"{\"StatementId\":\"s\",\"Principal\":\"*\"}", "Value null at 'action'"},
	    {"{\"StatementId\":\"s\",\"Action\":\"lambda:GetLayerVersion\"}", "Value null at 'principal'"},
	    {"{\"StatementId\":\"s s\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"*\"}",
	     "at 'statementId'"},
	    {"{\"StatementId\":\"s\",\"Action\":\"lambda:*\",\"Principal\":\"*\"}", "at 'action'"},
	    {"{\"StatementId\":\"s\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"sns.amazonaws."
	     "com\"}",
	     "at 'principal'"},
	    {"{\"StatementId\":\"s\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"*\","
	     "\"OrganizationId\":"
	     "\"org\"}",
	     "at 'organizationId'"},
	    {"{\"StatementId\":\"s\",\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"123456789012\","
	     "\"OrganizationId\":\"o-abcdefghij\"}",
	     "OrganizationId can only be specified with the principal *"},
	    {"{\"StatementId\":1,\"Action\":\"lambda:GetLayerVersion\",\"Principal\":\"*\"}",
	     "StatementId must be a string"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		st = statement(bad[i][0], &e);
		if (st || !strstr(e.msg, bad[i][1]))
			fail_msg("%s: got [%s], want [%s]", bad[i][0], e.msg, bad[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_arn),
	    cmocka_unit_test(test_layer_name),
	    cmocka_unit_test(test_layers_list),
	    cmocka_unit_test(test_statement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
