/* Tests for codezip: safe extraction of deployment packages, built in memory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/codezip.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BAD_ZIP "Could not unzip uploaded file. Please check your file, then try to upload again."
#define ZIP_CAP (4u << 20)
#define UNIX(mode) ((uint32_t)(mode) << 16) /* external attributes for a Unix mode */

/* Per test: a private parent directory and the path to extract to inside it. */
struct fx {
	char parent[64];
	char *out;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->parent, "/tmp/codezip-test-XXXXXX");
	if (!mkdtemp(f->parent))
		return -1;
	f->out = xasprintf("%s/out", f->parent);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int r = codezip_rmtree(f->parent);
	free(f->out);
	free(f);
	return r;
}

/* A zip being written with libarchive's own writer, as zip(1) or an SDK would. */
struct zb {
	struct archive *w;
	unsigned char *buf;
	size_t used;
};

static struct zb *zb_new(void)
{
	struct zb *z = xcalloc(1, sizeof(*z));
	z->buf = xmalloc(ZIP_CAP);
	z->w = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(z->w), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(z->w, z->buf, ZIP_CAP, &z->used), ARCHIVE_OK);
	return z;
}

/* The mtime zb_add gives the entries it writes (0: none, the writer's default). */
static time_t zb_mtime;

static void zb_add(struct zb *z, const char *name, unsigned type, unsigned perm, const char *link,
                   const char *hardlink, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	if (zb_mtime)
		archive_entry_set_mtime(e, zb_mtime, 0);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	if (link)
		archive_entry_set_symlink(e, link);
	if (hardlink)
		archive_entry_set_hardlink(e, hardlink);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(z->w, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(z->w, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void zb_file(struct zb *z, const char *name, unsigned perm, const char *text)
{
	zb_add(z, name, AE_IFREG, perm, NULL, NULL, text, strlen(text));
}

static void zb_dir(struct zb *z, const char *name)
{
	zb_add(z, name, AE_IFDIR, 0755, NULL, NULL, NULL, 0);
}

static void zb_link(struct zb *z, const char *name, const char *target)
{
	zb_add(z, name, AE_IFLNK, 0777, target, NULL, NULL, 0);
}

static void zb_finish(struct zb *z)
{
	assert_int_equal(archive_write_close(z->w), ARCHIVE_OK);
	archive_write_free(z->w);
	z->w = NULL;
}

static void zb_free(struct zb *z)
{
	if (z->w)
		archive_write_free(z->w);
	free(z->buf);
	free(z);
}

/* A zip written byte by byte, for what libarchive's writer refuses to produce: device
 * and socket modes, DOS attributes, empty names, sizes that lie. Entries are stored. */
struct raw_ent {
	const char *name;
	uint8_t system;    /* "version made by" high byte: 0 MS-DOS, 3 Unix */
	uint32_t ext_attr; /* external attributes: Unix mode << 16, or DOS bits */
	const void *data;
	size_t len;
	int64_t claimed; /* uncompressed size written in the headers; -1 for len */
};

static uint32_t crc32_of(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static unsigned char *put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
	p = put16(p, (uint16_t)v);
	return put16(p, (uint16_t)(v >> 16));
}

/* Returns an owned buffer holding the zip and its length in *len. */
static unsigned char *raw_zip(const struct raw_ent *ents, size_t n, size_t *len)
{
	size_t cap = 22;
	for (size_t i = 0; i < n; i++)
		cap += 30 + 46 + 2 * strlen(ents[i].name) + ents[i].len;
	unsigned char *buf = xmalloc(cap);
	unsigned char *p = buf;
	uint32_t *offs = xcalloc(n ? n : 1, sizeof(*offs));
	for (size_t i = 0; i < n; i++) {
		const struct raw_ent *e = &ents[i];
		uint32_t usize = e->claimed >= 0 ? (uint32_t)e->claimed : (uint32_t)e->len;
		uint16_t nl = (uint16_t)strlen(e->name);
		offs[i] = (uint32_t)(p - buf);
		p = put32(p, 0x04034b50);
		p = put16(p, 20);
		p = put16(p, 0);
		p = put16(p, 0); /* stored */
		p = put16(p, 0);
		p = put16(p, 0x21); /* 1980-01-01 */
		p = put32(p, crc32_of(e->data, e->len));
		p = put32(p, (uint32_t)e->len);
		p = put32(p, usize);
		p = put16(p, nl);
		p = put16(p, 0);
		memcpy(p, e->name, nl);
		p += nl;
		if (e->len)
			memcpy(p, e->data, e->len);
		p += e->len;
	}
	unsigned char *cd = p;
	for (size_t i = 0; i < n; i++) {
		const struct raw_ent *e = &ents[i];
		uint32_t usize = e->claimed >= 0 ? (uint32_t)e->claimed : (uint32_t)e->len;
		uint16_t nl = (uint16_t)strlen(e->name);
		p = put32(p, 0x02014b50);
		p = put16(p, (uint16_t)(e->system << 8 | 20));
		p = put16(p, 20);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put16(p, 0x21);
		p = put32(p, crc32_of(e->data, e->len));
		p = put32(p, (uint32_t)e->len);
		p = put32(p, usize);
		p = put16(p, nl);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put16(p, 0);
		p = put32(p, e->ext_attr);
		p = put32(p, offs[i]);
		memcpy(p, e->name, nl);
		p += nl;
	}
	uint32_t cd_size = (uint32_t)(p - cd);
	p = put32(p, 0x06054b50);
	p = put16(p, 0);
	p = put16(p, 0);
	p = put16(p, (uint16_t)n);
	p = put16(p, (uint16_t)n);
	p = put32(p, cd_size);
	p = put32(p, (uint32_t)(cd - buf));
	p = put16(p, 0);
	free(offs);
	*len = (size_t)(p - buf);
	return buf;
}

static void assert_nothing_left(struct fx *f)
{
	struct stat st;
	assert_int_equal(lstat(f->out, &st), -1);
	assert_int_equal(errno, ENOENT);
	DIR *d = opendir(f->parent);
	assert_non_null(d);
	struct dirent *de;
	int others = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			others++;
	closedir(d);
	assert_int_equal(others, 0);
}

/* Extracts and expects failure with `code`, a message, and nothing on disk. */
static void expect_fail(struct fx *f, const void *data, size_t len, const struct codezip_limits *lim,
                        int code)
{
	struct err err = {0};
	struct codezip_info info;
	int r = codezip_extract(data, len, f->out, lim, &info, &err);
	assert_int_equal(r, -code);
	assert_int_equal(err.code, code);
	assert_true(strlen(err.msg) > 0);
	assert_nothing_left(f);
}

static void expect_fail_zb(struct fx *f, struct zb *z, const struct codezip_limits *lim, int code)
{
	zb_finish(z);
	expect_fail(f, z->buf, z->used, lim, code);
	zb_free(z);
}

static void expect_ok(struct fx *f, const void *data, size_t len, const struct codezip_limits *lim,
                      struct codezip_info *info)
{
	struct err err = {0};
	int r = codezip_extract(data, len, f->out, lim, info, &err);
	if (r != 0)
		fail_msg("codezip_extract: %d %s", r, err.msg);
}

static void expect_ok_zb(struct fx *f, struct zb *z, struct codezip_info *info)
{
	zb_finish(z);
	expect_ok(f, z->buf, z->used, NULL, info);
	zb_free(z);
}

static char *path_in(struct fx *f, const char *rel)
{
	return xasprintf("%s/%s", f->out, rel);
}

static void assert_file(struct fx *f, const char *rel, const char *content, mode_t mode)
{
	autofree char *p = path_in(f, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_nlink, 1);
	char buf[256] = {0};
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(content));
	assert_string_equal(buf, content);
}

static void assert_dir(struct fx *f, const char *rel)
{
	autofree char *p = path_in(f, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
}

static void assert_absent(struct fx *f, const char *rel)
{
	autofree char *p = path_in(f, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), -1);
}

static void test_good_zip(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "bootstrap", 0644, "#!/bin/sh\necho hi\n");
	zb_dir(z, "bin/");
	zb_file(z, "bin/tool", 0750, "tool");
	zb_file(z, "lib/sub/deep.txt", 0600, "deep");
	zb_file(z, "lib/data.txt", 06777, "data");
	zb_dir(z, "empty/");
	zb_link(z, "lib/link", "sub/deep.txt");
	zb_link(z, "top", "lib/sub/../data.txt");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);

	assert_dir(f, ".");
	assert_file(f, "bootstrap", "#!/bin/sh\necho hi\n", 0755);
	assert_dir(f, "bin");
	assert_file(f, "bin/tool", "tool", 0755); /* executable by all if by anyone */
	assert_dir(f, "lib");
	assert_dir(f, "lib/sub");
	assert_file(f, "lib/sub/deep.txt", "deep", 0644);
	assert_file(f, "lib/data.txt", "data", 0755); /* setuid, setgid and sticky bits dropped */
	assert_dir(f, "empty");
	char target[64] = {0};
	autofree char *lp = path_in(f, "lib/link");
	assert_int_equal(readlink(lp, target, sizeof(target) - 1), 12);
	assert_string_equal(target, "sub/deep.txt");
	autofree char *tp = path_in(f, "top");
	struct stat st;
	assert_int_equal(stat(tp, &st), 0); /* the in-package link resolves */
	assert_true(S_ISREG(st.st_mode));

	assert_int_equal(info.entries, 8);
	assert_int_equal(info.unzipped_bytes, strlen("#!/bin/sh\necho hi\n") + 4 + 4 + 4);
	assert_int_equal(info.has_bootstrap, 1);
}

