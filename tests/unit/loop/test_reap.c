/* Tests for the SIGCHLD reaper: real children that exit, callbacks by pid with their
 * status, a child that ended before it was watched, an unwatched child, and a watch
 * dropped before its child ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop/reap.h"

static struct event_base *base;
static struct reap *reap;
static struct evbuffer *log_;

static void reaped_cb(pid_t pid, int status, void *arg)
{
	evbuffer_add_printf(log_, "%s exit %d\n", (const char *)arg,
	                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* A child that waits for a byte on fd (or exits at once when fd is -1) with code. */
static pid_t child(int code, int fd)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		if (fd >= 0 && read(fd, &c, 1) < 0)
			_exit(99);
		_exit(code);
	}
	return pid;
}

/* Runs the loop until the log holds n lines (a generous bound). */
static char *run_until_lines(int n)
{
	for (int i = 0; i < 1000; i++) {
		size_t len = evbuffer_get_length(log_);
		const char *p = (const char *)evbuffer_pullup(log_, -1);
		int lines = 0;
		for (size_t k = 0; k < len; k++)
			lines += p[k] == '\n';
		if (lines >= n)
			break;
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_loop(base, 0);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	size_t len = evbuffer_get_length(log_);
	char *s = malloc(len + 1);
	evbuffer_remove(log_, s, len);
	s[len] = 0;
	return s;
}

static int setup(void **state)
{
	base = event_base_new();
	log_ = evbuffer_new();
	struct err e = {0};
	return base && reap_new(base, &reap, &e) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	reap_free(reap);
	evbuffer_free(log_);
	event_base_free(base);
	return 0;
}

static void test_by_pid(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t a = child(3, p[0]), b = child(4, p[0]), c = child(5, p[0]);
	reap_watch(reap, a, reaped_cb, "a");
	reap_watch(reap, b, reaped_cb, "b");
	reap_watch(reap, c, reaped_cb, "c");
	reap_unwatch(reap, b);                /* reaped, not reported */
	reap_watch(reap, c, reaped_cb, "c2"); /* the last watch of a pid wins */
	assert_int_equal(write(p[1], "xxx", 3), 3);
	close(p[0]);
	close(p[1]);
	char *got = run_until_lines(2);
	/* In the order they were reaped, which the kernel decides: check both lines. */
	assert_non_null(strstr(got, "a exit 3\n"));
	assert_non_null(strstr(got, "c2 exit 5\n"));
	assert_null(strstr(got, "b exit"));
	free(got);
	/* b was collected all the same: no child is left. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_ended_before_watch(void **state)
{
	pid_t a = child(7, -1);
	/* Collected before anyone watches it: the status is kept for the watch to come. */
	for (int i = 0; i < 1000 && kill(a, 0) == 0; i++) {
		reap_now(reap);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	reap_now(reap);
	assert_int_equal(evbuffer_get_length(log_), 0);
	reap_watch(reap, a, reaped_cb, "late");
	assert_int_equal(evbuffer_get_length(log_), 0); /* never from inside reap_watch */
	char *got = run_until_lines(1);
	assert_string_equal(got, "late exit 7\n");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_by_pid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ended_before_watch, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
