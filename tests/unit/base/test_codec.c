/* base/codec: base64 both ways, hex, SHA-256, UUIDs and UTF-8 sanitising. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/utf8.h"

static void test_b64_round_trip(void **state)
{
	const char *cases[][2] = {
	    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *enc = b64_encode(cases[i][0], strlen(cases[i][0]));
		assert_string_equal(enc, cases[i][1]);
		size_t n;
		unsigned char *dec = b64_decode(enc, strlen(enc), &n);
		assert_non_null(dec);
		assert_int_equal(n, strlen(cases[i][0]));
		assert_memory_equal(dec, cases[i][0], n);
		free(dec);
		free(enc);
	}
}

static void test_b64_refuses_malformed(void **state)
{
	const char *bad[] = {"Zg=", "Z", "Zm9v!", "Zm 9v", "Zg==Zg==", "===="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;
		unsigned char *dec = b64_decode(bad[i], strlen(bad[i]), &n);
		if (dec)
			fail_msg("accepted malformed base64 [%s]", bad[i]);
	}
}

static void test_sha256_hex(void **state)
{
	unsigned char d[32];
	char hex[65];
	sha256("abc", 3, d);
	hex_encode(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_uuid_shape(void **state)
{
	char a[37], b[37];
	uuid_v4(a);
	uuid_v4(b);
	assert_int_equal(strlen(a), 36);
	assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_string_not_equal(a, b);
}

static void test_utf8_sanitize(void **state)
{
	const char *cases[][2] = {
	    {"plain", "plain"},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
	    {"a\xff"
	     "b",
	     "a?b"},                      /* never valid */
	    {"\xc0\xaf", "??"},           /* overlong '/' */
	    {"\xe0\x80\xaf", "???"},      /* overlong, 3 bytes */
	    {"\xed\xa0\x80", "???"},      /* surrogate */
	    {"\xf4\x90\x80\x80", "????"}, /* past U+10FFFF */
	    {"x\xe2\x82", "x??"},         /* cut at the end */
	    {"\xc3"
	     "A",
	     "?A"}, /* continuation missing */
	    {"\x80"
	     "abc",
	     "?abc"}, /* lone continuation */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = strdup(cases[i][0]);
		utf8_sanitize(s);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
}

/* pct_decode is the query protocol's form decoder (plus_space) and SigV4's (without):
 * a malformed escape, %00 or a raw NUL refuses the whole text. */
static void test_pct_decode(void **state)
{
	(void)state;
	size_t n = 99;
	char *s = pct_decode("a+b%2Bc%7e%7E", 13, true, &n);
	assert_non_null(s);
	assert_string_equal(s, "a b+c~~");
	assert_int_equal(n, 7);
	free(s);
	s = pct_decode("a+b%20c", 7, false, NULL);
	assert_string_equal(s, "a+b c");
	free(s);
	s = pct_decode("%41", 3, false, &n);
	assert_string_equal(s, "A");
	assert_int_equal(n, 1);
	free(s);
	s = pct_decode("", 0, true, &n);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);
	assert_null(pct_decode("%4", 2, true, NULL));
	assert_null(pct_decode("%", 1, false, NULL));
	assert_null(pct_decode("%zz", 3, true, NULL));
	assert_null(pct_decode("a%00b", 5, false, NULL));
	assert_null(pct_decode("a\0b", 3, true, NULL));
	/* n bounds the text: an escape cut by it is malformed. */
	assert_null(pct_decode("%41", 2, false, NULL));
	assert_int_equal(hex_digit('0'), 0);
	assert_int_equal(hex_digit('f'), 15);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('g'), -1);
	assert_int_equal(hex_digit('/'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_b64_round_trip), cmocka_unit_test(test_b64_refuses_malformed),
	    cmocka_unit_test(test_sha256_hex),     cmocka_unit_test(test_uuid_shape),
	    cmocka_unit_test(test_utf8_sanitize),  cmocka_unit_test(test_pct_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
