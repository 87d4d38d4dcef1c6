/* The sandbox plan: encoding, descriptions, and the runner's order and failure
 * reports, against a fake syscall table (no root needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "sandbox/steps.h"

/* The fake kernel: records each call as text, fails call number fail_at with fail_errno. */
static char calls[4096];
static int ncalls, fail_at = -1, fail_errno;

static int record(const char *fmt, const char *a, const char *b)
{
	char line[256];
	snprintf(line, sizeof(line), fmt, a ? a : "-", b ? b : "-");
	strncat(calls, line, sizeof(calls) - strlen(calls) - 1);
	strncat(calls, "\n", sizeof(calls) - strlen(calls) - 1);
	if (ncalls++ == fail_at) {
		errno = fail_errno;
		return -1;
	}
	return 0;
}
static int f_mount(const char *src, const char *dst, const char *type, unsigned long flags, const void *data)
{
	(void)type;
	(void)data;
	return record((flags & MS_REMOUNT) ? "remount %s %s" : "mount %s %s", src, dst);
}
static int f_umount2(const char *p, int fl)
{
	return record("umount %s %s", p, NULL);
}
static int f_mkdir(const char *p, mode_t m)
{
	return record("mkdir %s %s", p, NULL);
}
static int f_rmdir(const char *p)
{
	return record("rmdir %s %s", p, NULL);
}
static int f_symlink(const char *t, const char *p)
{
	return record("symlink %s %s", t, p);
}
static int f_open(const char *p, int fl, mode_t m)
{
	int r = record("open %s %s", p, NULL);
	return r < 0 ? -1 : dup(0);
}
static int f_pivot(const char *n, const char *o)
{
	return record("pivot %s %s", n, o);
}
static int f_chdir(const char *p)
{
	return record("chdir %s %s", p, NULL);
}
static int f_sethostname(const char *n, size_t l)
{
	return record("hostname %s %s", n, NULL);
}

static const struct sbx_sys fake = {f_mount, f_umount2, f_mkdir, f_rmdir,      f_symlink,
                                    f_open,  f_pivot,   f_chdir, f_sethostname};

static int setup(void **state)
{
	calls[0] = 0;
	ncalls = 0;
	fail_at = -1;
	sbx_sys = &fake;
	return 0;
}
static int teardown(void **state)
{
	sbx_sys = &sbx_sys_default;
	return 0;
}

static void build(struct sbx_plan *p)
{
	sbx_plan_init(p);
	sbx_plan_add(p, SBX_MOUNT, MS_NOSUID, 0, "tmpfs", "/r", "tmpfs", "size=1m");
	sbx_plan_add(p, SBX_MKDIR, 0755, 0, NULL, "/r/usr", NULL, NULL);
	sbx_plan_add(p, SBX_MOUNT, MS_BIND, 0, "/usr", "/r/usr", NULL, NULL);
	sbx_plan_add(p, SBX_REMOUNT_RO, 0, 0, NULL, "/r/usr", NULL, NULL);
	sbx_plan_add(p, SBX_SYMLINK, 0, 0, "usr/bin", "/r/bin", NULL, NULL);
	sbx_plan_add(p, SBX_PIVOT_ROOT, 0, 0, "/r", ".host", NULL, NULL);
	sbx_plan_add(p, SBX_UMOUNT_DETACH, 0, 0, NULL, "/.host", NULL, NULL);
	sbx_plan_add(p, SBX_RMDIR, 0, 0, NULL, "/.host", NULL, NULL);
	sbx_plan_add(p, SBX_HOSTNAME, 0, 0, "lambdad", NULL, NULL, NULL);
}

static void test_runs_in_order(void **state)
{
	struct sbx_plan p;
	build(&p);
	assert_int_equal(p.count, 9);
	struct sbx_child_ctx ctx = {.ctl_fd = -1, .out_fd = -1};
	unsigned failed = 99;
	assert_int_equal(sbx_plan_run(p.buf, p.len, &ctx, &failed), 0);
	assert_string_equal(calls, "mount tmpfs /r\n"
	                           "mkdir /r/usr -\n"
	                           "mount /usr /r/usr\n"
	                           "remount - /r/usr\n"
	                           "symlink usr/bin /r/bin\n"
	                           "chdir /r -\n"
	                           "pivot . .host\n"
	                           "chdir / -\n"
	                           "umount /.host -\n"
	                           "rmdir /.host -\n"
	                           "hostname lambdad -\n");
	sbx_plan_fini(&p);
}

/* Every step's failure stops the run there and names that step and its errno. */
static void test_failure_reports_step(void **state)
{
	struct sbx_plan p;
	build(&p);
	/* call index -> step index (pivot makes 3 calls) */
	static const int call_to_step[] = {0, 1, 2, 3, 4, 5, 5, 5, 6, 7, 8};
	for (int c = 0; c < (int)(sizeof(call_to_step) / sizeof(call_to_step[0])); c++) {
		calls[0] = 0;
		ncalls = 0;
		fail_at = c;
		fail_errno = c % 2 ? EPERM : ENOSPC;
		struct sbx_child_ctx ctx = {.ctl_fd = -1, .out_fd = -1};
		unsigned failed = 99;
		int r = sbx_plan_run(p.buf, p.len, &ctx, &failed);
		assert_int_equal(r, -fail_errno);
		assert_int_equal(failed, (unsigned)call_to_step[c]);
		assert_int_equal(ncalls, c + 1); /* nothing ran after the failure */
	}
	sbx_plan_fini(&p);
}

static void test_describe(void **state)
{
	struct sbx_plan p;
	build(&p);
	char d[128];
	sbx_plan_describe(p.buf, p.len, 2, d, sizeof(d));
	assert_string_equal(d, "step 2: mount /usr on /r/usr");
	sbx_plan_describe(p.buf, p.len, 3, d, sizeof(d));
	assert_string_equal(d, "step 3: remount read-only /r/usr");
	sbx_plan_describe(p.buf, p.len, 8, d, sizeof(d));
	assert_string_equal(d, "step 8: sethostname lambdad");
	sbx_plan_describe(p.buf, p.len, 42, d, sizeof(d));
	assert_string_equal(d, "step 42");
	sbx_plan_fini(&p);
}

/* A truncated or corrupted plan (as it could arrive over the socket) is refused, not run past. */
static void test_truncated_plan(void **state)
{
	struct sbx_plan p;
	build(&p);
	struct sbx_child_ctx ctx = {.ctl_fd = -1, .out_fd = -1};
	for (size_t cut = 1; cut < p.len; cut += 7) {
		calls[0] = 0;
		ncalls = 0;
		unsigned failed = 99;
		int r = sbx_plan_run(p.buf, cut, &ctx, &failed);
		if (r == 0)
			continue; /* the cut fell on a step boundary */
		assert_int_equal(r, -EINVAL);
		assert_true(failed < 9); /* the steps before the cut ran, none after */
	}
	sbx_plan_fini(&p);
}

static void test_exec_encoding_failure(void **state)
{
	struct sbx_plan p;
	sbx_plan_init(&p);
	char *argv[] = {"/nonexistent/bootstrap", "arg", NULL};
	char *envp[] = {"A=1", "B=2", NULL};
	sbx_plan_exec(&p, "/nonexistent/bootstrap", argv, envp);
	struct sbx_child_ctx ctx = {.ctl_fd = -1, .out_fd = -1};
	unsigned failed = 99;
	assert_int_equal(sbx_plan_run(p.buf, p.len, &ctx, &failed), -ENOENT);
	assert_int_equal(failed, 0);
	sbx_plan_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_runs_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_reports_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_plan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_encoding_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
