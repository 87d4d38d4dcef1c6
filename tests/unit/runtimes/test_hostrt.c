/* runtimes/hostrt: which interpreter serves each managed runtime identifier (defaults,
 * --runtime-path, --runtime-paths), and which identifiers a host's interpreters can serve:
 * older refused, newer allowed with a warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <lambdad/xmalloc.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/fn.h"
#include "runtimes/hostrt.h"
#include "svc/lambda/errors.h"

static void test_python_versions(void **state)
{
	struct err e = {0};
	char warn[512];
	hostrt_set("3.11", "20.20.2");
	assert_int_equal(hostrt_check("python3.11", warn, sizeof(warn), &e), 0);
	assert_string_equal(warn, "");
	/* Older than the host's interpreter: allowed, with a warning naming both. */
	assert_int_equal(hostrt_check("python3.9", warn, sizeof(warn), &e), 0);
	assert_non_null(strstr(warn, "Runtime python3.9 runs on Python 3.11 at /usr/bin/python3"));
	assert_non_null(strstr(warn, "--runtime-path python3.9=PATH"));
	/* Newer: refused, naming what to install and how to name it. */
	assert_int_equal(hostrt_check("python3.12", warn, sizeof(warn), &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "needs Python 3.12 or newer"));
	assert_non_null(strstr(e.msg, "has Python 3.11"));
	assert_non_null(strstr(e.msg, "--runtime-path python3.12=PATH"));
	assert_non_null(strstr(e.msg, "use python3.11"));
	hostrt_set("3.13", NULL);
	assert_int_equal(hostrt_check("python3.13", NULL, 0, &e), 0);
	hostrt_set(NULL, NULL);
	assert_int_equal(hostrt_check("python3.9", warn, sizeof(warn), &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "apt install python3"));
}

static void test_node_versions(void **state)
{
	struct err e = {0};
	char warn[512];
	hostrt_set("3.11", "20.20.2");
	assert_int_equal(hostrt_check("nodejs20.x", warn, sizeof(warn), &e), 0);
	assert_string_equal(warn, "");
	assert_int_equal(hostrt_check("nodejs18.x", warn, sizeof(warn), &e), 0);
	assert_non_null(strstr(warn, "Runtime nodejs18.x runs on Node.js 20.20.2"));
	assert_int_equal(hostrt_check("nodejs22.x", warn, sizeof(warn), &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "needs Node.js 22 or newer"));
	assert_non_null(strstr(e.msg, "use nodejs20.x"));
	hostrt_set("3.11", NULL);
	assert_int_equal(hostrt_check("nodejs18.x", warn, sizeof(warn), &e), -EINVAL);
	assert_int_equal(e.svc, LAMBDA_ERR_INVALID_PARAMETER_VALUE);
	assert_non_null(strstr(e.msg, "apt install nodejs"));
}

static void test_provided_always(void **state)
{
	struct err e = {0};
	hostrt_set(NULL, NULL);
	assert_int_equal(hostrt_check("provided.al2023", NULL, 0, &e), 0);
	assert_string_equal(fn_runtime_family("provided"), "provided");
	assert_string_equal(fn_runtime_family("python3.12"), "python");
	assert_string_equal(fn_runtime_family("nodejs20.x"), "node");
	struct hostrt_info hi;
	assert_false(hostrt_lookup("provided.al2023", &hi));
	assert_string_equal(hi.runtime_version, "provided:al2023");
	assert_int_equal(strlen(hi.runtime_version_id), 64);
}

/* A fake interpreter under a prefix outside the system paths: <tmp>/bin/python3. */
static char *fake_interpreter(char *dir)
{
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0); /* the functions' user must reach it */
	char *bin = xasprintf("%s/bin", dir);
	assert_int_equal(mkdir(bin, 0755), 0);
	char *exe = xasprintf("%s/python3", bin);
	FILE *f = fopen(exe, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho 3.12.1\n", f);
	fclose(f);
	assert_int_equal(chmod(exe, 0755), 0);
	free(bin);
	return exe;
}

