/* Tests for the proxy integration: the exact events of representative requests in
 * payload formats 2.0 and 1.0, and the HTTP responses made from function answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "integ/proxy.h"

#define T_MS 1583348638390LL /* 04/Mar/2020:19:03:58 +0000 */

static const struct proxy_ctx furl_ctx = {
    .version = 2,
    .route_key = "$default",
    .raw_path = "/my/path",
    .stage = "$default",
    .api_id = "abc",
    .domain_name = "abc.lambda-url.us-east-1.localhost",
    .domain_prefix = "abc",
    .account = "anonymous",
    .request_id = "rid-1",
};

/* Builds the event of a request with the given headers ("Name: value" strings, NULL
 * terminated) and body; returns it as owned text, or NULL with *rc set. */
static char *event_of(const struct proxy_ctx *ctx, const char *method, const char *query, const char **hdrs,
                      const char *body, size_t body_len, size_t max, int *rc)
{
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	for (const char **p = hdrs; p && *p; p++) {
		char *k = strdup(*p);
		char *v = strchr(k, ':');
		*v = 0;
		evhttp_add_header(&h, k, v + 2);
		free(k);
	}
	struct proxy_request rq = {
	    .method = method,
	    .query = query,
	    .headers = &h,
	    .body = body,
	    .body_len = body_len,
	    .source_ip = "192.0.2.1",
	    .http_major = 1,
	    .http_minor = 1,
	    .port = 4566,
	    .time_ms = T_MS,
	};
	struct evbuffer *out = evbuffer_new();
	struct err e = {0};
	*rc = proxy_event_build(&rq, ctx, max, out, &e);
	evhttp_clear_headers(&h);
	char *s = NULL;
	if (*rc == 0) {
		size_t n = evbuffer_get_length(out);
		s = malloc(n + 1);
		evbuffer_remove(out, s, n);
		s[n] = 0;
	}
	evbuffer_free(out);
	return s;
}

