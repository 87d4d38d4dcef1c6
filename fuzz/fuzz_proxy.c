/* libFuzzer target for the proxy integration's answer parser: any bytes, as a function's
 * answer in payload format 1.0 or 2.0, either give an HTTP response (a status in
 * 100-599, header names that are HTTP tokens, no hop-by-hop header, a Content-Type) or
 * -EBADMSG with a message. The first byte picks the format. */
#include "integ/proxy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "fuzz_check.h"

static int is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int version = (data[0] & 1) ? 1 : 2;
	struct proxy_response r;
	struct err e = {0};
	int rc = proxy_parse_reply(version, (const char *)data + 1, size - 1, &r, &e);
	if (rc < 0) {
		CHECK(rc == -EBADMSG);
		CHECK(e.msg[0] != 0);
	} else {
		CHECK(rc == 0);
		CHECK(r.status >= 100 && r.status <= 599);
		int ctype = 0;
		struct evkeyval *kv;
		TAILQ_FOREACH(kv, &r.headers, next) {
			CHECK(is_token(kv->key));
			CHECK(strcasecmp(kv->key, "Content-Length") != 0 &&
			      strcasecmp(kv->key, "Transfer-Encoding") != 0 &&
			      strcasecmp(kv->key, "Connection") != 0);
			CHECK(!strpbrk(kv->value, "\r\n")); /* no response splitting */
			ctype |= strcasecmp(kv->key, "Content-Type") == 0;
		}
		CHECK(ctype);
		CHECK(r.body != NULL);
	}
	proxy_response_fini(&r);
	return 0;
}
