/* Tests for the UTF-8 validator and sanitizer: every class of ill-formed input that RFC
 * 3629 names, at the edges of each range, and the sanitizer's output always valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* The UTF-8 form of code point cp (no checks): the reference the validator is held to. */
static size_t encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

#define VALID(lit) utf8_valid(lit, sizeof(lit) - 1)

static void test_valid_text(void **state)
{
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid(NULL, 0));
	assert_true(VALID("hello"));
	assert_true(VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	assert_true(VALID("a\0b")); /* U+0000 is a character */
	/* The first and last code point of each length. */
	assert_true(VALID("\x7f"));
	assert_true(VALID("\xc2\x80"));
	assert_true(VALID("\xdf\xbf"));
	assert_true(VALID("\xe0\xa0\x80"));
	assert_true(VALID("\xef\xbf\xbf"));
	assert_true(VALID("\xf0\x90\x80\x80"));
	assert_true(VALID("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	/* Around the surrogates. */
	assert_true(VALID("\xed\x9f\xbf")); /* U+D7FF */
	assert_true(VALID("\xee\x80\x80")); /* U+E000 */
}

static void test_invalid_text(void **state)
{
	assert_false(VALID("\x80"));                     /* lone continuation */
	assert_false(VALID("\xbf"));                     /* lone continuation */
	assert_false(VALID("\xc0\x80"));                 /* overlong U+0000 */
	assert_false(VALID("\xc1\xbf"));                 /* overlong U+007F */
	assert_false(VALID("\xe0\x80\x80"));             /* overlong, 3 bytes */
	assert_false(VALID("\xe0\x9f\xbf"));             /* overlong U+07FF */
	assert_false(VALID("\xf0\x80\x80\x80"));         /* overlong, 4 bytes */
	assert_false(VALID("\xf0\x8f\xbf\xbf"));         /* overlong U+FFFF */
	assert_false(VALID("\xed\xa0\x80"));             /* U+D800 */
	assert_false(VALID("\xed\xbf\xbf"));             /* U+DFFF */
	assert_false(VALID("\xed\xa0\xbd\xed\xb8\x80")); /* a CESU-8 surrogate pair */
	assert_false(VALID("\xf4\x90\x80\x80"));         /* U+110000 */
	assert_false(VALID("\xf5\x80\x80\x80"));
	assert_false(VALID("\xf8\x88\x80\x80\x80")); /* 5-byte form */
	assert_false(VALID("\xfe"));
	assert_false(VALID("\xff"));
	assert_false(VALID("\xc3"));         /* cut short */
	assert_false(VALID("\xe2\x82"));     /* cut short */
	assert_false(VALID("\xf0\x9f\x98")); /* cut short */
	assert_false(VALID("\xc3"
	                   "A")); /* not a continuation */
	assert_false(VALID("\xe2\x82"
	                   "A"));
	assert_false(VALID("\xf0\x9f\x98"
	                   "A"));
	assert_false(VALID("\xe2\xc2\x82"));
	/* A valid sequence that the length cuts is not valid. */
	assert_false(utf8_valid("\xe2\x82\xac", 2));
	assert_true(utf8_valid("\xe2\x82\xac", 3));
	/* Invalid after valid text. */
	assert_false(VALID("ok \xe2\x82\xac then \xff"));
}

/* Every code point and every two-byte string agree with the reference encoder: a
 * byte string is valid exactly when it is the encoding of a scalar value. */
static void test_exhaustive(void **state)
{
	unsigned char b[4];
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		size_t n = encode(cp, b);
		bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
		assert_int_equal(utf8_valid(b, n), !surrogate);
		assert_int_equal(utf8_seq_len(b, n), surrogate ? 0 : n);
		assert_int_equal(utf8_seq_len(b, n - 1), 0); /* one byte short */
	}
	/* Of all 65536 two-byte strings, valid are: two ASCII bytes, or C2-DF + 80-BF. */
	size_t valid = 0;
	for (unsigned i = 0; i < 65536; i++) {
		unsigned char s[2] = {(unsigned char)(i >> 8), (unsigned char)i};
		bool want = (s[0] < 0x80 && s[1] < 0x80) ||
		            (s[0] >= 0xc2 && s[0] <= 0xdf && s[1] >= 0x80 && s[1] <= 0xbf);
		assert_int_equal(utf8_valid(s, 2), want);
		valid += want;
	}
	assert_int_equal(valid, 128 * 128 + 30 * 64);
	assert_int_equal(utf8_seq_len("", 0), 0);
	assert_int_equal(utf8_seq_len("ab", 2), 1);
}

static void test_sanitize(void **state)
{
	const char *cases[][2] = {
	    {"", ""},
	    {"plain", "plain"},
	    {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	    {"a\xff"
	     "b",
	     "a?b"},
	    {"\xc0\xaf", "??"},
	    {"\xed\xa0\x80", "???"},
	    {"\xf4\x90\x80\x80", "????"},
	    {"x\xe2\x82", "x??"},
	    {"\xe2\x82\xe2\x82\xac", "??\xe2\x82\xac"}, /* a cut sequence, then a whole one */
	    {"\xf0\x9f\x98"
	     "A",
	     "???A"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = strdup(cases[i][0]);
		utf8_sanitize(s);
		assert_string_equal(s, cases[i][1]);
		assert_true(utf8_valid(s, strlen(s)));
		free(s);
	}
	/* Every two-byte string (without NUL) comes out valid and, if it was valid, unchanged. */
	for (unsigned i = 0; i < 65536; i++) {
		char s[3] = {(char)(i >> 8), (char)i, 0};
		if (!s[0] || !s[1])
			continue;
		bool was = utf8_valid(s, 2);
		char before[3];
		memcpy(before, s, 3);
		utf8_sanitize(s);
		assert_int_equal(strlen(s), 2);
		assert_true(utf8_valid(s, 2));
		assert_int_equal(memcmp(before, s, 3) == 0, was);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_text),
	    cmocka_unit_test(test_invalid_text),
	    cmocka_unit_test(test_exhaustive),
	    cmocka_unit_test(test_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
