/* Tests for the store: function rows in SQLite across reopen, code blobs written and
 * extracted by SHA-256, re-extraction, garbage collection, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lambdad/cleanup.h>
#include <lambdad/xmalloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/codec.h"
#include "registry/fn.h"

/* Per test: a private temporary directory; the store lives in tmp/data. */
struct fx {
	char tmp[64];
	char *data;
	struct store *st;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	strcpy(f->tmp, "/tmp/store-test-XXXXXX");
	if (!mkdtemp(f->tmp))
		return -1;
	f->data = xasprintf("%s/data", f->tmp);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_free(f->st);
	int r = codezip_rmtree(f->tmp);
	free(f->data);
	free(f);
	return r;
}

static struct store *open_ok(const char *dir)
{
	struct store *st = NULL;
	struct err e = {0};
	if (store_new(dir, &st, &e) != 0)
		fail_msg("store_new %s: %s", dir, e.msg);
	assert_non_null(st);
	return st;
}

static bool exists(const char *path, mode_t type)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == type;
}

static bool pexists(mode_t type, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool pexists(mode_t type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char path[512];
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return exists(path, type);
}

/* Names in dir, sorted, joined with ' ' (owned). */
static char *listing(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return xstrdup("<none>");
	char *names[256];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 256)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = xstrdup(de->d_name);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	char *out = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *o = xasprintf("%s%s%s", out, i ? " " : "", names[i]);
		free(out);
		free(names[i]);
		out = o;
	}
	return out;
}

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

/* ---- zips ---- */

struct zip {
	unsigned char *buf;
	size_t len;
	char hex[65];
};

/* Builds a zip of (name, content) pairs, NULL-terminated; a name ending in '/' is a
 * directory. Fills its SHA-256 hex. */
static void zip_make(struct zip *z, const char *const *files)
{
	size_t cap = 1 << 20;
	z->buf = xmalloc(cap);
	struct archive *w = archive_write_new();
	assert_int_equal(archive_write_set_format_zip(w), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(w, z->buf, cap, &z->len), ARCHIVE_OK);
	for (size_t i = 0; files[i]; i += 2) {
		struct archive_entry *e = archive_entry_new();
		size_t nl = strlen(files[i]);
		bool dir = files[i][nl - 1] == '/';
		size_t len = dir ? 0 : strlen(files[i + 1]);
		archive_entry_set_pathname(e, files[i]);
		archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
		archive_entry_set_perm(e, dir ? 0755 : 0644);
		archive_entry_set_size(e, (la_int64_t)len);
		assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(w, files[i + 1], len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(w), ARCHIVE_OK);
	archive_write_free(w);
	unsigned char md[32];
	sha256(z->buf, z->len, md);
	hex_encode(md, 32, z->hex);
}

static void zip_free(struct zip *z)
{
	free(z->buf);
}

static const char *const APP[] = {"bootstrap", "#!/bin/sh\necho hi\n", "lib/", NULL, "lib/data.txt", "12345",
                                  NULL};
static const char *const LIB[] = {"handler.py", "def h(e, c): return 1\n", NULL};

/* Reads a whole file (owned, NUL-terminated); *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = xmalloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, fp);
	fclose(fp);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* ---- open ---- */

static void test_open_creates_layout(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	assert_string_equal(store_data_dir(f->st), f->data);
	assert_true(pexists(S_IFDIR, "%s", f->data));
	assert_true(pexists(S_IFDIR, "%s/code", f->data));
	assert_true(pexists(S_IFREG, "%s/lambdad.db", f->data));
	autofree char *zp = store_code_zip(f->st, "ab");
	autofree char *dp = store_code_dir(f->st, "ab");
	autofree char *wz = xasprintf("%s/code/ab.zip", f->data);
	autofree char *wd = xasprintf("%s/code/ab", f->data);
	assert_string_equal(zp, wz);
	assert_string_equal(dp, wd);
	store_free(f->st);
	f->st = NULL;
	store_free(NULL);
	/* Opening an existing store again is fine. */
	f->st = open_ok(f->data);
}

/* ---- functions ---- */

struct rows {
	size_t n;
	char *name[16];
	char *json[16];
	size_t stop_after; /* 0: never */
};

/* The registry's rows are items of the collections "functions" and "scaling". */
static int collect_cb(const struct store_item *it, void *arg)
{
	struct rows *r = arg;
	assert_true(r->n < 16);
	r->name[r->n] = xstrdup(it->key);
	r->json[r->n] = xstrdup(it->value);
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->name[i]);
		free(r->json[i]);
	}
	memset(r, 0, sizeof(*r));
}

