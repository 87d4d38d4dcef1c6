/* libFuzzer target for the SigV4 Authorization header parser (auth/sigv4.c): any bytes
 * either parse into a scope of the right shape (a non-empty key id, an 8-digit date, the
 * region and service, signed headers holding host, a signature cut to 64 characters) or
 * are refused with a message; the same bytes as a request's path and query build a
 * canonical request or are refused, never crash. */
#include "auth/sigv4.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	struct sigv4_auth a;
	char why[512] = "";
	enum sigv4_status st = sigv4_parse_authorization(s, &a, why, sizeof(why));
	CHECK(st == SIGV4_OK || st == SIGV4_INCOMPLETE);
	if (st == SIGV4_OK) {
		CHECK(a.akid[0] != 0);
		CHECK(strlen(a.date) == 8 && strspn(a.date, "0123456789") == 8);
		CHECK(a.region[0] && a.service[0]);
		CHECK(strlen(a.signature) <= 64);
		CHECK(strstr(a.signed_headers, "host") != NULL);
	} else {
		CHECK(why[0] != 0);
	}
	/* The bytes as a header of a request, and as its path and query. */
	struct sigv4_hdr h[] = {
	    {"Authorization", s}, {"Host", "localhost:4566"}, {"X-Amz-Date", "20150830T123600Z"}};
	/* A path as the front has it: from its leading '/'. */
	char *path = malloc(size + 2);
	path[0] = '/';
	memcpy(path + 1, s, size + 1);
	struct sigv4_msg m = {.method = "GET", .path = path, .query = s, .headers = h, .nheaders = 3};
	st = sigv4_parse(&m, &a, why, sizeof(why));
	CHECK(st == SIGV4_OK || st == SIGV4_INCOMPLETE);
	if (st != SIGV4_OK) {
		memset(&a, 0, sizeof(a));
		strcpy(a.signed_headers, "host;x-amz-date");
		strcpy(a.amz_date, "20150830T123600Z");
		strcpy(a.date, "20150830");
	}
	for (int s3 = 0; s3 < 2; s3++) {
		m.s3 = s3;
		char *creq = sigv4_canonical_request(&m, &a, SIGV4_EMPTY_SHA256, why, sizeof(why));
		if (creq) {
			CHECK(strncmp(creq, "GET\n/", 5) == 0);
			free(creq);
		}
	}
	free(path);
	free(s);
	return 0;
}
