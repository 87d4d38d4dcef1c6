/* logs: function log lines, rotation at the cap, and the per-invocation tail. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "logs/logs.h"

static long file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_lines_and_rotation(void **state)
{
	char dir[] = "/tmp/lambdad-test-logs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	logs_file_max_bytes = 1000;
	struct err e = {0};
	struct logs_file *l = logs_file_new(dir, "f", &e);
	assert_non_null(l);
	char text[40];
	memset(text, 'x', sizeof(text));
	for (int i = 0; i < 200; i++)
		logs_file_line(l, "stream", text, sizeof(text));
	logs_file_free(l);
	autofree char *cur = xasprintf("%s/f.log", dir);
	autofree char *old = xasprintf("%s/f.log.1", dir);
	long a = file_size(cur), b = file_size(old);
	/* each line is 24 (time) + 1 + 6 + 1 + 40 + 1 = 73 bytes */
	assert_true(a > 0 && a <= 1000 + 73);
	assert_true(b >= 1000 && b <= 1000 + 73);
	FILE *f = fopen(cur, "r");
	char line[256];
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_non_null(strstr(line, " stream xxxxxxxx"));
	assert_int_equal(line[strlen(line) - 1], '\n');
	/* Reopening continues the count from the file's size. */
	l = logs_file_new(dir, "f", &e);
	for (int i = 0; i < 20; i++)
		logs_file_line(l, "s", text, sizeof(text));
	logs_file_free(l);
	assert_true(file_size(cur) <= 1000 + 73);
	unlink(cur);
	unlink(old);
	rmdir(dir);
	logs_file_max_bytes = 64ull << 20;
}

static void test_tail_keeps_last_4k(void **state)
{
	struct logs_tail t;
	logs_tail_init(&t);
	char chunk[1000];
	for (int i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		logs_tail_add(&t, chunk, sizeof(chunk));
	}
	size_t n;
	const char *p = logs_tail_get(&t, &n);
	assert_int_equal(n, LOGS_TAIL_BYTES);
	assert_int_equal(p[n - 1], 'j');
	assert_int_equal(p[0], 'a' + 5 + (int)((5000 - LOGS_TAIL_BYTES) / 1000)); /* 'f'+0.9k -> 'f' */
	logs_tail_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_rotation),
	    cmocka_unit_test(test_tail_keeps_last_4k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
