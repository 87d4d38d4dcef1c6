/* The Lambda API's service table (service.c, with function URLs and HTTP APIs) under the
 * front's classifier: which operation each kind of request lambdad serves reaches, by the
 * generated templates, and what is left unknown. No handler runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "../../front/fake_transport.h"
#include "svc/lambda/api_int.h"

/* "<service> <operation or ?> [param=value ...]" for a request (owned). */
static char *classify(const char *method, const char *uri, const char *host)
{
	struct front *fr = front_new(&lambda_svc);
	api__front_add(fr, NULL);
	char hh[128];
	snprintf(hh, sizeof(hh), "Host: %s", host ? host : "127.0.0.1:4566");
	const char *h[] = {hh, NULL};
	struct fake *f = fake_new(method, uri, h, NULL);
	struct svc_call c;
	void *ctx;
	enum front_class k = front_classify(fr, f->rq, &c, &ctx);
	char *s = xasprintf("%s %s", c.svc->name,
	                    k == FRONT_OP        ? c.op->name
	                    : k == FRONT_CLAIMED ? "claimed"
	                                         : "?");
	for (size_t i = 0; i < c.nparams; i++) {
		char *t = xasprintf("%s %s=%s", s, c.params[i].name, c.params[i].value);
		free(s);
		s = t;
	}
	svc_call_fini(&c);
	front_reply(f->rq, 204, NULL);
	fake_free(f);
	front_free(fr);
	return s;
}

static void check(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void test_functions(void **state)
{
	check(classify("POST", "/2015-03-31/functions", NULL), "lambda CreateFunction");
	check(classify("GET", "/2015-03-31/functions/", NULL), "lambda ListFunctions");
	check(classify("GET", "/2015-03-31/functions/f", NULL), "lambda GetFunction FunctionName=f");
	check(classify("DELETE", "/2015-03-31/functions/f?Qualifier=%24LATEST", NULL),
	      "lambda DeleteFunction FunctionName=f");
	check(classify("GET", "/2015-03-31/functions/f/configuration", NULL),
	      "lambda GetFunctionConfiguration FunctionName=f");
	check(classify("PUT", "/2015-03-31/functions/f/configuration", NULL),
	      "lambda UpdateFunctionConfiguration FunctionName=f");
	check(classify("PUT", "/2015-03-31/functions/f/code", NULL),
	      "lambda UpdateFunctionCode FunctionName=f");
	check(classify("POST",
	               "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/"
	               "invocations",
	               NULL),
	      "lambda Invoke FunctionName=arn:aws:lambda:us-east-1:000000000000:function:f");
	check(classify("POST", "/2014-11-13/functions/f/invoke-async/", NULL),
	      "lambda InvokeAsync FunctionName=f");
	check(classify("GET", "/2016-08-19/account-settings/", NULL), "lambda GetAccountSettings");
	/* A wrong method, and operations of the model lambdad does not implement yet. */
	check(classify("PATCH", "/2015-03-31/functions/f", NULL), "lambda ?");
	check(classify("POST", "/2025-11-30/capacity-providers", NULL), "lambda ?");
	check(classify("POST", "/2015-03-31/functions/f/versions", NULL),
	      "lambda PublishVersion FunctionName=f");
	check(classify("GET", "/no/such/path", NULL), "lambda ?");
}

static void test_dated_families(void **state)
{
	/* Concurrency: Put and Delete live under 2017-10-31, Get under 2019-09-30. */
	check(classify("PUT", "/2017-10-31/functions/f/concurrency", NULL),
	      "lambda PutFunctionConcurrency FunctionName=f");
	check(classify("DELETE", "/2017-10-31/functions/f/concurrency", NULL),
	      "lambda DeleteFunctionConcurrency FunctionName=f");
	check(classify("GET", "/2019-09-30/functions/f/concurrency", NULL),
	      "lambda GetFunctionConcurrency FunctionName=f");
	check(classify("GET", "/2017-10-31/functions/f/concurrency", NULL), "lambda ?");
	check(classify("PUT", "/2019-09-30/functions/f/concurrency", NULL), "lambda ?");
	check(classify("GET", "/2019-09-30/functions/f/provisioned-concurrency?List=ALL", NULL),
	      "lambda ListProvisionedConcurrencyConfigs FunctionName=f");
	check(classify("GET", "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1", NULL),
	      "lambda GetProvisionedConcurrencyConfig FunctionName=f");
	check(classify("POST", "/2019-09-25/functions/f/event-invoke-config", NULL),
	      "lambda UpdateFunctionEventInvokeConfig FunctionName=f");
	check(classify("GET", "/2019-09-25/functions/f/event-invoke-config/list", NULL),
	      "lambda ListFunctionEventInvokeConfigs FunctionName=f");
	check(classify("POST", "/2021-10-31/functions/f/url", NULL),
	      "lambda CreateFunctionUrlConfig FunctionName=f");
	check(classify("GET", "/2021-10-31/functions/f/urls", NULL),
	      "lambda ListFunctionUrlConfigs FunctionName=f");
}

static void test_lambdad_own(void **state)
{
	check(classify("GET", "/metrics", NULL), "lambda LambdadMetrics");
	check(classify("GET", "/lambdad/v1/functions/f/logs?offset=0", NULL),
	      "lambda LambdadGetLogs FunctionName=f");
	check(classify("DELETE", "/lambdad/v1/functions/f/keep-alive", NULL),
	      "lambda LambdadKeepAlive FunctionName=f");
	check(classify("GET", "/lambdad/v1/functions/f/events/failed", NULL),
	      "lambda LambdadEvents FunctionName=f Op=failed");
	check(classify("GET", "/lambdad/v1/code/abc.zip", NULL), "lambda LambdadGetCode File=abc.zip");
}

static void test_http_apis_and_urls(void **state)
{
	check(classify("GET", "/v2/apis", NULL), "apigateway GetApis");
	check(classify("PATCH", "/v2/apis/a1/routes/r1", NULL), "apigateway UpdateRoute apiId=a1 routeId=r1");
	check(classify("DELETE", "/v2/apis/a1/cors", NULL), "apigateway DeleteCorsConfiguration apiId=a1");
	check(classify("GET", "/v2/apis/a1/stages/prod", NULL),
	      "apigateway GetStage apiId=a1 stageName=prod");
	check(classify("GET", "/v2/apis/a1/authorizers", NULL),
	      "apigateway ?"); /* in the model, not served */
	/* Data planes: by Host, or by path prefix, whatever follows. */
	check(classify("GET", "/2015-03-31/functions", "abc.execute-api.localhost:4566"),
	      "execute-api claimed");
	check(classify("POST", "/apis/a1/items/1", NULL), "execute-api claimed");
	check(classify("GET", "/", "x.lambda-url.us-east-1.localhost:4566"), "lambda-url claimed");
	check(classify("GET", "/lambda-url/f/path", NULL), "lambda-url claimed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_functions),
	    cmocka_unit_test(test_dated_families),
	    cmocka_unit_test(test_lambdad_own),
	    cmocka_unit_test(test_http_apis_and_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
