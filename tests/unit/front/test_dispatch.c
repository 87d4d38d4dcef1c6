/* The front's dispatch (front/dispatch.c) with a fake transport and a tiny table of
 * services: URI templates and their named parameters, each kind of classification (claims
 * hooks, X-Amz-Target, the SigV4 scope, paths), the unknown-operation and drain answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "fake_transport.h"
#include "front/svc.h"

/* ---------------------------------------------------------------- templates */

/* Matches and returns "<rc> name=value ..." (owned). */
static char *match(const char *tmpl, const char *uri)
{
	struct fake *f = fake_new("GET", uri, NULL, NULL);
	struct svc_call c = {.rq = f->rq};
	int rc = front_match_template(tmpl, front_req_path(f->rq), f->rq, &c);
	char *s = xasprintf("%d", rc);
	for (size_t i = 0; i < c.nparams; i++) {
		char *t = xasprintf("%s %s=%s", s, c.params[i].name, c.params[i].value);
		free(s);
		s = t;
	}
	svc_call_fini(&c);
	front_reply(f->rq, 204, NULL);
	fake_free(f);
	return s;
}

static void check(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void test_templates(void **state)
{
	const char *inv = "/2015-03-31/functions/{FunctionName}/invocations";
	check(match(inv, "/2015-03-31/functions/my-fn/invocations"), "1 FunctionName=my-fn");
	/* Parameters are decoded, literals compared decoded; a trailing '/' does not matter. */
	check(match(inv,
	            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations/"),
	      "1 FunctionName=arn:aws:lambda:us-east-1:1:function:f");
	check(match(inv, "/2015-03-31/%66unctions/f/invocations"), "1 FunctionName=f");
	check(match(inv, "/2015-03-31/functions/f"), "0");
	check(match(inv, "/2015-03-31/functions//invocations"), "0"); /* a parameter is never empty */
	check(match(inv, "/2015-03-31/functions/f/invocations/more"), "0");
	check(match(inv, "/2015-03-31/functions/f%zz/invocations"),
	      "1 FunctionName=f%zz"); /* not an escape: kept */
	check(match(inv, "/2015-03-31/functions/f%00/invocations"), "-1");
	/* {P+} takes the rest, slashes included, however deep: no segment cap. */
	check(match("/{Bucket}/{Key+}", "/b/a/b/c/d/e/f/g/h/i/j/k.txt"),
	      "1 Bucket=b Key=a/b/c/d/e/f/g/h/i/j/k.txt");
	check(match("/{Bucket}/{Key+}", "/b"), "0");
	/* Dated prefixes are literals like any other: 2017-10-31 and 2019-09-30 differ. */
	check(
	    match("/2017-10-31/functions/{FunctionName}/concurrency", "/2019-09-30/functions/f/concurrency"),
	    "0");
	/* A "?K=V" in the template requires that query value. */
	const char *list = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency?List=ALL";
	check(match(list, "/2019-09-30/functions/f/provisioned-concurrency?List=ALL&MaxItems=2"),
	      "1 FunctionName=f");
	check(match(list, "/2019-09-30/functions/f/provisioned-concurrency"), "0");
	check(match("/", "/"), "1");
	check(match("/metrics", "/metrics/"), "1");
}

/* ---------------------------------------------------------------- classification */

static char seen[256]; /* what the last handler saw */

static void record(void *ctx, const struct svc_call *c)
{
	snprintf(seen, sizeof(seen), "%s %s %s", (const char *)ctx, c->op->name,
	         svc_param(c, "Id") ? svc_param(c, "Id") : "-");
	front_reply(c->rq, 200, NULL);
}

static bool data_claims(void *ctx, const struct front_req *rq)
{
	const char *host = front_req_header(rq, "Host");
	return host && strstr(host, ".data.localhost");
}

static void data_serve(void *ctx, struct front_req *rq)
{
	snprintf(seen, sizeof(seen), "data %s", front_req_path(rq));
	front_reply(rq, 200, NULL);
}

enum { E_NONE, E_UNKNOWN, E_BAD, E_DOWN, E_LARGE, E_COUNT };
static const struct svc_error errs[E_COUNT] = {
    [E_UNKNOWN] = {"UnknownOperationException", 404, true},
    [E_BAD] = {"InvalidParameterValueException", 400, true},
    [E_DOWN] = {"ServiceException", 503, false},
    [E_LARGE] = {"RequestTooLargeException", 413, true},
};

static const struct op rest_ops[] = {
    {.name = "GetThing", .method = FRONT_GET, .uri = "/2015-03-31/things/{Id}", .handler = record},
    {.name = "ListThings", .method = FRONT_GET, .uri = "/2015-03-31/things", .handler = record},
    {.name = "DeleteThing",
     .method = FRONT_DELETE,
     .uri = "/2015-03-31/things/{Id}",
     .handler = NULL}, /* not implemented */
};
static const struct svc rest = {
    .name = "rest",
    .title = "Rest",
    .proto = PROTO_REST_JSON,
    .ops = rest_ops,
    .nops = 3,
    .errors = errs,
    .nerrors = E_COUNT,
    .err_unknown_op = E_UNKNOWN,
    .err_bad_input = E_BAD,
    .err_unavailable = E_DOWN,
    .err_flags = PROTO_ERR_TYPE_FIELD,
};
/* Another REST service with the same template: the SigV4 scope tells them apart. */
static const struct op other_ops[] = {
    {.name = "GetThing", .method = FRONT_GET, .uri = "/2015-03-31/things/{Id}", .handler = record}};
static const struct svc other = {
    .name = "other",
    .proto = PROTO_REST_JSON,
    .ops = other_ops,
    .nops = 1,
    .errors = errs,
    .nerrors = E_COUNT,
    .err_unknown_op = E_UNKNOWN,
};
static const struct op tiny_ops[] = {{.name = "Ping", .method = FRONT_POST, .uri = NULL, .handler = record},
                                     {.name = "Later", .method = FRONT_POST, .uri = NULL, .handler = NULL}};
static const struct svc tiny = {
    .name = "tiny",
    .proto = PROTO_AWS_JSON_1_0,
    .target_prefix = "Tiny_20240101.",
    .ops = tiny_ops,
    .nops = 2,
    .errors = errs,
    .nerrors = E_COUNT,
    .err_unknown_op = E_UNKNOWN,
};
static const struct svc data = {.name = "data", .claims = data_claims, .serve = data_serve};

/* A service with one operation that takes its body streamed, and a claims hook that does. */
#define GIB (1024ull * 1024 * 1024)
static const struct op up_ops[] = {
    {.name = "PutBlob",
     .method = FRONT_PUT,
     .uri = "/blobs/{Key}",
     .handler = record,
     .stream_body = true,
     .body_max = 5 * GIB},
    {.name = "GetBlob", .method = FRONT_GET, .uri = "/blobs/{Key}", .handler = record},
    {.name = "PostNote", .method = FRONT_POST, .uri = "/notes", .handler = record, .body_max = 16},
};
static const struct svc up = {.name = "up",
                              .proto = PROTO_REST_JSON,
                              .ops = up_ops,
                              .nops = 3,
                              .errors = errs,
                              .nerrors = E_COUNT,
                              .err_too_large = E_LARGE,
                              .err_flags = PROTO_ERR_TYPE_FIELD};
static bool up_claims(void *ctx, const struct front_req *rq)
{
	return front_req_header(rq, "X-Up-Data") != NULL;
}
static const struct svc updata = {.name = "updata",
                                  .claims = up_claims,
                                  .serve = data_serve,
                                  .serve_streams = true,
                                  .serve_body_max = 1000};

static struct front *front_of(void)
{
	struct front *f = front_new(&rest);
	front_add(f, &data, NULL);
	front_add(f, &tiny, "tiny");
	front_add(f, &rest, "rest");
	front_add(f, &other, "other");
	return f;
}

/* Dispatches a request and returns "<status> <what the handler saw or the error body>". */
static char *dispatch(struct front *fr, const char *method, const char *uri, const char *const *hdrs)
{
	seen[0] = 0;
	struct fake *f = fake_new(method, uri, hdrs, NULL);
	front_dispatch(f->rq, fr);
	assert_int_equal(f->sends, 1); /* answered exactly once */
	char *body = fake_body(f);
	const char *et = fake_header(f, "X-Amzn-ErrorType");
	char *s = seen[0] ? xasprintf("%d %s", f->status, seen)
	                  : xasprintf("%d %s %s%s%s", f->status, et ? et : "-", body,
	                              fake_header(f, "Connection") ? " close:" : "",
	                              fake_header(f, "Connection") ? fake_header(f, "Connection") : "");
	free(body);
	fake_free(f);
	return s;
}

static void test_paths(void **state)
{
	struct front *f = front_of();
	check(dispatch(f, "GET", "/2015-03-31/things/42", NULL), "200 rest GetThing 42");
	check(dispatch(f, "GET", "/2015-03-31/things/", NULL), "200 rest ListThings -");
	/* A known path with another method, and an operation lambdad does not implement. */
	check(dispatch(f, "PATCH", "/2015-03-31/things/42", NULL),
	      "404 UnknownOperationException {\"Type\":\"User\",\"message\":\"No operation at PATCH "
	      "/2015-03-31/things/42\"}");
	/* An operation of the model without a handler is named. */
	check(dispatch(f, "DELETE", "/2015-03-31/things/42", NULL),
	      "404 UnknownOperationException {\"Type\":\"User\",\"message\":\"lambdad does not support "
	      "the Rest operation DeleteThing yet\"}");
	check(dispatch(f, "GET", "/no/such/path", NULL),
	      "404 UnknownOperationException {\"Type\":\"User\",\"message\":\"No operation at GET "
	      "/no/such/path\"}");
	check(dispatch(f, "GET", "/2015-03-31/things/%00", NULL),
	      "404 UnknownOperationException {\"Type\":\"User\",\"message\":\"malformed request path\"}");
	check(
	    dispatch(f, "GET", "/2015-03-31/things?novalue", NULL),
	    "400 InvalidParameterValueException {\"Type\":\"User\",\"message\":\"malformed query string\"}");
	front_free(f);
}

static void test_scope(void **state)
{
	struct front *f = front_of();
	const char *signed_other[] = {
	    "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/other/aws4_request, "
	    "SignedHeaders=host, Signature=00",
	    NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/7", signed_other), "200 other GetThing 7");
	const char *signed_rest[] = {
	    "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/rest/aws4_request, "
	    "SignedHeaders=host, Signature=00",
	    NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/7", signed_rest), "200 rest GetThing 7");
	/* A presigned URL carries the scope in the query. */
	check(dispatch(
	          f, "GET",
	          "/2015-03-31/things/7?X-Amz-Credential=AKID%2F20261203%2Fus-east-1%2Fother%2Faws4_request",
	          NULL),
	      "200 other GetThing 7");
	front_free(f);

	struct fake *r = fake_new("GET", "/", signed_other, NULL);
	char svc[32];
	assert_true(front_sigv4_service(r->rq, svc, sizeof(svc)));
	assert_string_equal(svc, "other");
	front_reply(r->rq, 204, NULL);
	fake_free(r);
	r = fake_new("GET", "/", NULL, NULL);
	assert_false(front_sigv4_service(r->rq, svc, sizeof(svc)));
	front_reply(r->rq, 204, NULL);
	fake_free(r);
}

static void test_target(void **state)
{
	struct front *f = front_of();
	const char *ping[] = {"X-Amz-Target: Tiny_20240101.Ping", "Content-Type: application/x-amz-json-1.0",
	                      NULL};
	check(dispatch(f, "POST", "/", ping), "200 tiny Ping -");
	/* An operation the service does not have, or does not implement: its own error shape. */
	const char *nope[] = {"X-Amz-Target: Tiny_20240101.Nope", NULL};
	check(dispatch(f, "POST", "/", nope),
	      "404 - {\"__type\":\"UnknownOperationException\",\"message\":\"No operation at POST /\"}");
	const char *later[] = {"X-Amz-Target: Tiny_20240101.Later", NULL};
	check(dispatch(f, "POST", "/", later),
	      "404 - {\"__type\":\"UnknownOperationException\",\"message\":\"lambdad does not support "
	      "the tiny operation Later yet\"}");
	/* A prefix no service has: the path decides. */
	const char *stranger[] = {"X-Amz-Target: Other_1.Ping", NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/1", stranger), "200 rest GetThing 1");
	front_free(f);
}

static void test_claims_and_drain(void **state)
{
	struct front *f = front_of();
	const char *host[] = {"Host: abc.data.localhost:9000", NULL};
	/* A claims hook comes first, whatever the path or the target. */
	check(dispatch(f, "GET", "/2015-03-31/things/1", host), "200 data /2015-03-31/things/1");
	front_set_draining(f);
	check(dispatch(f, "GET", "/2015-03-31/things/1", NULL),
	      "503 ServiceException {\"Type\":\"Service\",\"message\":\"lambdad is shutting down\"} "
	      "close:close");
	front_free(f);
}

/* A body the transport refused for its size: 413 in the shape of the service it was for,
 * naming the operation and the limit; text where the service has no such error. */
static void test_refused(void **state)
{
	struct front *f = front_of();
	front_add(f, &up, NULL);
	seen[0] = 0;
	struct fake *k = fake_make("POST", "/notes", NULL, NULL, 16);
	assert_int_equal(front_req_refused(k->rq), 16);
	front_dispatch(k->rq, f);
	assert_int_equal(k->sends, 1);
	assert_int_equal(k->status, 413);
	assert_string_equal(fake_header(k, "X-Amzn-ErrorType"), "RequestTooLargeException");
	assert_string_equal(fake_header(k, "Connection"), "close");
	char *body = fake_body(k);
	assert_string_equal(body,
	                    "{\"Type\":\"User\",\"message\":\"Request must be smaller than 16 bytes for "
	                    "the PostNote operation\"}");
	free(body);
	assert_string_equal(seen, ""); /* the handler never saw it */
	fake_free(k);
	/* No operation there: the service's error all the same, without the operation. */
	k = fake_make("PUT", "/blobs", NULL, NULL, 5368709120ull);
	front_dispatch(k->rq, f);
	assert_int_equal(k->status, 413);
	fake_free(k);
	/* The fallback service has no err_too_large: text. */
	k = fake_make("POST", "/2015-03-31/things", NULL, NULL, 1024);
	front_dispatch(k->rq, f);
	assert_int_equal(k->status, 413);
	assert_null(fake_header(k, "X-Amzn-ErrorType"));
	assert_string_equal(fake_header(k, "Content-Type"), "text/plain; charset=utf-8");
	body = fake_body(k);
	assert_string_equal(body, "request body over the limit of 1024 bytes\n");
	free(body);
	fake_free(k);
	front_free(f);
}

/* ---------------------------------------------------------------- the seam itself */

static int closes;
static void close_cb(struct front_req *rq, void *arg)
{
	closes++;
}

static void test_stream_and_close(void **state)
{
	struct fake *f = fake_new("POST", "/s", NULL, NULL);
	front_reply_header(f->rq, "Content-Type", "a/b");
	front_reply_header_set(f->rq, "Content-Type", "text/plain");
	assert_string_equal(front_reply_header_get(f->rq, "content-type"), "text/plain");
	front_reply_start(f->rq, 200);
	assert_true(f->watching); /* a chunked answer watches the client */
	front_reply_chunk(f->rq, "ab", 2);
	front_reply_chunk(f->rq, "", 0); /* sends nothing */
	front_reply_chunk(f->rq, "cd", 2);
	front_reply_end(f->rq);
	assert_int_equal(f->starts, 1);
	assert_int_equal(f->chunks, 2);
	assert_int_equal(f->ends, 1);
	assert_false(f->watching);
	char *b = fake_body(f);
	assert_string_equal(b, "abcd");
	free(b);
	assert_string_equal(fake_header(f, "Content-Type"), "text/plain");
	fake_free(f);

	/* The client goes away mid-answer: the callback runs once, the rest is dropped, and
	 * the handler still ends the answer, which frees the request. */
	f = fake_new("POST", "/s", NULL, NULL);
	closes = 0;
	front_req_on_close(f->rq, close_cb, NULL);
	assert_true(f->watching);
	front_reply_start(f->rq, 200);
	front_reply_chunk(f->rq, "ab", 2);
	front_req_closed(f->rq);
	assert_int_equal(closes, 1);
	assert_true(front_req_gone(f->rq));
	front_reply_chunk(f->rq, "cd", 2);
	front_reply_end(f->rq);
	assert_int_equal(f->chunks, 1);
	assert_int_equal(f->ends, 0);
	fake_free(f);
}

static void test_request(void **state)
{
	const char *h[] = {"Host: h:1", "X-A: 1", "x-a: 2", NULL};
	struct fake *f = fake_new("PUT", "/p/a%20b?x=1&y=a%20b&x=2", h, "body");
	struct front_req *rq = f->rq;
	assert_int_equal(front_req_method(rq), FRONT_PUT);
	assert_string_equal(front_req_path(rq), "/p/a%20b");
	assert_string_equal(front_req_query_string(rq), "x=1&y=a%20b&x=2");
	assert_string_equal(front_req_query(rq, "x"), "1");
	assert_string_equal(front_req_query(rq, "y"), "a b");
	assert_string_equal(front_req_header(rq, "x-A"), "1");
	assert_int_equal(evbuffer_get_length(front_req_body(rq)), 4);
	front_reply(rq, 204, NULL);
	fake_free(f);
	/* The absolute form's path; a method the front does not serve. */
	f = fake_new("TRACE", "http://example.com/abs?q=1", NULL, NULL);
	assert_int_equal(front_req_method(f->rq), FRONT_OTHER);
	assert_string_equal(front_req_path(f->rq), "/abs");
	assert_string_equal(front_req_query(f->rq, "q"), "1");
	front_reply(f->rq, 405, NULL);
	fake_free(f);
}

/* Which requests front_wants_stream says are streamed: none while no service streams. */
static void test_wants_stream(void **state)
{
	static const char *const claimed[] = {"X-Up-Data: 1", NULL};
	static const struct {
		const char *method, *uri;
		const char *const *hdrs;
		bool with_up, want;
		uint64_t body_max;
	} cases[] = {
	    {"PUT", "/blobs/k", NULL, true, true, 5 * GIB},
	    {"GET", "/blobs/k", NULL, true, false, 0},
	    {"PUT", "/other", NULL, true, false, 0},
	    {"GET", "/x", claimed, true, true, 1000},
	    {"PUT", "/blobs/k", NULL, false, false, 0},
	    {"GET", "/2015-03-31/things/a", NULL, true, false, 0},
	    {"POST", "/notes", NULL, true, false, 16},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct front *f = front_of();
		if (cases[i].with_up) {
			front_add(f, &updata, NULL);
			front_add(f, &up, NULL);
		}
		struct fake *k = fake_new(cases[i].method, cases[i].uri, cases[i].hdrs, NULL);
		uint64_t max = 99;
		assert_int_equal(front_wants_stream(k->rq, f, &max), cases[i].want);
		assert_int_equal(max, cases[i].body_max);
		front_reply(k->rq, 200, NULL);
		fake_free(k);
		front_free(f);
	}
}

/* --auth: the verification hook runs before any handler, refuses in the service's shape
 * (front_auth_error: the JSON services' 403s), may pass a request on later, and is never
 * asked about a request a claims hook takes. */
static int verify_calls;
static struct front_req *held;
static front_verified_cb held_done;
static void *held_arg;
static void verify(void *arg, struct front_req *rq, const struct svc *s, front_verified_cb done,
                   void *done_arg)
{
	verify_calls++;
	const char *h = front_req_header(rq, "X-Test");
	if (!h)
		return front_auth_error(rq, s, SIGV4_MISSING, "Missing Authentication Token");
	if (strcmp(h, "later") == 0) {
		held = rq;
		held_done = done;
		held_arg = done_arg;
		return;
	}
	if (strcmp(h, "bad") == 0)
		return front_auth_error(rq, s, SIGV4_MISMATCH,
		                        "The request signature we calculated does not match");
	done(rq, done_arg);
}

static void test_verify(void **state)
{
	struct front *f = front_of();
	front_set_verify(f, verify, NULL);
	check(
	    dispatch(f, "GET", "/2015-03-31/things/42", NULL),
	    "403 MissingAuthenticationTokenException {\"Type\":\"User\",\"message\":\"Missing Authentication "
	    "Token\"}");
	const char *bad[] = {"X-Test: bad", NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/42", bad),
	      "403 InvalidSignatureException {\"Type\":\"User\",\"message\":\"The request signature we "
	      "calculated does not match\"}");
	const char *ok[] = {"X-Test: ok", NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/42", ok), "200 rest GetThing 42");
	/* An unknown path is still refused unsigned: nothing tells an intruder what exists. */
	check(
	    dispatch(f, "GET", "/nowhere", NULL),
	    "403 MissingAuthenticationTokenException {\"Type\":\"User\",\"message\":\"Missing Authentication "
	    "Token\"}");
	/* Claimed requests (function URLs, execute-api) are their service's to authorize. */
	verify_calls = 0;
	const char *host[] = {"Host: abc.data.localhost:9000", NULL};
	check(dispatch(f, "GET", "/2015-03-31/things/1", host), "200 data /2015-03-31/things/1");
	assert_int_equal(verify_calls, 0);
	/* Passed on later (a body hashed on the pool): dispatched then. */
	const char *later[] = {"X-Test: later", NULL};
	seen[0] = 0;
	struct fake *k = fake_new("GET", "/2015-03-31/things/7", later, NULL);
	front_dispatch(k->rq, f);
	assert_int_equal(k->sends, 0);
	assert_ptr_equal(held, k->rq);
	held_done(held, held_arg);
	assert_int_equal(k->sends, 1);
	assert_string_equal(seen, "rest GetThing 7");
	fake_free(k);
	front_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_scope),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_claims_and_drain),
	    cmocka_unit_test(test_stream_and_close),
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_wants_stream),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