static void load(struct store *st, struct rows *r)
{
	struct err e = {0};
	if (store_scan(st, "functions", NULL, NULL, 0, collect_cb, r, &e) < 0) /* > 0: stopped */
		fail_msg("load: %s", e.msg);
}

static void put_fn(struct store *st, const char *name, const char *json)
{
	struct err e = {0};
	if (store_put(st, "functions", name, json, strlen(json), STORE_REV_ANY, NULL, &e) != 0 ||
	    store_commit(st, &e) != 0)
		fail_msg("put %s: %s", name, e.msg);
}

/* What DeleteFunction does: the function and its scaling row in one commit. */
static int store_delete_function(struct store *st, const char *name, struct err *e)
{
	int r;
	if ((r = store_del(st, "functions", name, STORE_REV_ANY, e)) < 0 ||
	    (r = store_del(st, "scaling", name, STORE_REV_ANY, e)) < 0)
		return r;
	return store_commit(st, e);
}

static int store_put_scaling(struct store *st, const char *name, const struct fn_scaling *sc, struct err *e)
{
	autofree char *txt = fn_scaling_to_stored(sc);
	int r = store_put(st, "scaling", name, txt, strlen(txt), STORE_REV_ANY, NULL, e);
	return r < 0 ? r : store_commit(st, e);
}

static int store_delete_scaling(struct store *st, const char *name, struct err *e)
{
	int r = store_del(st, "scaling", name, STORE_REV_ANY, e);
	return r < 0 ? r : store_commit(st, e);
}

static void test_functions_put_load_delete(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct rows r = {0};
	load(f->st, &r);
	assert_int_equal(r.n, 0);

	put_fn(f->st, "zeta", "{\"v\":1}");
	put_fn(f->st, "alpha", "{\"v\":2}");
	put_fn(f->st, "Mid", "{\"v\":3}");
	put_fn(f->st, "alpha", "{\"v\":4, \"quote\":\"it's\"}"); /* replaces */
	load(f->st, &r);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.name[0], "Mid"); /* name order, byte-wise */
	assert_string_equal(r.name[1], "alpha");
	assert_string_equal(r.name[2], "zeta");
	assert_string_equal(r.json[1], "{\"v\":4, \"quote\":\"it's\"}");
	assert_string_equal(r.json[0], "{\"v\":3}");
	rows_free(&r);

	/* A non-zero callback return stops the walk and is not an error. */
	r.stop_after = 1;
	load(f->st, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.name[0], "Mid");
	rows_free(&r);

	struct err e = {0};
	assert_int_equal(store_delete_function(f->st, "Mid", &e), 0);
	assert_int_equal(store_delete_function(f->st, "Mid", &e), 0); /* absent: still 0 */
	assert_int_equal(store_delete_function(f->st, "never-was", &e), 0);
	load(f->st, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.name[0], "alpha");
	assert_string_equal(r.name[1], "zeta");
	rows_free(&r);
}

/* Committed before return: a second connection (another process would be the same)
 * sees every put and delete at once, and a reopen finds them. */
static void test_functions_durable(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	put_fn(f->st, "one", "{\"n\":1}");
	put_fn(f->st, "two", "{\"n\":2}");
	struct store *other = open_ok(f->data);
	struct rows r = {0};
	load(other, &r);
	assert_int_equal(r.n, 2);
	rows_free(&r);
	struct err e = {0};
	assert_int_equal(store_delete_function(f->st, "one", &e), 0);
	load(other, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.name[0], "two");
	rows_free(&r);
	store_free(other);

	store_free(f->st);
	f->st = open_ok(f->data);
	load(f->st, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.name[0], "two");
	assert_string_equal(r.json[0], "{\"n\":2}");
	rows_free(&r);
}