static void test_no_bootstrap(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "index.py", 0644, "def handler(e, c): return 1\n");
	zb_file(z, "sub/bootstrap", 0644, "not at the root");
	zb_dir(z, "bootstrap2/");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_int_equal(info.has_bootstrap, 0);
	assert_file(f, "index.py", "def handler(e, c): return 1\n", 0644);
	assert_file(f, "sub/bootstrap", "not at the root", 0644);
}

static void test_dot_slash_bootstrap(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_dir(z, "./");
	zb_file(z, "./bootstrap", 0600, "run");
	zb_file(z, ".//a/./b", 0644, "b");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_int_equal(info.has_bootstrap, 1);
	assert_file(f, "bootstrap", "run", 0755);
	assert_file(f, "a/b", "b", 0644);
}

static void test_bootstrap_not_regular(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "real", 0755, "x");
	zb_link(z, "bootstrap", "real");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_int_equal(info.has_bootstrap, 0);

	assert_int_equal(codezip_rmtree(f->out), 0);
	z = zb_new();
	zb_dir(z, "bootstrap/");
	expect_ok_zb(f, z, &info);
	assert_int_equal(info.has_bootstrap, 0);
}

static void test_duplicate_last_wins(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "bootstrap", 0644, "first");
	zb_file(z, "a.txt", 0644, "one");
	zb_file(z, "a.txt", 0644, "two");
	zb_link(z, "bootstrap", "a.txt");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_file(f, "a.txt", "two", 0644);
	assert_int_equal(info.has_bootstrap, 0);
}

