/* The CLI's watcher for deploy --watch: changes below the directory are seen, new
 * directories are watched at once, excluded paths are not changes, the ignore file is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_int.h"

static char root[] = "/tmp/lambdad-test-watch.XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int take(struct cli_watch *w)
{
	struct err e = {0};
	int r = cli_watch_take(w, &e);
	assert_true(r >= 0);
	return r;
}

static void test_changes(void **state)
{
	assert_non_null(mkdtemp(root));
	dir(".git");
	dir("node_modules");
	dir("src");
	put("src/a.py", "a");
	put(".lambdadignore", "node_modules/\n*.tmp\n");
	int fd = open(root, O_RDONLY | O_DIRECTORY);
	struct cli_ignore *ig = NULL;
	struct cli_watch *w = NULL;
	struct err e = {0};
	assert_int_equal(cli_ignore_load(fd, root, true, &ig, &e), 0);
	close(fd);
	assert_int_equal(cli_watch_new(root, ig, &w, &e), 0);
	assert_int_equal(take(w), 0); /* nothing yet */

	put(".git/index", "x"); /* excluded by default */
	put("node_modules/m.js", "x");
	put("src/scratch.tmp", "x");
	assert_int_equal(take(w), 0);

	put("src/a.py", "b"); /* a write below the top */
	assert_int_equal(take(w), 1);
	assert_int_equal(take(w), 0); /* taken */

	char p[4096];
	snprintf(p, sizeof(p), "%s/src/a.py", root);
	assert_int_equal(chmod(p, 0700), 0);
	assert_int_equal(take(w), 1);

	dir("src/new"); /* a new directory, then a file in it */
	assert_int_equal(take(w), 1);
	put("src/new/b.py", "b");
	assert_int_equal(take(w), 1);

	put(".lambdadignore", "node_modules/\n"); /* excluded from the zip, but it matters */
	assert_int_equal(take(w), 1);

	snprintf(p, sizeof(p), "%s/src/a.py", root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(take(w), 1);

	cli_watch_free(w);
	cli_ignore_free(ig);
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A stop signal ends the wait, with 0, and is taken. */
static void test_stop(void **state)
{
	char r2[] = "/tmp/lambdad-test-watch2.XXXXXX";
	assert_non_null(mkdtemp(r2));
	struct cli_watch *w = NULL;
	struct err e = {0};
	assert_int_equal(cli_watch_new(r2, NULL, &w, &e), 0);
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGUSR1);
	sigprocmask(SIG_BLOCK, &stop, &old);
	raise(SIGUSR1);
	assert_int_equal(cli_watch_wait(w, &stop, 10, &e), 0);
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
	cli_watch_free(w);
	rmdir(r2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changes),
	    cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
