/* The JSON protocols' codecs (proto/json.c) on a fake transport: results, the error shape of
 * REST-JSON (Lambda's and API Gateway's) and of AWS JSON 1.0/1.1, request bodies, targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "../front/fake_transport.h"
#include "proto/proto.h"

static const struct svc_error not_found = {"ResourceNotFoundException", 404, true};
static const struct svc_error internal = {"ServiceException", 500, false};

/* Answers a fresh request with error e in protocol p and returns "<status> <content-type>
 * <X-Amzn-ErrorType or -> <body>" (owned). */
static char *error_reply(enum proto p, unsigned flags, const struct svc_error *e, json_t *extra,
                         const char *msg)
{
	struct fake *f = fake_new("GET", "/x", NULL, NULL);
	proto_reply_error(f->rq, p, flags, e, extra, msg);
	assert_int_equal(f->sends, 1);
	assert_non_null(fake_header(f, "x-amzn-RequestId"));
	char *body = fake_body(f);
	const char *et = fake_header(f, "X-Amzn-ErrorType");
	char *s = xasprintf("%d %s %s %s", f->status, fake_header(f, "Content-Type"), et ? et : "-", body);
	free(body);
	fake_free(f);
	return s;
}

static void check(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void test_rest_json_errors(void **state)
{
	/* Lambda's: the type in the header, {"Type","message"} with User for a sender fault. */
	check(error_reply(PROTO_REST_JSON, PROTO_ERR_TYPE_FIELD, &not_found, NULL, "Function not found: f"),
	      "404 application/json ResourceNotFoundException "
	      "{\"Type\":\"User\",\"message\":\"Function not found: f\"}");
	check(error_reply(PROTO_REST_JSON, PROTO_ERR_TYPE_FIELD, &internal, NULL, "boom"),
	      "500 application/json ServiceException {\"Type\":\"Service\",\"message\":\"boom\"}");
	/* API Gateway's: {"message"} only. */
	check(error_reply(PROTO_REST_JSON, 0, &not_found, NULL, "nope"),
	      "404 application/json ResourceNotFoundException {\"message\":\"nope\"}");
	/* Extra members follow; a message that is not UTF-8 is made valid. */
	check(error_reply(PROTO_REST_JSON, PROTO_ERR_TYPE_FIELD, &not_found,
	                  json_pack("{s:s}", "Reason", "r"), "bad \xff byte"),
	      "404 application/json ResourceNotFoundException "
	      "{\"Type\":\"User\",\"message\":\"bad ? byte\",\"Reason\":\"r\"}");
}

static void test_aws_json_errors(void **state)
{
	check(error_reply(PROTO_AWS_JSON_1_0, 0, &not_found, NULL, "no queue"),
	      "404 application/x-amz-json-1.0 - {\"__type\":\"ResourceNotFoundException\",\"message\":\"no "
	      "queue\"}");
	check(error_reply(PROTO_AWS_JSON_1_1, PROTO_ERR_TYPE_FIELD, &internal, NULL, "boom"),
	      "500 application/x-amz-json-1.1 - {\"__type\":\"ServiceException\",\"message\":\"boom\"}");
}

static void test_reply(void **state)
{
	struct fake *f = fake_new("GET", "/x", NULL, NULL);
	front_reply_header(f->rq, "x-amzn-RequestId", "mine");
	proto_reply(f->rq, PROTO_AWS_JSON_1_1, 200, json_pack("{s:i}", "n", 1));
	assert_int_equal(f->status, 200);
	assert_string_equal(fake_header(f, "Content-Type"), "application/x-amz-json-1.1");
	assert_string_equal(fake_header(f, "x-amzn-RequestId"), "mine"); /* kept, not doubled */
	char *b = fake_body(f);
	assert_string_equal(b, "{\"n\":1}");
	free(b);
	fake_free(f);
	/* No body: no Content-Type. */
	f = fake_new("DELETE", "/x", NULL, NULL);
	proto_reply(f->rq, PROTO_REST_JSON, 204, NULL);
	assert_int_equal(f->status, 204);
	assert_null(fake_header(f, "Content-Type"));
	fake_free(f);
}

static void test_body_json(void **state)
{
	char why[256];
	struct fake *f = fake_new("POST", "/", NULL, NULL);
	json_t *o = proto_body_json(f->rq, why, sizeof(why));
	assert_true(json_is_object(o) && json_object_size(o) == 0); /* empty body: {} */
	json_decref(o);
	front_reply(f->rq, 204, NULL);
	fake_free(f);

	f = fake_new("POST", "/", NULL, "{\"a\":");
	assert_null(proto_body_json(f->rq, why, sizeof(why)));
	assert_non_null(strstr(why, "(line 1, column"));
	front_reply(f->rq, 204, NULL);
	fake_free(f);

	f = fake_new("POST", "/", NULL, "[1]");
	assert_null(proto_body_json(f->rq, why, sizeof(why)));
	assert_string_equal(why, "the body must be a JSON object");
	front_reply(f->rq, 204, NULL);
	fake_free(f);
}

static void test_target(void **state)
{
	const char *h[] = {"X-Amz-Target: AmazonSQS.SendMessage", "Content-Type: application/x-amz-json-1.0",
	                   NULL};
	struct fake *f = fake_new("POST", "/", h, "{}");
	assert_string_equal(proto_json_target(f->rq, "AmazonSQS."), "SendMessage");
	assert_null(proto_json_target(f->rq, "DynamoDB_20120810."));
	assert_true(proto_content_type_ok(f->rq, PROTO_AWS_JSON_1_0));
	assert_false(proto_content_type_ok(f->rq, PROTO_AWS_JSON_1_1));
	front_reply(f->rq, 204, NULL);
	fake_free(f);
	const char *bare[] = {"X-Amz-Target: AmazonSQS.", NULL};
	f = fake_new("POST", "/", bare, NULL);
	assert_null(proto_json_target(f->rq, "AmazonSQS.")); /* names no operation */
	front_reply(f->rq, 204, NULL);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rest_json_errors),
	    cmocka_unit_test(test_aws_json_errors),
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_body_json),
	    cmocka_unit_test(test_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