static void test_dotdot_entry(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "ok.txt", 0644, "fine");
	zb_file(z, "../evil", 0644, "evil");
	expect_fail_zb(f, z, NULL, EPERM);
	autofree char *evil = xasprintf("%s/evil", f->parent);
	assert_int_equal(access(evil, F_OK), -1);
}

static void test_absolute_entry(void **state)
{
	struct fx *f = *state;
	autofree char *abs = xasprintf("%s/abs", f->parent);
	struct zb *z = zb_new();
	zb_file(z, abs, 0644, "evil");
	expect_fail_zb(f, z, NULL, EPERM);
	assert_int_equal(access(abs, F_OK), -1);
}

static void test_dotdot_inside(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "a/../../x", 0644, "evil");
	expect_fail_zb(f, z, NULL, EPERM);

	z = zb_new();
	zb_file(z, "a/../b", 0644, "even when it stays inside");
	expect_fail_zb(f, z, NULL, EPERM);
}

static void test_symlink_absolute(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_link(z, "passwd", "/etc/passwd");
	struct err err = {0};
	zb_finish(z);
	assert_int_equal(codezip_extract(z->buf, z->used, f->out, NULL, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, BAD_ZIP));
	assert_non_null(strstr(err.msg, "passwd"));
	zb_free(z);
	assert_nothing_left(f);
}

