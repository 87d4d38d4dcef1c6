/* The resource-policy statement builder and document edits (policy.c): the exact
 * statements AWS writes for each principal shape and condition, the validation errors
 * naming their field, duplicate Sids, the 20 KB limit and removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "svc/lambda/api_int.h"

#define RES "arn:aws:lambda:us-east-1:000000000000:function:f"

/* The statement for body (JSON text) as compact JSON text (owned), or NULL with *e. */
static char *build(const char *body, struct err *e)
{
	json_t *b = json_loads(body, 0, NULL);
	assert_non_null(b);
	json_t *st = api__policy_statement(b, RES, e);
	json_decref(b);
	if (!st)
		return NULL;
	char *txt = json_dumps(st, JSON_COMPACT);
	json_decref(st);
	return txt;
}

static void expect_statement(const char *body, const char *want)
{
	struct err e = {0};
	char *got = build(body, &e);
	if (!got)
		fail_msg("%s: %s", body, e.msg);
	assert_string_equal(got, want);
	free(got);
}

static void expect_error(const char *body, int svc, const char *msg_part)
{
	struct err e = {0};
	char *got = build(body, &e);
	if (got)
		fail_msg("%s built %s", body, got);
	assert_int_equal(e.svc, svc);
	if (!strstr(e.msg, msg_part))
		fail_msg("[%s] not in [%s]", msg_part, e.msg);
}

static void test_principals(void **state)
{
	(void)state;
	expect_statement(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:InvokeFunction\",\"Principal\":\"*\"}",
	    "{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\","
	    "\"Resource\":\"" RES "\"}");
	expect_statement(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:*\",\"Principal\":\"123456789012\"}",
	    "{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:root\"},"
	    "\"Action\":\"lambda:*\",\"Resource\":\"" RES "\"}");
	expect_statement(
	    "{\"StatementId\":\"a\",\"Action\":\"*\",\"Principal\":\"arn:aws:iam::123456789012:user/u\"}",
	    "{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::123456789012:user/"
	    "u\"},"
	    "\"Action\":\"*\",\"Resource\":\"" RES "\"}");
	expect_statement(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:GetFunction\",\"Principal\":\"s3.amazonaws.com\"}",
	    "{\"Sid\":\"a\",\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"s3.amazonaws.com\"},"
	    "\"Action\":\"lambda:GetFunction\",\"Resource\":\"" RES "\"}");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:GetFunction\",\"Principal\":\"nodots\"}",
	             LAMBDA_ERR_INVALID_PARAMETER_VALUE, "The provided principal was invalid");
}

static void test_conditions(void **state)
{
	(void)state;
	expect_statement(
	    "{\"StatementId\":\"c\",\"Action\":\"lambda:InvokeFunction\",\"Principal\":\"sns.amazonaws.com\","
	    "\"SourceArn\":\"arn:aws:sns:us-east-1:123456789012:t\",\"SourceAccount\":\"123456789012\","
	    "\"PrincipalOrgID\":\"o-abcdefghij\",\"EventSourceToken\":\"tok.1\"}",
	    "{\"Sid\":\"c\",\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"sns.amazonaws.com\"},"
	    "\"Action\":\"lambda:InvokeFunction\",\"Resource\":\"" RES "\",\"Condition\":{\"StringEquals\":{"
	    "\"AWS:SourceAccount\":\"123456789012\",\"aws:PrincipalOrgID\":\"o-abcdefghij\","
	    "\"lambda:EventSourceToken\":\"tok.1\"},\"ArnLike\":{\"AWS:SourceArn\":\"arn:aws:sns:us-east-1:"
	    "123456789012:t\"}}}");
	expect_statement(
	    "{\"StatementId\":\"u\",\"Action\":\"lambda:InvokeFunctionUrl\",\"Principal\":\"*\","
	    "\"FunctionUrlAuthType\":\"AWS_IAM\"}",
	    "{\"Sid\":\"u\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunctionUrl\","
	    "\"Resource\":\"" RES "\",\"Condition\":{\"StringEquals\":{\"lambda:FunctionUrlAuthType\":"
	    "\"AWS_IAM\"}}}");
	expect_statement(
	    "{\"StatementId\":\"v\",\"Action\":\"lambda:InvokeFunction\",\"Principal\":\"*\","
	    "\"InvokedViaFunctionUrl\":true}",
	    "{\"Sid\":\"v\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\","
	    "\"Resource\":\"" RES "\",\"Condition\":{\"Bool\":{\"lambda:InvokedViaFunctionUrl\":\"true\"}}}");
	/* false adds nothing. */
	expect_statement(
	    "{\"StatementId\":\"v\",\"Action\":\"lambda:InvokeFunction\",\"Principal\":\"*\","
	    "\"InvokedViaFunctionUrl\":false}",
	    "{\"Sid\":\"v\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\","
	    "\"Resource\":\"" RES "\"}");
}