/* ---- scaling settings ---- */

struct sc_rows {
	size_t n;
	char name[8][16];
	struct fn_scaling sc[8];
};

static int sc_collect_cb(const struct store_item *it, void *arg)
{
	struct sc_rows *r = arg;
	assert_true(r->n < 8);
	snprintf(r->name[r->n], sizeof(r->name[0]), "%s", it->key);
	r->sc[r->n++] = fn_scaling_from_stored(it->value);
	return 0;
}

static void sc_load(struct store *st, struct sc_rows *r)
{
	struct err e = {0};
	memset(r, 0, sizeof(*r));
	if (store_scan(st, "scaling", NULL, NULL, 0, sc_collect_cb, r, &e) != 0)
		fail_msg("load scaling: %s", e.msg);
}

/* Rows round-trip across a reopen, replace, delete; deleting a function takes its
 * scaling row with it. */
static void test_scaling_put_load_delete(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct sc_rows r;
	sc_load(f->st, &r);
	assert_int_equal(r.n, 0);
	struct err e = {0};
	struct fn_scaling a = {
	    .reserved = 0, .provisioned = 0, .provisioned_modified_ms = 0, .keep_alive_ms = -1};
	struct fn_scaling b = {.reserved = -1,
	                       .provisioned = 4,
	                       .provisioned_modified_ms = 1764000000123LL,
	                       .keep_alive_ms = 86400000};
	put_fn(f->st, "a", "{}");
	put_fn(f->st, "b", "{}");
	assert_int_equal(store_put_scaling(f->st, "b", &b, &e), 0);
	assert_int_equal(store_put_scaling(f->st, "a", &b, &e), 0);
	assert_int_equal(store_put_scaling(f->st, "a", &a, &e), 0); /* replaces */
	store_free(f->st);
	f->st = open_ok(f->data);
	sc_load(f->st, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.name[0], "a");
	assert_string_equal(r.name[1], "b");
	assert_memory_equal(&r.sc[0], &a, sizeof(a));
	assert_int_equal(r.sc[1].reserved, -1);
	assert_int_equal(r.sc[1].provisioned, 4);
	assert_true(r.sc[1].provisioned_modified_ms == 1764000000123LL);
	assert_true(r.sc[1].keep_alive_ms == 86400000);

	assert_int_equal(store_delete_scaling(f->st, "b", &e), 0);
	assert_int_equal(store_delete_scaling(f->st, "b", &e), 0); /* absent: still 0 */
	sc_load(f->st, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.name[0], "a");
	struct rows fr = {0};
	load(f->st, &fr);
	assert_int_equal(fr.n, 2); /* the functions themselves stay */
	rows_free(&fr);

	assert_int_equal(store_delete_function(f->st, "a", &e), 0);
	sc_load(f->st, &r);
	assert_int_equal(r.n, 0);
	load(f->st, &fr);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.name[0], "b");
	rows_free(&fr);
}

/* ---- code ---- */

