/* The query protocol's codec (proto/query.c): flattened parameters into AWS JSON's input
 * shape, the errors naming the parameter at fault, the XML of results and of errors, and
 * the Action of a request (query string or form body) on a fake transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "../front/fake_transport.h"
#include "proto/proto.h"

static const struct proto_qshape value_shapes[] = {
    {"StringListValues", "StringListValue", PROTO_Q_LIST, NULL, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape entry_shapes[] = {
    {"MessageAttributes", "MessageAttribute", PROTO_Q_MAP, "Name", "Value", value_shapes},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape shapes[] = {
    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},
    {"AttributeNames", "AttributeName", PROTO_Q_LIST, NULL, NULL, NULL},
    {"MessageAttributes", "MessageAttribute", PROTO_Q_MAP, "Name", "Value", value_shapes},
    {"Entries", "SendMessageBatchRequestEntry", PROTO_Q_LIST, NULL, NULL, entry_shapes},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

/* The compact JSON (owned) of parsing form, or "error: <why>". */
static char *parse(const char *form)
{
	json_t *o = NULL;
	char why[256];
	if (proto_query_parse(form, strlen(form), shapes, &o, why, sizeof(why)) < 0)
		return xasprintf("error: %s", why);
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

#define PARSES(form, want)                                                                                   \
	do {                                                                                                 \
		char *got_ = parse(form);                                                                    \
		assert_string_equal(got_, want);                                                             \
		free(got_);                                                                                  \
	} while (0)

static void test_scalars(void **state)
{
	PARSES(
	    "Action=SendMessage&Version=2012-11-05&MessageBody=a+b%26c%3D%E2%82%AC",
	    "{\"Action\":\"SendMessage\",\"MessageBody\":\"a b&c=\xe2\x82\xac\",\"Version\":\"2012-11-05\"}");
	PARSES("", "{}");
	PARSES("A=1&A=2", "{\"A\":\"2\"}"); /* the last wins */
	PARSES("Flag&B=", "{\"B\":\"\",\"Flag\":\"\"}");
	PARSES("Q=http%3A%2F%2Flocalhost%3A4566%2F000000000000%2Fq1",
	       "{\"Q\":\"http://localhost:4566/000000000000/q1\"}");
}

static void test_flattened(void **state)
{
	PARSES("Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40&Attribute.2.Name=DelaySeconds&"
	       "Attribute.2.Value=5",
	       "{\"Attributes\":{\"DelaySeconds\":\"5\",\"VisibilityTimeout\":\"40\"}}");
	/* Lists in index order, whatever the order of the parameters. */
	PARSES("AttributeName.2=B&AttributeName.1=A&AttributeName.10=J",
	       "{\"AttributeNames\":[\"A\",\"B\",\"J\"]}");
	PARSES("MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value."
	       "StringValue=x",
	       "{\"MessageAttributes\":{\"a\":{\"DataType\":\"String\",\"StringValue\":\"x\"}}}");
	/* Nested: a list of structures holding a map. */
	PARSES("SendMessageBatchRequestEntry.1.Id=e1&SendMessageBatchRequestEntry.1.MessageBody=hi"
	       "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k"
	       "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Number"
	       "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=5"
	       "&SendMessageBatchRequestEntry.2.Id=e2&SendMessageBatchRequestEntry.2.MessageBody=yo",
	       "{\"Entries\":[{\"Id\":\"e1\",\"MessageAttributes\":{\"k\":{\"DataType\":\"Number\","
	       "\"StringValue\":"
	       "\"5\"}},\"MessageBody\":\"hi\"},{\"Id\":\"e2\",\"MessageBody\":\"yo\"}]}");
	/* botocore sends an empty list under the member's name. */
	PARSES("Entries=", "{\"Entries\":[]}");
	PARSES("Attribute=", "{\"Attributes\":{}}");
	PARSES("Attributes=", "{\"Attributes\":{}}");
}

static void test_errors(void **state)
{
	char *s = parse("MessageBody=%zz");
	assert_string_equal(s, "error: the parameter MessageBody has a malformed escape or a NUL byte");
	free(s);
	s = parse("MessageBody=a%00b");
	assert_string_equal(s, "error: the parameter MessageBody has a malformed escape or a NUL byte");
	free(s);
	s = parse("AttributeName.x=A");
	assert_string_equal(s, "error: AttributeName.x: x is not a list index (1, 2, ...)");
	free(s);
	s = parse("AttributeName.0=A");
	assert_string_equal(s, "error: AttributeName.0: 0 is not a list index (1, 2, ...)");
	free(s);
	s = parse("Attribute.1.Name=A");
	assert_string_equal(s, "error: Attribute.1 needs Attribute.1.Name and Attribute.1.Value");
	free(s);
	s = parse("A=1&A.B=2");
	assert_string_equal(s, "error: the parameter A is also the prefix of A.B");
	free(s);
	s = parse("A.B=2&A=1");
	assert_string_equal(s, "error: the parameter A is also the prefix of other parameters");
	free(s);
	s = parse("A..B=1");
	assert_string_equal(s, "error: the parameter name A..B has an empty part");
	free(s);
	s = parse("AttributeName=A");
	assert_string_equal(s, "error: AttributeName must be given as AttributeName.1, AttributeName.2, ...");
	free(s);
}

static char *xml_of(const char *json, const struct proto_qshape *sh)
{
	json_t *o = json_loads(json, JSON_PRESERVE_ORDER, NULL);
	assert_non_null(o);
	struct evbuffer *b = evbuffer_new();
	proto_query_xml(b, o, sh);
	size_t n = evbuffer_get_length(b);
	char *s = xmalloc(n + 1);
	evbuffer_copyout(b, s, n);
	s[n] = 0;
	evbuffer_free(b);
	json_decref(o);
	return s;
}

static const struct proto_qshape msg_out[] = {
    {"Attributes", "Attribute", PROTO_Q_MAP, "Name", "Value", NULL},
    {NULL, NULL, 0, NULL, NULL, NULL},
};
static const struct proto_qshape out_shapes[] = {
    {"QueueUrls", "QueueUrl", PROTO_Q_LIST, NULL, NULL, NULL},
    {"Messages", "Message", PROTO_Q_LIST, NULL, NULL, msg_out},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

static void test_xml(void **state)
{
	char *s =
	    xml_of("{\"QueueUrls\":[\"http://h/1/a\",\"http://h/1/b\"],\"NextToken\":\"t\"}", out_shapes);
	assert_string_equal(
	    s, "<QueueUrl>http://h/1/a</QueueUrl><QueueUrl>http://h/1/b</QueueUrl><NextToken>t</NextToken>");
	free(s);
	s = xml_of(
	    "{\"Messages\":[{\"Body\":\"<a> & 'b' \\\"c\\\"\\r\\n\",\"Attributes\":{\"K\":\"1\"},\"Ok\":true,"
	    "\"N\":7}]}",
	    out_shapes);
	assert_string_equal(
	    s, "<Message><Body>&lt;a&gt; &amp; &apos;b&apos; &quot;c&quot;&#xD;\n</Body>"
	       "<Attribute><Name>K</Name><Value>1</Value></Attribute><Ok>true</Ok><N>7</N></Message>");
	free(s);
	/* A nested object that is no flattened member becomes nested elements; null is left out. */
	s = xml_of("{\"Value\":{\"DataType\":\"String\",\"StringValue\":\"x\"},\"Gone\":null}", NULL);
	assert_string_equal(s, "<Value><DataType>String</DataType><StringValue>x</StringValue></Value>");
	free(s);
}

static void test_reply_and_error(void **state)
{
	struct fake *f = fake_new("POST", "/", NULL, NULL);
	proto_query_reply(f->rq, "http://ns/", "GetQueueUrl", json_pack("{s:s}", "QueueUrl", "u"), NULL);
	char *body = fake_body(f);
	char *want =
	    xasprintf("<?xml version=\"1.0\"?><GetQueueUrlResponse xmlns=\"http://ns/\"><GetQueueUrlResult>"
	              "<QueueUrl>u</QueueUrl></GetQueueUrlResult><ResponseMetadata><RequestId>%s</RequestId>"
	              "</ResponseMetadata></GetQueueUrlResponse>",
	              fake_header(f, "x-amzn-RequestId"));
	assert_int_equal(f->status, 200);
	assert_string_equal(fake_header(f, "Content-Type"), "text/xml");
	assert_string_equal(body, want);
	free(body);
	free(want);
	fake_free(f);

	f = fake_new("POST", "/", NULL, NULL);
	proto_query_reply(f->rq, "http://ns/", "DeleteQueue", NULL, NULL);
	body = fake_body(f);
	assert_non_null(strstr(body, "<DeleteQueueResponse xmlns=\"http://ns/\"><ResponseMetadata>"));
	free(body);
	fake_free(f);

	static const struct svc_error nq = {"com.amazonaws.sqs#QueueDoesNotExist", 400, true};
	f = fake_new("POST", "/", NULL, NULL);
	proto_reply_error_code(f->rq, PROTO_QUERY, 0, &nq, "AWS.SimpleQueueService.NonExistentQueue", NULL,
	                       "no <q>");
	body = fake_body(f);
	want = xasprintf(
	    "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type>"
	    "<Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>no &lt;q&gt;</Message><Detail/>"
	    "</Error><RequestId>%s</RequestId></ErrorResponse>",
	    fake_header(f, "x-amzn-RequestId"));
	assert_int_equal(f->status, 400);
	assert_string_equal(body, want);
	free(body);
	free(want);
	fake_free(f);

	/* AWS JSON for a query-compatible service: __type, and the query code in a header. */
	f = fake_new("POST", "/", NULL, NULL);
	proto_reply_error_code(f->rq, PROTO_AWS_JSON_1_0, 0, &nq, "AWS.SimpleQueueService.NonExistentQueue",
	                       NULL, "gone");
	body = fake_body(f);
	assert_string_equal(body,
	                    "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"gone\"}");
	assert_string_equal(fake_header(f, "x-amzn-query-error"),
	                    "AWS.SimpleQueueService.NonExistentQueue;Sender");
	free(body);
	fake_free(f);
}

static void test_action_and_input(void **state)
{
	char a[64];
	struct fake *f = fake_new("GET", "/000000000000/q?Action=SendMessage&MessageBody=x", NULL, NULL);
	assert_true(proto_query_action(f->rq, a, sizeof(a)));
	assert_string_equal(a, "SendMessage");
	front_reply(f->rq, 204, NULL);
	fake_free(f);

	const char *form[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
	f = fake_new("POST", "/?Extra=1", form, "Version=2012-11-05&Action=ListQueues&QueueNamePrefix=p");
	assert_true(proto_query_action(f->rq, a, sizeof(a)));
	assert_string_equal(a, "ListQueues");
	json_t *in = NULL;
	char why[128];
	assert_int_equal(proto_query_input(f->rq, shapes, &in, why, sizeof(why)), 0);
	char *s = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"Action\":\"ListQueues\",\"Extra\":\"1\",\"QueueNamePrefix\":\"p\","
	                       "\"Version\":\"2012-11-05\"}");
	free(s);
	json_decref(in);
	front_reply(f->rq, 204, NULL);
	fake_free(f);

	/* A JSON body is no query request; neither is a form without Action. */
	const char *json_ct[] = {"Content-Type: application/x-amz-json-1.0", NULL};
	f = fake_new("POST", "/", json_ct, "Action=ListQueues");
	assert_false(proto_query_action(f->rq, a, sizeof(a)));
	front_reply(f->rq, 204, NULL);
	fake_free(f);
	f = fake_new("POST", "/", form, "Version=2012-11-05");
	assert_false(proto_query_action(f->rq, a, sizeof(a)));
	front_reply(f->rq, 204, NULL);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars),         cmocka_unit_test(test_flattened),
	    cmocka_unit_test(test_errors),          cmocka_unit_test(test_xml),
	    cmocka_unit_test(test_reply_and_error), cmocka_unit_test(test_action_and_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