static void test_symlink_dotdot(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_link(z, "link", "..");
	expect_fail_zb(f, z, NULL, EPERM);

	z = zb_new();
	zb_link(z, "a/b/link", "../../x/../..");
	expect_fail_zb(f, z, NULL, EPERM);
}

/* Each link is harmless on its own; together t climbs out of the root. */
static void test_symlink_chain_escape(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_dir(z, "sub/");
	zb_link(z, "sub/deeper", "..");
	zb_link(z, "s", "sub/deeper");
	zb_link(z, "t", "s/..");
	expect_fail_zb(f, z, NULL, EPERM);

	/* The same links in the other order: s is dangling when t is made. */
	z = zb_new();
	zb_link(z, "t", "s/../x");
	zb_link(z, "s", "sub/deeper");
	zb_link(z, "sub/deeper", "..");
	expect_fail_zb(f, z, NULL, EPERM);
}

static void test_symlink_loops_and_dangling_ok(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_link(z, "a", "b");
	zb_link(z, "b", "a");
	zb_link(z, "dangling", "nowhere/../x");
	zb_link(z, "dangling2", "sub/nowhere/..");
	zb_link(z, "self", ".");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_int_equal(info.entries, 5);
}

static void test_write_through_symlink(void **state)
{
	struct fx *f = *state;
	/* The link stays inside, so only the guard on writing through it stops x. */
	struct zb *z = zb_new();
	zb_dir(z, "real/");
	zb_link(z, "d", "real");
	zb_file(z, "d/x", 0644, "through the link");
	expect_fail_zb(f, z, NULL, EPERM);

	z = zb_new();
	zb_link(z, "a", ".");
	zb_file(z, "a/bootstrap", 0644, "x");
	expect_fail_zb(f, z, NULL, EPERM);

	/* A directory entry through a link is refused the same way. */
	z = zb_new();
	zb_link(z, "a", ".");
	zb_dir(z, "a/b/");
	expect_fail_zb(f, z, NULL, EPERM);

	/* A dangling link is not followed either when the file has its name. */
	z = zb_new();
	zb_link(z, "real", "missing");
	zb_file(z, "real", 0644, "replaces the link, never writes to missing");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_file(f, "real", "replaces the link, never writes to missing", 0644);
	assert_absent(f, "missing");
}

static void test_file_then_path_through_it(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "a", 0644, "file");
	zb_file(z, "a/b", 0644, "under a file");
	expect_fail_zb(f, z, NULL, EINVAL);

	z = zb_new();
	zb_dir(z, "a/");
	zb_file(z, "a/b", 0644, "x");
	zb_file(z, "a", 0644, "file over a directory");
	expect_fail_zb(f, z, NULL, EINVAL);
}

/* zip cannot record hard links: libarchive's writer stores one as an empty file, and
 * the reader never reports one. The extracted entry must not be linked to its target. */
static void test_hard_link(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "target", 0644, "secret");
	zb_add(z, "hl", AE_IFREG, 0644, NULL, "target", NULL, 0);
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_file(f, "target", "secret", 0644);
	assert_file(f, "hl", "", 0644); /* also checks st_nlink == 1 */
}

