/* Tests for the registry table: the current functions kept in name order, looked up by
 * binary search, paged through with a marker, and the code references they hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

/* A configuration named name with code blob hex (64 chars, or "" for none). */
static struct fn_config *cfg(const char *name, const char *hex, uint64_t size)
{
	struct fn_config *c = fn_config_new();
	c->name = xstrdup(name);
	snprintf(c->code_hex, sizeof(c->code_hex), "%s", hex);
	c->code_size = size;
	return c;
}

/* A 64-char "hex" made of one repeated digit. */
static const char *hexof(char d)
{
	static char buf[4][65];
	static int i;
	char *h = buf[i++ % 4];
	memset(h, d, 64);
	h[64] = 0;
	return h;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts that the table holds exactly the names in want (sorted), in that order. */
static void check_order(const struct registry *r, char **want, size_t n)
{
	assert_int_equal(registry_count(r), n);
	for (size_t i = 0; i < n; i++) {
		struct fn_config *c = registry_at(r, i);
		assert_non_null(c);
		assert_string_equal(c->name, want[i]);
	}
	assert_null(registry_at(r, n));
	assert_null(registry_at(r, n + 1000));
}

static void test_empty(void **state)
{
	registry_free(NULL);
	struct registry *r = registry_new();
	assert_int_equal(registry_count(r), 0);
	assert_null(registry_get(r, "x"));
	assert_null(registry_get(r, ""));
	assert_null(registry_at(r, 0));
	assert_int_equal(registry_after(r, NULL), 0);
	assert_int_equal(registry_after(r, ""), 0);
	assert_int_equal(registry_after(r, "m"), 0);
	assert_false(registry_del(r, "x"));
	assert_false(registry_code_in_use(r, hexof('a')));
	assert_int_equal(registry_total_code_size(r), 0);
	registry_free(r);
}

/* Many names inserted in a scrambled order come out sorted (strcmp order, so upper
 * case before lower case), and each is found. Past the first growth of the array. */
static void test_insert_sorted_and_lookup(void **state)
{
	enum { N = 300 };
	char *names[N];
	for (int i = 0; i < N; i++) {
		/* A permutation of 0..N-1 (7919 is prime, coprime with N), mixed case. */
		int k = (i * 7919) % N;
		names[i] = xasprintf("%cfn-%03d", k % 3 == 0 ? 'F' : k % 3 == 1 ? 'f' : '_', k);
	}
	struct registry *r = registry_new();
	for (int i = 0; i < N; i++) {
		registry_put(r, cfg(names[i], "", 0));
		assert_int_equal(registry_count(r), (size_t)i + 1);
	}
	qsort(names, N, sizeof(names[0]), cmp_str);
	check_order(r, names, N);
	for (int i = 0; i < N; i++) {
		struct fn_config *c = registry_get(r, names[i]);
		assert_non_null(c);
		assert_string_equal(c->name, names[i]);
		assert_ptr_equal(c, registry_at(r, (size_t)i));
	}
	/* Near misses are not found. */
	assert_null(registry_get(r, "Ffn-00"));
	assert_null(registry_get(r, "Ffn-0000"));
	assert_null(registry_get(r, "ffn-000")); /* 000 was given the upper-case F */
	assert_null(registry_get(r, ""));
	assert_null(registry_get(r, "zzz"));
	assert_null(registry_get(r, "A"));
	for (int i = 0; i < N; i++)
		free(names[i]);
	registry_free(r);
}

/* Putting a name that is there replaces it and drops the table's reference to the old. */
static void test_put_replaces(void **state)
{
	struct registry *r = registry_new();
	registry_put(r, cfg("b", hexof('1'), 10));
	struct fn_config *old = cfg("a", hexof('2'), 20);
	registry_put(r, old);
	registry_put(r, cfg("c", hexof('3'), 30));
	fn_config_ref(old); /* keep it alive to watch its count */
	assert_int_equal(fn_config_refs(old), 2);

	struct fn_config *nu = cfg("a", hexof('4'), 40);
	registry_put(r, nu);
	assert_int_equal(registry_count(r), 3);
	assert_ptr_equal(registry_get(r, "a"), nu);
	assert_ptr_equal(registry_at(r, 0), nu);
	assert_int_equal(fn_config_refs(old), 1);
	assert_false(registry_code_in_use(r, hexof('2')));
	assert_true(registry_code_in_use(r, hexof('4')));
	assert_int_equal(registry_total_code_size(r), 10 + 30 + 40);
	fn_config_unref(old);

	/* Put the same object again (an update that kept it): still one entry. */
	fn_config_ref(nu);
	registry_put(r, nu);
	assert_int_equal(registry_count(r), 3);
	assert_int_equal(fn_config_refs(nu), 1);
	registry_free(r);
}

static void test_del(void **state)
{
	char *names[] = {"a", "b", "c", "d", "e"};
	struct registry *r = registry_new();
	for (int i = 4; i >= 0; i--)
		registry_put(r, cfg(names[i], "", 0));
	/* A reference held elsewhere survives the removal. */
	struct fn_config *c = fn_config_ref(registry_get(r, "c"));
	assert_true(registry_del(r, "c")); /* middle */
	assert_int_equal(fn_config_refs(c), 1);
	fn_config_unref(c);
	assert_false(registry_del(r, "c"));
	assert_null(registry_get(r, "c"));
	char *w1[] = {"a", "b", "d", "e"};
	check_order(r, w1, 4);
	assert_true(registry_del(r, "a")); /* first */
	assert_true(registry_del(r, "e")); /* last */
	char *w2[] = {"b", "d"};
	check_order(r, w2, 2);
	assert_false(registry_del(r, ""));
	assert_false(registry_del(r, "bb"));
	assert_true(registry_del(r, "b"));
	assert_true(registry_del(r, "d"));
	check_order(r, NULL, 0);
	/* And the table is usable again. */
	registry_put(r, cfg("z", "", 0));
	registry_put(r, cfg("y", "", 0));
	char *w3[] = {"y", "z"};
	check_order(r, w3, 2);
	registry_free(r);
}

static void test_after(void **state)
{
	char *names[] = {"alpha", "bravo", "charlie", "delta"};
	struct registry *r = registry_new();
	for (int i = 0; i < 4; i++)
		registry_put(r, cfg(names[i], "", 0));
	assert_int_equal(registry_after(r, NULL), 0);
	assert_int_equal(registry_after(r, ""), 0);
	assert_int_equal(registry_after(r, "alpha"), 1);
	assert_int_equal(registry_after(r, "bravo"), 2);
	assert_int_equal(registry_after(r, "delta"), 4); /* the end */
	/* A marker that is not a name (deleted since) resumes at the next name. */
	assert_int_equal(registry_after(r, "a"), 0);
	assert_int_equal(registry_after(r, "alpha0"), 1);
	assert_int_equal(registry_after(r, "c"), 2);
	assert_int_equal(registry_after(r, "zulu"), 4);
	assert_int_equal(registry_after(r, "A"), 0);
	registry_free(r);
}

/* ListFunctions paging: pages of k, each resuming after the last name of the one
 * before, see every function exactly once and in order, also when a function is
 * deleted or created between pages. */
static void test_pagination(void **state)
{
	enum { N = 53 };
	struct registry *r = registry_new();
	char *names[N];
	for (int i = 0; i < N; i++) {
		names[i] = xasprintf("fn%02d", (i * 17) % N);
		registry_put(r, cfg(names[i], "", 0));
	}
	qsort(names, N, sizeof(names[0]), cmp_str);
	for (size_t k = 1; k <= N + 1; k++) {
		char marker[FN_NAME_MAX + 1] = "";
		size_t seen = 0;
		for (;;) {
			size_t i = registry_after(r, marker);
			size_t got = 0;
			for (; got < k && i < registry_count(r); i++, got++) {
				struct fn_config *c = registry_at(r, i);
				assert_string_equal(c->name, names[seen]);
				seen++;
				snprintf(marker, sizeof(marker), "%s", c->name);
			}
			if (got < k || i == registry_count(r))
				break;
		}
		assert_int_equal(seen, N);
	}

	/* The marker's function is deleted between pages: the next page starts right
	 * after it anyway. */
	size_t i = registry_after(r, "fn09");
	assert_string_equal(registry_at(r, i)->name, "fn10");
	assert_true(registry_del(r, "fn09"));
	assert_int_equal(registry_after(r, "fn09"), i - 1);
	assert_string_equal(registry_at(r, registry_after(r, "fn09"))->name, "fn10");
	for (int j = 0; j < N; j++)
		free(names[j]);
	registry_free(r);
}

static void test_code_refs(void **state)
{
	struct registry *r = registry_new();
	registry_put(r, cfg("a", hexof('1'), 100));
	registry_put(r, cfg("b", hexof('1'), 100)); /* same code twice */
	registry_put(r, cfg("c", hexof('2'), 5000000000ULL));
	registry_put(r, cfg("d", "", 0)); /* no code yet */
	assert_true(registry_code_in_use(r, hexof('1')));
	assert_true(registry_code_in_use(r, hexof('2')));
	assert_false(registry_code_in_use(r, hexof('3')));
	/* A prefix of a blob name is not that blob. */
	char prefix[65];
	memcpy(prefix, hexof('1'), 63);
	prefix[63] = 0;
	assert_false(registry_code_in_use(r, prefix));
	assert_true(registry_total_code_size(r) == 100 + 100 + 5000000000ULL);
	assert_true(registry_del(r, "a"));
	assert_true(registry_code_in_use(r, hexof('1')));
	assert_true(registry_del(r, "b"));
	assert_false(registry_code_in_use(r, hexof('1')));
	assert_true(registry_total_code_size(r) == 5000000000ULL);
	registry_free(r);
}

/* Scaling settings: none for a new function, kept across a new configuration of it,
 * dropped with it; the sum of reservations counts only reservations. */
static void test_scaling(void **state)
{
	struct registry *r = registry_new();
	registry_put(r, cfg("a", "", 0));
	registry_put(r, cfg("b", "", 0));
	registry_put(r, cfg("c", "", 0));
	struct fn_scaling sc = registry_get_scaling(r, "a");
	assert_true(fn_scaling_is_default(&sc));
	assert_int_equal(sc.reserved, -1);
	assert_int_equal(sc.keep_alive_ms, -1);
	assert_int_equal(registry_reserved_sum(r), 0);

	struct fn_scaling a = {
	    .reserved = 40, .provisioned = 3, .provisioned_modified_ms = 1234, .keep_alive_ms = -1};
	struct fn_scaling b = {.reserved = 0, .provisioned = 0, .keep_alive_ms = 0};
	struct fn_scaling c = {.reserved = -1, .provisioned = 0, .keep_alive_ms = 60000};
	assert_true(registry_set_scaling(r, "a", &a));
	assert_true(registry_set_scaling(r, "b", &b));
	assert_true(registry_set_scaling(r, "c", &c));
	assert_false(registry_set_scaling(r, "nope", &a)); /* no function, nothing kept */
	assert_true(fn_scaling_is_default((struct fn_scaling[]){registry_get_scaling(r, "nope")}));
	assert_int_equal(registry_reserved_sum(r), 40);
	sc = registry_get_scaling(r, "a");
	assert_int_equal(sc.reserved, 40);
	assert_int_equal(sc.provisioned, 3);
	assert_int_equal(sc.provisioned_modified_ms, 1234);
	assert_false(fn_scaling_is_default(&b)); /* reserved 0 is a reservation */
	assert_false(fn_scaling_is_default(&c));

	/* A new configuration of a keeps its settings; inserting names around it moves
	 * the entries, settings with them. */
	registry_put(r, cfg("a", hexof('9'), 1));
	registry_put(r, cfg("0first", "", 0));
	registry_put(r, cfg("bb", "", 0));
	assert_int_equal(registry_get_scaling(r, "a").reserved, 40);
	assert_int_equal(registry_get_scaling(r, "b").keep_alive_ms, 0);
	assert_int_equal(registry_get_scaling(r, "c").keep_alive_ms, 60000);
	assert_true(fn_scaling_is_default((struct fn_scaling[]){registry_get_scaling(r, "bb")}));

	/* Deleting drops them: a function created again under the name starts clean. */
	assert_true(registry_del(r, "a"));
	assert_int_equal(registry_reserved_sum(r), 0);
	registry_put(r, cfg("a", "", 0));
	assert_true(fn_scaling_is_default((struct fn_scaling[]){registry_get_scaling(r, "a")}));
	assert_int_equal(registry_get_scaling(r, "c").keep_alive_ms, 60000);
	b.reserved = 7;
	registry_set_scaling(r, "b", &b);
	c.reserved = 5;
	registry_set_scaling(r, "c", &c);
	assert_int_equal(registry_reserved_sum(r), 12);
	registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),        cmocka_unit_test(test_insert_sorted_and_lookup),
	    cmocka_unit_test(test_put_replaces), cmocka_unit_test(test_del),
	    cmocka_unit_test(test_after),        cmocka_unit_test(test_pagination),
	    cmocka_unit_test(test_code_refs),    cmocka_unit_test(test_scaling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