static void test_validation(void **state)
{
	(void)state;
	expect_error("{\"Action\":\"lambda:InvokeFunction\",\"Principal\":\"*\"}", LAMBDA_ERR_VALIDATION,
	             "Value null at 'statementId' failed to satisfy constraint: Member must not be null");
	expect_error("{\"StatementId\":\"a\",\"Principal\":\"*\"}", LAMBDA_ERR_VALIDATION,
	             "Value null at 'action'");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:X\"}", LAMBDA_ERR_VALIDATION,
	             "Value null at 'principal'");
	expect_error("{\"StatementId\":\"a b\",\"Action\":\"lambda:X\",\"Principal\":\"*\"}",
	             LAMBDA_ERR_VALIDATION,
	             "Value 'a b' at 'statementId' failed to satisfy constraint: Member must satisfy regular "
	             "expression pattern");
	expect_error("{\"StatementId\":\"\",\"Action\":\"lambda:X\",\"Principal\":\"*\"}",
	             LAMBDA_ERR_VALIDATION, "Member must have length greater than or equal to 1");
	char body[300];
	snprintf(body, sizeof(body),
	         "{\"StatementId\":\"%0101d\",\"Action\":\"lambda:X\",\"Principal\":\"*\"}", 0);
	expect_error(body, LAMBDA_ERR_VALIDATION, "Member must have length less than or equal to 100");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"s3:GetObject\",\"Principal\":\"*\"}",
	             LAMBDA_ERR_VALIDATION, "at 'action'");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:Invoke1\",\"Principal\":\"*\"}",
	             LAMBDA_ERR_VALIDATION, "at 'action'");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"a b\"}",
	             LAMBDA_ERR_VALIDATION, "at 'principal'");
	expect_error(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\",\"SourceArn\":\"x\"}",
	    LAMBDA_ERR_VALIDATION, "at 'sourceArn'");
	expect_error(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\",\"SourceAccount\":\"1234\"}",
	    LAMBDA_ERR_VALIDATION, "at 'sourceAccount'");
	expect_error(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\",\"PrincipalOrgID\":\"o-x\"}",
	    LAMBDA_ERR_VALIDATION, "at 'principalOrgID'");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\","
	             "\"EventSourceToken\":\"a b\"}",
	             LAMBDA_ERR_VALIDATION, "at 'eventSourceToken'");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\","
	             "\"FunctionUrlAuthType\":\"X\"}",
	             LAMBDA_ERR_VALIDATION, "enum value set: [NONE, AWS_IAM]");
	expect_error("{\"StatementId\":1,\"Action\":\"lambda:X\",\"Principal\":\"*\"}",
	             LAMBDA_ERR_INVALID_PARAMETER_VALUE, "StatementId must be a string");
	expect_error(
	    "{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\",\"InvokedViaFunctionUrl\":1}",
	    LAMBDA_ERR_INVALID_PARAMETER_VALUE, "InvokedViaFunctionUrl must be a boolean");
	expect_error("{\"StatementId\":\"a\",\"Action\":\"lambda:X\",\"Principal\":\"*\","
	             "\"InvokedViaFunctionUrl\":true}",
	             LAMBDA_ERR_INVALID_PARAMETER_VALUE,
	             "only supported for the lambda:InvokeFunction action");
}

static json_t *empty_doc(void)
{
	return json_pack("{s:s, s:s, s:[]}", "Version", "2012-10-17", "Id", "default", "Statement");
}

static json_t *stmt(const char *sid)
{
	json_t *b = json_pack("{s:s, s:s, s:s}", "StatementId", sid, "Action", "lambda:InvokeFunction",
	                      "Principal", "events.amazonaws.com");
	struct err e = {0};
	json_t *st = api__policy_statement(b, RES, &e);
	json_decref(b);
	assert_non_null(st);
	return st;
}

static void test_document(void **state)
{
	(void)state;
	json_t *doc = empty_doc();
	struct err e = {0};
	assert_int_equal(api__policy_add(doc, stmt("one"), &e), 0);
	assert_int_equal(api__policy_add(doc, stmt("two"), &e), 0);
	assert_int_equal(api__policy_add(doc, stmt("one"), &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_RESOURCE_CONFLICT);
	assert_string_equal(e.msg,
	                    "The statement id (one) provided already exists. Please specify a new statement "
	                    "id, or remove the existing statement.");
	assert_int_equal(json_array_size(json_object_get(doc, "Statement")), 2);

	assert_int_equal(api__policy_remove(doc, "nope", &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_RESOURCE_NOT_FOUND);
	assert_string_equal(e.msg, "Statement nope is not found in resource policy.");
	assert_int_equal(api__policy_remove(doc, "one", &e), 0);
	json_t *list = json_object_get(doc, "Statement");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "Sid")), "two");

	/* Statements until the document passes 20 KB: the one that would is refused and the
	 * document stays as it was. */
	int added = 0, r = 0;
	char sid[32];
	while (r == 0) {
		snprintf(sid, sizeof(sid), "s%d", added);
		r = api__policy_add(doc, stmt(sid), &e);
		if (r == 0)
			added++;
	}
	assert_int_equal(r, -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_POLICY_LENGTH_EXCEEDED);
	assert_non_null(strstr(e.msg, "is bigger than the limit (20480)"));
	assert_int_equal(json_array_size(list), (size_t)added + 1);
	char *txt = json_dumps(doc, JSON_COMPACT);
	assert_true(strlen(txt) <= API_POLICY_MAX);
	assert_true(added > 50);
	free(txt);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_principals),
	    cmocka_unit_test(test_conditions),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