static void test_special_files(void **state)
{
	struct fx *f = *state;
	static const uint32_t modes[] = {S_IFCHR | 0644, S_IFBLK | 0644, S_IFSOCK | 0644, 0170644};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		struct raw_ent ents[] = {
		    {"ok.txt", 3, UNIX(S_IFREG | 0644), "ok", 2, -1},
		    {"special", 3, UNIX(modes[i]), "\x01\x03", 2, -1},
		};
		size_t len;
		autofree unsigned char *zip = raw_zip(ents, ARRAY_SIZE(ents), &len);
		expect_fail(f, zip, len, NULL, EPERM);
	}
}

/* libarchive turns FIFOs into regular files (Info-ZIP records stdin's mode); no FIFO
 * is ever made. */
static void test_fifo_becomes_file(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {{"pipe", 3, UNIX(S_IFIFO | 0644), "data", 4, -1}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, 1, &len);
	struct codezip_info info;
	expect_ok(f, zip, len, NULL, &info);
	assert_file(f, "pipe", "data", 0644);
}

static void test_windows_zip(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {
	    {"handler.js", 0, 0x20, "exports.handler = 1;", 20, -1},
	    {"readonly.txt", 0, 0x21, "ro", 2, -1},
	    {"lib\\util.js", 0, 0x20, "util", 4, -1},
	    {"assets/", 0, 0x10, NULL, 0, -1},
	    {"noattr.txt", 11, 0, "ntfs", 4, -1},
	};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, ARRAY_SIZE(ents), &len);
	struct codezip_info info;
	expect_ok(f, zip, len, NULL, &info);
	assert_file(f, "handler.js", "exports.handler = 1;", 0644);
	assert_file(f, "readonly.txt", "ro", 0644);
	assert_file(f, "lib/util.js", "util", 0644); /* backslashes from DOS zips are separators */
	assert_dir(f, "assets");
	assert_file(f, "noattr.txt", "ntfs", 0644);
	assert_int_equal(info.has_bootstrap, 0);
}

static void test_windows_backslash_dotdot(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {{"..\\evil", 0, 0x20, "evil", 4, -1}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, 1, &len);
	expect_fail(f, zip, len, NULL, EPERM);
}

static void test_empty_name(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {{"", 3, UNIX(S_IFREG | 0644), "x", 1, -1}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, 1, &len);
	expect_fail(f, zip, len, NULL, EINVAL);

	struct raw_ent dot[] = {{".", 3, UNIX(S_IFREG | 0644), "x", 1, -1}};
	autofree unsigned char *zip2 = raw_zip(dot, 1, &len);
	expect_fail(f, zip2, len, NULL, EINVAL);
}

static void test_zip_bomb(void **state)
{
	struct fx *f = *state;
	const size_t each = 512 * 1024;
	autofree char *zeros = xcalloc(1, each);
	struct zb *z = zb_new();
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "zero%d", i);
		zb_add(z, name, AE_IFREG, 0644, NULL, NULL, zeros, each);
	}
	zb_finish(z);
	assert_true(z->used < 64 * 1024); /* it is a bomb: small in, big out */
	struct codezip_limits lim = {.max_unzipped_bytes = 1u << 20, .max_entries = 100};
	struct err err = {0};
	assert_int_equal(codezip_extract(z->buf, z->used, f->out, &lim, NULL, &err), -EFBIG);
	assert_string_equal(err.msg, "Unzipped size must be smaller than 1048576 bytes");
	assert_nothing_left(f);

	/* Exactly at the limit is fine. */
	lim.max_unzipped_bytes = 3 * each;
	struct codezip_info info;
	expect_ok(f, z->buf, z->used, &lim, &info);
	assert_int_equal(info.unzipped_bytes, 3 * each);
	zb_free(z);
}

