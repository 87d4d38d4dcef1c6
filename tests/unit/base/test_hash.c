/* Tests for the hash: FNV-1a 64 as its specification gives it, the same for a string and
 * its bytes, and table indices that spread names FNV alone would bunch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "base/hash.h"

/* Test vectors of the FNV reference code (draft-eastlake-fnv, fnv64a test suite). */
static void test_known_values(void **state)
{
	assert_true(hash_bytes("", 0) == 0xcbf29ce484222325ull);
	assert_true(hash_str("") == 0xcbf29ce484222325ull);
	assert_true(hash_str("a") == 0xaf63dc4c8601ec8cull);
	assert_true(hash_str("foobar") == 0x85944171f73967e8ull);
	assert_true(hash_bytes("foobar", 6) == 0x85944171f73967e8ull);
}

static void test_bytes_and_str_agree(void **state)
{
	const char *s[] = {"x", "fn-1", "my-function", "arn:aws:lambda:us-east-1:123456789012:function:f"};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		assert_true(hash_str(s[i]) == hash_bytes(s[i], strlen(s[i])));
	/* Bytes past a NUL count for hash_bytes. */
	assert_true(hash_bytes("a\0b", 3) != hash_bytes("a", 1));
	/* Non-ASCII bytes are hashed as unsigned. */
	assert_true(hash_str("\xff") == hash_bytes("\xff", 1));
	assert_true(hash_str("\xff") != hash_str("\x7f"));
}

/* How many of 16 slots the 16 names "fn-" + (c | low) for c = 0, 16, ..., 240 (step 16)
 * or "fn-" + (0x30 + i) for i = 0..15 (step 1) fill. */
static unsigned slots_used(bool high_nibble, size_t (*index)(uint64_t))
{
	unsigned used = 0;
	for (int i = 0; i < 16; i++) {
		char name[] = {'f', 'n', '-', (char)(high_nibble ? (i << 4) | 1 : 0x30 + i), 0};
		used |= 1u << index(hash_str(name));
	}
	return (unsigned)__builtin_popcount(used);
}

static size_t raw_low_bits(uint64_t h)
{
	return (size_t)(h & 15);
}
static size_t raw_top_bits(uint64_t h)
{
	return (size_t)(h >> 60);
}
static size_t table_index(uint64_t h)
{
	return hash_index(h, 4);
}
static size_t table_bucket(uint64_t h)
{
	return hash_bucket(h, 16);
}

/* Raw FNV-1a puts names that differ in the last byte's high bits in one slot by its low
 * bits, and those that differ in its low bits in few slots by its top bits. The table
 * indices, mixed, spread both kinds (16 balls in 16 bins fill about 10). */
static void test_index_spreads_names(void **state)
{
	assert_int_equal(slots_used(true, raw_low_bits), 1);
	assert_true(slots_used(false, raw_top_bits) <= 2);
	for (int hi = 0; hi < 2; hi++) {
		assert_true(slots_used(hi, table_index) >= 7);
		assert_true(slots_used(hi, table_bucket) >= 7);
	}
	for (unsigned bits = 1; bits < 32; bits++)
		assert_true(hash_index(hash_str("x"), bits) < ((size_t)1 << bits));
	for (size_t n = 1; n < 50; n++)
		assert_true(hash_bucket(hash_str("abc"), n) < n);
	/* The mix is a bijection that keeps 0 where it is. */
	assert_true(hash_mix(0) == 0);
	assert_true(hash_mix(1) != hash_mix(2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_values),
	    cmocka_unit_test(test_bytes_and_str_agree),
	    cmocka_unit_test(test_index_spreads_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
