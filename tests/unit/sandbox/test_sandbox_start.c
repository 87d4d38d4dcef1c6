/* sandbox_new's creation on the loop: a runtime started as a process group (any user)
 * and in namespaces (root only, else skipped): ready_cb comes later, never from inside
 * the call; its output is on the log fd; exit_cb reports its exit status through the
 * reaper; a failing step is reported with its name; a creation destroyed half-way
 * calls nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop/reap.h"
#include "sandbox/sandbox.h"

static struct {
	struct event_base *base;
	struct reap *reap;
	char dir[64];  /* state dir */
	char code[96]; /* the function's code: bootstrap */
	int ready_rc;  /* 1: not yet */
	char ready_msg[512];
	int exit_status; /* -1: not yet */
	int calls;
} T;

static void ready_cb(struct sandbox *sb, int rc, const struct err *e, void *arg)
{
	T.ready_rc = rc;
	snprintf(T.ready_msg, sizeof(T.ready_msg), "%s", e ? e->msg : "");
	T.calls++;
}

static void exit_cb(struct sandbox *sb, int status, void *arg)
{
	T.exit_status = status;
	T.calls++;
}

static const struct sandbox_cbs cbs = {.ready_cb = ready_cb, .exit_cb = exit_cb};

static void write_bootstrap(const char *script)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/bootstrap", T.code);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static int up(enum sandbox_isolation iso)
{
	memset(&T, 0, sizeof(T));
	T.ready_rc = 1;
	T.exit_status = -1;
	snprintf(T.dir, sizeof(T.dir), "/tmp/test_sbstart.XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.code, sizeof(T.code), "%s/code", T.dir);
	assert_int_equal(mkdir(T.code, 0755), 0);
	assert_int_equal(chmod(T.dir, 0755), 0);
	T.base = event_base_new();
	struct err e = {0};
	assert_int_equal(reap_new(T.base, &T.reap, &e), 0);
	struct sandbox_options o = {
	    .isolation = iso, .state_dir = T.dir, .pool_size = 1, .base = T.base, .reap = T.reap};
	return sandbox_init(&o, &e);
}

static void down(void)
{
	sandbox_fini();
	reap_free(T.reap);
	event_base_free(T.base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	assert_int_equal(system(cmd), 0);
}

/* Runs the loop until cond holds (a generous bound). */
#define RUN_UNTIL(cond)                                                                                      \
	do {                                                                                                 \
		for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                                               \
			struct timeval tv_ = {0, 10000};                                                     \
			event_base_loopexit(T.base, &tv_);                                                   \
			event_base_loop(T.base, 0);                                                          \
		}                                                                                            \
		assert_true(cond);                                                                           \
	} while (0)

static char *envp[] = {"PATH=/usr/bin:/bin", NULL};

/* A runtime that prints a line and exits 3: ready, its output, its exit. */
static void start_print_exit(void)
{
	write_bootstrap("#!/bin/sh\necho \"hi from $AWS_LAMBDA_RUNTIME_API\"\nread x\nexit 3\n");
	struct sandbox_spec spec = {.code_dir = T.code, .exe = "bootstrap", .envp = envp, .memory_mb = 128};
	struct sandbox *sb = NULL;
	struct err e = {0};
	assert_int_equal(sandbox_new(&spec, &cbs, NULL, &sb, &e), 0);
	assert_int_equal(T.calls, 0); /* never from inside sandbox_new */
	RUN_UNTIL(T.ready_rc != 1);
	assert_int_equal(T.ready_rc, 0);
	char buf[256] = "";
	int fd = sandbox_log_fd(sb);
	for (int i = 0; i < 3000 && !strchr(buf, '\n'); i++) {
		ssize_t n = read(fd, buf + strlen(buf), sizeof(buf) - strlen(buf) - 1);
		if (n < 0) {
			struct timeval tv = {0, 1000};
			event_base_loopexit(T.base, &tv);
			event_base_loop(T.base, 0);
		}
	}
	assert_non_null(strstr(buf, "hi from 127.0.0.1:"));
	int rt = sandbox_take_rtapi_fd(sb);
	assert_true(rt >= 0);
	close(rt);
	/* Its stdin is /dev/null: the read ends at once and it exits 3. */
	RUN_UNTIL(T.exit_status != -1);
	assert_true(WIFEXITED(T.exit_status));
	assert_int_equal(WEXITSTATUS(T.exit_status), 3);
	assert_int_equal(T.calls, 2);
	sandbox_free(sb);
}

/* A creation destroyed before it ends calls nothing. */
static void start_destroy(void)
{
	write_bootstrap("#!/bin/sh\nexec sleep 100\n");
	struct sandbox_spec spec = {.code_dir = T.code, .exe = "bootstrap", .envp = envp, .memory_mb = 128};
	struct sandbox *sb = NULL;
	struct err e = {0};
	int calls = T.calls;
	assert_int_equal(sandbox_new(&spec, &cbs, NULL, &sb, &e), 0);
	sandbox_free(sb);
	for (int i = 0; i < 20; i++)
		event_base_loop(T.base, EVLOOP_NONBLOCK);
	assert_int_equal(T.calls, calls);
}

static void test_process_group(void **state)
{
	assert_int_equal(up(SANDBOX_NONE), 0);
	start_print_exit();
	start_destroy();
	/* A code directory that is not there: the exec fails, with the step. */
	T.ready_rc = 1;
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/none", T.dir);
	struct sandbox_spec spec = {.code_dir = gone, .exe = "bootstrap", .envp = envp, .memory_mb = 128};
	struct sandbox *sb = NULL;
	struct err e = {0};
	assert_true(sandbox_new(&spec, &cbs, NULL, &sb, &e) < 0);
	assert_non_null(strstr(e.msg, "chdir"));
	down();
}

static void test_namespaces(void **state)
{
	if (geteuid() != 0)
		skip();
	assert_int_equal(up(SANDBOX_AUTO), 0);
	if (!sandbox_isolated()) {
		down();
		skip();
	}
	start_print_exit();
	start_destroy();
	/* A code directory that is not there: the bind mount fails, reported as the step. */
	T.ready_rc = 1;
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/none", T.dir);
	struct sandbox_spec spec = {.code_dir = gone, .exe = "bootstrap", .envp = envp, .memory_mb = 128};
	struct sandbox *sb = NULL;
	struct err e = {0};
	assert_int_equal(sandbox_new(&spec, &cbs, NULL, &sb, &e), 0);
	RUN_UNTIL(T.ready_rc != 1);
	assert_int_equal(T.ready_rc, -ENOENT);
	assert_non_null(strstr(T.ready_msg, "sandbox setup failed at "));
	sandbox_free(sb);
	down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_group),
	    cmocka_unit_test(test_namespaces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