/* The headers claim 10 bytes; the counting of written bytes stops it anyway. */
static void test_lying_size(void **state)
{
	struct fx *f = *state;
	const size_t big = 2u << 20;
	autofree char *data = xcalloc(1, big);
	struct raw_ent ents[] = {{"liar", 3, UNIX(S_IFREG | 0644), data, big, 10}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, 1, &len);
	struct codezip_limits lim = {.max_unzipped_bytes = 1u << 20, .max_entries = 100};
	expect_fail(f, zip, len, &lim, EFBIG);
}

static void test_too_many_entries(void **state)
{
	struct fx *f = *state;
	struct codezip_limits lim = {.max_unzipped_bytes = 1u << 20, .max_entries = 10};
	struct zb *z = zb_new();
	for (int i = 0; i < 10; i++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", i);
		zb_file(z, name, 0644, "x");
	}
	zb_finish(z);
	struct codezip_info info;
	expect_ok(f, z->buf, z->used, &lim, &info);
	assert_int_equal(info.entries, 10);
	assert_int_equal(codezip_rmtree(f->out), 0);
	zb_free(z);

	z = zb_new();
	for (int i = 0; i < 11; i++) {
		char name[16];
		snprintf(name, sizeof(name), "d%d/", i);
		zb_dir(z, name);
	}
	expect_fail_zb(f, z, &lim, EFBIG);
}

static void test_garbage(void **state)
{
	struct fx *f = *state;
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	struct err err = {0};
	assert_int_equal(codezip_extract(junk, sizeof(junk), f->out, NULL, NULL, &err), -EINVAL);
	assert_true(strncmp(err.msg, BAD_ZIP, strlen(BAD_ZIP)) == 0);
	assert_nothing_left(f);

	static const char text[] = "PK\x03\x04 this is not really a zip";
	expect_fail(f, text, sizeof(text) - 1, NULL, EINVAL);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "bootstrap", 0755, "#!/bin/sh\n");
	zb_file(z, "lib/a.txt", 0644, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	zb_file(z, "lib/b.txt", 0644, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	zb_finish(z);
	/* Every cut short of the whole file is refused, wherever it falls. */
	for (size_t cut = 1; cut < z->used; cut++) {
		struct err err = {0};
		int r = codezip_extract(z->buf, cut, f->out, NULL, NULL, &err);
		if (r != -EINVAL)
			fail_msg("cut at %zu of %zu: %d %s", cut, z->used, r, err.msg);
		assert_true(strncmp(err.msg, BAD_ZIP, strlen(BAD_ZIP)) == 0);
		assert_nothing_left(f);
	}
	struct codezip_info info;
	expect_ok(f, z->buf, z->used, NULL, &info);
	assert_int_equal(info.has_bootstrap, 1);
	zb_free(z);
}

static void test_corrupt_data(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {{"file", 3, UNIX(S_IFREG | 0644), "0123456789", 10, -1}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, 1, &len);
	zip[30 + 4 + 3] ^= 0xff; /* flips a data byte, so the CRC no longer matches */
	expect_fail(f, zip, len, NULL, EINVAL);
}

static void test_empty_buffer(void **state)
{
	struct fx *f = *state;
	struct err err = {0};
	assert_int_equal(codezip_extract("", 0, f->out, NULL, NULL, &err), -EINVAL);
	assert_true(strncmp(err.msg, BAD_ZIP, strlen(BAD_ZIP)) == 0);
	assert_nothing_left(f);
}

/* A zip of no entries is only an end record; libarchive does not recognize it, and
 * AWS refuses empty packages too. */
static void test_empty_zip(void **state)
{
	struct fx *f = *state;
	size_t len;
	autofree unsigned char *zip = raw_zip(NULL, 0, &len);
	assert_int_equal(len, 22);
	expect_fail(f, zip, len, NULL, EINVAL);
}

static void test_dir_exists(void **state)
{
	struct fx *f = *state;
	assert_int_equal(mkdir(f->out, 0700), 0);
	struct zb *z = zb_new();
	zb_file(z, "bootstrap", 0755, "x");
	zb_finish(z);
	struct err err = {0};
	assert_int_equal(codezip_extract(z->buf, z->used, f->out, NULL, NULL, &err), -EEXIST);
	zb_free(z);
	assert_absent(f, "bootstrap");
	DIR *d = opendir(f->parent);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1); /* just out, no temporary sibling */
}

