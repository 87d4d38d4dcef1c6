/* SQS's two entries of the service table on a front with the Lambda API: which service
 * and operation the front picks for AWS JSON (X-Amz-Target), the query protocol (Action
 * in a form body or a query string, on / or on a queue's URL, by SigV4 scope), and what
 * no operation takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "../../front/fake_transport.h"
#include "svc/lambda/api_int.h"
#include "svc/sqs/sqs.h"

static const char *FORM = "Content-Type: application/x-www-form-urlencoded; charset=utf-8";

/* "<class> <service> <protocol> <operation or missing or ->" of classifying a request. */
static char *classify(const char *method, const char *uri, const char *const *hdrs, const char *body)
{
	struct front *f = front_new(&lambda_svc);
	front_add(f, &lambda_svc, NULL);
	front_add(f, &sqs_json_svc, NULL);
	front_add(f, &sqs_query_svc, NULL);
	struct fake *fk = fake_new(method, uri, hdrs, body);
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(f, fk->rq, &c, &ctx);
	const char *op = c.op ? c.op->name : c.missing ? c.missing->name : "-";
	char *s = xasprintf("%s %s %s %s",
	                    k == FRONT_OP           ? "op"
	                    : k == FRONT_UNKNOWN_OP ? "unknown"
	                                            : "other",
	                    c.svc ? c.svc->name : "-",
	                    c.svc && c.svc->proto == PROTO_QUERY          ? "query"
	                    : c.svc && c.svc->proto == PROTO_AWS_JSON_1_0 ? "json"
	                                                                  : "rest",
	                    op);
	svc_call_fini(&c);
	front_reply(fk->rq, 204, NULL);
	fake_free(fk);
	front_free(f);
	return s;
}

#define CLASSIFIES(want, method, uri, hdrs, body)                                                            \
	do {                                                                                                 \
		char *got_ = classify(method, uri, hdrs, body);                                              \
		assert_string_equal(got_, want);                                                             \
		free(got_);                                                                                  \
	} while (0)

static void test_json(void **state)
{
	const char *h[] = {"X-Amz-Target: AmazonSQS.SendMessage", "Content-Type: application/x-amz-json-1.0",
	                   NULL};
	CLASSIFIES("op sqs json SendMessage", "POST", "/", h, "{}");
	/* The JS SDK posts to the queue URL's origin; the path does not matter. */
	CLASSIFIES("op sqs json SendMessage", "POST", "/000000000000/q1", h, "{}");
	const char *missing[] = {"X-Amz-Target: AmazonSQS.AddPermission", NULL};
	CLASSIFIES("unknown sqs json AddPermission", "POST", "/", missing, "{}");
	const char *nope[] = {"X-Amz-Target: AmazonSQS.Fly", NULL};
	CLASSIFIES("unknown sqs json -", "POST", "/", nope, "{}");
}

static void test_query(void **state)
{
	const char *form[] = {FORM, NULL};
	CLASSIFIES("op sqs query ReceiveMessage", "POST", "/", form,
	           "Action=ReceiveMessage&Version=2012-11-05");
	CLASSIFIES("op sqs query ReceiveMessage", "POST", "/000000000000/q1", form,
	           "Version=2012-11-05&Action=ReceiveMessage");
	CLASSIFIES("op sqs query ListQueues", "GET", "/?Action=ListQueues&Version=2012-11-05", NULL, NULL);
	CLASSIFIES("unknown sqs query AddPermission", "POST", "/", form, "Action=AddPermission");
	CLASSIFIES("unknown sqs query -", "POST", "/", form, "Action=Fly");
	/* Signed for sqs: sqs; signed for another query service (none yet): not SQS. */
	const char *signed_sqs[] = {
	    FORM,
	    "Authorization: AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sqs/aws4_request, "
	    "SignedHeaders=host, Signature=x",
	    NULL};
	CLASSIFIES("op sqs query CreateQueue", "POST", "/", signed_sqs, "Action=CreateQueue&QueueName=q");
	const char *signed_sns[] = {
	    FORM,
	    "Authorization: AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sns/aws4_request, "
	    "SignedHeaders=host, Signature=x",
	    NULL};
	CLASSIFIES("unknown lambda rest -", "POST", "/", signed_sns, "Action=CreateTopic&Name=t");
	/* A body that is not a form carries no Action. */
	const char *json_ct[] = {"Content-Type: application/json", NULL};
	CLASSIFIES("unknown lambda rest -", "POST", "/", json_ct, "Action=ListQueues");
}

static void test_lambda_unchanged(void **state)
{
	CLASSIFIES("op lambda rest GetFunction", "GET", "/2015-03-31/functions/f", NULL, NULL);
	const char *form[] = {FORM, NULL};
	CLASSIFIES("op lambda rest Invoke", "POST", "/2015-03-31/functions/f/invocations", form, "a=b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_lambda_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
