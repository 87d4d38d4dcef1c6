/* auth/auth: the root key made once (stored, DATA/credentials 0600, the same on the next
 * start), and the front's check of requests signed here with the suite-checked signer:
 * accepted, or refused with Lambda's error for a wrong signature, an unknown key, a
 * session token, test/test unless asked for, a skewed clock and a body other than the
 * hashed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../front/fake_transport.h"
#include "auth/auth.h"
#include "base/clock.h"
#include "base/codec.h"

static const struct svc_error no_errors[1];
static const struct svc lambda = {
    .name = "lambda", .proto = PROTO_REST_JSON, .errors = no_errors, .nerrors = 1};

static int passed;
static void done_cb(struct front_req *rq, void *arg)
{
	passed++;
	front_reply(rq, 200, NULL);
}

/* A request to path with body, signed at time t by akid/secret (NULL: unsigned), plus
 * extra headers (NULL-terminated "K: V"). */
static struct fake *signed_req(const char *path, const char *body, const char *akid, const char *secret,
                               int64_t t, const char *const *extra)
{
	char date[17];
	sigv4_fmt_amz_date(t, date);
	char dh[64];
	snprintf(dh, sizeof(dh), "X-Amz-Date: %s", date);
	const char *hdrs[8] = {"Host: 127.0.0.1:4566", "Content-Type: application/json", dh};
	size_t n = 3;
	for (size_t i = 0; extra && extra[i]; i++)
		hdrs[n++] = extra[i];
	char authz[512];
	if (akid) {
		struct sigv4_hdr h[] = {
		    {"Host", "127.0.0.1:4566"}, {"Content-Type", "application/json"}, {"X-Amz-Date", date}};
		struct sigv4_msg m = {.method = "POST", .path = path, .headers = h, .nheaders = 3};
		struct sigv4_auth a = {0};
		snprintf(a.akid, sizeof(a.akid), "%s", akid);
		snprintf(a.date, sizeof(a.date), "%.8s", date);
		snprintf(a.region, sizeof(a.region), "us-east-1");
		snprintf(a.service, sizeof(a.service), "lambda");
		snprintf(a.amz_date, sizeof(a.amz_date), "%s", date);
		snprintf(a.signed_headers, sizeof(a.signed_headers), "content-type;host;x-amz-date");
		unsigned char d[32];
		char hex[65];
		sha256(body, strlen(body), d);
		for (int i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", d[i]);
		char *creq = sigv4_canonical_request(&m, &a, hex, NULL, 0);
		char *sts = sigv4_string_to_sign(&a, creq);
		uint8_t key[32];
		sigv4_signing_key(secret, a.date, a.region, a.service, key);
		char sig[65];
		sigv4_sign(key, sts, sig);
		free(creq);
		free(sts);
		snprintf(authz, sizeof(authz),
		         "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/lambda/aws4_request, "
		         "SignedHeaders=content-type;host;x-amz-date, Signature=%s",
		         akid, a.date, sig);
		hdrs[n++] = authz;
	}
	hdrs[n] = NULL;
	return fake_new("POST", path, hdrs, body);
}

/* Verifies f's request: "pass" or "<status> <X-Amzn-ErrorType>". */
static char *verdict(struct auth *au, struct fake *f)
{
	int before = passed;
	auth_front_verify(au, f->rq, &lambda, done_cb, NULL);
	assert_int_equal(f->sends, 1);
	char *s = passed > before ? xstrdup("pass")
	                          : xasprintf("%d %s", f->status, fake_header(f, "X-Amzn-ErrorType"));
	fake_free(f);
	return s;
}

static void check(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static void test_root_key_and_verify(void **state)
{
	char dir[] = "/tmp/lambdad-test-auth.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct event_base *base = event_base_new();
	struct pool *pool = NULL;
	struct store *st = NULL;
	struct err e = {0};
	assert_int_equal(pool_new(base, 1, &pool, &e), 0);
	assert_int_equal(store_new(dir, &st, &e), 0);
	store_set_loop(st, base, pool);
	struct auth_config cfg = {.mode = AUTH_SIGV4, .account = "123456789012"};
	struct auth *au = NULL;
	assert_int_equal(auth_new(st, pool, &cfg, &au, &e), 0);
	char *akid = xstrdup(auth_root_key_id(au));
	char *secret = xstrdup(auth_root_secret(au));
	assert_int_equal(strlen(akid), 20);
	assert_int_equal(strlen(secret), 40);
	const char *arn = NULL;
	assert_string_equal(auth_lookup(au, akid, &arn), secret);
	assert_string_equal(arn, "arn:aws:iam::123456789012:root");
	struct stat sb;
	assert_int_equal(stat(auth_root_file(au), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	int64_t now = clock_wall_ms() / 1000;
	const char *path = "/2015-03-31/functions/f/invocations";
	check(verdict(au, signed_req(path, "{}", akid, secret, now, NULL)), "pass");
	check(verdict(au, signed_req(path, "{}", NULL, NULL, now, NULL)),
	      "403 MissingAuthenticationTokenException");
	check(verdict(au, signed_req(path, "{}", akid, "wrong", now, NULL)), "403 InvalidSignatureException");
	check(verdict(au, signed_req(path, "{}", "AKIANOSUCHKEY0000000", secret, now, NULL)),
	      "403 UnrecognizedClientException");
	check(verdict(au, signed_req(path, "{}", "test", "test", now, NULL)),
	      "403 UnrecognizedClientException");
	const char *token[] = {"X-Amz-Security-Token: abc", NULL};
	check(verdict(au, signed_req(path, "{}", akid, secret, now, token)),
	      "403 UnrecognizedClientException");
	check(verdict(au, signed_req(path, "{}", akid, secret, now - 16 * 60, NULL)),
	      "403 InvalidSignatureException");
	check(verdict(au, signed_req(path, "{}", akid, secret, now + 14 * 60, NULL)), "pass");
	/* Signed for "{}", sent with another body. */
	struct fake *f = signed_req(path, "{}", akid, secret, now, NULL);
	evbuffer_drain(f->body_in, evbuffer_get_length(f->body_in));
	evbuffer_add(f->body_in, "[]", 2);
	check(verdict(au, f), "403 InvalidSignatureException");
	auth_free(au);

	/* The next start keeps the key; test/test only when asked. */
	cfg.test_credentials = true;
	assert_int_equal(auth_new(st, pool, &cfg, &au, &e), 0);
	assert_string_equal(auth_root_key_id(au), akid);
	check(verdict(au, signed_req(path, "{}", "test", "test", now, NULL)), "pass");
	check(verdict(au, signed_req(path, "{}", akid, secret, now, NULL)), "pass");
	auth_free(au);
	/* --auth none: everything passes, unchecked. */
	cfg = (struct auth_config){.mode = AUTH_NONE};
	assert_int_equal(auth_new(st, pool, &cfg, &au, &e), 0);
	check(verdict(au, signed_req(path, "{}", NULL, NULL, now, NULL)), "pass");
	auth_free(au);

	store_free(st);
	pool_free(pool);
	event_base_free(base);
	free(akid);
	free(secret);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_root_key_and_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
