/* Tests for the map: many keys through growth, keys that collide in the index, removal
 * from the middle of a probe chain, the order rules (insertion order, MAP_SORTED, removal
 * while walking), ownership of keys and values, and a long random run against a model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lambdad/map.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

/* Values are tagged integers so that a wrong value shows which key it belonged to. */
#define VAL(i) ((void *)(uintptr_t)(0x1000 + (i)))

static void test_empty(void **state)
{
	map_free(NULL, NULL);
	struct map m;
	map_init(&m, 0);
	assert_int_equal(map_count(&m), 0);
	assert_null(map_get(&m, "x"));
	assert_null(map_get(&m, ""));
	assert_false(map_contains(&m, "x"));
	assert_int_equal(map_index(&m, "x"), 0);
	assert_false(map_del(&m, "x", NULL));
	const char *k;
	void *v;
	int n = 0;
	MAP_FOREACH(&m, k, v) {
		(void)k, (void)v;
		n++;
	}
	assert_int_equal(n, 0);
	map_fini(&m, NULL);
	map_fini(&m, NULL); /* twice is safe */

	struct map *s = map_new(MAP_SORTED);
	assert_int_equal(map_lower_bound(s, "a"), 0);
	assert_int_equal(map_upper_bound(s, ""), 0);
	map_free(s, free);
}

/* Ten thousand keys: each found after every growth, in insertion order, and removed. */
static void test_many_keys(void **state)
{
	enum { N = 10000 };
	struct map *m = map_new(0);
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "fn-%d", i);
		assert_false(map_put(m, key, VAL(i), NULL));
		assert_int_equal(map_count(m), (size_t)i + 1);
		assert_ptr_equal(map_get(m, key), VAL(i));
	}
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "fn-%d", i);
		assert_ptr_equal(map_get(m, key), VAL(i));
		assert_int_equal(map_index(m, key), (size_t)i);
		assert_string_equal(map_key_at(m, (size_t)i), key);
		assert_ptr_equal(map_value_at(m, (size_t)i), VAL(i));
	}
	assert_null(map_get(m, "fn-"));
	assert_null(map_get(m, "fn-10000"));
	assert_null(map_get(m, "fn-01"));
	/* Removing every other key leaves the rest, in order. */
	for (int i = 0; i < N; i += 2) {
		snprintf(key, sizeof(key), "fn-%d", i);
		void *v = NULL;
		assert_true(map_del(m, key, &v));
		assert_ptr_equal(v, VAL(i));
		assert_false(map_del(m, key, NULL));
	}
	assert_int_equal(map_count(m), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "fn-%d", i);
		assert_int_equal(map_contains(m, key), i % 2 == 1);
	}
	const char *k;
	void *v;
	int i = 1;
	MAP_FOREACH(m, k, v) {
		snprintf(key, sizeof(key), "fn-%d", i);
		assert_string_equal(k, key);
		assert_ptr_equal(v, VAL(i));
		i += 2;
	}
	assert_int_equal(i, N + 1);
	map_free(m, NULL);
}

/* n keys whose hashes have the same top `bits` bits: they collide in any index of up to
 * 2^bits slots and form one probe chain. Found by trying names in order (FNV is fixed). */
static char **colliding_keys(size_t n, unsigned bits)
{
	char **keys = xcalloc(n, sizeof(*keys));
	char buf[32];
	size_t want = hash_index(hash_str("c-0"), bits), got = 0;
	for (unsigned i = 0; got < n; i++) {
		snprintf(buf, sizeof(buf), "c-%u", i);
		if (hash_index(hash_str(buf), bits) == want)
			keys[got++] = xstrdup(buf);
	}
	return keys;
}

