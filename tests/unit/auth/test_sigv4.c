/* auth/sigv4: AWS's SigV4 test suite (sigv4_vectors/, see its README), every case signed
 * with the Authorization header and presigned, verified with the context's secret at the
 * context's time; the canonical request rebuilt must be the suite's byte for byte. Then
 * the refusals: a tampered signature, a wrong secret, clock skew, expiry, and malformed
 * Authorization headers with AWS's wording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sigv4.h"
#include "base/codec.h"

static char vectors[4096];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = xmalloc((size_t)n + 1);
	size_t got = fread(s, 1, (size_t)n, f);
	s[got] = 0;
	fclose(f);
	return s;
}

/* A request of the suite's text form, split in place. */
struct req {
	char *text;
	char method[16];
	char *path, *query;
	struct sigv4_hdr h[32];
	size_t nh;
	const char *body;
};

static void req_parse(struct req *r, char *text)
{
	memset(r, 0, sizeof(*r));
	r->text = text;
	char *eol = strchr(text, '\n');
	assert_non_null(eol);
	*eol = 0;
	char *sp = strchr(text, ' ');
	snprintf(r->method, sizeof(r->method), "%.*s", (int)(sp - text), text);
	char *target = sp + 1;
	char *ver = strstr(target, " HTTP/1.1");
	assert_non_null(ver);
	*ver = 0;
	r->path = target;
	char *q = strchr(target, '?');
	if (q) {
		*q = 0;
		r->query = q + 1;
	}
	char *line = eol + 1;
	char *prev_end = NULL;
	for (;;) {
		char *nl = strchr(line, '\n');
		if (!nl) {
			r->body = "";
			if (*line && strchr(line, ':')) { /* a last header without its newline */
				char *c = strchr(line, ':');
				*c = 0;
				r->h[r->nh].name = line;
				r->h[r->nh++].value = c + 1;
			}
			break;
		}
		if (nl == line) {
			r->body = nl + 1;
			break;
		}
		*nl = 0;
		if (line[0] == ' ' && prev_end) {
			/* A folded line continues the previous value. */
			*prev_end = '\n';
			prev_end = nl;
		} else {
			char *c = strchr(line, ':');
			assert_non_null(c);
			*c = 0;
			assert_true(r->nh < 32);
			r->h[r->nh].name = line;
			r->h[r->nh++].value = c + 1;
			prev_end = nl;
		}
		line = nl + 1;
	}
}

static void msg_of(const struct req *r, bool s3, struct sigv4_msg *m)
{
	*m = (struct sigv4_msg){.method = r->method,
	                        .path = r->path,
	                        .query = r->query,
	                        .headers = r->h,
	                        .nheaders = r->nh,
	                        .s3 = s3};
}