static void test_put_code_and_extract(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct zip z;
	zip_make(&z, APP);
	struct codezip_info info;
	struct err e = {0};
	memset(&info, 0x5a, sizeof(info));
	if (store_put_code(f->st, z.hex, z.buf, z.len, &info, &e) != 0)
		fail_msg("put_code: %s", e.msg);
	assert_int_equal(info.has_bootstrap, 1);
	assert_int_equal(info.entries, 3);
	assert_int_equal(info.unzipped_bytes, strlen(APP[1]) + 5);

	/* The zip is kept byte for byte under its hash, and extracted beside it. */
	autofree char *zp = store_code_zip(f->st, z.hex);
	size_t len = 0;
	autofree char *kept = slurp(zp, &len);
	assert_non_null(kept);
	assert_int_equal(len, z.len);
	assert_memory_equal(kept, z.buf, z.len);
	struct stat sb;
	assert_int_equal(stat(zp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	autofree char *dp = store_code_dir(f->st, z.hex);
	autofree char *boot = xasprintf("%s/bootstrap", dp);
	assert_int_equal(stat(boot, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_true(sb.st_mode & S_IXUSR);
	autofree char *data = xasprintf("%s/lib/data.txt", dp);
	autofree char *txt = slurp(data, NULL);
	assert_string_equal(txt, "12345");
	/* Nothing else: no temporaries left. */
	autofree char *codedir = xasprintf("%s/code", f->data);
	autofree char *ls = listing(codedir);
	autofree char *want = xasprintf("%s %s.zip", z.hex, z.hex);
	assert_string_equal(ls, want);

	/* The same code again (another function, or an update with the same zip) is a
	 * no-op that still answers has_bootstrap. */
	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(store_put_code(f->st, z.hex, z.buf, z.len, &info, &e), 0);
	assert_int_equal(info.has_bootstrap, 1);
	autofree char *ls2 = listing(codedir);
	assert_string_equal(ls2, want);

	/* A zip without bootstrap says so. */
	struct zip y;
	zip_make(&y, LIB);
	assert_int_equal(store_put_code(f->st, y.hex, y.buf, y.len, &info, &e), 0);
	assert_int_equal(info.has_bootstrap, 0);
	assert_int_equal(info.entries, 1);
	memset(&info, 0x5a, sizeof(info));
	assert_int_equal(store_put_code(f->st, y.hex, y.buf, y.len, &info, &e), 0);
	assert_int_equal(info.has_bootstrap, 0);
	zip_free(&y);
	zip_free(&z);
}

/* Refused code leaves nothing behind, and a good upload afterwards works. */
static void test_put_code_bad_zip(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	autofree char *codedir = xasprintf("%s/code", f->data);
	const char junk[] = "this is not a zip file at all";
	char hex[65];
	unsigned char md[32];
	sha256(junk, sizeof(junk), md);
	hex_encode(md, 32, hex);
	struct codezip_info info;
	struct err e = {0};
	int r = store_put_code(f->st, hex, junk, sizeof(junk), &info, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_int_equal(e.code, EINVAL);
	assert_true(e.msg[0] != 0);
	autofree char *ls = listing(codedir);
	assert_string_equal(ls, "");
	assert_int_equal(store_put_code(f->st, hex, "", 0, &info, &e), -EINVAL);
	autofree char *ls2 = listing(codedir);
	assert_string_equal(ls2, "");

	/* A path-traversing zip is refused the same way. */
	struct zip z;
	zip_make(&z, (const char *const[]){"../escape", "x", NULL});
	r = store_put_code(f->st, z.hex, z.buf, z.len, &info, &e);
	assert_true(r < 0);
	autofree char *ls3 = listing(codedir);
	assert_string_equal(ls3, "");
	assert_false(pexists(S_IFREG, "%s/escape", f->data));
	zip_free(&z);
}

/* Storing the zip fails after the extraction worked (here: a directory squats on
 * code/<hex>.zip): the extraction is removed again, and no temporary is left. */
static void test_put_code_zip_write_fails(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct zip z;
	zip_make(&z, APP);
	autofree char *zp = store_code_zip(f->st, z.hex);
	autofree char *inner = xasprintf("%s/squat", zp);
	assert_int_equal(mkdir(zp, 0755), 0);
	touch(inner);
	struct codezip_info info;
	struct err e = {0};
	int r = store_put_code(f->st, z.hex, z.buf, z.len, &info, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_non_null(strstr(e.msg, z.hex));
	autofree char *codedir = xasprintf("%s/code", f->data);
	autofree char *ls = listing(codedir);
	autofree char *want = xasprintf("%s.zip", z.hex);
	assert_string_equal(ls, want); /* only the squatter */
	zip_free(&z);
}

/* Reopen finds the code; a lost extraction is redone from the zip; a lost zip is an
 * error that names it. */
static void test_reopen_and_ensure(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct zip z;
	zip_make(&z, APP);
	struct codezip_info info;
	struct err e = {0};
	assert_int_equal(store_put_code(f->st, z.hex, z.buf, z.len, &info, &e), 0);
	put_fn(f->st, "app", "{}");
	store_free(f->st);
	f->st = open_ok(f->data);

	assert_int_equal(store_ensure_code(f->st, z.hex, &e), 0); /* present: nothing to do */
	autofree char *dp = store_code_dir(f->st, z.hex);
	assert_int_equal(codezip_rmtree(dp), 0);
	assert_false(exists(dp, S_IFDIR));
	if (store_ensure_code(f->st, z.hex, &e) != 0)
		fail_msg("ensure: %s", e.msg);
	autofree char *data = xasprintf("%s/lib/data.txt", dp);
	autofree char *txt = slurp(data, NULL);
	assert_non_null(txt);
	assert_string_equal(txt, "12345");
	assert_true(pexists(S_IFREG, "%s/bootstrap", dp));

	/* Put again after the zip was lost but the directory survived: the zip is
	 * written back. */
	autofree char *zp = store_code_zip(f->st, z.hex);
	assert_int_equal(unlink(zp), 0);
	assert_int_equal(store_put_code(f->st, z.hex, z.buf, z.len, &info, &e), 0);
	assert_int_equal(info.has_bootstrap, 1);
	size_t len;
	autofree char *kept = slurp(zp, &len);
	assert_non_null(kept);
	assert_int_equal(len, z.len);
	assert_memory_equal(kept, z.buf, z.len);

	/* Both gone: ensure fails with ENOENT and a message naming the blob. */
	store_drop_code(f->st, z.hex);
	assert_false(exists(zp, S_IFREG));
	assert_false(exists(dp, S_IFDIR));
	memset(&e, 0, sizeof(e));
	assert_int_equal(store_ensure_code(f->st, z.hex, &e), -ENOENT);
	assert_non_null(strstr(e.msg, z.hex));
	store_drop_code(f->st, z.hex); /* twice is harmless */
	zip_free(&z);
}

/* A zip that went bad on disk: ensure refuses it and leaves no directory. */
static void test_ensure_corrupt_zip(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct zip z;
	zip_make(&z, APP);
	struct codezip_info info;
	struct err e = {0};
	assert_int_equal(store_put_code(f->st, z.hex, z.buf, z.len, &info, &e), 0);
	autofree char *dp = store_code_dir(f->st, z.hex);
	autofree char *zp = store_code_zip(f->st, z.hex);
	assert_int_equal(codezip_rmtree(dp), 0);
	FILE *fp = fopen(zp, "wb");
	assert_non_null(fp);
	fputs("garbage", fp);
	fclose(fp);
	int r = store_ensure_code(f->st, z.hex, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_false(exists(dp, S_IFDIR));
	zip_free(&z);
}

/* ---- garbage collection ---- */

struct keepset {
	const char *keep[4];
	char seen[16][65];
	size_t nseen;
};

static int keep_cb(const char *hex, void *arg)
{
	struct keepset *k = arg;
	assert_int_equal(strlen(hex), 64);
	assert_true(k->nseen < 16);
	snprintf(k->seen[k->nseen++], 65, "%s", hex);
	for (size_t i = 0; i < 4 && k->keep[i]; i++)
		if (strcmp(hex, k->keep[i]) == 0)
			return 1;
	return 0;
}

static void test_gc(void **state)
{
	struct fx *f = *state;
	f->st = open_ok(f->data);
	struct zip a, b;
	zip_make(&a, APP);
	zip_make(&b, LIB);
	struct codezip_info info;
	struct err e = {0};
	assert_int_equal(store_put_code(f->st, a.hex, a.buf, a.len, &info, &e), 0);
	assert_int_equal(store_put_code(f->st, b.hex, b.buf, b.len, &info, &e), 0);
	autofree char *codedir = xasprintf("%s/code", f->data);
	/* Leftovers of a crash: a zip being written, an extraction half done (with
	 * content), and strays that are no blob at all. */
	autofree char *t1 = xasprintf("%s/%s.zip.tmp-AbC123", codedir, a.hex);
	autofree char *t2 = xasprintf("%s/%s.tmp-Zz9Yy8", codedir, b.hex);
	autofree char *t2f = xasprintf("%s/inner", t2);
	autofree char *stray = xasprintf("%s/junk", codedir);
	autofree char *upper = xasprintf("%s/%.64s", codedir,
	                                 "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789");
	touch(t1);
	assert_int_equal(mkdir(t2, 0755), 0);
	touch(t2f);
	touch(stray);
	touch(upper);

	struct keepset k = {.keep = {a.hex, NULL}};
	store_gc_code(f->st, keep_cb, &k);
	autofree char *ls = listing(codedir);
	autofree char *want = xasprintf("%s %s.zip", a.hex, a.hex);
	assert_string_equal(ls, want);
	/* Only blob names were offered to keep(), each a 64-char lower-case hex. */
	for (size_t i = 0; i < k.nseen; i++)
		assert_true(strcmp(k.seen[i], a.hex) == 0 || strcmp(k.seen[i], b.hex) == 0);
	assert_true(k.nseen >= 2);
	/* The kept blob still works. */
	autofree char *boot = xasprintf("%s/%s/bootstrap", codedir, a.hex);
	assert_true(exists(boot, S_IFREG));

	/* Keeping everything removes nothing; keeping nothing removes everything. */
	struct keepset all = {.keep = {a.hex, b.hex, NULL}};
	store_gc_code(f->st, keep_cb, &all);
	autofree char *ls2 = listing(codedir);
	assert_string_equal(ls2, want);
	struct keepset none = {.keep = {NULL}};
	store_gc_code(f->st, keep_cb, &none);
	autofree char *ls3 = listing(codedir);
	assert_string_equal(ls3, "");
	/* And the store still takes code. */
	assert_int_equal(store_put_code(f->st, b.hex, b.buf, b.len, &info, &e), 0);
	zip_free(&a);
	zip_free(&b);
}

/* ---- refusals ---- */

static void test_open_failures(void **state)
{
	struct fx *f = *state;
	struct store *st = (struct store *)0x1;
	struct err e = {0};

	/* The parent does not exist (the store does not create whole paths). */
	autofree char *deep = xasprintf("%s/no/such/dir", f->tmp);
	int r = store_new(deep, &st, &e);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(e.code, ENOENT);
	assert_non_null(strstr(e.msg, deep));
	assert_ptr_equal(st, (struct store *)0x1);

	/* The data directory is a file. */
	autofree char *file = xasprintf("%s/file", f->tmp);
	touch(file);
	memset(&e, 0, sizeof(e));
	r = store_new(file, &st, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_int_equal(e.code, ENOTDIR);
	assert_ptr_equal(st, (struct store *)0x1);

	/* The database file is not a database. */
	assert_int_equal(mkdir(f->data, 0755), 0);
	autofree char *db = xasprintf("%s/lambdad.db", f->data);
	FILE *fp = fopen(db, "wb");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("not a database ", fp);
	fclose(fp);
	memset(&e, 0, sizeof(e));
	r = store_new(f->data, &st, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_int_equal(e.code, EIO);
	assert_non_null(strstr(e.msg, "lambdad.db"));
	assert_ptr_equal(st, (struct store *)0x1);

	/* The database path is a directory. */
	assert_int_equal(unlink(db), 0);
	assert_int_equal(mkdir(db, 0755), 0);
	memset(&e, 0, sizeof(e));
	r = store_new(f->data, &st, &e);
	assert_true(r < 0);
	assert_int_equal(r, -e.code);
	assert_ptr_equal(st, (struct store *)0x1);
}

/* A regular file where data/code should be makes store_new fail (ENOTDIR) instead of
 * every later code upload. */
static void test_open_code_is_file(void **state)
{
	struct fx *f = *state;
	assert_int_equal(mkdir(f->data, 0755), 0);
	autofree char *code = xasprintf("%s/code", f->data);
	touch(code);
	struct store *st = NULL;
	struct err e = {0};
	int r = store_new(f->data, &st, &e);
	store_free(st);
	assert_true(r < 0);
	assert_int_equal(e.code, ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	    T(test_open_creates_layout),
	    T(test_functions_put_load_delete),
	    T(test_functions_durable),
	    T(test_scaling_put_load_delete),
	    T(test_put_code_and_extract),
	    T(test_put_code_bad_zip),
	    T(test_put_code_zip_write_fails),
	    T(test_reopen_and_ensure),
	    T(test_ensure_corrupt_zip),
	    T(test_gc),
	    T(test_open_failures),
	    T(test_open_code_is_file),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