static void test_trailing_slash_and_names(void **state)
{
	struct fx *f = *state;
	autofree char *with_slash = xasprintf("%s/", f->out);
	struct zb *z = zb_new();
	zb_file(z, "caf\xc3\xa9.txt", 0644, "utf-8 name");
	zb_file(z, "sp ace/na\tme", 0644, "odd but legal");
	zb_finish(z);
	struct err err = {0};
	struct codezip_info info;
	assert_int_equal(codezip_extract(z->buf, z->used, with_slash, NULL, &info, &err), 0);
	zb_free(z);
	assert_file(f, "caf\xc3\xa9.txt", "utf-8 name", 0644);
	assert_file(f, "sp ace/na\tme", "odd but legal", 0644);
}

static void test_rmtree(void **state)
{
	struct fx *f = *state;
	/* Something outside the tree that links inside it point at. */
	autofree char *outside = xasprintf("%s/outside", f->parent);
	autofree char *keep = xasprintf("%s/keep", outside);
	assert_int_equal(mkdir(outside, 0755), 0);
	FILE *fp = fopen(keep, "w");
	assert_non_null(fp);
	fclose(fp);

	autofree char *tree = xasprintf("%s/tree", f->parent);
	assert_int_equal(mkdir(tree, 0755), 0);
	/* Deeper than PATH_MAX allows to name, so it is built with openat. */
	int fd = open(tree, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 400; i++) {
		char name[32];
		snprintf(name, sizeof(name), "level-%03d-xxxxxxxxxx", i);
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int fd2 = openat(fd, "x", O_CREAT | O_WRONLY, 0644);
		close(fd2);
		assert_int_equal(symlinkat(outside, fd, "out-link"), 0);
		assert_int_equal(mkdirat(fd, "side", 0755), 0);
		assert_int_equal(mkdirat(fd, "side/empty", 0755), 0);
		assert_int_equal(symlinkat(outside, fd, "side/out-dir"), 0);
		close(openat(fd, "side/f", O_CREAT | O_WRONLY, 0644));
		fd2 = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = fd2;
	}
	close(fd);
	assert_int_equal(codezip_rmtree(tree), 0);
	assert_int_equal(access(tree, F_OK), -1);
	assert_int_equal(access(keep, F_OK), 0);

	/* A symlink given as the tree goes itself, never its target. */
	autofree char *link = xasprintf("%s/link", f->parent);
	assert_int_equal(symlink(outside, link), 0);
	assert_int_equal(codezip_rmtree(link), 0);
	assert_int_equal(access(keep, F_OK), 0);

	assert_int_equal(codezip_rmtree(tree), -ENOENT);
}

static time_t mtime_of(struct fx *f, const char *rel)
{
	autofree char *p = path_in(f, rel);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mtim.tv_sec;
}

/* Entries keep the zip's modification times: files, directories (after the files made
 * in them), symlinks; a shipped .pyc stays valid against its source. */
