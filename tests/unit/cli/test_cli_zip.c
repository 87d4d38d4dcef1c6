/* Unit tests for the CLI's directory zipper: names, contents, modes and links survive a
 * round trip through libarchive's reader, and unsafe trees are refused. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli_int.h"

static void put_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0); /* exact mode, whatever the umask */
	close(fd);
}

static void put_dir(const char *dir, const char *rel, mode_t mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void put_link(const char *dir, const char *rel, const char *target)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown_dir(void **state)
{
	char *dir = *state;
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/test_cli_zip.XXXXXX");
	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

/* One entry as read back from the zip. */
struct got {
	char name[256];
	mode_t type;
	mode_t perm;
	char data[256];
	size_t len;
	char link[256];
};

/* Reads every entry of the zip in buf into got[] (at most max); returns the count. */
static size_t read_zip(const unsigned char *buf, size_t len, struct got *got, size_t max)
{
	struct archive *a = archive_read_new();
	assert_non_null(a);
	assert_int_equal(archive_read_support_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
	struct archive_entry *e;
	size_t n = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		assert_true(n < max);
		struct got *g = &got[n++];
		memset(g, 0, sizeof(*g));
		snprintf(g->name, sizeof(g->name), "%s", archive_entry_pathname(e));
		g->type = archive_entry_filetype(e);
		g->perm = archive_entry_perm(e);
		if (archive_entry_symlink(e))
			snprintf(g->link, sizeof(g->link), "%s", archive_entry_symlink(e));
		la_ssize_t k;
		while ((k = archive_read_data(a, g->data + g->len, sizeof(g->data) - 1 - g->len)) > 0)
			g->len += (size_t)k;
		assert_true(k == 0);
	}
	assert_int_equal(r, ARCHIVE_EOF);
	archive_read_free(a);
	return n;
}

static const struct got *find(const struct got *got, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(got[i].name, name) == 0)
			return &got[i];
	fail_msg("entry %s not in the zip", name);
	return NULL;
}

static void test_zip_tree(void **state)
{
	const char *dir = *state;
	put_file(dir, "bootstrap", "#!/bin/sh\necho hi\n", 0755);
	put_file(dir, "empty", "", 0644);
	put_file(dir, ".hidden", "secret\n", 0640);
	put_dir(dir, "lib", 0755);
	put_dir(dir, "lib/deep", 0750);
	put_file(dir, "lib/deep/data.txt", "nested data\n", 0600);
	put_file(dir, "lib/tool", "#!/bin/sh\n", 0700);
	put_dir(dir, "emptydir", 0755);
	put_link(dir, "link", "bootstrap");
	put_link(dir, "lib/up", "../bootstrap");

	unsigned char *zip = NULL;
	size_t len = 0;
	struct err e = {0};
	assert_int_equal(cli_zip_dir(dir, NULL, &zip, &len, &e), 0);
	assert_true(len > 22); /* more than an empty zip's end record */
	assert_memory_equal(zip, "PK\003\004", 4);

	struct got got[32];
	size_t n = read_zip(zip, len, got, 32);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_true(got[i].name[0] != '/');
		assert_true(strncmp(got[i].name, "./", 2) != 0);
		assert_null(strstr(got[i].name, ".."));
		assert_null(strstr(got[i].name, dir + 1)); /* no trace of the temp dir's path */
	}

	const struct got *g = find(got, n, "bootstrap");
	assert_int_equal(g->type, AE_IFREG);
	assert_int_equal(g->perm, 0755);
	assert_int_equal(g->len, strlen("#!/bin/sh\necho hi\n"));
	assert_memory_equal(g->data, "#!/bin/sh\necho hi\n", g->len);

	g = find(got, n, "empty");
	assert_int_equal(g->type, AE_IFREG);
	assert_int_equal(g->perm, 0644);
	assert_int_equal(g->len, 0);

	g = find(got, n, ".hidden");
	assert_int_equal(g->perm, 0640);
	assert_string_equal(g->data, "secret\n");

	g = find(got, n, "lib/");
	assert_int_equal(g->type, AE_IFDIR);
	assert_int_equal(g->perm, 0755);
	g = find(got, n, "lib/deep/");
	assert_int_equal(g->type, AE_IFDIR);
	assert_int_equal(g->perm, 0750);
	g = find(got, n, "lib/deep/data.txt");
	assert_int_equal(g->type, AE_IFREG);
	assert_int_equal(g->perm, 0600);
	assert_string_equal(g->data, "nested data\n");
	g = find(got, n, "lib/tool");
	assert_int_equal(g->perm, 0700);
	g = find(got, n, "emptydir/");
	assert_int_equal(g->type, AE_IFDIR);

	g = find(got, n, "link");
	assert_int_equal(g->type, AE_IFLNK);
	assert_string_equal(g->link, "bootstrap");
	g = find(got, n, "lib/up");
	assert_int_equal(g->type, AE_IFLNK);
	assert_string_equal(g->link, "../bootstrap");

	/* A directory comes before what it holds, so an extractor can create it first. */
	size_t lib = 0, data = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(got[i].name, "lib/deep/") == 0)
			lib = i;
		if (strcmp(got[i].name, "lib/deep/data.txt") == 0)
			data = i;
	}
	assert_true(lib < data);
	free(zip);
}

