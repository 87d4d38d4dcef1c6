/* Tests for the CORS module: the exact headers of preflights and other answers for
 * function URL and HTTP API configurations, and invalid configurations refused with
 * the field named as each API names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "integ/cors.h"

/* Parses JSON text into a configuration of the given API ('f' function URL, 'g' HTTP
 * API); fails the test when it does not parse. */
static struct cors *make(char api, const char *text)
{
	json_error_t je;
	json_t *in = json_loads(text, 0, &je);
	assert_non_null(in);
	struct cors *c = NULL;
	struct err e = {0};
	int r = api == 'f' ? cors_from_furl(in, &c, &e) : cors_from_apigw(in, &c, &e);
	json_decref(in);
	if (r < 0)
		fail_msg("%s: %s", text, e.msg);
	assert_non_null(c);
	return c;
}

/* The error message of a configuration that must be refused. */
static char *refusal(char api, const char *text)
{
	json_t *in = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(in);
	struct cors *c = (struct cors *)1;
	struct err e = {0};
	int r = api == 'f' ? cors_from_furl(in, &c, &e) : cors_from_apigw(in, &c, &e);
	json_decref(in);
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	return strdup(e.msg);
}

/* "Name: value" lines of h joined with '|'. */
static void dump(const struct evkeyvalq *h, char *out, size_t n)
{
	const struct evkeyval *kv;
	out[0] = 0;
	TAILQ_FOREACH(kv, h, next) {
		size_t len = strlen(out);
		snprintf(out + len, n - len, "%s%s: %s", len ? "|" : "", kv->key, kv->value);
	}
}

/* The status and headers of a request (method; "Name: value" request headers, NULL
 * terminated): "<status> <headers>" from cors_preflight, and when that is 0, "0 "
 * followed by what cors_headers adds. */
static char *answer(const struct cors *c, const char *method, const char **hdrs)
{
	struct evkeyvalq in, out;
	TAILQ_INIT(&in);
	TAILQ_INIT(&out);
	for (const char **p = hdrs; p && *p; p++) {
		char *k = strdup(*p);
		char *v = strchr(k, ':');
		*v = 0;
		evhttp_add_header(&in, k, v + 2);
		free(k);
	}
	int status = cors_preflight(c, method, &in, &out);
	if (!status)
		cors_headers(c, &in, &out);
	char h[2048];
	dump(&out, h, sizeof(h));
	char *s = malloc(strlen(h) + 16);
	sprintf(s, "%d %s", status, h);
	evhttp_clear_headers(&in);
	evhttp_clear_headers(&out);
	return s;
}

#define CHECK(expected, got)                                                                                 \
	do {                                                                                                 \
		char *got_ = (got);                                                                          \
		assert_string_equal(got_, expected);                                                         \
		free(got_);                                                                                  \
	} while (0)

static const char *preflight_app[] = {"Origin: https://app.example", "Access-Control-Request-Method: PUT",
                                      "Access-Control-Request-Headers: x-token", NULL};
static const char *from_app[] = {"Origin: https://app.example", NULL};
static const char *from_evil[] = {"Origin: https://evil.example", NULL};
static const char *preflight_evil[] = {"Origin: https://evil.example", "Access-Control-Request-Method: PUT",
                                       NULL};

static const char furl_full[] =
    "{\"AllowOrigins\":[\"https://app.example\"],\"AllowMethods\":[\"GET\",\"PUT\",\"POST\"],"
    "\"AllowHeaders\":[\"x-token\"],\"ExposeHeaders\":[\"x-custom\",\"x-other\"],\"MaxAge\":600,"
    "\"AllowCredentials\":true}";

static void test_furl_full(void **state)
{
	struct cors *c = make('f', furl_full);
	CHECK("200 Access-Control-Allow-Origin: https://app.example|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Allow-Methods: GET, PUT, POST|Access-Control-Allow-Headers: x-token|"
	      "Access-Control-Max-Age: 600|Vary: Origin",
	      answer(c, "OPTIONS", preflight_app));
	CHECK("0 Access-Control-Allow-Origin: https://app.example|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Expose-Headers: x-custom, x-other|Vary: Origin",
	      answer(c, "GET", from_app));
	/* Origins compare without regard to case, and the request's spelling is echoed. */
	const char *upper[] = {"Origin: HTTPS://APP.EXAMPLE", NULL};
	CHECK("0 Access-Control-Allow-Origin: HTTPS://APP.EXAMPLE|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Expose-Headers: x-custom, x-other|Vary: Origin",
	      answer(c, "POST", upper));
	/* An origin not allowed: the preflight is still answered, without CORS headers. */
	CHECK("200 ", answer(c, "OPTIONS", preflight_evil));
	CHECK("0 ", answer(c, "GET", from_evil));
	/* Not preflights: OPTIONS without Access-Control-Request-Method, or no Origin. */
	CHECK("0 Access-Control-Allow-Origin: https://app.example|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Expose-Headers: x-custom, x-other|Vary: Origin",
	      answer(c, "OPTIONS", from_app));
	const char *no_origin[] = {"Access-Control-Request-Method: PUT", NULL};
	CHECK("0 ", answer(c, "OPTIONS", no_origin));
	/* A GET that carries Access-Control-Request-Method is no preflight either. */
	CHECK("0 Access-Control-Allow-Origin: https://app.example|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Expose-Headers: x-custom, x-other|Vary: Origin",
	      answer(c, "GET", preflight_app));
	cors_free(c);
}