static void test_mtimes_kept(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_mtime = 1600000000;
	zb_dir(z, "pkg/");
	zb_mtime = 1600000100;
	zb_file(z, "pkg/mod.py", 0644, "x = 1\n");
	zb_dir(z, "pkg/__pycache__/");
	zb_mtime = 1600000200;
	zb_file(z, "pkg/__pycache__/mod.cpython-311.pyc", 0644, "pyc");
	zb_link(z, "pkg/alias.py", "mod.py");
	zb_file(z, "implicit/dir/file.txt", 0644, "t");
	zb_mtime = 0;
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_int_equal(mtime_of(f, "pkg"), 1600000000);
	assert_int_equal(mtime_of(f, "pkg/mod.py"), 1600000100);
	assert_int_equal(mtime_of(f, "pkg/__pycache__"), 1600000100);
	assert_int_equal(mtime_of(f, "pkg/__pycache__/mod.cpython-311.pyc"), 1600000200);
	assert_int_equal(mtime_of(f, "pkg/alias.py"), 1600000200);
	assert_int_equal(mtime_of(f, "implicit/dir/file.txt"), 1600000200);
	/* A directory the zip does not list gets the extraction time. */
	assert_true(mtime_of(f, "implicit/dir") > 1600000200);
}

/* A DOS date and time (no extended timestamp) is local time, as zip tools write it. */
static void test_dos_mtime(void **state)
{
	struct fx *f = *state;
	struct raw_ent ents[] = {{"a.txt", 3, UNIX(0100644), "a", 1, -1}};
	size_t len;
	autofree unsigned char *zip = raw_zip(ents, ARRAY_SIZE(ents), &len);
	struct codezip_info info;
	expect_ok(f, zip, len, NULL, &info);
	struct tm tm = {.tm_year = 80, .tm_mon = 0, .tm_mday = 1, .tm_isdst = -1};
	assert_int_equal(mtime_of(f, "a.txt"), mktime(&tm)); /* raw_zip writes 1980-01-01 00:00 */
}

/* Any execute bit of the zip's external attributes makes a file executable by all; read bits are
 * given to all; setuid, setgid and sticky never survive. */
static void test_exec_bits(void **state)
{
	struct fx *f = *state;
	struct zb *z = zb_new();
	zb_file(z, "owner", 0700, "o");
	zb_file(z, "group", 0750, "g");
	zb_file(z, "all", 0711, "a");
	zb_file(z, "plain", 0600, "p");
	zb_file(z, "suid", 04755, "s");
	zb_file(z, "sgid", 02750, "s");
	zb_file(z, "sticky", 01644, "s");
	zb_file(z, "sub/bootstrap", 0644, "not the root one");
	struct codezip_info info;
	expect_ok_zb(f, z, &info);
	assert_file(f, "owner", "o", 0755);
	assert_file(f, "group", "g", 0755);
	assert_file(f, "all", "a", 0755);
	assert_file(f, "plain", "p", 0644);
	assert_file(f, "suid", "s", 0755);
	assert_file(f, "sgid", "s", 0755);
	assert_file(f, "sticky", "s", 0644);
	assert_file(f, "sub/bootstrap", "not the root one", 0644);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	    T(test_good_zip),
	    T(test_no_bootstrap),
	    T(test_dot_slash_bootstrap),
	    T(test_bootstrap_not_regular),
	    T(test_duplicate_last_wins),
	    T(test_dotdot_entry),
	    T(test_absolute_entry),
	    T(test_dotdot_inside),
	    T(test_symlink_absolute),
	    T(test_symlink_dotdot),
	    T(test_symlink_chain_escape),
	    T(test_symlink_loops_and_dangling_ok),
	    T(test_write_through_symlink),
	    T(test_file_then_path_through_it),
	    T(test_hard_link),
	    T(test_special_files),
	    T(test_fifo_becomes_file),
	    T(test_windows_zip),
	    T(test_windows_backslash_dotdot),
	    T(test_empty_name),
	    T(test_zip_bomb),
	    T(test_lying_size),
	    T(test_too_many_entries),
	    T(test_garbage),
	    T(test_truncated),
	    T(test_corrupt_data),
	    T(test_empty_buffer),
	    T(test_empty_zip),
	    T(test_dir_exists),
	    T(test_trailing_slash_and_names),
	    T(test_rmtree),
	    T(test_mtimes_kept),
	    T(test_dos_mtime),
	    T(test_exec_bits),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