static void test_zip_same_tree_same_bytes(void **state)
{
	const char *dir = *state;
	put_file(dir, "b", "bbb", 0644);
	put_file(dir, "a", "aaa", 0755);
	put_dir(dir, "c", 0755);
	put_file(dir, "c/d", "ddd", 0644);
	unsigned char *z1 = NULL, *z2 = NULL;
	size_t l1 = 0, l2 = 0;
	struct err e = {0};
	assert_int_equal(cli_zip_dir(dir, NULL, &z1, &l1, &e), 0);
	/* A trailing slash on the directory changes nothing. */
	char slashed[4096];
	snprintf(slashed, sizeof(slashed), "%s/", dir);
	assert_int_equal(cli_zip_dir(slashed, NULL, &z2, &l2, &e), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(z1, z2, l1);
	struct got got[8];
	size_t n = read_zip(z1, l1, got, 8);
	assert_int_equal(n, 4);
	assert_string_equal(got[0].name, "a");
	assert_string_equal(got[1].name, "b");
	assert_string_equal(got[2].name, "c/");
	assert_string_equal(got[3].name, "c/d");
	free(z1);
	free(z2);
}

static void test_zip_empty_dir(void **state)
{
	unsigned char *zip = NULL;
	size_t len = 0;
	struct err e = {0};
	assert_int_equal(cli_zip_dir(*state, NULL, &zip, &len, &e), 0);
	struct got got[1];
	assert_int_equal(read_zip(zip, len, got, 1), 0);
	free(zip);
}

static void expect_refused(const char *dir, int code, const char *needle)
{
	unsigned char *zip = (unsigned char *)"untouched";
	size_t len = 7;
	struct err e = {0};
	assert_int_equal(cli_zip_dir(dir, NULL, &zip, &len, &e), -code);
	assert_int_equal(e.code, code);
	if (!strstr(e.msg, needle))
		fail_msg("message [%s] lacks [%s]", e.msg, needle);
	assert_string_equal((char *)zip, "untouched");
	assert_int_equal(len, 7);
}

static void test_zip_refuses_link_out(void **state)
{
	const char *dir = *state;
	put_dir(dir, "sub", 0755);
	put_link(dir, "sub/esc", "../../etc/passwd");
	expect_refused(dir, EPERM, "sub/esc");
	expect_refused(dir, EPERM, "points outside");
}

static void test_zip_refuses_absolute_link(void **state)
{
	const char *dir = *state;
	put_file(dir, "ok", "x", 0644);
	put_link(dir, "abs", "/etc/passwd");
	expect_refused(dir, EPERM, "abs");
}

static void test_zip_refuses_fifo(void **state)
{
	const char *dir = *state;
	char path[4096];
	snprintf(path, sizeof(path), "%s/pipe", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	expect_refused(dir, EINVAL, "not a regular file");
}

static void test_zip_missing_dir(void **state)
{
	const char *dir = *state;
	char path[4096];
	snprintf(path, sizeof(path), "%s/nope", dir);
	expect_refused(path, ENOENT, "nope");
	put_file(dir, "file", "x", 0644);
	snprintf(path, sizeof(path), "%s/file", dir);
	expect_refused(path, ENOTDIR, "file");
}

static void test_zip_unreadable_file(void **state)
{
	if (geteuid() == 0)
		skip(); /* root reads a 0000 file anyway */
	const char *dir = *state;
	put_file(dir, "locked", "x", 0000);
	expect_refused(dir, EACCES, "locked");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_zip_tree, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_same_tree_same_bytes, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_empty_dir, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_refuses_link_out, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_refuses_absolute_link, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_refuses_fifo, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_missing_dir, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_zip_unreadable_file, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
