/* The cgroup backend on this machine's kernel (root only): a memory hog is OOM-killed
 * at its limit, a fork loop stops at pids.max, cg_kill kills what ignores SIGTERM and
 * its escaped children, and nothing is left in the cgroup filesystem afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

static struct cg_root *root;
static char *root_dirs[8]; /* the subtree's directories, to check they are gone */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static bool dir_exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The group's file `name` in whichever hierarchy has it; owned, or NULL. */
static char *group_file(const char *id, const char *name)
{
	for (unsigned i = 0; cg_root_path(root, i); i++) {
		char *p = xasprintf("%s/%s/%s", cg_root_path(root, i), id, name);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("open %s: %s", path, strerror(errno));
	char *buf = xcalloc(1, 4096);
	size_t n = fread(buf, 1, 4095, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct cg *create(const char *id, uint32_t mb, uint32_t pids)
{
	struct cg *g = NULL;
	struct err e = {0};
	if (cg_new(root, id, &g, &e) != 0)
		fail_msg("cg_new %s: %s", id, e.msg);
	struct cg_limits l;
	cg_lambda_limits(mb, &l);
	if (pids)
		l.pids_max = pids;
	if (cg_set_limits(g, &l, &e) != 0)
		fail_msg("cg_set_limits: %s", e.msg);
	return g;
}

/* Destroys g, retrying while killed processes leave; checks the directories went. */
static void destroy(struct cg *g, const char *id)
{
	int rc;
	for (int i = 0; (rc = cg_remove(g)) == -EBUSY && i < 300; i++)
		sleep_ms(10);
	assert_int_equal(rc, 0);
	for (unsigned i = 0; cg_root_path(root, i); i++) {
		autofree char *p = xasprintf("%s/%s", cg_root_path(root, i), id);
		if (dir_exists(p))
			fail_msg("%s is still there", p);
	}
}

/* Waits up to 5 s for pid (a child or an orphan we reap as subreaper). */
static int wait_for(pid_t pid)
{
	int st = 0;
	for (int i = 0; i < 500; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
		sleep_ms(10);
	}
	fail_msg("pid %d did not exit", (int)pid);
	return -1;
}

/* Forks a child that waits for a byte on a pipe (so that the parent can attach it
 * first), then runs fn(out) with out the write end of a result pipe. */
static pid_t spawn(void (*fn)(int out), int *go, int *result)
{
	int gp[2], rp[2];
	assert_int_equal(pipe2(gp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(gp[1]);
		close(rp[0]);
		char c;
		if (read(gp[0], &c, 1) != 1)
			_exit(120);
		fn(rp[1]);
		_exit(0);
	}
	close(gp[0]);
	close(rp[1]);
	*go = gp[1];
	*result = rp[0];
	return pid;
}

static void attach_and_go(struct cg *g, pid_t pid, int go)
{
	struct err e = {0};
	if (cg_attach(g, pid, &e) != 0)
		fail_msg("cg_attach: %s", e.msg);
	assert_int_equal(write(go, "x", 1), 1);
	close(go);
}

/* ---- tests ---- */

static void test_limits_on_disk(void **state)
{
	struct cg *g = create("limits", 128, 0);
	if (strcmp(cg_root_kind(root), "v2") == 0) {
		autofree char *m = group_file("limits", "memory.max");
		autofree char *c = group_file("limits", "cpu.max");
		autofree char *p = group_file("limits", "pids.max");
		autofree char *mv = read_text(m), *cv = read_text(c), *pv = read_text(p);
		assert_string_equal(mv, "134217728\n");
		assert_string_equal(cv, "7200 100000\n");
		assert_string_equal(pv, "1024\n");
	} else {
		autofree char *m = group_file("limits", "memory.limit_in_bytes");
		autofree char *q = group_file("limits", "cpu.cfs_quota_us");
		autofree char *p = group_file("limits", "pids.max");
		autofree char *mv = read_text(m), *qv = read_text(q), *pv = read_text(p);
		assert_string_equal(mv, "134217728\n");
		assert_string_equal(qv, "7200\n");
		assert_string_equal(pv, "1024\n");
		autofree char *sw = group_file("limits", "memory.memsw.limit_in_bytes");
		if (sw) {
			autofree char *swv = read_text(sw);
			assert_string_equal(swv, "134217728\n");
		}
	}
	destroy(g, "limits");
}

/* --cpu-limit on this kernel: the init's weight without a quota, then the function's
 * weight and quota alone; the kernel takes every value (v1 cpu.shares 2..262144, v2
 * cpu.weight 1..10000). */
static void test_cpu_after_init_on_disk(void **state)
{
	struct cg *g = NULL;
	struct err e = {0};
	if (cg_new(root, "cpu", &g, &e) != 0)
		fail_msg("cg_new: %s", e.msg);
	struct cg_limits l;
	cg_lambda_limits(128, &l);
	l.cpu_millis = 0;
	l.cpu_weight = cg_lambda_init_weight(128);
	if (cg_set_limits(g, &l, &e) != 0)
		fail_msg("cg_set_limits: %s", e.msg);
	bool v2 = strcmp(cg_root_kind(root), "v2") == 0;
	autofree char *w = group_file("cpu", v2 ? "cpu.weight" : "cpu.shares");
	autofree char *q = group_file("cpu", v2 ? "cpu.max" : "cpu.cfs_quota_us");
	autofree char *w0 = read_text(w), *q0 = read_text(q);
	assert_string_equal(w0, v2 ? "1727\n" : "45286\n");
	assert_string_equal(q0, v2 ? "max 100000\n" : "-1\n");
	if (cg_set_cpu_weight(g, 128, &e) != 0 || cg_set_cpu_quota(g, 72, &e) != 0)
		fail_msg("after init: %s", e.msg);
	autofree char *w1 = read_text(w), *q1 = read_text(q);
	assert_string_equal(w1, v2 ? "125\n" : "3276\n");
	assert_string_equal(q1, v2 ? "7200 100000\n" : "7200\n");
	if (cg_set_cpu_weight(g, 10240, &e) != 0 || cg_set_cpu_weight(g, 1, &e) != 0)
		fail_msg("the ends of the range: %s", e.msg);
	destroy(g, "cpu");
}

#define HOG_MB 300

static void hog(int out)
{
	size_t len = (size_t)HOG_MB << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(121);
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	_exit(0); /* survived: the limit did not hold */
}

static void test_oom_at_limit(void **state)
{
	struct cg *g = create("oom", 128, 0);
	int go, res;
	pid_t pid = spawn(hog, &go, &res);
	attach_and_go(g, pid, go);
	int st = wait_for(pid);
	close(res);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("the %d MB hog was not OOM-killed at 128 MB (status %#x)", HOG_MB, st);
	uint64_t kills = 0, kb = 0;
	assert_int_equal(cg_oom_kills(g, &kills), 0);
	assert_true(kills >= 1);
	assert_int_equal(cg_peak_kb(g, &kb), 0);
	printf("# oom_kill %llu, peak %llu kB (limit 131072 kB)\n", (unsigned long long)kills,
	       (unsigned long long)kb);
	assert_true(kb >= 120 * 1024);
	assert_true(kb <= 128 * 1024 + 1024);
	destroy(g, "oom");
}

static void fork_loop(int out)
{
	int n = 0, e = 0;
	for (int i = 0; i < 64; i++) {
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		if (c < 0) {
			e = errno;
			break;
		}
		n++;
	}
	int r[2] = {n, e};
	if (write(out, r, sizeof(r)) < 0)
		_exit(122);
	pause();
}

static void test_pids_stop_fork_loop(void **state)
{
	struct cg *g = create("pids", 128, 16);
	int go, res;
	pid_t pid = spawn(fork_loop, &go, &res);
	attach_and_go(g, pid, go);
	int r[2] = {0, 0};
	assert_int_equal(read(res, r, sizeof(r)), (ssize_t)sizeof(r));
	close(res);
	printf("# forked %d children, then errno %d\n", r[0], r[1]);
	assert_int_equal(r[1], EAGAIN);
	assert_int_equal(r[0], 15); /* 16 with the parent */
	assert_int_equal(cg_kill(g), 0);
	int st = wait_for(pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The orphans come to us (subreaper) once their parent is gone. */
	for (int i = 0; i < r[0]; i++) {
		pid_t c;
		int k = 0;
		while ((c = waitpid(-1, &st, WNOHANG)) == 0 && k++ < 500)
			sleep_ms(10);
		assert_true(c > 0);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	destroy(g, "pids");
}

static void stubborn(int out)
{
	signal(SIGTERM, SIG_IGN);
	pid_t kids[3];
	for (int i = 0; i < 3; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			setsid();       /* out of the process group: only the cgroup still holds it */
			if (fork() > 0) /* and a grandchild of its own */
				for (;;)
					pause();
			for (;;)
				pause();
		}
	}
	if (write(out, kids, sizeof(kids)) < 0)
		_exit(122);
	for (;;)
		pause();
}

static void test_kill_everything(void **state)
{
	struct cg *g = create("kill", 128, 0);
	int go, res;
	pid_t pid = spawn(stubborn, &go, &res);
	attach_and_go(g, pid, go);
	pid_t kids[3];
	assert_int_equal(read(res, kids, sizeof(kids)), (ssize_t)sizeof(kids));
	close(res);
	autofree char *procs = group_file("kill", "cgroup.procs");
	int n = 0;
	for (int i = 0; i < 100 && n < 7; i++) { /* the grandchildren may still be forking */
		autofree char *list = read_text(procs);
		n = 0;
		for (char *p = list; (p = strchr(p, '\n')); p++)
			n++;
		if (n < 7)
			sleep_ms(10);
	}
	assert_int_equal(n, 7);
	kill(pid, SIGTERM);
	sleep_ms(50);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* SIGTERM is ignored */
	assert_int_equal(cg_kill(g), 0);
	int st = wait_for(pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (int i = 0; i < 3; i++) {
		st = wait_for(kids[i]);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	for (int i = 0; i < 3; i++) { /* the grandchildren */
		pid_t c;
		int k = 0;
		while ((c = waitpid(-1, &st, WNOHANG)) == 0 && k++ < 500)
			sleep_ms(10);
		assert_true(c > 0);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	autofree char *left = read_text(procs);
	assert_string_equal(left, "");
	destroy(g, "kill");
}

static void sleeper(int out)
{
	pause();
}

static void test_destroy_busy_then_free(void **state)
{
	struct cg *g = create("busy", 128, 0);
	struct cg *spare = create("spare", 128, 0);
	int go, res;
	pid_t pid = spawn(sleeper, &go, &res);
	attach_and_go(g, pid, go);
	close(res);
	assert_int_equal(cg_remove(g), -EBUSY);
	autofree char *procs = group_file("busy", "cgroup.procs");
	assert_non_null(procs); /* still there */
	int rc = cg_freeze(g, true);
	assert_true(rc == 0 || rc == -ENOTSUP);
	assert_int_equal(cg_kill(g), 0);
	int st = wait_for(pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	destroy(g, "busy");

	/* cg_root_free removes what is left, processes and groups included. */
	pid = spawn(sleeper, &go, &res);
	attach_and_go(spare, pid, go);
	close(res);
	cg_root_free(root);
	root = NULL;
	cg_free(spare);
	st = wait_for(pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (unsigned i = 0; root_dirs[i]; i++)
		if (dir_exists(root_dirs[i]))
			fail_msg("%s is still there after cg_root_free", root_dirs[i]);
}

static int group_setup(void **state)
{
	char name[64];
	snprintf(name, sizeof(name), "lambdad-test-%d", (int)getpid());
	struct err e = {0};
	int rc = cg_root_new(name, &root, &e);
	if (rc != 0) {
		printf("cg_root_new: %s\n", e.msg);
		if (rc == -ENOENT || rc == -ENOTSUP) {
			printf("skipped: no usable cgroup hierarchy\n");
			exit(77);
		}
		return -1;
	}
	printf("# cgroup %s: %s", cg_root_kind(root), cg_root_path(root, 0));
	for (unsigned i = 0; cg_root_path(root, i) && i < ARRAY_SIZE(root_dirs) - 1; i++) {
		root_dirs[i] = xstrdup(cg_root_path(root, i));
		if (i)
			printf(", %s", root_dirs[i]);
	}
	printf("\n");
	return 0;
}

static int group_teardown(void **state)
{
	cg_root_free(root);
	for (unsigned i = 0; root_dirs[i]; i++)
		free(root_dirs[i]);
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("skipped: needs root to create cgroups\n");
		return 77;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limits_on_disk),
	    cmocka_unit_test(test_cpu_after_init_on_disk),
	    cmocka_unit_test(test_oom_at_limit),
	    cmocka_unit_test(test_pids_stop_fork_loop),
	    cmocka_unit_test(test_kill_everything),
	    cmocka_unit_test(test_destroy_busy_then_free), /* last: it frees the root */
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