static void payload_hash(const struct sigv4_msg *m, const char *body, char out[65])
{
	const char *h = sigv4_header(m, "x-amz-content-sha256");
	if (h) {
		snprintf(out, 65, "%s", h);
		return;
	}
	unsigned char d[32];
	sha256(body, strlen(body), d);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void strip_nl(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
}

/* Verifies the case's kind ("header" or "query"); returns whether it was there. */
static bool run_case(const char *dir, const char *kind, int *checked)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s/context.json", vectors, dir);
	json_error_t je;
	json_t *ctx = json_load_file(path, 0, &je);
	assert_non_null(ctx);
	const char *secret =
	    json_string_value(json_object_get(json_object_get(ctx, "credentials"), "secret_access_key"));
	bool normalize = json_is_true(json_object_get(ctx, "normalize"));
	snprintf(path, sizeof(path), "%s/%s/%s-signed-request.txt", vectors, dir, kind);
	char *text = slurp(path);
	if (!text) {
		json_decref(ctx);
		return false;
	}
	snprintf(path, sizeof(path), "%s/%s/%s-canonical-request.txt", vectors, dir, kind);
	char *want = slurp(path);
	assert_non_null(want);
	strip_nl(want);
	struct req r;
	req_parse(&r, text);
	struct sigv4_msg m;
	/* Unnormalized cases are S3's rules: the path as it is, encoded once. */
	msg_of(&r, !normalize, &m);
	struct sigv4_auth a;
	char why[512] = "";
	enum sigv4_status st = sigv4_parse(&m, &a, why, sizeof(why));
	if (st != SIGV4_OK)
		fail_msg("%s %s: parse: %d %s", dir, kind, st, why);
	assert_int_equal(a.presigned, strcmp(kind, "query") == 0);
	assert_string_equal(a.akid, "AKIDEXAMPLE");
	uint8_t key[32];
	sigv4_signing_key(secret, a.date, a.region, a.service, key);
	char ph[65];
	payload_hash(&m, r.body, ph);
	char *creq = NULL;
	st = sigv4_verify(&m, &a, key, ph, &creq, why, sizeof(why));
	if (!creq || strcmp(creq, want) != 0)
		fail_msg("%s %s: canonical request\n--- got\n%s\n--- want\n%s", dir, kind,
		         creq ? creq : "(null)", want);
	if (st != SIGV4_OK)
		fail_msg("%s %s: verify: %d %s", dir, kind, st, why);
	int64_t t = sigv4_parse_amz_date(a.amz_date);
	assert_int_equal(sigv4_check_time(&a, t, 300, why, sizeof(why)), SIGV4_OK);
	/* One bit of the signature off: refused. */
	a.signature[10] = a.signature[10] == '0' ? '1' : '0';
	assert_int_equal(sigv4_verify(&m, &a, key, ph, NULL, why, sizeof(why)), SIGV4_MISMATCH);
	a.signature[10] = a.signature[10] == '0' ? '1' : '0';
	/* Another secret: refused. */
	uint8_t other[32];
	sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", a.date, a.region, a.service, other);
	assert_int_equal(sigv4_verify(&m, &a, other, ph, NULL, why, sizeof(why)), SIGV4_MISMATCH);
	free(creq);
	free(want);
	free(text);
	json_decref(ctx);
	(*checked)++;
	return true;
}

static void test_aws_suite(void **state)
{
	DIR *d = opendir(vectors);
	assert_non_null(d);
	int header = 0, query = 0, cases = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue;
		cases++;
		run_case(de->d_name, "header", &header);
		run_case(de->d_name, "query", &query);
	}
	closedir(d);
	print_message("sigv4 suite: %d cases, %d header-signed and %d presigned verified\n", cases, header,
	              query);
	assert_int_equal(cases, 38);
	assert_int_equal(header, 38);
	assert_int_equal(query, 38);
}

/* get-vanilla with its time moved: the skew window and a presigned expiry. */
static void test_time(void **state)
{
	struct sigv4_auth a = {0};
	snprintf(a.amz_date, sizeof(a.amz_date), "20150830T123600Z");
	int64_t t = sigv4_parse_amz_date(a.amz_date);
	char why[256];
	assert_int_equal(sigv4_check_time(&a, t + 300, 300, why, sizeof(why)), SIGV4_OK);
	assert_int_equal(sigv4_check_time(&a, t + 301, 300, why, sizeof(why)), SIGV4_SKEWED);
	assert_string_equal(why, "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
	                         "(20150830T124101Z - 5 min.)");
	assert_int_equal(sigv4_check_time(&a, t - 900, 300, why, sizeof(why)), SIGV4_SKEWED);
	assert_string_equal(why, "Signature not yet current: 20150830T123600Z is still later than "
	                         "20150830T122600Z (20150830T122100Z + 5 min.)");
	a.presigned = true;
	a.expires_s = 3600;
	assert_int_equal(sigv4_check_time(&a, t + 3600, 300, why, sizeof(why)), SIGV4_OK);
	assert_int_equal(sigv4_check_time(&a, t + 3601, 300, why, sizeof(why)), SIGV4_EXPIRED);
	assert_string_equal(why, "Request has expired");
}