static void test_mapping(void **state)
{
	struct err e = {0};
	char dir[] = "/var/tmp/hostrt-XXXXXX";
	char *exe = fake_interpreter(dir);
	hostrt_set("3.11.2", "20.20.2");
	char *spec = xasprintf("python3.12=%s", exe);
	assert_int_equal(hostrt_map(spec, &e), 0);
	hostrt_set_version(exe, "3.12.1");
	char warn[512];
	assert_int_equal(hostrt_check("python3.12", warn, sizeof(warn), &e), 0);
	assert_string_equal(warn, "");
	struct hostrt_info hi;
	assert_true(hostrt_lookup("python3.12", &hi));
	assert_string_equal(hi.path, exe);
	assert_string_equal(hi.version, "3.12.1");
	assert_string_equal(hi.runtime_version, "python:3.12.1");
	/* The other identifiers keep the default. */
	assert_true(hostrt_lookup("python3.11", &hi));
	assert_string_equal(hi.path, HOSTRT_DEFAULT_PYTHON);
	assert_string_equal(hi.runtime_version, "python:3.11.2");
	/* The sandbox shows the interpreter's prefix (the directory above bin/). */
	const char *dirs[4];
	assert_int_equal(hostrt_extra_dirs(dirs, 4), 1);
	char real[4096];
	assert_non_null(realpath(dir, real));
	assert_string_equal(dirs[0], real);
	/* hostrt_detect runs it: the fake prints a version, so it is taken. */
	hostrt_set("3.11.2", "20.20.2");
	assert_int_equal(hostrt_map(spec, &e), 0);
	assert_int_equal(hostrt_detect(&e), 0);
	assert_true(hostrt_lookup("python3.12", &hi));
	assert_string_equal(hi.version, "3.12.1");

	/* A symlink into another tree: both trees are shown. */
	hostrt_set("3.11.2", "20.20.2");
	char other[] = "/var/tmp/hostrt-link-XXXXXX";
	assert_non_null(mkdtemp(other));
	assert_int_equal(chmod(other, 0755), 0);
	char *obin = xasprintf("%s/bin", other);
	char *link = xasprintf("%s/python3", obin);
	assert_int_equal(mkdir(obin, 0755), 0);
	assert_int_equal(symlink(exe, link), 0);
	char *lspec = xasprintf("python3.12=%s", link);
	assert_int_equal(hostrt_map(lspec, &e), 0);
	assert_int_equal(hostrt_extra_dirs(dirs, 4), 2);
	char oreal[4096];
	assert_non_null(realpath(other, oreal));
	assert_string_equal(dirs[0], other);
	assert_string_equal(dirs[1], real);
	/* A directory closed to others is refused: the functions' user could not reach it. */
	assert_int_equal(chmod(other, 0700), 0);
	assert_int_equal(hostrt_map(lspec, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "is closed to the functions' user"));
	unlink(link);
	rmdir(obin);
	rmdir(other);
	free(lspec);
	free(link);
	free(obin);
	/* What the sandbox has its own of cannot be shown. */
	assert_int_equal(hostrt_map("python3.12=/proc/self/exe", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "cannot be shown in the sandbox, which has its own /proc"));

	/* Bad mappings name what is wrong. */
	assert_int_equal(hostrt_map("python3.12", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "expected ID=PATH"));
	assert_int_equal(hostrt_map("ruby3.3=/usr/bin/ruby", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "'ruby3.3' is not a managed runtime identifier"));
	assert_int_equal(hostrt_map("provided.al2023=/bin/sh", &e), -EINVAL);
	assert_int_equal(hostrt_map("python3.12=bin/python3", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "absolute path"));
	assert_int_equal(hostrt_map("python3.12=/no/such/python", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "/no/such/python is not an executable file"));
	/* A mapped interpreter that does not answer as one is an error at start. */
	hostrt_set("3.11.2", "20.20.2");
	assert_int_equal(hostrt_map("nodejs22.x=/bin/true", &e), 0);
	assert_int_equal(hostrt_detect(&e), -ENOEXEC);
	assert_non_null(strstr(e.msg, "--runtime-path nodejs22.x=/bin/true: it does not run as a Node.js"));

	/* The file form: comments and blank lines skipped, a bad line named by number. */
	hostrt_set("3.11.2", "20.20.2");
	char *file = xasprintf("%s/paths", dir);
	FILE *f = fopen(file, "w");
	fprintf(f, "# interpreters\n\n  python3.13=%s  \n", exe);
	fclose(f);
	assert_int_equal(hostrt_map_file(file, &e), 0);
	assert_true(hostrt_lookup("python3.13", &hi));
	assert_string_equal(hi.path, exe);
	f = fopen(file, "w");
	fprintf(f, "python3.13=%s\nnot-a-mapping\n", exe);
	fclose(f);
	assert_int_equal(hostrt_map_file(file, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "paths:2: --runtime-path 'not-a-mapping'"));
	assert_int_equal(hostrt_map_file("/no/such/file", &e), -ENOENT);
	unlink(file);
	free(file);

	hostrt_set(NULL, NULL);
	unlink(exe);
	char *bin = xasprintf("%s/bin", dir);
	rmdir(bin);
	rmdir(dir);
	free(bin);
	free(spec);
	free(exe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_python_versions),
	    cmocka_unit_test(test_node_versions),
	    cmocka_unit_test(test_provided_always),
	    cmocka_unit_test(test_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