static void test_furl_wildcard(void **state)
{
	struct cors *c = make('f', "{\"AllowOrigins\":[\"*\"],\"AllowMethods\":[\"*\"]}");
	CHECK("200 Access-Control-Allow-Origin: *|Access-Control-Allow-Methods: *",
	      answer(c, "OPTIONS", preflight_evil));
	CHECK("0 Access-Control-Allow-Origin: *", answer(c, "GET", from_evil));
	cors_free(c);
	/* With credentials, "*" answers with the request's origin (Lambda accepts the pair). */
	c = make('f', "{\"AllowOrigins\":[\"*\"],\"AllowCredentials\":true}");
	CHECK("0 Access-Control-Allow-Origin: https://evil.example|Access-Control-Allow-Credentials: true|"
	      "Vary: Origin",
	      answer(c, "GET", from_evil));
	cors_free(c);
	/* Function URLs know no scheme wildcard: that entry is only a literal origin. */
	c = make('f', "{\"AllowOrigins\":[\"https://*\"]}");
	CHECK("0 ", answer(c, "GET", from_app));
	cors_free(c);
	/* No AllowOrigins: nothing is allowed. */
	c = make('f', "{\"AllowMethods\":[\"GET\"]}");
	CHECK("200 ", answer(c, "OPTIONS", preflight_app));
	cors_free(c);
	/* No configuration: no preflight answer and no headers. */
	CHECK("0 ", answer(NULL, "OPTIONS", preflight_app));
}

static void test_apigw(void **state)
{
	struct cors *c =
	    make('g', "{\"allowOrigins\":[\"https://a.example\",\"http://*\"],"
	              "\"allowMethods\":[\"GET\",\"POST\"],\"allowHeaders\":[\"authorization\",\"*\"],"
	              "\"exposeHeaders\":[\"date\"],\"maxAge\":-1,\"allowCredentials\":true,"
	              "\"unknown\":1}");
	const char *pre[] = {"Origin: https://a.example", "Access-Control-Request-Method: POST", NULL};
	CHECK("204 Access-Control-Allow-Origin: https://a.example|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Allow-Methods: GET, POST|Access-Control-Allow-Headers: authorization, *|"
	      "Access-Control-Max-Age: -1|Vary: Origin",
	      answer(c, "OPTIONS", pre));
	/* The http scheme wildcard: any http origin, echoed; not an https one, nor the bare
	 * scheme. */
	const char *plain[] = {"Origin: http://localhost:3000", NULL};
	CHECK("0 Access-Control-Allow-Origin: http://localhost:3000|Access-Control-Allow-Credentials: true|"
	      "Access-Control-Expose-Headers: date|Vary: Origin",
	      answer(c, "GET", plain));
	const char *other[] = {"Origin: https://b.example", NULL};
	CHECK("0 ", answer(c, "GET", other));
	const char *bare[] = {"Origin: http://", NULL};
	CHECK("0 ", answer(c, "GET", bare));
	const char *pre_other[] = {"Origin: https://b.example", "Access-Control-Request-Method: GET", NULL};
	CHECK("204 ", answer(c, "OPTIONS", pre_other));
	/* The API shows the known fields as given. */
	char *shown = json_dumps(cors_json(c), JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(shown,
	                    "{\"allowCredentials\":true,\"allowHeaders\":[\"authorization\",\"*\"],"
	                    "\"allowMethods\":[\"GET\",\"POST\"],\"allowOrigins\":[\"https://a.example\","
	                    "\"http://*\"],\"exposeHeaders\":[\"date\"],\"maxAge\":-1}");
	free(shown);
	cors_free(c);
	c = make('g', "{\"allowOrigins\":[\"*\"]}");
	const char *pre_any[] = {"Origin: https://x.example", "Access-Control-Request-Method: DELETE", NULL};
	CHECK("204 Access-Control-Allow-Origin: *", answer(c, "OPTIONS", pre_any));
	cors_free(c);
}

static void test_absent(void **state)
{
	struct cors *c = (struct cors *)1;
	struct err e = {0};
	assert_int_equal(cors_from_furl(NULL, &c, &e), 0);
	assert_null(c);
	c = (struct cors *)1;
	json_t *null = json_null();
	assert_int_equal(cors_from_apigw(null, &c, &e), 0);
	assert_null(c);
	json_decref(null);
	cors_free(NULL);
}

static void test_furl_invalid(void **state)
{
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"{\"MaxAge\":90000}",
	     "Value '90000' at 'cors.maxAge' failed to satisfy constraint: Member must have "
	     "value less than or equal to 86400"},
	    {"{\"MaxAge\":-1}",
	     "at 'cors.maxAge' failed to satisfy constraint: Member must have value greater"},
	    {"{\"MaxAge\":\"60\"}", "at 'cors.maxAge'"},
	    {"{\"AllowMethods\":[\"FETCH\"]}",
	     "Value 'FETCH' at 'cors.allowMethods' failed to satisfy constraint: "
	     "Member must satisfy enum value set"},
	    {"{\"AllowMethods\":[\"GET\",\"PUT\",\"POST\",\"HEAD\",\"PATCH\",\"DELETE\",\"OPTIONS\"]}",
	     "at 'cors.allowMethods' failed to satisfy constraint: Member must have length less than or "
	     "equal to 6"},
	    {"{\"AllowOrigins\":[\"\"]}", "at 'cors.allowOrigins'"},
	    {"{\"AllowOrigins\":\"https://a.example\"}", "at 'cors.allowOrigins'"},
	    {"{\"AllowHeaders\":[1]}", "at 'cors.allowHeaders'"},
	    {"{\"ExposeHeaders\":{}}", "at 'cors.exposeHeaders'"},
	    {"{\"AllowCredentials\":\"yes\"}", "at 'cors.allowCredentials'"},
	    {"[]", "at 'cors' failed"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *msg = refusal('f', bad[i].json);
		if (!strstr(msg, bad[i].needle) || strncmp(msg, "1 validation error detected: ", 29) != 0)
			fail_msg("%s: [%s] not in [%s]", bad[i].json, bad[i].needle, msg);
		free(msg);
	}
}