static void test_malformed_authorization(void **state)
{
	struct sigv4_auth a;
	char why[1024];
	assert_int_equal(sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/"
	                                           "lambda/aws4_request, SignedHeaders=host;x-amz-date, "
	                                           "Signature=" SIGV4_EMPTY_SHA256,
	                                           &a, why, sizeof(why)),
	                 SIGV4_OK);
	assert_string_equal(a.akid, "AKID");
	assert_string_equal(a.date, "20150830");
	assert_string_equal(a.region, "us-east-1");
	assert_string_equal(a.service, "lambda");
	assert_string_equal(a.signed_headers, "host;x-amz-date");
	assert_int_equal(
	    sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID /20150830/us-east-1/lambda/"
	                              "aws4_request, SignedHeaders=host, Signature=00",
	                              &a, why, sizeof(why)),
	    SIGV4_INCOMPLETE);
	assert_non_null(strstr(why, "'/20150830/us-east-1/lambda/aws4_request' not a valid key=value pair "
	                            "(missing equal-sign) in Authorization header"));
	assert_int_equal(sigv4_parse_authorization("Bearer abc", &a, why, sizeof(why)), SIGV4_INCOMPLETE);
	assert_string_equal(why, "Authorization header requires 'Credential' parameter. Authorization header "
	                         "requires 'Signature' parameter. Authorization header requires "
	                         "'SignedHeaders' parameter. Authorization=Bearer abc");
	assert_int_equal(
	    sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/"
	                              "aws4_request, SignedHeaders=x-amz-date, Signature=00",
	                              &a, why, sizeof(why)),
	    SIGV4_INCOMPLETE);
	assert_string_equal(why, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
	assert_int_equal(
	    sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/"
	                              "aws5_request, SignedHeaders=host, Signature=00",
	                              &a, why, sizeof(why)),
	    SIGV4_INCOMPLETE);
	assert_non_null(strstr(why, "valid terminator: 'aws4_request', not 'aws5_request'"));
	assert_int_equal(sigv4_parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/lambda/"
	                                           "aws4_request, SignedHeaders=host, Signature=00",
	                                           &a, why, sizeof(why)),
	                 SIGV4_INCOMPLETE);
	/* No signature at all, in the header or the query: missing. */
	struct sigv4_msg m = {.method = "GET", .path = "/", .query = "a=b"};
	assert_int_equal(sigv4_parse(&m, &a, why, sizeof(why)), SIGV4_MISSING);
	m.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fs3%2Faws4_"
	          "request";
	assert_int_equal(sigv4_parse(&m, &a, why, sizeof(why)), SIGV4_INCOMPLETE);
	assert_non_null(strstr(why, "requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature"));
}

/* Non-S3 paths are normalized and encoded again; S3's are encoded once, as they are. */
static void test_double_encoding(void **state)
{
	struct sigv4_hdr h[] = {{"Host", "localhost:4566"}, {"X-Amz-Date", "20150830T123600Z"}};
	struct sigv4_msg m = {.method = "GET",
	                      .path = "/2015-03-31/functions/a%3Ab//x/../invocations",
	                      .headers = h,
	                      .nheaders = 2};
	struct sigv4_auth a = {0};
	snprintf(a.signed_headers, sizeof(a.signed_headers), "host;x-amz-date");
	char why[128];
	char *c = sigv4_canonical_request(&m, &a, SIGV4_EMPTY_SHA256, why, sizeof(why));
	assert_non_null(c);
	assert_non_null(strstr(c, "GET\n/2015-03-31/functions/a%253Ab/invocations\n\nhost:localhost:4566\n"));
	free(c);
	m.s3 = true;
	m.path = "/bucket/a%3Ab//x";
	c = sigv4_canonical_request(&m, &a, "UNSIGNED-PAYLOAD", why, sizeof(why));
	assert_non_null(strstr(c, "GET\n/bucket/a%3Ab//x\n"));
	free(c);
}

int main(void)
{
	snprintf(vectors, sizeof(vectors), "%s", __FILE__);
	char *slash = strrchr(vectors, '/');
	snprintf(slash ? slash + 1 : vectors, sizeof(vectors) - (size_t)(slash ? slash + 1 - vectors : 0),
	         "sigv4_vectors");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aws_suite),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_malformed_authorization),
	    cmocka_unit_test(test_double_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
