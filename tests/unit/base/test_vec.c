/* Tests for the vector: growth that keeps the elements, removal and insertion that keep
 * the order, removal while walking, sorting and search, and embedded vs allocated use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lambdad/vec.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct rec {
	int id;
	char name[13]; /* an odd element size: 20 bytes with padding */
};

static void check_ints(const struct vec *v, const int *want, size_t n)
{
	assert_int_equal(vec_len(v), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(VEC_AT(v, int, i), want[i]);
}

static void test_empty(void **state)
{
	vec_free(NULL);
	struct vec v;
	vec_init(&v, sizeof(int));
	assert_int_equal(vec_len(&v), 0);
	int x = 7;
	assert_false(vec_pop(&v, &x));
	assert_int_equal(x, 7);
	int n = 0;
	VEC_FOREACH(&v, int, p)
		n++;
	assert_int_equal(n, 0);
	vec_sort(&v, NULL); /* nothing to compare */
	vec_fini(&v);
	vec_fini(&v); /* twice is safe */
	assert_int_equal(vec_len(&v), 0);
}

/* Many pushes: every growth keeps what was there, and element pointers point into it. */
static void test_growth(void **state)
{
	enum { N = 10000 };
	struct vec *v = vec_new(sizeof(struct rec));
	for (int i = 0; i < N; i++) {
		struct rec r = {.id = i};
		snprintf(r.name, sizeof(r.name), "r%d", i);
		struct rec *p = vec_push(v, &r);
		assert_int_equal(p->id, i);
		assert_ptr_equal(p, vec_at(v, (size_t)i));
		assert_int_equal(vec_len(v), (size_t)i + 1);
		assert_true(v->cap >= v->len);
	}
	int i = 0;
	VEC_FOREACH(v, struct rec, r) {
		char want[13];
		snprintf(want, sizeof(want), "r%d", i);
		assert_int_equal(r->id, i);
		assert_string_equal(r->name, want);
		i++;
	}
	assert_int_equal(i, N);
	/* A push of NULL appends zeroes. */
	struct rec *z = vec_push(v, NULL);
	assert_int_equal(z->id, 0);
	assert_string_equal(z->name, "");
	vec_free(v);
}

static void test_reserve_keeps_pointers(void **state)
{
	struct vec v;
	vec_init(&v, sizeof(int));
	vec_reserve(&v, 100);
	assert_true(v.cap >= 100);
	int *first = vec_push(&v, (int[]){1});
	for (int i = 2; i <= 100; i++)
		vec_push(&v, &i);
	assert_ptr_equal(first, vec_at(&v, 0)); /* no move within the reservation */
	vec_reserve(&v, 10);                    /* never shrinks */
	assert_true(v.cap >= 100);
	vec_clear(&v);
	assert_int_equal(vec_len(&v), 0);
	assert_true(v.cap >= 100);
	vec_fini(&v);
}

static void test_insert_remove_pop(void **state)
{
	struct vec v;
	vec_init(&v, sizeof(int));
	for (int i = 0; i < 5; i++)
		vec_push(&v, &i); /* 0 1 2 3 4 */
	vec_insert_at(&v, 0, (int[]){10});
	vec_insert_at(&v, 3, (int[]){11});
	vec_insert_at(&v, vec_len(&v), (int[]){12});
	check_ints(&v, (int[]){10, 0, 1, 11, 2, 3, 4, 12}, 8);
	int out = -1;
	vec_remove_at(&v, 0, &out);
	assert_int_equal(out, 10);
	vec_remove_at(&v, 2, &out);
	assert_int_equal(out, 11);
	vec_remove_at(&v, vec_len(&v) - 1, NULL);
	check_ints(&v, (int[]){0, 1, 2, 3, 4}, 5);
	assert_true(vec_pop(&v, &out));
	assert_int_equal(out, 4);
	assert_true(vec_pop(&v, NULL));
	check_ints(&v, (int[]){0, 1, 2}, 3);
	VEC_AT(&v, int, 1) = 42;
	check_ints(&v, (int[]){0, 42, 2}, 3);
	while (vec_pop(&v, NULL))
		;
	assert_int_equal(vec_len(&v), 0);
	vec_push(&v, (int[]){9});
	check_ints(&v, (int[]){9}, 1);
	vec_fini(&v);
}

static bool is_odd_cb(void *elem, void *arg)
{
	int *freed = arg;
	if (*(int *)elem % 2 == 0)
		return false;
	(*freed)++;
	return true;
}

/* Removing while walking: vec_remove_if in one pass, or an index that counts down. */
static void test_remove_while_walking(void **state)
{
	struct vec v;
	vec_init(&v, sizeof(int));
	for (int i = 0; i < 1000; i++)
		vec_push(&v, &i);
	int freed = 0;
	assert_int_equal(vec_remove_if(&v, is_odd_cb, &freed), 500);
	assert_int_equal(freed, 500);
	assert_int_equal(vec_len(&v), 500);
	for (size_t i = 0; i < 500; i++)
		assert_int_equal(VEC_AT(&v, int, i), (int)(2 * i));
	freed = 0;
	assert_int_equal(vec_remove_if(&v, is_odd_cb, &freed), 0);
	/* Counting down, removing every multiple of 4. */
	for (size_t i = vec_len(&v); i-- > 0;)
		if (VEC_AT(&v, int, i) % 4 == 0)
			vec_remove_at(&v, i, NULL);
	assert_int_equal(vec_len(&v), 250);
	int k = 0;
	VEC_FOREACH(&v, int, p) {
		assert_int_equal(*p, 4 * k + 2);
		*p = -*p; /* changing elements through p is fine */
		k++;
	}
	assert_int_equal(VEC_AT(&v, int, 249), -998);
	vec_fini(&v);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_str_key(const void *elem, const void *key)
{
	return strcmp(*(char *const *)elem, key);
}

static void test_sort_and_search(void **state)
{
	struct vec v;
	vec_init(&v, sizeof(int));
	for (int i = 0; i < 500; i++) {
		int x = (i * 7919) % 500; /* a permutation */
		vec_push(&v, &x);
	}
	vec_sort(&v, cmp_int);
	for (size_t i = 0; i < 500; i++)
		assert_int_equal(VEC_AT(&v, int, i), (int)i);
	assert_int_equal(vec_lower_bound(&v, (int[]){-5}, cmp_int), 0);
	assert_int_equal(vec_lower_bound(&v, (int[]){250}, cmp_int), 250);
	assert_int_equal(vec_lower_bound(&v, (int[]){1000}, cmp_int), 500);
	vec_fini(&v);

	/* A vector of owned strings: the vector frees its storage, the caller the strings. */
	struct vec *s = vec_new(sizeof(char *));
	const char *words[] = {"pear", "apple", "fig", "banana", "cherry"};
	for (size_t i = 0; i < 5; i++) {
		char *w = xstrdup(words[i]);
		vec_push(s, &w);
	}
	vec_sort(s, cmp_str_ptr);
	assert_string_equal(VEC_AT(s, char *, 0), "apple");
	assert_string_equal(VEC_AT(s, char *, 4), "pear");
	assert_int_equal(vec_lower_bound(s, "banana", cmp_str_key), 1);
	assert_int_equal(vec_lower_bound(s, "c", cmp_str_key), 2);
	assert_int_equal(vec_lower_bound(s, "zzz", cmp_str_key), 5);
	VEC_FOREACH(s, char *, w)
		free(*w);
	vec_free(s);
}

/* Walking with the wrong element type, or past the end, is a broken invariant that
 * stops the process, not a read of the wrong bytes. */
static void test_misuse_aborts(void **state)
{
	for (int which = 0; which < 2; which++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr)) /* the report is expected */
				_exit(4);
			struct vec v;
			vec_init(&v, sizeof(int));
			vec_push(&v, (int[]){1});
			long sum = 0;
			if (which == 0) {
				VEC_FOREACH(&v, long, p)
					sum += *p;
			} else {
				sum = VEC_AT(&v, int, 1);
			}
			_exit((int)sum & 1 ? 3 : 0);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		assert_int_equal(WTERMSIG(st), SIGABRT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_reserve_keeps_pointers),
	    cmocka_unit_test(test_insert_remove_pop),
	    cmocka_unit_test(test_remove_while_walking),
	    cmocka_unit_test(test_sort_and_search),
	    cmocka_unit_test(test_misuse_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