static void test_apigw_invalid(void **state)
{
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"{\"maxAge\":86401}", "Invalid input for corsConfiguration.maxAge"},
	    {"{\"maxAge\":-2}", "Invalid input for corsConfiguration.maxAge"},
	    {"{\"allowMethods\":[\"FETCH\"]}", "Invalid input for corsConfiguration.allowMethods: FETCH"},
	    {"{\"allowOrigins\":\"*\"}", "Invalid input for corsConfiguration.allowOrigins"},
	    {"{\"allowHeaders\":[\"\"]}", "Invalid input for corsConfiguration.allowHeaders"},
	    {"{\"exposeHeaders\":[true]}", "Invalid input for corsConfiguration.exposeHeaders"},
	    {"{\"allowCredentials\":1}", "Invalid input for corsConfiguration.allowCredentials"},
	    {"{\"allowCredentials\":true,\"allowOrigins\":[\"https://a.example\",\"*\"]}",
	     "allow-credentials is not supported if 'allow-origin' is *"},
	    {"\"x\"", "Invalid input for corsConfiguration: an object expected"},
	    /* PascalCase is the function URL's shape, not API Gateway's: its fields are unknown
	       here, so this one is only a valid empty configuration (checked below). */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *msg = refusal('g', bad[i].json);
		if (!strstr(msg, bad[i].needle))
			fail_msg("%s: [%s] not in [%s]", bad[i].json, bad[i].needle, msg);
		free(msg);
	}
	/* Credentials with an exact or scheme-wildcard origin are fine. */
	cors_free(make('g', "{\"allowCredentials\":true,\"allowOrigins\":[\"https://*\"]}"));
	struct cors *c = make('g', "{\"AllowOrigins\":[\"*\"]}");
	CHECK("0 ", answer(c, "GET", from_app));
	cors_free(c);
}

static void test_strip(void **state)
{
	struct evkeyvalq h;
	TAILQ_INIT(&h);
	evhttp_add_header(&h, "Content-Type", "text/plain");
	evhttp_add_header(&h, "access-control-allow-origin", "https://evil.example");
	evhttp_add_header(&h, "Vary", "Accept-Encoding");
	evhttp_add_header(&h, "Access-Control-Allow-Methods", "DELETE");
	evhttp_add_header(&h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(&h, "X-Access-Control-Note", "kept");
	cors_strip(&h);
	char s[512];
	dump(&h, s, sizeof(s));
	assert_string_equal(s, "Content-Type: text/plain|Vary: Accept-Encoding|X-Access-Control-Note: kept");
	evhttp_clear_headers(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_furl_full),    cmocka_unit_test(test_furl_wildcard),
	    cmocka_unit_test(test_apigw),        cmocka_unit_test(test_absent),
	    cmocka_unit_test(test_furl_invalid), cmocka_unit_test(test_apigw_invalid),
	    cmocka_unit_test(test_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
