/* A provided.al2023 function in C with lambdad's runtime library:
 *   make -C runtimes/c install PREFIX=$HOME/.local
 *   cc hello.c $(pkg-config --static --cflags --libs lambda-runtime) -static -o bootstrap */
#include <lambda_runtime.h>
#include <stdio.h>

static int hello(const struct lambda_event *ev, struct lambda_response *out, void *user)
{
	(void)user;
	char body[512];
	int n = snprintf(body, sizeof(body),
	                 "{\"message\":\"Hello from C\",\"request_id\":\"%s\",\"remaining_ms\":%lld}",
	                 ev->ctx.request_id, (long long)lambda_remaining_ms(ev));
	lambda_response_set(out, body, (size_t)n);
	return 0;
}

int main(void)
{
	return lambda_runtime_run(hello, NULL);
}