static void test_v2_get_exact(void **state)
{
	const char *hdrs[] = {"Host: abc.lambda-url.us-east-1.localhost:4566",
	                      "User-Agent: agent/1",
	                      "X-Rep: 1",
	                      "x-rep: 2",
	                      "Cookie: c1=v1; c2=v2",
	                      "Cookie: c3=v3",
	                      NULL};
	int rc;
	char *ev = event_of(&furl_ctx, "GET", "a=1&a=2&b=%C3%A9+x&c", hdrs, NULL, 0, 100, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(
	    ev,
	    "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":\"/my/path\","
	    "\"rawQueryString\":\"a=1&a=2&b=%C3%A9+x&c\",\"cookies\":[\"c1=v1\",\"c2=v2\",\"c3=v3\"],"
	    "\"headers\":{\"host\":\"abc.lambda-url.us-east-1.localhost:4566\",\"user-agent\":\"agent/1\","
	    "\"x-rep\":\"1,2\",\"x-forwarded-for\":\"192.0.2.1\",\"x-forwarded-proto\":\"http\","
	    "\"x-forwarded-port\":\"4566\"},"
	    "\"queryStringParameters\":{\"a\":\"1,2\",\"b\":\"\xc3\xa9 x\",\"c\":\"\"},"
	    "\"requestContext\":{\"accountId\":\"anonymous\",\"apiId\":\"abc\","
	    "\"domainName\":\"abc.lambda-url.us-east-1.localhost\",\"domainPrefix\":\"abc\","
	    "\"http\":{\"method\":\"GET\",\"path\":\"/my/path\",\"protocol\":\"HTTP/"
	    "1.1\",\"sourceIp\":\"192.0.2.1\","
	    "\"userAgent\":\"agent/"
	    "1\"},\"requestId\":\"rid-1\",\"routeKey\":\"$default\",\"stage\":\"$default\","
	    "\"time\":\"04/Mar/2020:19:03:58 "
	    "+0000\",\"timeEpoch\":1583348638390},\"isBase64Encoded\":false}");
	free(ev);
}

static void test_v2_bodies(void **state)
{
	int rc;
	/* JSON text stays text; an X-Forwarded-For from the client is kept, the peer appended. */
	const char *json[] = {"Content-Type: application/json; charset=utf-8", "X-Forwarded-For: 10.0.0.1",
	                      NULL};
	char *ev = event_of(&furl_ctx, "POST", NULL, json, "{\"a\":\"\xc3\xa9\"}", 10, 100, &rc);
	assert_non_null(strstr(ev, "\"x-forwarded-for\":\"10.0.0.1, 192.0.2.1\""));
	assert_non_null(strstr(ev, "\"rawQueryString\":\"\","));
	assert_null(strstr(ev, "queryStringParameters"));
	assert_null(strstr(ev, "cookies"));
	assert_non_null(strstr(ev, "\"body\":\"{\\\"a\\\":\\\"\xc3\xa9\\\"}\",\"isBase64Encoded\":false}"));
	free(ev);
	/* A binary type is base64 even when it is valid UTF-8. */
	const char *bin[] = {"Content-Type: application/octet-stream", NULL};
	ev = event_of(&furl_ctx, "PUT", NULL, bin, "abc", 3, 100, &rc);
	assert_non_null(strstr(ev, "\"body\":\"YWJj\",\"isBase64Encoded\":true}"));
	free(ev);
	/* No Content-Type: text when UTF-8, base64 otherwise. */
	ev = event_of(&furl_ctx, "POST", NULL, NULL, "plain", 5, 100, &rc);
	assert_non_null(strstr(ev, "\"body\":\"plain\",\"isBase64Encoded\":false}"));
	free(ev);
	ev = event_of(&furl_ctx, "POST", NULL, NULL, "\xff\x00\x01", 3, 100, &rc);
	assert_non_null(strstr(ev, "\"body\":\"/wAB\",\"isBase64Encoded\":true}"));
	free(ev);
	/* text/ with bytes that are not UTF-8: base64. */
	const char *txt[] = {"Content-Type: text/plain", NULL};
	ev = event_of(&furl_ctx, "POST", NULL, txt, "\xc3", 1, 100, &rc);
	assert_non_null(strstr(ev, "\"body\":\"ww==\",\"isBase64Encoded\":true}"));
	free(ev);
	/* Over the limit. */
	ev = event_of(&furl_ctx, "POST", NULL, NULL, "0123456789", 10, 9, &rc);
	assert_null(ev);
	assert_int_equal(rc, -E2BIG);
	ev = event_of(&furl_ctx, "POST", NULL, NULL, "0123456789", 10, 10, &rc);
	assert_int_equal(rc, 0);
	free(ev);
}

static void test_v2_invalid_utf8_in_path_and_headers(void **state)
{
	struct proxy_ctx c = furl_ctx;
	c.raw_path = "/\xff/x";
	const char *hdrs[] = {"X-Bad: a\xfe", NULL};
	int rc;
	char *ev = event_of(&c, "GET", "k=%FF", hdrs, NULL, 0, 100, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(ev, "\"rawPath\":\"/?/x\""));
	assert_non_null(strstr(ev, "\"x-bad\":\"a?\""));
	assert_non_null(strstr(ev, "\"queryStringParameters\":{\"k\":\"?\"}"));
	free(ev);
}

static void test_v2_path_params_and_stage_vars(void **state)
{
	struct proxy_ctx c = furl_ctx;
	json_t *pp = json_pack("{s:s}", "id", "42");
	json_t *sv = json_pack("{s:s}", "color", "blue");
	c.path_params = pp;
	c.stage_vars = sv;
	c.route_key = "GET /items/{id}";
	int rc;
	char *ev = event_of(&c, "GET", NULL, NULL, NULL, 0, 100, &rc);
	assert_non_null(strstr(ev, "\"routeKey\":\"GET /items/{id}\""));
	assert_non_null(
	    strstr(ev, "\"pathParameters\":{\"id\":\"42\"},\"stageVariables\":{\"color\":\"blue\"}"));
	free(ev);
	json_decref(pp);
	json_decref(sv);
}

static void test_v1_exact(void **state)
{
	struct proxy_ctx c = {
	    .version = 1,
	    .route_key = "GET /items/{id}",
	    .raw_path = "/items/42",
	    .stage = "$default",
	    .api_id = "api1",
	    .domain_name = "api1.execute-api.localhost",
	    .domain_prefix = "api1",
	    .account = "000000000000",
	    .resource = "/items/{id}",
	    .request_id = "rid-2",
	};
	json_t *pp = json_pack("{s:s}", "id", "42");
	c.path_params = pp;
	const char *hdrs[] = {"X-Rep: 1", "X-Rep: 2", "Cookie: a=b", "Content-Type: text/plain", NULL};
	int rc;
	char *ev = event_of(&c, "POST", "q=1&q=2", hdrs, "hi", 2, 100, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(
	    ev,
	    "{\"version\":\"1.0\",\"resource\":\"/items/{id}\",\"path\":\"/items/"
	    "42\",\"httpMethod\":\"POST\","
	    "\"headers\":{\"x-rep\":\"2\",\"cookie\":\"a=b\",\"content-type\":\"text/plain\","
	    "\"x-forwarded-for\":\"192.0.2.1\",\"x-forwarded-proto\":\"http\",\"x-forwarded-port\":\"4566\"},"
	    "\"multiValueHeaders\":{\"x-rep\":[\"1\",\"2\"],\"cookie\":[\"a=b\"],\"content-type\":[\"text/"
	    "plain\"],"
	    "\"x-forwarded-for\":[\"192.0.2.1\"],\"x-forwarded-proto\":[\"http\"],\"x-forwarded-port\":["
	    "\"4566\"]},"
	    "\"queryStringParameters\":{\"q\":\"2\"},\"multiValueQueryStringParameters\":{\"q\":[\"1\",\"2\"]"
	    "},"
	    "\"requestContext\":{\"accountId\":\"000000000000\",\"apiId\":\"api1\","
	    "\"authorizer\":{\"claims\":null,\"scopes\":null},\"domainName\":\"api1.execute-api.localhost\","
	    "\"domainPrefix\":\"api1\",\"extendedRequestId\":\"rid-2\",\"httpMethod\":\"POST\","
	    "\"identity\":{\"accessKey\":null,\"accountId\":null,\"caller\":null,"
	    "\"cognitoAuthenticationProvider\":null,"
	    "\"cognitoAuthenticationType\":null,\"cognitoIdentityId\":null,\"cognitoIdentityPoolId\":null,"
	    "\"principalOrgId\":null,\"sourceIp\":\"192.0.2.1\",\"user\":null,\"userAgent\":\"\",\"userArn\":"
	    "null},"
	    "\"path\":\"/items/42\",\"protocol\":\"HTTP/1.1\",\"requestId\":\"rid-2\","
	    "\"requestTime\":\"04/Mar/2020:19:03:58 "
	    "+0000\",\"requestTimeEpoch\":1583348638390,\"resourceId\":null,"
	    "\"resourcePath\":\"/items/{id}\",\"stage\":\"$default\"},\"pathParameters\":{\"id\":\"42\"},"
	    "\"stageVariables\":null,\"body\":\"hi\",\"isBase64Encoded\":false}");
	free(ev);
	ev = event_of(&c, "GET", NULL, NULL, NULL, 0, 100, &rc);
	assert_non_null(
	    strstr(ev, "\"queryStringParameters\":null,\"multiValueQueryStringParameters\":null"));
	assert_non_null(strstr(ev, "\"body\":null"));
	free(ev);
	json_decref(pp);
}

/* Parses answer; returns rc, the response in *r (to fini). */
static int parse(int version, const char *answer, struct proxy_response *r)
{
	struct err e = {0};
	return proxy_parse_reply(version, answer, strlen(answer), r, &e);
}

static char *body_of(struct proxy_response *r)
{
	size_t n = evbuffer_get_length(r->body);
	char *s = malloc(n + 1);
	evbuffer_copyout(r->body, s, n);
	s[n] = 0;
	return s;
}

/* The headers as "k: v|k: v". */
static void headers_are(struct proxy_response *r, const char *want)
{
	char got[1024] = "";
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &r->headers, next) {
		if (got[0])
			strcat(got, "|");
		strcat(got, kv->key);
		strcat(got, ": ");
		strcat(got, kv->value);
	}
	assert_string_equal(got, want);
}

static void test_reply_v2_inferred(void **state)
{
	const char *cases[] = {"\"Hello\"", "{\"message\":\"hi\"}", "[1,2]", "null", "42"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proxy_response r;
		assert_int_equal(parse(2, cases[i], &r), 0);
		assert_int_equal(r.status, 200);
		headers_are(&r, "Content-Type: application/json");
		char *b = body_of(&r);
		assert_string_equal(b, cases[i]);
		free(b);
		proxy_response_fini(&r);
	}
}

static void test_reply_v2_structured(void **state)
{
	struct proxy_response r;
	assert_int_equal(
	    parse(2,
	          "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\",\"X-N\":7,"
	          "\"X-B\":true,\"Content-Length\":\"999\",\"Bad Name\":\"x\",\"X-Null\":null},"
	          "\"cookies\":[\"a=1\",\"b=2; Path=/\"],\"body\":\"created\",\"isBase64Encoded\":false,"
	          "\"multiValueHeaders\":{\"X-M\":[\"1\",\"2\"]}}",
	          &r),
	    0);
	assert_int_equal(r.status, 201);
	/* 2.0 ignores multiValueHeaders; hop-by-hop and invalid names are dropped. */
	headers_are(&r, "Content-Type: text/plain|X-N: 7|X-B: true|Set-Cookie: a=1|Set-Cookie: b=2; Path=/");
	char *b = body_of(&r);
	assert_string_equal(b, "created");
	free(b);
	proxy_response_fini(&r);

	/* base64 body, and a structured answer without Content-Type gets application/json. */
	assert_int_equal(parse(2, "{\"statusCode\":200,\"body\":\"AP8=\",\"isBase64Encoded\":true}", &r), 0);
	assert_int_equal(evbuffer_get_length(r.body), 2);
	unsigned char raw[2];
	evbuffer_copyout(r.body, raw, 2);
	assert_int_equal(raw[0], 0);
	assert_int_equal(raw[1], 0xff);
	headers_are(&r, "Content-Type: application/json");
	proxy_response_fini(&r);

	/* No body at all. */
	assert_int_equal(parse(2, "{\"statusCode\":204}", &r), 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(evbuffer_get_length(r.body), 0);
	proxy_response_fini(&r);
}

static void test_reply_malformed(void **state)
{
	const char *bad[] = {
	    "not json",
	    "{\"statusCode\":\"200\"}",
	    "{\"statusCode\":99}",
	    "{\"statusCode\":600}",
	    "{\"statusCode\":200.5}",
	    "{\"statusCode\":200,\"headers\":[]}",
	    "{\"statusCode\":200,\"headers\":{\"a\":{}}}",
	    "{\"statusCode\":200,\"body\":{\"a\":1}}",
	    "{\"statusCode\":200,\"body\":\"***\",\"isBase64Encoded\":true}",
	    "{\"statusCode\":200,\"cookies\":\"a=1\"}",
	    "{\"statusCode\":200,\"cookies\":[1]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proxy_response r;
		assert_int_equal(parse(2, bad[i], &r), -EBADMSG);
		proxy_response_fini(&r);
	}
	/* 1.0 needs a statusCode. */
	struct proxy_response r;
	assert_int_equal(parse(1, "{\"message\":\"hi\"}", &r), -EBADMSG);
	proxy_response_fini(&r);
}

static void test_reply_v1_multi(void **state)
{
	struct proxy_response r;
	assert_int_equal(parse(1,
	                       "{\"statusCode\":200,\"headers\":{\"X-A\":\"h\",\"X-B\":\"only\"},"
	                       "\"multiValueHeaders\":{\"x-a\":[\"m1\",\"m2\"]},\"cookies\":[\"ignored=1\"],"
	                       "\"body\":\"ok\"}",
	                       &r),
	                 0);
	/* A name in both takes the multiValueHeaders values; 1.0 has no cookies field. */
	headers_are(&r, "X-B: only|x-a: m1|x-a: m2|Content-Type: application/json");
	proxy_response_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_get_exact),
	    cmocka_unit_test(test_v2_bodies),
	    cmocka_unit_test(test_v2_invalid_utf8_in_path_and_headers),
	    cmocka_unit_test(test_v2_path_params_and_stage_vars),
	    cmocka_unit_test(test_v1_exact),
	    cmocka_unit_test(test_reply_v2_inferred),
	    cmocka_unit_test(test_reply_v2_structured),
	    cmocka_unit_test(test_reply_malformed),
	    cmocka_unit_test(test_reply_v1_multi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
