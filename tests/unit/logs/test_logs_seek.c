/* logs_seek: the offsets of records by time and by count in a function's log file,
 * multi-line records and records across read blocks included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "logs/logs_seek.h"

#define T0 1764842400000LL /* 2025-12-04T10:00:00.000Z */

struct file {
	int fd;
	uint64_t size;
	uint64_t *starts; /* offset of each record */
	size_t n;
};

/* Writes n records, record i at T0 + i*step_ms, with extra continuation lines on every
 * third one and a body of body_len bytes. */
static struct file make_file(size_t n, int64_t step_ms, size_t body_len)
{
	char path[] = "/tmp/lambdad-test-seek.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	struct file f = {.fd = fd, .starts = xcalloc(n + 1, sizeof(uint64_t)), .n = n};
	FILE *w = fdopen(dup(fd), "w");
	autofree char *body = xmalloc(body_len + 1);
	memset(body, 'b', body_len);
	body[body_len] = '\0';
	for (size_t i = 0; i < n; i++) {
		char ts[32];
		clock_fmt_iso(T0 + (int64_t)i * step_ms, ts);
		f.starts[i] = f.size;
		int k = fprintf(w, "%s stream rec-%zu %s\n", ts, i, body);
		f.size += (uint64_t)k;
		if (i % 3 == 1) {
			/* a record's later lines, one of them looking almost like a time */
			k = fprintf(w, "  continued %zu\n2025-12-04 not a stamp\n", i);
			f.size += (uint64_t)k;
		}
	}
	fclose(w);
	return f;
}

static void free_file(struct file *f)
{
	close(f->fd);
	free(f->starts);
}

static void test_record_time(void **state)
{
	int64_t ms;
	assert_true(logs_record_time("2025-12-04T10:00:00.000Z x", 26, &ms));
	assert_int_equal(ms, T0);
	assert_true(logs_record_time("1970-01-01T00:00:01.002Z ", 25, &ms));
	assert_int_equal(ms, 1002);
	assert_false(logs_record_time("2025-12-04T10:00:00.000Z", 24, &ms)); /* no blank */
	assert_false(logs_record_time("2025-12-04 10:00:00.000Z x", 26, &ms));
	assert_false(logs_record_time("2025-13-04T10:00:00.000Z x", 26, &ms));
	assert_false(logs_record_time("  continued", 11, &ms));
}

static void check_since(struct file *f, int64_t step)
{
	struct err e = {0};
	uint64_t off;
	for (size_t i = 0; i < f->n; i++) {
		/* exactly at record i's time, and just after the one before */
		assert_int_equal(logs_seek_since(f->fd, f->size, T0 + (int64_t)i * step, &off, &e), 0);
		assert_int_equal(off, f->starts[i]);
		if (step > 1) {
			assert_int_equal(
			    logs_seek_since(f->fd, f->size, T0 + (int64_t)i * step - 1, &off, &e), 0);
			assert_int_equal(off, f->starts[i]);
		}
	}
	assert_int_equal(logs_seek_since(f->fd, f->size, 0, &off, &e), 0);
	assert_int_equal(off, 0);
	assert_int_equal(logs_seek_since(f->fd, f->size, T0 + (int64_t)f->n * step, &off, &e), 0);
	assert_int_equal(off, f->size);
}

static void check_last(struct file *f)
{
	struct err e = {0};
	uint64_t off;
	assert_int_equal(logs_seek_last(f->fd, f->size, 0, &off, &e), 0);
	assert_int_equal(off, f->size);
	for (size_t k = 1; k <= f->n; k++) {
		assert_int_equal(logs_seek_last(f->fd, f->size, k, &off, &e), 0);
		assert_int_equal(off, f->starts[f->n - k]);
	}
	assert_int_equal(logs_seek_last(f->fd, f->size, f->n + 5, &off, &e), 0);
	assert_int_equal(off, 0);
}

static void test_small_records(void **state)
{
	struct file f = make_file(300, 7, 10);
	check_since(&f, 7);
	check_last(&f);
	free_file(&f);
}

/* Records longer than a read block, and times shared by several records. */
static void test_long_records(void **state)
{
	struct file f = make_file(40, 1000, 70000);
	check_since(&f, 1000);
	check_last(&f);
	free_file(&f);
	struct file g = make_file(50, 0, 3000); /* all at T0: since T0 is the first */
	struct err e = {0};
	uint64_t off;
	assert_int_equal(logs_seek_since(g.fd, g.size, T0, &off, &e), 0);
	assert_int_equal(off, 0);
	assert_int_equal(logs_seek_since(g.fd, g.size, T0 + 1, &off, &e), 0);
	assert_int_equal(off, g.size);
	check_last(&g);
	free_file(&g);
}

static void test_empty(void **state)
{
	struct file f = make_file(0, 1, 1);
	struct err e = {0};
	uint64_t off = 99;
	assert_int_equal(logs_seek_since(f.fd, 0, T0, &off, &e), 0);
	assert_int_equal(off, 0);
	assert_int_equal(logs_seek_last(f.fd, 0, 10, &off, &e), 0);
	assert_int_equal(off, 0);
	free_file(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_time),
	    cmocka_unit_test(test_small_records),
	    cmocka_unit_test(test_long_records),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
