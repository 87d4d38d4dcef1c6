/* echo.c: a C Lambda function. It answers with its event unchanged; an event with a
 * "fail" key fails with errorType EchoFailure, one with a "context" key answers with
 * its context instead. Build: cc echo.c $(pkg-config --cflags --libs lambda-runtime) -o bootstrap */
#include <lambda_runtime.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int echo_handler(const struct lambda_event *ev, struct lambda_response *out, void *user)
{
	(void)user;
	/* The payload is NUL-terminated for convenience; a real function parses JSON. */
	if (strstr(ev->payload, "\"fail\"") != NULL)
		return lambda_response_error(out, "EchoFailure", "asked to fail: \"fail\" in the event"), 1;
	if (strstr(ev->payload, "\"context\"") != NULL) {
		char buf[2048];
		int n = snprintf(buf, sizeof(buf),
		                 "{\"request_id\":\"%s\",\"function_name\":\"%s\",\"memory_mb\":%d,"
		                 "\"arn\":\"%s\",\"remaining_ms\":%" PRId64 ",\"has_client_context\":%s}",
		                 ev->ctx.request_id, ev->ctx.function_name, ev->ctx.memory_mb,
		                 ev->ctx.invoked_function_arn, lambda_remaining_ms(ev),
		                 ev->ctx.client_context ? "true" : "false");
		if (n < 0 || (size_t)n >= sizeof(buf))
			return lambda_response_error(out, "EchoFailure", "context too long"), 1;
		return lambda_response_set(out, buf, (size_t)n);
	}
	return lambda_response_set(out, ev->payload, ev->payload_len);
}

int main(void)
{
	/* Initialisation that can fail is reported once, before the loop. */
	const char *init_fail = getenv("ECHO_INIT_FAIL");
	if (init_fail != NULL) {
		lambda_runtime_init_error("EchoInitError", init_fail);
		return 1;
	}
	lambda_runtime_run(echo_handler, NULL);
	return 1;
}
