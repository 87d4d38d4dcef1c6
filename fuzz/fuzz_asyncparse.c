/* libFuzzer target for what the async queue parses from users: any bytes as
 * --async-retry-delays give two delays within 0..24 h or -EINVAL, and as a
 * destination ARN either a service name of 1..15 characters or -EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async/async.h"
#include "async/async_int.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	int64_t d[2] = {-1, -1};
	int r = async_parse_delays(s, d);
	CHECK(r == 0 || r == -EINVAL);
	if (r == 0)
		for (int i = 0; i < 2; i++)
			CHECK(d[i] >= 0 && d[i] <= 24LL * 3600 * 1000);
	char svc[16];
	memset(svc, 'x', sizeof(svc));
	r = async__target_service(s, svc);
	CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		size_t n = strnlen(svc, sizeof(svc));
		CHECK(n >= 1 && n <= 15 && strchr(svc, ':') == NULL && strstr(s, svc) != NULL);
	}
	free(s);
	return 0;
}