static void test_collisions(void **state)
{
	enum { N = 200 }; /* an index of 512 slots, at most half full */
	char **keys = colliding_keys(N, 10);
	struct map m;
	map_init(&m, 0);
	for (int i = 0; i < N; i++)
		map_put(&m, keys[i], VAL(i), NULL);
	assert_true(m.bits <= 10); /* they did share one chain */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(map_get(&m, keys[i]), VAL(i));
	/* Removing from the front, the middle and the end of the chain keeps the others
	 * reachable (the index holds no tombstones that could cut the chain). */
	int gone[] = {0, 1, 100, 57, N - 1, 150};
	for (size_t g = 0; g < sizeof(gone) / sizeof(gone[0]); g++)
		assert_true(map_del(&m, keys[gone[g]], NULL));
	for (int i = 0; i < N; i++) {
		bool removed = false;
		for (size_t g = 0; g < sizeof(gone) / sizeof(gone[0]); g++)
			removed |= gone[g] == i;
		assert_ptr_equal(map_get(&m, keys[i]), removed ? NULL : VAL(i));
	}
	/* Put back: appended at the end, found again. */
	map_put(&m, keys[100], VAL(100), NULL);
	assert_int_equal(map_index(&m, keys[100]), map_count(&m) - 1);
	assert_ptr_equal(map_get(&m, keys[100]), VAL(100));
	map_fini(&m, NULL);
	for (int i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}

/* Putting a key that is there replaces the value in place and hands back the old one. */
static void test_replace(void **state)
{
	struct map m;
	map_init(&m, 0);
	map_put(&m, "a", VAL(1), NULL);
	map_put(&m, "b", VAL(2), NULL);
	map_put(&m, "c", VAL(3), NULL);
	void *old = NULL;
	assert_true(map_put(&m, "b", VAL(20), &old));
	assert_ptr_equal(old, VAL(2));
	assert_true(map_put(&m, "b", VAL(21), NULL));
	assert_int_equal(map_count(&m), 3);
	assert_int_equal(map_index(&m, "b"), 1);
	assert_ptr_equal(map_get(&m, "b"), VAL(21));

	/* Replacing values while walking is allowed. */
	const char *k;
	void *v;
	int n = 0;
	MAP_FOREACH(&m, k, v) {
		assert_ptr_not_equal(v, VAL(100 + n));
		assert_true(map_put(&m, k, VAL(100 + n), NULL));
		n++;
	}
	assert_int_equal(n, 3);
	assert_ptr_equal(map_get(&m, "a"), VAL(100));
	assert_ptr_equal(map_get(&m, "c"), VAL(102));

	/* NULL values are values: map_contains tells them from absence. */
	assert_false(map_put(&m, "null", NULL, NULL));
	assert_null(map_get(&m, "null"));
	assert_true(map_contains(&m, "null"));
	assert_false(map_contains(&m, "nul"));
	/* The empty string is a key like any other. */
	assert_false(map_put(&m, "", VAL(9), NULL));
	assert_ptr_equal(map_get(&m, ""), VAL(9));
	assert_int_equal(map_count(&m), 5);
	map_fini(&m, NULL);
}

/* The map keeps its own copy of each key. */
static void test_key_is_copied(void **state)
{
	struct map m;
	map_init(&m, 0);
	char buf[16] = "first";
	map_put(&m, buf, VAL(1), NULL);
	strcpy(buf, "other");
	assert_ptr_equal(map_get(&m, "first"), VAL(1));
	assert_null(map_get(&m, "other"));
	assert_string_equal(map_key_at(&m, 0), "first");
	map_fini(&m, NULL);
}

/* map_fini and map_free hand every remaining value to value_free, once. */
static int freed;
static void count_free(void *p)
{
	freed++;
	free(p);
}

static void test_values_freed(void **state)
{
	struct map *m = map_new(MAP_SORTED);
	for (int i = 0; i < 50; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		map_put(m, key, xstrdup(key), NULL);
	}
	void *v;
	assert_true(map_del(m, "k7", &v)); /* removed: the caller's again */
	assert_string_equal(v, "k7");
	free(v);
	assert_true(map_put(m, "k8", xstrdup("new"), &v));
	free(v);
	freed = 0;
	map_free(m, count_free);
	assert_int_equal(freed, 49);
}

static bool drop_multiple_of_3_cb(const char *key, void *value, void *arg)
{
	int *calls = arg;
	(*calls)++;
	int i = atoi(key + 1);
	if (i % 3 != 0)
		return false;
	free(value);
	return true;
}

/* Removing while walking: map_remove_if, or an index counting down with map_del_at. */
static void test_remove_while_walking(void **state)
{
	struct map m;
	map_init(&m, 0);
	enum { N = 300 };
	for (int i = 0; i < N; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		map_put(&m, key, xstrdup(key), NULL);
	}
	int calls = 0;
	assert_int_equal(map_remove_if(&m, drop_multiple_of_3_cb, &calls), N / 3);
	assert_int_equal(calls, N);
	assert_int_equal(map_count(&m), N - N / 3);
	for (int i = 0; i < N; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		char *v = map_get(&m, key);
		if (i % 3 == 0) {
			assert_null(v);
		} else {
			assert_non_null(v);
			assert_string_equal(v, key);
		}
	}
	/* The survivors keep their insertion order. */
	int prev = -1;
	for (size_t i = 0; i < map_count(&m); i++) {
		int cur = atoi(map_key_at(&m, i) + 1);
		assert_true(cur > prev);
		prev = cur;
	}
	/* Counting down, removing the even ones. */
	for (size_t i = map_count(&m); i-- > 0;) {
		if (atoi(map_key_at(&m, i) + 1) % 2 == 0) {
			void *v;
			map_del_at(&m, i, &v);
			free(v);
		}
	}
	assert_int_equal(map_count(&m), N / 3); /* neither multiples of 3 nor even: 1 and 5 mod 6 */
	for (int i = 0; i < N; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(map_contains(&m, key), i % 6 == 1 || i % 6 == 5);
	}
	calls = 0;
	assert_int_equal(map_remove_if(&m, drop_multiple_of_3_cb, &calls), 0);
	map_fini(&m, free);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* MAP_SORTED: entries in strcmp order whatever the order of insertion, and the bounds
 * that paging uses, also for markers that are not keys. */
static void test_sorted(void **state)
{
	enum { N = 500 };
	struct map *m = map_new(MAP_SORTED);
	char *names[N];
	for (int i = 0; i < N; i++) {
		int k = (i * 7919) % N;
		names[i] = xasprintf("%cfn-%03d", k % 3 == 0 ? 'F' : k % 3 == 1 ? 'f' : '_', k);
		assert_false(map_put(m, names[i], VAL(k), NULL));
	}
	qsort(names, N, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < N; i++) {
		assert_string_equal(map_key_at(m, i), names[i]);
		assert_int_equal(map_index(m, names[i]), i);
		assert_int_equal(map_lower_bound(m, names[i]), i);
		assert_int_equal(map_upper_bound(m, names[i]), i + 1);
	}
	assert_int_equal(map_lower_bound(m, ""), 0);
	assert_int_equal(map_upper_bound(m, ""), 0);
	assert_int_equal(map_lower_bound(m, "zzz"), N);
	assert_int_equal(map_upper_bound(m, "A"), 0);
	/* A marker between two keys: both bounds give the later one. */
	assert_int_equal(map_lower_bound(m, "Ffn-000a"), 1);
	assert_int_equal(map_upper_bound(m, "Ffn-000a"), 1);

	/* Removing keeps the order and the index. */
	for (int i = 0; i < N; i += 3)
		assert_true(map_del(m, names[i], NULL));
	size_t j = 0;
	const char *k;
	void *v;
	MAP_FOREACH(m, k, v) {
		while (j % 3 == 0)
			j++;
		assert_string_equal(k, names[j]);
		assert_ptr_equal(map_get(m, names[j]), v);
		j++;
	}
	/* A removed key as marker: paging resumes at the next key. */
	assert_int_equal(map_upper_bound(m, names[3]), map_index(m, names[4]));
	/* Putting them back puts them back in place. */
	for (int i = N - 1; i >= 0; i -= 3)
		map_put(m, names[i - i % 3], VAL(0), NULL);
	for (size_t i = 0; i < N; i++)
		assert_string_equal(map_key_at(m, i), names[i]);
	for (int i = 0; i < N; i++)
		free(names[i]);
	map_free(m, NULL);
}

/* A long deterministic random run of puts, replaces and removals, checked after every
 * step against a plain array model (the order too, for both kinds of map). */
static void check_model(const struct map *m, char **mkeys, uintptr_t *mvals, size_t mn)
{
	assert_int_equal(map_count(m), mn);
	for (size_t i = 0; i < mn; i++) {
		assert_string_equal(map_key_at(m, i), mkeys[i]);
		assert_ptr_equal(map_value_at(m, i), (void *)mvals[i]);
		assert_ptr_equal(map_get(m, mkeys[i]), (void *)mvals[i]);
	}
}

static void random_run(unsigned flags)
{
	enum { KEYS = 700, STEPS = 20000 };
	struct map m;
	map_init(&m, flags);
	char *mkeys[KEYS];
	uintptr_t mvals[KEYS];
	size_t mn = 0;
	uint64_t seed = 88172645463325252ull;
	for (int step = 0; step < STEPS; step++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; /* xorshift64 */
		char key[16];
		snprintf(key, sizeof(key), "k%u", (unsigned)(seed % KEYS));
		uintptr_t val = (uintptr_t)(seed >> 20) | 1;
		size_t at = mn;
		for (size_t i = 0; i < mn; i++)
			if (strcmp(mkeys[i], key) == 0)
				at = i;
		if ((seed >> 10) % 3 != 0) { /* put: two thirds */
			void *old = NULL;
			bool was = map_put(&m, key, (void *)val, &old);
			assert_int_equal(was, at < mn);
			if (at < mn) {
				assert_ptr_equal(old, (void *)mvals[at]);
				mvals[at] = val;
			} else {
				size_t pos = mn;
				if (flags & MAP_SORTED)
					for (pos = 0; pos < mn && strcmp(mkeys[pos], key) < 0; pos++)
						;
				memmove(&mkeys[pos + 1], &mkeys[pos], (mn - pos) * sizeof(*mkeys));
				memmove(&mvals[pos + 1], &mvals[pos], (mn - pos) * sizeof(*mvals));
				mkeys[pos] = xstrdup(key);
				mvals[pos] = val;
				mn++;
			}
		} else {
			void *old = NULL;
			assert_int_equal(map_del(&m, key, &old), at < mn);
			if (at < mn) {
				assert_ptr_equal(old, (void *)mvals[at]);
				free(mkeys[at]);
				memmove(&mkeys[at], &mkeys[at + 1], (mn - at - 1) * sizeof(*mkeys));
				memmove(&mvals[at], &mvals[at + 1], (mn - at - 1) * sizeof(*mvals));
				mn--;
			}
		}
		if (step % 97 == 0 || step == STEPS - 1)
			check_model(&m, mkeys, mvals, mn);
	}
	assert_true(mn > KEYS / 3); /* the run did fill the map */
	for (size_t i = 0; i < mn; i++)
		free(mkeys[i]);
	map_fini(&m, NULL);
}

static void test_random_against_model(void **state)
{
	random_run(0);
	random_run(MAP_SORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_collisions),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_key_is_copied),
	    cmocka_unit_test(test_values_freed),
	    cmocka_unit_test(test_remove_while_walking),
	    cmocka_unit_test(test_sorted),
	    cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
