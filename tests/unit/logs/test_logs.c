/* logs: function log lines, rotation at the cap, the per-invocation tail, records of several
 * lines in the file, and the splitter: lines and AWS's telemetry frames. */
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

/* A record of several lines goes on after tabs: every first line starts with the time. */
static void test_multiline_record(void **state)
{
	char dir[] = "/tmp/lambdad-test-logs.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct err e = {0};
	struct logs_file *l = logs_file_new(dir, "m", &e);
	assert_non_null(l);
	const char rec[] = "[ERROR] boom\nTraceback:\n  File x";
	logs_file_record(l, 1767225600000LL, "s", rec, strlen(rec));
	logs_file_line(l, "s", "after", 5);
	logs_file_free(l);
	autofree char *path = xasprintf("%s/m.log", dir);
	FILE *f = fopen(path, "r");
	char buf[512];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	assert_non_null(strstr(buf, "2026-01-01T00:00:00.000Z s [ERROR] boom\n\tTraceback:\n\t  File x\n"));
	assert_non_null(strstr(buf, " s after\n"));
	unlink(path);
	rmdir(dir);
}

/* What the splitter gave: "<ts>|<text>" per record, joined by ';'. */
static char got[8192];
static void collect(void *arg, int64_t ts_ms, const char *text, size_t len)
{
	size_t at = strlen(got);
	at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%lld|", at ? ";" : "", (long long)ts_ms);
	for (size_t i = 0; i < len && at + 1 < sizeof(got); i++)
		got[at++] = text[i] ? text[i] : '@'; /* NULs shown as '@' */
	got[at] = 0;
}

#define NOW_MS 1767225600000LL

/* A frame as our runtimes (and AWS's) write it. */
static size_t frame(unsigned char *out, uint32_t type, const char *msg, int64_t ts_ms)
{
	uint32_t len = (uint32_t)strlen(msg);
	uint64_t us = (uint64_t)ts_ms * 1000;
	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(type >> (24 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[4 + i] = (unsigned char)(len >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		out[8 + i] = (unsigned char)(us >> (56 - 8 * i));
	memcpy(out + 16, msg, len);
	return 16 + len;
}

static void test_split(void **state)
{
	struct logs_split s;
	logs_split_init(&s);
	unsigned char buf[4096];
	size_t n = 0;
	n += (size_t)sprintf((char *)buf, "plain one\nplain two\npart");
	n += frame(buf + n, 0xa55a0003, "[ERROR] boom\nTraceback:\n  File x\n", NOW_MS - 5);
	n += (size_t)sprintf((char *)buf + n, "ial\n");
	n += frame(buf + n, 0xa55a0017, "level bits\n", NOW_MS);
	/* Fed a byte at a time: frames and lines cut anywhere by the reads. */
	got[0] = 0;
	for (size_t i = 0; i < n; i++)
		logs_split_feed(&s, (const char *)buf + i, 1, NOW_MS, collect, NULL);
	assert_string_equal(got, "0|plain one;0|plain two;1767225599995|[ERROR] boom\nTraceback:\n  File x;"
	                         "0|partial;1767225600000|level bits");
	/* The same bytes in one read. */
	got[0] = 0;
	logs_split_feed(&s, (const char *)buf, n, NOW_MS, collect, NULL);
	assert_string_equal(got, "0|plain one;0|plain two;1767225599995|[ERROR] boom\nTraceback:\n  File x;"
	                         "0|partial;1767225600000|level bits");
	/* Bytes that only look like a header are text: another type, a timestamp a day off. */
	got[0] = 0;
	n = frame(buf, 0xa55a0103, "x", NOW_MS);
	buf[n++] = '\n';
	logs_split_feed(&s, (const char *)buf, n, NOW_MS, collect, NULL);
	assert_int_equal(strlen(got), 2 + 17); /* "0|" and the 17 bytes as one line */
	got[0] = 0;
	n = frame(buf, 0xa55a0003, "late", NOW_MS - 2 * 86400000LL);
	buf[n++] = '\n';
	logs_split_feed(&s, (const char *)buf, n, NOW_MS, collect, NULL);
	assert_non_null(strstr(got, "late"));
	assert_int_equal(got[0], '0');
	/* A lone 0xa5 in text, and a header cut short by the end of a line. */
	got[0] = 0;
	logs_split_feed(&s,
	                "a\xa5"
	                "b\n\xa5\x5a\n",
	                7, NOW_MS, collect, NULL);
	assert_string_equal(got, "0|a\xa5"
	                         "b;0|\xa5\x5a");
	/* An unterminated line ends at the flush; a frame in progress does not. */
	got[0] = 0;
	logs_split_feed(&s, "tail", 4, NOW_MS, collect, NULL);
	n = frame(buf, 0xa55a0003, "framed", NOW_MS);
	logs_split_feed(&s, (const char *)buf, 10, NOW_MS, collect, NULL);
	logs_split_flush(&s, collect, NULL);
	assert_string_equal(got, "0|tail");
	logs_split_feed(&s, (const char *)buf + 10, n - 10, NOW_MS, collect, NULL);
	assert_string_equal(got, "0|tail;1767225600000|framed");
	logs_split_fini(&s);
}

static size_t big_lens[4];
static int big_count;
static void count_cb(void *arg, int64_t ts_ms, const char *text, size_t len)
{
	if (big_count < 4)
		big_lens[big_count] = len;
	big_count++;
}

/* A frame past LOGS_EVENT_MAX is cut there (CloudWatch keeps 256 KB of an event), and
 * what follows it is read as usual. */
static void test_split_big_frame(void **state)
{
	struct logs_split s;
	logs_split_init(&s);
	size_t len = LOGS_EVENT_MAX + 1000;
	char *msg = xmalloc(len + 1);
	memset(msg, 'z', len);
	msg[len] = 0;
	unsigned char *buf = xmalloc(len + 64);
	size_t n = frame(buf, 0xa55a0003, msg, NOW_MS);
	memcpy(buf + n, "next\n", 5);
	n += 5;
	big_count = 0;
	logs_split_feed(&s, (const char *)buf, n, NOW_MS, count_cb, NULL);
	assert_int_equal(big_count, 2);
	assert_int_equal(big_lens[0], LOGS_EVENT_MAX);
	assert_int_equal(big_lens[1], 4);
	logs_split_fini(&s);
	free(buf);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_rotation), cmocka_unit_test(test_tail_keeps_last_4k),
	    cmocka_unit_test(test_multiline_record),   cmocka_unit_test(test_split),
	    cmocka_unit_test(test_split_big_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
